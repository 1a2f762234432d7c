//! Where event lines go: stdout, or a file opened for append that SIGHUP can reopen (logrotate).
//!
//! Writes go straight to the file descriptor: the caller batches many lines per call, so a second
//! buffer would only delay events and complicate error handling.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of a newly created output file: events can reveal what other users do.
pub const FILE_MODE: u32 = 0o600;

#[derive(Debug)]
pub enum SinkError {
    /// The reader went away (EPIPE): the run loop ends quietly with exit status 0.
    Closed,
    /// The output file could not be opened.
    Open { path: PathBuf, source: io::Error },
    /// Any other write failure (ENOSPC, EIO, ...).
    Write { target: String, source: io::Error },
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Closed => f.write_str("output closed by its reader"),
            SinkError::Open { path, source } => {
                write!(f, "cannot open output {}: {source}", path.display())
            }
            SinkError::Write { target, source } => write!(f, "cannot write to {target}: {source}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Closed => None,
            SinkError::Open { source, .. } | SinkError::Write { source, .. } => Some(source),
        }
    }
}

enum Target {
    /// fd 1, borrowed: never closed by us.
    Stdout,
    /// `-o FILE`: reopened by path.
    File { path: PathBuf, file: File },
    /// Any other descriptor handed to us (pipes in tests, inherited fds).
    Fd(OwnedFd),
}

pub struct Sink {
    target: Target,
}

impl Sink {
    /// Standard output. Call `reserve_std_fds` early in main so fd 1 is never a kernel object.
    pub fn stdout() -> Sink {
        Sink {
            target: Target::Stdout,
        }
    }

    /// Opens (creating with mode 0600) `path` for append; an existing file keeps its content and mode.
    pub fn file(path: &Path) -> Result<Sink, SinkError> {
        Ok(Sink {
            target: Target::File {
                file: open_append(path)?,
                path: path.to_path_buf(),
            },
        })
    }

    /// `-o FILE` if given, else stdout.
    pub fn from_output(output: Option<&Path>) -> Result<Sink, SinkError> {
        match output {
            Some(path) => Sink::file(path),
            None => Ok(Sink::stdout()),
        }
    }

    /// Writes to an already open descriptor, which the sink then owns.
    pub fn from_fd(fd: OwnedFd) -> Sink {
        Sink {
            target: Target::Fd(fd),
        }
    }

    /// Where the events go, for messages: "stdout", the file's path, or "fd N".
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Stdout => "stdout".to_string(),
            Target::File { path, .. } => path.display().to_string(),
            Target::Fd(fd) => format!("fd {}", fd.as_raw_fd()),
        }
    }

    fn raw_fd(&self) -> RawFd {
        match &self.target {
            Target::Stdout => libc::STDOUT_FILENO,
            Target::File { file, .. } => file.as_raw_fd(),
            Target::Fd(fd) => fd.as_raw_fd(),
        }
    }

    fn write_error(&self, source: io::Error) -> SinkError {
        SinkError::Write {
            target: self.describe(),
            source,
        }
    }

    /// Writes all of `buf`, riding out EINTR, short writes and a non-blocking descriptor (EAGAIN
    /// waits for POLLOUT). EPIPE is `SinkError::Closed`.
    pub fn write_all(&mut self, mut buf: &[u8]) -> Result<(), SinkError> {
        let fd = self.raw_fd();
        while !buf.is_empty() {
            // SAFETY: buf is a valid readable slice of buf.len() bytes; fd is open (owned or fd 1).
            let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if n > 0 {
                buf = buf.get(n as usize..).unwrap_or(&[]);
                continue;
            }
            if n == 0 {
                return Err(self.write_error(io::Error::from(io::ErrorKind::WriteZero)));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => self.wait_writable(fd)?,
                Some(libc::EPIPE) => return Err(SinkError::Closed),
                _ => return Err(self.write_error(err)),
            }
        }
        Ok(())
    }

    fn wait_writable(&self, fd: RawFd) -> Result<(), SinkError> {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(self.write_error(err));
            }
        }
        // POLLERR/POLLHUP: the next write reports the real error (EPIPE for a closed pipe).
        Ok(())
    }

    /// Makes written data durable (fdatasync) where that means anything: regular files. Pipes,
    /// terminals and /dev/null have nothing to sync. Nothing is buffered in user space.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        // SAFETY: fdatasync on an open descriptor has no memory-safety preconditions.
        if unsafe { libc::fdatasync(self.raw_fd()) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::EROFS) | Some(libc::EINTR) => Ok(()),
            _ => Err(self.write_error(err)),
        }
    }

    /// SIGHUP: opens the path again so a rotated (renamed) file stops receiving events and a new
    /// file is created at the path. On failure the old file stays in use. No-op for stdout/fds.
    pub fn reopen(&mut self) -> Result<(), SinkError> {
        if let Target::File { path, file } = &mut self.target {
            *file = open_append(path)?;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, SinkError> {
    // std opens with O_CLOEXEC; append(true) gives O_WRONLY|O_APPEND.
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|source| SinkError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Opens /dev/null on any of fds 0, 1, 2 that is closed, so that descriptors we open later (BPF
/// maps, perf events, the output file) never land there and receive stray writes to "stdout".
pub fn reserve_std_fds() -> Result<(), String> {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        // Lowest free descriptor: this one, since every lower one is open.
        // SAFETY: the path is a NUL-terminated literal.
        let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if got != fd {
            return Err(format!(
                "cannot reserve standard descriptor {fd}: {}",
                io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::PermissionsExt;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "filespy-sink-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    fn pipe(flags: libc::c_int) -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }, 0);
        // SAFETY: pipe2 just returned these descriptors to us alone.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn new_file_is_private_and_gets_every_byte() {
        let dir = TempDir::new("new");
        let path = dir.0.join("events.jsonl");
        let mut sink = Sink::file(&path).expect("open");
        sink.write_all(b"{\"a\":1}\n").expect("write");
        sink.write_all(b"{\"a\":2}\n").expect("write");
        sink.flush().expect("flush");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(sink.describe(), path.display().to_string());
    }

    #[test]
    fn existing_file_keeps_content_and_mode() {
        let dir = TempDir::new("existing");
        let path = dir.0.join("events.jsonl");
        std::fs::write(&path, b"old line\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut sink = Sink::from_output(Some(&path)).expect("open");
        sink.write_all(b"new line\n").expect("write");
        assert_eq!(std::fs::read(&path).unwrap(), b"old line\nnew line\n");
        assert_eq!(mode(&path), 0o644);
    }

    #[test]
    fn reopen_after_rename_writes_to_a_fresh_file() {
        let dir = TempDir::new("rotate");
        let path = dir.0.join("events.jsonl");
        let rotated = dir.0.join("events.jsonl.1");
        let mut sink = Sink::file(&path).expect("open");
        sink.write_all(b"before\n").unwrap();
        std::fs::rename(&path, &rotated).unwrap();
        // Until SIGHUP the renamed file keeps receiving, as logrotate expects.
        sink.write_all(b"late\n").unwrap();
        sink.reopen().expect("reopen");
        sink.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read(&rotated).unwrap(), b"before\nlate\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"after\n");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn failed_reopen_keeps_the_old_file() {
        let dir = TempDir::new("reopen-fail");
        let sub = dir.0.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("events.jsonl");
        let mut sink = Sink::file(&path).expect("open");
        let moved = dir.0.join("moved");
        std::fs::rename(&sub, &moved).unwrap();
        match sink.reopen() {
            Err(SinkError::Open { path: p, .. }) => assert_eq!(p, path),
            other => panic!("reopen into a missing directory: {other:?}"),
        }
        sink.write_all(b"still here\n").unwrap();
        assert_eq!(
            std::fs::read(moved.join("events.jsonl")).unwrap(),
            b"still here\n"
        );
    }

    #[test]
    fn open_error_names_the_path() {
        let err = Sink::file(Path::new("/nonexistent-dir/x/events.jsonl"))
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent-dir/x/events.jsonl"), "{msg}");
        assert!(matches!(err, SinkError::Open { .. }));
    }

    #[test]
    fn closed_pipe_is_closed() {
        let (read, write) = pipe(libc::O_CLOEXEC);
        drop(read);
        let mut sink = Sink::from_fd(write);
        // Rust programs start with SIGPIPE ignored, so the write returns EPIPE.
        match sink.write_all(b"line\n") {
            Err(SinkError::Closed) => {}
            other => panic!("expected Closed, got {other:?}"),
        }
    }

    #[test]
    fn full_disk_is_a_clear_error() {
        let mut sink = Sink::file(Path::new("/dev/full")).expect("open /dev/full");
        match sink.write_all(b"line\n") {
            Err(e @ SinkError::Write { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("/dev/full"), "{msg}");
                assert!(msg.contains("No space left"), "{msg}");
            }
            other => panic!("expected a write error, got {other:?}"),
        }
    }

    #[test]
    fn nonblocking_pipe_gets_everything_despite_short_writes() {
        let (read, write) = pipe(libc::O_CLOEXEC | libc::O_NONBLOCK);
        // 4 MiB through a 64 KiB pipe: many EAGAINs and partial writes.
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut file = File::from(read);
            let mut got = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_micros(200))
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
            got
        });
        let mut sink = Sink::from_fd(write);
        sink.write_all(&data).expect("write");
        sink.flush().expect("flush on a pipe is a no-op");
        drop(sink);
        assert_eq!(reader.join().unwrap(), data);
    }

    #[test]
    fn stdout_sink_reopen_is_harmless() {
        let mut sink = Sink::stdout();
        assert_eq!(sink.describe(), "stdout");
        sink.reopen().expect("reopen stdout");
        sink.write_all(b"").expect("empty write");
    }

    #[test]
    fn std_fds_stay_reserved() {
        reserve_std_fds().expect("fds 0-2 are open in tests");
        // SAFETY: F_GETFD only queries the descriptor table.
        assert!((0..=2).all(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1));
    }
}
