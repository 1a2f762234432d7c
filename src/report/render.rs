//! The report as aligned text for people, or as one JSON object (shape documented in the README).
//! Names come from the input, which anyone may have written into: in the table every control
//! character is escaped, so a name can neither forge a line nor send terminal escape sequences.

use serde::Serialize;

use super::summary::{Place, Summary};
use super::topn::{Entry, TopN};
use super::{ReportConfig, MAX_LINE};
use crate::output::encode::text_escape_into;

// ---- JSON ------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Report<'a> {
    inputs: &'a [String],
    bytes: u64,
    since: Option<&'a str>,
    until: Option<&'a str>,
    first: Option<&'a str>,
    last: Option<&'a str>,
    lines: LineCounts,
    loss: Loss,
    ops: Table<Row<'a>>,
    processes: Table<Row<'a>>,
    scripts: Table<Row<'a>>,
    users: Table<Row<'a>>,
    files_by_writes: Table<Row<'a>>,
    files_by_bytes: Table<Row<'a>>,
    alerts: Table<Row<'a>>,
}

#[derive(Serialize)]
struct LineCounts {
    total: u64,
    events: u64,
    outside_range: u64,
    malformed: u64,
    too_long: u64,
    malformed_first: Vec<JsonPlace>,
    filespy: u64,
}

#[derive(Serialize)]
struct JsonPlace {
    input: String,
    line: u64,
}

#[derive(Serialize)]
struct Loss {
    lost_lines: u64,
    lost_events: u64,
    stats_lines: u64,
    last_stats: Option<JsonStats>,
}

#[derive(Serialize)]
struct JsonStats {
    input: String,
    line: u64,
    events: u64,
    lost: u64,
    lost_output: u64,
}

#[derive(Serialize)]
struct Table<R> {
    /// No key had to make room for another: every count is exact.
    exact: bool,
    /// Exact sum over every event counted (bytes for files_by_bytes).
    total: u64,
    top: Vec<R>,
}

/// One row; which key fields appear depends on the table.
#[derive(Serialize, Default)]
struct Row<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'a str>,
    /// Process tables: `name` and `exe_path` (null when the event had none).
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe_path: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    /// How far `count` (or `bytes`) may exceed the truth; 0 when exact.
    error: u64,
}

/// The two parts of a composite key (`a NUL b`); an empty part is null.
fn split_key(key: &str) -> (Option<&str>, Option<&str>) {
    let (a, b) = key.split_once('\0').unwrap_or((key, ""));
    (non_empty(a), non_empty(b))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn rows<'a>(t: &'a TopN, n: usize, fill: impl Fn(&'a str, u64, &mut Row<'a>)) -> Table<Row<'a>> {
    let top = t
        .top(n)
        .into_iter()
        .map(|e| {
            let mut row = Row {
                error: e.error,
                ..Row::default()
            };
            fill(&e.key, e.count, &mut row);
            row
        })
        .collect();
    Table {
        exact: t.exact(),
        total: t.total(),
        top,
    }
}

pub fn json(s: &Summary, config: &ReportConfig, out: &mut Vec<u8>) {
    let place = |p: &Place| JsonPlace {
        input: s.inputs[p.input].clone(),
        line: p.line,
    };
    let n = config.top;
    let all = usize::MAX;
    let report = Report {
        inputs: &s.inputs,
        bytes: s.bytes,
        since: config.since.as_ref().map(|b| b.text.as_str()),
        until: config.until.as_ref().map(|b| b.text.as_str()),
        first: s.first.as_ref().map(|t| t.text.as_str()),
        last: s.last.as_ref().map(|t| t.text.as_str()),
        lines: LineCounts {
            total: s.lines,
            events: s.events,
            outside_range: s.outside_range,
            malformed: s.malformed,
            too_long: s.too_long,
            malformed_first: s.malformed_first.iter().map(place).collect(),
            filespy: s.other_filespy_lines + s.lost_lines + s.stats_lines,
        },
        loss: Loss {
            lost_lines: s.lost_lines,
            lost_events: s.lost_events,
            stats_lines: s.stats_lines,
            last_stats: s.last_stats.map(|st| {
                let p = place(&st.place.expect("stats lines have a place"));
                JsonStats {
                    input: p.input,
                    line: p.line,
                    events: st.events,
                    lost: st.lost,
                    lost_output: st.lost_output,
                }
            }),
        },
        ops: rows(&s.ops, all, |k, c, r| {
            r.op = Some(k);
            r.count = Some(c);
        }),
        processes: rows(&s.processes, n, |k, c, r| {
            let (name, exe) = split_key(k);
            (r.name, r.exe_path, r.count) = (Some(name), Some(exe), Some(c));
        }),
        scripts: rows(&s.scripts, n, |k, c, r| {
            (r.file_path, r.count) = (Some(k), Some(c));
        }),
        users: rows(&s.users, n, |k, c, r| {
            let (uid, user) = split_key(k);
            r.uid = uid.and_then(|u| u.parse().ok());
            (r.user, r.count) = (Some(user), Some(c));
        }),
        files_by_writes: rows(&s.files_by_writes, n, |k, c, r| {
            (r.file_path, r.count) = (Some(k), Some(c));
        }),
        files_by_bytes: rows(&s.files_by_bytes, n, |k, c, r| {
            (r.file_path, r.bytes) = (Some(k), Some(c));
        }),
        alerts: rows(&s.alerts, all, |k, c, r| {
            (r.severity, r.count) = (Some(k), Some(c));
        }),
    };
    serde_json::to_writer(&mut *out, &report).expect("serialising to a Vec cannot fail");
    out.push(b'\n');
}

// ---- Table -----------------------------------------------------------------------------------------

/// One cell: escaped bytes and their width in characters.
struct Cell {
    text: Vec<u8>,
    width: usize,
}

fn cell(s: &str) -> Cell {
    let mut text = Vec::new();
    let width = text_escape_into(s.as_bytes(), &mut text);
    Cell { text, width }
}

fn pad(out: &mut Vec<u8>, n: usize) {
    out.extend(std::iter::repeat_n(b' ', n));
}

/// Rows under a header line, columns two spaces apart; numeric columns (`right`) align right.
fn grid(out: &mut Vec<u8>, header: &[(&str, bool)], rows: &[Vec<Cell>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].width)
                .chain([header[i].0.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut Vec<u8>, cells: &[Cell]| {
        out.extend_from_slice(b" ");
        for (i, c) in cells.iter().enumerate() {
            let room = widths[i] - c.width;
            out.extend_from_slice(b" ");
            if header[i].1 {
                pad(out, room);
            }
            out.extend_from_slice(&c.text);
            // No trailing blanks after the last column.
            if !header[i].1 && i + 1 < cells.len() {
                pad(out, room);
            }
            if i + 1 < cells.len() {
                out.extend_from_slice(b" ");
            }
        }
        out.push(b'\n');
    };
    let titles: Vec<Cell> = header.iter().map(|(t, _)| cell(t)).collect();
    line(out, &titles);
    for r in rows {
        line(out, r);
    }
}

/// A titled table of `t`'s top entries, with an ERROR column when its counts are approximate.
fn section(
    out: &mut Vec<u8>,
    title: &str,
    unit: &str,
    t: &TopN,
    n: usize,
    columns: &[&str],
    cells: impl Fn(&Entry) -> Vec<Cell>,
) {
    out.extend_from_slice(format!("\n{title} (total {} {unit}", t.total()).as_bytes());
    if !t.exact() {
        out.extend_from_slice(
            b"; approximate: more distinct keys than are kept, so a count may exceed the truth by up to its ERROR",
        );
    }
    out.extend_from_slice(b")\n");
    if t.is_empty() {
        out.extend_from_slice(b"  (none)\n");
        return;
    }
    let count_title = if unit == "bytes" { "BYTES" } else { "COUNT" };
    let mut header = vec![(count_title, true)];
    if !t.exact() {
        header.push(("ERROR", true));
    }
    header.extend(columns.iter().map(|c| (*c, false)));
    let rows: Vec<Vec<Cell>> = t
        .top(n)
        .into_iter()
        .map(|e| {
            let mut row = vec![cell(&e.count.to_string())];
            if !t.exact() {
                row.push(cell(&e.error.to_string()));
            }
            row.extend(cells(e));
            row
        })
        .collect();
    grid(out, &header, &rows);
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

pub fn table(s: &Summary, config: &ReportConfig, out: &mut Vec<u8>) {
    let place = |p: &Place| {
        let mut text = Vec::new();
        text_escape_into(s.inputs[p.input].as_bytes(), &mut text);
        text.extend_from_slice(format!(":{}", p.line).as_bytes());
        text
    };
    let mut field = |name: &str, value: &[u8]| {
        out.extend_from_slice(format!("{name:<11}").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    };
    let mut inputs = Vec::new();
    for (i, name) in s.inputs.iter().enumerate() {
        if i > 0 {
            inputs.extend_from_slice(b", ");
        }
        text_escape_into(name.as_bytes(), &mut inputs);
    }
    inputs.extend_from_slice(format!(" ({} bytes, {} lines)", s.bytes, s.lines).as_bytes());
    field("inputs", &inputs);
    let bound = |b: &Option<super::Bound>| {
        let mut text = Vec::new();
        text_escape_into(
            b.as_ref().map_or("-", |b| b.text.as_str()).as_bytes(),
            &mut text,
        );
        text
    };
    field("since", &bound(&config.since));
    field("until", &bound(&config.until));
    let mut events = s.events.to_string();
    if s.outside_range > 0 {
        events += &format!(" ({} more outside the time range)", s.outside_range);
    }
    field("events", events.as_bytes());
    field(
        "first",
        or_dash(s.first.as_ref().map(|t| t.text.as_str())).as_bytes(),
    );
    field(
        "last",
        or_dash(s.last.as_ref().map(|t| t.text.as_str())).as_bytes(),
    );
    let mut malformed = s.malformed.to_string().into_bytes();
    if s.too_long > 0 {
        malformed.extend_from_slice(
            format!(" ({} longer than {} MiB)", s.too_long, MAX_LINE >> 20).as_bytes(),
        );
    }
    for (i, p) in s.malformed_first.iter().enumerate() {
        malformed.extend_from_slice(if i == 0 { b": " } else { b", " });
        malformed.extend_from_slice(&place(p));
    }
    if s.malformed > s.malformed_first.len() as u64 {
        malformed.extend_from_slice(b", ...");
    }
    field("malformed", &malformed);
    field(
        "loss",
        format!("{} loss lines, {} events lost", s.lost_lines, s.lost_events).as_bytes(),
    );
    let mut stats = format!("{} stats lines", s.stats_lines).into_bytes();
    if let Some(st) = &s.last_stats {
        stats.extend_from_slice(b"; the last, at ");
        stats.extend_from_slice(&place(&st.place.expect("stats lines have a place")));
        stats.extend_from_slice(
            format!(
                ": events={} lost={} lost_output={}",
                st.events, st.lost, st.lost_output
            )
            .as_bytes(),
        );
    }
    field("stats", &stats);
    field(
        "filespy",
        format!("{} other filespy lines", s.other_filespy_lines).as_bytes(),
    );

    let n = config.top;
    section(
        out,
        "Events by op",
        "events",
        &s.ops,
        usize::MAX,
        &["OP"],
        |e| vec![cell(&e.key)],
    );
    section(
        out,
        "Top processes",
        "events",
        &s.processes,
        n,
        &["NAME", "EXE"],
        |e| {
            let (name, exe) = split_key(&e.key);
            vec![cell(or_dash(name)), cell(or_dash(exe))]
        },
    );
    section(
        out,
        "Top scripts",
        "events",
        &s.scripts,
        n,
        &["SCRIPT"],
        |e| vec![cell(&e.key)],
    );
    section(
        out,
        "Top users",
        "events",
        &s.users,
        n,
        &["UID", "USER"],
        |e| {
            let (uid, user) = split_key(&e.key);
            vec![cell(or_dash(uid)), cell(or_dash(user))]
        },
    );
    section(
        out,
        "Top files by writes",
        "writes",
        &s.files_by_writes,
        n,
        &["FILE"],
        |e| vec![cell(&e.key)],
    );
    section(
        out,
        "Top files by bytes written",
        "bytes",
        &s.files_by_bytes,
        n,
        &["FILE"],
        |e| vec![cell(&e.key)],
    );
    section(
        out,
        "Alerts by severity",
        "alerts",
        &s.alerts,
        usize::MAX,
        &["SEVERITY"],
        |e| vec![cell(&e.key)],
    );
}
