//! The CLI's run loop, a thin user of `pipeline::Monitor`: it polls the monitor and a signalfd, renders
//! the events it delivers in batches to the sink, and ends the run on a signal, `--count`, `--duration`
//! or a closed output, with `--stats` and the exit status.

use crate::bpf::layout::STAT_EVENTS;
use crate::cli::{Config, DumpProg, ExitStatus, Format};
use crate::clock::Clock;
use crate::event::Event;
use crate::loss::Stats;
use crate::output::syslog::Syslog;
use crate::output::{self, Formatter, JsonWriter};
use crate::pipeline::{self, Monitor};
use crate::sink::{Sink, SinkError};
use crate::sys::signal::SignalFd;
use crate::uuid::UuidGen;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How long one poll may sleep: bounds the latency of events below the wakeup watermark and of
/// `--duration`.
const POLL_MS: i32 = 100;
/// The output buffer's initial capacity, and the size at which a drain hands it to the sink before
/// the drain ends (so a ring's worth of lines is not held at once).
const FLUSH_BYTES: usize = 256 * 1024;
/// The poll timeout while lines wait for a slow output: it is retried this often.
const PENDING_POLL_MS: i32 = 10;
/// At the end of a run, how long a slow reader is given for what still waits (then it is counted lost).
const EXIT_WRITE_LIMIT: Duration = Duration::from_millis(500);

/// `--dump-prog`: the programs generated for this kernel, as disassembly or an ELF object.
pub fn dump_programs(cfg: &Config, how: &DumpProg) -> Result<ExitStatus, String> {
    let progs = pipeline::programs(&cfg.watch)?;
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
    let mut monitor = Monitor::open(&cfg.watch)?;
    if let (Some(why), false) = (monitor.unshared_reason(), cfg.quiet) {
        eprintln!("filespy: other filespy instances' output is not excluded: {why}");
    }
    if let Some(e) = monitor.kprobe_fallback() {
        eprintln!("filespy: kprobe attach failed ({e}); falling back to syscall tracepoints");
    }
    if let Some(e) = monitor.typed_refused() {
        eprintln!(
            "filespy: typed kernel reads refused ({e}); reading through bpf_probe_read_kernel"
        );
    }
    let mut sink = Sink::from_output(cfg.output.as_deref()).map_err(|e| e.to_string())?;
    let mut lines = Lines::new(cfg)?;
    if !cfg.quiet {
        eprintln!(
            "filespy: ready (hook={}, reads={}, cpus={}, buffer-pages={}, output={})",
            monitor.hook().name(),
            monitor.kernel_reads(),
            monitor.cpus(),
            cfg.watch.buffer_pages,
            sink.describe()
        );
    }
    let mut end = watch(cfg, &signals, &mut monitor, &mut sink, &mut lines)?;

    // Detach, then collect what the programs sent before detaching, unless the run ended because
    // nothing more is wanted or can be written.
    let drain = matches!(end, End::Asked);
    if !drain {
        monitor.stop();
    }
    monitor.finish(|ev, script| lines.add_to(ev, script, &mut sink));
    if drain {
        end = flush(&mut lines, &mut sink, cfg.quiet).unwrap_or(End::Asked);
    }
    if !matches!(end, End::Closed | End::Failed(_)) {
        match sink.finish(EXIT_WRITE_LIMIT) {
            Ok(()) | Err(SinkError::Closed) => {}
            Err(e) => end = End::Failed(e.to_string()),
        }
        print_notices(&mut sink, cfg.quiet);
    }
    if !cfg.quiet {
        let _ = monitor.report_losses(
            Instant::now() + Duration::from_secs(2),
            &mut std::io::stderr(),
        );
    }
    if let (Some(s), false) = (&lines.syslog, cfg.quiet && !cfg.stats) {
        eprintln!(
            "filespy: syslog: {} messages sent, {} not taken by the socket",
            s.client.sent, s.client.dropped
        );
    }
    if cfg.stats {
        eprintln!("{}", stats(&monitor, &sink).summary_line());
        let c = monitor.counters();
        if c.malformed > 0 {
            eprintln!(
                "filespy: kernel sent {} events; {} delivered, {} filtered in user space (--path, --ext), {} malformed",
                monitor.kernel_stats()[STAT_EVENTS as usize],
                c.delivered,
                c.user_filtered,
                c.malformed
            );
        }
    }
    match end {
        // A write error waiting cannot cure: the run ended, with its --stats; exit 1.
        End::Failed(e) => Err(e),
        _ => Ok(ExitStatus::Success),
    }
}

/// Why the run loop ended.
enum End {
    /// A signal or `--duration`: what the probes sent before detaching is still written.
    Asked,
    /// `--count` events were written.
    Counted,
    /// The reader went away: a quiet end.
    Closed,
    /// A write error that waiting cannot cure.
    Failed(String),
}

/// The loop: poll, act on signals, write each drain's lines, report losses, until something ends it.
fn watch(
    cfg: &Config,
    signals: &SignalFd,
    monitor: &mut Monitor,
    sink: &mut Sink,
    lines: &mut Lines,
) -> Result<End, String> {
    let deadline = cfg.duration.map(|d| Instant::now() + d);
    print_notices(sink, cfg.quiet);
    loop {
        let timeout = if sink.has_pending() {
            PENDING_POLL_MS
        } else {
            POLL_MS
        };
        let wake = monitor.poll(timeout, Some(signals.as_raw_fd()), |ev, script| {
            lines.add_to(ev, script, sink)
        })?;
        let stop = wake.extra && on_signals(signals, sink, monitor, cfg.quiet)?;
        if let Some(end) = flush(lines, sink, cfg.quiet) {
            return Ok(end);
        }
        if !cfg.quiet {
            let _ = monitor.report_losses(Instant::now(), &mut std::io::stderr());
        }
        if lines.done {
            return Ok(End::Counted);
        }
        if stop || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(End::Asked);
        }
    }
}

/// Reads the pending signals: SIGHUP reopens the output, SIGUSR1/2 print the totals (as dd does),
/// SIGALRM is ignored (filespy sets no alarm, a stray one must not end the run); any other asks the
/// run to stop (`true`).
fn on_signals(
    signals: &SignalFd,
    sink: &mut Sink,
    monitor: &Monitor,
    quiet: bool,
) -> Result<bool, String> {
    let mut stop = false;
    while let Some(sig) = signals.read().map_err(|e| format!("signalfd: {e}"))? {
        match sig {
            libc::SIGHUP => {
                if let Err(e) = sink.reopen() {
                    eprintln!("filespy: {e}");
                }
                print_notices(sink, quiet);
            }
            libc::SIGUSR1 | libc::SIGUSR2 => eprintln!("{}", stats(monitor, sink).summary_line()),
            libc::SIGALRM => {}
            _ => stop = true,
        }
    }
    Ok(stop)
}

/// The rendered lines of the current drain, and `--count`.
struct Lines {
    formatter: Formatter,
    buf: Vec<u8>,
    /// The merged events in `buf`: where each line ends and the calls it stands for beyond itself.
    extras: Vec<(usize, u64)>,
    count: Option<u64>,
    written: u64,
    done: bool,
    syslog: Option<SyslogOut>,
}

/// `--syslog`: the client, and what goes to it.
struct SyslogOut {
    client: Syslog,
    /// `--syslog-only`: no JSON lines.
    only: bool,
    /// Rules apply: only the events with an alert go to syslog.
    alerts_only: bool,
    /// The JSON of each message when the lines are text.
    json: Option<JsonWriter>,
    scratch: Vec<u8>,
}

impl Lines {
    fn new(cfg: &Config) -> Result<Lines, String> {
        let color = cfg.output.is_none() && std::io::stdout().is_terminal();
        let format = match cfg.format {
            Format::Json => output::Format::Json,
            Format::Text => output::Format::Text,
        };
        let mut formatter =
            Formatter::new(format, Clock::new(), color).map_err(|e| format!("output: {e}"))?;
        let host = crate::enrich::identity::Host::read().name;
        if let Formatter::Json(j) = &mut formatter {
            j.set_host_name(&host);
        }
        let syslog = match &cfg.syslog {
            None => None,
            Some(sc) => {
                let json = match &formatter {
                    Formatter::Json(_) => None,
                    Formatter::Text(_) => {
                        let ids = UuidGen::new().map_err(|e| format!("output: {e}"))?;
                        let mut j = JsonWriter::new(Clock::new(), ids);
                        j.set_host_name(&host);
                        Some(j)
                    }
                };
                Some(SyslogOut {
                    client: Syslog::connect(&sc.socket, &host)?,
                    only: sc.only,
                    alerts_only: cfg.watch.rules.is_some(),
                    json,
                    scratch: Vec::new(),
                })
            }
        };
        let mut buf = Vec::with_capacity(FLUSH_BYTES * 2);
        if let (Formatter::Text(t), false) = (&formatter, syslog.as_ref().is_some_and(|s| s.only)) {
            t.write_header(&mut buf);
        }
        Ok(Lines {
            formatter,
            buf,
            extras: Vec::new(),
            count: cfg.count,
            written: 0,
            done: false,
            syslog,
        })
    }

    /// Renders one event and hands the lines to `sink` as they grow: one drain can hold a whole ring
    /// of records, so the sink's bound (not the drain's size) bounds memory when the output stalls.
    fn add_to(&mut self, ev: &Event, script: Option<&[u8]>, sink: &mut Sink) -> ControlFlow<()> {
        let r = self.add(ev, script);
        if self.buf.len() >= FLUSH_BYTES {
            sink.offer_vec_weighted(&mut self.buf, &mut self.extras);
            let _ = sink.pump();
        }
        r
    }

    /// Renders one event; breaks once `--count` is reached.
    fn add(&mut self, ev: &Event, script: Option<&[u8]>) -> ControlFlow<()> {
        let start = self.buf.len();
        self.formatter.write_event(ev, script, &mut self.buf);
        if let Some(s) = self.syslog.as_mut() {
            if !s.alerts_only || ev.alert.is_some() {
                let json = match s.json.as_mut() {
                    None => &self.buf[start..],
                    Some(j) => {
                        s.scratch.clear();
                        j.write_event(ev, script, &mut s.scratch);
                        &s.scratch[..]
                    }
                };
                s.client.send(ev, json.strip_suffix(b"\n").unwrap_or(json));
            }
            if s.only {
                self.buf.truncate(start);
            }
        }
        if let (Some(m), true) = (ev.merged, self.buf.len() > start) {
            if m.count > 1 {
                self.extras.push((self.buf.len(), m.count - 1));
            }
        }
        self.written += 1;
        if self.count.is_some_and(|n| self.written >= n) {
            self.done = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// Hands `lines` to the sink and writes what the output takes now, never blocking; `Some` when the
/// run must end (the reader went away, or an error waiting cannot cure).
fn flush(lines: &mut Lines, sink: &mut Sink, quiet: bool) -> Option<End> {
    sink.offer_vec_weighted(&mut lines.buf, &mut lines.extras);
    let r = sink.pump();
    print_notices(sink, quiet);
    match r {
        Ok(()) => None,
        Err(SinkError::Closed) => Some(End::Closed),
        Err(e) => Some(End::Failed(e.to_string())),
    }
}

/// The sink's lines about a stalled or resumed output; only errors under `--quiet`.
fn print_notices(sink: &mut Sink, quiet: bool) {
    for n in sink.take_notices() {
        if n.error || !quiet {
            eprintln!("{}", n.text);
        }
    }
}

/// The totals so far: what `--stats` prints at exit and SIGUSR1 at any time. Events rendered but
/// never written (a stalled or full output) count as lost, not as delivered.
fn stats(monitor: &Monitor, sink: &Sink) -> Stats {
    let mut stats = monitor.stats();
    stats.events = stats.events.saturating_sub(sink.dropped());
    // A merged event dropped loses every call it stands for.
    stats.merged = stats.merged.saturating_sub(sink.dropped_extra());
    stats.add_output_losses(sink.dropped() + sink.dropped_extra());
    stats
}
