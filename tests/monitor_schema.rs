//! Events from a real run of filespy validate against docs/events.schema.json (python3-jsonschema), including
//! the awkward ones: a non-UTF-8 name, a deleted file, a truncated deep path, a script and a `-c` writer.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> String {
    std::env::var("FILESPY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_filespy").to_string())
}

#[test]
fn events_of_a_real_run_validate_against_the_schema() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test runs filespy: run it as root"
    );
    let dir = std::env::temp_dir().join(format!("filespy-schema-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    let mut child = Command::new(bin())
        .arg("--path")
        .arg(&dir)
        .arg("--ext")
        .arg("txt,json,log")
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start filespy");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let start = Instant::now();
    while !line.contains("ready") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "filespy exited before ready"
        );
        assert!(start.elapsed() < Duration::from_secs(30), "no ready line");
    }

    // A non-UTF-8 name, a script, a -c writer, a deleted file and a path too deep to walk whole.
    let mut weird = dir.as_os_str().as_bytes().to_vec();
    weird.extend_from_slice(b"/bad\xff\"name\n.txt");
    std::fs::write(std::ffi::OsStr::from_bytes(&weird), b"x").unwrap();
    std::fs::write(dir.join("job.sh"), "printf '{}' > \"$1/out.json\"\n").unwrap();
    let ok = Command::new("sh")
        .arg(dir.join("job.sh"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("echo hi >> {}/c.log", dir.display()))
        .status()
        .unwrap();
    assert!(ok.success());
    {
        use std::io::Write;
        let p = dir.join("gone.txt");
        let mut f = std::fs::File::create(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        f.write_all(b"after unlink").unwrap();
    }
    let mut deep = dir.clone();
    for i in 0..70 {
        deep.push(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep.txt"), b"deep").unwrap();

    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "filespy exited with {status}");
    let jsonl = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let n = common::schema::assert_valid(&jsonl);
    let text = String::from_utf8_lossy(&jsonl);
    println!("{n} real events validated");
    assert!(n >= 5, "expected at least 5 events, got {n}:\n{text}");
    for needle in [
        "\"name_b64\"",
        "\"deleted\":true",
        "\"truncated\":true",
        "job.sh",
    ] {
        assert!(text.contains(needle), "no event with {needle}:\n{text}");
    }
}
