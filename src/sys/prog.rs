//! Loading programs: `Prog` owns the program fd. A load first runs without a verifier log (cheap); only a
//! failure is retried with a log, grown on ENOSPC, so the error can show why the verifier said no.

use super::bpf::{
    obj_name, sys_bpf, sys_bpf_fd, ObjGetInfoAttr, ProgInfoHead, ProgLoadAttr,
    BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_LOAD,
};
use super::error::SysError;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The program types filespy loads (`enum bpf_prog_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgType {
    SocketFilter,
    Kprobe,
    Tracepoint,
    /// Arguments of the kernel's tracepoint function (`u64 args[]`), no record.
    RawTracepoint,
}

impl ProgType {
    pub fn raw(self) -> u32 {
        match self {
            ProgType::SocketFilter => 1,
            ProgType::Kprobe => 2,
            ProgType::Tracepoint => 5,
            ProgType::RawTracepoint => 17,
        }
    }
}

/// First verifier log buffer; grown ×4 on ENOSPC up to `LOG_MAX`.
const LOG_START: usize = 64 << 10;
/// 16 MiB - 1: kernels before 5.2 reject `log_size` above `UINT_MAX >> 8`.
const LOG_MAX: usize = (u32::MAX >> 8) as usize;
/// Verifier lines kept in the error.
const LOG_TAIL_LINES: usize = 20;

/// A loaded BPF program.
#[derive(Debug)]
pub struct Prog {
    fd: OwnedFd,
    ty: ProgType,
    name: String,
}

impl Prog {
    /// Load `insns` (wire bytes, 8 per slot) as a GPL program of type `ty`.
    pub fn load(ty: ProgType, name: &str, insns: &[u8]) -> Result<Prog, SysError> {
        if insns.is_empty() || !insns.len().is_multiple_of(8) {
            return Err(SysError::Invalid(format!(
                "program '{name}': {} bytes of instructions is not a non-empty multiple of 8",
                insns.len()
            )));
        }
        let insn_cnt = u32::try_from(insns.len() / 8)
            .map_err(|_| SysError::Invalid(format!("program '{name}' is too long")))?;
        let license = c"GPL";
        let base = ProgLoadAttr {
            prog_type: ty.raw(),
            insn_cnt,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            kern_version: kernel_version_code(),
            prog_name: obj_name(name),
            ..Default::default()
        };
        let first_errno = match sys_bpf_fd(BPF_PROG_LOAD, &mut base.clone()) {
            Ok(fd) => return Ok(Prog::new(fd, ty, name)),
            Err(errno) => errno,
        };
        // Retry with a log, only to learn why.
        let mut size = LOG_START;
        loop {
            let mut log = vec![0u8; size];
            let mut attr = ProgLoadAttr {
                log_level: 1,
                log_size: size as u32,
                log_buf: log.as_mut_ptr() as u64,
                ..base
            };
            match sys_bpf_fd(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => return Ok(Prog::new(fd, ty, name)),
                Err(libc::ENOSPC) if size < LOG_MAX => size = (size * 4).min(LOG_MAX),
                Err(errno) => {
                    // A log still full at LOG_MAX hides the real errno; the first attempt has it.
                    let errno = if errno == libc::ENOSPC {
                        first_errno
                    } else {
                        errno
                    };
                    let tail = log_tail(&log, LOG_TAIL_LINES);
                    return Err(if tail.is_empty() {
                        // No log: the refusal came before the verifier (privileges, type, size).
                        SysError::Os {
                            op: format!("BPF_PROG_LOAD '{name}' ({ty:?})"),
                            errno,
                        }
                    } else {
                        SysError::Verifier {
                            prog: name.to_string(),
                            errno,
                            log: tail,
                        }
                    });
                }
            }
        }
    }

    fn new(fd: OwnedFd, ty: ProgType, name: &str) -> Prog {
        Prog {
            fd,
            ty,
            name: name.to_string(),
        }
    }

    pub fn prog_type(&self) -> ProgType {
        self.ty
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The kernel's id of this program (as `bpftool prog` lists it).
    pub fn id(&self) -> Result<u32, SysError> {
        let mut info = ProgInfoHead::default();
        let mut attr = ObjGetInfoAttr {
            bpf_fd: self.fd() as u32,
            info_len: std::mem::size_of::<ProgInfoHead>() as u32,
            info: &mut info as *mut ProgInfoHead as u64,
        };
        sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map_err(|errno| SysError::Os {
            op: format!("BPF_OBJ_GET_INFO_BY_FD of program '{}'", self.name),
            errno,
        })?;
        Ok(info.id)
    }
}

impl AsFd for Prog {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The last `n` non-empty lines of a NUL-terminated verifier log.
fn log_tail(log: &[u8], n: usize) -> Vec<String> {
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// LINUX_VERSION_CODE of a `uname -r` release: `a.b.c…` → `a<<16 | b<<8 | min(c, 255)`.
pub fn parse_version_code(release: &str) -> Option<u32> {
    let mut parts = release.split(['.', '-', '+', '_']).map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major.min(255) << 16) | (minor.min(255) << 8) | patch.min(255))
}

/// The running kernel's LINUX_VERSION_CODE (0 if `uname` is unreadable: only pre-5.0 kprobes check it).
pub fn kernel_version_code() -> u32 {
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills a valid utsname struct.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return 0;
    }
    // SAFETY: the kernel NUL-terminates `release`.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
    parse_version_code(&release.to_string_lossy()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_codes_clamp_the_patch_level() {
        assert_eq!(parse_version_code("6.18.44-fc-v595"), Some(0x06_12_2c));
        assert_eq!(parse_version_code("6.1.0-30-amd64"), Some(0x06_01_00));
        assert_eq!(parse_version_code("4.19.300"), Some(0x04_13_ff));
        assert_eq!(parse_version_code("6.12"), Some(0x06_0c_00));
        assert_eq!(parse_version_code("garbage"), None);
        assert!(kernel_version_code() >= 0x04_00_00);
    }

    #[test]
    fn log_tail_keeps_the_last_lines_before_the_nul() {
        let log = b"a\nb\n\nc\nd\n\0junk";
        assert_eq!(log_tail(log, 2), vec!["c", "d"]);
        assert_eq!(log_tail(log, 10), vec!["a", "b", "c", "d"]);
        assert!(log_tail(b"\0", 5).is_empty());
    }

    #[test]
    fn bad_instruction_buffers_are_rejected_before_the_kernel() {
        assert!(matches!(
            Prog::load(ProgType::Tracepoint, "x", &[0; 7]),
            Err(SysError::Invalid(_))
        ));
        assert!(matches!(
            Prog::load(ProgType::Tracepoint, "x", &[]),
            Err(SysError::Invalid(_))
        ));
    }
}
