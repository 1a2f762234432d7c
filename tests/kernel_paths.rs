//! `--path` in the kernel: files outside every prefix are dropped by the programs (counted as
//! filtered) before a process context is read or a record sent, for writes, reads and opens; whole
//! components only (`in` is not `inx`); a file that is a prefix itself passes; a path too deep for the
//! walk is kept (its top is unknown), as user space keeps it. Through the library, so the kernel's
//! counters can be told from user space's. On the host (tracepoints) and in the VMs (kprobes).

#[path = "common/monitor.rs"]
mod monitor;

use filespy::bpf::layout::{STAT_FILTERED, STAT_PATH_EARLY};
use filespy::event::Event;
use filespy::kinds::{Op, OpSet};
use filespy::pipeline::{Monitor, Options};
use monitor::*;
use std::path::PathBuf;

#[test]
fn outside_every_prefix_is_dropped_in_the_kernel() {
    require_root();
    let dir = TestDir::new("kpaths");
    for sub in ["in/sub", "inx", "out", "other"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // Deeper than the walk goes (64 components): its top is unknown, so it is kept.
    let deep: PathBuf = dir.join("out").join(["d"; 70].join("/"));
    std::fs::create_dir_all(&deep).unwrap();
    let single = dir.join("other/exact.log");
    let opts = Options {
        kinds: OpSet::only(Op::Write).with(Op::Read).with(Op::Open),
        paths: vec![dir.join("in"), single.clone()],
        ..Options::default()
    };
    // The monitor never reports its own process: a shell does the work.
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    // The precheck loads where typed reads do (a refusal would hide it behind probe reads).
    assert_eq!(mon.typed_refused(), None);
    let outside = [
        dir.join("inx/b.txt"),
        dir.join("out/c.txt"),
        dir.join("in.txt"),
    ];
    let inside = [
        dir.join("in/a.txt"),
        dir.join("in/sub/s.log"),
        single.clone(),
    ];
    const ROUNDS: usize = 200;
    let deep_file = deep.join("deep.txt");
    let mut script = String::new();
    for p in &outside {
        let p = q(p.to_str().unwrap());
        script += &format!(
            "i=0; while [ $i -lt {ROUNDS} ]; do echo 012345678; i=$((i+1)); done >> {p}; cat {p} > /dev/null\n"
        );
    }
    for p in inside.iter().chain([&deep_file]) {
        let p = q(p.to_str().unwrap());
        script += &format!("echo 012345678 >> {p}; cat {p} > /dev/null\n");
    }
    run_sh(&script);

    let events = drain(&mut mon);
    let text = |e: &Event| format!("{} {}", e.op, String::from_utf8_lossy(&e.file.path));
    let seen: Vec<String> = events.iter().map(text).collect();
    let of = |p: &PathBuf, op: Op| {
        events
            .iter()
            .filter(|e| e.op == op && e.file.path == p.as_os_str().as_encoded_bytes())
            .count()
    };
    for p in &inside {
        // Each: the shell's open and write, cat's open and read.
        assert_eq!(of(p, Op::Open), 2, "{}: {seen:#?}", p.display());
        assert_eq!(of(p, Op::Write), 1, "{}: {seen:#?}", p.display());
        assert!(of(p, Op::Read) >= 1, "{}: {seen:#?}", p.display());
    }
    for p in &outside {
        assert!(
            !seen.iter().any(|s| s.ends_with(p.to_str().unwrap())),
            "{}: {seen:#?}",
            p.display()
        );
    }
    // The deep file: its walk is truncated, so neither the kernel nor user space can place it.
    let deep_events: Vec<&Event> = events.iter().filter(|e| e.file.truncated).collect();
    assert!(
        deep_events.len() >= 4,
        "a truncated path is kept: {seen:#?}"
    );
    for e in &deep_events {
        assert!(e.file.path.ends_with(b"d/d/deep.txt"), "{}", text(e));
    }
    // Only the truncated ones reached user space's filter, and passed; the rest stopped in the
    // kernel: every write, read and open of the outside files (and whatever else ran meanwhile).
    let stats = mon.kernel_stats();
    let (late, early) = (
        stats[STAT_FILTERED as usize],
        stats[STAT_PATH_EARLY as usize],
    );
    let kernel = late + early;
    let counters = mon.counters();
    assert_eq!(counters.user_filtered, 0, "user space filtered nothing");
    let outside_calls = (outside.len() * (ROUNDS + 3)) as u64;
    assert!(
        kernel >= outside_calls,
        "kernel filtered {kernel}, expected at least {outside_calls}"
    );
    // Where every load can be direct, the writes and reads outside stop at their entry (the path
    // precheck), before anything is saved for the exit; elsewhere after the walk at the exit.
    let reads = mon.kernel_reads().to_string();
    let outside_data = (outside.len() * (ROUNDS + 1)) as u64;
    if reads.contains("rdonly_cast") && reads.contains("untrusted_mem") {
        assert!(
            early >= outside_data,
            "{reads}: {early} dropped at the entry, expected at least {outside_data}"
        );
    } else {
        assert_eq!(early, 0, "{reads}: no precheck without direct loads");
    }
    assert_eq!(mon.stats().lost, 0);
    println!(
        "kernel filtered {kernel} ({early} at the entry; outside calls {outside_calls}), reads {reads}, delivered {}",
        counters.delivered
    );
}

/// Under `--alerts` the rules compile to the kernel's path filter: a prefix rule's directory, and a
/// suffix rule's name ending (`suffix:.env`) or whole name (`suffix:/credentials.json`); what matches
/// none stops in the kernel.
#[test]
fn alert_rules_compile_to_prefixes_and_name_suffixes() {
    use filespy::rules::{file_ops, Pattern, Rule, Rules, Severity};
    require_root();
    let dir = TestDir::new("krules");
    for sub in ["in", "out"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let rule = |name: &str, spec: &str| Rule {
        name: name.into(),
        category: "test".into(),
        pattern: Pattern::parse(spec).unwrap(),
        ops: file_ops(),
        change: Severity::High,
        read: Severity::Medium,
    };
    let opts = Options {
        kinds: OpSet::only(Op::Write),
        rules: Some(Rules {
            rules: vec![
                rule("in-dir", &format!("prefix:{}/in/", dir.str())),
                rule("dotenv", "suffix:.env"),
                rule("creds", "suffix:/credentials.json"),
            ],
        }),
        alerts_only: true,
        alert_window: std::time::Duration::ZERO,
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    let hits = [
        dir.join("in/a.bin"),
        dir.join("out/prod.env"),
        dir.join("out/credentials.json"),
    ];
    let misses = [
        dir.join("out/xcredentials.json"),
        dir.join("out/env"),
        dir.join("out/c.txt"),
    ];
    const ROUNDS: usize = 100;
    let mut script = String::new();
    for p in &misses {
        script += &format!(
            "i=0; while [ $i -lt {ROUNDS} ]; do echo x; i=$((i+1)); done >> {}\n",
            q(p.to_str().unwrap())
        );
    }
    for p in &hits {
        script += &format!("echo x >> {}\n", q(p.to_str().unwrap()));
    }
    run_sh(&script);
    let events = drain(&mut mon);
    let ours = |p: &PathBuf| {
        events
            .iter()
            .filter(|e| e.file.path == p.as_os_str().as_encoded_bytes())
            .collect::<Vec<_>>()
    };
    for (p, rule) in hits.iter().zip(["in-dir", "dotenv", "creds"]) {
        let evs = ours(p);
        assert_eq!(evs.len(), 1, "{}", p.display());
        assert_eq!(&*evs[0].alert.as_ref().unwrap().rule, rule);
    }
    for p in &misses {
        assert!(ours(p).is_empty(), "{}", p.display());
    }
    let kernel = mon.kernel_stats()[STAT_FILTERED as usize];
    let miss_writes = (misses.len() * ROUNDS) as u64;
    assert!(
        kernel >= miss_writes,
        "kernel filtered {kernel}, the misses alone wrote {miss_writes} times"
    );
    // Had the kernel passed the misses, user space would have dropped them.
    assert!(
        mon.counters().user_filtered < miss_writes / 2,
        "user space filtered {}",
        mon.counters().user_filtered
    );
    println!(
        "kernel filtered {kernel}; user space filtered {}",
        mon.counters().user_filtered
    );
}

/// Unmounts at drop, so a failed assertion leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &std::path::Path) -> Mounted {
    let ok = std::process::Command::new("mount")
        .args(args)
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mount {args:?} {}", at.display());
    Mounted(at.to_path_buf())
}

/// A prefix inside another mount, and one through a bind mount: the path is the one the file was
/// opened by (the bind mount's, not its source's), at the entry's precheck as at the exit's walk.
#[test]
fn prefixes_across_mounts_and_through_bind_mounts() {
    require_root();
    let dir = TestDir::new("kpmounts");
    for sub in ["mnt", "src/in", "bind"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let _tmpfs = mount(&["-t", "tmpfs", "none"], &dir.join("mnt"));
    let _bind = mount(
        &["--bind", dir.join("src").to_str().unwrap()],
        &dir.join("bind"),
    );
    for sub in ["mnt/in", "mnt/out"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let opts = Options {
        kinds: OpSet::only(Op::Write).with(Op::Read),
        paths: vec![dir.join("mnt/in"), dir.join("bind/in")],
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(mon.typed_refused(), None);
    let inside = [dir.join("mnt/in/a.txt"), dir.join("bind/in/b.txt")];
    // The second is the bind mount's b.txt by its source's path: outside.
    let outside = [dir.join("mnt/out/c.txt"), dir.join("src/in/b.txt")];
    let mut script = String::new();
    for p in inside.iter().chain(&outside) {
        let p = q(p.to_str().unwrap());
        script += &format!("echo 0123 >> {p}; cat {p} > /dev/null\n");
    }
    run_sh(&script);
    let events = drain(&mut mon);
    let seen: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e.op, String::from_utf8_lossy(&e.file.path)))
        .collect();
    for p in &inside {
        let of = |op: Op| {
            events
                .iter()
                .filter(|e| e.op == op && e.file.path == p.as_os_str().as_encoded_bytes())
                .count()
        };
        assert_eq!(of(Op::Write), 1, "{}: {seen:#?}", p.display());
        assert!(of(Op::Read) >= 1, "{}: {seen:#?}", p.display());
    }
    for p in &outside {
        let p = p.to_str().unwrap();
        assert!(!seen.iter().any(|s| s.ends_with(p)), "{p}: {seen:#?}");
    }
    assert_eq!(
        mon.counters().user_filtered,
        0,
        "user space filtered nothing"
    );
}

/// The library's iterator (`Monitor::events`) yields the same events `poll` hands a callback, owned,
/// in time order, with the script of an interpreter: a shell writes three lines under `--path`, a
/// fourth outside it, and the first three events are exactly those lines.
#[test]
fn the_events_iterator_yields_owned_events_in_order() {
    require_root();
    let dir = TestDir::new("kiter");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let opts = Options {
        kinds: OpSet::only(Op::Write),
        paths: vec![dir.join("in")],
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    let target = dir.join("in/it.txt");
    let script = dir.join("in/writer.sh");
    std::fs::write(
        &script,
        format!(
            "printf 1 >> {t}\nprintf 22 >> {t}\nprintf 333 >> {t}\nprintf x >> {o}\n",
            t = q(target.to_str().unwrap()),
            o = q(dir.join("outside.txt").to_str().unwrap())
        ),
    )
    .unwrap();
    // The writes are in the ring when the shell has exited: the iterator's first polls find them.
    run_ok(std::process::Command::new("sh").arg(&script));
    // The iterator is endless: a stuck kernel side must fail the test, not hang it.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(60));
        eprintln!("the events iterator yielded nothing for 60 s");
        std::process::exit(1);
    });
    let got: Vec<_> = mon
        .events()
        .take(3)
        .map(|d| d.unwrap_or_else(|e| panic!("events: {e}")))
        .collect();
    let sizes: Vec<u64> = got.iter().map(|d| d.event.file.bytes_written).collect();
    assert_eq!(sizes, [1, 2, 3], "{got:?}");
    let script_bytes = script.as_os_str().as_encoded_bytes();
    for d in &got {
        assert_eq!(d.event.op, Op::Write);
        assert_eq!(d.event.file.path, target.as_os_str().as_encoded_bytes());
        assert_eq!(d.script.as_deref(), Some(script_bytes), "{d:?}");
    }
    assert!(got
        .windows(2)
        .all(|w| w[0].event.mono_ns <= w[1].event.mono_ns));
    assert_eq!(mon.counters().delivered, 3);
}
