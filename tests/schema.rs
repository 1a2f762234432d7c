//! docs/events.schema.json against the real JsonWriter: tricky and random events must validate,
//! broken ones must not, the schema must name exactly the keys the writer emits, and the README's
//! sample event must validate too. The validator is python3-jsonschema (tests/common/schema.rs).

mod common;
#[path = "common/events.rs"]
mod events;

use common::schema::{assert_valid, validate_lines, SCHEMA_PATH};
use events::{args, python_job};
use filespy::clock::{Clock, TimeZone};
use filespy::event::{Event, FileInfo, ProcessInfo};
use filespy::kinds::Op;
use filespy::output::JsonWriter;
use filespy::script::script_of;
use filespy::uuid::UuidGen;
use serde_json::Value;
use std::collections::BTreeSet;

fn writer(tz: TimeZone) -> JsonWriter {
    JsonWriter::new(Clock::from_parts(0, tz), UuidGen::new().expect("getrandom"))
}

/// Newfoundland: a half-hour, negative offset with DST, without needing tzdata.
fn newfoundland() -> TimeZone {
    TimeZone::from_posix(b"NST3:30NDT,M3.2.0,M11.1.0").expect("valid POSIX TZ")
}

/// Renders with the script recognised from the event itself, as the monitor does.
fn render(w: &mut JsonWriter, ev: &Event, out: &mut Vec<u8>) {
    let p = &ev.process;
    let script = script_of(&p.cmdline, p.exe_path.as_deref(), p.cwd.as_deref());
    w.write_event(ev, script.as_deref(), out);
}

/// Invalid UTF-8 in every byte field, so every `_b64` sibling appears, script included.
fn non_utf8() -> Event {
    let mut ev = python_job();
    ev.process.comm = b"py\xffthon".to_vec();
    ev.process.exe_path = Some(b"/opt/\xc3\x28/python3".to_vec());
    ev.process.cmdline = args(&[b"python3", b"caf\xe9.py", b"", b"ok \xe2\x9c\x93"]);
    ev.process.cwd = Some(b"/home/\xfe\xfe".to_vec());
    ev.file.name = b"a\x80.txt".to_vec();
    ev.file.path = b"/tmp/\xed\xa0\x80/a\x80.txt".to_vec();
    ev
}

/// Quotes, backslashes, C0 controls, ESC, DEL, U+2028/2029 and emoji in names.
fn control_chars() -> Event {
    let mut ev = python_job();
    ev.process.comm = b"we\"ird\\\t\n\x1b[31m".to_vec();
    ev.process.cmdline = args(&[b"sh", b"-c", b"echo \"$x\"\r\n\x00\x07\x7f > /tmp/o.log"]);
    ev.process.cwd = Some("/srv/\u{2028}line\u{2029}para/😀".as_bytes().to_vec());
    ev.file.name = b"new\nline.log".to_vec();
    ev.file.path = b"/srv/\x01\x1f\x7f/new\nline.log".to_vec();
    ev
}

/// A kernel thread: no exe, no cwd, no argv, so no script either.
fn kernel_thread() -> Event {
    let mut ev = python_job();
    ev.process.comm = b"kworker/u8:3".to_vec();
    ev.process.exe_path = None;
    ev.process.cmdline = Vec::new();
    ev.process.cwd = None;
    ev.process.ppid = 2;
    ev.process.uid = 0;
    ev.process.gid = 0;
    ev
}

/// Every optional flag set, and the numeric extremes.
fn flags_and_extremes() -> Event {
    let mut ev = python_job();
    ev.mono_ns = u64::MAX;
    ev.process.pid = u32::MAX;
    ev.process.tid = u32::MAX;
    ev.process.ppid = 0;
    ev.process.uid = u32::MAX;
    ev.process.gid = u32::MAX;
    ev.process.cmdline_truncated = true;
    ev.file.bytes_written = u64::MAX;
    ev.file.inode = u64::MAX;
    ev.file.dev_major = u32::MAX;
    ev.file.dev_minor = u32::MAX;
    ev.file.truncated = true;
    ev.file.deleted = true;
    // A truncated walk may have lost the leading components.
    ev.file.path = b"deep/er/x.log".to_vec();
    ev
}

/// The epoch and a zero-byte write on device 0:0.
fn zeros() -> Event {
    let mut ev = kernel_thread();
    ev.mono_ns = 0;
    ev.file.bytes_written = 0;
    ev.file.inode = 0;
    ev.file.dev_major = 0;
    ev.file.dev_minor = 0;
    ev.file.deleted = true;
    ev
}

/// A `python -m module` run: the script field is a module name, not a path.
fn python_module() -> Event {
    let mut ev = python_job();
    ev.process.cmdline = args(&[b"python3", b"-m", b"http.server"]);
    ev
}

fn tricky_events() -> Vec<Event> {
    vec![
        python_job(),
        non_utf8(),
        control_chars(),
        kernel_thread(),
        flags_and_extremes(),
        zeros(),
        python_module(),
    ]
    .into_iter()
    .chain(events::one_of_each_op())
    .chain([
        events::copy_write(),
        events::with_identity(),
        events::merged_write(),
    ])
    .collect()
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng {
    state: u64,
    /// Draw only well-formed UTF-8 (set per event, so some events have no `_b64` at all).
    text_only: bool,
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Well-formed UTF-8 text (some of it multi-byte) when `text_only` or at random, else bytes
    /// drawn mostly from the awkward ones: controls, quotes, stray UTF-8 lead/continuation bytes.
    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        const AWKWARD: &[u8] =
            b"\x00\x01\n\t\r\x1b\"\\/\x7f\x80\xbf\xc0\xc3\xe2\xed\xf0\xf4\xfe\xff";
        const TEXT: [&str; 8] = ["a", "Z", "/", ".", " ", "é", "日", "\u{2028}"];
        let len = self.below(max_len + 1);
        if self.text_only || self.below(2) == 0 {
            return (0..len)
                .flat_map(|_| TEXT[self.below(TEXT.len() as u64) as usize].bytes())
                .collect();
        }
        (0..len)
            .map(|_| match self.below(3) {
                0 => AWKWARD[self.below(AWKWARD.len() as u64) as usize],
                1 => self.next() as u8,
                _ => b'a' + self.below(26) as u8,
            })
            .collect()
    }
    fn maybe(&mut self, max_len: u64) -> Option<Vec<u8>> {
        (self.below(4) != 0).then(|| self.bytes(max_len))
    }
}

fn random_event(rng: &mut Rng) -> Event {
    rng.text_only = rng.below(3) == 0;
    let interpreters: [&[u8]; 5] = [b"python3", b"node", b"bash", b"perl", b"ruby"];
    let mut cmdline = Vec::new();
    if rng.below(2) == 0 {
        cmdline.push(interpreters[rng.below(5) as usize].to_vec());
    }
    for _ in 0..rng.below(5) {
        cmdline.push(rng.bytes(12));
    }
    let name = rng.bytes(40);
    let mut path = b"/".to_vec();
    path.extend(rng.bytes(60));
    path.push(b'/');
    path.extend(&name);
    let truncated = rng.below(8) == 0;
    Event {
        mono_ns: rng.next(),
        op: Op::Write,
        via: "write",
        process: ProcessInfo {
            pid: rng.next() as u32,
            tid: rng.next() as u32,
            ppid: rng.next() as u32,
            uid: rng.next() as u32,
            gid: rng.next() as u32,
            comm: rng.bytes(15),
            exe_path: rng.maybe(50),
            cmdline,
            cmdline_truncated: rng.below(8) == 0,
            cwd: rng.maybe(50),
            ..ProcessInfo::default()
        },
        file: FileInfo {
            name,
            path: if truncated { rng.bytes(30) } else { path },
            bytes_written: rng.next(),
            inode: rng.next(),
            dev_major: rng.next() as u32,
            dev_minor: rng.next() as u32,
            truncated,
            deleted: rng.below(8) == 0,
            has_inode: true,
            ..FileInfo::default()
        },
        ..Event::default()
    }
}

fn render_all(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut utc = writer(TimeZone::utc());
    let mut nst = writer(newfoundland());
    for (i, ev) in events.iter().enumerate() {
        render(if i % 2 == 0 { &mut utc } else { &mut nst }, ev, &mut out);
    }
    out
}

fn lines(jsonl: &[u8]) -> Vec<Value> {
    jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("the writer emits JSON"))
        .collect()
}

#[test]
fn tricky_events_validate() {
    let jsonl = render_all(&tricky_events());
    let n = assert_valid(&jsonl);
    assert_eq!(n, tricky_events().len());
    // The cases really exercise what they claim to.
    let v = lines(&jsonl);
    for key in ["name_b64", "exe_path_b64", "file_path_b64", "cwd_b64"] {
        assert!(v[1]["process"].get(key).is_some(), "process.{key} missing");
    }
    assert_eq!(
        v[1]["process"]["cmdline_b64"].as_array().map(Vec::len),
        Some(4)
    );
    assert!(v[1]["file"].get("name_b64").is_some() && v[1]["file"].get("file_path_b64").is_some());
    assert_eq!(v[2]["file"]["name"], "new\nline.log");
    assert!(v[3]["process"]["exe_path"].is_null() && v[3]["process"]["cwd"].is_null());
    assert!(v[3]["process"]["file_path"].is_null());
    assert_eq!(v[4]["file"]["truncated"], true);
    assert_eq!(v[4]["file"]["deleted"], true);
    assert_eq!(v[4]["process"]["cmdline_truncated"], true);
    assert_eq!(v[4]["system_ts"].as_u64(), Some(u64::MAX));
    // Odd lines use Newfoundland time: the epoch there, a half-hour negative offset.
    assert_eq!(v[5]["timestamp"], "1969-12-31T20:30:00.000000-03:30");
    assert_eq!(v[6]["process"]["file_path"], "http.server");
    println!("{n} tricky events valid against {SCHEMA_PATH}");
}

#[test]
fn random_events_validate() {
    let mut rng = Rng {
        state: 0x5eed_f11e_5b1e_0001,
        text_only: false,
    };
    let events: Vec<Event> = (0..500).map(|_| random_event(&mut rng)).collect();
    let jsonl = render_all(&events);
    let b64_lines = lines(&jsonl)
        .iter()
        .filter(|v| v.to_string().contains("_b64"))
        .count();
    let n = assert_valid(&jsonl);
    assert_eq!(n, events.len());
    // Both shapes must be well represented for the run to mean something.
    assert!(
        (50..450).contains(&b64_lines),
        "{b64_lines} of 500 events have _b64 siblings"
    );
    println!("{n} random events valid ({b64_lines} with _b64 siblings)");
}

/// Every key the schema describes is emitted by the writer for some event, and vice versa (the
/// latter is also enforced by `additionalProperties: false`).
#[test]
fn schema_names_exactly_the_emitted_keys() {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(SCHEMA_PATH).expect("read the schema")).unwrap();
    let props = |v: &Value| -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    };
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    let (mut top, mut process, mut file) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for v in lines(&render_all(&tricky_events())) {
        top.extend(keys(&v));
        process.extend(keys(&v["process"]));
        if v.get("file").is_some() {
            file.extend(keys(&v["file"]));
        }
    }
    let s = &schema["properties"];
    assert_eq!(top, props(&schema));
    assert_eq!(process, props(&s["process"]));
    assert_eq!(file, props(&s["file"]));
}

/// `op` in the schema names exactly the kinds of the table, and each op's shape requires its fields.
#[test]
fn schema_ops_are_the_kind_table() {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(SCHEMA_PATH).expect("read the schema")).unwrap();
    let ops: Vec<&str> = schema["properties"]["op"]["enum"]
        .as_array()
        .expect("op enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let names: Vec<&str> = filespy::kinds::KINDS.iter().map(|k| k.name).collect();
    assert_eq!(ops, names);
    // A rename without its old path, or a write with a rename's field (old_path, replaced_inode), is
    // rejected.
    let mut rename = lines(&render_all(&events::one_of_each_op()))
        .into_iter()
        .find(|v| v["op"] == "rename")
        .unwrap();
    rename["file"].as_object_mut().unwrap().remove("old_path");
    rename["file"]
        .as_object_mut()
        .unwrap()
        .remove("old_path_b64");
    let mut write = lines(&render_all(&[python_job()])).remove(0);
    write["file"]["old_path"] = "/x".into();
    let mut named = lines(&render_all(&[python_job()])).remove(0);
    named["file"]["inode"] = Value::Null;
    let mut replaced = lines(&render_all(&[python_job()])).remove(0);
    replaced["file"]["replaced_inode"] = 7.into();
    for bad in [rename, write, named, replaced] {
        let line = format!("{bad}\n");
        let reports = validate_lines(line.as_bytes()).unwrap();
        assert!(!reports[0].is_empty(), "accepted: {bad}");
    }
}

/// Breaks one rule of the schema in a valid event.
type Mutation = fn(&mut Value);

/// Each mutation of a valid event breaks one rule of the schema; each must be rejected, so the
/// validation above cannot pass vacuously.
#[test]
fn broken_events_are_rejected() {
    let good = lines(&render_all(&[non_utf8()])).remove(0);
    let mutations: Vec<(&str, Mutation)> = vec![
        ("missing id", |v| {
            v.as_object_mut().unwrap().remove("id");
        }),
        ("id not a v4 uuid", |v| v["id"] = "not-a-uuid".into()),
        ("timestamp not RFC 3339", |v| {
            v["timestamp"] = "yesterday".into()
        }),
        ("timestamp without offset", |v| {
            v["timestamp"] = "2026-01-12T20:38:42.880979".into()
        }),
        ("system_ts negative", |v| v["system_ts"] = (-1).into()),
        ("system_ts a string", |v| v["system_ts"] = "1".into()),
        ("pid above u32", |v| {
            v["process"]["pid"] = 4_294_967_296u64.into()
        }),
        ("uid fractional", |v| v["process"]["uid"] = 1.5.into()),
        ("unknown process key", |v| v["process"]["extra"] = 1.into()),
        ("unknown top-level key", |v| v["host"] = "h".into()),
        ("cmdline item not a string", |v| {
            v["process"]["cmdline"][0] = 7.into()
        }),
        ("name_b64 not base64", |v| {
            v["process"]["name_b64"] = "a".into()
        }),
        ("_b64 sibling of a valid name", |v| {
            v["process"]["name"] = "python".into()
        }),
        ("exe_path missing", |v| {
            v["process"].as_object_mut().unwrap().remove("exe_path");
        }),
        ("dev not major:minor", |v| v["file"]["dev"] = "8-1".into()),
        ("dev a number", |v| v["file"]["dev"] = 2049.into()),
        ("truncated false", |v| v["file"]["truncated"] = false.into()),
        ("deleted false", |v| v["file"]["deleted"] = false.into()),
        ("cmdline_truncated false", |v| {
            v["process"]["cmdline_truncated"] = false.into()
        }),
        ("file_path null", |v| v["file"]["file_path"] = Value::Null),
        ("relative path, not truncated", |v| {
            v["file"]["file_path"] = "tmp/a.txt".into();
            v["file"].as_object_mut().unwrap().remove("file_path_b64");
        }),
        ("file not an object", |v| v["file"] = "x".into()),
    ];
    let mut jsonl = serde_json::to_vec(&good).unwrap();
    jsonl.push(b'\n');
    for (_, mutate) in &mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert_ne!(bad, good);
        jsonl.extend(serde_json::to_vec(&bad).unwrap());
        jsonl.push(b'\n');
    }
    // Raw text for what serde_json cannot hold: 2^64, not JSON at all, and a duplicate key
    // (which json.loads would silently accept).
    let text = serde_json::to_string(&good).unwrap();
    let small = "\"bytes_written\":4096";
    let huge = text.replacen(small, "\"bytes_written\":18446744073709551616", 1);
    assert_ne!(huge, text);
    jsonl.extend(huge.as_bytes());
    jsonl.push(b'\n');
    jsonl.extend_from_slice(b"{\"id\":\n");
    let mut dup = serde_json::to_string(&good).unwrap();
    dup.insert_str(1, "\"system_ts\":1,");
    jsonl.extend(dup.as_bytes());
    jsonl.push(b'\n');

    let reports = validate_lines(&jsonl).expect("validator runs");
    assert_eq!(reports.len(), mutations.len() + 4);
    assert!(
        reports[0].is_empty(),
        "the unmutated event must pass: {:?}",
        reports[0]
    );
    for ((what, _), errors) in mutations.iter().zip(&reports[1..]) {
        assert!(!errors.is_empty(), "not rejected: {what}");
        println!("rejected {what}: {}", errors.join("; "));
    }
    let tail = &reports[mutations.len() + 1..];
    assert!(tail[0]
        .iter()
        .any(|e| e.contains("greater than the maximum")));
    assert!(tail[1].iter().any(|e| e.starts_with("not JSON")));
    assert!(tail[2].iter().any(|e| e.contains("duplicate keys")));
}

/// The sample event in README.md (between the example-event markers) satisfies the schema.
#[test]
fn readme_example_event_validates() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let begin = readme
        .find("<!-- example-event:begin -->")
        .expect("README.md has an example-event:begin marker");
    let end = readme
        .find("<!-- example-event:end -->")
        .expect("README.md has an example-event:end marker");
    let block = &readme[begin..end];
    let json = block
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```json block between the markers");
    let event: Value = serde_json::from_str(json).expect("the README example is JSON");
    let mut line = serde_json::to_vec(&event).unwrap();
    line.push(b'\n');
    assert_eq!(assert_valid(&line), 1);
}

/// `via` is an enum in the schema: exactly the names the decoder can give (every kind's table, the
/// kprobe hooks, io_uring's opcodes) and `unknown` for a value it does not know.
#[test]
fn the_schema_lists_every_via_the_decoder_gives() {
    use filespy::bpf::kinds::via_name;
    use filespy::kinds::KINDS;
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_PATH).unwrap()).unwrap();
    let listed: BTreeSet<String> = schema["properties"]["via"]["enum"]
        .as_array()
        .expect("via has an enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut given: BTreeSet<String> = KINDS
        .iter()
        .flat_map(|k| (0..=u16::from(u8::MAX)).filter_map(move |v| via_name(k.op, v)))
        .map(str::to_owned)
        .collect();
    given.insert("unknown".into());
    assert_eq!(
        listed,
        given,
        "only in the schema: {:?}; only in the code: {:?}",
        listed.difference(&given).collect::<Vec<_>>(),
        given.difference(&listed).collect::<Vec<_>>()
    );
}
