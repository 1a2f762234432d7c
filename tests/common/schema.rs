//! Validates JSON lines against docs/events.schema.json with an independent validator: Debian's
//! python3-jsonschema (Draft 2020-12), so the schema is checked by code that shares nothing with ours.
//!
//! Use from any integration test with `mod common;` and `common::schema::assert_valid(&lines)`.

use std::io::Write;
use std::process::{Command, Stdio};

/// The published schema.
pub const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.schema.json");

/// Debian's interpreter: a `python3` earlier on PATH (pyenv) may lack the Debian module.
pub const PYTHON: &str = "/usr/bin/python3";

/// Exit status of the validator script when jsonschema (or a format checker) is unavailable.
const MISSING_MODULE: i32 = 3;

/// Reads the schema, checks it against the 2020-12 metaschema, then validates each stdin line and
/// prints one JSON report per line: `[]` when valid, else the error messages. Duplicate keys are
/// rejected too (json.loads would silently keep the last). `date-time` needs an optional package in
/// jsonschema, so it is checked here with the standard library's RFC 3339 parser instead.
const VALIDATOR: &str = r#"
import sys, json, datetime
try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed (apt-get install python3-jsonschema)", file=sys.stderr)
    sys.exit(3)

schema = json.load(open(sys.argv[1], encoding="utf-8"))
cls = jsonschema.Draft202012Validator
cls.check_schema(schema)
checker = jsonschema.FormatChecker()
if "uuid" not in checker.checkers:
    print("this jsonschema cannot check format uuid", file=sys.stderr)
    sys.exit(3)

@checker.checks("date-time", raises=ValueError)
def date_time(value):
    if not isinstance(value, str):
        return True
    t = datetime.datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError("no UTC offset")
    return True

def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys %s" % dup)
    return dict(pairs)

validator = cls(schema, format_checker=checker)
for raw in sys.stdin.buffer.read().split(b"\n"):
    if not raw:
        continue
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except ValueError as e:
        print(json.dumps(["not JSON: %s" % e]))
        continue
    errors = ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(root)", e.message)
              for e in validator.iter_errors(doc)]
    print(json.dumps(errors))
"#;

/// Validates each non-empty line of `jsonl`; returns each line's errors in order (empty = valid).
/// Err when the validator cannot run at all (no python3, no jsonschema, a broken schema).
pub fn validate_lines(jsonl: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let mut child = Command::new(PYTHON)
        .args(["-c", VALIDATOR, SCHEMA_PATH])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {PYTHON} (apt-get install python3-jsonschema): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin pipe to the validator")?;
    // Written from a thread so a large input cannot deadlock against the validator's stdout.
    let input = jsonl.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("validator: {e}"))?;
    let written = writer
        .join()
        .map_err(|_| "validator input thread panicked")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(MISSING_MODULE) => return Err(format!("schema validator unavailable: {stderr}")),
        _ => return Err(format!("validator failed ({}): {stderr}", out.status)),
    }
    written.map_err(|e| format!("writing to the validator: {e}"))?;
    let expected = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let reports = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Vec<String>>(l).map_err(|e| format!("{e}: {l}")))
        .collect::<Result<Vec<_>, _>>()?;
    if reports.len() != expected {
        return Err(format!(
            "validator reported {} lines, expected {expected}",
            reports.len()
        ));
    }
    Ok(reports)
}

/// Panics, naming every invalid line and why, unless all lines of `jsonl` satisfy the schema.
/// Returns the number of lines validated.
pub fn assert_valid(jsonl: &[u8]) -> usize {
    let reports = validate_lines(jsonl).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&[u8]> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let bad: Vec<String> = reports
        .iter()
        .zip(&lines)
        .enumerate()
        .filter(|(_, (errors, _))| !errors.is_empty())
        .map(|(i, (errors, line))| {
            format!(
                "line {}: {}\n  {}",
                i + 1,
                String::from_utf8_lossy(line),
                errors.join("\n  ")
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} lines violate {SCHEMA_PATH}:\n{}",
        bad.len(),
        lines.len(),
        bad.join("\n")
    );
    lines.len()
}
