//! Events from a real run of filespy validate against docs/events.schema.json (python3-jsonschema), including
//! the awkward ones: a non-UTF-8 name, a deleted file, a truncated deep path, a script and a `-c` writer.

mod common;
#[path = "common/monitor.rs"]
mod monitor;

use monitor::{Filespy, Out, TestDir};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::Duration;

#[test]
fn events_of_a_real_run_validate_against_the_schema() {
    let tmp = TestDir::new("schema-run");
    let dir = tmp.path().to_path_buf();
    let out = dir.join("events.jsonl");
    let fs = Filespy::start(
        &["--path", tmp.str(), "--ext", "txt,json,log"],
        Out::File(out.clone()),
    );

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
    fs.stop();
    let jsonl = std::fs::read(&out).unwrap();

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
