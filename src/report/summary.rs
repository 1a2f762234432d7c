//! What the report counts, line by line: events (read into a small borrowed struct, see
//! [`event_line`]), filespy's own stderr lines, and everything else as malformed.

use super::event_line::{self, EventLine, FileFields, ProcessFields};
use super::time::parse_rfc3339;
use super::topn::{TopN, CAPACITY};

/// Malformed lines whose place is kept for the report.
pub const MALFORMED_SHOWN: usize = 5;

/// Where a line was read: the input's index in `Summary::inputs` and the 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub input: usize,
    pub line: u64,
}

/// The last `filespy: stats …` line seen (the totals of a run at its exit, or so far on SIGUSR1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsLine {
    pub place: Option<Place>,
    pub events: u64,
    pub lost: u64,
    pub lost_output: u64,
}

/// A timestamp as read and as an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub text: String,
    pub micros: i64,
}

/// Everything the report shows, accumulated in one pass; its size is bounded by the tables'
/// capacity, not by the input.
#[derive(Debug)]
pub struct Summary {
    /// `--since` (inclusive) and `--until` (exclusive), in microseconds since the epoch.
    since: Option<i64>,
    until: Option<i64>,
    /// The inputs' names, in order.
    pub inputs: Vec<String>,
    pub bytes: u64,
    pub lines: u64,
    /// Events within the time range.
    pub events: u64,
    pub outside_range: u64,
    pub malformed: u64,
    /// Of the malformed lines, those longer than the line limit.
    pub too_long: u64,
    pub malformed_first: Vec<Place>,
    /// `filespy: …` lines other than loss and stats lines (ready, warnings).
    pub other_filespy_lines: u64,
    pub lost_lines: u64,
    /// The sum of the loss lines' counts.
    pub lost_events: u64,
    pub stats_lines: u64,
    pub last_stats: Option<StatsLine>,
    pub first: Option<Stamp>,
    pub last: Option<Stamp>,
    pub ops: TopN,
    /// Key: name, NUL, exe_path (a comm never holds a NUL: the kernel ends it there).
    pub processes: TopN,
    pub scripts: TopN,
    /// Key: uid, NUL, user name.
    pub users: TopN,
    pub files_by_writes: TopN,
    pub files_by_bytes: TopN,
    pub alerts: TopN,
    /// Reused to build composite keys without allocating per event.
    key: String,
}

impl Summary {
    pub fn new(since: Option<i64>, until: Option<i64>) -> Summary {
        Summary {
            since,
            until,
            inputs: Vec::new(),
            bytes: 0,
            lines: 0,
            events: 0,
            outside_range: 0,
            malformed: 0,
            too_long: 0,
            malformed_first: Vec::new(),
            other_filespy_lines: 0,
            lost_lines: 0,
            lost_events: 0,
            stats_lines: 0,
            last_stats: None,
            first: None,
            last: None,
            ops: TopN::new(CAPACITY),
            processes: TopN::new(CAPACITY),
            scripts: TopN::new(CAPACITY),
            users: TopN::new(CAPACITY),
            files_by_writes: TopN::new(CAPACITY),
            files_by_bytes: TopN::new(CAPACITY),
            alerts: TopN::new(CAPACITY),
            key: String::new(),
        }
    }

    /// Counts one line (without its newline).
    pub fn line(&mut self, text: &[u8], place: Place) {
        self.lines += 1;
        if text.is_empty() {
            return;
        }
        if let Some(rest) = text.strip_prefix(b"filespy: ") {
            self.filespy_line(rest, place);
            return;
        }
        // filespy writes only UTF-8 (other bytes go to `_b64` fields), so a line that is not is no
        // event, whichever field holds the bad bytes.
        let mut ev = EventLine::default();
        let read = text[0] == b'{'
            && std::str::from_utf8(text).is_ok_and(|t| event_line::read(t, &mut ev));
        match read.then(|| parse_rfc3339(&ev.timestamp)).flatten() {
            Some(micros) => self.event(&ev, micros),
            None => self.malformed(place),
        }
    }

    /// Counts a line longer than the line limit.
    pub fn too_long(&mut self, place: Place) {
        self.lines += 1;
        self.too_long += 1;
        self.malformed(place);
    }

    fn malformed(&mut self, place: Place) {
        self.malformed += 1;
        if self.malformed_first.len() < MALFORMED_SHOWN {
            self.malformed_first.push(place);
        }
    }

    fn event(&mut self, ev: &EventLine<'_>, micros: i64) {
        if self.since.is_some_and(|s| micros < s) || self.until.is_some_and(|u| micros >= u) {
            self.outside_range += 1;
            return;
        }
        self.events += 1;
        set_stamp(&mut self.first, &ev.timestamp, micros, |new, old| new < old);
        // Events come in time order, so this changes on nearly every event: reuse the string.
        set_stamp(&mut self.last, &ev.timestamp, micros, |new, old| new >= old);
        self.ops.add(&ev.op, 1);

        let default = ProcessFields::default();
        let p = ev.process.as_ref().unwrap_or(&default);
        self.key.clear();
        self.key.push_str(p.name.as_deref().unwrap_or(""));
        self.key.push('\0');
        self.key.push_str(p.exe_path.as_deref().unwrap_or(""));
        self.processes.add(&self.key, 1);
        if let Some(script) = &p.file_path {
            self.scripts.add(script, 1);
        }
        if let Some(uid) = p.uid {
            self.key.clear();
            push_decimal(&mut self.key, uid);
            self.key.push('\0');
            self.key.push_str(p.user.as_deref().unwrap_or(""));
            self.users.add(&self.key, 1);
        }

        if ev.op == "write" {
            if let Some(FileFields {
                file_path: Some(path),
                bytes_written,
            }) = &ev.file
            {
                let calls = ev.merged.as_ref().map_or(1, |m| m.count);
                self.files_by_writes.add(path, calls);
                self.files_by_bytes.add(path, bytes_written.unwrap_or(0));
            }
        }
        if let Some(alert) = &ev.alert {
            self.alerts
                .add(alert.severity.as_deref().unwrap_or("unknown"), 1);
        }
    }

    /// A line filespy wrote on stderr (after the `filespy: ` prefix), captured with 2>&1.
    fn filespy_line(&mut self, rest: &[u8], place: Place) {
        if let Some(n) = rest
            .strip_prefix(b"lost ")
            .and_then(|r| leading_number(r).filter(|(_, after)| after.starts_with(b" events")))
        {
            self.lost_lines += 1;
            self.lost_events = self.lost_events.saturating_add(n.0);
            return;
        }
        if let Some(fields) = rest.strip_prefix(b"stats ") {
            if let Some(stats) = parse_stats(fields, place) {
                self.stats_lines += 1;
                self.last_stats = Some(stats);
                return;
            }
        }
        self.other_filespy_lines += 1;
    }
}

/// Replaces `slot` by (`text`, `micros`) when it is empty or `better(micros, its micros)`.
fn set_stamp(slot: &mut Option<Stamp>, text: &str, micros: i64, better: fn(i64, i64) -> bool) {
    match slot {
        Some(s) if !better(micros, s.micros) => {}
        Some(s) => {
            s.text.clear();
            s.text.push_str(text);
            s.micros = micros;
        }
        None => {
            *slot = Some(Stamp {
                text: text.to_string(),
                micros,
            })
        }
    }
}

/// Appends `n` in decimal (`write!` costs more than the rest of the users' count).
fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// `events=N lost=N filtered=N failed_writes=N lost_per_cpu=… lost_output=N`.
fn parse_stats(fields: &[u8], place: Place) -> Option<StatsLine> {
    let mut stats = StatsLine {
        place: Some(place),
        ..StatsLine::default()
    };
    let (mut events, mut lost) = (None, None);
    for field in fields.split(|&b| b == b' ') {
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            continue;
        };
        let value = || {
            leading_number(&field[eq + 1..])
                .filter(|(_, rest)| rest.is_empty())
                .map(|(n, _)| n)
        };
        match &field[..eq] {
            b"events" => events = value(),
            b"lost" => lost = value(),
            b"lost_output" => stats.lost_output = value()?,
            _ => {}
        }
    }
    stats.events = events?;
    stats.lost = lost?;
    Some(stats)
}

/// The decimal number at the start of `b`, and what follows it.
fn leading_number(b: &[u8]) -> Option<(u64, &[u8])> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = std::str::from_utf8(&b[..digits]).ok()?.parse().ok()?;
    Some((n, &b[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut Summary, text: &str) {
        for (i, line) in text.lines().enumerate() {
            s.line(
                line.as_bytes(),
                Place {
                    input: 0,
                    line: i as u64 + 1,
                },
            );
        }
    }

    #[test]
    fn counts_events_and_filespy_lines_and_malformed_ones() {
        let mut s = Summary::new(None, None);
        feed(
            &mut s,
            concat!(
                r#"{"op":"write","timestamp":"2026-11-23T03:54:33.000001+00:00","process":{"name":"py","exe_path":"/bin/py","file_path":"/s.py","uid":0,"user":"root"},"file":{"file_path":"/a","bytes_written":7},"alert":{"rule":"r","category":"c","severity":"HIGH"}}"#,
                "\n",
                r#"{"op":"delete","timestamp":"2026-11-23T03:54:32Z","process":{"name":"rm","uid":1000,"user":null},"file":{"file_path":"/a"}}"#,
                "\n",
                "filespy: ready (hook=tracepoint, cpus=2, buffer-pages=64, output=stdout)\n",
                "filespy: lost 312 events (cpu0: 300, cpu3: 12) — raise --buffer-pages\n",
                "filespy: lost 8 events (cpu1: 8) — raise --buffer-pages\n",
                "filespy: stats events=2 lost=320 filtered=0 failed_writes=1 lost_per_cpu=cpu0:300 lost_output=5\n",
                "\n",
                "not json\n",
                r#"{"op":"write"}"#,
                "\n",
                r#"{"op":"write","timestamp":"yesterday"}"#,
                "\n",
                r#"{"op":7,"timestamp":"2026-11-23T03:54:32Z"}"#,
                "\n",
                r#"["op"]"#,
                "\n",
            ),
        );
        assert_eq!(s.lines, 12);
        assert_eq!(s.events, 2);
        assert_eq!(s.malformed, 5);
        let lines: Vec<u64> = s.malformed_first.iter().map(|p| p.line).collect();
        assert_eq!(lines, [8, 9, 10, 11, 12]);
        assert_eq!(s.other_filespy_lines, 1);
        assert_eq!((s.lost_lines, s.lost_events), (2, 320));
        assert_eq!(s.stats_lines, 1);
        let st = s.last_stats.unwrap();
        assert_eq!((st.events, st.lost, st.lost_output), (2, 320, 5));
        assert_eq!(s.first.as_ref().unwrap().text, "2026-11-23T03:54:32Z");
        assert_eq!(
            s.last.as_ref().unwrap().text,
            "2026-11-23T03:54:33.000001+00:00"
        );
        assert_eq!(s.files_by_writes.total(), 1);
        assert_eq!(s.files_by_bytes.total(), 7);
        assert_eq!(&*s.users.top(1)[0].key, "0\0root");
        assert_eq!(s.users.len(), 2);
        assert_eq!(&*s.users.top(2)[1].key, "1000\0", "a user name of null");
        assert_eq!(&*s.processes.top(5)[1].key, "rm\0");
        assert_eq!(&*s.alerts.top(1)[0].key, "HIGH");
        assert_eq!(s.scripts.total(), 1);
    }

    #[test]
    fn the_time_range_keeps_since_and_drops_until() {
        let t0 = parse_rfc3339("2026-11-23T00:00:00Z").unwrap();
        let t1 = parse_rfc3339("2026-11-23T00:00:02Z").unwrap();
        let mut s = Summary::new(Some(t0), Some(t1));
        for ts in [
            "2026-11-22T23:59:59.999999Z",
            "2026-11-23T00:00:00Z",
            "2026-11-23T02:00:01+02:00",
            "2026-11-23T00:00:02Z",
        ] {
            let line = format!(r#"{{"op":"exec","timestamp":"{ts}"}}"#);
            s.line(line.as_bytes(), Place { input: 0, line: 1 });
        }
        assert_eq!((s.events, s.outside_range), (2, 2));
        assert_eq!(s.first.unwrap().text, "2026-11-23T00:00:00Z");
        assert_eq!(s.last.unwrap().text, "2026-11-23T02:00:01+02:00");
    }

    #[test]
    fn escaped_strings_and_invalid_utf8() {
        let mut s = Summary::new(None, None);
        let line = r#"{"op":"write","timestamp":"2026-11-23T00:00:00Z","file":{"file_path":"/a\nb\u00e9","bytes_written":1}}"#;
        s.line(line.as_bytes(), Place { input: 0, line: 1 });
        assert_eq!(&*s.files_by_writes.top(1)[0].key, "/a\nbé");
        s.line(
            b"{\"op\":\"write\",\"timestamp\":\"2026-11-23T00:00:00Z\",\"x\":\"\xff\"}",
            Place { input: 0, line: 2 },
        );
        s.line(b"\xff\xfe", Place { input: 0, line: 3 });
        assert_eq!((s.events, s.malformed), (1, 2));
    }

    #[test]
    fn a_merged_write_counts_as_its_calls() {
        let mut s = Summary::new(None, None);
        let merged = r#"{"op":"write","merged":{"count":40,"first_ts":"2026-11-23T00:00:00Z","last_ts":"2026-11-23T00:00:01Z"},"timestamp":"2026-11-23T00:00:00Z","file":{"file_path":"/m","bytes_written":640}}"#;
        let single = r#"{"op":"write","timestamp":"2026-11-23T00:00:02Z","file":{"file_path":"/s","bytes_written":9000}}"#;
        s.line(merged.as_bytes(), Place { input: 0, line: 1 });
        s.line(single.as_bytes(), Place { input: 0, line: 2 });
        let top = s.files_by_writes.top(2);
        assert_eq!((&*top[0].key, top[0].count), ("/m", 40));
        assert_eq!((&*top[1].key, top[1].count), ("/s", 1));
        assert_eq!(s.events, 2, "events are lines");
    }
}
