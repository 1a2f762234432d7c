//! The real binary's command line: help, version, usage errors (exit 2), missing privileges (exit 1),
//! and no panic on odd input. Only invalid or non-running command lines are used, so these tests
//! never start monitoring.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_filespy");
const PRIVILEGE_MESSAGE: &str = "filespy needs root or CAP_BPF+CAP_PERFMON (try: sudo filespy)";

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Command::new(BIN)
        .args(args.into_iter().map(Into::into))
        .stdin(Stdio::null())
        .output()
        .expect("run filespy")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code, failing the test on death by signal (a panic with panic=abort, a crash).
fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "filespy died by a signal: {:?}\nstderr: {}",
            out.status,
            text(&out.stderr)
        )
    })
}

fn assert_no_panic(out: &Output) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    code(out);
}

#[test]
fn help_lists_every_flag_and_the_exit_codes() {
    for flag in ["--help", "-h"] {
        let out = run([flag]);
        assert_eq!(code(&out), 0, "{flag}");
        let help = text(&out.stdout);
        for listed in [
            "--ext",
            "--all-files",
            "--events",
            "--pid",
            "--uid",
            "--comm",
            "--path",
            "--attach",
            "--format",
            "-o, --output",
            "--stats",
            "--buffer-pages",
            "--count",
            "--duration",
            "--dump-prog",
            "--btf",
            "-q, --quiet",
            "-h, --help",
            "-V, --version",
        ] {
            assert!(help.contains(listed), "{listed} missing from:\n{help}");
        }
        assert!(help.contains("Exit status"), "{help}");
        for line in ["  0  ", "  1  ", "  2  "] {
            assert!(help.contains(line), "exit code line {line:?} missing");
        }
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn version_shows_version_and_commit() {
    for flag in ["--version", "-V"] {
        let out = run([flag]);
        assert_eq!(code(&out), 0);
        let line = text(&out.stdout);
        let prefix = format!("filespy {} (", env!("CARGO_PKG_VERSION"));
        let commit = line
            .trim_end()
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("bad version line {line:?}"));
        assert!(
            commit == "unknown"
                || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "bad commit {commit:?}"
        );
        // Inside a checkout the build stamps the real HEAD.
        if let Ok(git) = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
        {
            if git.status.success() {
                assert_eq!(commit, text(&git.stdout).trim());
            }
        }
    }
}

#[test]
fn bad_flags_exit_2_and_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ext"], "--ext"),
        (&["--ext", ""], "--ext"),
        (&["--ext", "a/b"], "--ext"),
        (&["--ext", "a,,b"], "--ext"),
        (&["--ext", "abcdefghijklmnopq"], "--ext"),
        (&["--ext", "txt", "--all-files"], "--all-files"),
        (&["--events", "writes"], "--events"),
        (&["--events", "write,,delete"], "--events"),
        (&["--events"], "--events"),
        (&["--bogus"], "--bogus"),
        (&["-x"], "-x"),
        (&["--pid", "abc"], "--pid"),
        (&["--pid"], "--pid"),
        (&["--uid", "-5"], "--uid"),
        (&["--comm", "sixteen-bytes-xx"], "--comm"),
        (&["--path", "relative/dir"], "--path"),
        (&["--attach", "fentry"], "--attach"),
        (&["--format", "xml"], "--format"),
        (&["--buffer-pages", "3"], "--buffer-pages"),
        (&["--buffer-pages", "8192"], "--buffer-pages"),
        (&["--count", "0"], "--count"),
        (&["--duration", "soon"], "--duration"),
        (&["--output"], "--output"),
        (&["-o"], "-o"),
        (&["--btf"], "--btf"),
        (&["--stats=yes"], "--stats"),
        (&["--dump-prog", "a.o", "extra"], "extra"),
        (&["positional"], "positional"),
    ];
    for (args, flag) in cases {
        let out = run(*args);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("filespy: "), "{args:?}: {stderr}");
        assert!(
            first.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
        assert!(stderr.contains("filespy --help"), "no usage hint: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
}

#[test]
fn odd_inputs_never_panic() {
    let mut cases: Vec<Vec<OsString>> = [
        &[""][..],
        &["-"],
        &["-", "-"],
        &["---"],
        &["-="],
        &["--="],
        &["-o="],
        &["--ext="],
        &["--ext=,"],
        &["--ext", "."],
        &["--", "x"],
        &["--pid", "99999999999999999999999"],
        &["--duration", "1e400"],
        &["--duration", "."],
        &["--path", "/../"],
        &["-qVh"],
        &["-hq"],
    ]
    .iter()
    .map(|args| args.iter().map(OsString::from).collect())
    .collect();
    let bad = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    cases.push(vec![bad(b"\xff\xfe")]);
    cases.push(vec![bad(b"--\xff")]);
    cases.push(vec![bad(b"-\xff")]);
    cases.push(vec![bad(b"--ext=\xff")]);
    cases.push(vec!["--ext".into(), bad(b"t\xffxt")]);
    cases.push(vec!["--comm".into(), bad(b"\xc3")]);
    cases.push(vec!["--format".into(), bad(b"js\xffon")]);
    cases.push(vec!["--pid".into(), bad(b"1\xff")]);
    cases.push(vec!["--path".into(), bad(b"rel\xff")]);
    cases.push(vec!["--ext".into(), "a".repeat(100_000).into()]);
    cases.push(vec!["--comm".into(), "é".repeat(10).into()]);
    for args in cases {
        let out = run(args.clone());
        assert_no_panic(&out);
        let c = code(&out);
        // Help/version (exit 0) or a usage error: none of these may start monitoring.
        assert!(
            c == 0 || c == 2,
            "{args:?}: exit {c}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn help_into_a_closed_pipe_exits_quietly() {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created for us alone.
    let (read, write) = unsafe {
        use std::os::fd::{FromRawFd, OwnedFd};
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read);
    let out = Command::new(BIN)
        .arg("--help")
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run filespy");
    assert_no_panic(&out);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}

/// A copy of the binary that an unprivileged user can execute whatever the checkout's permissions.
struct Unprivileged {
    dir: PathBuf,
}

impl Unprivileged {
    fn new(tag: &str) -> Unprivileged {
        let dir = std::env::temp_dir().join(format!("filespy-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let bin = dir.join("filespy");
        // Copy in a child process: a write fd held by this (multithreaded) test process would leak into
        // children other tests fork meanwhile, and exec of the copy would then fail with ETXTBSY.
        let ok = Command::new("cp")
            .arg(BIN)
            .arg(&bin)
            .status()
            .expect("run cp");
        assert!(ok.success(), "cp {BIN} {}", bin.display());
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Unprivileged { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("filespy")
    }

    /// Runs the copy as nobody (uid/gid 65534, no groups, hence no capabilities) via setpriv
    /// when we are root; as ourselves otherwise (already unprivileged).
    fn run(&self, args: &[&str]) -> Output {
        // SAFETY: geteuid cannot fail.
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            assert!(
                Path::new("/usr/bin/setpriv").exists() || which("setpriv"),
                "setpriv (util-linux) is required to test the unprivileged path"
            );
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(self.bin());
            c
        } else {
            Command::new(self.bin())
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run filespy unprivileged")
    }
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        .unwrap_or(false)
}

#[test]
fn unprivileged_run_exits_1_with_the_privilege_message() {
    let nobody = Unprivileged::new("noroot");
    for args in [&[][..], &["--pid", "1", "--stats"], &["-o", "events.jsonl"]] {
        let out = nobody.run(args);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 1, "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end(), PRIVILEGE_MESSAGE, "{args:?}");
        assert!(out.stdout.is_empty());
    }
    // The check comes before opening the output: nothing was created.
    assert!(!nobody.dir.join("events.jsonl").exists());
}

#[test]
fn unprivileged_help_version_and_usage_errors_still_work() {
    let nobody = Unprivileged::new("nohelp");
    let out = nobody.run(&["--help"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("--buffer-pages"));

    let out = nobody.run(&["--version"]);
    assert_eq!(code(&out), 0);
    assert!(text(&out.stdout).starts_with("filespy "));

    // Parsing comes first: a bad flag is a usage error even without privileges.
    let out = nobody.run(&["--format", "xml"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("--format"));
}

#[test]
fn dump_prog_needs_no_privileges() {
    let nobody = Unprivileged::new("nodump");
    let out = nobody.run(&["--dump-prog"]);
    assert_no_panic(&out);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains(PRIVILEGE_MESSAGE),
        "--dump-prog must not require privileges: {stderr}"
    );
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(text(&out.stdout).contains("# section tracepoint/syscalls/"));
}
