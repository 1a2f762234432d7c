//! Unit-test support: python3 as an independent oracle for what our encoders produce.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `python3 -c script args...` with `input` on stdin; its stdout lines. Panics (it is a test
/// helper) when python3 is missing or fails.
pub fn python_lines(script: &str, args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
