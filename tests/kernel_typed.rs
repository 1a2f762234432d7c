//! Typed kernel reads (`filespy::bpf::typed`): the features the kernel's BTF offers are found by
//! the probe and every program loads with them (no fallback), and the events are right, field by
//! field against the file system, with them and with every read through `bpf_probe_read_kernel`
//! (`--probe-reads`), and the same both ways. On the host (tracepoints) and in the VMs (kprobes),
//! whose kernels have none of them (5.10), the task only (6.1), or more (6.12, 7.2).

#[path = "common/monitor.rs"]
mod monitor;

use filespy::bpf::typed::Typed;
use filespy::btf::Btf;
use filespy::kinds::{Op, OpSet};
use filespy::pipeline::{Monitor, Options};
use monitor::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn kinds() -> OpSet {
    OpSet::only(Op::Write)
        .with(Op::Read)
        .with(Op::Open)
        .with(Op::Close)
        .with(Op::Create)
        .with(Op::Delete)
}

#[test]
fn what_btf_offers_is_found_and_every_program_loads_with_it() {
    require_root();
    let offer = Typed::from_btf(&Btf::load(None).expect("kernel BTF"));
    let opts = Options {
        kinds: OpSet::all(),
        all_files: true,
        ..Options::default()
    };
    let mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    let reads = mon.kernel_reads().to_string();
    eprintln!(
        "hook={} offered={} in force={reads}",
        mon.hook().name(),
        offer.describe()
    );
    assert_eq!(
        mon.typed_refused(),
        None,
        "a program refused the probed reads"
    );
    // The helper and the kfunc are in BTF exactly where the kernel has them: offered is in force.
    // (Untrusted memory is verifier behaviour, not in BTF: the probe alone decides it.)
    if offer.task_btf {
        assert!(
            reads.contains("task_btf"),
            "offered task_btf, in force {reads}"
        );
    }
    if offer.cast.is_some() {
        assert!(
            reads.contains("rdonly_cast"),
            "offered rdonly_cast, in force {reads}"
        );
    }
    drop(mon);
    // Writes only: loading every kind again costs minutes under the VMs' emulation.
    let forced = Monitor::open(&Options {
        typed_reads: false,
        ..Options::default()
    })
    .unwrap_or_else(|e| panic!("open --probe-reads: {e}"));
    assert_eq!(forced.kernel_reads(), "probe_read");
}

/// What the events of the workload must say, from the file system.
struct Truth {
    ino: u64,
    major: u32,
    minor: u32,
}

fn truth(p: &Path) -> Truth {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    let dev = m.dev();
    Truth {
        ino: m.ino(),
        major: libc::major(dev),
        minor: libc::minor(dev),
    }
}

/// One run of the workload under a monitor with typed reads on or off; each event checked against
/// the file system. Returns the events' comparable parts.
fn run(typed: bool) -> Vec<String> {
    let dir = TestDir::new(if typed { "typed" } else { "probe" });
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    let opts = Options {
        kinds: kinds(),
        paths: vec![dir.path().to_path_buf()],
        typed_reads: typed,
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(mon.typed_refused(), None);
    // The monitor never reports its own process: a shell does the work. z.log is written after its
    // unlink (the deleted flag); the copy names its source.
    let out = run_sh(&format!(
        "cd {d} && echo hello > a/b/x.log && cat a/b/x.log > /dev/null && cp a/b/x.log a/y.log && \
         exec 3> z.log && rm z.log && echo gone >&3 && exec 3>&- && echo $$",
        d = q(dir.str())
    ));
    let shell: u32 = out.trim().parse().expect("shell pid");
    let events = drain(&mut mon);
    let (x, y) = (dir.join("a/b/x.log"), dir.join("a/y.log"));
    let (tx, ty) = (truth(&x), truth(&y));
    let d = dir.str();
    let mut seen = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.file.path.starts_with(d.as_bytes()))
    {
        let path = String::from_utf8_lossy(&e.file.path).into_owned();
        let rel = path[d.len()..].to_string();
        let what = format!("{} {} {rel} ({})", e.op.name(), e.via, mon.kernel_reads());
        assert!(e.start_time > 0, "{what}: no start time");
        if e.process.pid == shell {
            assert_eq!(e.process.ppid, std::process::id(), "{what}: ppid");
        }
        if let Some(cwd) = &e.process.cwd {
            assert_eq!(cwd.as_slice(), d.as_bytes(), "{what}: cwd");
        }
        let want = match rel.as_str() {
            "/a/b/x.log" => Some(&tx),
            "/a/y.log" => Some(&ty),
            _ => None,
        };
        if let (Some(t), true) = (want, e.file.has_inode) {
            assert_eq!(e.file.inode, t.ino, "{what}: inode");
            assert_eq!(
                (e.file.dev_major, e.file.dev_minor),
                (t.major, t.minor),
                "{what}: dev"
            );
        }
        if rel == "/z.log" && e.op == Op::Write {
            assert!(
                e.file.deleted,
                "{what}: written after its unlink, not flagged deleted"
            );
        }
        if let Some(src) = &e.file.source_path {
            assert_eq!(
                src.as_slice(),
                x.as_os_str().as_encoded_bytes(),
                "{what}: source"
            );
            assert_eq!(e.file.source_inode, Some(tx.ino), "{what}: source inode");
        }
        seen.push(format!(
            "{} {} {rel} w={} r={} deleted={} source={:?}",
            e.op.name(),
            e.via,
            e.file.bytes_written,
            e.file.bytes_read,
            e.file.deleted,
            e.file.source_path.as_ref().map(|s| s.len() - d.len())
        ));
    }
    for need in ["write", "read", "open", "close", "create", "delete"] {
        assert!(
            seen.iter().any(|s| s.starts_with(&format!("{need} "))),
            "no {need} event ({}): {seen:#?}",
            mon.kernel_reads()
        );
    }
    assert!(seen.iter().any(|s| s.contains("/z.log w=5")), "{seen:#?}");
    seen.sort();
    seen
}

#[test]
fn typed_and_probe_reads_report_the_same_events() {
    require_root();
    let typed = run(true);
    let probe = run(false);
    assert_eq!(typed, probe, "typed reads and probe reads disagree");
}

/// The names of `names` under `dir` that a monitor watching `exts` reports writes of.
fn reported_names(typed: bool, exts: &[&str], names: &[&str]) -> Vec<String> {
    let dir = TestDir::new("exts");
    let opts = Options {
        extensions: exts.iter().map(|e| e.to_string()).collect(),
        paths: vec![dir.path().to_path_buf()],
        typed_reads: typed,
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    let script: Vec<String> = names
        .iter()
        .map(|n| format!("echo x > {}", q(&format!("{}/{n}", dir.str()))))
        .collect();
    run_sh(&script.join(" && "));
    let mut got: Vec<String> = drain(&mut mon)
        .iter()
        .filter(|e| e.op == Op::Write)
        .map(|e| String::from_utf8_lossy(&e.file.name).into_owned())
        .collect();
    got.sort();
    got.dedup();
    got
}

#[test]
fn the_extension_is_the_text_after_the_last_dot_both_ways() {
    require_root();
    let names = [
        "a.log",
        ".log",
        "log",
        "x.xlog",
        "b.log.bin",
        "c.Log",
        "d.json",
        "e.js",
        "f.abcdefghijklmno",
        "g.bcdefghijklmno",
        "h.abcdefghijklmnop",
        "i.t",
        "j.tt",
        "k.txt.log",
        "l.",
        "m..log",
    ];
    // Up to 15 bytes the kernel compares the name's end (with typed reads and untrusted memory);
    // an extension of 16 bytes (the longest allowed) takes the scan and the `exts` map.
    for exts in [
        &["log", "json", "abcdefghijklmno", "t"][..],
        &["log", "abcdefghijklmnop"][..],
    ] {
        let mut want: Vec<String> = names
            .iter()
            .filter(|n| {
                exts.iter()
                    .any(|e| n.rsplit_once('.').is_some_and(|(_, x)| x == *e))
            })
            .map(|n| n.to_string())
            .collect();
        want.sort();
        for typed in [true, false] {
            assert_eq!(
                reported_names(typed, exts, &names),
                want,
                "--ext {exts:?}, typed reads {typed}"
            );
        }
    }
}
