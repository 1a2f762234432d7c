//! A minimal io_uring client on the raw system calls (no liburing), for tests that need io_uring writes
//! in any kernel, the VMs included: one ring, one request at a time, submitted and waited for.
#![allow(dead_code)]

use std::io;

pub const IORING_OP_READV: u8 = 1;
pub const IORING_OP_WRITEV: u8 = 2;
pub const IORING_OP_READ_FIXED: u8 = 4;
pub const IORING_OP_WRITE_FIXED: u8 = 5;
pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_WRITE: u8 = 23;
pub const IORING_OP_SPLICE: u8 = 30;
// The vectored fixed-buffer transfers (6.15): `addr` an iovec array inside registered buffer
// `buf_index`, `len` its count. Older kernels complete them with -EINVAL.
pub const IORING_OP_READV_FIXED: u8 = 60;
pub const IORING_OP_WRITEV_FIXED: u8 = 61;
/// `Sqe::flags`: issue the request on an io-wq worker (`iou-wrk-N`), never inline.
pub const IOSQE_ASYNC: u8 = 1 << 4;
/// `Ring::with_flags`: a kernel thread of the process (`iou-sqp-N`, 5.11) submits the requests.
pub const IORING_SETUP_SQPOLL: u32 = 1 << 1;
// The path operations (5.11: RENAMEAT, UNLINKAT; 5.15: MKDIRAT, SYMLINKAT, LINKAT); a kernel without
// one completes it with -EINVAL. Fields as io_uring/fs.c's prep functions read them.
pub const IORING_OP_RENAMEAT: u8 = 35;
pub const IORING_OP_UNLINKAT: u8 = 36;
pub const IORING_OP_MKDIRAT: u8 = 37;
pub const IORING_OP_SYMLINKAT: u8 = 38;
pub const IORING_OP_LINKAT: u8 = 39;

const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_ENTER: libc::c_long = 426;
const SYS_IO_URING_REGISTER: libc::c_long = 427;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_SQ_WAKEUP: u32 = 2;
const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_REGISTER_PROBE: u32 = 8;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// One submission queue entry, as the kernel reads it.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct Sqe {
    pub opcode: u8,
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    pub rw_flags: u32,
    pub user_data: u64,
    pub buf_index: u16,
    pub personality: u16,
    pub splice_fd_in: i32,
    pub addr3: u64,
    pub pad: u64,
}

impl Sqe {
    /// `unlinkat(dirfd, path, flags)`.
    pub fn unlinkat(dirfd: i32, path: &std::ffi::CStr, flags: i32) -> Sqe {
        Sqe {
            opcode: IORING_OP_UNLINKAT,
            fd: dirfd,
            addr: path.as_ptr() as u64,
            rw_flags: flags as u32,
            ..Sqe::default()
        }
    }

    /// `renameat2(olddirfd, old, newdirfd, new, flags)`.
    pub fn renameat(
        olddirfd: i32,
        old: &std::ffi::CStr,
        newdirfd: i32,
        new: &std::ffi::CStr,
        flags: u32,
    ) -> Sqe {
        Sqe {
            opcode: IORING_OP_RENAMEAT,
            fd: olddirfd,
            addr: old.as_ptr() as u64,
            len: newdirfd as u32,
            off: new.as_ptr() as u64, // addr2
            rw_flags: flags,
            ..Sqe::default()
        }
    }

    /// `mkdirat(dirfd, path, mode)`.
    pub fn mkdirat(dirfd: i32, path: &std::ffi::CStr, mode: u32) -> Sqe {
        Sqe {
            opcode: IORING_OP_MKDIRAT,
            fd: dirfd,
            addr: path.as_ptr() as u64,
            len: mode,
            ..Sqe::default()
        }
    }

    /// `symlinkat(target, newdirfd, linkpath)`.
    pub fn symlinkat(target: &std::ffi::CStr, newdirfd: i32, linkpath: &std::ffi::CStr) -> Sqe {
        Sqe {
            opcode: IORING_OP_SYMLINKAT,
            fd: newdirfd,
            addr: target.as_ptr() as u64,
            off: linkpath.as_ptr() as u64, // addr2
            ..Sqe::default()
        }
    }

    /// `linkat(olddirfd, old, newdirfd, new, flags)`.
    pub fn linkat(
        olddirfd: i32,
        old: &std::ffi::CStr,
        newdirfd: i32,
        new: &std::ffi::CStr,
        flags: u32,
    ) -> Sqe {
        Sqe {
            opcode: IORING_OP_LINKAT,
            fd: olddirfd,
            addr: old.as_ptr() as u64,
            len: newdirfd as u32,
            off: new.as_ptr() as u64, // addr2
            rw_flags: flags,
            ..Sqe::default()
        }
    }
}

struct Mapping(*mut libc::c_void, usize);

impl Drop for Mapping {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.0, self.1) };
    }
}

pub struct Ring {
    fd: i32,
    sq: Mapping,
    cq: Mapping,
    sqes: Mapping,
    p: Params,
}

fn map(fd: i32, len: usize, off: i64) -> io::Result<Mapping> {
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            off,
        )
    };
    if m == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Mapping(m, len))
}

impl Ring {
    pub fn new() -> io::Result<Ring> {
        Ring::with_flags(0)
    }

    /// A ring set up with `flags` (`IORING_SETUP_*`).
    pub fn with_flags(flags: u32) -> io::Result<Ring> {
        let mut p = Params {
            flags,
            ..Params::default()
        };
        let fd = unsafe { libc::syscall(SYS_IO_URING_SETUP, 4u32, &mut p as *mut Params) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = fd as i32;
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * 16;
        let sq = map(fd, sq_len, IORING_OFF_SQ_RING)?;
        let cq = map(fd, cq_len, IORING_OFF_CQ_RING)?;
        let sqes = map(fd, p.sq_entries as usize * 64, IORING_OFF_SQES)?;
        Ok(Ring {
            fd,
            sq,
            cq,
            sqes,
            p,
        })
    }

    fn at<T>(m: &Mapping, off: u32) -> *mut T {
        unsafe { (m.0 as *mut u8).add(off as usize) as *mut T }
    }

    /// Registers `bufs` for `IORING_OP_WRITE_FIXED` (index = position).
    pub fn register_buffers(&self, bufs: &[libc::iovec]) -> io::Result<()> {
        let rc = unsafe {
            libc::syscall(
                SYS_IO_URING_REGISTER,
                self.fd,
                IORING_REGISTER_BUFFERS,
                bufs.as_ptr(),
                bufs.len() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Submits `sqe` and waits for its completion; returns its result (bytes, or -errno).
    pub fn run(&self, sqe: Sqe) -> io::Result<i32> {
        use std::sync::atomic::{AtomicU32, Ordering};
        let o = &self.p.sq_off;
        let tail = unsafe { &*Self::at::<AtomicU32>(&self.sq, o.tail) };
        let mask = unsafe { *Self::at::<u32>(&self.sq, o.ring_mask) };
        let t = tail.load(Ordering::Acquire);
        let idx = t & mask;
        unsafe {
            *(self.sqes.0 as *mut Sqe).add(idx as usize) = sqe;
            *Self::at::<u32>(&self.sq, o.array).add(idx as usize) = idx;
        }
        tail.store(t.wrapping_add(1), Ordering::Release);
        // SQPOLL: the thread submits; waking it every time spares watching IORING_SQ_NEED_WAKEUP,
        // and GETEVENTS still waits for the completion.
        let mut flags = IORING_ENTER_GETEVENTS;
        if self.p.flags & IORING_SETUP_SQPOLL != 0 {
            flags |= IORING_ENTER_SQ_WAKEUP;
        }
        let rc = unsafe {
            libc::syscall(
                SYS_IO_URING_ENTER,
                self.fd,
                1u32,
                1u32,
                flags,
                std::ptr::null::<u8>(),
                0usize,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let c = &self.p.cq_off;
        let head = unsafe { &*Self::at::<AtomicU32>(&self.cq, c.head) };
        let ctail = unsafe { &*Self::at::<AtomicU32>(&self.cq, c.tail) };
        let cmask = unsafe { *Self::at::<u32>(&self.cq, c.ring_mask) };
        let h = head.load(Ordering::Acquire);
        assert_ne!(
            h,
            ctail.load(Ordering::Acquire),
            "io_uring_enter returned without a completion"
        );
        let cqe = unsafe { Self::at::<u8>(&self.cq, c.cqes).add(((h & cmask) * 16) as usize) };
        let res = unsafe { *(cqe.add(8) as *const i32) };
        head.store(h.wrapping_add(1), Ordering::Release);
        Ok(res)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

/// Whether this kernel's io_uring supports `opcode`, as it says itself (`IORING_REGISTER_PROBE`):
/// opcodes are asked for, not inferred from the release (distributions backport them).
pub fn supports(opcode: u8) -> bool {
    let Ok(ring) = Ring::new() else { return false };
    // struct io_uring_probe: last_op, ops_len, resv, resv2[3]; then 256 io_uring_probe_op of 8 bytes
    // (op, resv, flags u16 with IO_URING_OP_SUPPORTED = 1, resv2).
    let mut buf = vec![0u8; 16 + 256 * 8];
    let rc = unsafe {
        libc::syscall(
            SYS_IO_URING_REGISTER,
            ring.fd,
            IORING_REGISTER_PROBE,
            buf.as_mut_ptr(),
            256u32,
        )
    };
    if rc < 0 || opcode > buf[0] {
        return false;
    }
    let op = &buf[16 + usize::from(opcode) * 8..][..8];
    u16::from_ne_bytes([op[2], op[3]]) & 1 != 0
}

/// Does this kernel's `io_uring_complete` carry the request (5.18 and later)? Before, a completion
/// does not say which request it was, and io_uring reads and writes cannot be seen.
pub fn complete_has_req() -> bool {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| {
            std::fs::read_to_string(format!("{t}/events/io_uring/io_uring_complete/format"))
                .is_ok_and(|f| f.contains(" req;"))
        })
}
