//! `filespy report`, the real binary: (a) a file of known content, rendered by filespy's own JSON
//! writer, loss reporter and stats line, with exact expected counts, time cuts and the bounded tables
//! going approximate; (b) a file the real monitor wrote on this host for a real workload, whose
//! report must agree with the events it holds; (c) bad inputs: malformed and overlong lines,
//! invalid UTF-8, a missing file, a directory, a FIFO, bad flags. The report needs no privileges,
//! so it also runs as nobody.

#[path = "common/events.rs"]
mod events;
#[path = "common/monitor.rs"]
mod monitor;

use events::python_job;
use filespy::clock::{Clock, TimeZone};
use filespy::event::Event;
use filespy::kinds::Op;
use filespy::loss::{LossReporter, Stats};
use filespy::output::JsonWriter;
use filespy::script::script_of;
use filespy::uuid::UuidGen;
use monitor::{q, run_sh, Filespy, Out, TestDir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_filespy");
/// A report that runs longer than this is a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `filespy report ARGS` with `stdin` (None: /dev/null), TZ=UTC; kills it after `LIMIT`.
fn report_with(args: &[&str], stdin: Option<Vec<u8>>, uid: Option<u32>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("report")
        .args(args)
        .env("TZ", "UTC0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let mut child = cmd.spawn().expect("run filespy report");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = read_all(Box::new(child.stdout.take().unwrap()));
    let err = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("filespy report {args:?} still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn report(args: &[&str]) -> Output {
    report_with(args, None, None)
}

/// The JSON report of `args`, which must succeed with nothing on stderr.
fn json_report(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = report(&all);
    ok_json(&out, &all)
}

fn ok_json(out: &Output, args: &[&str]) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("UTF-8 report");
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The key fields of each table's rows, in the order they are joined by `rows`.
fn key_fields(table: &str) -> &'static [&'static str] {
    match table {
        "ops" => &["op"],
        "processes" => &["name", "exe_path"],
        "users" => &["uid", "user"],
        "alerts" => &["severity"],
        _ => &["file_path"],
    }
}

/// A table's rows as (key fields joined with '|', null as "null"; count or bytes).
fn rows(report: &Value, table: &str) -> Vec<(String, u64)> {
    report[table]["top"]
        .as_array()
        .unwrap_or_else(|| panic!("no {table} in {report}"))
        .iter()
        .map(|r| {
            let key: Vec<String> = key_fields(table)
                .iter()
                .map(|f| match &r[*f] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let n = r.get("count").or(r.get("bytes")).unwrap();
            (key.join("|"), n.as_u64().unwrap())
        })
        .collect()
}

/// `rows` in one canonical order (count, then key), for comparing with counts made here.
fn sorted_rows(report: &Value, table: &str) -> Vec<(String, u64)> {
    let mut v = rows(report, table);
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn owned(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

// ---------------------------------------------------------------------------------------------
// (a) A file of known content

/// 2026-11-23T10:00:00Z in ns: the clock below is UTC with a zero offset, so monotonic = wall time.
const T0: u64 = 1_795_428_000 * 1_000_000_000;

struct Gen {
    writer: JsonWriter,
    out: Vec<u8>,
}

impl Gen {
    fn new() -> Gen {
        Gen {
            writer: JsonWriter::new(
                Clock::from_parts(0, TimeZone::utc()),
                UuidGen::new().expect("getrandom"),
            ),
            out: Vec::new(),
        }
    }

    /// One event rendered exactly as the monitor renders it, with an optional alert added.
    fn event(&mut self, ev: &Event, alert: Option<&str>) {
        let p = &ev.process;
        let script = script_of(&p.cmdline, p.exe_path.as_deref(), p.cwd.as_deref());
        let mut line = Vec::new();
        self.writer.write_event(ev, script.as_deref(), &mut line);
        if let Some(severity) = alert {
            let mut v: Value = serde_json::from_slice(&line).unwrap();
            v["alert"] =
                json!({"rule": "test", "category": "authentication", "severity": severity});
            line = serde_json::to_vec(&v).unwrap();
            line.push(b'\n');
        }
        self.out.extend_from_slice(&line);
    }

    fn text(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
    }
}

/// An event `secs` after T0 by `comm` (exe /usr/bin/COMM, or python3's), as `uid`/`user`.
fn ev(
    op: Op,
    secs: u64,
    comm: &str,
    uid: u32,
    user: Option<&str>,
    path: &str,
    bytes: u64,
) -> Event {
    let mut e = python_job();
    e.op = op;
    e.via = filespy::bpf::kinds::via_name(op, 0).unwrap_or("write");
    e.mono_ns = T0 + secs * 1_000_000_000;
    if comm != "python3" {
        e.process.comm = comm.as_bytes().to_vec();
        e.process.exe_path = Some(format!("/usr/bin/{comm}").into_bytes());
        e.process.cmdline = vec![comm.as_bytes().to_vec()];
    }
    e.process.uid = uid;
    e.process.user = user.map(Rc::from);
    e.file.path = path.as_bytes().to_vec();
    e.file.name = path.rsplit('/').next().unwrap().as_bytes().to_vec();
    e.file.bytes_written = if op == Op::Write { bytes } else { 0 };
    e
}

/// Ten events a second apart (plus filespy's own lines): python3 as alice writes /data/a.log
/// four times (100 bytes each), cp as root creates and writes /data/b.log twice (5000 bytes each),
/// mv and rm as alice rename and delete /data/c.log, bash as uid 65534 (no name) execs.
fn known_file() -> Vec<u8> {
    let mut g = Gen::new();
    let alice = Some("alice");
    g.text("filespy: ready (hook=tracepoint, cpus=2, buffer-pages=64, output=stdout)");
    for secs in 0..3 {
        g.event(
            &ev(Op::Write, secs, "python3", 1000, alice, "/data/a.log", 100),
            None,
        );
    }
    g.event(
        &ev(Op::Write, 3, "cp", 0, Some("root"), "/data/b.log", 5000),
        None,
    );
    g.event(
        &ev(Op::Create, 4, "cp", 0, Some("root"), "/data/b.log", 0),
        None,
    );
    let mut losses = LossReporter::new();
    losses.record(0, 300, Instant::now());
    losses.record(3, 12, Instant::now());
    let mut line = Vec::new();
    losses.maybe_report(Instant::now(), &mut line).unwrap();
    g.text(std::str::from_utf8(&line).unwrap().trim_end());
    g.event(
        &ev(Op::Write, 5, "cp", 0, Some("root"), "/data/b.log", 5000),
        None,
    );
    g.event(
        &ev(Op::Rename, 6, "mv", 1000, alice, "/data/c.log", 0),
        None,
    );
    g.event(
        &ev(Op::Delete, 7, "rm", 1000, alice, "/data/c.log", 0),
        None,
    );
    g.event(
        &ev(Op::Write, 8, "python3", 1000, alice, "/data/a.log", 100),
        Some("HIGH"),
    );
    g.event(
        &ev(Op::Exec, 9, "bash", 65534, None, "/usr/bin/bash", 0),
        Some("CRITICAL"),
    );
    let mut stats = Stats {
        events: 10,
        filtered: 4,
        failed_writes: 1,
        ..Stats::default()
    };
    stats.set_losses(&losses.totals());
    g.text(&stats.summary_line());
    g.out
}

fn write(dir: &TestDir, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn known_file_exact_counts() {
    let dir = TestDir::new("report-known");
    let file = write(&dir, "events.jsonl", &known_file());
    let r = json_report(&[&file]);

    assert_eq!(r["inputs"], json!([file]));
    assert_eq!(r["bytes"], std::fs::metadata(&file).unwrap().len());
    assert_eq!(r["first"], "2026-11-23T10:00:00.000000+00:00");
    assert_eq!(r["last"], "2026-11-23T10:00:09.000000+00:00");
    assert_eq!(
        r["lines"],
        json!({"total": 13, "events": 10, "outside_range": 0, "malformed": 0, "too_long": 0,
               "malformed_first": [], "filespy": 3})
    );
    assert_eq!(
        r["loss"],
        json!({"lost_lines": 1, "lost_events": 312, "stats_lines": 1,
               "last_stats": {"input": file, "line": 13, "events": 10, "lost": 312, "lost_output": 0}})
    );
    assert_eq!(
        rows(&r, "ops"),
        owned(&[
            ("write", 6),
            ("create", 1),
            ("delete", 1),
            ("exec", 1),
            ("rename", 1)
        ])
    );
    assert_eq!(
        rows(&r, "processes"),
        owned(&[
            ("python3|/usr/bin/python3.11", 4),
            ("cp|/usr/bin/cp", 3),
            ("bash|/usr/bin/bash", 1),
            ("mv|/usr/bin/mv", 1),
            ("rm|/usr/bin/rm", 1),
        ])
    );
    assert_eq!(rows(&r, "scripts"), owned(&[("/home/u/proj/job.py", 4)]));
    assert_eq!(
        rows(&r, "users"),
        owned(&[("1000|alice", 6), ("0|root", 3), ("65534|null", 1)])
    );
    assert_eq!(
        rows(&r, "files_by_writes"),
        owned(&[("/data/a.log", 4), ("/data/b.log", 2)])
    );
    assert_eq!(
        rows(&r, "files_by_bytes"),
        owned(&[("/data/b.log", 10_000), ("/data/a.log", 400)])
    );
    assert_eq!(rows(&r, "alerts"), owned(&[("CRITICAL", 1), ("HIGH", 1)]));
    for table in [
        "ops",
        "processes",
        "scripts",
        "users",
        "files_by_writes",
        "files_by_bytes",
        "alerts",
    ] {
        assert_eq!(r[table]["exact"], true, "{table}");
    }
    assert_eq!(r["processes"]["total"], 10);
    assert_eq!(r["files_by_bytes"]["total"], 10_400);

    // --top cuts the top tables (not ops and alerts, which are shown whole).
    let r = json_report(&["--top", "1", &file]);
    assert_eq!(
        rows(&r, "processes"),
        owned(&[("python3|/usr/bin/python3.11", 4)])
    );
    assert_eq!(
        rows(&r, "files_by_bytes"),
        owned(&[("/data/b.log", 10_000)])
    );
    assert_eq!(rows(&r, "ops").len(), 5);
    assert_eq!(rows(&r, "alerts").len(), 2);
}

#[test]
fn since_and_until_cut_the_events() {
    let dir = TestDir::new("report-range");
    let file = write(&dir, "events.jsonl", &known_file());
    // Seconds 3 to 7: since is inclusive (given here with another offset), until exclusive.
    let r = json_report(&[
        "--since",
        "2026-11-23T11:00:03+01:00",
        "--until",
        "2026-11-23T10:00:08Z",
        &file,
    ]);
    assert_eq!(r["since"], "2026-11-23T11:00:03+01:00");
    assert_eq!(r["until"], "2026-11-23T10:00:08Z");
    assert_eq!(r["lines"]["events"], 5);
    assert_eq!(r["lines"]["outside_range"], 5);
    assert_eq!(r["first"], "2026-11-23T10:00:03.000000+00:00");
    assert_eq!(r["last"], "2026-11-23T10:00:07.000000+00:00");
    assert_eq!(
        rows(&r, "ops"),
        owned(&[("write", 2), ("create", 1), ("delete", 1), ("rename", 1)])
    );
    assert_eq!(
        rows(&r, "files_by_bytes"),
        owned(&[("/data/b.log", 10_000)])
    );
    assert_eq!(
        rows(&r, "users"),
        owned(&[("0|root", 3), ("1000|alice", 2)])
    );
    assert!(rows(&r, "alerts").is_empty());
    // Loss lines carry no time: they are reported whatever the range.
    assert_eq!(r["loss"]["lost_events"], 312);

    // Plain dates are midnights (TZ=UTC here): the day before holds none of them, the day all.
    let r = json_report(&["--since", "2026-11-22", "--until", "2026-11-23", &file]);
    assert_eq!(
        (r["lines"]["events"].as_u64(), r["first"].is_null()),
        (Some(0), true)
    );
    let r = json_report(&["--since", "2026-11-23", "--until", "2026-11-24", &file]);
    assert_eq!(r["lines"]["events"], 10);
    let r = json_report(&["--until", "2026-11-23T10:00:00.000001Z", &file]);
    assert_eq!(r["lines"]["events"], 1);
}

#[test]
fn the_table_is_aligned_and_says_what_it_counted() {
    let dir = TestDir::new("report-table");
    let file = write(&dir, "events.jsonl", &known_file());
    let out = report(&[&file]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let has_row = |words: &[&str]| {
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
    };
    for row in [
        &["events", "10"][..],
        &["first", "2026-11-23T10:00:00.000000+00:00"],
        &["6", "write"],
        &["4", "python3", "/usr/bin/python3.11"],
        &["4", "/home/u/proj/job.py"],
        &["6", "1000", "alice"],
        &["1", "65534", "-"],
        &["10000", "/data/b.log"],
        &["1", "CRITICAL"],
    ] {
        assert!(has_row(row), "no row {row:?} in:\n{text}");
    }
    assert!(text.contains("1 loss lines, 312 events lost"), "{text}");
    assert!(
        text.contains(&format!("at {file}:13: events=10 lost=312 lost_output=0")),
        "{text}"
    );
    // Columns line up: every row of the processes table starts its EXE column at the same place.
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Top processes"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(section.len(), 6, "header and 5 rows: {section:?}");
    let col = |l: &str| l.find("/usr/bin/").unwrap_or(usize::MAX);
    assert_eq!(section[0].find("EXE"), Some(col(section[1])));
    assert!(
        section[1..].iter().all(|l| col(l) == col(section[1])),
        "{section:?}"
    );
    assert!(
        text.lines().all(|l| !l.ends_with(' ')),
        "trailing blanks:\n{text}"
    );
}

/// More distinct files than a table keeps: the counts become approximate, say so, and stay
/// within their bounds; the heavy file is still on top.
#[test]
fn more_keys_than_the_table_holds_are_approximate_and_bounded() {
    let dir = TestDir::new("report-approx");
    let mut g = Gen::new();
    let distinct = filespy::report::topn::CAPACITY + 1000;
    for i in 0..distinct {
        g.event(
            &ev(Op::Write, 0, "python3", 1000, None, &format!("/d/f{i}"), 1),
            None,
        );
        if i % 50 == 0 {
            g.event(
                &ev(Op::Write, 1, "python3", 1000, None, "/d/heavy", 1000),
                None,
            );
        }
    }
    let file = write(&dir, "many.jsonl", &g.out);
    let heavy_writes = distinct.div_ceil(50) as u64;
    let r = json_report(&["--top", "3", &file]);
    for table in ["files_by_writes", "files_by_bytes"] {
        let t = &r[table];
        assert_eq!(t["exact"], false, "{table}");
        let top = &t["top"][0];
        assert_eq!(top["file_path"], "/d/heavy", "{table}: {t}");
        let (count, error) = (
            top.get("count")
                .or(top.get("bytes"))
                .unwrap()
                .as_u64()
                .unwrap(),
            top["error"].as_u64().unwrap(),
        );
        let truth = if table == "files_by_writes" {
            heavy_writes
        } else {
            heavy_writes * 1000
        };
        assert!(count >= truth && count - error <= truth, "{table}: {top}");
        let total = t["total"].as_u64().unwrap();
        assert!(
            error <= total / filespy::report::topn::CAPACITY as u64,
            "{table}: {top}"
        );
    }
    assert_eq!(
        r["files_by_writes"]["total"],
        distinct as u64 + heavy_writes
    );
    // Tables that met few keys stay exact.
    assert_eq!(r["processes"]["exact"], true);
    assert_eq!(rows(&r, "processes")[0].1, distinct as u64 + heavy_writes);

    let text = String::from_utf8(report(&[&file]).stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("Top files by writes") && l.contains("approximate")),
        "{text}"
    );
    assert!(text.contains("COUNT  ERROR  FILE"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// (b) A file the real monitor wrote

/// Counts of the events in `lines` computed directly, to compare with the report's tables.
fn expected_tables(lines: &[String]) -> BTreeMap<&'static str, Vec<(String, u64)>> {
    let mut tables: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
    let mut add = |t: &'static str, k: String, n: u64| {
        *tables.entry(t).or_default().entry(k).or_default() += n
    };
    for line in lines {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let p = &e["process"];
        add("ops", e["op"].as_str().unwrap().to_string(), 1);
        let s = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        add(
            "processes",
            format!("{}|{}", s(&p["name"]), s(&p["exe_path"])),
            1,
        );
        if let Some(script) = p["file_path"].as_str() {
            add("scripts", script.to_string(), 1);
        }
        add("users", format!("{}|{}", p["uid"], s(&p["user"])), 1);
        if e["op"] == "write" {
            let path = e["file"]["file_path"].as_str().unwrap().to_string();
            add("files_by_writes", path.clone(), 1);
            add(
                "files_by_bytes",
                path,
                e["file"]["bytes_written"].as_u64().unwrap(),
            );
        }
    }
    tables
        .into_iter()
        .map(|(t, m)| {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (t, v)
        })
        .collect()
}

#[test]
fn a_real_monitor_file_reports_what_its_events_say() {
    let work = TestDir::new("report-real-work");
    let logs = TestDir::new("report-real-logs");
    let events = logs.join("events.jsonl");
    let mon = Filespy::start(
        &[
            "--events",
            "all",
            "--path",
            work.str(),
            "--all-files",
            "--buffer-pages",
            "1024",
            "--stats",
        ],
        Out::File(events.clone()),
    );
    let d = q(work.str());
    run_sh(&format!(
        "cd {d} && python3 -c \"
f = open('a.txt', 'w')
for i in range(5):
    f.write('x' * 1000)
    f.flush()
f.close()
\" && cp a.txt b.txt && mv b.txt c.txt && rm c.txt && mkdir sub && rmdir sub"
    ));
    let fin = mon.stop();
    // As a user who captured 2>&1 would have it: stderr (ready, loss, stats lines) in the file too.
    let mut data = std::fs::read(&events).unwrap();
    for l in &fin.stderr_lines {
        data.extend_from_slice(l.text.as_bytes());
        data.push(b'\n');
    }
    std::fs::write(&events, &data).unwrap();
    let lines: Vec<String> = String::from_utf8(data)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    // The workload is in the file: five 1000-byte writes of a.txt by python3, the copy, the rename.
    let a = format!("{}/a.txt", work.str());
    let b = format!("{}/b.txt", work.str());
    let c = format!("{}/c.txt", work.str());
    let parsed: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |op: &str, path: &str| {
        parsed
            .iter()
            .filter(|e| e["op"] == op && e["file"]["file_path"] == path)
            .count()
    };
    assert_eq!(
        of("write", &a),
        5,
        "python3's writes; stderr:\n{}",
        fin.stderr
    );
    assert!(of("write", &b) >= 1 && of("rename", &c) == 1 && of("delete", &c) == 1);

    let path = events.to_str().unwrap();
    let r = json_report(&["--top", "4096", path]);
    let want = expected_tables(&lines);
    for table in [
        "ops",
        "processes",
        "scripts",
        "users",
        "files_by_writes",
        "files_by_bytes",
    ] {
        assert_eq!(r[table]["exact"], true, "{table}");
        assert_eq!(
            sorted_rows(&r, table),
            want.get(table).cloned().unwrap_or_default(),
            "{table}"
        );
    }
    let bytes_a = rows(&r, "files_by_bytes")
        .into_iter()
        .find(|(k, _)| *k == a);
    assert_eq!(bytes_a, Some((a.clone(), 5000)));
    assert_eq!(r["lines"]["events"].as_u64(), Some(parsed.len() as u64));
    assert_eq!(r["lines"]["malformed"], 0);
    // The run's own --stats line is found and read.
    let stats = fin.stats();
    assert_eq!(r["loss"]["stats_lines"], 1);
    assert_eq!(r["loss"]["last_stats"]["events"], stats.events);
    assert_eq!(r["loss"]["last_stats"]["lost"], stats.lost);
    let stats_line = lines
        .iter()
        .position(|l| l.starts_with("filespy: stats "))
        .unwrap();
    assert_eq!(r["loss"]["last_stats"]["line"], stats_line as u64 + 1);
    let lost_in_lines: u64 = fin
        .stderr_lines
        .iter()
        .filter_map(|l| l.text.strip_prefix("filespy: lost "))
        .map(|t| t.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(r["loss"]["lost_events"], lost_in_lines);
    let timestamps: Vec<&str> = parsed
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(
        r["first"],
        *timestamps.iter().min().unwrap(),
        "events are in time order"
    );
    assert_eq!(r["last"], *timestamps.iter().max().unwrap());
}

// ---------------------------------------------------------------------------------------------
// (c) Bad input

#[test]
fn malformed_overlong_and_non_utf8_lines_are_counted_and_skipped() {
    let dir = TestDir::new("report-bad-lines");
    let good = known_file();
    let mut data = Vec::new();
    data.extend_from_slice(b"plain text\n"); // 1
    data.extend_from_slice(
        b"{\"op\":\"write\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"x\":\"\xff\"}\n",
    ); // 2
    data.extend_from_slice(b"{\"op\":\"write\",\"timest"); // 3: torn, no newline before the next
    data.extend_from_slice(b"\n");
    data.extend_from_slice(b"{\"op\":\"write\",\"timestamp\":\"");
    data.extend(std::iter::repeat_n(b'x', 3 * filespy::report::MAX_LINE)); // 4: 3 MiB
    data.extend_from_slice(b"\"}\n");
    data.extend_from_slice(&good); // 5..17
    data.extend_from_slice(b"\xfe\xff\x00\n"); // 18
    data.extend_from_slice(b"[1,2]\n"); // 19
    data.extend_from_slice(b"{\"op\":\"write\",\"timestamp\":\"2026-11-23T10:00:00Z\"}"); // 20, no newline
    let file = write(&dir, "bad.jsonl", &data);
    let r = json_report(&[&file]);
    assert_eq!(r["lines"]["total"], 20);
    assert_eq!(
        r["lines"]["events"], 11,
        "the good file's ten and the last line"
    );
    assert_eq!(r["lines"]["malformed"], 6);
    assert_eq!(r["lines"]["too_long"], 1);
    let places: Vec<u64> = r["lines"]["malformed_first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(places, [1, 2, 3, 4, 18], "the first five");
    assert_eq!(rows(&r, "ops")[0], ("write".to_string(), 7));

    let text = String::from_utf8(report(&[&file]).stdout).unwrap();
    assert!(
        text.contains(&format!("6 (1 longer than 1 MiB): {file}:1, {file}:2")),
        "{text}"
    );
}

#[test]
fn stdin_dash_and_several_files_in_order() {
    let dir = TestDir::new("report-stdin");
    let file = write(&dir, "events.jsonl", &known_file());
    let r = ok_json(
        &report_with(&["--format", "json"], Some(known_file()), None),
        &["stdin"],
    );
    assert_eq!(
        (r["inputs"].clone(), r["lines"]["events"].as_u64()),
        (json!(["-"]), Some(10))
    );
    let r = ok_json(
        &report_with(
            &["--format", "json", &file, "-", &file],
            Some(b"junk\n".to_vec()),
            None,
        ),
        &["mixed"],
    );
    assert_eq!(r["inputs"], json!([file, "-", file]));
    assert_eq!(r["lines"]["events"], 20);
    assert_eq!(
        r["lines"]["malformed_first"],
        json!([{"input": "-", "line": 1}])
    );
}

#[test]
fn needs_no_privileges() {
    let dir = TestDir::new("report-nobody");
    let file = write(&dir, "events.jsonl", &known_file());
    let out = report_with(&["--format", "json", &file], None, Some(65534));
    assert_eq!(ok_json(&out, &["as nobody"])["lines"]["events"], 10);
}

#[test]
fn a_fifo_is_read_to_its_writers_end() {
    let dir = TestDir::new("report-fifo");
    let fifo = dir.join("events.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            // In two bursts, so the reader sees a pause in the middle of the stream.
            let data = known_file();
            let (a, b) = data.split_at(data.len() / 2);
            f.write_all(a).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            f.write_all(b).unwrap();
        })
    };
    let r = json_report(&[fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(r["lines"]["events"], 10);
    assert_eq!(r["lines"]["malformed"], 0);
}

/// One line on stderr naming the cause; exit 1; nothing on stdout.
fn assert_fails_naming(out: &Output, code: i32, what: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let first = stderr.lines().next().unwrap_or("");
    for w in what {
        assert!(first.contains(w), "{first:?} lacks {w:?}");
    }
    let lines = stderr.lines().count();
    match code {
        1 => assert_eq!(lines, 1, "{stderr}"),
        _ => {
            assert_eq!(lines, 2, "the error and the usage hint: {stderr}");
            assert!(stderr.contains("filespy report --help"), "{stderr}");
        }
    }
}

#[test]
fn unreadable_inputs_exit_1_naming_them() {
    let dir = TestDir::new("report-missing");
    let file = write(&dir, "events.jsonl", &known_file());
    let missing = dir.join("missing.jsonl");
    let missing = missing.to_str().unwrap();
    assert_fails_naming(&report(&[&file, missing]), 1, &[missing, "No such file"]);
    assert_fails_naming(&report(&[dir.str()]), 1, &[dir.str(), "directory"]);
    let secret = write(&dir, "secret.jsonl", b"{}\n");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert_fails_naming(
        &report_with(&[&secret], None, Some(65534)),
        1,
        &[&secret, "Permission denied"],
    );
}

#[test]
fn bad_flags_exit_2_naming_flag_and_value() {
    for (args, what) in [
        (
            &["--since", "yesterday"][..],
            &["--since", "\"yesterday\""][..],
        ),
        (&["--until", "2026-11-31"], &["--until", "2026-11-31"]),
        (
            &["--since", "2026-11-23T10:00:00"],
            &["--since", "2026-11-23T10:00:00"],
        ),
        (
            &["--since", "2026-11-24", "--until", "2026-11-23"],
            &["--until", "not after"],
        ),
        (&["--format", "xml"], &["--format", "xml"]),
        (&["--top", "0"], &["--top", "0"]),
        (&["--top", "4097"], &["--top", "4097"]),
        (&["--top", "ten"], &["--top", "ten"]),
        (&["--bogus"], &["--bogus"]),
        (&["--since"], &["--since"]),
        (&[""], &["empty file name"]),
    ] {
        assert_fails_naming(&report(args), 2, what);
    }
}

#[test]
fn help_is_the_reports_own() {
    for flag in ["--help", "-h"] {
        let out = report(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8(out.stdout).unwrap();
        assert_eq!(help, filespy::cli::REPORT_HELP);
        for f in ["--since", "--until", "--format", "--top"] {
            assert!(help.contains(f), "{f}");
        }
    }
    // The main help points to it.
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("filespy report --help"));
}

#[test]
fn empty_input_is_an_empty_report() {
    let r = ok_json(
        &report_with(&["--format", "json"], Some(Vec::new()), None),
        &["empty"],
    );
    assert_eq!(r["lines"]["total"], 0);
    assert!(r["first"].is_null() && r["last"].is_null());
    assert_eq!(
        r["processes"],
        json!({"exact": true, "total": 0, "top": []})
    );
}
