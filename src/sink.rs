//! Where event lines go: stdout, or a file opened for append that SIGHUP can reopen (logrotate).
//!
//! The run loop never blocks here, whatever the output does: SIGINT, `--duration` and the rings wait on
//! that loop. Streams (pipes, FIFOs, terminals, sockets) are written without blocking; whole lines that
//! cannot be written yet wait in a buffer of at most `MAX_PENDING` bytes, and once it is full new
//! events are dropped and counted. A regular file only ever holds whole lines: a short write (a full
//! disk) is cut back to its last newline with ftruncate, and the rest is written when space returns.

use crate::safe_open::{open_output, repair_tail, OpenError, Opened};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::safe_open::FILE_MODE;

/// Most bytes of whole lines waiting for a slow, stalled or full output.
pub const MAX_PENDING: usize = 8 << 20;

#[derive(Debug)]
pub enum SinkError {
    /// The reader went away (EPIPE): the run loop ends quietly with exit status 0.
    Closed,
    /// The output file could not be opened, or must not be written (see `safe_open`).
    Open(OpenError),
    /// A write failure that waiting cannot cure (EIO, EBADF, ...).
    Write { target: String, source: io::Error },
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Closed => f.write_str("output closed by its reader"),
            SinkError::Open(e) => e.fmt(f),
            SinkError::Write { target, source } => write!(f, "cannot write to {target}: {source}"),
        }
    }
}

impl std::error::Error for SinkError {}

enum Target {
    /// fd 1, borrowed: never closed by us.
    Stdout,
    /// `-o FILE`: reopened by path; `None` while it is a FIFO that nobody reads yet.
    File { path: PathBuf, file: Option<File> },
    /// Any other descriptor handed to us (pipes in tests, inherited fds).
    Fd(OwnedFd),
}

/// How the descriptor is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never EAGAIN; a short write means a full disk (or a signal) and is cut back to a line boundary.
    Regular,
    /// send(MSG_DONTWAIT): non-blocking without changing flags shared with other processes.
    Socket,
    /// A non-blocking descriptor (pipe, FIFO, terminal, character device).
    Stream,
}

/// Why lines are waiting, once announced on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// A FIFO without a reader.
    NoReader,
    /// The reader does not keep up and the buffer is full: events are being dropped.
    Slow,
    /// The file system is full (ENOSPC, EDQUOT, EFBIG).
    NoSpace,
}

/// A line for stderr about the output. `error` ones are printed even with `--quiet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

pub struct Sink {
    target: Target,
    kind: Kind,
    /// A private non-blocking open file description of fd 1 (from /proc/self/fd/1), so that O_NONBLOCK
    /// never leaks to the terminal or pipe we share with the shell.
    own_stdout: Option<OwnedFd>,
    /// fd 1's status flags to restore, when O_NONBLOCK had to be set on it after all.
    restore_stdout_flags: Option<libc::c_int>,
    /// Whole lines not yet written; `pending[head..]` is what is left.
    pending: Vec<u8>,
    head: usize,
    /// Events (lines) dropped, never written.
    dropped: u64,
    /// Bytes ever queued in `pending`; what has been written is `accepted - (pending.len() - head)`.
    accepted: u64,
    /// Merged events waiting in `pending`: where each line ends (in `accepted` bytes) and the calls
    /// it stands for beyond itself, which are lost with it if it is dropped.
    weights: std::collections::VecDeque<(u64, u64)>,
    /// Those calls of dropped merged events.
    dropped_extra: u64,
    /// The announced stall and `dropped` when it began.
    stall: Option<(Stall, u64)>,
    notices: Vec<Notice>,
}

fn fd_kind(fd: RawFd) -> Kind {
    // SAFETY: an all-zero stat is valid plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid stat; a bad fd only makes fstat fail.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Kind::Stream;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::Regular,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::Stream,
    }
}

/// Sets O_NONBLOCK on `fd`; returns the flags it had.
fn set_nonblocking(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: F_GETFL/F_SETFL only read and change the descriptor's status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return None;
        }
        Some(flags)
    }
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

impl Sink {
    fn with(target: Target, kind: Kind) -> Sink {
        Sink {
            target,
            kind,
            own_stdout: None,
            restore_stdout_flags: None,
            pending: Vec::new(),
            head: 0,
            dropped: 0,
            accepted: 0,
            weights: std::collections::VecDeque::new(),
            dropped_extra: 0,
            stall: None,
            notices: Vec::new(),
        }
    }

    /// Standard output. Call `reserve_std_fds` early in main so fd 1 is never a kernel object.
    pub fn stdout() -> Sink {
        let kind = fd_kind(libc::STDOUT_FILENO);
        let mut sink = Sink::with(Target::Stdout, kind);
        if kind == Kind::Stream {
            // SAFETY: the path is a NUL-terminated literal.
            let fd = unsafe {
                libc::open(
                    c"/proc/self/fd/1".as_ptr(),
                    libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: open just returned this descriptor to us alone.
                sink.own_stdout = Some(unsafe { OwnedFd::from_raw_fd(fd) });
            } else {
                sink.restore_stdout_flags = set_nonblocking(libc::STDOUT_FILENO);
            }
        }
        sink
    }

    /// Opens (creating with mode 0600) `path` for append; an existing file keeps its content and mode.
    /// Refuses what another user could have planted (see `safe_open`). A FIFO without a reader is
    /// not waited for here: events wait in the buffer until one comes.
    pub fn file(path: &Path) -> Result<Sink, SinkError> {
        let mut sink = Sink::with(
            Target::File {
                path: path.to_path_buf(),
                file: None,
            },
            Kind::Stream,
        );
        sink.open_file()?;
        Ok(sink)
    }

    /// `-o FILE` if given, else stdout.
    pub fn from_output(output: Option<&Path>) -> Result<Sink, SinkError> {
        match output {
            Some(path) => Sink::file(path),
            None => Ok(Sink::stdout()),
        }
    }

    /// Writes to an already open descriptor, which the sink then owns (and makes non-blocking).
    pub fn from_fd(fd: OwnedFd) -> Sink {
        let kind = fd_kind(fd.as_raw_fd());
        if kind == Kind::Stream {
            set_nonblocking(fd.as_raw_fd());
        }
        Sink::with(Target::Fd(fd), kind)
    }

    /// (Re)opens the `-o` path; on failure the old file, if any, stays in use.
    fn open_file(&mut self) -> Result<(), SinkError> {
        let Target::File { path, file } = &mut self.target else {
            return Ok(());
        };
        match open_output(path).map_err(SinkError::Open)? {
            Opened::Ready(f) => {
                self.kind = fd_kind(f.as_raw_fd());
                if self.kind == Kind::Regular {
                    match repair_tail(&f) {
                        Ok(Some(what)) => self.notices.push(Notice {
                            text: format!("filespy: output {}: {what}", path.display()),
                            error: true,
                        }),
                        Ok(None) => {}
                        Err(source) => {
                            return Err(SinkError::Write {
                                target: path.display().to_string(),
                                source,
                            })
                        }
                    }
                }
                *file = Some(f);
            }
            Opened::NoReader => {
                *file = None;
                self.kind = Kind::Stream;
                self.announce(Stall::NoReader);
            }
        }
        Ok(())
    }

    /// Where the events go, for messages: "stdout", the file's path, or "fd N".
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Stdout => "stdout".to_string(),
            Target::File { path, .. } => path.display().to_string(),
            Target::Fd(fd) => format!("fd {}", fd.as_raw_fd()),
        }
    }

    /// The descriptor written to, if there is one yet.
    fn raw_fd(&self) -> Option<RawFd> {
        match &self.target {
            Target::Stdout => Some(
                self.own_stdout
                    .as_ref()
                    .map_or(libc::STDOUT_FILENO, |fd| fd.as_raw_fd()),
            ),
            Target::File { file, .. } => file.as_ref().map(|f| f.as_raw_fd()),
            Target::Fd(fd) => Some(fd.as_raw_fd()),
        }
    }

    fn write_error(&self, source: io::Error) -> SinkError {
        SinkError::Write {
            target: self.describe(),
            source,
        }
    }

    fn announce(&mut self, stall: Stall) {
        if self.stall.is_some_and(|(s, _)| s == stall) {
            return;
        }
        let target = self.describe();
        let waits = format!(
            "events wait (up to {} MiB), then are dropped and counted",
            MAX_PENDING >> 20
        );
        let (text, error) = match stall {
            Stall::NoReader => (
                format!("filespy: output {target} is a FIFO without a reader; {waits}"),
                false,
            ),
            Stall::Slow => (
                format!(
                    "filespy: output {target} is not read fast enough; dropping events (counted in --stats) until it is"
                ),
                false,
            ),
            Stall::NoSpace => (String::new(), true),
        };
        if !text.is_empty() {
            self.notices.push(Notice { text, error });
        }
        self.stall = Some((stall, self.dropped));
    }

    fn announce_no_space(&mut self, e: &io::Error) {
        if self.stall.is_some_and(|(s, _)| s == Stall::NoSpace) {
            return;
        }
        self.notices.push(Notice {
            text: format!(
                "filespy: cannot write to {}: {e}; retrying, events wait (up to {} MiB), then are dropped and counted",
                self.describe(),
                MAX_PENDING >> 20
            ),
            error: true,
        });
        self.stall = Some((Stall::NoSpace, self.dropped));
    }

    /// Writing made progress: end an announced stall with one line.
    fn resumed(&mut self) {
        if let Some((stall, at)) = self.stall.take() {
            self.notices.push(Notice {
                text: format!(
                    "filespy: writing to {} again; {} events were dropped meanwhile",
                    self.describe(),
                    self.dropped - at
                ),
                error: stall == Stall::NoSpace,
            });
        }
    }

    /// Queues whole lines (one event each) for writing. What does not fit in `MAX_PENDING` is dropped
    /// and counted, whole lines only.
    pub fn offer(&mut self, lines: &[u8]) {
        self.offer_weighted(lines, &[]);
    }

    /// `offer` of lines among which are merged events: `extras` holds where each such line ends in
    /// `lines` and the calls it stands for beyond itself (counted in `dropped_extra` if it is dropped).
    pub fn offer_weighted(&mut self, lines: &[u8], extras: &[(usize, u64)]) {
        self.retire_weights();
        if self.head > 0 {
            self.pending.drain(..self.head);
            self.head = 0;
        }
        let room = MAX_PENDING.saturating_sub(self.pending.len());
        let take = if lines.len() <= room {
            lines.len()
        } else {
            lines[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        };
        for &(end, extra) in extras {
            match end <= take {
                true => self.weights.push_back((self.accepted + end as u64, extra)),
                false => self.dropped_extra += extra,
            }
        }
        self.accepted += take as u64;
        self.pending.extend_from_slice(&lines[..take]);
        let lost = newlines(&lines[take..]);
        if lost > 0 {
            self.dropped += lost;
            if self.stall.is_none() {
                self.announce(Stall::Slow);
            }
        }
    }

    /// `offer` for a buffer the caller reuses: when nothing waits, the buffers are swapped instead of
    /// copied (the common case, once per drain). `lines` is left empty either way.
    pub fn offer_vec(&mut self, lines: &mut Vec<u8>) {
        self.offer_vec_weighted(lines, &mut Vec::new());
    }

    /// `offer_vec` with the merged events' `extras` (see `offer_weighted`), which it empties.
    pub fn offer_vec_weighted(&mut self, lines: &mut Vec<u8>, extras: &mut Vec<(usize, u64)>) {
        if !self.has_pending() && lines.len() <= MAX_PENDING {
            self.retire_weights();
            for &(end, extra) in extras.iter() {
                self.weights.push_back((self.accepted + end as u64, extra));
            }
            self.accepted += lines.len() as u64;
            self.pending.clear();
            self.head = 0;
            std::mem::swap(&mut self.pending, lines);
        } else {
            self.offer_weighted(lines, extras);
            lines.clear();
        }
        extras.clear();
    }

    /// Forgets the merged events already written.
    fn retire_weights(&mut self) {
        let written = self.accepted - (self.pending.len() - self.head) as u64;
        while self.weights.front().is_some_and(|&(end, _)| end <= written) {
            self.weights.pop_front();
        }
    }

    /// The calls that dropped merged events stood for beyond their own lines (which `dropped`
    /// counts).
    pub fn dropped_extra(&self) -> u64 {
        self.dropped_extra
    }

    /// Events dropped so far (never written).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Are lines waiting to be written?
    pub fn has_pending(&self) -> bool {
        self.head < self.pending.len()
    }

    /// Lines for stderr since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Writes as much of what waits as the output takes now, without blocking. A FIFO without a
    /// reader is opened again (a reader may have come). `Err(Closed)` when the reader went away.
    pub fn pump(&mut self) -> Result<(), SinkError> {
        if matches!(&self.target, Target::File { file: None, .. }) {
            if let Err(SinkError::Open(e)) = self.open_file() {
                // The FIFO was replaced by something else meanwhile: refuse it as at start.
                return Err(SinkError::Open(e));
            }
        }
        let Some(fd) = self.raw_fd() else {
            return Ok(());
        };
        while self.has_pending() {
            let buf = &self.pending[self.head..];
            // SAFETY: buf is a valid readable slice; fd is open (owned, or fd 1).
            let n = unsafe {
                if self.kind == Kind::Socket {
                    libc::send(
                        fd,
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                } else {
                    libc::write(fd, buf.as_ptr().cast(), buf.len())
                }
            };
            if n > 0 {
                let n = n as usize;
                let kept = if self.kind == Kind::Regular && n < buf.len() {
                    self.cut_to_line(fd, &buf[..n])?
                } else {
                    n
                };
                self.head += kept;
                if kept == 0 {
                    // Not even one whole line fitted (and was cut away): the disk is full.
                    self.announce_no_space(&io::Error::from_raw_os_error(libc::ENOSPC));
                    return Ok(());
                }
                self.resumed();
                continue;
            }
            let err = if n == 0 {
                io::Error::from(io::ErrorKind::WriteZero)
            } else {
                io::Error::last_os_error()
            };
            match errno_of(&err) {
                libc::EINTR => continue,
                libc::EAGAIN => return Ok(()),
                libc::EPIPE | libc::ECONNRESET => return Err(SinkError::Closed),
                libc::ENOSPC | libc::EDQUOT | libc::EFBIG => {
                    self.announce_no_space(&err);
                    return Ok(());
                }
                _ => return Err(self.write_error(err)),
            }
        }
        self.pending.clear();
        self.head = 0;
        Ok(())
    }

    /// A regular file took only `written` of the lines offered (a full disk): removes the part after
    /// its last newline, so the file ends in a whole line. Returns how many bytes stay written.
    fn cut_to_line(&self, fd: RawFd, written: &[u8]) -> Result<usize, SinkError> {
        let keep = written
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if keep == written.len() {
            return Ok(keep);
        }
        // After a write, the offset is the end of what it wrote (with O_APPEND too).
        // SAFETY: lseek/ftruncate on an open descriptor have no memory-safety preconditions.
        let end = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
        let cut = end - (written.len() - keep) as libc::off_t;
        // SAFETY: as above.
        if end < 0 || unsafe { libc::ftruncate(fd, cut) } != 0 {
            return Err(self.write_error(io::Error::last_os_error()));
        }
        // SAFETY: as above.
        unsafe { libc::lseek(fd, cut, libc::SEEK_SET) };
        Ok(keep)
    }

    /// At the end of the run: writes what waits, giving a slow reader at most `limit`, then counts what
    /// is left as dropped. Regular files are fdatasync'ed.
    pub fn finish(&mut self, limit: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + limit;
        loop {
            self.pump()?;
            let now = Instant::now();
            if !self.has_pending() || now >= deadline {
                break;
            }
            match (self.raw_fd(), self.stall) {
                (Some(fd), None | Some((Stall::Slow, _))) if self.kind != Kind::Regular => {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    let ms = deadline.saturating_duration_since(now).as_millis().max(1) as i32;
                    // SAFETY: pfd is one valid pollfd. EINTR or a timeout just loop.
                    unsafe { libc::poll(&mut pfd, 1, ms.min(100)) };
                }
                // A full disk or a FIFO without a reader: waiting is unlikely to help, and the
                // stop must be prompt (the undelivered lines are counted).
                _ => break,
            }
        }
        let left = newlines(&self.pending[self.head..]);
        self.dropped += left;
        self.retire_weights();
        self.dropped_extra += self.weights.drain(..).map(|(_, x)| x).sum::<u64>();
        self.pending.clear();
        self.head = 0;
        self.flush()
    }

    /// Makes written data durable (fdatasync) where that means anything: regular files. Pipes,
    /// terminals and /dev/null have nothing to sync.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let Some(fd) = self.raw_fd() else {
            return Ok(());
        };
        // SAFETY: fdatasync on an open descriptor has no memory-safety preconditions.
        if unsafe { libc::fdatasync(fd) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match errno_of(&err) {
            libc::EINVAL | libc::EROFS | libc::EINTR | libc::ENOSPC | libc::EDQUOT => Ok(()),
            _ => Err(self.write_error(err)),
        }
    }

    /// SIGHUP: opens the path again so a rotated (renamed) file stops receiving events and a new
    /// file is created at the path, with the same checks as at start. On failure the old file stays
    /// in use. No-op for stdout/fds.
    pub fn reopen(&mut self) -> Result<(), SinkError> {
        self.open_file()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(flags) = self.restore_stdout_flags {
            // SAFETY: F_SETFL only changes the descriptor's status flags back.
            unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_SETFL, flags) };
        }
    }
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
    use crate::test_dir::TempDir;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

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

    fn write(sink: &mut Sink, bytes: &[u8]) {
        sink.offer(bytes);
        sink.pump().expect("pump");
        assert!(!sink.has_pending(), "a file takes everything at once");
    }

    fn chown(path: &Path, uid: u32) {
        std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown (tests run as root)");
    }

    fn refused(path: &Path) -> String {
        match Sink::file(path) {
            Err(SinkError::Open(e @ OpenError::Refused { .. })) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{msg}");
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                msg
            }
            Err(e) => panic!("{}: expected a refusal, got {e}", path.display()),
            Ok(_) => panic!("{}: opened, must be refused", path.display()),
        }
    }

    #[test]
    fn new_file_is_private_and_gets_every_byte() {
        let dir = TempDir::new("sink-new");
        let path = dir.0.join("events.jsonl");
        let mut sink = Sink::file(&path).expect("open");
        write(&mut sink, b"{\"a\":1}\n");
        write(&mut sink, b"{\"a\":2}\n");
        sink.finish(Duration::ZERO).expect("finish");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(sink.describe(), path.display().to_string());
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn existing_file_keeps_content_and_mode() {
        let dir = TempDir::new("sink-existing");
        let path = dir.0.join("events.jsonl");
        std::fs::write(&path, b"old line\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut sink = Sink::from_output(Some(&path)).expect("open");
        write(&mut sink, b"new line\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"old line\nnew line\n");
        assert_eq!(mode(&path), 0o644);
        assert!(sink.take_notices().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_cut_back_at_open() {
        let dir = TempDir::new("sink-torn");
        let path = dir.0.join("events.jsonl");
        std::fs::write(&path, b"{\"id\":1}\n{\"id\":2,\"sys").unwrap();
        let mut sink = Sink::file(&path).expect("open");
        let notes = sink.take_notices();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].text.contains("cut back to the last whole line"),
            "{notes:?}"
        );
        write(&mut sink, b"{\"id\":3}\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"id\":1}\n{\"id\":3}\n");
        // A file that never had a newline is not ours to cut: it gets one.
        let other = dir.0.join("other.log");
        std::fs::write(&other, b"no newline at all").unwrap();
        let mut sink = Sink::file(&other).expect("open");
        write(&mut sink, b"x\n");
        assert_eq!(std::fs::read(&other).unwrap(), b"no newline at all\nx\n");
    }

    #[test]
    fn reopen_after_rename_writes_to_a_fresh_file() {
        let dir = TempDir::new("sink-rotate");
        let path = dir.0.join("events.jsonl");
        let rotated = dir.0.join("events.jsonl.1");
        let mut sink = Sink::file(&path).expect("open");
        write(&mut sink, b"before\n");
        std::fs::rename(&path, &rotated).unwrap();
        // Until SIGHUP the renamed file keeps receiving, as logrotate expects.
        write(&mut sink, b"late\n");
        sink.reopen().expect("reopen");
        write(&mut sink, b"after\n");
        assert_eq!(std::fs::read(&rotated).unwrap(), b"before\nlate\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"after\n");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn failed_reopen_keeps_the_old_file() {
        let dir = TempDir::new("sink-reopen-fail");
        let sub = dir.0.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("events.jsonl");
        let mut sink = Sink::file(&path).expect("open");
        let moved = dir.0.join("moved");
        std::fs::rename(&sub, &moved).unwrap();
        match sink.reopen() {
            Err(SinkError::Open(OpenError::Io { path: p, .. })) => assert_eq!(p, path),
            Err(e) => panic!("reopen into a missing directory: {e}"),
            Ok(()) => panic!("reopen into a missing directory succeeded"),
        }
        write(&mut sink, b"still here\n");
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
        assert!(matches!(err, SinkError::Open(_)));
    }

    #[test]
    fn planted_links_and_other_users_files_are_refused() {
        let dir = TempDir::new("sink-planted");
        // A link to a file that exists, and a dangling one: neither is followed or created.
        let victim = dir.0.join("victim.conf");
        std::fs::write(&victim, b"precious\n").unwrap();
        let link = dir.0.join("link.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        chown(&link, 65534);
        assert!(refused(&link).contains("symbolic link"));
        let dangling = dir.0.join("dangling.log");
        let target = dir.0.join("created-through-link");
        std::os::unix::fs::symlink(&target, &dangling).unwrap();
        chown(&dangling, 65534);
        assert!(refused(&dangling).contains("symbolic link"));
        assert!(!target.exists(), "the dangling link's target was created");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
        // Even root's own link is not followed in a directory others could write to.
        let open_dir = dir.0.join("shared");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let roots = open_dir.join("root-link.log");
        std::os::unix::fs::symlink(&victim, &roots).unwrap();
        assert!(refused(&roots).contains("its directory is writable"));
        // Another user's file, and our own file that others may write.
        let theirs = dir.0.join("theirs.log");
        std::fs::write(&theirs, b"").unwrap();
        chown(&theirs, 65534);
        assert!(refused(&theirs).contains("owned by uid 65534"));
        let wide = dir.0.join("wide.log");
        std::fs::write(&wide, b"").unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refused(&wide).contains("writable by group or others (mode 0666)"));
        let hard = dir.0.join("hard.log");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(refused(&hard).contains("2 hard links"));
        // Another user's FIFO (they would read the events).
        let fifo = dir.0.join("their.fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
        chown(&fifo, 65534);
        assert!(refused(&fifo).contains("a FIFO owned by uid 65534"));
        // Root's link in a directory only root can write is followed (as /dev/stdout is); /dev/null
        // is root's character device.
        let ours = dir.0.join("ours.log");
        std::os::unix::fs::symlink("events.jsonl", &ours).unwrap();
        let mut sink = Sink::file(&ours).expect("root's link in root's directory");
        write(&mut sink, b"via link\n");
        assert_eq!(
            std::fs::read(dir.0.join("events.jsonl")).unwrap(),
            b"via link\n"
        );
        let mut null = Sink::file(Path::new("/dev/null")).expect("/dev/null");
        write(&mut null, b"x\n");
    }

    #[test]
    fn a_fifo_without_reader_is_waited_for_in_the_loop_not_in_open() {
        let dir = TempDir::new("sink-fifo");
        let fifo = dir.0.join("events.fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = Instant::now();
        let mut sink = Sink::file(&fifo).expect("open a FIFO nobody reads");
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert!(sink.take_notices()[0]
            .text
            .contains("FIFO without a reader"));
        sink.offer(b"one\ntwo\n");
        sink.pump().expect("pump without reader");
        assert!(sink.has_pending());
        // A reader comes (its blocking open returns once pump opens the write side).
        let path = fifo.clone();
        let got = std::thread::spawn(move || {
            let mut s = String::new();
            File::open(path).unwrap().read_to_string(&mut s).unwrap();
            s
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.has_pending() && Instant::now() < deadline {
            sink.pump().expect("pump");
            std::thread::sleep(Duration::from_millis(10));
        }
        sink.finish(Duration::from_secs(1)).unwrap();
        drop(sink);
        assert_eq!(got.join().unwrap(), "one\ntwo\n");
    }

    #[test]
    fn closed_pipe_is_closed() {
        let (read, write) = pipe(libc::O_CLOEXEC);
        drop(read);
        let mut sink = Sink::from_fd(write);
        // Rust programs start with SIGPIPE ignored, so the write returns EPIPE.
        sink.offer(b"line\n");
        match sink.pump() {
            Err(SinkError::Closed) => {}
            other => panic!("expected Closed, got {other:?}"),
        }
    }

    #[test]
    fn a_full_device_stalls_counts_and_never_errors() {
        let mut sink = Sink::file(Path::new("/dev/full")).expect("open /dev/full");
        sink.offer(b"a\nb\n");
        sink.pump().expect("ENOSPC is waited out, not fatal");
        let notes = sink.take_notices();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].error && notes[0].text.contains("No space left"),
            "{notes:?}"
        );
        sink.offer(b"c\n");
        sink.pump().unwrap();
        assert!(
            sink.take_notices().is_empty(),
            "one line when writes start failing"
        );
        sink.finish(Duration::ZERO).unwrap();
        assert_eq!(sink.dropped(), 3);
    }

    /// A reader that stops reading: the sink never blocks and never holds more than MAX_PENDING; every
    /// line is either in the pipe whole or counted as dropped.
    #[test]
    fn a_stalled_reader_costs_bounded_memory_and_counted_lines() {
        let (read, write) = pipe(libc::O_CLOEXEC);
        let mut sink = Sink::from_fd(write);
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let batch: Vec<u8> = line.repeat(1000);
        let t0 = Instant::now();
        for _ in 0..200 {
            sink.offer(&batch);
            sink.pump().expect("pump");
            assert!(sink.pending.len() <= MAX_PENDING);
        }
        sink.finish(Duration::from_millis(50)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        let notes = sink.take_notices();
        assert!(
            notes
                .iter()
                .any(|n| n.text.contains("not read fast enough")),
            "{notes:?}"
        );
        let dropped = sink.dropped();
        drop(sink);
        let mut got = Vec::new();
        File::from(read).read_to_end(&mut got).unwrap();
        let whole = got.iter().filter(|&&b| b == b'\n').count() as u64;
        assert!(whole > 0 && dropped > 0);
        assert_eq!(
            whole + dropped,
            200_000,
            "every line written whole or counted"
        );
    }

    #[test]
    fn a_slow_reader_gets_everything_in_order() {
        let (read, write) = pipe(libc::O_CLOEXEC);
        let lines: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let want = lines.clone();
        let reader = std::thread::spawn(move || {
            let mut file = File::from(read);
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("read: {e}"),
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            got
        });
        let mut sink = Sink::from_fd(write);
        // Offer line-aligned batches.
        let mut at = 0;
        while at < lines.len() {
            let mut end = (at + 50_000).min(lines.len());
            end = at + lines[at..end].iter().rposition(|&b| b == b'\n').unwrap() + 1;
            sink.offer(&lines[at..end]);
            sink.pump().unwrap();
            at = end;
        }
        sink.finish(Duration::from_secs(60)).unwrap();
        assert_eq!(sink.dropped(), 0);
        drop(sink);
        assert_eq!(reader.join().unwrap(), want);
    }

    #[test]
    fn offered_buffers_keep_line_order_whether_swapped_or_appended() {
        let (read, write) = pipe(libc::O_CLOEXEC);
        drop(read);
        let mut sink = Sink::from_fd(write);
        let mut buf = b"a\n".to_vec();
        sink.offer_vec(&mut buf);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"b\n");
        sink.offer_vec(&mut buf);
        assert!(buf.is_empty());
        assert_eq!(&sink.pending[sink.head..], b"a\nb\n");
    }

    #[test]
    fn stdout_sink_reopen_is_harmless() {
        let mut sink = Sink::stdout();
        assert_eq!(sink.describe(), "stdout");
        sink.reopen().expect("reopen stdout");
        sink.offer(b"");
        sink.pump().expect("empty write");
    }

    #[test]
    fn std_fds_stay_reserved() {
        reserve_std_fds().expect("fds 0-2 are open in tests");
        // SAFETY: F_GETFD only queries the descriptor table.
        assert!((0..=2).all(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1));
    }
}
