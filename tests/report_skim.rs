//! The report's skimmer against serde, line by line: whenever the skimmer reads a line, serde must
//! read the same fields from it (and accept it at all); where the skimmer gives up, the report asks
//! serde, so the report's counts are serde's either way. The lines: filespy's own JSON writer on
//! the test fixtures and on events with every kind of escape, hand-written lines (reordered keys,
//! whitespace, nulls, missing and duplicate keys, wrong types, bad escapes, non-filespy JSON), and
//! every truncation and many one-byte edits of them. Filespy's own lines must all take the fast
//! path, or the report would be no faster.

#[path = "common/events.rs"]
mod events;

use filespy::clock::{Clock, TimeZone};
use filespy::event::{Event, EventAlert, Merged};
use filespy::output::JsonWriter;
use filespy::report::event_line::{deserialize, read, skimmed, EventLine};
use filespy::rules::Severity;
use filespy::uuid::UuidGen;

/// Holds the skimmer to serde on one line; returns whether the skimmer read it.
fn agrees(line: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false; // the report counts such a line as malformed before either reader sees it
    };
    let fast = skimmed(text);
    let slow = deserialize(text);
    if let Some(fast) = &fast {
        assert_eq!(
            Some(fast),
            slow.as_ref(),
            "skimmer and serde differ on {text:?}"
        );
    }
    fast.is_some()
}

fn writer() -> JsonWriter {
    let mut w = JsonWriter::new(
        Clock::from_parts(0, TimeZone::utc()),
        UuidGen::new().expect("getrandom"),
    );
    w.set_host_name("host \"h\"");
    w
}

/// Events with every escape the writer makes, in every field the report reads.
fn escaped_events() -> Vec<Event> {
    let strange: [&[u8]; 7] = [
        b"qu\"ote",
        b"back\\slash\\",
        b"tab\tnew\nline\rcr\x08\x0c\x01\x1f\x7f",
        b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        b"sep\xe2\x80\xa8ara\xe2\x80\xa9tors",
        b"bad\xff\xfeutf8\xc3",
        b"",
    ];
    let mut out = Vec::new();
    for (i, s) in strange.iter().enumerate() {
        let mut ev = events::python_job();
        ev.process.comm = s.to_vec();
        ev.process.exe_path = Some([b"/usr/bin/", *s].concat());
        ev.process.user = Some(String::from_utf8_lossy(s).into());
        ev.process.cmdline = events::args(&[s, b"--x", s]);
        ev.file.path = [b"/var/", *s, b"/f"].concat();
        ev.file.name = s.to_vec();
        ev.process.uid = [0, 1, u32::MAX][i % 3];
        ev.file.bytes_written = [0, 1, u64::MAX][i % 3];
        if i % 2 == 0 {
            ev.alert = Some(EventAlert {
                rule: "r".into(),
                category: "c".into(),
                severity: Severity::High,
                repeats: 1,
            });
        }
        if i % 3 == 1 {
            ev.merged = Some(Merged {
                count: u64::MAX - i as u64,
                first_ns: ev.mono_ns,
                last_ns: ev.mono_ns + 5,
            });
        }
        out.push(ev);
    }
    out
}

/// Every fixture event, rendered by filespy's writer (with and without an interpreter's script).
fn written_lines() -> Vec<Vec<u8>> {
    let mut evs = vec![
        events::python_job(),
        events::copy_write(),
        events::merged_write(),
        events::with_identity(),
    ];
    evs.extend(events::one_of_each_op());
    evs.extend(escaped_events());
    let mut w = writer();
    let mut lines = Vec::new();
    for ev in &evs {
        for script in [
            None,
            Some(&b"/srv/job\"1\\.py"[..]),
            Some(&b"/s\xff.py"[..]),
        ] {
            let mut line = Vec::new();
            w.write_event(ev, script, &mut line);
            assert_eq!(line.pop(), Some(b'\n'));
            lines.push(line);
        }
    }
    lines
}

/// The bench's event shape (scripts/bench/report.py), with its script.
const BENCH_LINE: &str = r#"{"id":"00000003-a402-41c0-84e1-8b14984e443e","op":"write","via":"write","timestamp":"2026-11-23T10:00:00.000150+00:00","system_ts":1795428000000150000,"process":{"name":"proc2","pid":1002,"tid":1002,"ppid":1,"uid":1007,"gid":1007,"exe_path":"/usr/bin/proc2","file_path":"/srv/app42/tools/job42.py","cmdline":["/usr/bin/proc2","--config","/etc/app/proc2.conf","--verbose"],"cwd":"/srv/proc2","euid":1007,"egid":1007,"auid":1007,"session_id":3,"user":"user7","group":"user7","entity_id":"NTU3MmJkMDktNjZjNC00NjQxLTg5NzMtNWE4Yzg4NzNiNDE5OjE3MTgwMDAwMDAwMDA600001002","cgroup_id":1,"parent":{"pid":1,"name":"systemd","exe_path":"/usr/lib/systemd/systemd","file_path":null,"entity_id":"NTU3MmJkMDktNjZjNC00NjQxLTg5NzMtNWE4Yzg4NzNiNDE5OjE3MDAw"},"ancestors":[{"pid":1,"name":"systemd"}]},"file":{"name":"file7.log","file_path":"/var/lib/app7/data/file7.log","bytes_written":4242,"inode":10011298,"dev":"254:0"},"container":null,"host":{"name":"bench-host"}}"#;

/// Lines a person or another tool might write: the skimmer reads some, leaves others to serde.
const HAND_WRITTEN: &[&str] = &[
    // Reordered keys, whitespace everywhere JSON allows it, nulls, missing optional keys.
    r#"{"timestamp":"2026-11-23T00:00:00Z","file":{"bytes_written":5,"file_path":"/a"},"op":"write"}"#,
    "{\"op\" : \"write\" ,\t\"timestamp\":\r\"2026-11-23T00:00:00Z\" , \"process\" : { \"uid\" : 7 , \"user\" : null } } \t\r",
    r#"{"op":"write","timestamp":"2026-11-23T00:00:00Z","process":null,"file":null,"alert":null,"merged":null}"#,
    r#"{"op":"write","timestamp":"2026-11-23T00:00:00Z","process":{},"file":{},"alert":{}}"#,
    r#"{"op":"exec","timestamp":"2026-11-23T00:00:00Z"}"#,
    r#"{"op":"","timestamp":""}"#,
    // Escapes in counted and skipped strings; surrogates; keys with escapes.
    r#"{"op":"w\u0072ite","timestamp":"2026-11-23T00:00:00Z","file":{"file_path":"\/a\\b\"c\u00e9\u20ac"}}"#,
    r#"{"op":"write","timestamp":"t","file":{"file_path":"\ud83d\ude00"}}"#,
    r#"{"op":"write","timestamp":"t","file":{"file_path":"\ud83d"}}"#,
    r#"{"op":"write","timestamp":"t","file":{"file_path":"\ude00"}}"#,
    r#"{"op":"write","timestamp":"t","x":"\ud83d","y":"\ude00\u12"}"#,
    r#"{"op":"write","timestamp":"t","x":"\ud83d","y":"\uDE00\uABCD"}"#,
    r#"{"o\u0070":"write","timestamp":"t"}"#,
    r#"{"op":"write","timestamp":"t","\u0070rocess":{"uid":"x"}}"#,
    r#"{"op":"write","timestamp":"t","x":"\q"}"#,
    r#"{"op":"write","timestamp":"t","x":"\u00G0"}"#,
    "{\"op\":\"write\",\"timestamp\":\"t\",\"x\":\"raw\ttab\"}",
    "{\"op\":\"write\",\"timestamp\":\"t\",\"file\":{\"file_path\":\"raw\x01\"}}",
    // Numbers: ranges, signs, fractions, exponents, leading zeros.
    r#"{"op":"write","timestamp":"t","process":{"uid":4294967295},"file":{"bytes_written":18446744073709551615}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":4294967296}}"#,
    r#"{"op":"write","timestamp":"t","file":{"bytes_written":18446744073709551616}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":-1}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":-0}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":1.0}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":1e2}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":01}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":0}}"#,
    r#"{"op":"write","timestamp":"t","x":[0,-0,1.5,-2e10,3E+2,4e-2,1234567890123456789012345678901234567890]}"#,
    r#"{"op":"write","timestamp":"t","x":01}"#,
    r#"{"op":"write","timestamp":"t","x":1.}"#,
    r#"{"op":"write","timestamp":"t","x":.5}"#,
    r#"{"op":"write","timestamp":"t","x":-}"#,
    r#"{"op":"write","timestamp":"t","x":1e}"#,
    r#"{"op":"write","timestamp":"t","x":+1}"#,
    // Merged: its count is required and must be a u64.
    r#"{"op":"write","merged":{"count":3},"timestamp":"t","file":{"file_path":"/m","bytes_written":9}}"#,
    r#"{"op":"write","merged":{},"timestamp":"t"}"#,
    r#"{"op":"write","merged":{"count":null},"timestamp":"t"}"#,
    r#"{"op":"write","merged":{"count":"3"},"timestamp":"t"}"#,
    r#"{"op":"write","merged":[3],"timestamp":"t"}"#,
    // Wrong types and duplicates of counted fields; duplicates of skipped ones are fine.
    r#"{"op":7,"timestamp":"t"}"#,
    r#"{"op":null,"timestamp":"t"}"#,
    r#"{"op":"write","timestamp":"t","process":["n","/e","/s",1,"u"]}"#,
    r#"{"op":"write","timestamp":"t","process":"p"}"#,
    r#"{"op":"write","timestamp":"t","file":{"file_path":7}}"#,
    r#"{"op":"write","timestamp":"t","alert":{"severity":true}}"#,
    r#"{"op":"write","op":"read","timestamp":"t"}"#,
    r#"{"op":"write","timestamp":"t","process":null,"process":{}}"#,
    r#"{"op":"write","timestamp":"t","process":{"uid":1,"uid":2}}"#,
    r#"{"op":"write","timestamp":"t","merged":{"count":1,"count":2}}"#,
    r#"{"op":"write","timestamp":"t","x":1,"x":{"y":2}}"#,
    // Nesting, literals and other JSON the report skips.
    r#"{"op":"write","timestamp":"t","x":{"a":[true,false,null,{},[],[{}],{"b":[[[]]]}],"c":{"op":"no"}}}"#,
    r#"{"op":"write","timestamp":"t","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
    r#"{"op":"write","timestamp":"t","x":tru}"#,
    r#"{"op":"write","timestamp":"t","x":nul}"#,
    r#"{"op":"write","timestamp":"t","process":{"user":nulll}}"#,
    r#"{"op":"write","timestamp":"t","x":[1,]}"#,
    r#"{"op":"write","timestamp":"t","x":{"a":1,}}"#,
    r#"{"op":"write","timestamp":"t",}"#,
    r#"{"op":"write","timestamp":"t","x":{"a"}}"#,
    r#"{"op":"write","timestamp":"t","x":{1:2}}"#,
    r#"{"op":"write","timestamp":"t"}{}"#,
    r#"{"op":"write","timestamp":"t"} x"#,
    r#"{"op":"write","timestamp":"t""#,
    r#"{}"#,
    r#"{"#,
    r#"[]"#,
    r#""op""#,
    "",
];

#[test]
fn filespy_lines_take_the_fast_path_and_agree_with_serde() {
    let lines = written_lines();
    for line in &lines {
        assert!(
            agrees(line),
            "the skimmer gave up on filespy's own line {}",
            String::from_utf8_lossy(line)
        );
    }
    assert!(agrees(BENCH_LINE.as_bytes()));
    // The fields come out as written (python_job with the quoted script).
    let ev = skimmed(std::str::from_utf8(&lines[1]).unwrap()).unwrap();
    let p = ev.process.as_ref().unwrap();
    assert_eq!(ev.op, "write");
    assert_eq!(p.name.as_deref(), Some("python3"));
    assert_eq!(p.exe_path.as_deref(), Some("/usr/bin/python3.11"));
    assert_eq!(p.file_path.as_deref(), Some("/srv/job\"1\\.py"));
    assert_eq!((p.uid, p.user.as_deref()), (Some(1000), None));
    let f = ev.file.as_ref().unwrap();
    assert_eq!(f.file_path.as_deref(), Some("/var/log/x.log"));
    assert_eq!(f.bytes_written, Some(4096));
    assert_eq!((ev.alert, ev.merged), (None, None));
}

#[test]
fn hand_written_lines_agree_with_serde() {
    let mut fast = 0;
    for line in HAND_WRITTEN {
        fast += usize::from(agrees(line.as_bytes()));
        // What the report uses: the skimmer's reading where it has one, else serde's.
        let mut ev = EventLine::default();
        let got = read(line, &mut ev).then_some(ev);
        assert_eq!(got, deserialize(line), "{line}");
    }
    // The first lines (reordered keys, whitespace, nulls, empty objects, escapes in counted
    // strings) are read by the skimmer itself.
    for line in &HAND_WRITTEN[..7] {
        assert!(skimmed(line).is_some(), "gave up on {line}");
    }
    assert!(fast >= 12, "only {fast} lines skimmed");
}

/// Every prefix of a line, and the line with one byte replaced, removed or doubled at every offset:
/// broken lines must never be read differently (most of these are no JSON at all).
#[test]
fn every_truncation_and_one_byte_edit_agrees_with_serde() {
    let mut bases: Vec<Vec<u8>> = HAND_WRITTEN.iter().map(|l| l.as_bytes().to_vec()).collect();
    bases.push(BENCH_LINE.as_bytes().to_vec());
    let written = written_lines();
    // One of each: the fixtures (every op), and the escaped ones.
    bases.extend(written.iter().step_by(3).cloned());
    let replacements = b"\"\\{}[],: 0-9.eEnutfl\x01\n\t\xc3";
    let (mut lines, mut fast) = (0u64, 0u64);
    let mut check = |line: &[u8]| {
        lines += 1;
        fast += u64::from(agrees(line));
    };
    for base in &bases {
        for end in 0..base.len() {
            check(&base[..end]);
        }
        for at in 0..base.len() {
            let mut edited = base.clone();
            for &r in replacements {
                edited[at] = r;
                check(&edited);
            }
            let mut removed = base.clone();
            removed.remove(at);
            check(&removed);
            let mut doubled = base.clone();
            doubled.insert(at, base[at]);
            check(&doubled);
        }
    }
    assert!(lines > 100_000, "{lines} lines");
    // Many edits leave valid events (a digit for a digit, a letter in a string): the fast path
    // must have been taken on a good share of them, or this compared little.
    assert!(fast > lines / 10, "{fast} of {lines} lines skimmed");
}
