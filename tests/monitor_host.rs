//! End-to-end tests of the real filespy binary on this host (tracepoint path): script recognition with
//! real interpreters, lifecycle (signals, --count, --duration, closed stdout, -o and SIGHUP reopen),
//! filters, output encodings, error exits and --dump-prog. Host only: not a `kernel_*` test.
//! Every test has its own directory, watched with `--path`, since the machine is never quiet.

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_file(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// 1. Script recognition with real interpreters

/// One interpreter run: the command, where it runs, and what filespy must report.
struct Case {
    /// Output file name under DIR/out (also the case's name).
    name: &'static str,
    argv: Vec<String>,
    cwd: Option<PathBuf>,
    comm: &'static str,
    /// The basename argv[0] must have once the interpreter runs (launchers such as pyenv's shim or
    /// `env` rewrite argv[0] into a path).
    argv0: &'static str,
    /// What argv[1..] of the writing process must be.
    rest: Vec<String>,
    script: Option<String>,
    /// The start of the interpreter binary's file name, e.g. "python3" for python3.11.
    exe_prefix: &'static str,
}

impl Case {
    /// `interp rest...` in `cwd` (None: ours): comm, argv[0] and the exe's name are the interpreter's.
    fn run(
        name: &'static str,
        interp: &'static str,
        rest: &[&str],
        cwd: Option<&Path>,
        script: Option<String>,
    ) -> Case {
        let rest: Vec<String> = rest.iter().map(|a| a.to_string()).collect();
        Case {
            name,
            argv: std::iter::once(interp.to_string())
                .chain(rest.iter().cloned())
                .collect(),
            cwd: cwd.map(Path::to_path_buf),
            comm: interp,
            argv0: interp,
            rest,
            script,
            exe_prefix: interp,
        }
    }
}

#[test]
fn scripts_of_real_interpreters() {
    let dir = TestDir::new("scripts");
    let d = dir.path();
    let out = |name: &str| s(&d.join("out").join(format!("{name}.txt")));
    std::fs::create_dir_all(d.join("out")).unwrap();

    // Every workload writes "pid exe [extra]" (any whitespace) in one write: the truth to compare the event with.
    let py = "import os, sys\nopen(sys.argv[1], 'w').write('%d\\n%s\\n' % (os.getpid(), os.readlink('/proc/self/exe')))\n";
    write_file(&d.join("tools/job.py"), py);
    write_file(&d.join("job.py"), py);
    write_file(&d.join("pkgname/__init__.py"), "");
    write_file(&d.join("pkgname/mod.py"), py);
    let shebang = d.join("shebang.py");
    write_file(&shebang, &format!("#!/usr/bin/env python3\n{py}"));
    std::fs::set_permissions(&shebang, std::fs::Permissions::from_mode(0o755)).unwrap();
    write_file(&d.join("pre.js"), "globalThis.PRE = 'pre-loaded';\n");
    write_file(
        &d.join("app.js"),
        "const fs = require('fs');\nfs.writeFileSync(process.argv[2], `${process.pid}\\n${fs.readlinkSync('/proc/self/exe')}\\n${globalThis.PRE || ''}\\n`);\n",
    );
    write_file(
        &d.join("run.sh"),
        // bash line-buffers: one line so that it is one write.
        "exe=$(readlink /proc/$$/exe)\necho \"$$ $exe\" > \"$1\"\n",
    );
    let pl = "open(my $f, '>', $ARGV[0]) or die; print $f \"$$\\n\" . readlink('/proc/self/exe') . \"\\n\"; close($f);\n";
    write_file(&d.join("w.pl"), pl);

    let ds = s(d);
    let py_c = "import os, sys; open(sys.argv[1], 'w').write('%d\\n%s\\n' % (os.getpid(), os.readlink('/proc/self/exe')))";
    let cases = vec![
        Case::run(
            "py_abs",
            "python3",
            &[&format!("{ds}/tools/job.py"), &out("py_abs")],
            None,
            Some(format!("{ds}/tools/job.py")),
        ),
        Case::run(
            "py_rel",
            "python3",
            &["tools/job.py", "out/py_rel.txt"],
            Some(d),
            Some(format!("{ds}/tools/job.py")),
        ),
        Case::run(
            "py_dev",
            "python3",
            &[
                "-X",
                "dev",
                "-W",
                "error",
                &format!("{ds}/job.py"),
                &out("py_dev"),
            ],
            None,
            Some(format!("{ds}/job.py")),
        ),
        Case::run(
            "py_mod",
            "python3",
            &["-m", "pkgname.mod", &out("py_mod")],
            Some(d),
            Some("pkgname.mod".into()),
        ),
        Case::run("py_c", "python3", &["-c", py_c, &out("py_c")], None, None),
        Case::run(
            "node_app",
            "node",
            &[&format!("{ds}/app.js"), &out("node_app")],
            None,
            Some(format!("{ds}/app.js")),
        ),
        Case::run(
            "node_pre",
            "node",
            &[
                "-r",
                &format!("{ds}/pre.js"),
                &format!("{ds}/app.js"),
                &out("node_pre"),
            ],
            None,
            Some(format!("{ds}/app.js")),
        ),
        Case::run(
            "bash_run",
            "bash",
            &[&format!("{ds}/run.sh"), &out("bash_run")],
            None,
            Some(format!("{ds}/run.sh")),
        ),
        // Run by its path: the kernel execs python3 (via env) with the script as argv[1].
        Case {
            argv: vec![s(&shebang), out("shebang")],
            ..Case::run(
                "shebang",
                "python3",
                &[&s(&shebang), &out("shebang")],
                None,
                Some(s(&shebang)),
            )
        },
        Case::run(
            "perl_w",
            "perl",
            &[&format!("{ds}/w.pl"), &out("perl_w")],
            None,
            Some(format!("{ds}/w.pl")),
        ),
        Case::run("perl_e", "perl", &["-e", pl, &out("perl_e")], None, None),
    ];

    let mon = Filespy::start(&["--path", &ds], Out::Collect);
    let my_cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    for c in &cases {
        let mut cmd = Command::new(&c.argv[0]);
        cmd.args(&c.argv[1..]);
        if let Some(cwd) = &c.cwd {
            cmd.current_dir(cwd);
        }
        run_ok(&mut cmd);
    }
    mon.wait_events("one event per interpreter run", |evs| {
        cases
            .iter()
            .all(|c| !events_for(evs, Path::new(&out(c.name))).is_empty())
    });
    let fin = mon.stop();
    let events = fin.events();

    for c in &cases {
        let file = PathBuf::from(out(c.name));
        let truth = std::fs::read_to_string(&file).unwrap();
        let mut fields = truth.split_whitespace();
        let pid: u64 = fields.next().unwrap().parse().unwrap();
        let exe = fields.next().unwrap().to_string();
        let evs = events_for(&events, &file);
        assert_eq!(evs.len(), 1, "{}: one write, one event: {evs:?}", c.name);
        let e = evs[0];
        let p = &e["process"];
        println!(
            "{:9} comm={} exe={} script={} cmdline={}",
            c.name, p["name"], p["exe_path"], p["file_path"], p["cmdline"]
        );
        assert_eq!(p["pid"], pid, "{}: pid", c.name);
        assert_eq!(p["tid"], pid, "{}: tid", c.name);
        assert_eq!(p["ppid"], std::process::id(), "{}: ppid", c.name);
        assert_eq!(p["uid"], 0, "{}", c.name);
        assert_eq!(p["gid"], 0, "{}", c.name);
        assert_eq!(p["name"], c.comm, "{}: comm", c.name);
        // exe_path: what the process itself saw, absolute, existing, canonical, the interpreter.
        assert_eq!(p["exe_path"], exe.as_str(), "{}: exe_path", c.name);
        let exe_path = Path::new(&exe);
        assert!(exe_path.is_absolute(), "{}: {exe}", c.name);
        assert_eq!(
            exe_path.canonicalize().unwrap(),
            exe_path,
            "{}: exe_path is canonical",
            c.name
        );
        let base = exe_path.file_name().unwrap().to_str().unwrap();
        assert!(base.starts_with(c.exe_prefix), "{}: exe {exe}", c.name);
        // cmdline: argv[0] may have become a path (pyenv shim, env); the rest is exactly ours.
        let cmdline: Vec<String> = p["cmdline"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: cmdline {}", c.name, p["cmdline"]))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert!(!cmdline.is_empty(), "{}", c.name);
        let argv0 = Path::new(&cmdline[0]).file_name().unwrap();
        assert_eq!(
            argv0,
            OsStr::new(c.argv0),
            "{}: argv[0] {cmdline:?}",
            c.name
        );
        assert_eq!(cmdline[1..], c.rest[..], "{}: cmdline", c.name);
        let want_cwd = c.cwd.clone().unwrap_or_else(|| my_cwd.clone());
        assert_eq!(p["cwd"], s(&want_cwd).as_str(), "{}: cwd", c.name);
        match &c.script {
            Some(script) => assert_eq!(p["file_path"], script.as_str(), "{}: script", c.name),
            None => assert!(
                p["file_path"].is_null(),
                "{}: script {}",
                c.name,
                p["file_path"]
            ),
        }
        assert_eq!(e["file"]["bytes_written"], truth.len(), "{}", c.name);
        assert_eq!(e["file"]["name"], format!("{}.txt", c.name));
    }
    // The -r preload ran in the same process as app.js.
    let pre = std::fs::read_to_string(out("node_pre")).unwrap();
    assert_eq!(pre.split_whitespace().nth(2), Some("pre-loaded"));
    println!("{} interpreter runs, {} events", cases.len(), events.len());
    assert_eq!(
        events.len(),
        cases.len(),
        "nothing else was written under DIR"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Lifecycle

#[test]
fn sigterm_exits_0_and_flushes_every_event() {
    let dir = TestDir::new("sigterm");
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    for i in 0..5 {
        write_file(&dir.join(format!("f{i}.txt")), "abc");
    }
    // No waiting for the events first: the rings must be drained on the way out.
    mon.signal(libc::SIGTERM);
    let fin = mon.wait();
    let events = fin.events();
    for i in 0..5 {
        let evs = events_for(&events, &dir.join(format!("f{i}.txt")));
        assert_eq!(evs.len(), 1, "f{i}.txt: {events:?}");
        assert_eq!(evs[0]["file"]["bytes_written"], 3);
    }
    assert_eq!(events.len(), 5);
}

#[test]
fn count_exits_by_itself_after_exactly_n_events() {
    let dir = TestDir::new("count");
    let mon = Filespy::start(&["--path", dir.str(), "--count", "3"], Out::Collect);
    for i in 0..6 {
        write_file(&dir.join(format!("f{i}.log")), "x");
    }
    let fin = mon.wait();
    let events = fin.events();
    assert_eq!(events.len(), 3, "{events:?}");
}

#[test]
fn duration_exits_by_itself() {
    let dir = TestDir::new("duration");
    let duration = Duration::from_secs(1);
    let mon = Filespy::start(&["--path", dir.str(), "--duration", "1"], Out::Collect);
    let ready = Instant::now();
    // When the harness spawned it (`startup` runs from just before the spawn to the ready line, read
    // microseconds before `ready`). The run's clock starts only after its programs are loaded, well
    // after this, so its exit comes at least `duration` after it.
    let spawned = ready - mon.startup;
    write_file(&dir.join("a.txt"), "x");
    let fin = mon.wait();
    let (since_spawn, since_ready) = (spawned.elapsed(), ready.elapsed());
    println!("--duration 1: exited {since_spawn:?} after spawn, {since_ready:?} after ready");
    assert!(
        since_spawn >= duration,
        "exited {since_spawn:?} after it was started, before its --duration 1"
    );
    // Generous: a correctness bound (it does end by itself, soon), not a speed goal.
    let bound = duration + Duration::from_secs(5);
    assert!(
        since_ready < bound,
        "exited {since_ready:?} after ready, not within {bound:?} of --duration 1"
    );
    assert!(fin.status.success(), "exit status {:?}", fin.status);
    assert_eq!(events_for(&fin.events(), &dir.join("a.txt")).len(), 1);
}

#[test]
fn closed_stdout_ends_the_run_quietly() {
    let dir = TestDir::new("epipe");
    let mut mon = Filespy::start(&["--path", dir.str()], Out::Pipe);
    let stdout = mon.take_stdout();
    // `filespy | head -n 1`: read one line on a thread (so a silent filespy cannot hang the test).
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let n = r.read_line(&mut line).unwrap_or(0);
        let _ = tx.send((n, line));
        // Dropping `r` closes the read end of the pipe.
    });
    write_file(&dir.join("first.txt"), "one");
    let (n, line) = rx
        .recv_timeout(EVENT_TIMEOUT)
        .expect("a first line on stdout");
    reader.join().unwrap();
    assert!(n > 0);
    let first: Value = serde_json::from_str(&line).expect("first line is JSON");
    assert_eq!(
        first["file"]["file_path"],
        s(&dir.join("first.txt")).as_str()
    );
    // Later events hit the closed pipe.
    let mut writes = 0;
    wait_until("filespy to exit after its stdout closed", || {
        writes += 1;
        write_file(&dir.join(format!("more{writes}.txt")), "more");
        mon.has_exited()
    });
    let fin = mon.wait();
    println!("closed stdout: exited after {writes} more writes");
    for l in fin.stderr.lines() {
        assert!(
            l.starts_with("filespy: ready"),
            "unexpected stderr: {}",
            fin.stderr
        );
    }
}

#[test]
fn output_file_appends_and_new_file_is_0600() {
    let dir = TestDir::new("outfile");
    let old = dir.join("old.jsonl");
    std::fs::write(&old, "previous line\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let new = dir.join("sub/new.jsonl");
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    let watched = dir.join("w");
    std::fs::create_dir_all(&watched).unwrap();
    let w = s(&watched);
    let a = Filespy::start(&["--path", &w, "-o", &s(&old)], Out::Null);
    let b = Filespy::start(&["--path", &w, "-o", &s(&new)], Out::Null);
    assert!(a.ready_line.contains(&s(&old)), "{}", a.ready_line);
    write_file(&watched.join("x.txt"), "hello");
    for f in [&old, &new] {
        wait_until("the event in the -o file", || {
            std::fs::read_to_string(f).is_ok_and(|t| t.contains("x.txt"))
        });
    }
    a.stop();
    b.stop();
    let text = std::fs::read_to_string(&old).unwrap();
    let rest = text
        .strip_prefix("previous line\n")
        .unwrap_or_else(|| panic!("old content lost: {text:?}"));
    let evs = complete_events(rest.as_bytes());
    assert_eq!(evs.len(), 1, "{rest}");
    assert_eq!(evs[0]["file"]["bytes_written"], 5);
    // An existing file keeps its mode; a new one is private.
    assert_eq!(mode_of(&old), 0o644);
    assert_eq!(mode_of(&new), 0o600);
    assert_eq!(file_events(&new).len(), 1);
}

#[test]
fn sighup_reopens_the_output_file() {
    let dir = TestDir::new("sighup");
    let log = dir.join("events.jsonl");
    let rotated = dir.join("events.jsonl.1");
    let watched = dir.join("w");
    std::fs::create_dir_all(&watched).unwrap();
    let mon = Filespy::start(&["--path", &s(&watched), "-o", &s(&log)], Out::Null);
    write_file(&watched.join("before.txt"), "1");
    wait_until("the first event", || file_events(&log).len() == 1);
    std::fs::rename(&log, &rotated).unwrap();
    mon.signal(libc::SIGHUP);
    wait_until("filespy to reopen events.jsonl", || log.exists());
    write_file(&watched.join("after.txt"), "22");
    wait_until("the second event", || file_events(&log).len() == 1);
    mon.stop();
    let old = file_events(&rotated);
    let new = file_events(&log);
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(old[0]["file"]["name"], "before.txt");
    assert_eq!(new[0]["file"]["name"], "after.txt");
    assert_eq!(mode_of(&log), 0o600);
}

// ---------------------------------------------------------------------------------------------
// 3. Filters

/// `sh` that writes `file` once released (so its pid is known beforehand).
fn waiting_writer(file: &Path) -> Gated {
    Gated::spawn(&format!("echo hello > {}", q(&s(file))))
}

#[test]
fn pid_filter_reports_only_that_process() {
    let dir = TestDir::new("pid");
    let a = waiting_writer(&dir.join("a.txt"));
    let b = waiting_writer(&dir.join("b.txt"));
    let a_pid = a.pid();
    let mon = Filespy::start(
        &["--path", dir.str(), "--pid", &a_pid.to_string()],
        Out::Collect,
    );
    b.release();
    write_file(&dir.join("self.txt"), "me");
    a.release();
    mon.wait_events("a.txt", |e| !events_for(e, &dir.join("a.txt")).is_empty());
    let fin = mon.stop();
    let events = fin.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["process"]["pid"], a_pid);
    assert_eq!(events[0]["process"]["name"], "sh");
}

#[test]
fn uid_filter_separates_root_and_nobody() {
    let dir = TestDir::new("uid");
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody_file = shared.join("nobody.txt");
    let root_file = shared.join("root.txt");
    let d = s(&shared);
    let m_nobody = Filespy::start(&["--path", &d, "--uid", "65534"], Out::Collect);
    let m_root = Filespy::start(&["--path", &d, "--uid", "0"], Out::Collect);
    run_ok(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "sh",
        "-c",
        "echo nobody > \"$0\"",
        &s(&nobody_file),
    ]));
    write_file(&root_file, "root");
    m_nobody.wait_events("nobody.txt", |e| !events_for(e, &nobody_file).is_empty());
    m_root.wait_events("root.txt", |e| !events_for(e, &root_file).is_empty());
    let nob = m_nobody.stop();
    let root = m_root.stop();
    let (nob, root) = (nob.events(), root.events());
    assert_eq!(nob.len(), 1, "--uid 65534: {nob:?}");
    assert_eq!(nob[0]["file"]["file_path"], s(&nobody_file).as_str());
    assert_eq!(nob[0]["process"]["uid"], 65534);
    assert_eq!(nob[0]["process"]["gid"], 65534);
    assert_eq!(root.len(), 1, "--uid 0: {root:?}");
    assert_eq!(root[0]["file"]["file_path"], s(&root_file).as_str());
    assert_eq!(root[0]["process"]["uid"], 0);
}

#[test]
fn comm_filter_reports_only_that_command() {
    let dir = TestDir::new("comm");
    let mon = Filespy::start(&["--path", dir.str(), "--comm", "tee"], Out::Collect);
    let tee_file = dir.join("tee.txt");
    let mut tee = Command::new("tee")
        .arg(&tee_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn tee");
    tee.stdin.take().unwrap().write_all(b"via tee\n").unwrap();
    assert!(tee.wait().unwrap().success());
    run_ok(Command::new("dd").args([
        "if=/dev/zero",
        &format!("of={}", s(&dir.join("dd.txt"))),
        "bs=7",
        "count=1",
    ]));
    write_file(&dir.join("self.txt"), "me");
    mon.wait_events("tee.txt", |e| !events_for(e, &tee_file).is_empty());
    let fin = mon.stop();
    let events = fin.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["process"]["name"], "tee");
    assert_eq!(events[0]["file"]["bytes_written"], 8);
}

#[test]
fn path_filter_matches_whole_components() {
    let dir = TestDir::new("path");
    for sub in ["a/b/sub", "a/bc"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // A trailing slash names the same subtree.
    let prefix = format!("{}/a/b/", dir.str());
    let mon = Filespy::start(&["--path", &prefix], Out::Collect);
    for f in [
        "a/b/x.txt",
        "a/b/sub/y.txt",
        "a/bc/z.txt",
        "a/w.txt",
        "a/b.txt",
    ] {
        write_file(&dir.join(f), "data");
    }
    mon.wait_events("y.txt", |e| {
        !events_for(e, &dir.join("a/b/sub/y.txt")).is_empty()
    });
    let fin = mon.stop();
    let got: BTreeSet<String> = fin
        .events()
        .iter()
        .map(|e| e["file"]["file_path"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = ["a/b/x.txt", "a/b/sub/y.txt"]
        .iter()
        .map(|f| s(&dir.join(f)))
        .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// 4. Output

#[test]
fn text_format_is_aligned_and_plain_when_not_a_tty() {
    let dir = TestDir::new("text");
    let script = dir.join("tools/textjob.py");
    write_file(
        &script,
        "import sys\nopen(sys.argv[1], 'w').write('12345')\n",
    );
    let target = dir.join("t.txt");
    let mon = Filespy::start(&["--path", dir.str(), "--format", "text"], Out::Collect);
    run_ok(Command::new("python3").args([s(&script), s(&target)]));
    write_file(&dir.join("plain.log"), "xy");
    let fin = mon.stop();
    let out = String::from_utf8(fin.stdout.clone()).expect("text output is UTF-8 here");
    print!("{out}");
    assert!(
        !out.contains('\x1b'),
        "ANSI escapes when not a tty: {out:?}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 events: {out}");
    let header = lines[0];
    for col in ["TIME", "PID", "PROCESS", "BYTES", "PATH"] {
        assert!(header.contains(col), "{header}");
    }
    let pid_end = header.find("PID").unwrap() + 3;
    let bytes_end = header.find("BYTES").unwrap() + 5;
    let path_at = header.find("PATH").unwrap();
    let py = lines
        .iter()
        .find(|l| l.contains("t.txt"))
        .expect("python line");
    let plain = lines
        .iter()
        .find(|l| l.contains("plain.log"))
        .expect("plain line");
    for (line, name, bytes, path) in [
        (py, "textjob.py", "5", s(&target)),
        (plain, "", "2", s(&dir.join("plain.log"))),
    ] {
        // HH:MM:SS.mmm
        let t = &line.as_bytes()[..12];
        assert!(
            t[2] == b':' && t[5] == b':' && t[8] == b'.',
            "time column: {line}"
        );
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(line[..pid_end].split_whitespace().last(), Some(fields[1]));
        assert!(fields[1].parse::<u32>().is_ok(), "pid: {line}");
        assert_eq!(
            line[..bytes_end].split_whitespace().last(),
            Some(bytes),
            "{line}"
        );
        assert_eq!(&line[path_at..], path, "path column: {line}");
        if !name.is_empty() {
            assert_eq!(fields[2], name, "the script stands for python3: {line}");
        }
    }
}

#[test]
fn odd_file_name_is_one_valid_json_line_with_exact_bytes() {
    let dir = TestDir::new("oddname");
    let name: &[u8] = b"we\nird\"q\tt\xff\xfe.txt";
    let file = dir.path().join(OsStr::from_bytes(name));
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    std::fs::write(&file, b"odd").unwrap();
    mon.wait_events("the odd file's event", |e| !e.is_empty());
    let fin = mon.stop();
    let text = String::from_utf8(fin.stdout.clone()).expect("JSON lines are UTF-8");
    assert_eq!(text.matches('\n').count(), 1, "one line: {text:?}");
    let events = fin.events();
    assert_eq!(events.len(), 1);
    let f = &events[0]["file"];
    let mut full = dir.path().as_os_str().as_bytes().to_vec();
    full.push(b'/');
    full.extend_from_slice(name);
    let b64 = |k: &str| base64_decode(f[k].as_str().unwrap_or_else(|| panic!("{k}: {f}"))).unwrap();
    assert_eq!(b64("name_b64"), name);
    assert_eq!(b64("file_path_b64"), full);
    assert_eq!(f["name"], String::from_utf8_lossy(name).as_ref());
    // Python's json module must read the same line and the same bytes.
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import sys, json, base64\nfor l in sys.stdin:\n    f = json.loads(l)['file']\n    print(base64.b64decode(f['name_b64']).hex(), base64.b64decode(f['file_path_b64']).hex())\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    py.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success());
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("{} {}", hex(name), hex(&full))
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Errors

#[test]
fn setup_errors_exit_1_with_one_line() {
    let dir = TestDir::new("errors");
    let garbage = dir.join("garbage.btf");
    let mut junk = vec![0u8; 4096];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(&garbage, &junk).unwrap();
    let truncated = dir.join("short.btf");
    // A real BTF header cut short.
    let real = std::fs::read("/sys/kernel/btf/vmlinux").expect("host BTF");
    std::fs::write(&truncated, &real[..40]).unwrap();
    // Files that must not be read whole: a device that never ends, a FIFO nobody writes, a directory,
    // and a (sparse) file past the size limit.
    let fifo = dir.join("fifo.btf");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let huge = dir.join("huge.btf");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len((256 << 20) + 1))
        .expect("sparse file");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--btf".into(), "/nonexistent".into()],
            "/nonexistent".into(),
        ),
        (
            vec!["--btf".into(), "/dev/zero".into()],
            "BTF file /dev/zero is a character device, not a regular file".into(),
        ),
        (
            vec!["--btf".into(), s(&fifo)],
            format!("{} is a FIFO, not a regular file", s(&fifo)),
        ),
        (
            vec!["--btf".into(), dir.str().into()],
            format!("{} is a directory", dir.str()),
        ),
        (
            vec!["--btf".into(), s(&huge)],
            format!("BTF file {} is larger than 256 MiB", s(&huge)),
        ),
        (
            vec!["--dump-prog".into(), "--btf".into(), "/dev/zero".into()],
            "/dev/zero is a character device".into(),
        ),
        (vec!["--btf".into(), s(&garbage)], s(&garbage)),
        (vec!["--btf".into(), s(&truncated)], s(&truncated)),
        (
            vec!["--attach".into(), "kprobe".into()],
            "no kprobes".into(),
        ),
    ];
    for (args, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let fin = run_filespy(&a);
        println!("{args:?} -> {} {:?}", fin.code(), fin.stderr);
        assert_eq!(fin.code(), 1, "{args:?}: {}", fin.stderr);
        assert_no_panic(&fin.stderr);
        assert_eq!(fin.stderr.lines().count(), 1, "{args:?}: {}", fin.stderr);
        assert!(fin.stderr.starts_with("filespy: "), "{}", fin.stderr);
        assert!(fin.stderr.contains(&needle), "{args:?}: {}", fin.stderr);
        assert!(fin.stdout.is_empty());
    }
}

#[test]
fn usage_errors_exit_2_as_root() {
    for (args, flag) in [
        (&["--ext"][..], "--ext"),
        (&["--pid", "abc"][..], "--pid"),
        (&["--format", "xml"][..], "--format"),
    ] {
        let fin = run_filespy(args);
        assert_eq!(fin.code(), 2, "{args:?}: {}", fin.stderr);
        assert_no_panic(&fin.stderr);
        let first = fin.stderr.lines().next().unwrap_or("");
        assert!(first.contains(flag), "{args:?}: {}", fin.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. --dump-prog

/// (name, section, instruction count) of each program in `--dump-prog`'s disassembly.
fn parse_dump(text: &str) -> Vec<(String, String, usize)> {
    let mut progs: Vec<(String, String, usize)> = Vec::new();
    for line in text.lines() {
        if let Some((name, rest)) = line.split_once(":  # section ") {
            let section = rest.split(',').next().unwrap().to_string();
            progs.push((name.to_string(), section, 0));
        } else if is_insn_line(line) {
            progs.last_mut().expect("instruction before a header").2 += 1;
        }
    }
    progs
}

/// "   12: r1 = r6" (ours) or "      12:\tbf ..." (llvm-objdump).
fn is_insn_line(line: &str) -> bool {
    let t = line.trim_start();
    t.split_once(':')
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && line.starts_with(' ')
}

fn objdump() -> &'static str {
    for tool in ["llvm-objdump-19", "llvm-objdump-14"] {
        if Command::new(tool).arg("--version").output().is_ok() {
            return tool;
        }
    }
    panic!("llvm-objdump-19 or -14 is needed (apt-get install llvm-19)");
}

#[test]
fn dump_prog_disassembly_elf_and_loaded_programs_agree() {
    let dir = TestDir::new("dump");
    let fin = run_filespy(&["--dump-prog"]);
    fin.assert_clean_exit();
    let text = String::from_utf8(fin.stdout.clone()).unwrap();
    assert!(text.contains("exit"), "no exit instruction");
    assert!(text.contains("call "), "no helper call");
    let ours = parse_dump(&text);
    let names: Vec<&str> = ours.iter().map(|p| p.0.as_str()).collect();
    let sections: Vec<&str> = ours.iter().map(|p| p.1.as_str()).collect();
    println!("--dump-prog: {ours:?}");
    // This host has no kprobes: the syscall tracepoints feed events.
    assert_eq!(
        sections,
        [
            "tracepoint/syscalls/sys_enter_write",
            "tracepoint/syscalls/sys_exit_write",
            "tracepoint/syscalls/sys_enter_pwrite64",
            "tracepoint/syscalls/sys_exit_pwrite64",
            "tracepoint/syscalls/sys_enter_writev",
            "tracepoint/syscalls/sys_exit_writev",
            "tracepoint/syscalls/sys_enter_pwritev",
            "tracepoint/syscalls/sys_exit_pwritev",
            "tracepoint/syscalls/sys_enter_pwritev2",
            "tracepoint/syscalls/sys_exit_pwritev2",
            "tracepoint/syscalls/sys_enter_copy_file_range",
            "tracepoint/syscalls/sys_exit_copy_file_range",
            "tracepoint/syscalls/sys_enter_sendfile64",
            "tracepoint/syscalls/sys_exit_sendfile64",
            "tracepoint/syscalls/sys_enter_splice",
            "tracepoint/syscalls/sys_exit_splice",
            "tracepoint/io_uring/io_uring_complete",
        ]
    );
    for (name, section, n) in &ours {
        assert!(*n > 0, "{name} is empty");
        assert!(text.contains(&format!("{name}:  # section {section}")));
    }

    // The ELF holds the same programs, as llvm-objdump reads them.
    let elf = dir.join("p.o");
    let fin = run_filespy(&["--dump-prog", &s(&elf)]);
    fin.assert_clean_exit();
    let tool = objdump();
    let dis = run_ok(Command::new(tool).args(["-d", &s(&elf)]));
    let mut theirs: Vec<(String, String, usize)> = Vec::new();
    let mut section = String::new();
    for line in dis.lines() {
        if let Some(sec) = line
            .strip_prefix("Disassembly of section ")
            .and_then(|l| l.strip_suffix(':'))
        {
            section = sec.to_string();
        } else if let Some(name) = line
            .split_once(" <")
            .and_then(|(_, n)| n.strip_suffix(">:"))
        {
            theirs.push((name.to_string(), section.clone(), 0));
        } else if is_insn_line(line) {
            theirs.last_mut().expect("instruction before a symbol").2 += 1;
        }
    }
    println!("{tool}: {theirs:?}");
    assert_eq!(theirs, ours, "ELF vs disassembly");

    // The programs a running filespy holds are these, by name (the kernel keeps 15 bytes).
    let watched = dir.join("w");
    std::fs::create_dir_all(&watched).unwrap();
    let mon = Filespy::start(&["--path", &s(&watched)], Out::Null);
    let mut loaded = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{}/fdinfo", mon.pid())).unwrap() {
        let info = std::fs::read_to_string(fd.unwrap().path()).unwrap_or_default();
        let Some(id) = info
            .lines()
            .find_map(|l| l.strip_prefix("prog_id:"))
            .map(str::trim)
        else {
            continue;
        };
        let show = run_ok(Command::new("bpftool").args(["prog", "show", "id", id, "-j"]));
        let v: Value = serde_json::from_str(&show).expect("bpftool JSON");
        assert_eq!(v["type"], "tracepoint", "{show}");
        loaded.insert(v["name"].as_str().unwrap().to_string());
    }
    mon.stop();
    // Identical programs (write and pwrite64 share a record layout) are loaded once, under the first
    // name that has that code: the loaded set is the first name of each distinct body in the dump.
    let mut bodies: Vec<&str> = Vec::new();
    let mut want = BTreeSet::new();
    for name in &names {
        let start = text.find(&format!("{name}:  # section")).unwrap();
        let body = text[start..].split_once('\n').unwrap().1;
        let body = body.split("\n\n").next().unwrap();
        if !bodies.contains(&body) {
            bodies.push(body);
            want.insert(name.chars().take(15).collect::<String>());
        }
    }
    println!("loaded by filespy: {loaded:?}; distinct programs in the dump: {want:?}");
    assert_eq!(loaded, want);
}

#[test]
fn stats_line_counts_the_delivered_events() {
    let dir = TestDir::new("stats");
    let mon = Filespy::start(&["--path", dir.str(), "--stats"], Out::Collect);
    for i in 0..4 {
        write_file(&dir.join(format!("s{i}.json")), "{}");
    }
    mon.wait_events("4 events", |e| e.len() == 4);
    let fin = mon.stop();
    let line = fin
        .stderr
        .lines()
        .find(|l| l.starts_with("filespy: stats "))
        .unwrap_or_else(|| panic!("no stats line: {}", fin.stderr));
    println!("{line}");
    assert!(line.contains(" events=4 "), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Process images, threads, pwrite64 and deleted files

#[test]
fn exec_thread_pwrite_and_deleted_file() {
    let dir = TestDir::new("image");
    let d = dir.str();
    // A thread writes (tid != pid), then pwrite64 at an offset, then a write to an unlinked file.
    let job = dir.join("job.py");
    write_file(
        &job,
        "import os, sys, threading\n\
         d = sys.argv[1]\n\
         t = threading.Thread(target=lambda: open(d + '/thread.txt', 'w').write('from a thread'))\n\
         t.start(); t.join()\n\
         fd = os.open(d + '/pw.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n\
         os.pwrite(fd, b'abcdef', 100)\n\
         os.close(fd)\n\
         f = open(d + '/gone.txt', 'w')\n\
         os.unlink(d + '/gone.txt')\n\
         f.write('ghost'); f.flush(); f.close()\n",
    );
    let mon = Filespy::start(&["--path", d], Out::Collect);
    // The same pid writes as sh, then as python3 after exec: each image has its own context.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "echo from-sh > \"$0/sh.txt\"; exec python3 \"$0/job.py\" \"$0\"",
            d,
        ])
        .spawn()
        .expect("sh");
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    mon.wait_events("4 events", |e| e.len() >= 4);
    let fin = mon.stop();
    let events = fin.events();
    let one = |f: &str| {
        let evs = events_for(&events, &dir.join(f));
        assert_eq!(evs.len(), 1, "{f}: {events:?}");
        evs[0].clone()
    };
    let sh = one("sh.txt");
    assert_eq!(sh["process"]["pid"], pid);
    assert_eq!(sh["process"]["name"], "sh");
    assert_eq!(sh["process"]["cmdline"][0], "sh");
    assert_eq!(sh["process"]["cmdline"][1], "-c");
    assert!(sh["process"]["file_path"].is_null(), "{sh}");

    let script = s(&job);
    let th = one("thread.txt");
    assert_eq!(th["process"]["pid"], pid, "{th}");
    assert_ne!(th["process"]["tid"], pid, "a thread's tid: {th}");
    assert_eq!(th["process"]["file_path"], script.as_str());
    assert_eq!(th["process"]["cmdline"][1], script.as_str());
    assert_eq!(th["file"]["bytes_written"], 13);

    let pw = one("pw.txt");
    assert_eq!(pw["process"]["pid"], pid);
    assert_eq!(pw["process"]["tid"], pid);
    assert_eq!(pw["process"]["name"], "python3");
    assert_eq!(pw["process"]["file_path"], script.as_str());
    assert_eq!(pw["file"]["bytes_written"], 6);

    let gone = one("gone.txt");
    assert_eq!(gone["file"]["deleted"], true, "{gone}");
    assert_eq!(gone["file"]["bytes_written"], 5);
    assert_eq!(events.len(), 4, "{events:?}");
}

#[test]
fn sighup_without_output_file_keeps_running() {
    let dir = TestDir::new("hupstdout");
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    mon.signal(libc::SIGHUP);
    write_file(&dir.join("after-hup.txt"), "x");
    mon.wait_events("the event after SIGHUP", |e| e.len() == 1);
    let fin = mon.stop();
    assert_eq!(fin.events().len(), 1);
    for l in fin.stderr.lines() {
        assert!(l.starts_with("filespy: ready"), "stderr: {}", fin.stderr);
    }
}

/// The first event of a process carries its context; when a later event of the same process sits in
/// a ring that is drained first (another thread on another CPU), it must still get that context.
#[test]
fn context_reaches_events_read_before_it_from_another_cpu() {
    let dir = TestDir::new("crosscpu");
    let job = dir.join("cross.py");
    write_file(
        &job,
        "import os, sys, threading\n\
         d = sys.argv[1]\n\
         cpus = sorted(os.sched_getaffinity(0))\n\
         assert len(cpus) >= 2, 'this test needs two CPUs'\n\
         def first(i):\n\
         \x20   os.sched_setaffinity(0, {cpus[1]})\n\
         \x20   open('%s/c%d-first.txt' % (d, i), 'w').write('1')\n\
         for i in range(20):\n\
         \x20   pid = os.fork()\n\
         \x20   if pid == 0:\n\
         \x20       t = threading.Thread(target=first, args=(i,)); t.start(); t.join()\n\
         \x20       os.sched_setaffinity(0, {cpus[0]})\n\
         \x20       open('%s/c%d-second.txt' % (d, i), 'w').write('22')\n\
         \x20       os._exit(0)\n\
         \x20   os.waitpid(pid, 0)\n",
    );
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    run_ok(Command::new("python3").args([s(&job), dir.str().to_string()]));
    mon.wait_events("40 events", |e| e.len() >= 40);
    let fin = mon.stop();
    let events = fin.events();
    assert_eq!(events.len(), 40);
    let script = s(&job);
    let mut missing = Vec::new();
    for e in &events {
        let p = &e["process"];
        if p["file_path"] != script.as_str() || p["cmdline"][1] != script.as_str() {
            missing.push(format!("{} {}", e["file"]["name"], p));
        }
    }
    println!(
        "cross-CPU: {} of {} events without their process context",
        missing.len(),
        events.len()
    );
    assert!(missing.is_empty(), "{missing:#?}");
}

// ---------------------------------------------------------------------------------------------
// Copies by real tools: the bytes the kernel moved, the script that asked for them

#[test]
fn python_copies_are_writes_of_the_script() {
    let dir = TestDir::new("pycopy");
    let src = dir.join("notes.txt");
    write_file(&src, &"a line of notes\n".repeat(1000));
    let job = dir.join("tools/backup.py");
    write_file(
        &job,
        "import os, shutil, sys\n\
         print('copy_file_range' if getattr(shutil, '_USE_CP_COPY_FILE_RANGE', False) else 'sendfile64')\n\
         print(open('/proc/self/comm').read().strip())\n\
         shutil.copyfile('notes.txt', 'shutil.txt')\n\
         a = os.open('notes.txt', os.O_RDONLY)\n\
         b = os.open('sendfile.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n\
         n = os.fstat(a).st_size\n\
         while n > 0:\n    n -= os.sendfile(b, a, None, n)\n\
         r, w = os.pipe()\n\
         os.write(w, b'spliced from a pipe\\n')\n\
         c = os.open('splice.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n\
         os.splice(r, c, 20)\n",
    );
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    let out = run_ok(
        Command::new("python3")
            .arg("tools/backup.py")
            .current_dir(dir.path()),
    );
    let fin = mon.stop();
    let events = fin.events();
    // shutil.copyfile's fast path: copy_file_range where the os module has it (Python 3.14 on), else
    // sendfile; the script says which its shutil takes.
    let said = out;
    let (shutil_via, comm) = said.trim().split_once('\n').expect("two lines");
    let src_ino = std::fs::metadata(&src).unwrap().ino();
    for (name, want) in [
        ("shutil.txt", shutil_via),
        ("sendfile.txt", "sendfile64"),
        ("splice.txt", "splice"),
    ] {
        let path = dir.join(name);
        let evs = events_for(&events, &path);
        assert!(!evs.is_empty(), "{name}: {events:?}");
        let total: u64 = evs
            .iter()
            .map(|e| e["file"]["bytes_written"].as_u64().unwrap())
            .sum();
        assert_eq!(total, std::fs::metadata(&path).unwrap().len(), "{name}");
        for e in &evs {
            assert_eq!(e["process"]["file_path"], s(&job), "the script: {e}");
            assert_eq!(e["via"], want, "{name}: {e}");
            assert_eq!(e["process"]["name"], comm, "{e}");
            if want == "splice" {
                // From a pipe: no file the data came from.
                assert!(e["file"].get("source_path").is_none(), "{e}");
                assert!(e["file"].get("source_inode").is_none(), "{e}");
            } else {
                assert_eq!(e["file"]["source_path"], s(&src), "{e}");
                assert_eq!(e["file"]["source_inode"], src_ino, "{e}");
            }
        }
    }
}

/// A Python job's file operations (os.rename, os.mkdir, os.symlink, os.chmod, os.remove) are the
/// file-integrity kinds, each with the script that did it.
#[test]
fn python_file_operations_are_the_scripts() {
    let dir = TestDir::new("pyfim");
    write_file(&dir.join("a.txt"), "a\n");
    let job = dir.join("tools/tidy.py");
    write_file(
        &job,
        "import os\n\
         os.rename('a.txt', 'b.txt')\n\
         os.mkdir('sub')\n\
         os.symlink('../b.txt', 'sub/l.txt')\n\
         os.chmod('b.txt', 0o600)\n\
         os.remove('sub/l.txt')\n",
    );
    let mon = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    run_ok(
        Command::new("python3")
            .arg("tools/tidy.py")
            .current_dir(dir.path()),
    );
    let fin = mon.stop();
    let mut events = fin.events();
    events.retain(|e| e["file"].get("truncated").is_none());
    events.sort_by_key(|e| e["system_ts"].as_u64().unwrap());
    let got: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["op"].as_str().unwrap().into(), file_path(e).into()))
        .collect();
    let j = |n: &str| s(&dir.join(n));
    let want: Vec<(String, String)> = [
        ("rename", j("b.txt")),
        ("mkdir", j("sub")),
        ("symlink", j("sub/l.txt")),
        ("chmod", j("b.txt")),
        ("delete", j("sub/l.txt")),
    ]
    .into_iter()
    .map(|(o, p)| (o.to_string(), p))
    .collect();
    assert_eq!(got, want, "{}", fin.lines.join("\n"));
    for e in &events {
        assert_eq!(e["process"]["file_path"], s(&job), "the script: {e}");
    }
    assert_eq!(events[0]["file"]["old_path"], j("a.txt"));
    assert_eq!(events[2]["file"]["target"], "../b.txt");
    assert_eq!(events[3]["file"]["mode"], "0600");
}

/// argv[0] is what a process says about itself: `exec -a python3 EVIL job.py` must not be reported as
/// python running job.py, while `exec -a worker python3 job.py` still is (the executable is python).
#[test]
fn script_comes_from_the_executable_not_argv0() {
    let dir = TestDir::new("execa");
    let d = dir.str();
    // EVIL is a renamed shell: it runs "job.py" as shell code, which filespy cannot know.
    let evil = dir.join("evil");
    std::fs::copy(sh_exe(), &evil).expect("copy sh");
    write_file(&dir.join("job.py"), "echo evil > \"$1\"\n");
    write_file(
        &dir.join("real.py"),
        "import sys\nopen(sys.argv[1], 'w').write('real')\n",
    );
    // The interpreter itself, not a launcher (pyenv's shim would set argv[0] again).
    let python = run_ok(Command::new("python3").args(["-c", "import sys; print(sys.executable)"]));
    let mon = Filespy::start(&["--path", d], Out::Collect);
    run_ok(Command::new("bash").args([
        "-c",
        "exec -a python3 \"$0/evil\" \"$0/job.py\" \"$0/evil.txt\"",
        d,
    ]));
    run_ok(Command::new("bash").args([
        "-c",
        "exec -a worker \"$1\" \"$0/real.py\" \"$0/worker.txt\"",
        d,
        python.trim(),
    ]));
    mon.wait_events("2 events", |e| e.len() >= 2);
    let fin = mon.stop();
    let events = fin.events();
    let one = |f: &str| {
        let evs = events_for(&events, &dir.join(f));
        assert_eq!(evs.len(), 1, "{f}: {events:?}");
        evs[0]["process"].clone()
    };
    let bad = one("evil.txt");
    assert_eq!(bad["cmdline"][0], "python3", "{bad}");
    assert_eq!(bad["exe_path"], s(&evil).as_str(), "{bad}");
    assert!(
        bad["file_path"].is_null(),
        "argv[0] named python3, the executable is not: {bad}"
    );
    let good = one("worker.txt");
    assert_eq!(good["cmdline"][0], "worker", "{good}");
    assert_eq!(
        good["file_path"],
        s(&dir.join("real.py")).as_str(),
        "{good}"
    );
    assert_eq!(events.len(), 2, "{events:?}");
}

// ---------------------------------------------------------------------------------------------
// Self-exclusion by host identity

/// In a pid namespace of its own (a container without hostPID), filespy's pid there is not the one
/// the kernel reports: its own output must still never be an event (which would feed itself forever).
#[test]
fn in_a_pid_namespace_its_own_output_is_not_reported() {
    let dir = TestDir::new("pidns");
    let out = dir.join("events.log");
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(filespy_bin())
        .args(["--path", dir.str(), "-o", &s(&out)])
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let ready = lines.next().expect("a line").expect("stderr");
    assert!(ready.starts_with("filespy: ready"), "{ready}");
    let trigger = dir.join("trigger.txt");
    write_file(&trigger, "once\n");
    wait_until("the trigger's event", || {
        std::fs::read_to_string(&out).is_ok_and(|t| !t.is_empty())
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SIGTERM to filespy itself (unshare's child), so it ends as it does in a container.
    let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    let pid: i32 = kids
        .split_whitespace()
        .next()
        .expect("filespy")
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&out).unwrap();
    let paths: Vec<String> = text
        .lines()
        .map(|l| file_path(&parse_event(l)).to_string())
        .collect();
    assert_eq!(paths, vec![s(&trigger)], "{text}");
}

// ---------------------------------------------------------------------------------------------
// Lineage through real interpreters

/// `bash -c 'python3 job.py'`, job.py running `sh -c 'echo >> x.log'`: an exec event for each, and the
/// write names the Python script as its parent's and the chain up to bash.
#[test]
fn a_write_names_the_script_of_its_parent() {
    let dir = TestDir::new("lineage");
    let job = dir.join("job.py");
    let log = dir.join("x.log");
    write_file(
        &job,
        &format!(
            "import subprocess\nsubprocess.run(['sh', '-c', 'echo from-sh >> {}'], check=True)\n",
            s(&log)
        ),
    );
    let mon = Filespy::start(
        &["--events", "write,exec", "--path", dir.str()],
        Out::Collect,
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("python3 {}; true", s(&job)))
        .current_dir(dir.path())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fin = mon.stop();
    let events = fin.events();
    let w = events
        .iter()
        .find(|e| e["op"] == "write" && file_path(e) == s(&log))
        .unwrap_or_else(|| panic!("no write: {events:?}"));
    let p = &w["process"];
    assert_eq!(p["name"], "sh");
    assert_eq!(
        p["parent"]["file_path"],
        s(&job),
        "the parent's script: {w}"
    );
    let names: Vec<&str> = p["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names[0].starts_with("python"), "{names:?}");
    assert!(names.contains(&"bash"), "{names:?}");
    // exec events for the script's interpreter and the shell it ran.
    let execs: Vec<&Value> = events.iter().filter(|e| e["op"] == "exec").collect();
    assert!(
        execs.iter().any(|e| e["process"]["file_path"] == s(&job)),
        "an exec of python running job.py: {execs:?}"
    );
    assert!(execs.iter().any(|e| e["process"]["pid"] == p["pid"]));
}
