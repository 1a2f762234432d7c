//! `close`: one event when the last descriptor of a watched file opened while filespy ran is closed,
//! with the reads and writes of that open (calls and bytes); `--events close` alone counts them
//! without reporting them; an open left to the process's exit ends there (in the kernel on kprobe
//! kernels, by user space on the tracepoint path); the totals equal the sums of the read and write
//! events of the same open, for raw calls and real tools (`cat`, `cp`, `dd`, a shell's `>>`). On the
//! host (syscall tracepoints) and in the Debian VMs (kprobes).

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn open(p: &Path, flags: i32) -> i32 {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644) };
    assert!(
        fd >= 0,
        "open {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    fd
}

fn write(fd: i32, n: usize) {
    let buf = vec![b'x'; n];
    assert_eq!(
        unsafe { libc::write(fd, buf.as_ptr().cast(), n) },
        n as isize
    );
}

fn pread(fd: i32, n: usize, at: i64) {
    let mut buf = vec![0u8; n];
    assert_eq!(
        unsafe { libc::pread64(fd, buf.as_mut_ptr().cast(), n, at) },
        n as isize
    );
}

/// reads, bytes_read, writes, bytes_written of a close event.
fn totals(e: &Value) -> [u64; 4] {
    let f = &e["file"];
    ["reads", "bytes_read", "writes", "bytes_written"]
        .map(|k| f[k].as_u64().unwrap_or_else(|| panic!("no {k}: {e}")))
}

fn closes(run: &Finished, path: &Path) -> Vec<Value> {
    run.events_for(path)
        .into_iter()
        .filter(|e| e["op"] == "close")
        .collect()
}

#[test]
fn raw_calls_end_with_one_close_carrying_their_totals() {
    let dir = TestDir::new("close");
    let (data, empty, ignored) = (
        dir.join("data.txt"),
        dir.join("empty.log"),
        dir.join("data.bin"),
    );
    std::fs::write(&empty, "").unwrap();
    let fs = Filespy::start(
        &["--events", "close", "--path", dir.str(), "--stats"],
        Out::Collect,
    );
    let fd = open(&data, libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC);
    for n in [100, 200, 50] {
        write(fd, n);
    }
    pread(fd, 120, 0);
    pread(fd, 130, 120);
    let mut buf = [0u8; 64];
    // At the end of the file: no bytes, not a read.
    assert_eq!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 64) }, 0);
    // A second descriptor keeps the open alive past the first one's close.
    let fd2 = unsafe { libc::dup(fd) };
    assert!(fd2 >= 0);
    unsafe { libc::close(fd) };
    write(fd2, 25);
    unsafe { libc::close(fd2) };
    let e = open(&empty, libc::O_RDONLY | libc::O_CLOEXEC);
    unsafe { libc::close(e) };
    let b = open(&ignored, libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC);
    write(b, 10);
    unsafe { libc::close(b) };
    let run = fs.stop();
    let text = run.lines.join("\n");

    let c = closes(&run, &data);
    assert_eq!(c.len(), 1, "one close, at the last descriptor's: {text}");
    let c = &c[0];
    assert_eq!(totals(c), [2, 250, 4, 375], "{c}");
    // kprobes: `close` calls filp_flush from 6.8 on, filp_close before.
    let vias: &[&str] = if expected_hook() == "kprobe" {
        &["filp_flush", "filp_close"]
    } else {
        &["close"]
    };
    assert!(vias.iter().any(|v| c["via"] == *v), "{c}");
    assert_eq!(c["process"]["pid"], std::process::id());
    assert_eq!(c["file"]["inode"], std::fs::metadata(&data).unwrap().ino());
    assert_eq!(c["file"]["name"], "data.txt");
    let z = closes(&run, &empty);
    assert_eq!(z.len(), 1, "{text}");
    assert_eq!(totals(&z[0]), [0; 4]);
    assert!(
        run.events_for(&ignored).is_empty(),
        "not a watched extension: {text}"
    );
    for e in run.events() {
        assert_eq!(e["op"], "close", "--events close reports only closes: {e}");
    }
    let stats = run.stats();
    assert_eq!(stats.lost_closes, 0, "{stats:?}");
    println!("{c}");
}

/// A shell that leaves its descriptor to its exit: on kprobe kernels `filp_close` sees the exit's
/// close; on the tracepoint path user space ends the open with the process's exit record.
#[test]
fn an_open_left_to_the_exit_ends_there() {
    let dir = TestDir::new("closeexit");
    let f = dir.join("held.log");
    let fs = Filespy::start(&["--events", "close", "--path", dir.str()], Out::Collect);
    let script = format!(
        "exec 3>>{}; echo one >&3; echo two >&3; exit 0",
        q(f.to_str().unwrap())
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let run = fs.stop();
    let text = run.lines.join("\n");
    let c = closes(&run, &f);
    assert_eq!(c.len(), 1, "{text}");
    let c = &c[0];
    assert_eq!(totals(c), [0, 0, 2, 8], "{c}");
    assert_eq!(c["process"]["pid"], pid);
    let via = if expected_hook() == "kprobe" {
        "filp_close"
    } else {
        "sched_process_exit"
    };
    assert_eq!(c["via"], via, "{c}");
    println!("{c}");
}

/// The files each tool opens and the calls it makes: run under `read,write,close`, each close's
/// totals are the counts and sums of that process's read and write events of the file; under
/// `close` alone the same totals come without them.
#[test]
fn real_tools_totals_are_the_sums_of_their_reads_and_writes() {
    let dir = TestDir::new("closetools");
    let a = dir.join("a.txt");
    std::fs::write(&a, "forty thousand bytes\n".repeat(2000)).unwrap();
    let size = std::fs::metadata(&a).unwrap().len();
    let d = q(dir.str());
    let workload = || {
        for f in ["b.txt", "c.txt", "d.txt"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        run_sh(&format!("cat {d}/a.txt > /dev/null"));
        run_sh(&format!("cp {d}/a.txt {d}/b.txt"));
        run_sh(&format!("dd if={d}/a.txt of={d}/c.txt bs=4096 2>/dev/null"));
        run_sh(&format!("echo hello >> {d}/d.txt"));
    };
    // Each close by (tool, file name): its totals.
    let by_tool = |run: &Finished| -> HashMap<(String, String), [u64; 4]> {
        let mut m = HashMap::new();
        for e in run.events().iter().filter(|e| e["op"] == "close") {
            let key = (
                e["process"]["name"].as_str().unwrap().to_string(),
                e["file"]["name"].as_str().unwrap().to_string(),
            );
            assert!(
                m.insert(key.clone(), totals(e)).is_none(),
                "two closes of {key:?}"
            );
        }
        m
    };

    let fs = Filespy::start(
        &["--events", "read,write,close", "--path", dir.str()],
        Out::Collect,
    );
    workload();
    let run = fs.stop();
    let text = run.lines.join("\n");
    let events = run.events();
    for c in events.iter().filter(|e| e["op"] == "close") {
        let same = |op: &str| -> Vec<&Value> {
            events
                .iter()
                .filter(|e| {
                    e["op"] == op
                        && e["process"]["pid"] == c["process"]["pid"]
                        && e["file"]["file_path"] == c["file"]["file_path"]
                })
                .collect()
        };
        let sum = |evs: &[&Value], k: &str| {
            evs.iter()
                .map(|e| e["file"][k].as_u64().unwrap())
                .sum::<u64>()
        };
        let (reads, writes) = (same("read"), same("write"));
        let want = [
            reads.len() as u64,
            sum(&reads, "bytes_read"),
            writes.len() as u64,
            sum(&writes, "bytes_written"),
        ];
        assert_eq!(totals(c), want, "{c}\n{text}");
    }
    let seen = by_tool(&run);
    let size_of = |n: &str| std::fs::metadata(dir.join(n)).unwrap().len();
    for (tool, file, read, written) in [
        ("cat", "a.txt", size, 0),
        ("cp", "a.txt", size, 0),
        ("cp", "b.txt", 0, size),
        ("dd", "a.txt", size, 0),
        ("dd", "c.txt", 0, size),
    ] {
        let t = seen
            .get(&(tool.to_string(), file.to_string()))
            .unwrap_or_else(|| panic!("no close of {file} by {tool}: {text}"));
        assert_eq!((t[1], t[3]), (read, written), "{tool} {file}");
    }
    assert_eq!(seen[&("dd".into(), "a.txt".into())][0], size.div_ceil(4096));
    let shell: Vec<_> = seen.iter().filter(|((_, f), _)| f == "d.txt").collect();
    assert_eq!(shell.len(), 1, "{text}");
    assert_eq!(*shell[0].1, [0, 0, 1, size_of("d.txt")]);

    let fs = Filespy::start(&["--events", "close", "--path", dir.str()], Out::Collect);
    workload();
    let alone = fs.stop();
    assert!(alone.events().iter().all(|e| e["op"] == "close"));
    assert_eq!(by_tool(&alone), seen, "{}", alone.lines.join("\n"));
    println!("{seen:?}");
}
