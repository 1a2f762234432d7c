//! `PerfBuffer` against the running kernel (root required): a BPF program on every write(2) of one test
//! thread sends `{magic, seq = count}` with `bpf_perf_event_output(.., BPF_F_CURRENT_CPU, ..)`; the tests
//! prove per-CPU order and integrity, exact loss accounting on overflow, watermark wakeup batching, and a
//! signalfd waking the same poll. On the host (no kprobes) the program is on `syscalls:sys_enter_write`;
//! where kprobes exist (the VMs set `FILESPY_EXPECT_KPROBE=1`, which makes them mandatory) on `vfs_write`.
//!
//! Nothing is printed while a program is attached from the writing thread: printing is a write.

#[path = "common/kernel.rs"]
mod kernel;

use bpfasm::{Asm, Cond, Helper, Program, Reg::*, Size, F_CURRENT_CPU};
use filespy::attach::{attach_kprobe, attach_tracepoint, KprobeMethod, Link};
use filespy::btf::Btf;
use filespy::perfbuf::{PerfBuffer, Record};
use filespy::sys::signal::SignalFd;
use filespy::sys::tracefs::tracefs_dir;
use filespy::sys::{online_cpus, possible_cpus, Map, MapType, Prog, ProgType, SysError};
use kernel::*;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MAGIC: u64 = 0xf11e_5b1e_c0de_0001;
/// A `{u64 magic, u64 seq}` sample takes 32 bytes of ring: 8 header + 4 size + 16 data, 8-aligned.
const RECORD_BYTES: usize = 32;

/// The byte offset of `field` in tracepoint `category:name`'s record, from its tracefs `format` file.
fn tracepoint_field_offset(category: &str, name: &str, field: &str) -> Result<i16, String> {
    let path = tracefs_dir()
        .map_err(|e| e.to_string())?
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // e.g. "\tfield:size_t count;\toffset:32;\tsize:8;\tsigned:0;"
    for line in text.lines() {
        let mut parts = line.trim().split(';').map(str::trim);
        let Some(decl) = parts.next().and_then(|d| d.strip_prefix("field:")) else {
            continue;
        };
        if decl.rsplit(' ').next() != Some(field) {
            continue;
        }
        let off = parts
            .find_map(|p| p.strip_prefix("offset:"))
            .ok_or_else(|| format!("{}: no offset in '{line}'", path.display()))?;
        return off
            .parse()
            .map_err(|_| format!("{}: bad offset in '{line}'", path.display()));
    }
    Err(format!("{}: no field '{field}'", path.display()))
}

/// Where the program goes and where it finds write(2)'s `count` in its context.
#[derive(Clone, Copy, Debug)]
enum Probe {
    /// `syscalls:sys_enter_write`, `count` at this offset of the tracepoint record.
    Tracepoint(i16),
    /// `vfs_write`'s third argument: `pt_regs.dx` at this offset.
    Kprobe(i16),
}

fn choose_probe() -> Probe {
    if kprobes_expected() {
        let btf = Btf::load(None).unwrap_or_else(|e| panic!("kernel BTF: {e}"));
        let off = btf
            .member_offset("pt_regs", "dx")
            .unwrap_or_else(|e| panic!("pt_regs.dx: {e}"));
        Probe::Kprobe(off as i16)
    } else {
        let off = tracepoint_field_offset(TP_CATEGORY, TP_NAME, "count")
            .unwrap_or_else(|e| panic!("sys_enter_write count offset: {e}"));
        Probe::Tracepoint(off)
    }
}

/// For thread `tid` only: `perf_event_output(ctx, events, BPF_F_CURRENT_CPU, &{MAGIC, ctx[count_off]}, 16)`.
fn emitter(tid: u32, count_off: i16) -> Program {
    let mut a = Asm::new();
    a.mov64(R6, R1)
        .call(Helper::GET_CURRENT_PID_TGID)
        .mov32(R0, R0) // the low half is the thread id
        .jmp(Cond::Ne, R0, tid as i32, "out")
        .lddw(R1, MAGIC as i64)
        .stx(Size::DW, R10, -16, R1)
        .ldx(Size::DW, R1, R6, count_off)
        .stx(Size::DW, R10, -8, R1)
        .mov64(R1, R6)
        .ld_map_fd(R2, "events")
        // lddw: a 32-bit immediate would sign-extend 0xffffffff into invalid flags.
        .lddw(R3, F_CURRENT_CPU)
        .mov64(R4, R10)
        .add64(R4, -16)
        .mov64(R5, 16)
        .call(Helper::PERF_EVENT_OUTPUT)
        .label("out")
        .mov64(R0, 0)
        .exit();
    a.finish().expect("assemble emitter")
}

/// The emitter for this thread, loaded and attached; detached when dropped.
struct Attached {
    _link: Link,
    _prog: Prog,
    what: String,
}

fn attach_emitter(events: &Map) -> Attached {
    let probe = choose_probe();
    let (ty, off) = match probe {
        Probe::Tracepoint(off) => (ProgType::Tracepoint, off),
        Probe::Kprobe(off) => (ProgType::Kprobe, off),
    };
    let prog = load(ty, "pb_emitter", &emitter(gettid(), off), &[events]);
    let link = match probe {
        Probe::Tracepoint(_) => attach_tracepoint(&prog, TP_CATEGORY, TP_NAME),
        Probe::Kprobe(_) => attach_kprobe(&prog, KPROBE_FUNC, false, KprobeMethod::Auto),
    }
    .unwrap_or_else(|e| panic!("attach {probe:?}: {e}"));
    let what = format!("{} (count at ctx+{off})", link.target());
    Attached {
        _link: link,
        _prog: prog,
        what,
    }
}

fn events_map() -> Map {
    let n = possible_cpus()
        .expect("possible CPUs")
        .iter()
        .max()
        .unwrap()
        + 1;
    Map::create(MapType::PerfEventArray, 4, 4, n, "events").expect("create perf_event_array")
}

/// write(2) of exactly `seq` bytes to /dev/null per call: its `count` is the sequence number, and nothing
/// is copied or stored however many are written. (`vfs_write` runs for /dev/null as for any file, which
/// the exact counts below prove.)
struct Writer {
    null: File,
    buf: Vec<u8>,
}

impl Writer {
    fn new(max: u64) -> Writer {
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("open /dev/null");
        Writer {
            null,
            buf: vec![0u8; max as usize],
        }
    }

    fn write(&self, seq: u64) {
        let len = seq as usize;
        assert!(len <= self.buf.len(), "seq {seq} beyond the write buffer");
        // SAFETY: `len` bytes of a live buffer to our own fd.
        let r = unsafe { libc::write(self.null.as_raw_fd(), self.buf.as_ptr().cast(), len) };
        assert_eq!(r, len as isize, "write(2) of {len} bytes to /dev/null");
    }
}

/// What a drained record says, for the tests' bookkeeping.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Seq(u64),
    Lost(u64),
    Bad(String),
}

fn decode(rec: Record<'_>) -> Got {
    match rec {
        // The kernel may pad the 16 bytes to keep records 8-aligned.
        Record::Sample(d) if d.len() >= 16 => {
            let magic = u64::from_ne_bytes(d[0..8].try_into().unwrap());
            let seq = u64::from_ne_bytes(d[8..16].try_into().unwrap());
            if magic == MAGIC {
                Got::Seq(seq)
            } else {
                Got::Bad(format!("magic {magic:#x} (seq {seq})"))
            }
        }
        Record::Sample(d) => Got::Bad(format!("{}-byte sample", d.len())),
        Record::Lost(n) => Got::Lost(n),
        Record::Other(t) => Got::Bad(format!("record type {t}")),
    }
}

/// Sets the flag when dropped, so the reader stops even if the writer panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Smallest power-of-two page count whose ring holds `records` samples.
fn pages_for(records: usize) -> usize {
    (records * RECORD_BYTES)
        .div_ceil(filespy::sys::mmap::page_size())
        .next_power_of_two()
}

#[test]
fn records_arrive_intact_and_in_order_on_every_cpu() {
    require_root();
    let cpus = online_cpus().expect("online CPUs");
    // Bounded total so write sizes (= seqs) stay small on many-CPU machines.
    let per_cpu = (20_000 / cpus.len() as u64).max(200);
    let map = events_map();
    // Each ring holds all of its CPU's records, so a slow reader cannot cause loss: any gap is a bug.
    let pages = pages_for(per_cpu as usize);
    let quarter = pages * filespy::sys::mmap::page_size() / 4;
    let mut pb = PerfBuffer::open(&map, pages, quarter as u32).expect("open");
    assert_eq!(pb.cpus(), cpus);
    let mut got: Vec<Vec<u64>> = cpus
        .iter()
        .map(|_| Vec::with_capacity(per_cpu as usize))
        .collect();
    let mut bad = Vec::new();
    let mut lost = 0u64;
    let (mut wakeups, mut polls) = (0u32, 0u32);
    let done = AtomicBool::new(false);
    let mut last_drain = Instant::now();
    let (what, t0, write_time) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let _done = SetOnDrop(&done);
            let w = Writer::new(cpus.len() as u64 * per_cpu);
            let attached = attach_emitter(&map);
            let t0 = Instant::now();
            // CPU i (the i-th online one) gets seqs i*per_cpu+1 ..= (i+1)*per_cpu.
            for (i, &cpu) in cpus.iter().enumerate() {
                pin_to(cpu).unwrap_or_else(|e| panic!("{e}"));
                for k in 1..=per_cpu {
                    w.write(i as u64 * per_cpu + k);
                }
            }
            let write_time = t0.elapsed();
            // Now, not after the detach below (which waits for an RCU grace period).
            done.store(true, Ordering::Release);
            (attached.what.clone(), t0, write_time)
        });
        // The reader: poll + drain while the writer runs; once the writer is done every record is
        // already in a ring (output is synchronous in write(2)), so one more drain gets the rest.
        loop {
            let finished = done.load(Ordering::Acquire);
            let wake = pb.poll(None, if finished { 0 } else { 20 }).expect("poll");
            polls += 1;
            wakeups += u32::from(wake.data);
            let idx = |cpu: u32| cpus.iter().position(|&c| c == cpu).expect("known CPU");
            pb.drain(|cpu, rec| match decode(rec) {
                Got::Seq(seq) => got[idx(cpu)].push(seq),
                Got::Lost(n) => lost += n,
                Got::Bad(b) => bad.push(format!("CPU {cpu}: {b}")),
            });
            if finished {
                last_drain = Instant::now();
                break;
            }
        }
        writer.join().expect("writer thread")
    });
    // From the first write to the end of the last drain: what the reader sustained.
    let deliver_time = last_drain - t0;
    let delivered: usize = got.iter().map(Vec::len).sum();
    assert!(bad.is_empty(), "{what}: corrupt records: {bad:?}");
    assert_eq!(lost, 0, "{what}: lost records although every ring fits");
    for (i, &cpu) in cpus.iter().enumerate() {
        let want: Vec<u64> = (1..=per_cpu).map(|k| i as u64 * per_cpu + k).collect();
        let seqs = &got[i];
        if *seqs != want {
            let first_diff = seqs.iter().zip(&want).position(|(a, b)| a != b);
            panic!(
                "{what}: CPU {cpu} ring has {} records, want {per_cpu} (seqs {}..={}); first difference at \
                 index {first_diff:?}: got {:?}",
                seqs.len(),
                want[0],
                want[want.len() - 1],
                first_diff.map(|d| &seqs[d..(d + 5).min(seqs.len())])
            );
        }
    }
    assert_eq!(pb.lost_per_cpu().iter().map(|&(_, n)| n).sum::<u64>(), 0);
    println!(
        "{what}: {delivered} records ({per_cpu} per CPU on {cpus:?}), intact and in order per CPU, none \
         lost; {:.0} events/s delivered ({:.1} ms writing, {:.1} ms to the last drain); {wakeups} \
         wakeups in {polls} polls with {} KiB rings",
        delivered as f64 / deliver_time.as_secs_f64(),
        write_time.as_secs_f64() * 1e3,
        deliver_time.as_secs_f64() * 1e3,
        pb.ring_bytes() / 1024
    );
}

#[test]
fn overflow_is_reported_as_lost_and_accounts_for_every_record() {
    require_root();
    const SENT: u64 = 20_000;
    let cpu = online_cpus().expect("online CPUs")[0];
    let map = events_map();
    let mut pb = PerfBuffer::open(&map, 1, 2048).expect("open 1-page rings");
    let ring = pb.ring_bytes();
    let (what, seqs, lost_records, lost) = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cpu).unwrap_or_else(|e| panic!("{e}"));
            let w = Writer::new(SENT + 1);
            let attached = attach_emitter(&map);
            let (mut seqs, mut lost_records, mut lost, mut bad) =
                (Vec::new(), 0u64, 0u64, Vec::new());
            let mut take = |pb: &mut PerfBuffer| {
                pb.drain(|c, rec| match decode(rec) {
                    Got::Seq(seq) if c == cpu => seqs.push(seq),
                    Got::Lost(n) if c == cpu => {
                        lost_records += 1;
                        lost += n
                    }
                    other => bad.push(format!("CPU {c}: {other:?}")),
                });
            };
            for seq in 1..=SENT {
                w.write(seq);
            }
            take(&mut pb);
            // The kernel reports a loss with the next record that fits: one more write after draining.
            w.write(SENT + 1);
            take(&mut pb);
            assert!(bad.is_empty(), "unexpected records: {bad:?}");
            (attached.what.clone(), seqs, lost_records, lost)
        })
        .join()
        .expect("writer thread")
    });
    let sent = SENT + 1;
    assert!(
        lost_records >= 1,
        "{what}: no LOST record after {SENT} writes into {ring} bytes"
    );
    assert_eq!(
        seqs.len() as u64 + lost,
        sent,
        "{what}: delivered {} + lost {lost} != sent {sent}",
        seqs.len()
    );
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{what}: seqs not increasing"
    );
    assert_eq!(
        seqs.first(),
        Some(&1),
        "{what}: the first record must survive"
    );
    assert_eq!(
        seqs.last(),
        Some(&sent),
        "{what}: the record after draining must arrive"
    );
    let per_cpu = pb.lost_per_cpu();
    assert_eq!(per_cpu.iter().find(|&&(c, _)| c == cpu), Some(&(cpu, lost)));
    assert_eq!(per_cpu.iter().map(|&(_, n)| n).sum::<u64>(), lost);
    println!(
        "{what}: {sent} sent into a {ring}-byte ring on CPU {cpu}: {} delivered, {lost} lost in \
         {lost_records} LOST record(s)",
        seqs.len()
    );
}

#[test]
fn watermark_batches_wakeups_and_drain_finds_data_below_it() {
    require_root();
    const FEW: u64 = 4;
    let cpu = online_cpus().expect("online CPUs")[0];
    let map = events_map();
    let mut pb = PerfBuffer::open(&map, 2, 4096).expect("open 2-page rings");
    let ring = pb.ring_bytes();
    // Past the 4096-byte mark, within the ring.
    let many = (4096 * 3 / 2 / RECORD_BYTES) as u64;
    assert!((many as usize) * RECORD_BYTES < ring);
    let (what, quiet, woke, few_seqs, many_seqs, waited) = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cpu).unwrap_or_else(|e| panic!("{e}"));
            let w = Writer::new(FEW + many);
            let attached = attach_emitter(&map);
            let mut seqs = Vec::new();
            for seq in 1..=FEW {
                w.write(seq);
            }
            let quiet = pb.poll(None, 300).expect("poll");
            pb.drain(|_, rec| seqs.push(decode(rec)));
            let few_seqs = std::mem::take(&mut seqs);
            for seq in FEW + 1..=FEW + many {
                w.write(seq);
            }
            let t = Instant::now();
            let woke = pb.poll(None, 5000).expect("poll");
            let waited = t.elapsed();
            pb.drain(|_, rec| seqs.push(decode(rec)));
            (attached.what.clone(), quiet, woke, few_seqs, seqs, waited)
        })
        .join()
        .expect("writer thread")
    });
    assert!(
        !quiet.data,
        "{what}: {FEW} records below the watermark woke poll: {quiet:?}"
    );
    let want = |r: std::ops::RangeInclusive<u64>| r.map(Got::Seq).collect::<Vec<_>>();
    assert_eq!(few_seqs, want(1..=FEW), "{what}: drain after the timeout");
    assert!(
        woke.data,
        "{what}: {many} records past the watermark did not wake poll"
    );
    assert!(waited < Duration::from_secs(5));
    assert_eq!(
        many_seqs,
        want(FEW + 1..=FEW + many),
        "{what}: drain after wakeup"
    );
    println!(
        "{what}: {FEW} records ({} bytes) under a 4096-byte watermark: no wakeup in 300 ms, all drained; \
         {many} more woke poll",
        FEW as usize * RECORD_BYTES
    );
}

#[test]
fn a_signal_wakes_the_same_poll() {
    require_root();
    let map = events_map();
    let mut pb = PerfBuffer::open(&map, 1, 0).expect("open");
    // A thread of its own: the signals are blocked there only, the rest of the test process is untouched.
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        let sfd = SignalFd::new().map_err(|e| e.to_string())?;
        let fd = Some(sfd.as_raw_fd());
        let before = pb.poll(fd, 0).map_err(|e| e.to_string())?;
        if before.extra {
            return Err(format!("signalfd readable before any signal: {before:?}"));
        }
        // SAFETY: raise has no preconditions; SIGHUP is blocked in this thread, so it stays pending
        // for the signalfd instead of terminating the process.
        if unsafe { libc::raise(libc::SIGHUP) } != 0 {
            return Err("raise(SIGHUP) failed".into());
        }
        let wake = pb.poll(fd, 5000).map_err(|e| e.to_string())?;
        if !wake.extra || wake.data {
            return Err(format!("after raise(SIGHUP): {wake:?}"));
        }
        match sfd.read().map_err(|e| e.to_string())? {
            Some(libc::SIGHUP) => {}
            other => return Err(format!("signalfd read {other:?}, want SIGHUP")),
        }
        if let Some(s) = sfd.read().map_err(|e| e.to_string())? {
            return Err(format!("a second signal {s} appeared"));
        }
        let after = pb.poll(fd, 0).map_err(|e| e.to_string())?;
        if after != Default::default() {
            return Err(format!("poll after reading the signal: {after:?}"));
        }
        Ok(())
    })
    .join()
    .expect("signal thread");
    outcome.unwrap();
    println!("SIGHUP woke PerfBuffer::poll through the signalfd and was read back");
}

#[test]
fn bad_arguments_are_errors() {
    require_root();
    let map = events_map();
    for pages in [0, 3, 6] {
        let e = PerfBuffer::open(&map, pages, 0)
            .err()
            .expect("non-power-of-two accepted");
        assert!(matches!(e, SysError::Invalid(_)), "{pages} pages: {e}");
        assert!(e.to_string().contains("power of two"), "{e}");
    }
    let array = Map::create(MapType::Array, 4, 4, 64, "not_perf").expect("array map");
    let e = PerfBuffer::open(&array, 1, 0)
        .err()
        .expect("array map accepted");
    assert!(e.to_string().contains("not_perf"), "{e}");
    let top = *online_cpus().expect("online CPUs").iter().max().unwrap();
    // A map one entry short of the highest online CPU (a 1-CPU machine cannot have such a map).
    if top > 0 {
        let short = Map::create(MapType::PerfEventArray, 4, 4, top, "short").expect("short map");
        let e = PerfBuffer::open(&short, 1, 0)
            .err()
            .expect("short map accepted");
        assert!(e.to_string().contains(&format!("CPU {top}")), "{e}");
    }
    let mut pb = PerfBuffer::open(&map, 1, 0).expect("open");
    let e = pb.poll(Some(1 << 28), 0).unwrap_err();
    assert!(matches!(e, SysError::Invalid(_)), "{e}");
    println!("bad pages, map types and fds are errors: {e}");
}
