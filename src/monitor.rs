//! The run loop: set up the kernel side, then poll the perf rings and a signalfd, decode, enrich and write
//! events in batches until a signal, `--count`, `--duration` or a closed output ends the run.

use crate::bpf::layout::{STAT_EVENTS, STAT_FAILED, STAT_FILTERED, STAT_OUTPUT_ERR};
use crate::btf::Btf;
use crate::cli::{AttachMode, Config, DumpProg, ExitStatus, Format};
use crate::clock::Clock;
use crate::enrich::process::Enricher;
use crate::event::Event;
use crate::kinds::Op;
use crate::lineage::Lineage;
use crate::loss::{LossReporter, Stats};
use crate::monitors::Registry;
use crate::offsets::KernelOffsets;
use crate::output::{self, Formatter};
use crate::perf_ring::Record;
use crate::perfbuf::PerfBuffer;
use crate::probes::{choose_hook, generate, Filters, HookKind, Probes};
use crate::proc_cache::{ProcCache, ProcContext};
use crate::record::{carries_context, decode_context, decode_into, fill_context, mono_ns_of};
use crate::sink::{Sink, SinkError};
use crate::sys::signal::SignalFd;
use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How long one poll may sleep: bounds the latency of events below the wakeup watermark and of
/// `--duration`.
const POLL_MS: i32 = 100;
/// Initial capacity of the output buffer, which is written at the end of each drain.
const FLUSH_BYTES: usize = 256 * 1024;
/// The poll timeout while lines wait for a slow output: it is retried this often.
const PENDING_POLL_MS: i32 = 10;
/// At the end of a run, how long a slow reader is given for what still waits (then it is counted lost).
const EXIT_WRITE_LIMIT: Duration = Duration::from_millis(500);

fn filters_of(cfg: &Config) -> Filters {
    Filters {
        exts: cfg
            .extensions
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect(),
        all_files: cfg.all_files,
        pids: cfg.pids.clone(),
        uids: cfg.uids.clone(),
        comms: cfg.comms.iter().map(|c| c.as_bytes().to_vec()).collect(),
        events: cfg.events,
    }
}

fn offsets(cfg: &Config) -> Result<KernelOffsets, String> {
    let btf = Btf::load(cfg.btf.as_deref()).map_err(|e| e.to_string())?;
    KernelOffsets::from_btf(&btf).map_err(|e| e.to_string())
}

/// `--dump-prog`: the programs generated for this kernel, as disassembly or an ELF object.
pub fn dump_programs(cfg: &Config, how: &DumpProg) -> Result<ExitStatus, String> {
    let k = offsets(cfg)?;
    let hook = choose_hook(cfg.attach).map_err(|e| e.to_string())?;
    let progs =
        generate(&k, hook, &filters_of(cfg), std::process::id()).map_err(|e| e.to_string())?;
    match how {
        DumpProg::Disassembly => {
            let mut text = String::new();
            for g in &progs {
                text.push_str(&format!(
                    "{}:  # section {}, {} slots\n",
                    g.name,
                    g.section,
                    g.program.slot_count()
                ));
                text.push_str(&g.program.to_string());
                text.push('\n');
            }
            match std::io::stdout().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("stdout: {e}"))
                }
                _ => {}
            }
        }
        DumpProg::Elf(path) => {
            let list: Vec<(&str, &str, &bpfasm::Program)> = progs
                .iter()
                .map(|g| (g.section.as_str(), g.name.as_str(), &g.program))
                .collect();
            let elf = bpfasm::write_elf(&list, "GPL").map_err(|e| e.to_string())?;
            std::fs::write(path, elf).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Monitor until told to stop.
pub fn run(cfg: &Config) -> Result<ExitStatus, String> {
    // Block the signals before anything else so none is delivered the default way mid-setup.
    let signals = SignalFd::new().map_err(|e| format!("signalfd: {e}"))?;
    let k = offsets(cfg)?;
    let hook = choose_hook(cfg.attach).map_err(|e| e.to_string())?;
    if hook == HookKind::Kprobe {
        let _ = crate::attach::remove_stale_kprobe_events();
    }
    let filters = filters_of(cfg);
    // Who this process is, as the kernel knows it (the host tgid, also in a container's pid namespace),
    // registered where every filespy's programs look, so none reports another's output.
    let (mut registry, unshared) = Registry::open().map_err(|e| e.to_string())?;
    let me = registry.register_self(&k).map_err(|e| e.to_string())?;
    if let (Some(why), false) = (&unshared, cfg.quiet) {
        eprintln!("filespy: other filespy instances' output is not excluded: {why}");
    }
    let mut probes = Probes::load_with(&k, hook, &filters, me, Some(&registry.map))
        .map_err(|e| e.to_string())?;
    let page = crate::sys::mmap::page_size();
    // Wake the reader once a quarter of a ring is used, not per event.
    let wakeup = (cfg.buffer_pages as usize * page / 4).max(1) as u32;
    let mut rings = PerfBuffer::open(&probes.maps.events, cfg.buffer_pages as usize, wakeup)
        .map_err(|e| e.to_string())?;
    if let Err(e) = probes.attach() {
        // `auto` may still fall back to the syscall tracepoints when a kprobe cannot be placed.
        if hook == HookKind::Kprobe && cfg.attach == AttachMode::Auto {
            drop(rings);
            drop(probes);
            eprintln!("filespy: kprobe attach failed ({e}); falling back to syscall tracepoints");
            probes = Probes::load_with(&k, HookKind::Tracepoint, &filters, me, Some(&registry.map))
                .map_err(|e| e.to_string())?;
            rings = PerfBuffer::open(&probes.maps.events, cfg.buffer_pages as usize, wakeup)
                .map_err(|e| e.to_string())?;
            probes.attach().map_err(|e| e.to_string())?;
        } else {
            return Err(e.to_string());
        }
    }
    let mut sink = Sink::from_output(cfg.output.as_deref()).map_err(|e| e.to_string())?;
    let color = cfg.output.is_none() && std::io::stdout().is_terminal();
    let format = match cfg.format {
        Format::Json => output::Format::Json,
        Format::Text => output::Format::Text,
    };
    let mut formatter =
        Formatter::new(format, Clock::new(), color).map_err(|e| format!("output: {e}"))?;
    let enricher = Enricher::system();
    if let Formatter::Json(j) = &mut formatter {
        j.set_host_name(&enricher.host.name);
    }
    let mut out = Vec::with_capacity(FLUSH_BYTES * 2);
    if let Formatter::Text(t) = &formatter {
        t.write_header(&mut out);
    }
    if !cfg.quiet {
        eprintln!(
            "filespy: ready (hook={}, cpus={}, buffer-pages={}, output={})",
            probes.hook.name(),
            rings.cpus().len(),
            cfg.buffer_pages,
            sink.describe()
        );
    }

    let mut session = Session {
        cfg,
        forget: Vec::new(),
        orphans: Vec::new(),
        batch: Vec::new(),
        arena: Vec::new(),
        cache: ProcCache::new(8192),
        lineage: Lineage::new(),
        enricher,
        event: Event::default(),
        exts: cfg
            .extensions
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect(),
        formatter: &mut formatter,
        out: &mut out,
        loss: LossReporter::new(),
        delivered: 0,
        user_filtered: 0,
        malformed: 0,
        done: false,
    };
    let deadline = cfg.duration.map(|d| Instant::now() + d);
    let mut closed = false;
    // A write error waiting cannot cure: the run ends, with its --stats, then exits 1.
    let mut fatal: Option<String> = None;
    session.print_notices(&mut sink);
    loop {
        let timeout = if sink.has_pending() {
            PENDING_POLL_MS
        } else {
            POLL_MS
        };
        let wake = rings
            .poll(Some(signals.as_raw_fd()), timeout)
            .map_err(|e| e.to_string())?;
        let mut stop = false;
        if wake.extra {
            while let Some(sig) = signals.read().map_err(|e| format!("signalfd: {e}"))? {
                match sig {
                    libc::SIGHUP => {
                        if let Err(e) = sink.reopen() {
                            eprintln!("filespy: {e}");
                        }
                        session.print_notices(&mut sink);
                    }
                    // As dd does: the running totals, and carry on.
                    libc::SIGUSR1 | libc::SIGUSR2 => {
                        eprintln!("{}", session.stats(&probes, &sink).summary_line())
                    }
                    // filespy sets no alarm; a stray SIGALRM must not end (or kill) the run.
                    libc::SIGALRM => {}
                    _ => stop = true,
                }
            }
        }
        let older = std::mem::take(&mut session.orphans);
        rings.drain(|cpu, rec| session.record(cpu, rec));
        // Every ring has now been drained once since these were read: their context, if sent, is in.
        session.settle(older);
        session.process_batch();
        for tgid in session.forget.drain(..) {
            probes.forget_process(tgid);
        }
        match session.flush(&mut sink) {
            Ok(false) => {}
            Ok(true) => {
                closed = true;
                break;
            }
            Err(e) => {
                fatal = Some(e);
                break;
            }
        }
        if !cfg.quiet {
            let _ = session
                .loss
                .maybe_report(Instant::now(), &mut std::io::stderr());
        }
        if stop || session.done || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    // Detach, then collect what the programs sent before detaching.
    probes.detach();
    if !closed && !session.done && fatal.is_none() {
        let older = std::mem::take(&mut session.orphans);
        rings.drain(|cpu, rec| session.record(cpu, rec));
        session.settle(older);
        session.process_batch();
        let last = std::mem::take(&mut session.orphans);
        session.settle(last);
        match session.flush(&mut sink) {
            Ok(c) => closed = c,
            Err(e) => fatal = Some(e),
        }
    }
    if !closed && fatal.is_none() {
        match sink.finish(EXIT_WRITE_LIMIT) {
            Ok(()) | Err(SinkError::Closed) => {}
            Err(e) => fatal = Some(e.to_string()),
        }
        session.print_notices(&mut sink);
    }
    // The kernel sends a LOST record only ahead of the next sample that fits, so losses at the end of
    // a burst never arrive as records; the programs' per-CPU count of failed outputs is exact.
    if let Ok(failed) = probes.stat_per_cpu(STAT_OUTPUT_ERR) {
        let seen = session.loss.totals().per_cpu;
        for (cpu, &n) in (0u32..).zip(failed.iter()) {
            let reported = seen.iter().find(|(c, _)| *c == cpu).map_or(0, |&(_, r)| r);
            if n > reported {
                session.loss.record(cpu, n - reported, Instant::now());
            }
        }
    }
    if !cfg.quiet {
        let _ = session.loss.maybe_report(
            Instant::now() + Duration::from_secs(2),
            &mut std::io::stderr(),
        );
    }
    if cfg.stats {
        let k = probes.stats().unwrap_or_default();
        eprintln!("{}", session.stats(&probes, &sink).summary_line());
        if session.malformed > 0 {
            eprintln!(
                "filespy: kernel sent {} events; {} delivered, {} filtered in user space (--path, --ext), {} malformed",
                k[STAT_EVENTS as usize],
                session.delivered,
                session.user_filtered,
                session.malformed
            );
        }
    }
    match fatal {
        Some(e) => Err(e),
        None => Ok(ExitStatus::Success),
    }
}

/// The per-event state of a run.
struct Session<'a> {
    cfg: &'a Config,
    /// Processes whose context the kernel must send again (applied after each drain).
    forget: Vec<u32>,
    /// Records (cpu, bytes) whose process context was not cached when read. Rings are drained one CPU
    /// after another, so the context-carrying first event of a process may sit in a ring drained later
    /// (another thread, or the process moved CPUs); these wait for one more drain before falling back.
    orphans: Vec<(u32, Vec<u8>)>,
    /// The records of one drain, copied out of the rings so they can be written in time order: each
    /// ring is in order, but one after another they are not.
    batch: Vec<Pending>,
    arena: Vec<u8>,
    cache: ProcCache,
    lineage: Lineage,
    enricher: Enricher,
    event: Event,
    /// `--ext` for the kinds the kernel does not filter by extension (all but `write`).
    exts: Vec<Vec<u8>>,
    formatter: &'a mut Formatter,
    out: &'a mut Vec<u8>,
    loss: LossReporter,
    delivered: u64,
    user_filtered: u64,
    malformed: u64,
    done: bool,
}

/// A record of the current batch: its monotonic time, CPU and place in the arena.
struct Pending {
    mono_ns: u64,
    cpu: u32,
    start: usize,
    len: usize,
}

impl Session<'_> {
    fn record(&mut self, cpu: u32, rec: Record<'_>) {
        match rec {
            Record::Sample(data) => {
                // A process's context is cached as soon as its record is read, so events of the same
                // batch sorted before it (or read from other rings) find it.
                if carries_context(data) {
                    if let Some((key, mut ctx, argv_fault)) = decode_context(data) {
                        if argv_fault && ctx.cmdline.is_empty() {
                            // The kernel could not read argv (paged out): /proc still has it while
                            // the process lives.
                            if let Some(live) = ProcContext::from_proc(key.tgid) {
                                ctx = ProcContext::new(
                                    ctx.exe_path,
                                    ctx.cwd,
                                    live.cmdline,
                                    ctx.cmdline_truncated,
                                );
                            }
                        }
                        self.cache.insert(key, ctx);
                    }
                }
                self.batch.push(Pending {
                    mono_ns: mono_ns_of(data),
                    cpu,
                    start: self.arena.len(),
                    len: data.len(),
                });
                self.arena.extend_from_slice(data);
            }
            Record::Lost(n) => self.loss.record(cpu, n, Instant::now()),
            Record::Other(_) => {}
        }
    }

    /// Write the records of this drain in time order.
    fn process_batch(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        let arena = std::mem::take(&mut self.arena);
        batch.sort_by_key(|p| p.mono_ns);
        for p in &batch {
            self.sample(p.cpu, &arena[p.start..p.start + p.len], true);
        }
        batch.clear();
        self.batch = batch;
        self.arena = arena;
        self.arena.clear();
    }

    /// Decodes again, without further waiting, the records set aside in the previous round.
    fn settle(&mut self, orphans: Vec<(u32, Vec<u8>)>) {
        for (cpu, data) in orphans {
            self.sample(cpu, &data, false);
        }
    }

    fn sample(&mut self, cpu: u32, data: &[u8], may_wait: bool) {
        if self.done {
            return;
        }
        let mut key = match decode_into(data, &mut self.event) {
            Ok(k) => k,
            Err(_) => {
                self.malformed += 1;
                return;
            }
        };
        if !self.wanted() {
            self.user_filtered += 1;
            return;
        }
        self.lineage.resolve(&self.event, &mut key, &self.cache);
        if self.cache.get(&key).is_none() && may_wait {
            self.orphans.push((cpu, data.to_vec()));
            return;
        }
        if self.cache.get(&key).is_none() {
            // The event that carried this process's context was lost (or evicted): take it from /proc
            // while the process lives, and have the kernel send it again with the next event.
            self.forget.push(key.tgid);
            if let Some(ctx) = ProcContext::from_proc(key.tgid) {
                self.cache.insert(key, ctx);
            }
        }
        self.lineage.account(&self.event, &key, &mut self.cache);
        let ctx = self.cache.get(&key);
        fill_context(&mut self.event, ctx);
        self.lineage.after(&mut self.event);
        self.enricher.enrich(&mut self.event, &self.cache);
        let script = ctx.and_then(|c| c.script.as_deref());
        self.formatter.write_event(&self.event, script, self.out);
        self.delivered += 1;
        if self.cfg.count.is_some_and(|n| self.delivered >= n) {
            self.done = true;
        }
    }

    /// The filters applied in user space: `--path`, and `--ext` for the kinds the kernel does not
    /// filter by name.
    fn wanted(&self) -> bool {
        let file = &self.event.file;
        // A truncated path lacks its top, so it cannot be placed outside the subtree: it is kept (a
        // possible extra event beats a silently missing one).
        let op = self.event.op;
        if op.kind().groups.contains(&crate::kinds::Group::Process) {
            // --path and --ext select files; the process kinds are selected by the process filters.
            return true;
        }
        let paths = &self.cfg.paths;
        if !paths.is_empty() && !file.truncated && !paths.iter().any(|p| under(&file.path, p)) {
            return false;
        }
        if op == Op::Write || self.cfg.all_files || !op.kind().ext_filtered {
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

    /// Hands this drain's lines to the sink and writes what the output takes now, never blocking;
    /// `Ok(true)` when the reader went away (a quiet end of the run).
    fn flush(&mut self, sink: &mut Sink) -> Result<bool, String> {
        sink.offer_vec(self.out);
        let r = sink.pump();
        self.print_notices(sink);
        match r {
            Ok(()) => Ok(false),
            Err(SinkError::Closed) => Ok(true),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The sink's lines about a stalled or resumed output; only errors under `--quiet`.
    fn print_notices(&self, sink: &mut Sink) {
        for n in sink.take_notices() {
            if n.error || !self.cfg.quiet {
                eprintln!("{}", n.text);
            }
        }
    }

    /// The totals so far: what `--stats` prints at exit and SIGUSR1 at any time. Events formatted but
    /// never written (a stalled or full output) count as lost, not as delivered.
    fn stats(&self, probes: &Probes, sink: &Sink) -> Stats {
        let k = probes.stats().unwrap_or_default();
        let mut stats = Stats {
            events: self.delivered.saturating_sub(sink.dropped()),
            filtered: k[STAT_FILTERED as usize] + self.user_filtered,
            failed_writes: k[STAT_FAILED as usize],
            ..Stats::default()
        };
        stats.set_losses(&self.loss.totals());
        stats.add_output_losses(sink.dropped());
        stats
    }
}

/// Does `name` end in `.EXT` for one of `exts` (the kernel's rule: the text after the last dot)?
fn has_extension(name: &[u8], exts: &[Vec<u8>]) -> bool {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) => exts.iter().any(|e| &name[dot + 1..] == e.as_slice()),
        None => false,
    }
}

/// Is `path` the directory `prefix` or inside it?
fn under(path: &[u8], prefix: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let p = prefix.as_os_str().as_bytes();
    if p == b"/" {
        return path.starts_with(b"/");
    }
    path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::{has_extension, under};
    use std::path::Path;

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
}
