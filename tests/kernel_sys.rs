//! The kernel plumbing against the running kernel (root required): maps, program loads and verifier
//! errors, tracepoint and kprobe attachment, exact event counts from every CPU, and clean detachment.
//! On the host (no kprobes) the kprobe tests assert the clear no-kprobes error; in the VMs
//! (`FILESPY_EXPECT_KPROBE=1`) the kprobe path must work.

#[path = "common/kernel.rs"]
mod kernel;

use bpfasm::{Asm, AtomicOp, Cond, Helper, Program, Reg::*, Size};
use filespy::attach::{
    attach_kprobe, attach_kprobe_with, attach_tracepoint, attach_tracepoint_with,
    remove_stale_kprobe_events, BpfAttach, KprobeMethod, Link, NO_KPROBES,
};
use filespy::sys::perf_event::{
    perf_event_open, PerfEventAttr, PERF_COUNT_SW_BPF_OUTPUT, PERF_SAMPLE_RAW, PERF_TYPE_SOFTWARE,
};
use filespy::sys::tracefs::{
    filespy_kprobe_events, kprobe_events_path, mounted_tracefs, tracefs_dir, tracepoint_id,
    KRETPROBE_MAXACTIVE,
};
use filespy::sys::{
    online_cpus, possible_cpus, Map, MapType, Prog, ProgType, SysError, BPF_ANY, BPF_EXIST,
    BPF_NOEXIST,
};
use kernel::*;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::{Barrier, Mutex};

/// Tests creating tracefs kprobes of this process hold this, so one can assert that none of ours remain.
static TRACEFS_KPROBES: Mutex<()> = Mutex::new(());

/// `offsetof(struct pt_regs, ax)` on x86_64: a kretprobe's return value. (filespy targets x86_64; other
/// architectures would need their own offset, so this test does not build there.)
#[cfg(target_arch = "x86_64")]
const PT_REGS_AX: i16 = 80;

/// A scratch file for writes, removed on drop.
struct Scratch {
    file: File,
    path: std::path::PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!(
            "filespy_kernel_sys_{}_{tag}_{}",
            std::process::id(),
            gettid()
        ));
        let file = File::create(&path).expect("create scratch file");
        Scratch { file, path }
    }

    /// `n` write(2) calls of `len` bytes each (exactly one syscall each).
    fn write_n(&self, n: usize, len: usize) {
        let buf = vec![b'x'; len];
        for _ in 0..n {
            // SAFETY: writing from a live buffer of `len` bytes to our own fd.
            let r = unsafe { libc::write(self.file.as_raw_fd(), buf.as_ptr().cast(), len) };
            assert_eq!(r, len as isize, "write(2) to {}", self.path.display());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Counts into `counts[0]` the events of thread `tid` (an imm baked into the program). With `sum_ret`,
/// adds the kretprobe return value (`regs->ax`) instead of 1.
fn tid_counter(tid: u32, sum_ret: bool) -> Program {
    let mut a = Asm::new();
    a.mov64(R6, R1)
        .call(Helper::GET_CURRENT_PID_TGID)
        .mov32(R0, R0) // the low half is the thread id
        .jmp(Cond::Ne, R0, tid as i32, "out")
        .st(Size::W, R10, -4, 0)
        .mov64(R2, R10)
        .add64(R2, -4)
        .ld_map_fd(R1, "counts")
        .call(Helper::MAP_LOOKUP_ELEM)
        .jmp(Cond::Eq, R0, 0, "out");
    if sum_ret {
        a.ldx(Size::DW, R1, R6, PT_REGS_AX);
    } else {
        a.mov64(R1, 1);
    }
    a.atomic(Size::DW, AtomicOp::Add, R0, 0, R1)
        .label("out")
        .mov64(R0, 0)
        .exit();
    a.finish().expect("assemble tid_counter")
}

/// Counts events per thread into hash map `tids`, for threads that registered their tid there.
fn per_tid_counter() -> Program {
    let mut a = Asm::new();
    a.call(Helper::GET_CURRENT_PID_TGID)
        .stx(Size::W, R10, -4, R0) // the low half is the thread id
        .mov64(R2, R10)
        .add64(R2, -4)
        .ld_map_fd(R1, "tids")
        .call(Helper::MAP_LOOKUP_ELEM)
        .jmp(Cond::Eq, R0, 0, "out")
        .mov64(R1, 1)
        .atomic(Size::DW, AtomicOp::Add, R0, 0, R1)
        .label("out")
        .mov64(R0, 0)
        .exit();
    a.finish().expect("assemble per_tid_counter")
}

fn read_u64(map: &Map, key: u32) -> u64 {
    let mut v = [0u8; 8];
    assert!(map.lookup(&key.to_ne_bytes(), &mut v).expect("lookup"));
    u64::from_ne_bytes(v)
}

/// Attach the tid counter of this thread with `attach`, make exactly `n` writes, detach, write again:
/// the count must be `n` (or the byte sum with `sum_ret`) and stay there after detaching. `inspect`
/// sees the link while attached. Nothing is printed while attached: printing is a write of this thread.
fn exact_count(
    ty: ProgType,
    sum_ret: bool,
    attach: impl Fn(&Prog) -> Result<Link, SysError>,
    inspect: impl FnOnce(&Link),
) -> (BpfAttach, Option<KprobeMethod>) {
    const N: usize = 100;
    let counts = Map::create(MapType::Array, 4, 8, 1, "counts").expect("create counts");
    let prog = load(
        ty,
        "tid_counter",
        &tid_counter(gettid(), sum_ret),
        &[&counts],
    );
    let link = attach(&prog).unwrap_or_else(|e| panic!("attach: {e}"));
    let scratch = Scratch::new("exact");
    let len = 3;
    scratch.write_n(N, len);
    let expected = if sum_ret { (N * len) as u64 } else { N as u64 };
    let while_attached = read_u64(&counts, 0);
    let what = describe(&link);
    let methods = (link.attach_method(), link.kprobe_method());
    inspect(&link);
    drop(link);
    scratch.write_n(N, len);
    let after_detach = read_u64(&counts, 0);
    assert_eq!(while_attached, expected, "{what}: while attached");
    assert_eq!(after_detach, expected, "{what}: counted after detach");
    println!("{what}: {expected} counted exactly, none after detach");
    methods
}

fn describe(link: &Link) -> String {
    let kprobe = link
        .kprobe_method()
        .map_or(String::new(), |m| format!(" ({m:?})"));
    format!("{} via {:?}{kprobe}", link.target(), link.attach_method())
}

/// One thread pinned to each online CPU writes `N` times while attached and `N` times after detaching;
/// every thread's count must be exactly `N`.
fn every_cpu(ty: ProgType, attach: impl Fn(&Prog) -> Result<Link, SysError>) {
    const N: u64 = 50;
    let cpus = online_cpus().expect("online CPUs");
    let tids = Map::create(MapType::Hash, 4, 8, 64, "tids").expect("create tids");
    let prog = load(ty, "per_tid_counter", &per_tid_counter(), &[&tids]);
    let link = attach(&prog).unwrap_or_else(|e| panic!("attach: {e}"));
    let what = describe(&link);
    let attached = Barrier::new(cpus.len() + 1);
    let detached = Barrier::new(cpus.len() + 1);
    let mut link = Some(link);
    let results: Vec<(u32, Result<u32, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                let (tids, attached, detached) = (&tids, &attached, &detached);
                s.spawn(move || {
                    // Never panic before the barriers: the main thread waits on them.
                    let setup = pin_to(cpu).and_then(|()| {
                        let tid = gettid();
                        tids.update(&tid.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_NOEXIST)
                            .map(|()| tid)
                            .map_err(|e| e.to_string())
                    });
                    let scratch = Scratch::new(&format!("cpu{cpu}"));
                    if setup.is_ok() {
                        scratch.write_n(N as usize, 1);
                    }
                    attached.wait();
                    detached.wait();
                    if setup.is_ok() {
                        scratch.write_n(N as usize, 1);
                    }
                    (cpu, setup)
                })
            })
            .collect();
        attached.wait();
        drop(link.take());
        detached.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    for (cpu, setup) in results {
        let tid = setup.unwrap_or_else(|e| panic!("CPU {cpu}: {e}"));
        assert_eq!(read_u64(&tids, tid), N, "{what}: writes from CPU {cpu}");
    }
    println!("{what}: exactly {N} writes counted from each of CPUs {cpus:?}");
}

#[test]
fn maps_round_trip() {
    require_root();
    // ARRAY: every index exists; delete is refused by the kernel.
    let a = Map::create(MapType::Array, 4, 8, 4, "t_array").expect("array");
    let k = 2u32.to_ne_bytes();
    a.update(&k, &42u64.to_ne_bytes(), BPF_ANY).unwrap();
    assert_eq!(read_u64(&a, 2), 42);
    assert_eq!(read_u64(&a, 1), 0);
    let mut v = [0u8; 8];
    assert!(
        !a.lookup(&9u32.to_ne_bytes(), &mut v).unwrap(),
        "index past max_entries"
    );
    assert_eq!(a.delete(&k).unwrap_err().errno(), Some(libc::EINVAL));
    assert!(matches!(
        a.update(&k, &[0; 4], BPF_ANY),
        Err(SysError::Invalid(_))
    ));
    assert!(matches!(
        a.lookup(&[0; 2], &mut v),
        Err(SysError::Invalid(_))
    ));

    // PERCPU_ARRAY: one 8-aligned slot per possible CPU.
    let ncpu = possible_cpus().unwrap().iter().max().unwrap() + 1;
    let p = Map::create(MapType::PercpuArray, 4, 4, 2, "t_percpu").expect("percpu");
    assert_eq!(p.user_value_len(), 8 * ncpu as usize);
    let vals: Vec<u8> = (0..ncpu)
        .flat_map(|c| (u64::from(c) + 7).to_ne_bytes())
        .collect();
    p.update(&1u32.to_ne_bytes(), &vals, BPF_ANY).unwrap();
    let mut back = vec![0u8; p.user_value_len()];
    assert!(p.lookup(&1u32.to_ne_bytes(), &mut back).unwrap());
    for c in 0..ncpu as usize {
        // Only the first value_size (4) bytes of each slot are the value.
        assert_eq!(&back[c * 8..c * 8 + 4], &vals[c * 8..c * 8 + 4], "CPU {c}");
    }
    assert!(matches!(
        p.update(&1u32.to_ne_bytes(), &[0; 4], BPF_ANY),
        Err(SysError::Invalid(_))
    ));

    // HASH: insert, flags, lookup, delete, absent.
    let h = Map::create(MapType::Hash, 8, 16, 8, "t_hash").expect("hash");
    let key = 0xdead_beef_u64.to_ne_bytes();
    let val = [5u8; 16];
    let mut out = [0u8; 16];
    assert!(!h.lookup(&key, &mut out).unwrap());
    assert_eq!(
        h.update(&key, &val, BPF_EXIST).unwrap_err().errno(),
        Some(libc::ENOENT)
    );
    h.update(&key, &val, BPF_NOEXIST).unwrap();
    assert_eq!(
        h.update(&key, &val, BPF_NOEXIST).unwrap_err().errno(),
        Some(libc::EEXIST)
    );
    assert!(h.lookup(&key, &mut out).unwrap());
    assert_eq!(out, val);
    assert!(h.delete(&key).unwrap());
    assert!(!h.delete(&key).unwrap());
    assert!(!h.lookup(&key, &mut out).unwrap());

    // PERF_EVENT_ARRAY: holds perf event fds; user space cannot read it back.
    let pe = Map::create(MapType::PerfEventArray, 4, 4, ncpu, "t_perf").expect("perf array");
    let mut attr = PerfEventAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT);
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    let ev = perf_event_open(&attr, -1, 0, -1, 0).expect("BPF_OUTPUT perf event");
    ev.enable().unwrap();
    ev.disable().unwrap();
    let k0 = 0u32.to_ne_bytes();
    pe.update(&k0, &(ev.as_raw_fd() as u32).to_ne_bytes(), BPF_ANY)
        .unwrap();
    let mut fdv = [0u8; 4];
    let err = pe.lookup(&k0, &mut fdv).unwrap_err();
    assert!(err.errno().is_some(), "{err}");
    assert!(pe.delete(&k0).unwrap());
    assert!(!pe.delete(&k0).unwrap());

    // Bad input to the kernel is an error value naming the map.
    let e = Map::create(MapType::Array, 4, 0, 1, "t_bad").unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(e.to_string().contains("t_bad"), "{e}");
}

#[test]
fn verifier_rejections_carry_the_log() {
    require_root();
    // Reads R2, never written: "R2 !read_ok".
    let mut a = Asm::new();
    a.mov64(R0, R2).exit();
    let e = Prog::load(
        ProgType::SocketFilter,
        "uninit",
        &a.finish().unwrap().to_bytes(),
    )
    .unwrap_err();
    let text = e.to_string();
    println!("{text}");
    assert!(matches!(e, SysError::Verifier { .. }), "{e:?}");
    assert!(text.contains("!read_ok"), "{text}");
    assert!(text.contains("EACCES"), "{text}");
    assert!(
        text.lines().count() >= 2,
        "one summary line, then the log: {text}"
    );

    // Writes above the frame pointer: out of the stack's bounds.
    let mut a = Asm::new();
    a.st(Size::DW, R10, 8, 0).mov64(R0, 0).exit();
    let e = Prog::load(
        ProgType::SocketFilter,
        "oob_stack",
        &a.finish().unwrap().to_bytes(),
    )
    .unwrap_err();
    let text = e.to_string();
    println!("{text}");
    assert!(text.contains("invalid"), "{text}");
    assert!(text.contains("rejected by the verifier"), "{text}");

    // A program the verifier accepts loads and has a kernel id.
    let mut a = Asm::new();
    a.mov64(R0, 0).exit();
    let p = Prog::load(
        ProgType::SocketFilter,
        "ok",
        &a.finish().unwrap().to_bytes(),
    )
    .unwrap();
    assert!(p.id().unwrap() > 0);
}

#[test]
fn tracepoint_counts_exact_writes_and_stops_on_drop() {
    require_root();
    let (how, _) = exact_count(
        ProgType::Tracepoint,
        false,
        |p| attach_tracepoint(p, TP_CATEGORY, TP_NAME),
        |_| {},
    );
    println!("probed tracepoint binding: {how:?}");
}

#[test]
fn tracepoint_fires_on_every_cpu() {
    require_root();
    every_cpu(ProgType::Tracepoint, |p| {
        attach_tracepoint(p, TP_CATEGORY, TP_NAME)
    });
}

#[test]
fn bpf_link_and_set_bpf_both_attach() {
    require_root();
    let counts = Map::create(MapType::Array, 4, 8, 1, "counts").unwrap();
    let prog = load(
        ProgType::Tracepoint,
        "tid_counter",
        &tid_counter(0, false),
        &[&counts],
    );
    let probed = attach_tracepoint(&prog, TP_CATEGORY, TP_NAME)
        .expect("attach")
        .attach_method();
    println!("probed binding: {probed:?}");
    for how in [BpfAttach::Link, BpfAttach::Ioctl] {
        if how == BpfAttach::Link && probed == BpfAttach::Ioctl {
            // The probe found no perf-event links: forcing one must fail, not silently fall back.
            assert!(attach_tracepoint_with(&prog, TP_CATEGORY, TP_NAME, how).is_err());
            continue;
        }
        let attach = |p: &Prog| attach_tracepoint_with(p, TP_CATEGORY, TP_NAME, how);
        let (used, _) = exact_count(ProgType::Tracepoint, false, attach, |_| {});
        assert_eq!(used, how);
        every_cpu(ProgType::Tracepoint, attach);
    }
}

#[test]
fn attach_errors_are_clear() {
    require_root();
    let counts = Map::create(MapType::Array, 4, 8, 1, "counts").unwrap();
    let tp = load(
        ProgType::Tracepoint,
        "tid_counter",
        &tid_counter(0, false),
        &[&counts],
    );
    let e = attach_tracepoint(&tp, "syscalls", "sys_enter_no_such_call").unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("no such"), "{e}");
    assert!(matches!(
        attach_tracepoint(&tp, "..", "x"),
        Err(SysError::Invalid(_))
    ));
    // A tracepoint program is refused for a kprobe before anything is created.
    let e = attach_kprobe(&tp, KPROBE_FUNC, false, KprobeMethod::Auto).unwrap_err();
    assert!(matches!(e, SysError::Invalid(_)), "{e}");
    let kp = load(
        ProgType::Kprobe,
        "tid_counter",
        &tid_counter(0, false),
        &[&counts],
    );
    assert!(matches!(
        attach_kprobe(&kp, "vfs_write\n-:x", false, KprobeMethod::Tracefs),
        Err(SysError::Invalid(_))
    ));
    if kprobes_expected() {
        let e =
            attach_kprobe(&kp, "filespy_no_such_function", false, KprobeMethod::Auto).unwrap_err();
        println!("{e}");
        assert!(e.errno().is_some(), "{e}");
    }
}

/// On a kernel without kprobes every kprobe attach must say so clearly (the host's real behaviour).
fn assert_no_kprobes(retprobe: bool, method: KprobeMethod) {
    let counts = Map::create(MapType::Array, 4, 8, 1, "counts").unwrap();
    let kp = load(
        ProgType::Kprobe,
        "tid_counter",
        &tid_counter(0, false),
        &[&counts],
    );
    let e = attach_kprobe(&kp, KPROBE_FUNC, retprobe, method).unwrap_err();
    assert_eq!(e.to_string(), NO_KPROBES);
    assert!(e.to_string().contains("--attach tracepoint"));
    println!("no kprobes here ({method:?}): {e}");
}

#[test]
fn kprobe_counts_exact_writes_on_every_cpu() {
    require_root();
    if !kprobes_expected() {
        assert_no_kprobes(false, KprobeMethod::Auto);
        assert_no_kprobes(false, KprobeMethod::Pmu);
        return;
    }
    let auto = |p: &Prog| attach_kprobe(p, KPROBE_FUNC, false, KprobeMethod::Auto);
    let (how, method) = exact_count(ProgType::Kprobe, false, auto, |_| {});
    println!("probed kprobe: {method:?}, binding {how:?}");
    every_cpu(ProgType::Kprobe, auto);
    for how in [BpfAttach::Link, BpfAttach::Ioctl] {
        let counts = Map::create(MapType::Array, 4, 8, 1, "counts").unwrap();
        let prog = load(
            ProgType::Kprobe,
            "tid_counter",
            &tid_counter(0, false),
            &[&counts],
        );
        let forced = |p: &Prog| attach_kprobe_with(p, KPROBE_FUNC, false, KprobeMethod::Auto, how);
        if let Err(e) = forced(&prog) {
            assert_eq!(
                how,
                BpfAttach::Link,
                "PERF_EVENT_IOC_SET_BPF must work: {e}"
            );
            println!("no perf-event BPF links here: {e}");
            continue;
        }
        let (used, _) = exact_count(ProgType::Kprobe, false, forced, |_| {});
        assert_eq!(used, how);
    }
}

#[test]
fn kretprobe_sums_bytes_written() {
    require_root();
    if !kprobes_expected() {
        assert_no_kprobes(true, KprobeMethod::Auto);
        return;
    }
    let _tracefs = TRACEFS_KPROBES.lock().unwrap_or_else(|p| p.into_inner());
    for method in [KprobeMethod::Pmu, KprobeMethod::Tracefs] {
        let attach = |p: &Prog| attach_kprobe(p, KPROBE_FUNC, true, method);
        let (_, used) = exact_count(ProgType::Kprobe, true, attach, |_| {});
        assert_eq!(used, Some(method));
    }
}

#[test]
fn tracefs_kprobes_work_and_leave_no_entries() {
    require_root();
    if !kprobes_expected() {
        assert_no_kprobes(false, KprobeMethod::Tracefs);
        assert!(kprobe_events_path().is_none());
        return;
    }
    let _tracefs = TRACEFS_KPROBES.lock().unwrap_or_else(|p| p.into_inner());
    let tracefs = |p: &Prog| attach_kprobe(p, KPROBE_FUNC, false, KprobeMethod::Tracefs);
    let mut seen = (String::new(), Vec::new());
    let (_, used) = exact_count(ProgType::Kprobe, false, tracefs, |link| {
        seen.0 = link.kprobe_event_name().unwrap_or_default().to_string();
        seen.1 = filespy_kprobe_events().unwrap_or_default();
    });
    assert_eq!(used, Some(KprobeMethod::Tracefs));
    let (name, listed) = seen;
    assert!(name.starts_with("filespy_"), "event name '{name}'");
    assert!(
        listed.contains(&name),
        "{name} not listed while attached: {listed:?}"
    );
    every_cpu(ProgType::Kprobe, tracefs);
    let ours = format!("filespy_{}_", std::process::id());
    let left: Vec<String> = filespy_kprobe_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.starts_with(&ours))
        .collect();
    assert!(left.is_empty(), "kprobe_events still holds {left:?}");
}

#[test]
fn stale_kprobe_entries_are_removed() {
    require_root();
    let Some(events) = kprobe_events_path().filter(|_| kprobes_expected()) else {
        // No kprobe_events: nothing can be stale, and removal must say so without error.
        assert_eq!(remove_stale_kprobe_events().unwrap(), 0);
        assert!(filespy_kprobe_events().unwrap().is_empty());
        assert_no_kprobes(false, KprobeMethod::Tracefs);
        return;
    };
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("filespy_{dead}_0");
    let live = format!("filespy_1_{}", std::process::id()); // pid 1 never dies
                                                            // One open and one write(2) per command, as tracefs parses each write on its own.
    let add = |cmd: String| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .and_then(|mut f| f.write_all(cmd.as_bytes()))
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    };
    add(format!("p:filespy/{stale} {KPROBE_FUNC}\n"));
    add(format!("p:filespy/{live} {KPROBE_FUNC}\n"));
    let before = filespy_kprobe_events().unwrap();
    assert!(
        before.contains(&stale) && before.contains(&live),
        "{before:?}"
    );
    let removed = remove_stale_kprobe_events().unwrap();
    let after = filespy_kprobe_events().unwrap();
    add(format!("-:filespy/{live}\n"));
    assert!(removed >= 1);
    assert!(!after.contains(&stale), "stale {stale} survived: {after:?}");
    assert!(after.contains(&live), "live {live} was removed");
}

/// Mount points of `fstype` in this thread's mount namespace.
fn mounts_of(fstype: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/thread-self/mounts")
        .expect("read /proc/thread-self/mounts")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == fstype).then(|| f[1].to_string())
        })
        .collect()
}

#[test]
fn tracefs_is_mounted_when_missing() {
    require_root();
    // In a thread with its own mount namespace, unmount every tracefs (and debugfs, whose tracing dir
    // would mount one on access): finding tracefs must then mount it, invisibly to everyone else.
    let outcome = std::thread::spawn(|| -> Result<(), String> {
        // SAFETY: unshare/mount/umount2 with valid NUL-terminated arguments, on this thread only.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(format!(
                    "unshare(CLONE_NEWNS): {}",
                    std::io::Error::last_os_error()
                ));
            }
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null(),
            ) != 0
            {
                return Err(format!(
                    "make / private: {}",
                    std::io::Error::last_os_error()
                ));
            }
            for _ in 0..8 {
                let mut points = mounts_of("tracefs");
                points.extend(mounts_of("debugfs"));
                if points.is_empty() {
                    break;
                }
                for p in points.iter().rev() {
                    let c = std::ffi::CString::new(p.as_str()).map_err(|e| e.to_string())?;
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        if mounted_tracefs().is_some() {
            return Err(format!(
                "could not unmount tracefs: {:?}",
                mounts_of("tracefs")
            ));
        }
        let dir = tracefs_dir().map_err(|e| e.to_string())?;
        if dir != std::path::Path::new("/sys/kernel/tracing")
            || mounted_tracefs() != Some(dir.clone())
        {
            return Err(format!(
                "tracefs_dir gave {} with mounts {:?}",
                dir.display(),
                mounts_of("tracefs")
            ));
        }
        let id = tracepoint_id(TP_CATEGORY, TP_NAME).map_err(|e| e.to_string())?;
        println!(
            "tracefs mounted at {} (sys_enter_write id {id})",
            dir.display()
        );
        Ok(())
    })
    .join()
    .expect("mount-namespace thread");
    outcome.unwrap();
}

/// A return probe made by `Auto` goes through tracefs with the largest instance pool, so writers blocked
/// in `vfs_write` cannot exhaust it and make the monitor miss returns.
#[test]
fn auto_return_probes_get_the_largest_instance_pool() {
    require_root();
    if !kprobes_expected() {
        assert_no_kprobes(true, KprobeMethod::Auto);
        return;
    }
    let _tracefs = TRACEFS_KPROBES.lock().unwrap_or_else(|p| p.into_inner());
    let mut a = Asm::new();
    a.mov64(R0, 0).exit();
    let prog = Prog::load(ProgType::Kprobe, "ret0", &a.finish().unwrap().to_bytes()).unwrap();
    let link = attach_kprobe(&prog, KPROBE_FUNC, true, KprobeMethod::Auto).unwrap();
    assert_eq!(link.kprobe_method(), Some(KprobeMethod::Tracefs));
    let name = link.kprobe_event_name().unwrap().to_string();
    let events = std::fs::read_to_string(kprobe_events_path().unwrap()).unwrap();
    let line = events
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{events}"));
    println!("{line}");
    assert!(
        line.starts_with(&format!("r{KRETPROBE_MAXACTIVE}:")),
        "{line}"
    );
    drop(link);
    let after = std::fs::read_to_string(kprobe_events_path().unwrap()).unwrap();
    assert!(!after.contains(&name), "{after}");
}
