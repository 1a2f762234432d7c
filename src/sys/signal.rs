//! Termination and reopen signals delivered through a signalfd, so one `poll(2)` loop sees rings and signals.

use super::error::SysError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The watched signals, blocked for normal delivery and readable from an fd.
pub struct SignalFd {
    fd: OwnedFd,
}

/// Stop (INT, TERM), reopen (HUP), print the running stats (USR1, USR2), and ALRM, whose default
/// action would kill the run without its stats.
pub const WATCHED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

impl SignalFd {
    /// Block the watched signals in this thread (call before spawning threads so they inherit the mask)
    /// and open a non-blocking signalfd for them.
    pub fn new() -> Result<SignalFd, SysError> {
        // SAFETY: sigset_t is plain data initialised by sigemptyset before use.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in WATCHED {
                libc::sigaddset(&mut set, s);
            }
            // pthread_sigmask returns the error number instead of setting errno.
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(SysError::Os {
                    op: "pthread_sigmask(SIG_BLOCK INT|TERM|HUP|USR1|USR2|ALRM)".into(),
                    errno: rc,
                });
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(SysError::last_os("signalfd(INT|TERM|HUP|USR1|USR2|ALRM)"));
            }
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// The next pending signal number, if any.
    pub fn read(&self) -> Result<Option<i32>, SysError> {
        // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let want = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reading into a correctly sized plain-data struct.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                &mut info as *mut _ as *mut libc::c_void,
                want,
            )
        };
        if n < 0 {
            let e = SysError::last_os("read signalfd");
            return match e.errno() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(if n as usize == want {
            Some(info.ssi_signo as i32)
        } else {
            None
        })
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `poll(2)` over caller-owned `pfds` (reused between calls so a poll loop does not allocate). Returns
/// how many have events in `revents`. EINTR counts as "nothing ready" (every `revents` cleared).
pub fn poll_fds(pfds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, SysError> {
    for p in pfds.iter_mut() {
        p.revents = 0;
    }
    // SAFETY: pfds is a valid, exclusively borrowed array of pollfd of the given length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = SysError::last_os(format!("poll over {} fds", pfds.len()));
        if e.errno() == Some(libc::EINTR) {
            for p in pfds.iter_mut() {
                p.revents = 0;
            }
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// Whether `revents` means "go read": data, an error or a hang-up (reading then reports which).
pub fn is_ready(revents: libc::c_short) -> bool {
    revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0
}

/// `poll(2)` for readability over `fds`; returns which are readable. EINTR counts as "nothing ready".
pub fn poll_readable(
    fds: &[RawFd],
    timeout_ms: i32,
    ready: &mut Vec<bool>,
) -> Result<usize, SysError> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let n = poll_fds(&mut pfds, timeout_ms)?;
    ready.clear();
    ready.extend(pfds.iter().map(|p| is_ready(p.revents)));
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_sees_a_readable_pipe_end_only() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fresh fds owned here from now on.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut ready = Vec::new();
        assert_eq!(poll_readable(&[r.as_raw_fd()], 0, &mut ready).unwrap(), 0);
        assert_eq!(ready, [false]);
        // SAFETY: one byte from a live buffer to our own pipe.
        assert_eq!(
            unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
        assert_eq!(
            poll_readable(&[r.as_raw_fd()], 1000, &mut ready).unwrap(),
            1
        );
        assert_eq!(ready, [true]);
    }

    #[test]
    fn poll_of_a_bad_fd_reports_nval_not_readiness() {
        let mut p = [libc::pollfd {
            fd: 1 << 28,
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll_fds(&mut p, 0).unwrap(), 1);
        assert_eq!(p[0].revents, libc::POLLNVAL);
        assert!(!is_ready(p[0].revents));
    }
}
