//! A small harness for driving the real filespy binary on the host: start it, wait for its `ready`
//! line, stop it with a signal, and hand back its exit status, stdout events and stderr.
//! Each test gets its own directory (`TestDir`) so parallel tests never see each other's writes.

#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Loading BTF and verifying the programs under a busy debug build can take a while.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped or self-ending filespy may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long events may take to show up in the output.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

pub fn filespy_bin() -> PathBuf {
    std::env::var_os("FILESPY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_filespy")))
}

pub fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests run filespy, which loads BPF programs: run them as root"
    );
}

/// A fresh, canonical (kernel paths are resolved) directory, removed on drop.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "filespy-host-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create test dir");
        TestDir(base.canonicalize().expect("canonical test dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp dir")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What to do with filespy's stdout.
pub enum Out {
    /// Collect it (events are parsed from it).
    Collect,
    /// Leave the pipe to the test (`Monitor::take_stdout`).
    Pipe,
    /// Discard it (events go to `-o FILE`).
    Null,
}

/// A running filespy.
pub struct Monitor {
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    raw_stdout: Option<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    pub ready_line: String,
    pub started: Instant,
}

/// A filespy that has exited.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    /// The exit code; death by a signal (a crash, a panic under panic=abort) fails the test.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "filespy died by a signal: {:?}\nstderr:\n{}",
                self.status, self.stderr
            )
        })
    }

    pub fn events(&self) -> Vec<Value> {
        parse_events(&self.stdout)
    }

    /// Exit 0 with nothing alarming on stderr.
    pub fn assert_clean_exit(&self) {
        assert_eq!(self.code(), 0, "exit status; stderr:\n{}", self.stderr);
        assert_no_panic(&self.stderr);
    }
}

pub fn assert_no_panic(stderr: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "panic text on stderr:\n{stderr}");
    }
}

/// Every stdout line as JSON; a line that is not a JSON object fails the test.
pub fn parse_events(stdout: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stdout).expect("JSON output is UTF-8");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

/// Events whose file is exactly `path`.
pub fn events_for<'a>(events: &'a [Value], path: &Path) -> Vec<&'a Value> {
    let p = path.to_str().expect("utf-8 path");
    events
        .iter()
        .filter(|e| e["file"]["file_path"] == p)
        .collect()
}

impl Monitor {
    /// Starts filespy with `args` and waits for its `ready` line.
    pub fn start<S: AsRef<OsStr>>(args: &[S], out: Out) -> Monitor {
        require_root();
        let mut cmd = Command::new(filespy_bin());
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
        cmd.stdout(match out {
            Out::Collect | Out::Pipe => Stdio::piped(),
            Out::Null => Stdio::null(),
        });
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn filespy");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = channel::<String>();
        let mut readers = Vec::new();
        {
            let pipe = child.stderr.take().expect("stderr pipe");
            let stderr = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    stderr.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }));
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut raw_stdout = None;
        match out {
            Out::Collect => {
                let mut pipe = child.stdout.take().expect("stdout pipe");
                let buf = Arc::clone(&stdout);
                readers.push(std::thread::spawn(move || {
                    let mut chunk = [0u8; 65536];
                    while let Ok(n) = pipe.read(&mut chunk) {
                        if n == 0 {
                            break;
                        }
                        buf.lock().unwrap().extend_from_slice(&chunk[..n]);
                    }
                }));
            }
            Out::Pipe => raw_stdout = child.stdout.take(),
            Out::Null => {}
        }
        let mut m = Monitor {
            child: Some(child),
            stdout,
            raw_stdout,
            stderr,
            readers,
            ready_line: String::new(),
            started,
        };
        m.ready_line = m.wait_ready(&rx);
        m
    }

    fn wait_ready(&mut self, rx: &Receiver<String>) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("filespy: ready") => return line,
                Ok(_) => {}
                Err(_) => {
                    let status = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    panic!(
                        "filespy not ready within {READY_TIMEOUT:?} (exit {status:?}); stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// Has filespy exited (without reaping it for `wait`'s status)?
    pub fn has_exited(&mut self) -> bool {
        let pid = self.pid() as libc::pid_t;
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // WNOWAIT leaves the child waitable, so `wait` still collects its status.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        rc == 0 && unsafe { info.si_pid() } == pid
    }

    pub fn take_stdout(&mut self) -> ChildStdout {
        self.raw_stdout.take().expect("started with Out::Pipe")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Events collected so far (complete lines only).
    pub fn events_so_far(&self) -> Vec<Value> {
        let buf = self.stdout.lock().unwrap();
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        parse_events(&buf[..end])
    }

    /// Waits until `done(events so far)` holds; fails the test after `EVENT_TIMEOUT`.
    pub fn wait_events(&self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let events = self.events_so_far();
            if done(&events) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {EVENT_TIMEOUT:?} waiting for {what}; events so far:\n{}\nstderr:\n{}",
                events
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// SIGINT, then wait for the exit.
    pub fn stop(self) -> Finished {
        self.signal(libc::SIGINT);
        self.wait()
    }

    /// Waits for filespy to exit on its own (killing it and failing after `EXIT_TIMEOUT`).
    pub fn wait(mut self) -> Finished {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "filespy did not exit within {EXIT_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(self.raw_stdout.take());
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            status,
            stdout: std::mem::take(&mut *self.stdout.lock().unwrap()),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Monitor {
    /// A failed test must not leave a filespy running.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` every 20 ms; fails the test after `EVENT_TIMEOUT`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {EVENT_TIMEOUT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command to completion, failing the test unless it succeeds; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard base64 (RFC 4648, padded) decoding, for the `_b64` fields.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for chunk in b.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}
