//! A shared memory mapping of a kernel object (a perf ring), unmapped on drop.

use super::error::SysError;
use std::os::fd::RawFd;
use std::ptr::NonNull;

#[derive(Debug)]
pub struct MmapRegion {
    ptr: NonNull<u8>,
    len: usize,
}

// The region is plain shared memory; synchronisation with the kernel is the ring protocol's business.
unsafe impl Send for MmapRegion {}

impl MmapRegion {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0)`: writable because the reader publishes
    /// `data_tail` in the control page.
    pub fn shared_rw(fd: RawFd, len: usize) -> Result<MmapRegion, SysError> {
        if len == 0 {
            return Err(SysError::Invalid(format!("mmap of fd {fd}: zero length")));
        }
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(SysError::last_os(format!("mmap {len} bytes of fd {fd}")));
        }
        let ptr = NonNull::new(p as *mut u8).ok_or_else(|| {
            SysError::Invalid(format!("mmap {len} bytes of fd {fd} returned NULL"))
        })?;
        Ok(MmapRegion { ptr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping created in `shared_rw`.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
    }
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn maps_a_file_and_reports_errors_with_errno() {
        // Writable: a shared writable mapping needs a writable fd, as a perf ring does.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/zero")
            .expect("open /dev/zero");
        let r = MmapRegion::shared_rw(f.as_raw_fd(), page_size()).expect("mmap /dev/zero");
        assert_eq!(r.len(), page_size());
        // SAFETY: the region is one readable page.
        assert_eq!(unsafe { *r.as_ptr() }, 0);
        let e = MmapRegion::shared_rw(-1, page_size()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBADF), "{e}");
        assert!(e.to_string().contains("mmap"), "{e}");
        assert!(matches!(
            MmapRegion::shared_rw(f.as_raw_fd(), 0),
            Err(SysError::Invalid(_))
        ));
    }
}
