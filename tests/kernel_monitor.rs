//! End-to-end tests of the real `filespy` binary: event fields, paths across mounts and deep trees, the
//! filters, script recognition, short-lived processes, deleted files, failed writes and loss accounting.
//! They run on the host (syscall tracepoints) and in the Debian VMs (kprobes); each test uses its own
//! directory and its own filespy, and never assumes the machine is otherwise quiet.

#[path = "common/kernel.rs"]
mod kernel;
#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Tests that would disturb the others run alone (write lock) while every other test holds a read lock:
/// over-deep paths are reported truncated and unrooted, which no `--path` filter can exclude, and a
/// 100k-write burst to a .txt file reaches every running filespy's rings (their `--path` filter is
/// applied in user space) and would make them lose events of their own.
static UNROOTED: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    UNROOTED.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    UNROOTED.write().unwrap_or_else(|e| e.into_inner())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| panic!("/proc/sys/kernel/osrelease: {e}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

/// The single event in `run` for `path`, failing with the whole output otherwise.
fn only_event(run: &Finished, path: &Path) -> Value {
    let evs = run.events_for(path);
    assert_eq!(
        evs.len(),
        1,
        "expected one event for {}, output:\n{}",
        path.display(),
        run.lines.join("\n")
    );
    evs.into_iter().next().unwrap()
}

#[test]
fn event_fields_describe_the_writer_and_the_file() {
    let _unrooted = shared();
    let dir = TestDir::new("fields");
    let target = dir.join("f.txt");
    let gated = Gated::spawn(&format!(
        "printf %s 0123456789 > {}",
        q(target.to_str().unwrap())
    ));
    let exe = gated.exe();
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let startup = fs.startup;
    let (mono0, wall0) = (monotonic_ns(), SystemTime::now());
    let pid = gated.pid();
    let argv = gated.argv.clone();
    gated.release();
    let (mono1, wall1) = (monotonic_ns(), SystemTime::now());
    let run = fs.stop();
    assert_eq!(run.lines.len(), 1, "output:\n{}", run.lines.join("\n"));
    let e = only_event(&run, &target);
    println!(
        "kernel {} ({}), ready after {startup:?}; event: {}",
        kernel_release(),
        expected_hook(),
        run.lines[0]
    );

    let st = std::fs::metadata(&target).unwrap();
    let f = &e["file"];
    assert_eq!(f["name"], "f.txt");
    assert_eq!(f["bytes_written"], 10);
    assert_eq!(f["inode"], st.ino());
    assert_eq!(f["dev"], dev_string(st.dev()).as_str());
    assert!(
        f.get("truncated").is_none() && f.get("deleted").is_none(),
        "{f}"
    );

    let p = &e["process"];
    assert_eq!(p["pid"], pid);
    assert_eq!(p["tid"], pid, "a single-threaded shell");
    assert_eq!(p["ppid"], std::process::id());
    assert_eq!(p["uid"], 0);
    assert_eq!(p["gid"], 0);
    assert_eq!(p["name"], "sh");
    let exe_path = p["exe_path"].as_str().expect("exe_path");
    assert!(
        exe_path.starts_with('/') && Path::new(exe_path).exists(),
        "{exe_path}"
    );
    assert_eq!(Path::new(exe_path), exe);
    assert_eq!(strs(&p["cmdline"]), argv);
    assert_eq!(p["file_path"], Value::Null, "sh -c runs no script file");
    let cwd = std::fs::canonicalize(std::env::current_dir().unwrap()).unwrap();
    assert_eq!(p["cwd"], cwd.to_str().unwrap());

    let id = e["id"].as_str().expect("id");
    assert!(is_uuid_v4(id), "id {id:?} is not a v4 UUID");
    let ts = e["timestamp"].as_str().expect("timestamp");
    let unix = parse_rfc3339(ts).unwrap_or_else(|| panic!("timestamp {ts:?} is not RFC 3339"));
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(
        (secs(wall0) - 1..=secs(wall1) + 1).contains(&unix),
        "timestamp {ts} is not the time of the write"
    );
    let sys_ts = e["system_ts"].as_u64().expect("system_ts");
    assert!(
        (mono0..=mono1).contains(&sys_ts),
        "system_ts {sys_ts} outside the write's CLOCK_MONOTONIC window {mono0}..{mono1}"
    );
}

#[test]
fn paths_cross_nested_tmpfs_mounts() {
    let _unrooted = shared();
    let dir = TestDir::new("mounts");
    let outer = TmpfsMount::new(&dir.join("mnt"));
    let inner = TmpfsMount::new(&dir.join("mnt/inner"));
    std::fs::create_dir(inner.path().join("sub")).unwrap();
    let files = [
        dir.join("top.txt"),
        outer.path().join("a.txt"),
        inner.path().join("b.txt"),
        inner.path().join("sub/c.txt"),
    ];
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let script: Vec<String> = files
        .iter()
        .map(|f| format!("echo x > {}", q(f.to_str().unwrap())))
        .collect();
    run_sh(&script.join("; "));
    let run = fs.stop();
    let mut devs = Vec::new();
    for f in &files {
        let e = only_event(&run, f);
        let st = std::fs::metadata(f).unwrap();
        assert_eq!(e["file"]["inode"], st.ino(), "{}", f.display());
        assert_eq!(
            e["file"]["dev"],
            dev_string(st.dev()).as_str(),
            "{}",
            f.display()
        );
        devs.push(dev_string(st.dev()));
    }
    // Three filesystems: the test dir's, the outer and the inner tmpfs.
    assert_ne!(devs[0], devs[1]);
    assert_ne!(devs[1], devs[2]);
    assert_eq!(run.lines.len(), files.len(), "{}", run.lines.join("\n"));
    println!(
        "paths across mounts: {:?} on devs {devs:?}",
        run.file_paths()
    );
    drop(inner);
    drop(outer);
}

#[test]
fn deep_paths_are_complete_up_to_the_limits_then_truncated() {
    let _unrooted = alone();
    let dir = TestDir::new("deep");
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    // Each chain is made and written by a shell that descends with relative `cd -P` (a logical cd would
    // hand the kernel the whole path), so no single path given to the kernel is longer than PATH_MAX.
    let chain = |root: &str, prefix: &str, levels: u32, file: &str| {
        format!(
            "cd {root} && i=0; while [ $i -lt {levels} ]; do mkdir {prefix}$i && cd -P {prefix}$i || exit 1; \
             i=$((i+1)); done; printf 12345 > {file}",
            root = q(root)
        )
    };
    std::fs::create_dir(dir.join("a")).unwrap();
    std::fs::create_dir(dir.join("b")).unwrap();
    std::fs::create_dir(dir.join("c")).unwrap();
    let long = "n".repeat(197);
    run_sh(&chain(
        dir.join("a").to_str().unwrap(),
        "d",
        40,
        "forty.txt",
    ));
    run_sh(&chain(
        dir.join("b").to_str().unwrap(),
        "d",
        80,
        "eighty.txt",
    ));
    run_sh(&chain(
        dir.join("c").to_str().unwrap(),
        &long,
        25,
        "long.txt",
    ));
    // --path cannot match an unrooted (truncated) path, so the deep runs get their own unfiltered
    // monitor below; this one proves the 40-level path is complete.
    let run = fs.stop();
    let full = |sub: &str, prefix: &str, levels: u32, file: &str| {
        let mut p = dir.join(sub).to_str().unwrap().to_string();
        for i in 0..levels {
            p.push_str(&format!("/{prefix}{i}"));
        }
        p.push('/');
        p.push_str(file);
        p
    };
    let forty = full("a", "d", 40, "forty.txt");
    let e = only_event(&run, Path::new(&forty));
    assert_eq!(e["file"]["bytes_written"], 5);
    assert!(e["file"].get("truncated").is_none(), "{e}");
    println!("40 levels: {} bytes, complete", forty.len());

    // The over-deep chains again, under a monitor filtered by command instead of path: a private comm.
    let fs = Filespy::start(&["--comm", "deepwriter"], Out::Collect);
    let name = format!("{}/deepwriter", dir.str());
    std::os::unix::fs::symlink(sh_exe(), &name).unwrap();
    let rewrite = |sub: &str, prefix: &str, levels: u32, file: &str| {
        let mut cd = format!("cd {}", q(dir.join(sub).to_str().unwrap()));
        for i in 0..levels {
            cd.push_str(&format!(" && cd -P {prefix}{i}"));
        }
        // argv[0] "sh": busybox picks its applet by argv[0]; comm still comes from the link's name.
        let out = std::process::Command::new(&name)
            .arg0("sh")
            .arg("-c")
            .arg(format!("{cd} && printf 123 >> {file}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    rewrite("b", "d", 80, "eighty.txt");
    rewrite("c", &long, 25, "long.txt");
    let run = fs.stop();
    // Output follows the per-CPU rings, not time: the two writers may have run on different CPUs.
    let mut events = run.events();
    events.sort_by_key(|e| e["system_ts"].as_u64());
    assert_eq!(events.len(), 2, "{}", run.lines.join("\n"));
    for (e, (sub, prefix, levels, file)) in events.iter().zip([
        ("b", "d", 80, "eighty.txt"),
        ("c", long.as_str(), 25, "long.txt"),
    ]) {
        let real = full(sub, prefix, levels, file);
        let got = file_path(e);
        assert_eq!(
            e["file"]["truncated"], true,
            "{real} must be truncated: {e}"
        );
        assert_eq!(e["file"]["name"], file);
        assert_eq!(e["file"]["bytes_written"], 3);
        assert!(!got.starts_with('/'), "a truncated path is unrooted: {got}");
        assert!(
            real.ends_with(&format!("/{got}")),
            "{got:?} is not the deepest components of {real:?}"
        );
        let comps = got.split('/').count();
        println!(
            "{levels} levels of {}-byte names: real {} bytes, reported {} bytes / {comps} components",
            prefix.len() + 1,
            real.len(),
            got.len()
        );
        if prefix == "d" {
            assert_eq!(comps, 64, "the walk stops at 64 components");
        } else {
            // Whole components, as many as fit in PATH_MAX (each NUL-terminated in the record, so a
            // component of the 199-byte names takes 200 bytes there).
            assert!(got.len() <= 4096, "{} bytes kept, over PATH_MAX", got.len());
            assert!(got.len() + 200 > 4096, "only {} bytes kept", got.len());
        }
    }
}

#[test]
fn output_file_is_not_reported_by_itself() {
    let _unrooted = shared();
    let dir = TestDir::new("self");
    let out = dir.join("out.jsonl");
    let w = dir.join("w.jsonl");
    let fs = Filespy::start(
        &["--ext", "jsonl", "--path", dir.str(), "--stats"],
        Out::File(out),
    );
    run_sh(&format!(
        "for i in 1 2 3 4 5; do echo $i >> {}; done",
        q(w.to_str().unwrap())
    ));
    let run = fs.stop();
    let paths = run.file_paths();
    assert_eq!(paths, vec![w.to_str().unwrap(); 5], "events: {paths:?}");
    assert_eq!(run.stats().events, 5);
    println!("self-exclusion: {} events, all for w.jsonl", paths.len());
}

/// Two monitors, each writing its events where the other watches: neither reports the other's output
/// writes (they would feed each other forever), both report the one real write. The registry of
/// monitors is shared through the BPF file system, and exclusion is by the kernel's identity of each.
#[test]
fn two_monitors_never_feed_each_other() {
    let _unrooted = shared();
    let dir = TestDir::new("pair");
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    let fa = Filespy::start(&["--path", dir.str()], Out::File(a.clone()));
    let fb = Filespy::start(&["--path", dir.str()], Out::File(b.clone()));
    let trigger = dir.join("trigger.txt");
    std::fs::write(&trigger, b"once\n").unwrap();
    fa.wait_events("a's event", |e| !e.is_empty());
    fb.wait_events("b's event", |e| !e.is_empty());
    // Time for a loop to show if there were one.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (ra, rb) = (fa.stop(), fb.stop());
    for (name, run) in [("a", &ra), ("b", &rb)] {
        assert_eq!(
            run.file_paths(),
            vec![trigger.to_str().unwrap()],
            "monitor {name}: {}",
            run.lines.join("\n")
        );
    }
}

#[test]
fn extension_filter_defaults_custom_lists_and_all_files() {
    let _unrooted = shared();
    let dir = TestDir::new("ext");
    let write_all = |names: &[&str]| {
        let script: Vec<String> = names
            .iter()
            .map(|n| format!("echo x > {}", q(dir.join(n).to_str().unwrap())))
            .collect();
        run_sh(&script.join("; "));
    };
    let names = |run: &Finished| {
        let mut v: Vec<String> = run
            .events()
            .iter()
            .map(|e| e["file"]["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let files = [
        "a.txt",
        "b.log",
        "c.json",
        "d.bin",
        "e.txt.bak",
        "noext",
        "x.atxt",
        "f.md",
        "g.conf",
        "h.yaml",
        "i.abcdefghijklmnop",
        "j.abcdefghijklmnopq",
        "trailingdot.",
    ];

    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    write_all(&files);
    let run = fs.stop();
    assert_eq!(names(&run), ["a.txt", "b.log", "c.json"]);

    let fs = Filespy::start(
        &[
            "--path",
            dir.str(),
            "--ext",
            "md,conf",
            "--ext",
            ".yaml",
            "--ext",
            "abcdefghijklmnop",
        ],
        Out::Collect,
    );
    write_all(&files);
    let run = fs.stop();
    assert_eq!(
        names(&run),
        ["f.md", "g.conf", "h.yaml", "i.abcdefghijklmnop"]
    );

    // 64 extensions in the kernel's map: the first and the last match, one more does not.
    let many: Vec<String> = (0..64).map(|i| format!("x{i:02}")).collect();
    let fs = Filespy::start(
        &["--path", dir.str(), "--ext", &many.join(",")],
        Out::Collect,
    );
    write_all(&["m.x00", "m.x63", "m.x64"]);
    let run = fs.stop();
    assert_eq!(names(&run), ["m.x00", "m.x63"]);

    let fs = Filespy::start(&["--path", dir.str(), "--all-files"], Out::Collect);
    write_all(&files);
    let run = fs.stop();
    let mut all: Vec<String> = files.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(names(&run), all);

    // Regular files only: a pipe (the shell's stdout) and /dev/null are filtered in the kernel even with
    // --all-files. The monitor follows the shell by pid, not by path, so those writes could show.
    let gated = Gated::spawn(&format!(
        "echo to-pipe; echo x > /dev/null; printf z > {}",
        q(dir.join("r.bin").to_str().unwrap())
    ));
    let pid = gated.pid().to_string();
    let fs = Filespy::start(&["--all-files", "--pid", &pid, "--stats"], Out::Collect);
    let out = gated.release();
    assert_eq!(out.stdout, b"to-pipe\n");
    let run = fs.stop();
    assert_eq!(run.file_paths(), [dir.join("r.bin").to_str().unwrap()]);
    let stats = run.stats();
    assert!(stats.filtered >= 2, "pipe and /dev/null writes: {stats:?}");
    println!("extensions ok; pipe + /dev/null filtered in kernel: {stats:?}");
}

#[test]
fn shell_scripts_are_named_in_process_file_path() {
    let _unrooted = shared();
    let dir = TestDir::new("scripts");
    let job = dir.join("job.sh");
    std::fs::write(&job, "printf ran > \"$1\"\n").unwrap();
    let run_sh_path = dir.join("run.sh");
    std::fs::write(&run_sh_path, "#!/bin/sh\nprintf ran > \"$1\"\n").unwrap();
    std::fs::set_permissions(&run_sh_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));

    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let status = std::process::Command::new("sh")
        .arg(&job)
        .arg(&a)
        .status()
        .unwrap();
    assert!(status.success());
    let status = std::process::Command::new(&run_sh_path)
        .arg(&b)
        .status()
        .unwrap();
    assert!(status.success());
    run_sh(&format!("cd {} && sh ./job.sh rel.log", q(dir.str())));
    let run = fs.stop();

    let e = only_event(&run, &a);
    assert_eq!(e["process"]["file_path"], job.to_str().unwrap(), "{e}");
    let e = only_event(&run, &b);
    assert_eq!(
        e["process"]["file_path"],
        run_sh_path.to_str().unwrap(),
        "{e}"
    );
    assert_eq!(
        strs(&e["process"]["cmdline"]),
        [
            "/bin/sh",
            run_sh_path.to_str().unwrap(),
            b.to_str().unwrap()
        ]
    );
    let e = only_event(&run, &dir.join("rel.log"));
    assert_eq!(e["process"]["file_path"], job.to_str().unwrap(), "{e}");
    assert_eq!(e["process"]["cwd"], dir.str());
    assert_eq!(
        strs(&e["process"]["cmdline"]),
        ["sh", "./job.sh", "rel.log"]
    );
    println!("scripts: {}", run.lines.len());
}

#[test]
fn short_lived_processes_keep_their_context() {
    let _unrooted = shared();
    const N: usize = 50;
    let dir = TestDir::new("short");
    let fs = Filespy::start(&["--path", dir.str(), "--stats"], Out::Collect);
    // Stopped, filespy cannot read anything until every writer has exited and been reaped, so no /proc
    // fallback can help: pid, exe and argv must all come from the kernel.
    fs.signal(libc::SIGSTOP);
    let started = Instant::now();
    let mut kids = Vec::new();
    for i in 0..N {
        let script = format!(
            "echo x > {}",
            q(dir.join(format!("s{i}.txt")).to_str().unwrap())
        );
        let child = sh(&script).spawn().expect("spawn sh");
        kids.push((child.id(), script, child));
    }
    for (_, _, c) in &mut kids {
        assert!(c.wait().unwrap().success());
    }
    let spawned_in = started.elapsed();
    for (pid, _, _) in &kids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "writer {pid} still has a /proc entry"
        );
    }
    fs.signal(libc::SIGCONT);
    let run = fs.stop();
    let exe = sh_exe();
    let cwd = std::fs::canonicalize(std::env::current_dir().unwrap()).unwrap();
    for (i, (pid, script, _)) in kids.iter().enumerate() {
        let e = only_event(&run, &dir.join(format!("s{i}.txt")));
        let p = &e["process"];
        assert_eq!(p["pid"], *pid, "{e}");
        assert_eq!(p["ppid"], std::process::id());
        assert_eq!(strs(&p["cmdline"]), ["sh", "-c", script.as_str()], "{e}");
        assert_eq!(p["exe_path"], exe.to_str().unwrap(), "{e}");
        assert_eq!(p["cwd"], cwd.to_str().unwrap(), "{e}");
    }
    assert_eq!(run.lines.len(), N);
    assert_eq!(run.stats().lost, 0);
    println!("{N} short-lived writers in {spawned_in:?}: {N} events with full context");
}

#[test]
fn writes_to_an_unlinked_file_are_marked_deleted() {
    let _unrooted = shared();
    let dir = TestDir::new("deleted");
    let f = dir.join("del.txt");
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let p = q(f.to_str().unwrap());
    run_sh(&format!("exec 3> {p}; printf a >&3; rm {p}; printf bb >&3"));
    let run = fs.stop();
    // Output follows the per-CPU rings, not time: the shell may have moved CPUs between the writes.
    let mut events = run.events_for(&f);
    events.sort_by_key(|e| e["system_ts"].as_u64());
    assert_eq!(events.len(), 2, "{}", run.lines.join("\n"));
    assert_eq!(events[0]["file"]["bytes_written"], 1);
    assert!(events[0]["file"].get("deleted").is_none(), "{}", events[0]);
    assert_eq!(events[1]["file"]["bytes_written"], 2);
    assert_eq!(events[1]["file"]["deleted"], true, "{}", events[1]);
    assert_eq!(events[1]["file"]["name"], "del.txt");
    println!("deleted: {}", run.lines[1]);
}

#[test]
fn failed_writes_are_counted_not_reported() {
    let _unrooted = shared();
    let dir = TestDir::new("failed");
    let (ro_path, ok) = (dir.join("ro.txt"), dir.join("ok.txt"));
    std::fs::write(&ro_path, "").unwrap();
    let ro = std::fs::File::open(&ro_path).unwrap();
    let me = std::process::id().to_string();
    let fs = Filespy::start(
        &["--pid", &me, "--path", dir.str(), "--stats"],
        Out::Collect,
    );
    let rc = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(&ro),
            b"x".as_ptr().cast(),
            1,
        )
    };
    let err = std::io::Error::last_os_error();
    assert_eq!(rc, -1);
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    std::fs::write(&ok, b"12345").unwrap();
    let tid = unsafe { libc::gettid() } as u32;
    let run = fs.stop();
    assert_eq!(run.file_paths(), [ok.to_str().unwrap()]);
    let e = only_event(&run, &ok);
    assert_eq!(e["process"]["pid"], std::process::id());
    assert_eq!(e["process"]["tid"], tid);
    assert_eq!(e["file"]["bytes_written"], 5);
    let stats = run.stats();
    assert!(stats.failed_writes >= 1, "{stats:?}");
    println!("failed writes: {stats:?}");
}

/// Each CPU has its own ring; the records read in one drain are written in time order, so writes that
/// hop between CPUs come out in the order they happened.
#[test]
fn writes_hopping_between_cpus_come_out_in_time_order() {
    let _unrooted = shared();
    let dir = TestDir::new("order");
    let path = dir.join("order.txt");
    let file = std::fs::File::create(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let cpus = filespy::sys::online_cpus().unwrap();
    assert!(cpus.len() >= 2, "needs two CPUs: {cpus:?}");
    let me = std::process::id().to_string();
    let fs = Filespy::start(&["--pid", &me, "--path", dir.str()], Out::Collect);
    // Stopped, filespy reads every record in one drain after SIGCONT: the rings alone would give CPU 0's
    // records first, then CPU 1's.
    fs.signal(libc::SIGSTOP);
    const N: usize = 40;
    let buf = [b'x'; N];
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            kernel::pin_to(cpus[i % cpus.len()]).unwrap();
            // SAFETY: buf holds N bytes; the fd stays open until the thread is joined.
            assert_eq!(
                unsafe { libc::write(fd, buf.as_ptr().cast(), i + 1) },
                (i + 1) as isize
            );
        }
    });
    writer.join().unwrap();
    fs.signal(libc::SIGCONT);
    let run = fs.stop();
    let events = run.events_for(&path);
    let sizes: Vec<u64> = events
        .iter()
        .map(|e| e["file"]["bytes_written"].as_u64().unwrap())
        .collect();
    let tids: std::collections::BTreeSet<u32> = events
        .iter()
        .map(|e| e["process"]["tid"].as_u64().unwrap() as u32)
        .collect();
    println!(
        "{} events in order of writing on {}: {sizes:?}",
        sizes.len(),
        expected_hook()
    );
    assert_eq!(sizes, (1..=N as u64).collect::<Vec<_>>());
    assert_eq!(tids.len(), 1, "one writer thread");
}

/// writev, pwritev and pwritev2 never pass through `vfs_write`: both paths hook their syscall
/// tracepoints, and each call is one event with the bytes the kernel wrote.
#[test]
fn vectored_writes_are_events() {
    let _unrooted = shared();
    let dir = TestDir::new("vectored");
    let path = dir.join("v.txt");
    let file = std::fs::File::create(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let me = std::process::id().to_string();
    let fs = Filespy::start(&["--pid", &me, "--path", dir.str()], Out::Collect);
    let parts: [&[u8]; 3] = [b"abcde", b"fghijk", b"lmnopqr"];
    let iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: the iovecs point at live buffers of the stated lengths.
    let wrote = unsafe {
        [
            libc::writev(fd, iov.as_ptr(), 3) as i64,
            libc::pwritev(fd, iov.as_ptr(), 2, 100) as i64,
            libc::syscall(libc::SYS_pwritev2, fd, iov.as_ptr(), 1, 200i64, 0i64, 0i32) as i64,
        ]
    };
    assert_eq!(wrote, [18, 11, 5], "{}", std::io::Error::last_os_error());
    let run = fs.stop();
    let mut bytes: Vec<u64> = run
        .events_for(&path)
        .iter()
        .map(|e| e["file"]["bytes_written"].as_u64().unwrap())
        .collect();
    bytes.sort_unstable();
    println!("vectored writes on {}: {bytes:?}", expected_hook());
    assert_eq!(bytes, [5, 11, 18], "one event per call: {:?}", run.lines);
}

/// The writes of one `burst`.
const WRITES: u64 = 100_000;

/// `dd` of 100000 one-byte writes under `--comm dd`, pinned to this dd by pid as well, since other dd
/// runs on the machine would blur the exact loss total. Returns (delivered, stats, run).
fn burst(dir: &TestDir, extra: &[&str]) -> (u64, Stats, Finished) {
    let target = dir.join("burst.txt");
    let _ = std::fs::remove_file(&target);
    let gated = Gated::spawn(&format!(
        "exec dd if=/dev/zero of={} bs=1 count={WRITES}",
        q(target.to_str().unwrap())
    ));
    let pid = gated.pid().to_string();
    let mut args = vec![
        "--stats",
        "--comm",
        "dd",
        "--pid",
        &pid,
        "--path",
        dir.str(),
    ];
    args.extend_from_slice(extra);
    // To a file, as in real use: a pipe would make the speed of this test's reader part of the result.
    let out = dir.join("burst-events.out");
    let _ = std::fs::remove_file(&out);
    let fs = Filespy::start(&args, Out::File(out));
    let started = Instant::now();
    gated.release();
    let took = started.elapsed();
    let run = fs.stop();
    assert_eq!(std::fs::metadata(&target).unwrap().len(), WRITES);
    let want = format!("\"file_path\":\"{}\"", target.to_str().unwrap());
    let delivered = run.lines.iter().filter(|l| l.contains(&want)).count() as u64;
    assert_eq!(delivered, run.lines.len() as u64, "only burst.txt events");
    let stats = run.stats();
    // Each line is one write, or several merged (the ring was full): `merged.count` of them.
    let (mut merged, mut beyond) = (0, 0);
    for l in &run.lines {
        let e: Value = serde_json::from_str(l).unwrap();
        assert_eq!(e["process"]["name"], "dd");
        let count = e["merged"]["count"].as_u64().unwrap_or(1);
        assert_eq!(e["file"]["bytes_written"], count, "{l}");
        if e.get("merged").is_some() {
            merged += count;
            beyond += count - 1;
        }
    }
    let singles = delivered
        - run
            .lines
            .iter()
            .filter(|l| l.contains("\"merged\":"))
            .count() as u64;
    println!(
        "burst {extra:?}: {WRITES} writes in {took:?}: {singles} single events ({:.2}%), {merged} merged, lost {}, stats {stats:?}",
        singles as f64 * 100.0 / WRITES as f64,
        stats.lost
    );
    assert_eq!(stats.events, delivered);
    assert_eq!(
        stats.merged, beyond,
        "--stats merged= is what merged events stand for beyond themselves"
    );
    assert_eq!(
        stats.events + stats.merged + stats.lost,
        WRITES,
        "the --stats identity"
    );
    assert_eq!(
        singles + merged + stats.lost,
        WRITES,
        "every write delivered, merged or counted lost"
    );
    (singles, stats, run)
}

#[test]
fn burst_with_default_buffers_is_delivered() {
    let _unrooted = alone();
    let dir = TestDir::new("burst");
    // By default what the rings cannot hold is merged, so the whole burst is delivered: as single
    // events or inside merged ones, nothing lost (how much comes as single events is a matter of
    // speed, shown by `make bench` sections 7 and 9, not asserted here).
    let (_, stats, _) = burst(&dir, &[]);
    assert_eq!(stats.lost, 0, "{stats:?}");
    assert_eq!(
        stats.events + stats.merged,
        WRITES,
        "every write delivered: {stats:?}"
    );
}

#[test]
fn burst_into_one_page_rings_is_merged_not_lost() {
    let _unrooted = alone();
    let dir = TestDir::new("burst1m");
    let (_, stats, _) = burst(&dir, &["--buffer-pages", "1"]);
    assert!(
        stats.merged > 0,
        "one page per CPU must overflow: {stats:?}"
    );
    assert_eq!(stats.lost, 0, "{stats:?}");
}

#[test]
fn burst_into_one_page_rings_counts_every_loss() {
    let _unrooted = alone();
    let dir = TestDir::new("burst1");
    let (delivered, stats, run) = burst(&dir, &["--buffer-pages", "1", "--no-merge"]);
    assert!(stats.lost > 0, "one page per CPU must overflow: {stats:?}");
    let reported = run
        .stderr_lines
        .iter()
        .find(|l| l.text.starts_with("filespy: lost "))
        .unwrap_or_else(|| panic!("no loss line on stderr:\n{}", run.stderr));
    assert!(
        reported.at < run.stopped_at,
        "the loss was reported only at exit: {:?}",
        reported.text
    );
    println!(
        "1-page rings: delivered {delivered}, first loss line: {}",
        reported.text
    );
}
