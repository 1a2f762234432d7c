//! Opening `-o FILE` as root in places other users can write to (/tmp, shared log directories):
//! never through a symlink they planted, never into a file they own or can write, never waiting in
//! open(2) for the reader of a FIFO. Every check is made on the opened descriptor (fstat), so nothing
//! can be swapped between the check and the use.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Mode of a newly created output file: events can reveal what other users do.
pub const FILE_MODE: u32 = 0o600;

/// What opening the output gave.
#[derive(Debug)]
pub enum Opened {
    /// Open for appending, non-blocking, and every check passed.
    Ready(File),
    /// A FIFO (ours or root's) that nobody reads yet: retry later, events wait meanwhile.
    NoReader,
}

#[derive(Debug)]
pub enum OpenError {
    /// open(2) or fstat(2) failed.
    Io { path: PathBuf, source: io::Error },
    /// The path is something filespy must not write to; `reason` says what it is.
    Refused { path: PathBuf, reason: String },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Io { path, source } => {
                write!(f, "cannot open output {}: {source}", path.display())
            }
            OpenError::Refused { path, reason } => {
                write!(f, "refusing output {}: {reason}", path.display())
            }
        }
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn stat_fd(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is valid plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is a valid, exclusively borrowed stat.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn lstat(path: &CString) -> io::Result<libc::stat> {
    // SAFETY: as in stat_fd; path is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated, st a valid stat.
    if unsafe { libc::lstat(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn open_raw(path: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated; the mode argument is read only with O_CREAT.
    let fd = unsafe { libc::open(path.as_ptr(), flags, FILE_MODE as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open just returned this descriptor to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFDIR => "a directory",
        libc::S_IFSOCK => "a socket",
        libc::S_IFLNK => "a symbolic link",
        _ => "a special file",
    }
}

/// Why filespy must not write to what `st` describes, if it must not.
///
/// A regular file must be ours (the effective uid's), not writable by group or others, and have one
/// name: anyone else who owns it or can write it reads or forges root's events. A FIFO or character
/// device (`/dev/null`, a terminal, a pipe) must belong to root or to us. Nothing else is written to.
pub fn refusal(st: &libc::stat, me: u32) -> Option<String> {
    let fmt = st.st_mode & libc::S_IFMT;
    let perm = st.st_mode & 0o7777;
    match fmt {
        libc::S_IFREG if st.st_uid != me => Some(format!(
            "owned by uid {}, not by uid {me} (its owner could read and alter the events)",
            st.st_uid
        )),
        libc::S_IFREG if perm & 0o022 != 0 => Some(format!(
            "writable by group or others (mode {perm:04o}); chmod go-w it or use another file"
        )),
        libc::S_IFREG if st.st_nlink > 1 => Some(format!(
            "has {} hard links (it may be another file under a second name)",
            st.st_nlink
        )),
        libc::S_IFREG => None,
        libc::S_IFIFO | libc::S_IFCHR if st.st_uid != 0 && st.st_uid != me => Some(format!(
            "{} owned by uid {} (only root's or our own are written to)",
            kind_of(st.st_mode),
            st.st_uid
        )),
        libc::S_IFIFO | libc::S_IFCHR => None,
        _ => Some(format!(
            "{}; -o takes a regular file, a FIFO or a character device",
            kind_of(st.st_mode)
        )),
    }
}

/// Opens `path` for appending (creating it with mode 0600), non-blocking.
///
/// The last component is never followed when it is a symlink (O_NOFOLLOW, so a dangling one is not
/// created either), except a link that root owns in a directory only root can write (`/dev/stdout`):
/// nobody else can have planted or changed that one.
pub fn open_output(path: &Path) -> Result<Opened, OpenError> {
    let io_err = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refused = |reason: String| OpenError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refused("the path contains a NUL byte".into()))?;
    let me = euid();
    let base = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    let mut flags = base | libc::O_NOFOLLOW;
    let mut opened = open_raw(&c, flags);
    if opened.as_ref().is_err_and(|e| errno(e) == libc::ELOOP) {
        let st = lstat(&c).map_err(io_err)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Err(io_err(io::Error::from_raw_os_error(libc::ELOOP)));
        }
        if let Some(why) = untrusted_link(path, &st) {
            return Err(refused(why));
        }
        flags = base;
        opened = open_raw(&c, flags);
    }
    match opened {
        Ok(fd) => {
            let st = stat_fd(&fd).map_err(io_err)?;
            match refusal(&st, me) {
                Some(why) => Err(refused(why)),
                None => Ok(Opened::Ready(File::from(fd))),
            }
        }
        // A FIFO without a reader: look at it without opening it for writing (O_PATH), so a FIFO
        // another user planted is refused now rather than waited on.
        Err(e) if errno(&e) == libc::ENXIO => {
            let probe = (flags & libc::O_NOFOLLOW) | libc::O_PATH | libc::O_CLOEXEC;
            let fd = open_raw(&c, probe).map_err(io_err)?;
            let st = stat_fd(&fd).map_err(io_err)?;
            match refusal(&st, me) {
                Some(why) => Err(refused(why)),
                None if st.st_mode & libc::S_IFMT == libc::S_IFIFO => Ok(Opened::NoReader),
                None => Err(io_err(e)),
            }
        }
        // In a sticky directory (fs.protected_regular) the kernel itself refuses another's file:
        // name the owner rather than just "permission denied".
        Err(e) if matches!(errno(&e), libc::EACCES | libc::EPERM) => match lstat(&c) {
            Ok(st) if st.st_uid != me => Err(refused(format!(
                "{} owned by uid {}, not by uid {me}, and the kernel denies opening it ({e})",
                kind_of(st.st_mode),
                st.st_uid
            ))),
            _ => Err(io_err(e)),
        },
        Err(e) => Err(io_err(e)),
    }
}

/// Why the symlink `path` (lstat `link`) may have been planted, if it may.
fn untrusted_link(path: &Path, link: &libc::stat) -> Option<String> {
    const PLANTED: &str =
        "it is a symbolic link (only root's links in directories only root can write are followed)";
    if link.st_uid != 0 {
        return Some(format!(
            "{PLANTED}; this one is owned by uid {}",
            link.st_uid
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: as in stat_fd; dir is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is NUL-terminated, st a valid stat.
    if unsafe { libc::stat(dir.as_ptr(), &mut st) } != 0 {
        return Some(PLANTED.to_string());
    }
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Some(format!(
            "{PLANTED}; its directory is writable by uid {} or by others",
            st.st_uid
        ));
    }
    None
}

/// How far back a partial last line is cut: an event line is far shorter, so a longer tail is not a
/// torn event of ours and is kept (ended with a newline instead).
const MAX_TORN_TAIL: u64 = 1 << 20;

/// Makes a regular output file end in a newline, so the next event starts a line of its own. A last
/// line without one (a crash mid-write) is cut back to the previous newline when it is short enough to
/// be a torn event; otherwise a newline is added. Returns what was done, for one line on stderr.
pub fn repair_tail(file: &File) -> io::Result<Option<String>> {
    use std::os::unix::fs::FileExt;
    let size = file.metadata()?.len();
    if size == 0 {
        return Ok(None);
    }
    // The output is open write-only; read the same inode through its /proc link.
    let reader = File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let mut last = [0u8; 1];
    reader.read_exact_at(&mut last, size - 1)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    let window = size.min(MAX_TORN_TAIL + 1);
    let mut tail = vec![0u8; window as usize];
    reader.read_exact_at(&mut tail, size - window)?;
    match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => {
            let keep = size - window + i as u64 + 1;
            file.set_len(keep)?;
            Ok(Some(format!(
                "its last line was incomplete ({} bytes, e.g. from a crash); cut back to the last whole line",
                size - keep
            )))
        }
        None => {
            let mut f = file;
            io::Write::write_all(&mut f, b"\n")?;
            Ok(Some(
                "it did not end in a newline; one was added so events start on a line of their own"
                    .into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(fmt: libc::mode_t, perm: libc::mode_t, uid: u32, nlink: u64) -> libc::stat {
        // SAFETY: plain data.
        let mut s: libc::stat = unsafe { std::mem::zeroed() };
        s.st_mode = fmt | perm;
        s.st_uid = uid;
        s.st_nlink = nlink as _;
        s
    }

    #[test]
    fn who_may_own_what() {
        assert_eq!(refusal(&st(libc::S_IFREG, 0o600, 0, 1), 0), None);
        assert_eq!(refusal(&st(libc::S_IFREG, 0o644, 1000, 1), 1000), None);
        let other = refusal(&st(libc::S_IFREG, 0o600, 65534, 1), 0).unwrap();
        assert!(other.contains("owned by uid 65534"), "{other}");
        let wide = refusal(&st(libc::S_IFREG, 0o666, 0, 1), 0).unwrap();
        assert!(wide.contains("mode 0666"), "{wide}");
        assert!(refusal(&st(libc::S_IFREG, 0o620, 0, 1), 0).is_some());
        assert!(refusal(&st(libc::S_IFREG, 0o600, 0, 2), 0)
            .unwrap()
            .contains("2 hard links"));
        // /dev/null and root's FIFOs are fine for anyone, other users' are not.
        assert_eq!(refusal(&st(libc::S_IFCHR, 0o666, 0, 1), 1000), None);
        assert_eq!(refusal(&st(libc::S_IFIFO, 0o600, 1000, 1), 1000), None);
        assert!(refusal(&st(libc::S_IFIFO, 0o666, 65534, 1), 0)
            .unwrap()
            .contains("a FIFO owned by uid 65534"));
        assert!(refusal(&st(libc::S_IFBLK, 0o600, 0, 1), 0)
            .unwrap()
            .contains("a block device"));
        assert!(refusal(&st(libc::S_IFSOCK, 0o600, 0, 1), 0).is_some());
    }
}
