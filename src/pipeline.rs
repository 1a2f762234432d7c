//! The pipeline as a library: a `Monitor` configured with kinds, filters and paths loads and attaches
//! the probes, then each `poll` drains the perf rings and hands every event, in time order, decoded and
//! enriched with its process's context, to a callback (or `Monitor::events`, an iterator). Formatting,
//! output, signals and exit statuses are the CLI's (`crate::monitor`).

pub use crate::perfbuf::Wake;

use crate::bpf::gen::{dir_names_fit, NameSuffix};
use crate::bpf::kinds::close;
use crate::bpf::layout::{
    MERGE_KEY_LEN, MERGE_VALUE_LEN, STAT_COUNT, STAT_FAILED, STAT_FILTERED, STAT_OUTPUT_ERR,
    STAT_PATH_EARLY, STAT_UNTRACKED,
};
use crate::bpf::typed::Typed;
use crate::btf::Btf;
use crate::enrich::process::Enricher;
use crate::event::Event;
use crate::kinds::{Group, Op, OpSet};
use crate::lineage::Lineage;
use crate::loss::{LossReporter, LossTotals, Stats};
use crate::monitors::Registry;
use crate::offsets::KernelOffsets;
use crate::open_files::OpenFiles;
use crate::perf_ring::Record;
use crate::perfbuf::PerfBuffer;
use crate::probes::{choose_hook, generate, Filters, Generated, HookKind, Probes};
use crate::proc_cache::{ProcCache, ProcContext, ProcKey};
use crate::record::{
    carries_context, decode_context, decode_into, fill_context, merged_record, mono_ns_of,
    open_handle,
};
use crate::rules::{Alerter, Pattern, Rules, Verdict};
use crate::sys::map::Map;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Extensions watched when none are given.
pub const DEFAULT_EXTENSIONS: [&str; 3] = ["txt", "log", "json"];
/// Ring size per CPU, in pages.
pub const DEFAULT_BUFFER_PAGES: u32 = 64;

/// Which kernel hook feeds events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Kprobes on the VFS functions when the kernel has kprobes, else the syscall tracepoints.
    Auto,
    Kprobe,
    Tracepoint,
}

/// How long one poll of `Monitor::events` sleeps: bounds the latency of events below the wakeup
/// watermark.
const EVENTS_POLL_MS: i32 = 100;
/// Process contexts kept; the cache is cleared when full (the kernel then sends them again).
const PROC_CACHE_ENTRIES: usize = 8192;

/// What to watch. `Default` is what `sudo filespy` watches: writes of `.txt`, `.log` and `.json`
/// files by anyone, hooked as `--attach auto` chooses, 64 ring pages per CPU.
///
/// ```
/// use filespy::kinds::Op;
/// use filespy::pipeline::{AttachMode, Options};
///
/// let opts = Options::default();
/// assert!(opts.kinds.contains(Op::Write) && !opts.kinds.contains(Op::Delete));
/// assert_eq!(opts.extensions, ["txt", "log", "json"]);
/// assert_eq!((opts.attach, opts.buffer_pages), (AttachMode::Auto, 64));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The kinds of event to report (`--events`).
    pub kinds: OpSet,
    /// File extensions without the dot (`--ext`, at most 256 of at most 16 bytes); ignored when
    /// `all_files`.
    pub extensions: Vec<String>,
    /// No extension filter (`--all-files`).
    pub all_files: bool,
    /// Process ids (tgids) to watch; empty = all.
    pub pids: Vec<u32>,
    /// Real uids to watch; empty = all.
    pub uids: Vec<u32>,
    /// Command names (at most 15 bytes) to watch; empty = all.
    pub comms: Vec<String>,
    /// Absolute directory prefixes in normal form (no `//`, `.`, `..` or trailing `/`); empty = all.
    pub paths: Vec<PathBuf>,
    pub attach: AttachMode,
    /// Per-CPU ring size in pages: a power of two.
    pub buffer_pages: u32,
    /// BTF file to use instead of /sys/kernel/btf/vmlinux.
    pub btf: Option<PathBuf>,
    /// Sensitive-file rules: each matching event carries `alert` (`--rules`, `--alerts`).
    pub rules: Option<Rules>,
    /// Only the events that match a rule (`--alerts`; needs `rules`). The kernel then filters by the
    /// rules' directories instead of the extensions.
    pub alerts_only: bool,
    /// Repeats of one (rule, process, file) within this are counted, not sent.
    pub alert_window: Duration,
    /// Load kernel memory directly through BTF-typed pointers where the kernel allows it (probed);
    /// false: always through `bpf_probe_read_kernel`, as on kernels without them (`--probe-reads`).
    pub typed_reads: bool,
    /// Writes and reads that find the ring full are merged in the kernel and delivered later as
    /// one event each per (process image, file) with `merged` (the default); false: lost and counted
    /// (`--no-merge`).
    pub merge_overflow: bool,
}

/// What the kernel's path filter passes (`Options::kernel_paths`): a file under one of `dirs`, or
/// whose name ends as one of `names`, or with one of `dir_names` among its directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct KernelPaths {
    dirs: Vec<Vec<u8>>,
    names: Vec<NameSuffix>,
    dir_names: Vec<Vec<u8>>,
}

/// How often `Monitor::poll` takes the merged writes from the kernel.
const MERGE_TAKE_EVERY: Duration = Duration::from_millis(200);

/// `--alert-window`'s default.
pub const DEFAULT_ALERT_WINDOW: Duration = Duration::from_secs(60);

impl Default for Options {
    fn default() -> Options {
        Options {
            kinds: OpSet::only(Op::Write),
            extensions: DEFAULT_EXTENSIONS.iter().map(|e| e.to_string()).collect(),
            all_files: false,
            pids: Vec::new(),
            uids: Vec::new(),
            comms: Vec::new(),
            paths: Vec::new(),
            attach: AttachMode::Auto,
            buffer_pages: DEFAULT_BUFFER_PAGES,
            btf: None,
            rules: None,
            alerts_only: false,
            alert_window: DEFAULT_ALERT_WINDOW,
            typed_reads: true,
            merge_overflow: true,
        }
    }
}

impl Options {
    /// The part of the options the kernel applies.
    fn filters(&self) -> Filters {
        let KernelPaths {
            dirs: paths,
            names,
            dir_names,
        } = self.kernel_paths();
        Filters {
            exts: self.ext_bytes(),
            all_files: self.all_files || self.alerts(),
            pids: self.pids.clone(),
            uids: self.uids.clone(),
            comms: self.comms.iter().map(|c| c.as_bytes().to_vec()).collect(),
            paths,
            names,
            dir_names,
            events: self.kinds,
            merge: self.merge_overflow,
        }
    }

    /// Whether only alerts are reported.
    fn alerts(&self) -> bool {
        self.alerts_only && self.rules.is_some()
    }

    /// What the kernel's path filter passes: `paths`; or, for alerts only, the directories the rules'
    /// matches lie under, the names their suffixes end with and the directory names their globs
    /// without a fixed directory need (`/**/secrets/**`); nothing, so no filter, when a rule can
    /// match anywhere else.
    fn kernel_paths(&self) -> KernelPaths {
        use std::os::unix::ffi::OsStrExt;
        if !self.paths.is_empty() || !self.alerts() {
            let paths = self.paths.iter().map(|p| p.as_os_str().as_bytes().to_vec());
            return KernelPaths {
                dirs: paths.collect(),
                ..KernelPaths::default()
            };
        }
        let rules = self.rules.as_ref().map_or(&[][..], |r| &r.rules[..]);
        let mut kp = KernelPaths::default();
        for r in rules {
            // Under `/` is anywhere: no directory to test.
            let fixed = r
                .pattern
                .fixed_dirs()
                .filter(|d| d.iter().all(|d| d != "/"));
            if let Some(fixed) = fixed {
                kp.dirs.extend(fixed.into_iter().map(String::into_bytes));
            } else if let Pattern::Suffix(s) = &r.pattern {
                match NameSuffix::of(s) {
                    Some(n) => kp.names.push(n),
                    None => return KernelPaths::default(),
                }
            } else if let Some(d) = r.pattern.dir_name() {
                kp.dir_names.push(d.into_bytes());
            } else {
                return KernelPaths::default();
            }
        }
        kp.dirs.sort();
        kp.dirs.dedup();
        kp.names.dedup();
        kp.dir_names.sort();
        kp.dir_names.dedup();
        if !dir_names_fit(&kp.dir_names) {
            return KernelPaths::default();
        }
        kp
    }

    fn ext_bytes(&self) -> Vec<Vec<u8>> {
        self.extensions
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect()
    }

    /// A prefix not in normal form would silently match nothing (`--path` normalises for the CLI).
    fn check_paths(&self) -> Result<(), String> {
        use std::os::unix::ffi::OsStrExt;
        for p in &self.paths {
            let b = p.as_os_str().as_bytes();
            let normal = b == b"/"
                || (b.starts_with(b"/")
                    && b[1..]
                        .split(|&c| c == b'/')
                        .all(|c| !c.is_empty() && c != b"." && c != b".."));
            if !normal {
                return Err(format!(
                    "path {:?} is not an absolute prefix in normal form (no '//', '.', '..' or trailing '/')",
                    p.display()
                ));
            }
        }
        Ok(())
    }
}

/// The kernel's struct layouts, from `btf` or the running kernel's BTF.
pub fn kernel_offsets(btf: Option<&Path>) -> Result<KernelOffsets, String> {
    let btf = Btf::load(btf).map_err(|e| e.to_string())?;
    KernelOffsets::from_btf(&btf).map_err(|e| e.to_string())
}

/// `kernel_offsets` with the typed reads this kernel accepts for `hook`'s programs, probed by
/// loading; without the privilege to load (`--dump-prog` as a plain user) what BTF offers. With an
/// external BTF file, whose type ids need not be the kernel's, nothing is typed.
pub fn probed_offsets(opts: &Options, hook: HookKind) -> Result<KernelOffsets, String> {
    let btf = Btf::load(opts.btf.as_deref()).map_err(|e| e.to_string())?;
    let mut k = KernelOffsets::from_btf(&btf).map_err(|e| e.to_string())?;
    if opts.typed_reads && opts.btf.is_none() {
        let offer = Typed::from_btf(&btf);
        k.typed = crate::probes::probe_typed(&k, &offer, hook).unwrap_or(offer);
    }
    Ok(k)
}

/// The programs a `Monitor` with `opts` would load on this kernel, for `--dump-prog` (needs BTF, not
/// privileges; nothing is loaded but the typed-read probes, where privileged).
pub fn programs(opts: &Options) -> Result<Vec<Generated>, String> {
    let hook = choose_hook(opts.attach).map_err(|e| e.to_string())?;
    let k = probed_offsets(opts, hook)?;
    generate(&k, hook, &opts.filters(), std::process::id()).map_err(|e| e.to_string())
}

/// What user space did with the records it read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events handed to the callback.
    pub delivered: u64,
    /// Events dropped by the filters the kernel does not apply (`paths`, and `extensions` for the
    /// kinds other than write).
    pub user_filtered: u64,
    /// Records that did not decode.
    pub malformed: u64,
    /// Alerts not sent: repeats within the window (the next one sent carries their number).
    pub alert_repeats: u64,
    /// The calls that the merged events delivered stand for beyond themselves (Σ count − 1).
    pub merged_extra: u64,
}

/// An event with its script, owned: what `Monitor::events` yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub event: Event,
    /// The script an interpreter ran, when the process is one (`python3 /x/y.py` → `/x/y.py`).
    pub script: Option<Vec<u8>>,
}

/// A running monitor: probes attached, rings open, registered in the registry of monitors so no other
/// filespy reports its activity (nor it theirs). Dropping it detaches everything.
///
/// Watching writes, deletes and renames under /etc (needs root):
///
/// ```no_run
/// use filespy::kinds::{Op, OpSet};
/// use filespy::pipeline::{Monitor, Options};
/// use std::ops::ControlFlow;
///
/// let opts = Options {
///     kinds: OpSet::only(Op::Write).with(Op::Delete).with(Op::Rename),
///     all_files: true,
///     extensions: Vec::new(),
///     paths: vec!["/etc".into()],
///     ..Options::default()
/// };
/// let mut monitor = Monitor::open(&opts)?;
/// let mut seen = 0;
/// while seen < 10 {
///     monitor.poll(100, None, |event, script| {
///         let path = String::from_utf8_lossy(&event.file.path);
///         let comm = String::from_utf8_lossy(&event.process.comm);
///         println!("{} {path} by {comm} (pid {}), script {script:?}", event.op.name(), event.process.pid);
///         seen += 1;
///         ControlFlow::Continue(())
///     })?;
/// }
/// monitor.finish(|_, _| ControlFlow::Continue(()));
/// println!("{} delivered, {} lost", monitor.counters().delivered, monitor.stats().lost);
///
/// // Or as an iterator of owned events (it polls every 100 ms):
/// let mut monitor = Monitor::open(&opts)?;
/// for delivered in monitor.events().take(10) {
///     let delivered = delivered?;
///     println!("{}", String::from_utf8_lossy(&delivered.event.file.path));
/// }
/// # Ok::<(), String>(())
/// ```
pub struct Monitor {
    // Field order is drop order: the rings go before the probes, the registry entry last.
    rings: PerfBuffer,
    probes: Probes,
    _registry: Registry,
    stream: Stream,
    unshared: Option<String>,
    kprobe_fallback: Option<String>,
    /// The generation the programs add merged writes to (`merge_gen`), and when user space last
    /// took the older ones.
    merge_gen: u32,
    merge_taken: Instant,
    /// What the programs load directly (`Typed::describe`).
    kernel_reads: String,
    /// Why the typed reads the probe accepted were refused by a program (then none are used).
    typed_refused: Option<String>,
    finished: bool,
}

impl Monitor {
    /// Loads the programs for this kernel, opens the rings, then attaches (so nothing is lost at
    /// start). Under `AttachMode::Auto` a kprobe that cannot be placed falls back to the syscall
    /// tracepoints (`kprobe_fallback` says why).
    pub fn open(opts: &Options) -> Result<Monitor, String> {
        opts.check_paths()?;
        let hook = choose_hook(opts.attach).map_err(|e| e.to_string())?;
        let mut k = probed_offsets(opts, hook)?;
        if hook == HookKind::Kprobe {
            let _ = crate::attach::remove_stale_kprobe_events();
        }
        let filters = opts.filters();
        // Who this process is, as the kernel knows it (the host tgid, also in a container's pid
        // namespace), registered where every filespy's programs look, so none reports another's output.
        let (mut registry, unshared) = Registry::open().map_err(|e| e.to_string())?;
        let me = registry.register_self(&k).map_err(|e| e.to_string())?;
        // Wake the reader once a quarter of a ring is used, not per event.
        let pages = opts.buffer_pages as usize;
        let wakeup = (pages * crate::sys::mmap::page_size() / 4).max(1) as u32;
        let load = |k: &KernelOffsets, hook| -> Result<(Probes, PerfBuffer), String> {
            let probes = Probes::load_with(k, hook, &filters, me, Some(&registry.map))
                .map_err(|e| e.to_string())?;
            let rings =
                PerfBuffer::open(&probes.maps.events, pages, wakeup).map_err(|e| e.to_string())?;
            Ok((probes, rings))
        };
        // The probe tried the filtered path's loads; should a program the probe did not cover be
        // refused with typed reads, it is all read through the helper instead, and said so.
        let mut typed_refused = None;
        let (mut probes, mut rings) = match load(&k, hook) {
            Err(e) if k.typed != Typed::none() => {
                k.typed = Typed::none();
                typed_refused = Some(e);
                load(&k, hook)?
            }
            r => r?,
        };
        let mut kprobe_fallback = None;
        if let Err(e) = probes.attach() {
            if hook != HookKind::Kprobe || opts.attach != AttachMode::Auto {
                return Err(e.to_string());
            }
            drop(rings);
            drop(probes);
            let fell_back = |why: String| {
                format!("kprobe attach failed ({e}); falling back to syscall tracepoints: {why}")
            };
            (probes, rings) = load(&k, HookKind::Tracepoint).map_err(fell_back)?;
            probes.attach().map_err(|why| fell_back(why.to_string()))?;
            kprobe_fallback = Some(e.to_string());
        }
        let opens = if opts.kinds.contains(Op::Close) {
            Some(probes.maps.opens.try_clone().map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(Monitor {
            rings,
            probes,
            _registry: registry,
            stream: Stream::new(opts, opens),
            unshared,
            kprobe_fallback,
            merge_gen: 0,
            merge_taken: Instant::now(),
            kernel_reads: k.typed.describe(),
            typed_refused,
            finished: false,
        })
    }

    /// How the programs are hooked in.
    pub fn hook(&self) -> HookKind {
        self.probes.hook
    }

    /// How many CPUs have a ring.
    pub fn cpus(&self) -> usize {
        self.rings.cpus().len()
    }

    /// Why the registry of monitors is private to this one, if it is (other filespy instances'
    /// activity is then not excluded).
    pub fn unshared_reason(&self) -> Option<&str> {
        self.unshared.as_deref()
    }

    /// Why the kprobes could not be attached, when `Auto` fell back to the syscall tracepoints.
    pub fn kprobe_fallback(&self) -> Option<&str> {
        self.kprobe_fallback.as_deref()
    }

    /// How the programs read kernel memory: the typed-read features in force (`task_btf`,
    /// `rdonly_cast`, `untrusted_mem`), or `probe_read`.
    pub fn kernel_reads(&self) -> &str {
        &self.kernel_reads
    }

    /// The verifier's refusal of a program with typed reads, when it had to fall back to none.
    pub fn typed_refused(&self) -> Option<&str> {
        self.typed_refused.as_deref()
    }

    /// Waits up to `timeout_ms` for a ring to fill to its watermark or `extra_fd` (e.g. a signalfd) to
    /// become readable, then drains every ring and calls `on_event` for each event, in time order
    /// within the drain. An event whose process context was sent on a ring drained later waits for
    /// the next poll. `ControlFlow::Break` stops the monitor: nothing more is delivered, by this poll
    /// or later ones, and `finish` does not drain.
    pub fn poll<F>(
        &mut self,
        timeout_ms: i32,
        extra_fd: Option<RawFd>,
        mut on_event: F,
    ) -> Result<Wake, String>
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        let wake = self
            .rings
            .poll(extra_fd, timeout_ms)
            .map_err(|e| e.to_string())?;
        self.drain(&mut on_event, false);
        self.take_merged(&mut on_event, false);
        Ok(wake)
    }

    /// Every `MERGE_TAKE_EVERY` (and with `all`, at the end): starts a new generation of `merged`
    /// and delivers the entries of those before the one just ended, which no program can still be
    /// adding to (a program runs for microseconds); with `all` (probes detached) every entry.
    fn take_merged<F>(&mut self, on_event: &mut F, all: bool)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        if !all && self.merge_taken.elapsed() < MERGE_TAKE_EVERY {
            return;
        }
        self.merge_taken = Instant::now();
        let maps = &self.probes.maps;
        let (prev, gen) = (self.merge_gen, self.merge_gen.wrapping_add(1));
        if maps
            .merge_gen
            .update(&0u32.to_ne_bytes(), &gen.to_ne_bytes(), 0)
            .is_err()
        {
            return;
        }
        self.merge_gen = gen;
        let mut keys = Vec::new();
        let mut next = vec![0u8; MERGE_KEY_LEN as usize];
        while maps
            .merged
            .next_key(keys.last().map(Vec::as_slice), &mut next)
            .unwrap_or(false)
        {
            keys.push(next.clone());
        }
        let mut value = vec![0u8; MERGE_VALUE_LEN as usize];
        let stream = &mut self.stream;
        for key in &keys {
            let g = u32::from_ne_bytes(key[..4].try_into().expect("4 bytes"));
            if !all && (g == gen || g == prev) {
                continue;
            }
            if maps.merged.lookup(key, &mut value).unwrap_or(false) {
                let _ = maps.merged.delete(key);
                if let Some(rec) = merged_record(&value) {
                    stream.record(Record::Sample(&rec));
                }
            }
        }
        stream.deliver_batch(on_event, all);
        self.forget_processes();
    }

    /// Makes the kernel send again the context of the processes user space missed it for.
    fn forget_processes(&mut self) {
        for tgid in self.stream.forget.drain(..) {
            self.probes.forget_process(tgid);
        }
    }

    /// Deliver nothing more: later polls and `finish` leave what the rings hold unread.
    pub fn stop(&mut self) {
        self.stream.stopped = true;
    }

    /// Detaches the probes, delivers what they sent before (unless stopped), then counts as lost what
    /// the kernel failed to output but never reported. Later polls deliver nothing.
    pub fn finish<F>(&mut self, mut on_event: F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        if self.finished {
            return;
        }
        self.finished = true;
        self.probes.detach();
        self.drain(&mut on_event, true);
        self.take_merged(&mut on_event, true);
        self.stream.stopped = true;
        self.reconcile_losses();
    }

    /// An endless iterator of owned events (`poll` with a 100 ms timeout, repeated); it ends after
    /// yielding an error.
    pub fn events(&mut self) -> Events<'_> {
        Events {
            monitor: self,
            queue: VecDeque::new(),
            failed: false,
        }
    }

    /// What user space did with the records so far.
    pub fn counters(&self) -> Counters {
        self.stream.counters
    }

    /// Events lost so far, per CPU (ring full, and after `finish` the kernel's failed outputs).
    pub fn losses(&self) -> LossTotals {
        self.stream.loss.totals()
    }

    /// Writes one line about losses not reported yet, at most one a second (see `LossReporter`).
    pub fn report_losses(
        &mut self,
        now: Instant,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<bool> {
        self.stream.loss.maybe_report(now, out)
    }

    /// The kernel's counters, summed over CPUs, indexed by `bpf::layout::STAT_*` (zeros if the map
    /// cannot be read).
    pub fn kernel_stats(&self) -> [u64; STAT_COUNT as usize] {
        self.probes.stats().unwrap_or_default()
    }

    /// The totals so far, as `--stats` prints them (`events` counts what was delivered).
    pub fn stats(&self) -> Stats {
        let k = self.kernel_stats();
        let mut stats = Stats {
            events: self.stream.counters.delivered,
            filtered: k[STAT_FILTERED as usize]
                + k[STAT_PATH_EARLY as usize]
                + self.stream.counters.user_filtered
                + self.stream.counters.alert_repeats,
            failed_writes: k[STAT_FAILED as usize],
            lost_closes: k[STAT_UNTRACKED as usize] + self.stream.open_files.forgotten,
            merged: self.stream.counters.merged_extra,
            ..Stats::default()
        };
        stats.set_losses(&self.stream.loss.totals());
        stats
    }

    /// One round: read every ring, deliver in time order what can be, and on the `last` round also the
    /// records still waiting for their context.
    fn drain<F>(&mut self, on_event: &mut F, last: bool)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        let stream = &mut self.stream;
        stream.enricher.check_names();
        let older = std::mem::take(&mut stream.orphans);
        self.rings.drain(|_cpu, rec| stream.record(rec));
        // Every ring has now been drained once since these were read: their context, if sent, is in.
        stream.settle(older, on_event);
        stream.deliver_batch(on_event, last);
        self.forget_processes();
        if std::mem::take(&mut self.stream.ring_lost) {
            self.reconcile_losses();
        }
    }

    /// The kernel's per-CPU count of outputs that failed and were not merged is exact: losses are
    /// what it says beyond those already recorded (a ring's LOST records count merged calls too,
    /// and come only ahead of the next sample that fits).
    fn reconcile_losses(&mut self) {
        let Ok(failed) = self.probes.stat_per_cpu(STAT_OUTPUT_ERR) else {
            return;
        };
        let seen = self.stream.loss.totals().per_cpu;
        for (cpu, &n) in (0u32..).zip(failed.iter()) {
            let recorded = seen.iter().find(|(c, _)| *c == cpu).map_or(0, |&(_, r)| r);
            if n > recorded {
                self.stream.loss.record(cpu, n - recorded, Instant::now());
            }
        }
    }
}

/// `Monitor::events`.
pub struct Events<'a> {
    monitor: &'a mut Monitor,
    queue: VecDeque<Delivered>,
    failed: bool,
}

impl Iterator for Events<'_> {
    type Item = Result<Delivered, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(d) = self.queue.pop_front() {
                return Some(Ok(d));
            }
            if self.failed || self.monitor.finished {
                return None;
            }
            let queue = &mut self.queue;
            let polled = self.monitor.poll(EVENTS_POLL_MS, None, |event, script| {
                queue.push_back(Delivered {
                    event: event.clone(),
                    script: script.map(<[u8]>::to_vec),
                });
                ControlFlow::Continue(())
            });
            if let Err(e) = polled {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}

/// The user-space half of the pipeline without the kernel, for benchmarks: raw records (as a ring
/// holds them, see `bpf::layout`) go through the same batch, time sort, decode, process cache,
/// lineage and enrichment as a `Monitor`'s.
pub struct Replay {
    stream: Stream,
}

impl Replay {
    pub fn new(opts: &Options) -> Replay {
        Replay {
            stream: Stream::new(opts, None),
        }
    }

    /// One record read from a ring.
    pub fn record(&mut self, data: &[u8]) {
        self.stream.record(Record::Sample(data));
    }

    /// Delivers the records given since the last call, as one drain of the rings does.
    pub fn deliver<F>(&mut self, mut on_event: F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        let stream = &mut self.stream;
        stream.enricher.check_names();
        let older = std::mem::take(&mut stream.orphans);
        stream.settle(older, &mut on_event);
        stream.process_batch(&mut on_event);
    }

    pub fn counters(&self) -> Counters {
        self.stream.counters
    }
}

/// The user-space state of the pipeline: records between the rings and the callback.
struct Stream {
    /// Processes whose context the kernel must send again (applied after each drain).
    forget: Vec<u32>,
    /// Records whose process context was not cached when read. Rings are drained one CPU
    /// after another, so the context-carrying first event of a process may sit in a ring drained later
    /// (another thread, or the process moved CPUs); these wait for one more drain before falling back.
    orphans: Vec<Vec<u8>>,
    /// The records of one drain, copied out of the rings so they can be delivered in time order: each
    /// ring is in order, but one after another they are not.
    batch: Vec<Pending>,
    arena: Vec<u8>,
    cache: ProcCache,
    /// Exits matched to their image, forked children's inherited context, I/O per process.
    lineage: Lineage,
    /// Names, entity ids, parent and container of each event's process.
    enricher: Enricher,
    event: Event,
    /// What the process part of `event` (context and enrichment) was last filled for: while the next
    /// event is of the same process image, uid, gid and parent, and neither the cache nor the
    /// enricher changed, that part is already what filling would give and is not filled again (a
    /// single writer's events are consecutive once sorted).
    filled: Option<Filled>,
    /// `extensions` for the kinds the kernel does not filter by extension (all but `write`).
    exts: Vec<Vec<u8>>,
    all_files: bool,
    paths: Vec<PathBuf>,
    loss: LossReporter,
    counters: Counters,
    stopped: bool,
    /// A ring reported dropped samples since the last `Monitor::reconcile_losses`.
    ring_lost: bool,
    /// The rules, when any apply.
    alerter: Option<Alerter>,
    /// The kinds reported: a tracked `open` and an `exit` are read for `close` even when they are not.
    kinds: OpSet,
    /// `close` is watched: the kernel's tracked opens, and what user space knows of them.
    opens: Option<Map>,
    open_files: OpenFiles,
}

/// What `Stream::filled` compares: everything `fill_context` and `Enricher::enrich` read.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Filled {
    key: ProcKey,
    uid: u32,
    gid: u32,
    ppid: u32,
    cache: u64,
    enricher: (u64, u64),
}

/// A record of the current batch: its monotonic time and place in the arena.
struct Pending {
    mono_ns: u64,
    start: usize,
    len: usize,
}

impl Stream {
    fn new(opts: &Options, opens: Option<Map>) -> Stream {
        Stream {
            forget: Vec::new(),
            orphans: Vec::new(),
            batch: Vec::new(),
            arena: Vec::new(),
            cache: ProcCache::new(PROC_CACHE_ENTRIES),
            lineage: Lineage::new(),
            enricher: Enricher::system(),
            event: Event::default(),
            filled: None,
            exts: opts.ext_bytes(),
            all_files: opts.all_files || opts.alerts(),
            paths: opts.paths.clone(),
            loss: LossReporter::new(),
            counters: Counters::default(),
            stopped: false,
            ring_lost: false,
            alerter: opts
                .rules
                .clone()
                .map(|r| Alerter::new(r, opts.alerts_only, opts.alert_window)),
            kinds: opts.kinds,
            opens,
            open_files: OpenFiles::new(),
        }
    }

    fn record(&mut self, rec: Record<'_>) {
        match rec {
            Record::Sample(data) => {
                // A process's context is cached as soon as its record is read, so events of the same
                // batch sorted before it (or read from other rings) find it.
                if carries_context(data) {
                    if let Some((key, mut ctx, argv_fault)) = decode_context(data) {
                        if argv_fault && ctx.cmdline.is_empty() {
                            // The kernel could not read argv (paged out): /proc still has it while
                            // the process lives.
                            if let Some(live) =
                                ProcContext::from_proc_started(key.tgid, key.start_time)
                            {
                                ctx = ProcContext::new(
                                    ctx.exe_path,
                                    ctx.cwd,
                                    live.cmdline,
                                    ctx.cmdline_truncated,
                                );
                            }
                        }
                        self.cache.insert(key, ctx, mono_ns_of(data));
                    }
                }
                self.batch.push(Pending {
                    mono_ns: mono_ns_of(data),
                    start: self.arena.len(),
                    len: data.len(),
                });
                self.arena.extend_from_slice(data);
            }
            // The ring dropped samples, but write and read programs merge what does not fit:
            // the loss is what the kernel counted as an output error (`reconcile_losses`).
            Record::Lost(_) => self.ring_lost = true,
            Record::Other(_) => {}
        }
    }

    /// `process_batch`, and on the `last` round also the records still waiting for their context.
    fn deliver_batch<F>(&mut self, on_event: &mut F, last: bool)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        self.process_batch(on_event);
        if last {
            let rest = std::mem::take(&mut self.orphans);
            self.settle(rest, on_event);
        }
    }

    /// Delivers the records of this drain in time order.
    fn process_batch<F>(&mut self, on_event: &mut F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        let mut batch = std::mem::take(&mut self.batch);
        let arena = std::mem::take(&mut self.arena);
        batch.sort_by_key(|p| p.mono_ns);
        for p in &batch {
            self.sample(&arena[p.start..p.start + p.len], true, on_event);
        }
        batch.clear();
        self.batch = batch;
        self.arena = arena;
        self.arena.clear();
    }

    /// Decodes again, without further waiting, the records set aside in the previous round.
    fn settle<F>(&mut self, orphans: Vec<Vec<u8>>, on_event: &mut F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        for data in orphans {
            self.sample(&data, false, on_event);
        }
    }

    fn sample<F>(&mut self, data: &[u8], may_wait: bool, on_event: &mut F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        if self.stopped {
            return;
        }
        let mut key = match decode_into(data, &mut self.event) {
            Ok(k) => k,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let op = self.event.op;
        if self.opens.is_some() {
            match (op, open_handle(data)) {
                (Op::Open, Some(h)) => {
                    self.open_files
                        .opened(h, (key.tgid, key.start_time), &self.event.file)
                }
                (Op::Close, Some(h)) => self.open_files.closed(h),
                _ => {}
            }
        }
        let report = self.kinds.contains(op);
        if !report && op != Op::Exit {
            // A tracked open, for its close only.
            return;
        }
        if !self.wanted() {
            self.counters.user_filtered += 1;
            return;
        }
        if op == Op::Exit && self.opens.is_some() && may_wait {
            // Its process's tracked opens may sit in a ring not drained yet (it ran on another
            // CPU): after one more drain every record older than this one is in.
            self.orphans.push(data.to_vec());
            return;
        }
        if !report && !self.open_files.holds((key.tgid, key.start_time)) {
            // An exit read for its opens, and it had none: nothing to look up.
            self.lineage.after(&mut self.event);
            return;
        }
        self.lineage.resolve(&self.event, &mut key, &self.cache);
        let cached = self.cache.get(&key).is_some();
        if !cached && may_wait {
            self.orphans.push(data.to_vec());
            return;
        }
        if !cached {
            // The event that carried this process's context was lost (or evicted): take it from /proc
            // while the process lives, and have the kernel send it again with the next event.
            self.forget.push(key.tgid);
            if let Some(ctx) = ProcContext::from_proc_started(key.tgid, key.start_time) {
                self.cache.insert(key, ctx, self.event.mono_ns);
            }
        }
        if op == Op::Exit && self.opens.is_some() {
            self.end_opens(&key, on_event);
            if self.stopped {
                return;
            }
        }
        if !report {
            // An exit read for the opens it ends: its summary is dropped, the event not delivered.
            self.lineage.after(&mut self.event);
            return;
        }
        self.deliver(&key, on_event);
    }

    /// The exit in `self.event` ends the opens its process still holds: a `close` event each, at the
    /// exit, by the exiting process.
    fn end_opens<F>(&mut self, key: &ProcKey, on_event: &mut F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        let Some(opens) = self.opens.as_ref() else {
            return;
        };
        let opener = (self.event.process.pid, self.event.start_time);
        let ended = self.open_files.take_process(opener, opens);
        if ended.is_empty() {
            return;
        }
        let exit = self.event.clone();
        for (file, totals) in ended {
            let ev = &mut self.event;
            ev.op = Op::Close;
            ev.via = close::VIA[close::VIA_EXIT as usize];
            ev.exit = None;
            ev.file = file;
            ev.file.reads = totals.reads;
            ev.file.bytes_read = totals.bytes_read;
            ev.file.writes = totals.writes;
            ev.file.bytes_written = totals.bytes_written;
            if !self.wanted() {
                self.counters.user_filtered += 1;
                continue;
            }
            self.deliver(key, on_event);
            if self.stopped {
                break;
            }
        }
        self.event = exit;
    }

    /// Hands `self.event` of process `key` to the callback, with its context and enrichment.
    fn deliver<F>(&mut self, key: &ProcKey, on_event: &mut F)
    where
        F: FnMut(&Event, Option<&[u8]>) -> ControlFlow<()>,
    {
        self.lineage.account(&self.event, key, &mut self.cache);
        let ctx = self.cache.get(key);
        let p = &self.event.process;
        let stamp = Filled {
            key: *key,
            uid: p.uid,
            gid: p.gid,
            ppid: p.ppid,
            cache: self.cache.generation(),
            enricher: self.enricher.generation(),
        };
        if self.filled != Some(stamp) {
            fill_context(&mut self.event, ctx);
            self.enricher.enrich(&mut self.event, &self.cache);
            self.event.process.context_id = next_context_id();
            // Enriching may have re-read the names or started the memo again.
            self.filled = Some(Filled {
                enricher: self.enricher.generation(),
                ..stamp
            });
        }
        self.lineage.after(&mut self.event);
        if let Some(a) = self.alerter.as_mut() {
            match a.judge(&mut self.event) {
                Verdict::Send => {}
                Verdict::NotAlert => {
                    self.counters.user_filtered += 1;
                    return;
                }
                Verdict::Repeat => {
                    self.counters.alert_repeats += 1;
                    return;
                }
            }
        }
        let script = ctx.and_then(|c| c.script.as_deref());
        self.counters.delivered += 1;
        self.counters.merged_extra += self.event.merged.map_or(0, |m| m.count.saturating_sub(1));
        if on_event(&self.event, script).is_break() {
            self.stopped = true;
        }
    }

    /// The filters applied in user space: `paths`, and `extensions` for the kinds the kernel does not
    /// filter by name.
    fn wanted(&self) -> bool {
        let file = &self.event.file;
        if self.event.op.kind().groups.contains(&Group::Process) {
            // `paths` and `extensions` select files; the process kinds are selected by the process
            // filters.
            return true;
        }
        // A truncated path lacks its top, so it cannot be placed outside the subtree: it is kept (a
        // possible extra event beats a silently missing one). A rename matches by either path: a
        // file moved out of the subtree left it. Its old path, unrooted, was truncated too.
        let paths = &self.paths;
        let inside = |path: &[u8]| paths.iter().any(|p| under(path, p));
        let old_inside = file
            .old_path
            .as_deref()
            .is_some_and(|old| !old.starts_with(b"/") || inside(old));
        if !paths.is_empty() && !file.truncated && !inside(&file.path) && !old_inside {
            return false;
        }
        let op = self.event.op;
        if op == Op::Write || self.all_files || !op.kind().ext_filtered {
            return true;
        }
        let old_name = file
            .old_path
            .as_deref()
            .map(|p| p.rsplit(|&b| b == b'/').next().unwrap_or(p));
        [Some(&file.name[..]), old_name]
            .into_iter()
            .flatten()
            .any(|name| has_extension(name, &self.exts))
    }
}

/// A new `ProcessInfo::context_id`: unique in the process, so one formatter may serve several monitors.
fn next_context_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Does `name` end in `.EXT` for one of `exts` (the kernel's rule: the text after the last dot)?
fn has_extension(name: &[u8], exts: &[Vec<u8>]) -> bool {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) => exts.iter().any(|e| &name[dot + 1..] == e.as_slice()),
        None => false,
    }
}

/// Is `path` the directory `prefix` or inside it?
fn under(path: &[u8], prefix: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let p = prefix.as_os_str().as_bytes();
    if p == b"/" {
        return path.starts_with(b"/");
    }
    path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::{has_extension, under, KernelPaths, NameSuffix, Options, Replay};
    use crate::bpf::layout::{
        F_HAS_PROC, IDS_ANCESTORS, IDS_ANCESTOR_COUNT, IDS_LEN, OFF_MONO_NS, OFF_PPID, OFF_TGID,
        OFF_UID,
    };
    use crate::event::Event;
    use crate::kinds::Op;
    use crate::record::tests::record_of;
    use std::ops::ControlFlow;
    use std::path::{Path, PathBuf};

    /// A write by `tgid` at time `t`; with `exe`, the record carries its context (whose ids name
    /// parent 1, "init").
    fn write(tgid: u32, uid: u32, ppid: u32, exe: Option<&[u8]>, t: u64) -> Vec<u8> {
        let mut ids = vec![0u8; IDS_LEN];
        ids[IDS_ANCESTOR_COUNT as usize..][..4].copy_from_slice(&1u32.to_ne_bytes());
        ids[IDS_ANCESTORS as usize..][..4].copy_from_slice(&1u32.to_ne_bytes());
        ids[IDS_ANCESTORS as usize + 4..][..5].copy_from_slice(b"init\0");
        let (flags, exe, argv, ids): (u16, &[u8], &[u8], &[u8]) = match exe {
            Some(e) => (F_HAS_PROC, e, b"prog\0arg\0", &ids),
            None => (0, b"", b"", b""),
        };
        let mut r = record_of(
            Op::Write,
            1,
            flags,
            [b"a.log\0", b"", b"", b"", exe, b"", argv, ids],
        );
        let mut put =
            |off: i16, b: &[u8]| r[off as usize..off as usize + b.len()].copy_from_slice(b);
        put(OFF_TGID, &tgid.to_ne_bytes());
        put(OFF_UID, &uid.to_ne_bytes());
        put(OFF_PPID, &ppid.to_ne_bytes());
        put(OFF_MONO_NS, &t.to_ne_bytes());
        r
    }

    /// A rename by process 7 carrying its context (as its first record does), paths leaf first.
    fn rename(new: &[u8], old: &[u8]) -> Vec<u8> {
        let mut ids = vec![0u8; IDS_LEN];
        ids[IDS_ANCESTOR_COUNT as usize..][..4].copy_from_slice(&1u32.to_ne_bytes());
        let mut r = record_of(
            Op::Rename,
            1,
            F_HAS_PROC,
            [new, b"", old, b"", b"mv\0bin\0", b"", b"mv\0", &ids],
        );
        r[OFF_TGID as usize..][..4].copy_from_slice(&7u32.to_ne_bytes());
        r
    }

    /// Each event of `records` as (event, script), delivered in one drain of a fresh pipeline.
    fn deliver(records: &[&[u8]]) -> Vec<(Event, Option<Vec<u8>>)> {
        let mut replay = Replay::new(&Options::default());
        for r in records {
            replay.record(r);
        }
        let mut got = Vec::new();
        replay.deliver(|ev, script| {
            // Ids name fills, which differ from pipeline to pipeline.
            let mut ev = ev.clone();
            ev.process.context_id = 0;
            got.push((ev, script.map(<[u8]>::to_vec)));
            ControlFlow::Continue(())
        });
        got
    }

    #[test]
    fn the_process_part_is_filled_again_whenever_what_it_comes_from_changes() {
        // Processes taking turns, a uid change (setuid without exec), a new parent (reparented: the
        // ids no longer describe it), a new image of the same process.
        let records = [
            write(7, 0, 1, Some(b"sh\0bin\0"), 1),
            write(7, 0, 1, None, 2),
            write(8, 0, 1, Some(b"cat\0bin\0"), 3),
            write(7, 0, 1, None, 4),
            write(7, 1000, 1, None, 5),
            write(7, 1000, 9, None, 6),
            write(8, 0, 1, None, 7),
            write(8, 0, 1, None, 8),
        ];
        let all: Vec<&[u8]> = records.iter().map(|r| &r[..]).collect();
        let got = deliver(&all);
        assert_eq!(got.len(), records.len());
        for (i, r) in records.iter().enumerate() {
            // The same record alone, after the contexts it needs, in a fresh pipeline.
            let alone = deliver(&[&records[0], &records[2], r]);
            let this = alone.iter().find(|(ev, _)| ev.mono_ns == i as u64 + 1);
            assert_eq!(Some(&got[i]), this, "event {i}");
        }
        let exe = |i: usize| got[i].0.process.exe_path.clone();
        assert_eq!(exe(3), Some(b"/bin/sh".to_vec()));
        assert_eq!(exe(6), Some(b"/bin/cat".to_vec()));
        let parent = |i: usize| got[i].0.process.parent.clone().expect("a parent");
        assert_eq!(parent(4).name.as_deref(), Some(&b"init"[..]));
        assert_eq!((parent(5).pid, parent(5).name.as_deref()), (9, None));
        assert_eq!(got[4].0.process.uid, 1000);
    }

    #[test]
    fn a_context_cached_again_for_the_same_image_is_filled_in() {
        // The kernel sends a process's context again (after user space missed it, or the cache was
        // cleared): the next drain's events carry the new one, although their image is the same.
        let mut replay = Replay::new(&Options::default());
        let mut exes = Vec::new();
        for drain in [
            &[
                write(7, 0, 1, Some(b"sh\0bin\0"), 1),
                write(7, 0, 1, None, 2),
            ][..],
            &[
                write(7, 0, 1, Some(b"dash\0bin\0"), 3),
                write(7, 0, 1, None, 4),
            ],
        ] {
            for r in drain {
                replay.record(r);
            }
            replay.deliver(|ev, _| {
                exes.push(ev.process.exe_path.clone().unwrap_or_default());
                ControlFlow::Continue(())
            });
        }
        assert_eq!(
            exes,
            [&b"/bin/sh"[..], b"/bin/sh", b"/bin/dash", b"/bin/dash"]
        );
    }

    #[test]
    fn a_rename_is_under_a_path_by_either_of_its_paths() {
        let opts = Options {
            kinds: crate::kinds::OpSet::only(Op::Rename),
            all_files: true,
            paths: vec![PathBuf::from("/watched")],
            ..Options::default()
        };
        let mut replay = Replay::new(&opts);
        // (new path, old path), leaf first as the kernel walks them.
        for (new, old) in [
            (&b"y\0tmp\0"[..], &b"x\0watched\0"[..]),
            (b"b\0watched\0", b"a\0tmp\0"),
            (b"d\0tmp\0", b"c\0tmp\0"),
            (b"f\0tmp\0", b"e\0watchedx\0"),
        ] {
            replay.record(&rename(new, old));
        }
        let mut got = Vec::new();
        replay.deliver(|ev, _| {
            got.push(ev.file.path.clone());
            ControlFlow::Continue(())
        });
        assert_eq!(got, [&b"/tmp/y"[..], b"/watched/b"]);
    }

    #[test]
    fn extension_is_the_text_after_the_last_dot() {
        let exts = [b"txt".to_vec(), b"log".to_vec()];
        assert!(has_extension(b"a.txt", &exts));
        assert!(has_extension(b"a.tar.log", &exts));
        assert!(!has_extension(b"a.txt.gz", &exts));
        assert!(!has_extension(b"txt", &exts));
        assert!(!has_extension(b"a.", &exts));
    }

    #[test]
    fn path_prefix_matches_whole_components() {
        assert!(under(b"/var/log/a.log", Path::new("/var/log")));
        assert!(under(b"/var/log", Path::new("/var/log")));
        assert!(!under(b"/var/logs/a.log", Path::new("/var/log")));
        assert!(under(b"/x", Path::new("/")));
    }

    #[test]
    fn alert_rules_become_the_kernels_path_filter_where_they_can() {
        use crate::bpf::gen::KERNEL_DIR_NAMES;
        use crate::rules::Rules;
        let mut opts = Options {
            rules: Some(Rules::builtin()),
            alerts_only: true,
            ..Options::default()
        };
        let KernelPaths {
            dirs,
            names,
            dir_names,
        } = opts.kernel_paths();
        // The built-in secret-dir and secret-vault match a directory anywhere: names of directories.
        assert_eq!(dir_names, [b"secrets".to_vec(), b"vault".to_vec()]);
        for d in [
            "/etc/shadow",
            "/etc/pam.d",
            "/etc/ssh",
            "/root",
            "/home",
            "/var/lib/mysql",
        ] {
            assert!(dirs.contains(&d.as_bytes().to_vec()), "{d}: {dirs:?}");
        }
        assert!(names.contains(&NameSuffix::Ends(b".env".to_vec())));
        assert!(names.contains(&NameSuffix::Whole(b"credentials.json".to_vec())));
        // A glob with neither a fixed directory nor a directory name may match anywhere.
        let mut rules = Rules::builtin();
        rules.apply("rule any app glob:/**/x*/k\n", "t").unwrap();
        opts.rules = Some(rules);
        assert_eq!(opts.kernel_paths(), KernelPaths::default());
        // More directory names than the walk tests: user space alone.
        let mut rules = Rules::builtin();
        let many: String = (0..=KERNEL_DIR_NAMES)
            .map(|i| format!("rule d{i} app glob:/**/dir{i}/**\n"))
            .collect();
        rules.apply(&many, "t").unwrap();
        opts.rules = Some(rules);
        assert_eq!(opts.kernel_paths(), KernelPaths::default());
        // --path given with --alerts is the kernel's filter.
        opts.rules = Some(Rules::builtin());
        opts.paths = vec![PathBuf::from("/srv")];
        assert_eq!(
            opts.kernel_paths(),
            KernelPaths {
                dirs: vec![b"/srv".to_vec()],
                ..KernelPaths::default()
            }
        );
        opts.alerts_only = false;
        opts.paths.clear();
        assert_eq!(
            opts.kernel_paths(),
            KernelPaths::default(),
            "--rules alone filters nothing"
        );
    }

    #[test]
    fn paths_must_be_in_the_form_they_are_matched_in() {
        let with = |p: &str| Options {
            paths: vec![p.into()],
            ..Options::default()
        };
        for good in ["/", "/etc", "/var/log"] {
            assert_eq!(with(good).check_paths(), Ok(()), "{good}");
        }
        for bad in [
            "",
            "etc",
            "/etc/",
            "//etc",
            "/var//log",
            "/var/./log",
            "/var/..",
        ] {
            let err = with(bad).check_paths().expect_err(bad);
            assert!(err.contains("normal form"), "{bad}: {err}");
        }
    }
}
