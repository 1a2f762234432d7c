//! End-to-end output checks: real rendered lines parsed back by serde_json and by python3's json.

#[path = "common/events.rs"]
mod events;

use events::{python_job, MONO};
use filespy::clock::{Clock, TimeZone};
use filespy::event::{Event, FileInfo, ProcessInfo};
use filespy::kinds::Op;
use filespy::output::{Format, Formatter, JsonWriter};
use filespy::script::script_of;
use filespy::uuid::UuidGen;
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Counts this thread's allocations, to show steady-state rendering allocates nothing.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn writer() -> JsonWriter {
    let berlin = std::fs::read("/usr/share/zoneinfo/Europe/Berlin")
        .expect("tzdata's Europe/Berlin is needed");
    JsonWriter::new(
        Clock::from_parts(0, TimeZone::from_tzif(&berlin).unwrap()),
        UuidGen::new().unwrap(),
    )
}

/// Newline, quote, backslash, tab, U+2028, invalid UTF-8, empty cmdline, no exe, flags set.
fn tricky() -> Event {
    Event {
        mono_ns: MONO,
        op: Op::Write,
        via: "write",
        process: ProcessInfo {
            pid: 7,
            tid: 8,
            ppid: 6,
            uid: 0,
            gid: u32::MAX,
            comm: b"we\"ird\\\t\n".to_vec(),
            exe_path: None,
            cmdline: vec![],
            cmdline_truncated: true,
            cwd: None,
            ..ProcessInfo::default()
        },
        file: FileInfo {
            name: b"a\x80.txt".to_vec(),
            path: b"/tmp/line\nbreak\xe2\x80\xa8/a\x80.txt".to_vec(),
            bytes_written: u64::MAX,
            inode: 0,
            dev_major: 0,
            dev_minor: 0,
            truncated: true,
            deleted: true,
            has_inode: true,
            ..FileInfo::default()
        },
        ..Event::default()
    }
}

fn render(w: &mut JsonWriter, ev: &Event, script: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    w.write_event(ev, script, &mut out);
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 char {c}"),
    };
    let mut out = Vec::new();
    for q in s.as_bytes().chunks(4) {
        let n = q
            .iter()
            .take_while(|&&c| c != b'=')
            .fold(0u32, |a, &c| a << 6 | u32::from(val(c)));
        let k = q.iter().filter(|&&c| c != b'=').count();
        let n = n << (6 * (4 - k));
        out.extend_from_slice(&n.to_be_bytes()[1..k]);
    }
    out
}

/// Keys of a JSON object in document order, read from the raw text by python3 (order-preserving).
fn python_dump(lines: &[u8]) -> Value {
    let script = r#"
import json, sys, base64
out = []
for line in sys.stdin.buffer.read().split(b"\n")[:-1]:
    o = json.loads(line)
    out.append({
        "keys": list(o.keys()),
        "process_keys": list(o["process"].keys()),
        "file_keys": list(o["file"].keys()),
        "obj": o,
        "file_name_hex": base64.b64decode(o["file"].get("name_b64", "")).hex(),
        "file_path_hex": base64.b64decode(o["file"].get("file_path_b64", "")).hex(),
        "cmdline_hex": [base64.b64decode(a).hex() for a in o["process"].get("cmdline_b64", [])],
    })
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    child.stdin.take().unwrap().write_all(lines).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 rejected the output");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

#[test]
fn typical_event_fields_and_key_order() {
    let ev = python_job();
    let script = script_of(
        &ev.process.cmdline,
        ev.process.exe_path.as_deref(),
        ev.process.cwd.as_deref(),
    );
    assert_eq!(script.as_deref(), Some(&b"/home/u/proj/job.py"[..]));
    let line = render(&mut writer(), &ev, script.as_deref());
    assert_eq!(line.iter().filter(|&&c| c == b'\n').count(), 1);
    assert!(line.ends_with(b"}\n"));
    let v: Value = serde_json::from_slice(&line).unwrap();
    let id = v["id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"));
    assert_eq!(v["timestamp"], "2026-01-12T21:38:42.880979+01:00");
    assert_eq!(v["system_ts"], MONO);
    let p = &v["process"];
    assert_eq!(p["name"], "python3");
    assert_eq!(
        (p["pid"].as_u64(), p["tid"].as_u64(), p["ppid"].as_u64()),
        (Some(4242), Some(4243), Some(1))
    );
    assert_eq!(
        (p["uid"].as_u64(), p["gid"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(p["exe_path"], "/usr/bin/python3.11");
    assert_eq!(p["file_path"], "/home/u/proj/job.py");
    assert_eq!(
        p["cmdline"],
        serde_json::json!(["python3", "./job.py", "--out", "/var/log/x.log"])
    );
    assert_eq!(p["cwd"], "/home/u/proj");
    let f = &v["file"];
    assert_eq!(f["name"], "x.log");
    assert_eq!(f["file_path"], "/var/log/x.log");
    assert_eq!(f["bytes_written"], 4096);
    assert_eq!(f["inode"], 1_234_567);
    assert_eq!(f["dev"], "259:2");

    let py = &python_dump(&line)[0];
    assert_eq!(
        py["keys"],
        serde_json::json!([
            "id",
            "op",
            "via",
            "timestamp",
            "system_ts",
            "process",
            "file",
            "container",
            "host"
        ])
    );
    assert_eq!(
        py["process_keys"],
        serde_json::json!([
            "name",
            "pid",
            "tid",
            "ppid",
            "uid",
            "gid",
            "exe_path",
            "file_path",
            "cmdline",
            "cwd",
            "euid",
            "egid",
            "auid",
            "session_id",
            "user",
            "group",
            "entity_id",
            "cgroup_id",
            "parent",
            "ancestors"
        ])
    );
    // Flags and _b64 keys are absent when false / when the bytes are UTF-8.
    assert_eq!(
        py["file_keys"],
        serde_json::json!(["name", "file_path", "bytes_written", "inode", "dev"])
    );
    assert_eq!(py["obj"], v);
}

#[test]
fn tricky_event_round_trips_through_serde_and_python() {
    let ev = tricky();
    let mut w = writer();
    let mut lines = render(&mut w, &ev, None);
    // A second event: invalid bytes inside cmdline and a non-UTF-8 script path.
    let mut ev2 = python_job();
    ev2.process.cmdline = vec![
        b"bash".to_vec(),
        b"./r\xffn.sh".to_vec(),
        b"".to_vec(),
        b"tab\there \"q\" \\".to_vec(),
    ];
    ev2.process.cwd = Some(b"/h\xc3".to_vec());
    let script = script_of(
        &ev2.process.cmdline,
        Some(b"/usr/bin/bash"),
        ev2.process.cwd.as_deref(),
    )
    .unwrap();
    assert_eq!(script, b"/h\xc3/r\xffn.sh");
    lines.extend(render(&mut w, &ev2, Some(&script)));
    assert_eq!(lines.iter().filter(|&&c| c == b'\n').count(), 2);
    let text = std::str::from_utf8(&lines).expect("output is always UTF-8");
    assert!(!text.contains('\u{2028}'), "U+2028 must be escaped");

    let mut parsed = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap());
    let v = parsed.next().unwrap();
    let p = &v["process"];
    assert_eq!(p["name"], "we\"ird\\\t\n");
    assert_eq!(p["gid"].as_u64(), Some(u64::from(u32::MAX)));
    assert!(p["exe_path"].is_null() && p["file_path"].is_null() && p["cwd"].is_null());
    assert_eq!(p["cmdline"], serde_json::json!([]));
    assert!(p.get("cmdline_b64").is_none());
    assert_eq!(p["cmdline_truncated"], true);
    let f = &v["file"];
    assert_eq!(f["name"], "a\u{fffd}.txt");
    assert_eq!(f["name_b64"], "YYAudHh0");
    assert_eq!(b64_decode(f["name_b64"].as_str().unwrap()), ev.file.name);
    assert_eq!(f["file_path"], "/tmp/line\nbreak\u{2028}/a\u{fffd}.txt");
    assert_eq!(
        b64_decode(f["file_path_b64"].as_str().unwrap()),
        ev.file.path
    );
    assert_eq!(f["bytes_written"].as_u64(), Some(u64::MAX));
    assert_eq!(f["dev"], "0:0");
    assert_eq!(
        (&f["truncated"], &f["deleted"]),
        (&Value::Bool(true), &Value::Bool(true))
    );

    let v2 = parsed.next().unwrap();
    let p2 = &v2["process"];
    assert_eq!(
        p2["cmdline"],
        serde_json::json!(["bash", "./r\u{fffd}n.sh", "", "tab\there \"q\" \\"])
    );
    let b64s: Vec<Vec<u8>> = p2["cmdline_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| b64_decode(a.as_str().unwrap()))
        .collect();
    assert_eq!(b64s, ev2.process.cmdline);
    assert_eq!(b64_decode(p2["file_path_b64"].as_str().unwrap()), script);
    assert_eq!(b64_decode(p2["cwd_b64"].as_str().unwrap()), b"/h\xc3");

    // python3 reads the same bytes to the same values, and its base64 gives the exact originals.
    let py = python_dump(&lines);
    assert_eq!(py[0]["obj"], v);
    assert_eq!(py[1]["obj"], v2);
    assert_eq!(py[0]["file_name_hex"], hex(&ev.file.name));
    assert_eq!(py[0]["file_path_hex"], hex(&ev.file.path));
    assert_eq!(
        py[1]["cmdline_hex"],
        Value::Array(
            ev2.process
                .cmdline
                .iter()
                .map(|a| Value::String(hex(a)))
                .collect()
        )
    );
    assert_eq!(
        py[0]["process_keys"],
        serde_json::json!([
            "name",
            "pid",
            "tid",
            "ppid",
            "uid",
            "gid",
            "exe_path",
            "file_path",
            "cmdline",
            "cmdline_truncated",
            "cwd",
            "euid",
            "egid",
            "auid",
            "session_id",
            "user",
            "group",
            "entity_id",
            "cgroup_id",
            "parent",
            "ancestors"
        ])
    );
    assert_eq!(
        py[0]["file_keys"],
        serde_json::json!([
            "name",
            "name_b64",
            "file_path",
            "file_path_b64",
            "bytes_written",
            "inode",
            "dev",
            "truncated",
            "deleted"
        ])
    );
}

#[test]
fn formatter_dispatch() {
    let clock = || Clock::from_parts(0, TimeZone::utc());
    let ev = python_job();
    let mut out = Vec::new();
    Formatter::new(Format::Json, clock(), true)
        .unwrap()
        .write_event(&ev, None, &mut out);
    assert!(serde_json::from_slice::<Value>(&out).unwrap()["process"]["file_path"].is_null());
    out.clear();
    Formatter::new(Format::Text, clock(), false)
        .unwrap()
        .write_event(&ev, Some(b"/home/u/proj/job.py"), &mut out);
    assert_eq!(
        out,
        b"20:38:42.880     4242  job.py            write           4096  /var/log/x.log\n"
    );
}

/// Prints the rendering rate; never asserts it (timing depends on the machine and build profile).
#[test]
fn json_rendering_rate_and_no_steady_state_allocation() {
    let mut ev = python_job();
    let script = script_of(
        &ev.process.cmdline,
        ev.process.exe_path.as_deref(),
        ev.process.cwd.as_deref(),
    );
    let mut w = writer();
    let mut out = Vec::with_capacity(1 << 20);
    // Warm up: the first event of a second fills the clock cache, the buffer grows to size.
    for _ in 0..1000 {
        w.write_event(&ev, script.as_deref(), &mut out);
        out.clear();
    }
    let n = 200_000;
    let before = allocs();
    let t = Instant::now();
    for _ in 0..n {
        // ~8 µs apart, so the run crosses second boundaries like a real stream.
        ev.mono_ns += 7_919;
        w.write_event(&ev, script.as_deref(), &mut out);
        if out.len() > (1 << 20) - 1024 {
            out.clear();
        }
    }
    let dt = t.elapsed();
    let after = allocs();
    let ns = dt.as_nanos() as f64 / f64::from(n);
    println!(
        "JSON rendering: {ns:.0} ns/event, {:.2} M events/s ({} build, {} bytes/event)",
        1000.0 / ns,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        render(&mut w, &ev, script.as_deref()).len()
    );
    assert_eq!(
        after - before,
        0,
        "steady-state JSON rendering must not allocate"
    );
}

/// Random bytes in every name: each line must parse, and every field must give back its bytes.
#[test]
fn random_bytes_round_trip() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bytes = |max: u64| -> Vec<u8> {
        let len = next() % max;
        // Bias towards the interesting bytes: controls, quote, backslash, UTF-8 lead/continuation.
        let pool = b"\0\x01\n\r\t\"\\/a\xc3\xa9\xe2\x80\xa8\xff\x7f ";
        (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    r as u8
                } else {
                    pool[(r >> 8) as usize % pool.len()]
                }
            })
            .collect()
    };
    let mut w = writer();
    let mut out = Vec::new();
    for _ in 0..2000 {
        let mut ev = python_job();
        ev.process.comm = bytes(17);
        ev.process.exe_path = Some(bytes(40));
        ev.process.cmdline = (0..bytes(5).len()).map(|_| bytes(20)).collect();
        ev.process.cwd = Some(bytes(30));
        ev.file.name = bytes(20);
        ev.file.path = bytes(60);
        let script = bytes(30);
        out.clear();
        w.write_event(&ev, Some(&script), &mut out);
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 1);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let back = |obj: &Value, key: &str| -> Vec<u8> {
            match obj.get(format!("{key}_b64")) {
                Some(b) => b64_decode(b.as_str().unwrap()),
                None => obj[key].as_str().unwrap().as_bytes().to_vec(),
            }
        };
        let p = &v["process"];
        assert_eq!(back(p, "name"), ev.process.comm);
        assert_eq!(Some(back(p, "exe_path")), ev.process.exe_path);
        assert_eq!(Some(back(p, "cwd")), ev.process.cwd);
        assert_eq!(back(p, "file_path"), script);
        assert_eq!(back(&v["file"], "name"), ev.file.name);
        assert_eq!(back(&v["file"], "file_path"), ev.file.path);
        let args: Vec<Vec<u8>> = match p.get("cmdline_b64") {
            Some(a) => a
                .as_array()
                .unwrap()
                .iter()
                .map(|s| b64_decode(s.as_str().unwrap()))
                .collect(),
            None => p["cmdline"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().as_bytes().to_vec())
                .collect(),
        };
        assert_eq!(args, ev.process.cmdline);
    }
}
