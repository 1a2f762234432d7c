//! Harness for end-to-end tests of the real `filespy` binary: start it, wait for `ready`, run a workload,
//! stop it (SIGINT) or let it end by itself, and collect its exit status, events, stderr and `--stats`.
//!
//! Self-contained (std, libc, serde_json) so any test file can include it with
//! `#[path = "common/monitor.rs"] mod monitor;`; it needs nothing the test VMs lack (busybox `sh` only).
//! Every helper panics with a clear message on failure: these are tests, and a missing capability must
//! fail, never skip. Each test gets its own `TestDir` so parallel tests never see each other's writes.
#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Upper bound for the `ready` line: BTF parsing and program loading are slow under qemu TCG
/// (`--alerts --events all` verifies every kind with the path and directory-name filters: ~10 s on
/// the host, several times that under TCG). Start-up itself is measured by `make bench`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound for the exit after SIGINT or of a self-ending run (the final drain and flush).
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long events may take to show up in the output.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause before stopping so records of writes that just finished are surely in the rings.
pub const SETTLE: Duration = Duration::from_millis(150);

pub fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests run filespy, which loads BPF programs: run them as root"
    );
}

/// The binary under test: `FILESPY_BIN` (the static binary in the VMs) or cargo's build of it.
pub fn filespy_bin() -> PathBuf {
    std::env::var_os("FILESPY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_filespy")))
}

/// Inside one of the qemu VMs of scripts/vm-test.sh.
pub fn in_vm() -> bool {
    std::env::var("FILESPY_VM").as_deref() == Ok("1")
}

/// The hook filespy must report in its `ready` line on this kernel.
pub fn expected_hook() -> &'static str {
    if std::env::var("FILESPY_EXPECT_KPROBE").as_deref() == Ok("1") {
        "kprobe"
    } else {
        "tracepoint"
    }
}

/// CLOCK_MONOTONIC in ns: the clock of the events' `system_ts`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The canonical path of the `sh` found on PATH: what `exe_path` of a shell must be.
pub fn sh_exe() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("sh");
        if cand.is_file() {
            return std::fs::canonicalize(&cand)
                .unwrap_or_else(|e| panic!("canonicalize {}: {e}", cand.display()));
        }
    }
    panic!("no sh on PATH");
}

/// A private, canonical directory removed (with any mounts under it already gone) on drop.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let base = std::fs::canonicalize(std::env::temp_dir()).expect("temp dir");
        let path = base.join(format!(
            "filespy-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// The path as UTF-8, for shell scripts and comparisons.
    pub fn str(&self) -> &str {
        self.path.to_str().expect("temp dir path is UTF-8")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The numbers of the `--stats` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub lost: u64,
    pub filtered: u64,
    pub failed_writes: u64,
    /// Events never written because the output stalled or was full (0 when not printed).
    pub lost_output: u64,
    /// `close` events that cannot come (untracked opens; 0 when not printed).
    pub lost_closes: u64,
    /// Writes and reads delivered inside merged events (0 when not printed).
    pub merged: u64,
}

/// Parses `filespy: stats events=N lost=N filtered=N failed_writes=N lost_per_cpu=...` from stderr.
pub fn parse_stats(stderr: &str) -> Option<Stats> {
    let line = stderr.lines().find(|l| l.starts_with("filespy: stats "))?;
    let mut s = Stats::default();
    let mut seen = 0;
    for kv in line["filespy: stats ".len()..].split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        let slot = match k {
            "events" => &mut s.events,
            "lost" => &mut s.lost,
            "filtered" => &mut s.filtered,
            "failed_writes" => &mut s.failed_writes,
            "lost_output" => {
                s.lost_output = v.parse().ok()?;
                continue;
            }
            "lost_closes" => {
                s.lost_closes = v.parse().ok()?;
                continue;
            }
            "merged" => {
                s.merged = v.parse().ok()?;
                continue;
            }
            _ => continue,
        };
        *slot = v.parse().ok()?;
        seen += 1;
    }
    (seen == 4).then_some(s)
}

/// One stderr line and when the harness read it.
#[derive(Debug, Clone)]
pub struct StderrLine {
    pub at: Instant,
    pub text: String,
}

/// Where filespy's events go and what the harness does with them.
pub enum Out {
    /// Stdout, collected (events are parsed from it).
    Collect,
    /// Stdout, left to the test (`Filespy::take_stdout`).
    Pipe,
    /// Stdout discarded (the test passes its own `-o FILE` and reads it).
    Null,
    /// `-o FILE` added to the arguments; the events are read from the file, and stdout must stay empty.
    File(PathBuf),
}

/// A running filespy.
pub struct Filespy {
    child: Option<Child>,
    /// Stdout so far (with `Out::Collect` and `Out::File`), read continuously: a full pipe would stall
    /// filespy and turn into lost events.
    stdout: Arc<Mutex<Vec<u8>>>,
    raw_stdout: Option<ChildStdout>,
    stderr: Arc<Mutex<Vec<StderrLine>>>,
    readers: Vec<JoinHandle<()>>,
    output_file: Option<PathBuf>,
    pub ready_line: String,
    /// Time from spawn to the `ready` line.
    pub startup: Duration,
}

impl Filespy {
    /// Starts filespy with `args` and waits for its `ready` line, which must name this kernel's hook.
    pub fn start<S: AsRef<OsStr>>(args: &[S], out: Out) -> Filespy {
        require_root();
        let bin = filespy_bin();
        let mut cmd = Command::new(&bin);
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
        let output_file = match out {
            Out::File(ref f) => {
                cmd.arg("-o").arg(f);
                Some(f.clone())
            }
            _ => None,
        };
        cmd.stdout(match out {
            Out::Null => Stdio::null(),
            _ => Stdio::piped(),
        });
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        {
            let pipe = child.stderr.take().expect("stderr pipe");
            let sink = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                let mut r = BufReader::new(pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line).trim_end().to_string();
                            sink.lock().unwrap().push(StderrLine {
                                at: Instant::now(),
                                text: text.clone(),
                            });
                            let _ = tx.send(text);
                        }
                    }
                }
            }));
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut raw_stdout = None;
        match out {
            Out::Collect | Out::File(_) => {
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
        let mut me = Filespy {
            child: Some(child),
            stdout,
            raw_stdout,
            stderr,
            readers,
            output_file,
            ready_line: String::new(),
            startup: Duration::ZERO,
        };
        let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        me.ready_line = me.wait_ready(&rx, started, &args);
        me.startup = started.elapsed();
        let hook = format!("hook={}", expected_hook());
        assert!(
            me.ready_line.contains(&hook),
            "ready line {:?} lacks {hook}",
            me.ready_line
        );
        me
    }

    fn wait_ready(
        &mut self,
        rx: &mpsc::Receiver<String>,
        started: Instant,
        args: &[&OsStr],
    ) -> String {
        let deadline = started + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("filespy: ready") => return line,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let text = self.stderr_text();
                    self.kill();
                    panic!(
                        "filespy {args:?}: no ready line within {READY_TIMEOUT:?}; stderr:\n{text}"
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    panic!(
                        "filespy {args:?} exited before ready ({status:?}); stderr:\n{}",
                        self.stderr_text()
                    );
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `sig` to filespy.
    pub fn signal(&self, sig: libc::c_int) {
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// Has filespy exited (without reaping it, so `wait` still gets its status)?
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

    /// Stderr so far.
    pub fn stderr_lines(&self) -> Vec<StderrLine> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Events written so far (complete lines only): the `-o` file's with `Out::File`, else stdout's.
    pub fn events_so_far(&self) -> Vec<Value> {
        match &self.output_file {
            Some(f) => file_events(f),
            None => complete_events(&self.stdout.lock().unwrap()),
        }
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
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Settles, sends SIGINT, and requires a clean exit (status 0, no panic); returns what filespy wrote.
    pub fn stop(mut self) -> Finished {
        std::thread::sleep(SETTLE);
        let stopped_at = Instant::now();
        self.signal(libc::SIGINT);
        self.finish(stopped_at)
    }

    /// Waits for filespy to end by itself (`--count`, `--duration`, a signal sent by the test, a closed
    /// stdout) and requires a clean exit (status 0, no panic); returns what it wrote.
    pub fn wait(mut self) -> Finished {
        self.finish(Instant::now())
    }

    fn finish(&mut self, stopped_at: Instant) -> Finished {
        let status = self.wait_exit();
        drop(self.raw_stdout.take());
        for r in self.readers.drain(..) {
            r.join().expect("output reader");
        }
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stderr_lines = self.stderr_lines();
        let stderr = self.stderr_text();
        let output = match &self.output_file {
            Some(f) => {
                assert!(
                    stdout.is_empty(),
                    "filespy wrote to stdout despite -o: {:?}",
                    String::from_utf8_lossy(&stdout)
                );
                std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()))
            }
            None => stdout.clone(),
        };
        let fin = Finished::new(status, stdout, &output, stderr, stderr_lines, stopped_at);
        fin.assert_clean_exit();
        fin
    }

    /// Waits for the exit; kills and fails on timeout.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let child = self.child.as_mut().expect("running");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    self.kill();
                    panic!(
                        "filespy did not exit within {EXIT_TIMEOUT:?}; stderr:\n{}",
                        self.stderr_text()
                    );
                }
                Err(e) => panic!("wait for filespy: {e}"),
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Filespy {
    /// A failed test must not leave a monitor running (nor a stopped one).
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGCONT) };
        }
        self.kill();
    }
}

/// Runs filespy to completion (no `ready` expected: error exits, `--dump-prog`), stdin from /dev/null.
pub fn run_filespy(args: &[&str]) -> Finished {
    require_root();
    let mut cmd = Command::new(filespy_bin());
    cmd.args(args);
    run_bounded(cmd, READY_TIMEOUT)
}

/// Runs `cmd` (stdin /dev/null, stdout and stderr collected) to completion; a run that outlasts
/// `limit` is killed and fails the test (a hang must never block the suite).
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Finished {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run filespy");
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out_reader = collect(Box::new(child.stdout.take().expect("stdout")));
    let err_reader = collect(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for filespy") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err_reader.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = std::process::Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let now = Instant::now();
    let stderr_lines = stderr
        .lines()
        .map(|l| StderrLine {
            at: now,
            text: l.to_string(),
        })
        .collect();
    let output = out.stdout.clone();
    Finished::new(out.status, out.stdout, &output, stderr, stderr_lines, now)
}

/// What a filespy that has exited produced.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Stdout as written (empty with `Out::Pipe` and `Out::Null`).
    pub stdout: Vec<u8>,
    /// Output lines, one event each: the `-o` file's with `Out::File`, else stdout's.
    pub lines: Vec<String>,
    pub stats: Option<Stats>,
    pub stderr: String,
    pub stderr_lines: Vec<StderrLine>,
    /// When the harness ended the run: SIGINT sent, or the wait for the exit begun.
    pub stopped_at: Instant,
}

impl Finished {
    fn new(
        status: ExitStatus,
        stdout: Vec<u8>,
        output: &[u8],
        stderr: String,
        stderr_lines: Vec<StderrLine>,
        stopped_at: Instant,
    ) -> Finished {
        let text = std::str::from_utf8(output).unwrap_or_else(|e| {
            panic!("filespy output is not UTF-8 (non-UTF-8 goes to _b64): {e}")
        });
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "output ends mid-line: {:?}",
            text.chars()
                .skip(text.chars().count().saturating_sub(200))
                .collect::<String>()
        );
        Finished {
            status,
            stdout,
            lines: text.lines().map(str::to_string).collect(),
            stats: parse_stats(&stderr),
            stderr,
            stderr_lines,
            stopped_at,
        }
    }

    /// The exit code; death by a signal (a crash, a panic under panic=abort) fails the test.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "filespy died by a signal: {:?}\nstderr:\n{}",
                self.status, self.stderr
            )
        })
    }

    /// Exit 0 with nothing alarming on stderr.
    pub fn assert_clean_exit(&self) {
        assert_eq!(self.code(), 0, "exit status; stderr:\n{}", self.stderr);
        assert_no_panic(&self.stderr);
    }

    /// Every line parsed; a line that is not a JSON object fails the test.
    pub fn events(&self) -> Vec<Value> {
        self.lines.iter().map(|l| parse_event(l)).collect()
    }

    /// Events whose `file.file_path` is `path`.
    pub fn events_for(&self, path: &Path) -> Vec<Value> {
        events_for(&self.events(), path)
            .into_iter()
            .cloned()
            .collect()
    }

    /// `file.file_path` of every event, in output order.
    pub fn file_paths(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| file_path(e).to_string())
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.stats
            .unwrap_or_else(|| panic!("no --stats line on stderr:\n{}", self.stderr))
    }
}

pub fn assert_no_panic(stderr: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "panic text on stderr:\n{stderr}");
    }
}

/// One output line as a JSON object; anything else fails the test.
pub fn parse_event(line: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("output line is not JSON ({e}): {line}"));
    assert!(v.is_object(), "event is not an object: {line}");
    v
}

/// The complete lines of `bytes` (a partial last line is left out) parsed as events.
pub fn complete_events(bytes: &[u8]) -> Vec<Value> {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&bytes[..end]).expect("JSON output is UTF-8");
    text.lines().map(parse_event).collect()
}

/// Events in an output file so far (complete lines only; none while it does not exist).
pub fn file_events(path: &Path) -> Vec<Value> {
    complete_events(&std::fs::read(path).unwrap_or_default())
}

/// Events whose `file.file_path` is exactly `path`.
pub fn events_for<'a>(events: &'a [Value], path: &Path) -> Vec<&'a Value> {
    let want = path.to_str().expect("UTF-8 path");
    events.iter().filter(|e| file_path(e) == want).collect()
}

/// `file.file_path` of an event ("" if missing, which then fails the comparison that follows).
pub fn file_path(e: &Value) -> &str {
    e["file"]["file_path"].as_str().unwrap_or("")
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

/// Single-quotes `s` for sh.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `sh -c script`, stdin from /dev/null.
pub fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).stdin(Stdio::null());
    c
}

/// Runs `sh -c script` to completion; fails the test unless it exits 0. Returns its stdout.
pub fn run_sh(script: &str) -> String {
    run_ok(&mut sh(script))
}

/// Runs a command to completion, stdin from /dev/null, failing the test unless it succeeds; returns
/// its stdout.
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

/// A `sh -c 'read _; SCRIPT'` held at its `read` until released: its pid is known before it writes
/// anything, so filespy can be pointed at it (`--pid`) or the events matched to it exactly.
pub struct Gated {
    child: Child,
    stdin: Option<ChildStdin>,
    pub argv: Vec<String>,
}

impl Gated {
    pub fn spawn(script: &str) -> Gated {
        let full = format!("read _; {script}");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&full)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sh: {e}"));
        let stdin = child.stdin.take();
        Gated {
            child,
            stdin,
            argv: vec!["sh".into(), "-c".into(), full],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the kernel says the shell's executable is (read while it waits). `spawn` can return while
    /// the child is still inside execve (the vfork parent is released before the new mm is installed),
    /// when /proc/PID/exe still names this test binary: wait until it names the shell.
    pub fn exe(&self) -> PathBuf {
        let me = std::fs::read_link("/proc/self/exe").expect("/proc/self/exe");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exe =
                std::fs::read_link(format!("/proc/{}/exe", self.pid())).expect("/proc/PID/exe");
            if exe != me || Instant::now() > deadline {
                return exe;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets the script run and waits for it; fails unless it exits 0.
    pub fn release(mut self) -> std::process::Output {
        let mut stdin = self.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("release the gated shell");
        drop(stdin);
        let out = self.child.wait_with_output().expect("wait for gated shell");
        assert!(
            out.status.success(),
            "gated sh exited with {}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// A tmpfs mounted for the life of the value, lazily unmounted on drop.
pub struct TmpfsMount {
    at: PathBuf,
}

impl TmpfsMount {
    pub fn new(at: &Path) -> TmpfsMount {
        std::fs::create_dir_all(at).unwrap_or_else(|e| panic!("mkdir {}: {e}", at.display()));
        let target = std::ffi::CString::new(at.as_os_str().as_bytes()).expect("no NUL");
        let rc = unsafe {
            libc::mount(
                c"filespy-test".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=64m".as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs at {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        TmpfsMount {
            at: at.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        if let Ok(target) = std::ffi::CString::new(self.at.as_os_str().as_bytes()) {
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// `"major:minor"` of a `st_dev`, as filespy writes `file.dev`.
pub fn dev_string(st_dev: u64) -> String {
    format!("{}:{}", libc::major(st_dev), libc::minor(st_dev))
}

/// Is `s` a lowercase random (version 4, RFC 4122 variant) UUID?
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Parses filespy's `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM` into Unix seconds (fraction dropped).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 32 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'.' || !matches!(b[26], b'+' | b'-') || b[29] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    num(20..26)?;
    let (oh, om) = (num(27..29)?, num(30..32)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let off = (oh * 3600 + om * 60) * if b[26] == b'-' { -1 } else { 1 };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + sec - off)
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

/// Everything a library `Monitor` delivers in about a second of polls, then what the probes sent
/// before detaching.
pub fn drain(mon: &mut filespy::pipeline::Monitor) -> Vec<filespy::event::Event> {
    let mut events = Vec::new();
    let mut collect = |e: &filespy::event::Event, _: Option<&[u8]>| {
        events.push(e.clone());
        std::ops::ControlFlow::Continue(())
    };
    for _ in 0..20 {
        mon.poll(50, None, &mut collect).unwrap();
    }
    mon.finish(&mut collect);
    events
}

#[cfg(test)]
mod harness_tests {
    use super::*;

    #[test]
    fn rfc3339_and_uuid_checks_accept_and_reject() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000000+00:00"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-01-12T20:38:42.880979+01:00"),
            Some(1768246722)
        );
        assert_eq!(parse_rfc3339("2026-01-12T20:38:42Z"), None);
        assert!(is_uuid_v4("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!is_uuid_v4("0f8fad5b-d9cb-169f-a165-70867728950e"));
        assert!(!is_uuid_v4("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        assert_eq!(
            parse_stats("x\nfilespy: stats events=3 lost=1 filtered=7 failed_writes=2 lost_per_cpu=cpu0:1\n"),
            Some(Stats { events: 3, lost: 1, filtered: 7, failed_writes: 2, lost_output: 0, lost_closes: 0, merged: 0 })
        );
    }
}
