//! User-space cost per event for `make bench`, without the kernel: raw records built with the real layout
//! (`bpf::layout`) replayed through the real pipeline — `record::decode_into`, the process-context cache
//! and `Formatter::write_event` — as the run loop does it. Prints measurements; asserts nothing.
//!
//!   bench_pipeline [EVENTS [PROCESSES [IDS]]]   (default 2,000,000 events of 8 processes taking
//!                                         turns; one process is one writer's burst; IDS 1: the context
//!                                         records carry the identity section, as the kernel sends them —
//!                                         parent, 3 ancestors, a container's cgroup — so the difference
//!                                         to IDS 0 is the per-event cost of the identity fields)
//!
//! Times are the thread's CPU time. Output: `decode_ns=F json_ns=F total_ns=F events_per_s=F bytes_per_event=F
//! stream_ns=F stream_events_per_s=F`: the `stream` figures are the whole user-space pipeline
//! (`pipeline::Replay`: batches of a drain's size copied, sorted by time, decoded, cached, lineage and
//! enrichment, then JSON), the others decode + context + JSON alone.

use filespy::bpf::layout::*;
use filespy::clock::Clock;
use filespy::event::Event;
use filespy::kinds::Op;
use filespy::output::{Format, Formatter};
use filespy::pipeline::{Options, Replay};
use filespy::proc_cache::ProcCache;
use filespy::record::{decode_context, decode_into, fill_context};
use std::ops::ControlFlow;
use std::process::ExitCode;

/// This thread's CPU time (ns): unlike wall time it does not count time preempted by other jobs.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A record as the BPF programs build it: header, path components leaf first, then (first event only)
/// exe and cwd components and raw argv.
fn record(
    tgid: u32,
    path: &[&str],
    ctx: Option<(&[&str], &[&str], &[u8])>,
    with_ids: bool,
) -> Vec<u8> {
    let comps = |c: &[&str]| -> Vec<u8> { c.iter().flat_map(|s| s.bytes().chain([0])).collect() };
    let p = comps(path);
    let (e, c, a) = match ctx {
        Some((e, c, a)) => (comps(e), comps(c), a.to_vec()),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let ids = match ctx {
        Some(_) if with_ids => ids_section(tgid),
        _ => Vec::new(),
    };
    let mut d = vec![0u8; HEADER_LEN];
    let mut put = |off: i16, b: &[u8]| d[off as usize..off as usize + b.len()].copy_from_slice(b);
    put(OFF_VERSION, &VERSION.to_ne_bytes());
    put(OFF_KIND, &(Op::Write as u16).to_ne_bytes());
    put(OFF_VIA, &1u16.to_ne_bytes());
    let flags = F_HAS_INODE | if ctx.is_some() { F_HAS_PROC } else { 0 };
    put(OFF_FLAGS, &flags.to_ne_bytes());
    put(OFF_MONO_NS, &1_000_000_000u64.to_ne_bytes());
    put(OFF_TGID, &tgid.to_ne_bytes());
    put(OFF_TID, &tgid.to_ne_bytes());
    put(OFF_PPID, &1u32.to_ne_bytes());
    put(OFF_UID, &1000u32.to_ne_bytes());
    put(OFF_GID, &1000u32.to_ne_bytes());
    put(OFF_DEV, &((8u32 << 20) | 1).to_ne_bytes());
    put(OFF_BYTES, &64u64.to_ne_bytes());
    put(OFF_INO, &1_234_567u64.to_ne_bytes());
    put(OFF_START_TIME, &(u64::from(tgid) * 1000).to_ne_bytes());
    put(
        OFF_MM,
        &(0xffff_8880_0000_0000u64 + u64::from(tgid)).to_ne_bytes(),
    );
    put(OFF_COMM, b"python3\0");
    for (section, len) in [
        (Section::Path, p.len()),
        (Section::Exe, e.len()),
        (Section::Cwd, c.len()),
        (Section::Argv, a.len()),
        (Section::Ids, ids.len()),
    ] {
        put(section.len_off(), &(len as u16).to_ne_bytes());
    }
    d.extend_from_slice(&p);
    d.extend_from_slice(&e);
    d.extend_from_slice(&c);
    d.extend_from_slice(&a);
    d.extend_from_slice(&ids);
    d.extend_from_slice(&[0; 4]); // perf pads raw samples to 8 bytes
    d
}

/// An `Ids` section as the kernel fills it: effective ids, login uid and session, a container's
/// cgroup, the parent's start and three ancestors.
fn ids_section(tgid: u32) -> Vec<u8> {
    // SAFETY: Ids is plain old data (integers and byte arrays); all zeroes is a valid value.
    let mut ids: Ids = unsafe { std::mem::zeroed() };
    ids.euid = 1000;
    ids.egid = 1000;
    ids.auid = 1000;
    ids.session = 3;
    ids.cgroup_id = 4242;
    ids.parent_start = u64::from(tgid) * 1000 - 500;
    ids.ancestor_count = 3;
    for (i, (pid, name)) in [(900, "bash"), (800, "sshd"), (1, "systemd")]
        .iter()
        .enumerate()
    {
        ids.ancestors[i].tgid = *pid;
        ids.ancestors[i].comm[..name.len()].copy_from_slice(name.as_bytes());
    }
    let leaf = b"docker-4f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f.scope";
    ids.cgroup_leaf[..leaf.len()].copy_from_slice(leaf);
    ids.cgroup_parent[..13].copy_from_slice(b"system.slice\0");
    // SAFETY: a #[repr(C)] value read as its IDS_LEN bytes (zeroed above, padding included).
    unsafe { std::slice::from_raw_parts((&ids as *const Ids).cast::<u8>(), IDS_LEN) }.to_vec()
}

/// `processes` write in the replay, taking turns: each has its context record first, then plain ones,
/// as the kernel sends them.
fn run(events: u64, processes: u32, with_ids: bool) -> Result<(), String> {
    let path: &[&str] = &["app.log", "logs", "project", "alice", "home"];
    let exe: &[&str] = &["python3.11", "bin", "usr"];
    let cwd: &[&str] = &["project", "alice", "home"];
    let argv = b"python3\0tools/job.py\0--verbose\0--out\0logs/app.log\0";
    let first: Vec<Vec<u8>> = (0..processes)
        .map(|i| record(1000 + i, path, Some((exe, cwd, argv)), with_ids))
        .collect();
    let steady: Vec<Vec<u8>> = (0..processes)
        .map(|i| record(1000 + i, path, None, false))
        .collect();

    let mut cache = ProcCache::new(8192);
    let mut ev = Event::default();
    let mut fmt = Formatter::new(Format::Json, Clock::new(), false).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(512 * 1024);
    for r in &first {
        let (key, ctx, _) = decode_context(r).ok_or("context record does not decode")?;
        cache.insert(key, ctx, filespy::record::mono_ns_of(r));
    }

    // Decode alone, then the whole pipeline; output is dropped at the run loop's flush size, as a write to
    // /dev/null would, so only user-space work is timed.
    let t = cpu_ns();
    for i in 0..events {
        let r = &steady[(i % u64::from(processes)) as usize];
        let key = decode_into(r, &mut ev).map_err(|e| e.to_string())?;
        fill_context(&mut ev, cache.get(&key));
        std::hint::black_box(&ev);
    }
    let decode = (cpu_ns() - t) as f64 / events as f64;

    let mut bytes: u64 = 0;
    let t = cpu_ns();
    for i in 0..events {
        let r = &steady[(i % u64::from(processes)) as usize];
        let key = decode_into(r, &mut ev).map_err(|e| e.to_string())?;
        let ctx = cache.get(&key);
        fill_context(&mut ev, ctx);
        let script = ctx.and_then(|c| c.script.as_deref());
        fmt.write_event(&ev, script, &mut out);
        if out.len() >= 256 * 1024 {
            bytes += out.len() as u64;
            std::hint::black_box(&out);
            out.clear();
        }
    }
    let total = (cpu_ns() - t) as f64 / events as f64;
    bytes += out.len() as u64;

    // The whole pipeline, in drains of a quarter of a default ring's worth of records (the wakeup
    // watermark), each record with its own time so the sort has work.
    let opts = Options {
        all_files: true,
        ..Options::default()
    };
    let mut replay = Replay::new(&opts);
    for r in &first {
        replay.record(r);
    }
    let mut timed: Vec<Vec<u8>> = steady.clone();
    let per_drain = 64 * 4096 / 4 / steady[0].len().next_multiple_of(8);
    out.clear();
    let t = cpu_ns();
    let mut i = 0u64;
    while i < events {
        let n = (per_drain as u64).min(events - i);
        for k in 0..n {
            let at = ((i + k) % u64::from(processes)) as usize;
            let r = &mut timed[at];
            r[OFF_MONO_NS as usize..OFF_MONO_NS as usize + 8]
                .copy_from_slice(&(1_000_000_000 + i + k).to_ne_bytes());
            replay.record(r);
        }
        replay.deliver(|ev, script| {
            fmt.write_event(ev, script, &mut out);
            ControlFlow::Continue(())
        });
        std::hint::black_box(&out);
        out.clear();
        i += n;
    }
    let stream = (cpu_ns() - t) as f64 / events as f64;
    let delivered = replay.counters().delivered;
    if delivered != events + u64::from(processes) {
        return Err(format!("replay delivered {delivered} of {events}"));
    }
    println!(
        "decode_ns={decode:.1} json_ns={:.1} total_ns={total:.1} events_per_s={:.0} bytes_per_event={:.0} stream_ns={stream:.1} stream_events_per_s={:.0}",
        total - decode,
        1e9 / total,
        bytes as f64 / events as f64,
        1e9 / stream
    );
    Ok(())
}

fn main() -> ExitCode {
    let arg = |i: usize, default: u64| match std::env::args().nth(i).map(|s| s.parse::<u64>()) {
        None => Some(default),
        Some(Ok(n)) if n > 0 && n <= u64::from(u32::MAX) => Some(n),
        _ => None,
    };
    let ids = match std::env::args().nth(3).as_deref() {
        None | Some("0") => Some(false),
        Some("1") => Some(true),
        Some(_) => None,
    };
    let (Some(events), Some(processes), Some(ids)) = (arg(1, 2_000_000), arg(2, 8), ids) else {
        eprintln!("usage: bench_pipeline [EVENTS>0 [PROCESSES>0 [IDS: 0|1]]]");
        return ExitCode::FAILURE;
    };
    match run(events, processes as u32, ids) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}
