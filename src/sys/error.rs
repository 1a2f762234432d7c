//! `SysError`: every failure of the kernel plumbing as a value whose Display is one clear line (plus, for a
//! verifier rejection, the verifier's last lines), naming the operation, the errno and what it means here.

use std::fmt;

/// An error of a system call, a kernel interface file, or bad input to one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysError {
    /// `op` (a short description of the call and its object) failed with `errno`.
    Os { op: String, errno: i32 },
    /// The verifier rejected program `prog`; `log` holds the last lines of its log.
    Verifier {
        prog: String,
        errno: i32,
        log: Vec<String>,
    },
    /// This kernel lacks something filespy needs (the message says what and what to do).
    Unsupported(String),
    /// A kernel interface file or operation this user may not use (the message names what it needs).
    Denied(String),
    /// The caller passed something unusable (a wrong buffer size, a bad name).
    Invalid(String),
}

impl SysError {
    /// An `Os` error from the calling thread's errno.
    pub fn last_os(op: impl Into<String>) -> SysError {
        SysError::Os {
            op: op.into(),
            errno: last_errno(),
        }
    }

    /// An `Os` error from an `std::io::Error` (file access in sysfs/tracefs).
    pub fn from_io(op: impl Into<String>, e: &std::io::Error) -> SysError {
        match e.raw_os_error() {
            Some(errno) => SysError::Os {
                op: op.into(),
                errno,
            },
            None => SysError::Invalid(format!("{}: {e}", op.into())),
        }
    }

    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SysError::Os { errno, .. } | SysError::Verifier { errno, .. } => Some(*errno),
            SysError::Denied(_) => Some(libc::EACCES),
            _ => None,
        }
    }
}

/// The calling thread's errno.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The symbolic name of an errno (`EPERM`), or `errno N`.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        524 => "ENOTSUPP", // kernel-internal, yet some bpf paths leak it to user space
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// What an errno means for a bpf/perf/tracefs operation, in words a user can act on.
pub fn errno_meaning(errno: i32) -> &'static str {
    match errno {
        libc::EPERM | libc::EACCES => "needs root or CAP_BPF+CAP_PERFMON",
        libc::E2BIG => "too big for this kernel (attribute size, map size or program length)",
        libc::EINVAL => "invalid argument: this kernel rejects a type, flag, size or name",
        libc::ENOENT => "no such object (e.g. no such kprobe target, tracepoint or map entry)",
        libc::ENOMEM => "out of memory (or RLIMIT_MEMLOCK too low on kernels before 5.11)",
        libc::ENOSPC => "no space left (verifier log buffer too small, or a full map)",
        libc::EBADF => "bad file descriptor",
        libc::EFAULT => "bad address passed to the kernel",
        libc::EEXIST => "already exists",
        libc::EBUSY => "busy (already attached or still in use)",
        libc::ENODEV => "no such device (the PMU is missing)",
        libc::ENOSYS => "not implemented by this kernel (CONFIG_BPF_SYSCALL / CONFIG_PERF_EVENTS)",
        libc::EOPNOTSUPP | 524 => "operation not supported by this kernel or object",
        libc::EMFILE => "too many open files",
        libc::ESRCH => "no such process",
        libc::EAGAIN => "temporarily unavailable, try again",
        _ => "unexpected error",
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysError::Os { op, errno } => write!(
                f,
                "{op} failed: {} ({})",
                errno_meaning(*errno),
                errno_name(*errno)
            ),
            SysError::Verifier { prog, errno, log } => {
                // EACCES/EINVAL here come from the verifier, not from missing privileges.
                write!(
                    f,
                    "BPF program '{prog}' rejected by the verifier ({}: {}); verifier log tail:",
                    errno_name(*errno),
                    match *errno {
                        libc::EACCES => "the program is unsafe",
                        libc::EINVAL => "the program is malformed",
                        e => errno_meaning(e),
                    }
                )?;
                for line in log {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            SysError::Unsupported(msg) | SysError::Invalid(msg) | SysError::Denied(msg) => {
                f.write_str(msg)
            }
        }
    }
}

impl std::error::Error for SysError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_is_one_line_with_name_and_meaning() {
        let e = SysError::Os {
            op: "BPF_MAP_CREATE array 'x'".into(),
            errno: libc::EPERM,
        };
        let s = e.to_string();
        assert_eq!(
            s,
            "BPF_MAP_CREATE array 'x' failed: needs root or CAP_BPF+CAP_PERFMON (EPERM)"
        );
        assert!(!s.contains('\n'));
        assert_eq!(e.errno(), Some(libc::EPERM));
    }

    #[test]
    fn verifier_error_puts_log_lines_after_the_first() {
        let e = SysError::Verifier {
            prog: "p".into(),
            errno: libc::EACCES,
            log: vec!["0: (bf) r0 = r2".into(), "R2 !read_ok".into()],
        };
        let s = e.to_string();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("rejected by the verifier (EACCES"));
        assert_eq!(lines[2], "  R2 !read_ok");
    }

    #[test]
    fn unknown_errno_still_has_a_name() {
        assert_eq!(errno_name(4095), "errno 4095");
        assert_eq!(errno_meaning(4095), "unexpected error");
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
    }

    #[test]
    fn io_errors_keep_their_errno() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(SysError::from_io("open x", &io).errno(), Some(libc::ENOENT));
    }
}
