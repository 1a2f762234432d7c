//! Overload without loss (issue 15): writers at full speed overflow the default rings, and every
//! write is still accounted for. What does not fit a ring is merged in the kernel by (process image,
//! file) and delivered later as one event with `merged: {count, first_ts, last_ts}`: per file, the
//! plain events plus the merged counts are the writes made, and their bytes the file's size, with
//! nothing lost. Four `dd` processes writing 16-byte blocks, on the host (tracepoints) and in the VMs
//! (kprobes).

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use std::process::Child;
use std::time::Duration;

const WRITERS: usize = 4;
const BLOCK: u64 = 16;

#[test]
fn writers_at_full_speed_lose_nothing_at_default_buffers() {
    require_root();
    let dir = TestDir::new("overload");
    let out = dir.join("events.jsonl");
    // `.log` files under a sub-directory; the events file itself is not watched (`.jsonl`).
    std::fs::create_dir(dir.join("w")).unwrap();
    let mon = Filespy::start(
        &["--stats", "--path", dir.join("w").to_str().unwrap()],
        Out::File(out.clone()),
    );
    let seconds = if in_vm() { 2 } else { 5 };
    let files: Vec<_> = (0..WRITERS)
        .map(|i| dir.join(format!("w/{i}.log")))
        .collect();
    let writers: Vec<Child> = files
        .iter()
        .map(|f| {
            sh(&format!(
                "exec timeout {seconds} dd if=/dev/zero of={} bs={BLOCK} 2>/dev/null",
                q(f.to_str().unwrap())
            ))
            .spawn()
            .expect("dd")
        })
        .collect();
    for mut w in writers {
        w.wait().expect("dd");
    }
    std::thread::sleep(Duration::from_millis(500));
    let done = mon.stop();
    done.assert_clean_exit();
    let stats = done.stats();
    let events = done.events();
    let (mut total_merged, mut beyond) = (0, 0);
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len();
        assert_eq!(size % BLOCK, 0, "dd wrote whole blocks");
        let (mut calls, mut bytes, mut merged) = (0u64, 0u64, 0u64);
        for e in events_for(&events, f) {
            if e["op"] != "write" {
                continue;
            }
            let n = e["file"]["bytes_written"].as_u64().expect("bytes_written");
            match e.get("merged") {
                Some(m) => {
                    let c = m["count"].as_u64().expect("merged.count");
                    assert!(c >= 1, "{m}");
                    assert_eq!(n, c * BLOCK, "a merged event's bytes are its calls': {e}");
                    assert!(m["first_ts"].as_str() <= m["last_ts"].as_str(), "{m}");
                    assert_eq!(m["first_ts"], e["timestamp"], "{e}");
                    calls += c;
                    merged += c;
                    beyond += c - 1;
                }
                None => {
                    assert_eq!(n, BLOCK, "{e}");
                    calls += 1;
                }
            }
            bytes += n;
        }
        eprintln!(
            "{}: {} writes, {calls} accounted ({merged} merged)",
            f.display(),
            size / BLOCK
        );
        assert_eq!(calls, size / BLOCK, "writes of {} accounted", f.display());
        assert_eq!(bytes, size, "bytes of {}", f.display());
        total_merged += merged;
    }
    assert_eq!(stats.lost, 0, "{stats:?}");
    assert_eq!(
        stats.merged, beyond,
        "--stats merged= is what merged events stand for beyond themselves"
    );
    let writes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len() / BLOCK)
        .sum();
    assert_eq!(
        stats.events + stats.merged,
        writes,
        "events + merged + lost is every write"
    );
    // On the host the rings overflow for sure (two CPUs, four writers and the reader): the merged
    // path was taken. The VMs' emulated CPUs may keep up.
    if !in_vm() {
        assert!(total_merged > 0, "the rings never overflowed: {stats:?}");
    }
}
