//! End-to-end tests of the real filespy binary against hostile or failing outputs, on this host: a FIFO
//! nobody reads, a pipe nobody drains, a full file system, links and files planted by another user,
//! and the signals an operator sends (USR1/USR2 for the running stats, a stray ALRM). Host only.

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// SIGINT, SIGTERM and --duration must end a run within about this, whatever the output does.
const STOP_WITHIN: Duration = Duration::from_millis(1500);

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

fn mkfifo(path: &Path, mode: libc::mode_t) {
    let c = CString::new(s(path)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), mode) }, 0, "mkfifo");
}

/// `n` one-write files under `dir` (names long enough that each event is ~400 bytes).
fn burst(dir: &Path, n: usize) {
    run_ok(Command::new("python3").args([
        "-c",
        "import os, sys\n\
         d, n = sys.argv[1], int(sys.argv[2])\n\
         fd = os.open(d + '/' + 'x' * 120 + '.txt', os.O_WRONLY | os.O_CREAT, 0o644)\n\
         for i in range(n): os.write(fd, b'y')\n",
        &s(dir),
        &n.to_string(),
    ]));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

// ---------------------------------------------------------------------------------------------
// 1. Never unstoppable

#[test]
fn a_fifo_without_reader_neither_blocks_start_nor_stop() {
    let dir = TestDir::new("fifo");
    let fifo = dir.join("events.fifo");
    mkfifo(&fifo, 0o600);
    let watched = dir.join("w");
    std::fs::create_dir(&watched).unwrap();
    let args = ["--path", &s(&watched), "-o", &s(&fifo), "--stats"];
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mon = Filespy::start(&args, Out::Null);
        wait_until("the no-reader line", || {
            mon.stderr_text().contains("is a FIFO without a reader")
        });
        std::fs::write(watched.join("unread.txt"), "x").unwrap();
        std::thread::sleep(SETTLE);
        let t0 = Instant::now();
        mon.signal(sig);
        let fin = mon.wait();
        println!("signal {sig}: exit after {:?}", t0.elapsed());
        assert!(t0.elapsed() < STOP_WITHIN, "{:?}", t0.elapsed());
        // Nobody read it: counted, not delivered.
        let st = fin.stats();
        assert_eq!(
            (st.events, st.lost_output, st.lost),
            (0, 1, 1),
            "{}",
            fin.stderr
        );
    }
    // --duration ends it too.
    let t0 = Instant::now();
    let mut d = vec!["--duration", "1"];
    d.extend_from_slice(&args);
    let mon = Filespy::start(&d, Out::Null);
    mon.wait();
    assert!(t0.elapsed() < Duration::from_secs(1) + STOP_WITHIN + READY_SLACK);
}

/// Start-up time allowed on top of --duration (BTF parsing and program loading).
const READY_SLACK: Duration = Duration::from_secs(5);

#[test]
fn a_reader_that_comes_late_gets_the_events() {
    let dir = TestDir::new("fifolate");
    let fifo = dir.join("events.fifo");
    mkfifo(&fifo, 0o600);
    let watched = dir.join("w");
    std::fs::create_dir(&watched).unwrap();
    let mon = Filespy::start(
        &["--path", &s(&watched), "-o", &s(&fifo), "--stats"],
        Out::Null,
    );
    std::fs::write(watched.join("early.txt"), "x").unwrap();
    std::thread::sleep(SETTLE);
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::fs::File::open(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    });
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(watched.join("late.txt"), "yy").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fin = mon.stop();
    let text = reader.join().unwrap();
    let names: Vec<String> = complete_events(text.as_bytes())
        .iter()
        .map(|e| e["file"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["early.txt", "late.txt"], "{}", fin.stderr);
    assert!(fin.stderr.contains("writing to"), "{}", fin.stderr);
    assert_eq!(fin.stats().events, 2);
    assert_eq!(fin.stats().lost, 0);
}

/// `filespy | sleep 20`: once the pipe and the bounded buffer are full, events are dropped and
/// counted, memory stays bounded, and SIGINT, SIGTERM and --duration still end the run at once.
#[test]
fn an_undrained_pipe_drops_counted_events_and_stops_at_once() {
    const N: usize = 40_000;
    for how in ["SIGINT", "SIGTERM", "--duration"] {
        let dir = TestDir::new("stalled");
        let mut args = vec!["--path".to_string(), dir.str().into(), "--stats".into()];
        args.extend(["--buffer-pages".into(), "1024".into()]);
        if how == "--duration" {
            args.extend(["--duration".into(), "3".into()]);
        }
        let mut mon = Filespy::start(&args, Out::Pipe);
        let started = Instant::now();
        let stdout = mon.take_stdout();
        burst(dir.path(), N);
        std::thread::sleep(Duration::from_millis(500));
        let rss = rss_kib(mon.pid());
        let t0 = Instant::now();
        match how {
            "SIGINT" => mon.signal(libc::SIGINT),
            "SIGTERM" => mon.signal(libc::SIGTERM),
            _ => {}
        }
        let fin = mon.wait();
        let took = t0.elapsed();
        let mut got = Vec::new();
        let mut stdout = stdout;
        stdout.read_to_end(&mut got).unwrap();
        let whole = got.iter().filter(|&&b| b == b'\n').count() as u64;
        let st = fin.stats();
        println!("{how}: exit after {took:?} (run {:?}), rss {rss} KiB, {whole} lines in the pipe, {st:?}", started.elapsed());
        if how == "--duration" {
            assert!(
                started.elapsed() < Duration::from_secs(3) + STOP_WITHIN,
                "{:?}",
                started.elapsed()
            );
        } else {
            assert!(took < STOP_WITHIN, "{how}: {took:?}");
        }
        // 1024 pages x 4 KiB rings per CPU plus an 8 MiB buffer and one drain's lines (each ~1 KiB
        // with the process's identity), not the ~40 MiB of all events.
        let rings_kib = 4 * 1024 * std::thread::available_parallelism().unwrap().get() as u64;
        assert!(rss < rings_kib + 8 * 1024 + 16 * 1024, "rss {rss} KiB");
        assert!(st.lost_output > 0, "the pipe filled: {st:?}");
        assert_eq!(st.events, whole, "events = lines the reader can read");
        // A merged event stands for `merged` more writes than its line (lost with it if dropped).
        assert_eq!(
            st.events + st.merged + st.lost,
            N as u64,
            "every event delivered or counted: {st:?}"
        );
        assert!(
            fin.stderr.contains("is not read fast enough"),
            "{}",
            fin.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A full disk: whole lines only, keep running, resume

#[test]
fn a_full_disk_never_tears_a_line_and_writing_resumes() {
    let dir = TestDir::new("fulldisk");
    let small = dir.join("small");
    std::fs::create_dir(&small).unwrap();
    let target = std::ffi::CString::new(s(&small)).unwrap();
    let rc = unsafe {
        libc::mount(
            c"filespy-full".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=64k".as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount a 64 KiB tmpfs");
    struct Unmount(std::ffi::CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _mounted = Unmount(target);
    // Room to free later, so that space returns.
    let filler = small.join("filler");
    std::fs::write(&filler, vec![0u8; 32 * 1024]).unwrap();
    let log = small.join("events.jsonl");
    let watched = dir.join("w");
    std::fs::create_dir(&watched).unwrap();
    let mon = Filespy::start(
        &["--path", &s(&watched), "-o", &s(&log), "--stats"],
        Out::Null,
    );
    let mut written = 0u64;
    let write_some = |from: u64, n: u64| {
        for i in from..from + n {
            std::fs::write(watched.join(format!("{i:05}-{}.txt", "z".repeat(80))), "x").unwrap();
        }
    };
    write_some(written, 200);
    written += 200;
    wait_until("the no-space line", || {
        mon.stderr_text().contains("No space left")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with('\n'),
        "the file ends mid-line: {:?}",
        &text[text.len() - 80..]
    );
    complete_events(text.as_bytes());
    // Space returns: filespy writes again by itself.
    std::fs::remove_file(&filler).unwrap();
    write_some(written, 5);
    written += 5;
    wait_until("the resume line", || {
        mon.stderr_text().contains("writing to")
    });
    let fin = mon.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'));
    let events = complete_events(text.as_bytes());
    let st = fin.stats();
    println!(
        "{} events in the file, {st:?}\n{}",
        events.len(),
        fin.stderr
    );
    assert!(st.lost_output > 0, "{st:?}");
    assert_eq!(st.events, events.len() as u64);
    assert_eq!(st.events + st.lost, written, "{st:?}");
    // One line when writes start failing and one when they resume (the freed space may fill again).
    let mut stalled = false;
    for l in fin.stderr.lines() {
        if l.contains("No space left") {
            assert!(
                !stalled,
                "a second stall line without a resume: {}",
                fin.stderr
            );
            stalled = true;
        } else if l.contains("writing to") {
            assert!(stalled, "a resume line without a stall: {}", fin.stderr);
            stalled = false;
        }
    }

    // A crash mid-line (as after SIGKILL under systemd): the next run starts on a whole line.
    // (Ten of the lines kept, so there is room again.)
    let ten: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, format!("{ten}{{\"id\":\"torn\",\"sys")).unwrap();
    let mon = Filespy::start(&["--path", &s(&watched), "-o", &s(&log)], Out::Null);
    std::fs::write(watched.join("after-restart.txt"), "x").unwrap();
    wait_until("the event after restart", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("after-restart.txt")
    });
    let fin = mon.stop();
    assert!(
        fin.stderr.contains("cut back to the last whole line"),
        "{}",
        fin.stderr
    );
    let again = complete_events(&std::fs::read(&log).unwrap());
    assert_eq!(again.len(), 11);
}

// ---------------------------------------------------------------------------------------------
// 3. Never through what another user planted

#[test]
fn output_planted_by_another_user_is_refused_at_start_and_on_sighup() {
    let dir = TestDir::new("planted");
    let victim = dir.join("victim.conf");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let dangling = dir.join("dangling.jsonl");
    std::os::unix::fs::symlink(dir.join("made-by-root"), &dangling).unwrap();
    std::os::unix::fs::lchown(&dangling, Some(65534), Some(65534)).unwrap();
    let theirs = dir.join("theirs.jsonl");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let open = dir.join("open.jsonl");
    std::fs::write(&open, "").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    for (path, why) in [
        (&link, "symbolic link"),
        (&dangling, "symbolic link"),
        (&theirs, "owned by uid 65534"),
        (&open, "writable by group or others"),
    ] {
        let fin = run_filespy(&["-o", &s(path)]);
        assert_eq!(fin.code(), 1, "{}: {}", path.display(), fin.stderr);
        assert_eq!(fin.stderr.lines().count(), 1, "{}", fin.stderr);
        assert!(
            fin.stderr
                .starts_with(&format!("filespy: refusing output {}: ", s(path))),
            "{}",
            fin.stderr
        );
        assert!(fin.stderr.contains(why), "{}", fin.stderr);
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!dir.join("made-by-root").exists());
    assert_eq!(std::fs::read(&theirs).unwrap(), b"");

    // Rotation, then a link planted where the new file would be: SIGHUP refuses it and keeps writing
    // to the rotated file.
    let log = dir.join("events.jsonl");
    let rotated = dir.join("events.jsonl.1");
    let watched = dir.join("w");
    std::fs::create_dir(&watched).unwrap();
    let mon = Filespy::start(&["--path", &s(&watched), "-o", &s(&log)], Out::Null);
    std::fs::rename(&log, &rotated).unwrap();
    std::os::unix::fs::symlink(&victim, &log).unwrap();
    std::os::unix::fs::lchown(&log, Some(65534), Some(65534)).unwrap();
    mon.signal(libc::SIGHUP);
    wait_until("the refusal", || {
        mon.stderr_text().contains("refusing output")
    });
    std::fs::write(watched.join("after.txt"), "x").unwrap();
    wait_until("the event in the rotated file", || {
        file_events(&rotated).len() == 1
    });
    mon.stop();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

// ---------------------------------------------------------------------------------------------
// 10. Operator signals

#[test]
fn usr1_and_usr2_print_running_stats_and_alrm_is_ignored() {
    let dir = TestDir::new("usr1");
    let mon = Filespy::start(&["--path", dir.str()], Out::Collect);
    std::fs::write(dir.join("a.txt"), "1").unwrap();
    std::fs::write(dir.join("b.txt"), "2").unwrap();
    mon.wait_events("2 events", |e| e.len() == 2);
    mon.signal(libc::SIGUSR1);
    wait_until("the USR1 stats line", || {
        mon.stderr_text().contains("filespy: stats events=2 ")
    });
    mon.signal(libc::SIGUSR2);
    mon.signal(libc::SIGALRM);
    wait_until("the USR2 stats line", || {
        mon.stderr_text()
            .matches("filespy: stats events=2 ")
            .count()
            == 2
    });
    std::fs::write(dir.join("c.txt"), "3").unwrap();
    mon.wait_events("the event after the signals", |e| e.len() == 3);
    let fin = mon.stop();
    assert_eq!(fin.events().len(), 3);
    let stats: Vec<&str> = fin
        .stderr
        .lines()
        .filter(|l| l.starts_with("filespy: stats"))
        .collect();
    assert_eq!(
        stats.len(),
        2,
        "no --stats: only the two asked for: {}",
        fin.stderr
    );
}
