//! The per-process context cache (enrichment): the kernel sends exe, cwd and argv only on the first
//! event of a process image, keyed by (tgid, start time, mm), so a reused pid or an exec can never be
//! served a stale context. `/proc` is read only here, when that first event was lost.

use crate::record::split_argv;
use crate::script::script_of;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Identity of a process image: pid reuse changes the start time, exec changes the mm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcKey {
    pub tgid: u32,
    pub start_time: u64,
    pub mm: u64,
}

/// What the kernel sent once per process image, plus the script recognised from it (computed once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcContext {
    pub exe_path: Option<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub cmdline: Vec<Vec<u8>>,
    pub cmdline_truncated: bool,
    pub script: Option<Vec<u8>>,
    /// The `Ids` section, when the kernel sent it.
    pub ids: Option<std::rc::Rc<crate::event::ProcessIds>>,
}

impl ProcContext {
    pub fn new(
        exe_path: Option<Vec<u8>>,
        cwd: Option<Vec<u8>>,
        cmdline: Vec<Vec<u8>>,
        cmdline_truncated: bool,
    ) -> ProcContext {
        let script = script_of(&cmdline, exe_path.as_deref(), cwd.as_deref());
        ProcContext {
            exe_path,
            cwd,
            cmdline,
            cmdline_truncated,
            script,
            ids: None,
        }
    }

    /// The context of the live process `tgid` that started at `start_ns` (the kernel's
    /// CLOCK_MONOTONIC start time), from /proc: None when /proc/TGID is another process (a reused
    /// pid) or gone.
    pub fn from_proc_started(tgid: u32, start_ns: u64) -> Option<ProcContext> {
        let ticks = start_ticks(tgid)?;
        if ticks.abs_diff(ticks_of(start_ns)) > 1 {
            return None;
        }
        ProcContext::from_proc(tgid)
    }

    /// The context of a live process from /proc, for when its first event was lost.
    pub fn from_proc(tgid: u32) -> Option<ProcContext> {
        use std::os::unix::ffi::OsStrExt;
        let dir = format!("/proc/{tgid}");
        let raw = std::fs::read(format!("{dir}/cmdline")).ok()?;
        let cmdline = split_argv(&raw);
        let link = |name: &str| {
            std::fs::read_link(format!("{dir}/{name}"))
                .ok()
                .map(|p| p.as_os_str().as_bytes().to_vec())
        };
        Some(ProcContext::new(link("exe"), link("cwd"), cmdline, false))
    }
}

/// Hasher for `ProcKey`: a multiply-rotate mix (as in rustc's FxHash). Keys come from the kernel (pids,
/// start times, mm addresses), not from an adversary, so SipHash's flood resistance buys nothing here and
/// it cost ~10% of the per-event user-space time.
#[derive(Default)]
pub struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
}

/// Bounded cache of process contexts; cleared wholesale when full (misses refill from the kernel).
pub struct ProcCache {
    map: HashMap<ProcKey, ProcContext, BuildHasherDefault<KeyHasher>>,
    /// (tgid, start time) → the mm of its latest image and when that image was seen (monotonic ns):
    /// a process's current image when only the process is known (an exit, whose mm is gone; a
    /// parent). Latest by the kernel's time, not by insertion: rings are read one CPU after another,
    /// so a process that execs twice on two CPUs may have its newer image read first.
    latest: HashMap<(u32, u64), (u64, u64), BuildHasherDefault<KeyHasher>>,
    cap: usize,
    /// Bumped by every change: what was taken from the cache is current while it stays the same.
    generation: u64,
}

impl ProcCache {
    pub fn new(cap: usize) -> ProcCache {
        ProcCache {
            map: HashMap::default(),
            latest: HashMap::default(),
            cap,
            generation: 0,
        }
    }

    pub fn get(&self, key: &ProcKey) -> Option<&ProcContext> {
        self.map.get(key)
    }

    /// Caches the context of image `key`, seen in a record of monotonic time `seen_ns`.
    pub fn insert(&mut self, key: ProcKey, ctx: ProcContext, seen_ns: u64) {
        if self.map.len() >= self.cap {
            self.map.clear();
            self.latest.clear();
        }
        self.map.insert(key, ctx);
        let latest = self
            .latest
            .entry((key.tgid, key.start_time))
            .or_insert((key.mm, seen_ns));
        if seen_ns >= latest.1 {
            *latest = (key.mm, seen_ns);
        }
        self.generation += 1;
    }

    /// Changes with every insert (and so with every clear).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The latest image of process (tgid, start time).
    pub fn latest(&self, tgid: u32, start_time: u64) -> Option<(ProcKey, &ProcContext)> {
        let &(mm, _) = self.latest.get(&(tgid, start_time))?;
        let key = ProcKey {
            tgid,
            start_time,
            mm,
        };
        self.map.get(&key).map(|c| (key, c))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A process's start in clock ticks of CLOCK_BOOTTIME, from /proc/PID/stat (field 22).
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The kernel's start time (CLOCK_MONOTONIC ns) as /proc shows it: ticks of CLOCK_BOOTTIME, which runs
/// ahead of the monotonic clock by the time suspended.
pub fn ticks_of(start_ns: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid out-parameter.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let suspended = now(libc::CLOCK_BOOTTIME).saturating_sub(now(libc::CLOCK_MONOTONIC));
    (start_ns + suspended) / (1_000_000_000 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(exe: &str) -> ProcContext {
        ProcContext::new(Some(exe.as_bytes().to_vec()), None, Vec::new(), false)
    }

    /// Two execs of one process read in the wrong order (two CPUs' rings): the later one stays latest.
    #[test]
    fn latest_image_is_the_one_seen_last_by_the_kernel() {
        let mut cache = ProcCache::new(16);
        let key = |mm| ProcKey {
            tgid: 7,
            start_time: 100,
            mm,
        };
        cache.insert(key(2), ctx("/usr/bin/python3"), 2_000);
        cache.insert(key(1), ctx("/usr/bin/bash"), 1_000);
        let (k, c) = cache.latest(7, 100).unwrap();
        assert_eq!(k.mm, 2);
        assert_eq!(c.exe_path.as_deref(), Some(&b"/usr/bin/python3"[..]));
        cache.insert(key(3), ctx("/usr/bin/perl"), 3_000);
        assert_eq!(cache.latest(7, 100).unwrap().0.mm, 3);
        assert!(cache.latest(7, 101).is_none());
    }
}
