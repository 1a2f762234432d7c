//! The command line: flags parsed into a typed `Config`, the help and version texts, and exit codes.
//!
//! Parsing never panics and never touches the kernel, so `--help` works for anyone.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::kinds::parse_events;
pub use crate::pipeline::{AttachMode, Options, DEFAULT_BUFFER_PAGES, DEFAULT_EXTENSIONS};
use crate::report::{Bound, ReportConfig, ReportFormat};
use crate::rules::Rules;

/// Most extensions accepted (the kernel-side set is sized for this).
pub const MAX_EXTENSIONS: usize = 256;
/// Longest extension, in bytes, without the dot.
pub const MAX_EXTENSION_LEN: usize = 16;
/// Most values of each repeatable filter (`--pid`, `--uid`, `--comm`, `--path`).
pub const MAX_FILTER_VALUES: usize = 256;
/// The kernel keeps 16 bytes of comm including the NUL.
pub const MAX_COMM_LEN: usize = 15;
/// Longest `--path` prefix (PATH_MAX without the NUL).
pub const MAX_PATH_PREFIX_LEN: usize = 4095;
pub const MAX_BUFFER_PAGES: u32 = 4096;

/// "0.1.0 (0123456789ab)": the crate version and the commit it was built from (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FILESPY_GIT_COMMIT"),
    ")"
);

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

/// `--dump-prog`: print the assembled BPF programs instead of running them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpProg {
    /// No value: disassembly to stdout.
    Disassembly,
    /// A value: write an ELF object to this file.
    Elf(PathBuf),
}

/// Everything a run needs, as parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// What to watch: `--events`, the filters, `--attach`, `--buffer-pages`, `--btf`. Extensions are
    /// in order and deduplicated (empty with `--all-files`); paths are normalised.
    pub watch: Options,
    pub format: Format,
    /// `-o FILE`; None = stdout.
    pub output: Option<PathBuf>,
    /// `--stats`: print a summary line at exit.
    pub stats: bool,
    /// Stop after this many events.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    pub dump_prog: Option<DumpProg>,
    /// No `ready` or loss lines on stderr; errors are still printed.
    pub quiet: bool,
    /// `--syslog`, `--syslog-only`.
    pub syslog: Option<SyslogConfig>,
}

/// Where and how events go to syslog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `--syslog-socket` (default /dev/log).
    pub socket: PathBuf,
    /// No JSON lines, syslog only.
    pub only: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            watch: Options::default(),
            format: Format::Json,
            output: None,
            stats: false,
            count: None,
            duration: None,
            dump_prog: None,
            quiet: false,
            syslog: None,
        }
    }
}

/// What the command line asks for.
// Built once per process: boxing Config would only make matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run(Config),
    Help,
    Version,
    /// `filespy report …`: summarise event files (no privileges needed).
    Report(ReportConfig),
    ReportHelp,
    /// `--print-rules`: the sensitive-file rules in force.
    PrintRules(Rules),
}

/// A bad command line; the message names the offending flag. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

/// The process exit statuses documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: finished normally (including the reader closing our stdout).
    Success,
    /// 1: runtime error (privileges, kernel, I/O).
    Failure,
    /// 2: bad command line.
    Usage,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}

/// Printed after a usage error.
pub const USAGE_HINT: &str = "usage: filespy [OPTIONS]   (try 'filespy --help')";
/// Printed after a usage error of `filespy report`.
pub const REPORT_USAGE_HINT: &str =
    "usage: filespy report [OPTIONS] [FILE...]   (try 'filespy report --help')";

/// The hint for a usage error in this argument list (program name first).
pub fn usage_hint(args: &[OsString]) -> &'static str {
    match is_report(args) {
        true => REPORT_USAGE_HINT,
        false => USAGE_HINT,
    }
}

/// `filespy report …`: the subcommand must be the first argument.
fn is_report(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "report")
}

/// The `--help` text: one line per flag, then exit codes.
pub const HELP: &str = "\
filespy: report the writes to files of interest (write, pwrite, the vectored writes, copy_file_range,
sendfile, splice, io_uring; and, with --events, other file operations) as JSON lines, with the
context of the process that did it. Not seen: stores through shared mappings, reflink ioctls (a
plain cp on btrfs/XFS), native AIO, kernel threads (README: Not seen).

usage: filespy [OPTIONS]            e.g.  sudo filespy > events.jsonl
       filespy report [FILE...]   summarise event files (see 'filespy report --help')

Events:
      --events LIST         what to report, comma-separated (default: write): write, create, delete,
                            rename, mkdir, rmdir, link, symlink, chmod, chown, truncate, mmap, exec,
                            fork, exit, open, read, close; or the groups fim (write and the file
                            operations), process (exec, fork, exit), access (open, read, close)
                            and all. close: one event per open of a watched file, when its last
                            descriptor closes, with the reads and writes of that open

Filters (repeat a filter to allow several values; different filters must all match):
      --ext EXT[,EXT..]     watch files ending in .EXT (repeatable; default: txt,log,json; max 256);
                            a rename matches by either name; mkdir and rmdir are not filtered by it
      --all-files           watch every file (turns the extension filter off)
      --pid PID             only writes by this process id (repeatable)
      --uid UID             only writes by this user id (repeatable)
      --comm NAME           only writes by this command name, at most 15 bytes (repeatable)
      --path PREFIX         only files under this absolute path (repeatable; in the kernel)

Sensitive files:
      --alerts              report only events on sensitive files, each with alert {rule, category,
                            severity, repeats}; the built-in rules are listed by --print-rules
      --rules FILE          add, replace or disable rules (lines: rule NAME CATEGORY MATCH [ops=LIST]
                            [severity=S] [change=S] [read=S] | disable NAME); without --alerts,
                            matching events carry alert and the others are reported too
      --alert-window TIME   repeats of one (rule, process, file) within TIME are counted, not sent
                            (default: 60s; 0 sends every one)
      --print-rules         print the rules in force and exit
      --syslog              also send events to syslog as RFC 5424 messages (only the alerts when
                            rules apply), severity mapped (CRITICAL: crit ... INFO: info)
      --syslog-only         send to syslog instead of writing JSON lines
      --syslog-socket PATH  the syslog socket (default: /dev/log)

Kernel side:
      --attach MODE         auto|kprobe|tracepoint (default: auto = kprobe if available)
      --buffer-pages N      per-CPU ring buffer pages, a power of two in 1..4096 (default: 64)
      --no-merge            a write or read that finds the ring full is lost (and counted) instead
                            of merged: by default those of one process image and file are added up
                            in the kernel and delivered later as one event with merged {count,
                            first_ts, last_ts}
      --btf FILE            read kernel types from FILE (a regular file, at most 256 MiB)
                            instead of /sys/kernel/btf/vmlinux
      --dump-prog[=FILE]    print the BPF programs' disassembly, or write them to FILE as ELF; then exit
      --probe-reads         read kernel memory only through bpf_probe_read_kernel, as on kernels
                            without typed BTF pointers (default: load directly where the kernel
                            allows it, probed at start; 'ready' says which: reads=...)

Output:
      --format FMT          json|text (default: json)
  -o, --output FILE         append events to FILE (created mode 0600; reopened on SIGHUP) instead of stdout;
                            refused if a symlink, another user's, or writable by group/others
      --count N             stop after N events
      --duration TIME       stop after TIME: seconds, or with a suffix s, m, h (30, 1.5, 30s, 5m, 1h)
      --stats               print a summary line (events, lost, filtered, failed writes) on stderr at exit
                            (SIGUSR1 prints it at any time)
  -q, --quiet               no 'ready' or loss lines on stderr (errors are still printed)
  -h, --help                print this help and exit
  -V, --version             print version and build commit and exit

Needs root, or CAP_BPF and CAP_PERFMON (except --help, --version, --dump-prog and filespy report);
a non-root user also needs CAP_DAC_READ_SEARCH to read tracefs.

Signals: INT/TERM stop, HUP reopens the -o file, USR1/USR2 print the running stats, ALRM is ignored.
An output that does not keep up (or a full disk) never stops the run: up to 8 MiB of events wait,
the rest are dropped and counted (lost_output in --stats).

Exit status:
  0  success (also when the reader of the output goes away)
  1  runtime error (missing privileges, kernel refused the programs, output not writable)
  2  usage error (bad flag or value)
";

/// The `filespy report --help` text.
pub const REPORT_HELP: &str = "\
filespy report: summarise filespy event files over a time range: events by op, top processes,
scripts, users and files (by writes and by bytes written), alerts by severity, and the loss lines
filespy wrote (its stderr, when captured into the file with 2>&1).

usage: filespy report [OPTIONS] [FILE...]   e.g.  filespy report --since 2026-11-23 events.jsonl

The FILEs are read in order, as filespy writes them (JSON lines); none, or -, means stdin.
Needs no privileges.

      --since TIME          only events at or after TIME: RFC 3339 (2026-11-23T03:54:33Z,
                            2026-11-23T04:54:33.5+01:00) or a date (2026-11-23: the midnight
                            that starts it, local time)
      --until TIME          only events before TIME (the same forms)
      --format FMT          table|json (default: table)
      --top N               rows in each top table, 1..4096 (default: 10)
  -h, --help                print this help and exit

Memory is bounded by the keys kept, not by the input: each table keeps at most 4096 keys. When a
table meets more distinct keys its counts are marked approximate, each with the most by which it
may exceed the truth. Lines longer than 1 MiB, and lines that are neither events nor filespy's own,
are counted as malformed, and the first few are named.

Exit status:
  0  success
  1  an input cannot be opened or read (one line names it), or the report cannot be written
  2  usage error (bad flag or value)
";

/// Parses the full argument list, program name first (as `std::env::args_os()` gives it).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Action, UsageError> {
    use lexopt::prelude::*;

    let args: Vec<OsString> = args.into_iter().collect();
    if is_report(&args) {
        return parse_report_args(args.into_iter().skip(2));
    }
    let mut config = Config::default();
    let mut extensions: Option<Vec<String>> = None;
    let mut rules_file: Option<PathBuf> = None;
    let mut syslog_socket: Option<PathBuf> = None;
    let mut print_rules = false;
    let mut events_seen = false;
    let mut parser = lexopt::Parser::from_iter(args);

    while let Some(arg) = parser.next()? {
        match arg {
            Long("ext") => {
                let value = parser.value()?;
                let list = extensions.get_or_insert_with(Vec::new);
                for ext in split_extensions(&value)? {
                    if !list.contains(&ext) {
                        list.push(ext);
                    }
                }
                if list.len() > MAX_EXTENSIONS {
                    return Err(usage(format!(
                        "--ext: too many extensions (at most {MAX_EXTENSIONS})"
                    )));
                }
            }
            Long("all-files") => config.watch.all_files = true,
            Long("probe-reads") => config.watch.typed_reads = false,
            Long("no-merge") => config.watch.merge_overflow = false,
            Long("events") => {
                let value = parser.value()?;
                let set = parse_events(utf8("--events", &value)?)
                    .map_err(|e| usage(format!("--events: {e}")))?;
                config.watch.kinds = match events_seen {
                    true => config.watch.kinds.union(set),
                    false => set,
                };
                events_seen = true;
            }
            Long("pid") => {
                let pid = parse_number::<u32>("--pid", &parser.value()?, "a process id")?;
                if pid == 0 {
                    return Err(usage("--pid: 0 is not a process id".into()));
                }
                push_limited(&mut config.watch.pids, pid, "--pid")?;
            }
            Long("uid") => {
                let uid = parse_number::<u32>("--uid", &parser.value()?, "a user id")?;
                push_limited(&mut config.watch.uids, uid, "--uid")?;
            }
            Long("comm") => {
                let comm = parse_comm(&parser.value()?)?;
                push_limited(&mut config.watch.comms, comm, "--comm")?;
            }
            Long("path") => {
                let path = parse_path_prefix(&parser.value()?)?;
                push_limited(&mut config.watch.paths, path, "--path")?;
            }
            Long("attach") => {
                config.watch.attach = match utf8("--attach", &parser.value()?)? {
                    "auto" => AttachMode::Auto,
                    "kprobe" => AttachMode::Kprobe,
                    "tracepoint" => AttachMode::Tracepoint,
                    other => {
                        return Err(usage(format!(
                            "--attach: unknown mode {other:?} (expected auto, kprobe or tracepoint)"
                        )))
                    }
                }
            }
            Long("format") => {
                config.format = match utf8("--format", &parser.value()?)? {
                    "json" => Format::Json,
                    "text" => Format::Text,
                    other => {
                        return Err(usage(format!(
                            "--format: unknown format {other:?} (expected json or text)"
                        )))
                    }
                }
            }
            Short('o') | Long("output") => {
                let value = parser.value()?;
                if value.is_empty() {
                    return Err(usage("--output: empty file name".into()));
                }
                config.output = Some(PathBuf::from(value));
            }
            Long("stats") => config.stats = true,
            Long("buffer-pages") => {
                let value = parser.value()?;
                let n = parse_number::<u32>("--buffer-pages", &value, "a page count")?;
                if !(1..=MAX_BUFFER_PAGES).contains(&n) || !n.is_power_of_two() {
                    return Err(usage(format!(
                        "--buffer-pages: {n} is not a power of two in 1..={MAX_BUFFER_PAGES}"
                    )));
                }
                config.watch.buffer_pages = n;
            }
            Long("count") => {
                let n = parse_number::<u64>("--count", &parser.value()?, "an event count")?;
                if n == 0 {
                    return Err(usage("--count: must be at least 1".into()));
                }
                config.count = Some(n);
            }
            Long("duration") => {
                let value = parser.value()?;
                config.duration = Some(parse_duration(utf8("--duration", &value)?)?);
            }
            Long("dump-prog") => {
                // The value is optional: `--dump-prog=FILE`, or `--dump-prog FILE` when the next
                // argument is not a flag (filespy takes no positionals, so this is unambiguous).
                let value = parser.optional_value().or_else(|| {
                    parser
                        .try_raw_args()?
                        .next_if(|next| !next.as_bytes().starts_with(b"-"))
                });
                config.dump_prog = Some(match value {
                    None => DumpProg::Disassembly,
                    Some(v) if v.is_empty() => {
                        return Err(usage("--dump-prog: empty file name".into()))
                    }
                    Some(v) => DumpProg::Elf(PathBuf::from(v)),
                });
            }
            Long("btf") => {
                let value = parser.value()?;
                if value.is_empty() {
                    return Err(usage("--btf: empty file name".into()));
                }
                config.watch.btf = Some(PathBuf::from(value));
            }
            Short('q') | Long("quiet") => config.quiet = true,
            Long("alerts") => config.watch.alerts_only = true,
            Long("rules") => {
                let value = parser.value()?;
                if rules_file.is_some() {
                    return Err(usage("--rules: given twice (one rules file)".into()));
                }
                rules_file = Some(PathBuf::from(value));
            }
            Long("alert-window") => {
                let value = parser.value()?;
                let text = utf8("--alert-window", &value)?;
                config.watch.alert_window = if text == "0" {
                    Duration::ZERO
                } else {
                    parse_duration(text)
                        .map_err(|e| usage(e.0.replacen("--duration", "--alert-window", 1)))?
                };
            }
            Long("print-rules") => print_rules = true,
            Long("syslog") | Long("syslog-only") => {
                let only = matches!(arg, Long("syslog-only"));
                let s = config.syslog.get_or_insert_with(|| SyslogConfig {
                    socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
                    only: false,
                });
                s.only |= only;
            }
            Long("syslog-socket") => {
                let value = parser.value()?;
                if value.is_empty() {
                    return Err(usage("--syslog-socket: empty path".into()));
                }
                syslog_socket = Some(PathBuf::from(value));
            }
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            Value(v) => {
                return Err(usage(format!(
                    "unexpected argument {:?} (filespy takes no positional arguments)",
                    v.to_string_lossy()
                )))
            }
            _ => return Err(arg.unexpected().into()),
        }
    }

    if let Some(path) = syslog_socket {
        match config.syslog.as_mut() {
            Some(s) => s.socket = path,
            None => {
                return Err(usage(
                    "--syslog-socket: needs --syslog or --syslog-only".into(),
                ))
            }
        }
    }
    if config.watch.alerts_only || rules_file.is_some() || print_rules {
        let mut rules = Rules::builtin();
        if let Some(path) = &rules_file {
            let text = read_rules_file(path)?;
            rules
                .apply(&text, &path.display().to_string())
                .map_err(|e| usage(format!("--rules: {e}")))?;
        }
        if print_rules {
            return Ok(Action::PrintRules(rules));
        }
        config.watch.rules = Some(rules);
    }
    match extensions {
        Some(_) if config.watch.all_files => {
            return Err(usage(
                "--all-files: cannot be combined with --ext (it turns the extension filter off)"
                    .into(),
            ))
        }
        Some(list) => config.watch.extensions = list,
        None if config.watch.all_files => config.watch.extensions.clear(),
        None => {}
    }
    Ok(Action::Run(config))
}

/// `filespy report`'s arguments (after `report`).
fn parse_report_args(args: impl IntoIterator<Item = OsString>) -> Result<Action, UsageError> {
    use lexopt::prelude::*;

    let mut config = ReportConfig::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("since") => config.since = Some(parse_bound("--since", &parser.value()?)?),
            Long("until") => config.until = Some(parse_bound("--until", &parser.value()?)?),
            Long("format") => {
                config.format = match utf8("--format", &parser.value()?)? {
                    "table" => ReportFormat::Table,
                    "json" => ReportFormat::Json,
                    other => {
                        return Err(usage(format!(
                            "--format: unknown format {other:?} (expected table or json)"
                        )))
                    }
                }
            }
            Long("top") => {
                let n = parse_number::<usize>("--top", &parser.value()?, "a row count")?;
                if !(1..=crate::report::topn::CAPACITY).contains(&n) {
                    return Err(usage(format!(
                        "--top: {n} is not in 1..={}",
                        crate::report::topn::CAPACITY
                    )));
                }
                config.top = n;
            }
            Short('h') | Long("help") => return Ok(Action::ReportHelp),
            Value(v) => {
                if v.is_empty() {
                    return Err(usage("report: empty file name".into()));
                }
                config.inputs.push(PathBuf::from(v));
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if let (Some(since), Some(until)) = (&config.since, &config.until) {
        if until.micros <= since.micros {
            return Err(usage(format!(
                "--until: {:?} is not after --since {:?}",
                until.text, since.text
            )));
        }
    }
    Ok(Action::Report(config))
}

/// A `--since`/`--until` value: RFC 3339, or a date meaning its first local midnight.
fn parse_bound(flag: &str, value: &OsStr) -> Result<Bound, UsageError> {
    let text = utf8(flag, value)?;
    let tz = crate::clock::TimeZone::from_env();
    match crate::report::time::parse_bound(text, &tz) {
        Some(micros) => Ok(Bound {
            text: text.to_string(),
            micros,
        }),
        None => Err(usage(format!(
            "{flag}: {text:?} is not a time (RFC 3339 such as 2026-11-23T03:54:33Z, or a date \
             such as 2026-11-23)"
        ))),
    }
}

fn usage(message: String) -> UsageError {
    UsageError(message)
}

/// The syslog socket unless `--syslog-socket` names another.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";
/// Largest rules file read.
const MAX_RULES_BYTES: u64 = 1 << 20;

/// A rules file's text: a regular file of at most 1 MiB of UTF-8.
fn read_rules_file(path: &std::path::Path) -> Result<String, UsageError> {
    use std::io::Read;
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| usage(format!("--rules: {shown}: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| usage(format!("--rules: {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(usage(format!("--rules: {shown}: not a regular file")));
    }
    let mut bytes = Vec::new();
    f.take(MAX_RULES_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("--rules: {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_RULES_BYTES {
        return Err(usage(format!("--rules: {shown}: larger than 1 MiB")));
    }
    String::from_utf8(bytes).map_err(|_| usage(format!("--rules: {shown}: not UTF-8 text")))
}

fn utf8<'a>(flag: &str, value: &'a OsStr) -> Result<&'a str, UsageError> {
    value
        .to_str()
        .ok_or_else(|| usage(format!("{flag}: value {value:?} is not valid UTF-8")))
}

fn parse_number<T: std::str::FromStr>(
    flag: &str,
    value: &OsStr,
    what: &str,
) -> Result<T, UsageError> {
    let text = utf8(flag, value)?;
    // FromStr accepts a leading '+'; a plain decimal is all we document.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(usage(format!("{flag}: {text:?} is not {what}")));
    }
    text.parse()
        .map_err(|_| usage(format!("{flag}: {text:?} is out of range for {what}")))
}

fn push_limited<T: PartialEq>(list: &mut Vec<T>, value: T, flag: &str) -> Result<(), UsageError> {
    if list.contains(&value) {
        return Ok(());
    }
    if list.len() >= MAX_FILTER_VALUES {
        return Err(usage(format!(
            "{flag}: too many values (at most {MAX_FILTER_VALUES})"
        )));
    }
    list.push(value);
    Ok(())
}

/// Splits one `--ext` value on commas, strips one leading dot from each, and validates them.
fn split_extensions(value: &OsStr) -> Result<Vec<String>, UsageError> {
    let text = utf8("--ext", value)?;
    text.split(',')
        .map(|item| {
            let ext = item.strip_prefix('.').unwrap_or(item);
            if ext.is_empty() {
                return Err(usage(format!("--ext: empty extension in {text:?}")));
            }
            if ext.len() > MAX_EXTENSION_LEN {
                return Err(usage(format!(
                    "--ext: {ext:?} is longer than {MAX_EXTENSION_LEN} bytes"
                )));
            }
            if ext.contains(['/', '\0']) {
                return Err(usage(format!("--ext: {ext:?} contains '/' or NUL")));
            }
            Ok(ext.to_string())
        })
        .collect()
}

fn parse_comm(value: &OsStr) -> Result<String, UsageError> {
    let comm = utf8("--comm", value)?;
    if comm.is_empty() {
        return Err(usage("--comm: empty command name".into()));
    }
    if comm.len() > MAX_COMM_LEN {
        return Err(usage(format!(
            "--comm: {comm:?} is {} bytes; the kernel truncates command names to {MAX_COMM_LEN} \
             bytes, so it could never match (use its first {MAX_COMM_LEN} bytes)",
            comm.len()
        )));
    }
    Ok(comm.to_string())
}

/// Validates an absolute prefix: collapses repeated `/` and drops trailing ones (kernel paths
/// have neither). `.` and `..` components are refused since resolved paths never contain them.
fn parse_path_prefix(value: &OsStr) -> Result<PathBuf, UsageError> {
    let bytes = value.as_bytes();
    let shown = value.to_string_lossy();
    if !bytes.starts_with(b"/") {
        return Err(usage(format!(
            "--path: {shown:?} is not an absolute path (it must start with '/')"
        )));
    }
    let mut out = Vec::with_capacity(bytes.len());
    for component in bytes.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if component == b"." || component == b".." {
            return Err(usage(format!(
                "--path: {shown:?} contains '.' or '..'; give the resolved path"
            )));
        }
        out.push(b'/');
        out.extend_from_slice(component);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    if out.len() > MAX_PATH_PREFIX_LEN {
        return Err(usage(format!(
            "--path: longer than {MAX_PATH_PREFIX_LEN} bytes"
        )));
    }
    Ok(PathBuf::from(OsStr::from_bytes(&out)))
}

/// `30`, `1.5`, `30s`, `5m`, `1h`: a positive decimal number of seconds, minutes or hours.
pub fn parse_duration(text: &str) -> Result<Duration, UsageError> {
    let bad = || {
        usage(format!(
            "--duration: {text:?} is not a duration (e.g. 30, 1.5, 30s, 5m, 1h)"
        ))
    };
    let (number, unit) = match text.as_bytes().last() {
        Some(b's') => (&text[..text.len() - 1], 1.0),
        Some(b'm') => (&text[..text.len() - 1], 60.0),
        Some(b'h') => (&text[..text.len() - 1], 3600.0),
        _ => (text, 1.0),
    };
    // f64's parser also takes "inf", "1e9" and "+1"; only plain decimals are documented.
    let digits = number.bytes().filter(|b| b.is_ascii_digit()).count();
    let dots = number.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != number.len() {
        return Err(bad());
    }
    let seconds: f64 = number.parse::<f64>().map_err(|_| bad())? * unit;
    if seconds <= 0.0 {
        return Err(usage(format!(
            "--duration: {text:?} must be more than zero"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| usage(format!("--duration: {text:?} is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{Op, OpSet};

    fn parse(args: &[&str]) -> Result<Action, UsageError> {
        parse_args(
            std::iter::once("filespy")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    fn config(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Action::Run(c)) => c,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match parse(args) {
            Err(e) => e.0,
            other => panic!("{args:?} should fail, gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(c.watch.extensions, ["txt", "log", "json"]);
        assert!(!c.watch.all_files);
        assert_eq!(c.watch.attach, AttachMode::Auto);
        assert_eq!(c.format, Format::Json);
        assert_eq!(c.watch.buffer_pages, 64);
        assert_eq!(c.output, None);
        assert_eq!(c.count, None);
        assert_eq!(c.duration, None);
        assert_eq!(c.dump_prog, None);
        assert!(!c.stats && !c.quiet);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["--help"]), Ok(Action::Help));
        assert_eq!(parse(&["-h"]), Ok(Action::Help));
        assert_eq!(parse(&["--pid", "1", "--help"]), Ok(Action::Help));
        assert_eq!(parse(&["--version"]), Ok(Action::Version));
        assert_eq!(parse(&["-V"]), Ok(Action::Version));
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn extensions_comma_lists_dots_and_repeats() {
        let c = config(&["--ext", "txt,log", "--ext", ".json", "--ext=.tar.gz"]);
        assert_eq!(c.watch.extensions, ["txt", "log", "json", "tar.gz"]);
        // Only one dot is stripped; duplicates are dropped.
        let c = config(&["--ext", "..x", "--ext", "md,md,.md"]);
        assert_eq!(c.watch.extensions, [".x", "md"]);
        assert_eq!(
            config(&["--ext", "abcdefghijklmnop"]).watch.extensions,
            ["abcdefghijklmnop"]
        );
    }

    #[test]
    fn many_extensions_up_to_the_cap() {
        let list: Vec<String> = (0..MAX_EXTENSIONS).map(|i| format!("e{i}")).collect();
        let joined = list.join(",");
        assert_eq!(config(&["--ext", &joined]).watch.extensions, list);

        let mut args = Vec::new();
        for ext in &list[..64] {
            args.push("--ext");
            args.push(ext);
        }
        assert_eq!(config(&args).watch.extensions, list[..64]);

        let over = format!("{joined},one-more");
        assert!(error(&["--ext", &over]).contains("--ext"));
    }

    #[test]
    fn bad_extensions() {
        for bad in [
            "",
            ".",
            "a,,b",
            "a,",
            ",a",
            "a/b",
            "abcdefghijklmnopq",
            "a\0b",
        ] {
            let msg = error(&["--ext", bad]);
            assert!(msg.starts_with("--ext"), "{bad:?}: {msg}");
        }
        assert!(error(&["--ext"]).contains("--ext"));
        assert!(error(&["--ext", "txt", "--all-files"]).contains("--all-files"));
    }

    #[test]
    fn events_lists_groups_and_repeats() {
        assert_eq!(config(&[]).watch.kinds, OpSet::only(Op::Write));
        let c = config(&["--events", "delete,rename", "--events", "chmod"]);
        assert!(c.watch.kinds.contains(Op::Delete) && c.watch.kinds.contains(Op::Chmod));
        assert!(
            !c.watch.kinds.contains(Op::Write),
            "an explicit list replaces the default"
        );
        assert_eq!(
            config(&["--events", "fim"]).watch.kinds,
            OpSet::group(crate::kinds::Group::Fim)
        );
        assert_eq!(config(&["--events", "all"]).watch.kinds, OpSet::all());
        assert!(error(&["--events", "unlink"]).contains("--events: unknown event \"unlink\""));
        assert!(error(&["--events", ""]).contains("--events"));
        assert!(error(&["--events"]).contains("--events"));
    }

    #[test]
    fn all_files() {
        let c = config(&["--all-files"]);
        assert!(c.watch.all_files);
        assert!(c.watch.extensions.is_empty());
    }

    #[test]
    fn pid_uid_comm() {
        let c = config(&["--pid", "1", "--pid=4194304", "--uid", "0", "--uid", "1000"]);
        assert_eq!(c.watch.pids, [1, 4194304]);
        assert_eq!(c.watch.uids, [0, 1000]);
        let c = config(&["--comm", "python3", "--comm", "123456789012345"]);
        assert_eq!(c.watch.comms, ["python3", "123456789012345"]);

        for (flag, bad) in [
            ("--pid", "abc"),
            ("--pid", "0"),
            ("--pid", "-1"),
            ("--pid", "+5"),
            ("--pid", "4294967296"),
            ("--pid", ""),
            ("--uid", "x"),
            ("--uid", "1.5"),
            ("--comm", ""),
            ("--comm", "1234567890123456"),
        ] {
            let msg = error(&[flag, bad]);
            assert!(msg.starts_with(flag), "{flag} {bad:?}: {msg}");
        }
        assert!(error(&["--comm", "a-very-long-command"]).contains("15 bytes"));
        assert!(error(&["--pid"]).contains("--pid"));
    }

    #[test]
    fn path_prefixes_are_normalised() {
        let c = config(&[
            "--path",
            "/var/log/",
            "--path",
            "//home//u///",
            "--path",
            "/",
        ]);
        let want: Vec<PathBuf> = ["/var/log", "/home/u", "/"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(c.watch.paths, want);
        assert_eq!(config(&["--path", "///"]).watch.paths, [PathBuf::from("/")]);
        for bad in ["var/log", "", "./x", "/a/../b", "/a/./b"] {
            assert!(error(&["--path", bad]).starts_with("--path"), "{bad:?}");
        }
    }

    #[test]
    fn attach_and_format() {
        assert_eq!(
            config(&["--attach", "kprobe"]).watch.attach,
            AttachMode::Kprobe
        );
        assert_eq!(
            config(&["--attach=tracepoint"]).watch.attach,
            AttachMode::Tracepoint
        );
        assert_eq!(config(&["--attach", "auto"]).watch.attach, AttachMode::Auto);
        assert_eq!(config(&["--format", "text"]).format, Format::Text);
        assert_eq!(config(&["--format", "json"]).format, Format::Json);
        assert!(error(&["--attach", "fentry"]).starts_with("--attach"));
        assert!(error(&["--format", "xml"]).starts_with("--format"));
        assert!(error(&["--format", "JSON"]).starts_with("--format"));
    }

    #[test]
    fn output_stats_quiet_btf() {
        let c = config(&[
            "-o",
            "/tmp/e.jsonl",
            "--stats",
            "-q",
            "--btf",
            "/tmp/vmlinux",
        ]);
        assert_eq!(c.output, Some(PathBuf::from("/tmp/e.jsonl")));
        assert_eq!(c.watch.btf, Some(PathBuf::from("/tmp/vmlinux")));
        assert!(c.stats && c.quiet);
        assert_eq!(config(&["--output=x"]).output, Some(PathBuf::from("x")));
        assert_eq!(config(&["-ox"]).output, Some(PathBuf::from("x")));
        assert!(config(&["--quiet"]).quiet);
        assert!(error(&["-o"]).contains("-o"));
        assert!(error(&["--output", ""]).starts_with("--output"));
        assert!(error(&["--stats=yes"]).contains("--stats"));
    }

    #[test]
    fn buffer_pages() {
        for n in [1u32, 2, 64, 1024, 4096] {
            assert_eq!(
                config(&["--buffer-pages", &n.to_string()])
                    .watch
                    .buffer_pages,
                n
            );
        }
        for bad in ["0", "3", "100", "8192", "-1", "x", ""] {
            assert!(
                error(&["--buffer-pages", bad]).starts_with("--buffer-pages"),
                "{bad}"
            );
        }
    }

    #[test]
    fn count() {
        assert_eq!(config(&["--count", "1"]).count, Some(1));
        assert_eq!(config(&["--count", "1000000"]).count, Some(1_000_000));
        for bad in ["0", "-3", "ten", ""] {
            assert!(error(&["--count", bad]).starts_with("--count"), "{bad}");
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("30", 30.0),
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h", 3600.0),
            ("1.5", 1.5),
            ("0.25m", 15.0),
            ("2.", 2.0),
            (".5", 0.5),
        ] {
            assert_eq!(
                config(&["--duration", text]).duration,
                Some(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for bad in [
            "",
            "s",
            "0",
            "0s",
            "-1",
            "+1",
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            "5d",
            "1 s",
            "1ms",
            "99999999999999999999999h",
        ] {
            assert!(
                error(&["--duration", bad]).starts_with("--duration"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dump_prog_with_and_without_value() {
        assert_eq!(
            config(&["--dump-prog"]).dump_prog,
            Some(DumpProg::Disassembly)
        );
        assert_eq!(
            config(&["--dump-prog", "--stats"]).dump_prog,
            Some(DumpProg::Disassembly)
        );
        let c = config(&["--dump-prog", "--btf", "/b"]);
        assert_eq!(c.dump_prog, Some(DumpProg::Disassembly));
        assert_eq!(c.watch.btf, Some(PathBuf::from("/b")));
        assert_eq!(
            config(&["--dump-prog=progs.o"]).dump_prog,
            Some(DumpProg::Elf(PathBuf::from("progs.o")))
        );
        let c = config(&["--dump-prog", "out.o", "-q"]);
        assert_eq!(c.dump_prog, Some(DumpProg::Elf(PathBuf::from("out.o"))));
        assert!(c.quiet);
        assert!(error(&["--dump-prog="]).starts_with("--dump-prog"));
    }

    #[test]
    fn unknown_flags_and_positionals() {
        assert!(error(&["--bogus"]).contains("--bogus"));
        assert!(error(&["-x"]).contains("-x"));
        assert!(error(&["extra"]).contains("extra"));
        assert!(error(&["--dump-prog", "a.o", "b.o"]).contains("b.o"));
        assert!(error(&["--", "--pid"]).contains("--pid"));
    }

    #[test]
    fn non_utf8_values_are_usage_errors() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'a', 0xff, b'b']);
        for flag in ["--ext", "--pid", "--comm", "--format", "--duration"] {
            let args = [OsString::from("filespy"), flag.into(), bad.clone()];
            match parse_args(args) {
                Err(e) => assert!(e.0.starts_with(flag), "{flag}: {e}"),
                ok => panic!("{flag}: {ok:?}"),
            }
        }
        // Paths may be any bytes.
        let args = [OsString::from("filespy"), "-o".into(), bad.clone()];
        match parse_args(args) {
            Ok(Action::Run(c)) => assert_eq!(c.output, Some(PathBuf::from(bad.clone()))),
            other => panic!("{other:?}"),
        }
        let args = [OsString::from("filespy"), bad.clone()];
        assert!(parse_args(args).is_err());
        let args = [
            OsString::from("filespy"),
            OsString::from_vec(b"--\xff".to_vec()),
        ];
        assert!(parse_args(args).is_err());
    }

    #[test]
    fn empty_argument_list_is_defaults() {
        assert_eq!(
            parse_args(std::iter::empty()),
            Ok(Action::Run(Config::default()))
        );
    }

    #[test]
    fn help_lists_every_flag_and_exit_codes() {
        for flag in [
            "--ext",
            "--all-files",
            "--events",
            "--pid",
            "--uid",
            "--comm",
            "--path",
            "--attach",
            "--format",
            "-o, --output",
            "--stats",
            "--buffer-pages",
            "--count",
            "--duration",
            "--dump-prog",
            "--btf",
            "--probe-reads",
            "--no-merge",
            "-q, --quiet",
            "-h, --help",
            "-V, --version",
        ] {
            assert!(HELP.contains(flag), "{flag} missing from --help");
        }
        for code in ["  0  ", "  1  ", "  2  "] {
            assert!(HELP.contains(code));
        }
    }

    fn report(args: &[&str]) -> ReportConfig {
        match parse(&[&["report"], args].concat()) {
            Ok(Action::Report(c)) => c,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn report_subcommand() {
        assert_eq!(report(&[]), ReportConfig::default());
        let c = report(&[
            "--top",
            "3",
            "--format",
            "json",
            "a.jsonl",
            "-",
            "--since",
            "2026-11-23T10:00:00Z",
            "--until=2026-11-23T12:00:00+01:00",
            "--",
            "--odd-name",
        ]);
        let names: Vec<PathBuf> = ["a.jsonl", "-", "--odd-name"].map(PathBuf::from).into();
        assert_eq!(c.inputs, names);
        assert_eq!((c.top, c.format), (3, ReportFormat::Json));
        let (since, until) = (c.since.unwrap(), c.until.unwrap());
        assert_eq!(since.text, "2026-11-23T10:00:00Z");
        assert_eq!(until.micros - since.micros, 3_600_000_000);
        assert_eq!(parse(&["report", "--help"]), Ok(Action::ReportHelp));
        assert_eq!(parse(&["report", "a", "-h"]), Ok(Action::ReportHelp));
        // `report` is a subcommand only in first place; monitor flags are not report flags.
        assert!(error(&["--stats", "report"]).contains("report"));
        assert!(error(&["report", "--stats"]).contains("--stats"));
        for (args, flag) in [
            (&["--since", "soon"][..], "--since"),
            (&["--until", "2026-02-30"], "--until"),
            (
                &["--since", "2026-11-23", "--until", "2026-11-23"],
                "--until",
            ),
            (&["--format", "text"], "--format"),
            (&["--top", "0"], "--top"),
            (&["--top", "4097"], "--top"),
            (&[""], "report"),
        ] {
            let msg = error(&[&["report"], args].concat());
            assert!(msg.contains(flag), "{args:?}: {msg}");
        }
        let args: Vec<OsString> = ["filespy", "report", "--bogus"].map(OsString::from).into();
        assert_eq!(usage_hint(&args), REPORT_USAGE_HINT);
        assert_eq!(usage_hint(&args[..1]), USAGE_HINT);
    }

    #[test]
    fn report_help_lists_its_flags() {
        for flag in ["--since", "--until", "--format", "--top", "-h, --help"] {
            assert!(
                REPORT_HELP.contains(flag),
                "{flag} missing from report --help"
            );
        }
        for code in ["  0  ", "  1  ", "  2  "] {
            assert!(REPORT_HELP.contains(code));
        }
        assert!(HELP.contains("filespy report --help"));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
    }
}
