//! The access kinds: `open` (flags as strace names them, mode, fd, whether it created the file) and
//! `read` (the bytes the kernel read, by every read syscall, the source side of the copies and
//! io_uring), with the file filters in the kernel. Real programs (`cat`, `grep -r`, `dd`, `python3`,
//! `cp`) and raw calls. On the host (syscall tracepoints) and in the Debian VMs (kprobe kernels).

#[path = "common/monitor.rs"]
mod monitor;
#[path = "common/uring.rs"]
mod uring;

use monitor::*;
use serde_json::Value;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// openat(AT_FDCWD, p, flags, mode) as a raw syscall: libc's open may be another call (musl uses
/// `open`) and add flags of its own (musl: O_LARGEFILE), and the test compares exact flags.
fn open(p: &Path, flags: i32, mode: u32) -> i32 {
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            cstr(p).as_ptr(),
            flags,
            mode,
        )
    } as i32;
    assert!(
        fd >= 0,
        "open {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    fd
}

/// The events of `path` with `op`, in time order.
fn of(run: &Finished, path: &Path, op: &str) -> Vec<Value> {
    let mut evs: Vec<Value> = run
        .events_for(path)
        .into_iter()
        .filter(|e| e["op"] == op)
        .collect();
    evs.sort_by_key(|e| e["system_ts"].as_u64().unwrap());
    evs
}

fn bytes_read(evs: &[Value]) -> u64 {
    evs.iter()
        .map(|e| e["file"]["bytes_read"].as_u64().unwrap())
        .sum()
}

fn flags(e: &Value) -> Vec<&str> {
    e["file"]["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("no flags: {e}"))
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

/// struct open_how (linux/openat2.h).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[test]
fn every_read_syscall_and_open_is_an_event_with_exact_bytes_and_flags() {
    let dir = TestDir::new("access");
    let data = dir.join("data.txt");
    let content: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&data, &content).unwrap();
    let ignored = dir.join("data.bin");
    std::fs::write(&ignored, &content).unwrap();
    let created = dir.join("new.log");
    let fs = Filespy::start(
        &["--events", "access", "--path", dir.str(), "--stats"],
        Out::Collect,
    );
    let me = std::process::id();
    let mut buf = vec![0u8; 4096];
    let (fd, fd2, fd3, fd4);
    unsafe {
        fd = open(&data, libc::O_RDONLY | libc::O_CLOEXEC, 0);
        // read to the end: the last read returns 0 and is no event.
        loop {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), 3000);
            assert!(n >= 0);
            if n == 0 {
                break;
            }
        }
        assert_eq!(libc::pread64(fd, buf.as_mut_ptr().cast(), 100, 10), 100);
        let iov = [
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: 10,
            },
            libc::iovec {
                iov_base: buf[100..].as_mut_ptr().cast(),
                iov_len: 20,
            },
        ];
        libc::lseek(fd, 0, libc::SEEK_SET);
        assert_eq!(libc::readv(fd, iov.as_ptr(), 2), 30);
        // Raw: musl's preadv2 without flags is preadv.
        let (lo, hi) = (5i64, 0i64);
        assert_eq!(
            libc::syscall(libc::SYS_preadv, fd, iov.as_ptr(), 2, lo, hi),
            30
        );
        assert_eq!(
            libc::syscall(libc::SYS_preadv2, fd, iov.as_ptr(), 1, 0i64, 0i64, 0),
            10
        );
        // An O_CREAT open that creates, one that does not, an exclusive append, a failed open.
        fd2 = open(
            &created,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_APPEND | libc::O_CLOEXEC,
            0o600,
        );
        fd3 = open(
            &created,
            libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        assert!(
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                cstr(&dir.join("missing.txt")).as_ptr(),
                libc::O_RDONLY
            ) < 0
        );
        // openat2: flags and mode from user memory.
        let how = OpenHow {
            flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
            mode: 0,
            resolve: 0,
        };
        let r = libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            cstr(&data).as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        );
        assert!(r >= 0, "openat2: {}", std::io::Error::last_os_error());
        fd4 = r as i32;
        // Not watched: the extension filter runs in the kernel for opens and reads.
        let b = open(&ignored, libc::O_RDONLY | libc::O_CLOEXEC, 0);
        assert!(libc::read(b, buf.as_mut_ptr().cast(), 4096) > 0);
        libc::close(b);
        for f in [fd, fd2, fd3, fd4] {
            libc::close(f);
        }
    }
    let run = fs.stop();
    let text = run.lines.join("\n");
    let reads = of(&run, &data, "read");
    let by_via = |via: &str| -> Vec<&Value> { reads.iter().filter(|e| e["via"] == via).collect() };
    let sum = |evs: &[&Value]| -> u64 {
        evs.iter()
            .map(|e| e["file"]["bytes_read"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum(&by_via("read")), content.len() as u64, "{text}");
    assert_eq!(
        by_via("read").len(),
        content.len().div_ceil(3000),
        "no EOF event"
    );
    for (via, n) in [
        ("pread64", 100),
        ("readv", 30),
        ("preadv", 30),
        ("preadv2", 10),
    ] {
        let evs = by_via(via);
        assert_eq!(evs.len(), 1, "{via}: {text}");
        assert_eq!(sum(&evs), n, "{via}");
    }
    for e in &reads {
        assert_eq!(e["process"]["pid"], me, "{e}");
        assert_eq!(e["file"]["inode"], std::fs::metadata(&data).unwrap().ino());
    }
    let opens = of(&run, &data, "open");
    assert_eq!(opens.len(), 2, "open and openat2: {text}");
    let o = &opens[0];
    assert_eq!(o["via"], "openat", "{o}");
    assert_eq!(flags(o), ["O_RDONLY", "O_CLOEXEC"]);
    assert_eq!(o["file"]["fd"], fd);
    assert!(o["file"]["mode"].is_null(), "no O_CREAT, no mode: {o}");
    assert!(o["file"].get("created").is_none());
    let o2 = &opens[1];
    assert_eq!(o2["via"], "openat2", "{o2}");
    assert_eq!(flags(o2), ["O_RDONLY", "O_NOFOLLOW", "O_CLOEXEC"]);
    assert_eq!(o2["file"]["fd"], fd4);

    let made = of(&run, &created, "open");
    assert_eq!(made.len(), 2, "{text}");
    assert_eq!(
        flags(&made[0]),
        ["O_WRONLY", "O_CREAT", "O_EXCL", "O_APPEND", "O_CLOEXEC"]
    );
    assert_eq!(made[0]["file"]["mode"], "0600");
    assert_eq!(made[0]["file"]["created"], true, "{}", made[0]);
    assert_eq!(made[0]["file"]["fd"], fd2);
    assert_eq!(flags(&made[1]), ["O_RDWR", "O_CREAT", "O_CLOEXEC"]);
    assert_eq!(made[1]["file"]["mode"], "0644");
    assert!(
        made[1]["file"].get("created").is_none(),
        "the file existed: {}",
        made[1]
    );
    assert!(run.events_for(&ignored).is_empty(), "{text}");
    assert!(run.events_for(&dir.join("missing.txt")).is_empty());
    let stats = run.stats();
    assert!(stats.failed_writes >= 1, "the failed open is counted");
    println!("open: {}\nread: {}", made[0], reads[0]);
}

/// `cat`, `grep -r`, `dd` and `cp` read whole files: the bytes of each file's read events are its size.
#[test]
fn real_tools_read_whole_files() {
    let dir = TestDir::new("tools");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (a, b) = (dir.join("a.txt"), sub.join("b.log"));
    std::fs::write(&a, "alpha line\n".repeat(4000)).unwrap();
    std::fs::write(&b, "beta line\n".repeat(9000)).unwrap();
    let fs = Filespy::start(
        &["--events", "open,read", "--path", dir.str()],
        Out::Collect,
    );
    let d = q(dir.str());
    run_sh(&format!("cat {d}/a.txt > /dev/null"));
    // grep reads every file to its end when nothing matches.
    let grep = sh(&format!("grep -r no-such-text {d}"))
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(grep.code(), Some(1), "grep found nothing");
    run_sh(&format!(
        "dd if={d}/sub/b.log of=/dev/null bs=4096 2>/dev/null"
    ));
    run_sh(&format!("cp {d}/a.txt {d}/copy.txt"));
    let run = fs.stop();
    let text = run.lines.join("\n");
    let sizes = [
        (&a, std::fs::metadata(&a).unwrap().len()),
        (&b, std::fs::metadata(&b).unwrap().len()),
    ];
    for tool in ["cat", "grep", "dd", "cp"] {
        for (path, size) in sizes {
            let evs: Vec<Value> = of(&run, path, "read")
                .into_iter()
                .filter(|e| e["process"]["name"] == tool)
                .collect();
            let expected = match (tool, path == &a) {
                ("cat" | "cp", true) | ("grep", _) | ("dd", false) => size,
                _ => 0,
            };
            assert_eq!(
                bytes_read(&evs),
                expected,
                "{tool} reading {}: {text}",
                path.display()
            );
            let opens = of(&run, path, "open")
                .into_iter()
                .filter(|e| e["process"]["name"] == tool)
                .count();
            assert_eq!(
                opens,
                usize::from(expected > 0),
                "{tool} opens {}",
                path.display()
            );
        }
    }
    println!(
        "cp read via {:?}",
        of(&run, &a, "read")
            .iter()
            .filter(|e| e["process"]["name"] == "cp")
            .map(|e| e["via"].clone())
            .collect::<Vec<_>>()
    );
}

/// The source side of copy_file_range and sendfile, and io_uring's reads, are reads of the source.
#[test]
fn copies_and_io_uring_read_their_source() {
    let dir = TestDir::new("readcopies");
    let src = dir.join("src.txt");
    let content = "copied bytes\n".repeat(3000);
    std::fs::write(&src, &content).unwrap();
    let fs = Filespy::start(&["--events", "read", "--path", dir.str()], Out::Collect);
    let me = std::process::id();
    let ring = uring::Ring::new().expect("io_uring_setup");
    let mut buf = vec![0u8; 4096];
    let fixed = vec![0u8; 4096];
    ring.register_buffers(&[libc::iovec {
        iov_base: fixed.as_ptr() as *mut _,
        iov_len: fixed.len(),
    }])
    .expect("register buffers");
    unsafe {
        let s = open(&src, libc::O_RDONLY | libc::O_CLOEXEC, 0);
        // Not watched: the destinations' extension.
        let d = open(
            &dir.join("dst.bin"),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        let mut left = content.len();
        while left > 0 {
            let n =
                libc::copy_file_range(s, std::ptr::null_mut(), d, std::ptr::null_mut(), left, 0);
            assert!(
                n > 0,
                "copy_file_range: {}",
                std::io::Error::last_os_error()
            );
            left -= n as usize;
        }
        libc::lseek(s, 0, libc::SEEK_SET);
        let mut left = content.len();
        while left > 0 {
            let n = libc::sendfile(d, s, std::ptr::null_mut(), left);
            assert!(n > 0, "sendfile: {}", std::io::Error::last_os_error());
            left -= n as usize;
        }
        let iov = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: 700,
        }];
        // READV_FIXED (6.15 on): two pieces of the registered buffer, 300 + 100 bytes.
        let fixed_iov = [
            libc::iovec {
                iov_base: fixed.as_ptr() as *mut _,
                iov_len: 300,
            },
            libc::iovec {
                iov_base: fixed.as_ptr().add(1000) as *mut _,
                iov_len: 100,
            },
        ];
        let mut sqes = vec![
            uring::Sqe {
                opcode: uring::IORING_OP_READ,
                fd: s,
                addr: buf.as_mut_ptr() as u64,
                len: 500,
                ..Default::default()
            },
            uring::Sqe {
                opcode: uring::IORING_OP_READV,
                fd: s,
                addr: iov.as_ptr() as u64,
                len: 1,
                ..Default::default()
            },
            uring::Sqe {
                opcode: uring::IORING_OP_READ_FIXED,
                fd: s,
                addr: fixed.as_ptr() as u64,
                len: 900,
                buf_index: 0,
                ..Default::default()
            },
        ];
        if uring::supports(uring::IORING_OP_READV_FIXED) {
            sqes.push(uring::Sqe {
                opcode: uring::IORING_OP_READV_FIXED,
                fd: s,
                addr: fixed_iov.as_ptr() as u64,
                len: 2,
                buf_index: 0,
                ..Default::default()
            });
        }
        for sqe in sqes {
            let res = ring.run(sqe).expect("io_uring_enter");
            assert!(
                res > 0,
                "opcode {}: {}",
                sqe.opcode,
                std::io::Error::from_raw_os_error(-res)
            );
        }
        libc::close(d);
        libc::close(s);
    }
    let run = fs.stop();
    let text = run.lines.join("\n");
    let reads = of(&run, &src, "read");
    let total = |via: &str| -> u64 {
        bytes_read(
            &reads
                .iter()
                .filter(|e| e["via"] == via)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(total("copy_file_range"), content.len() as u64, "{text}");
    assert_eq!(total("sendfile64"), content.len() as u64, "{text}");
    for e in &reads {
        assert_eq!(e["process"]["pid"], me, "the submitter: {e}");
    }
    if uring::complete_has_req() {
        for (via, n) in [
            ("io_uring_read", 500),
            ("io_uring_readv", 700),
            ("io_uring_read_fixed", 900),
        ] {
            assert_eq!(total(via), n, "{via}: {text}");
        }
        let want = if uring::supports(uring::IORING_OP_READV_FIXED) {
            400
        } else {
            0
        };
        assert_eq!(total("io_uring_readv_fixed"), want, "{text}");
    } else {
        assert!(
            !text.contains("\"via\":\"io_uring"),
            "no request in io_uring_complete here (before 5.18): none may be claimed"
        );
    }
    assert!(run.events_for(&dir.join("dst.bin")).is_empty());
}

/// What strace shows for python's opens is what the events say.
#[test]
fn open_flags_match_strace() {
    if in_vm() {
        // The VMs' initramfs has neither python nor strace; the flags' decoding is the same code.
        return;
    }
    let dir = TestDir::new("strace");
    let f = dir.join("s.txt");
    std::fs::write(&f, "x").unwrap();
    let trace = dir.join("trace.out");
    let fs = Filespy::start(&["--events", "open", "--path", dir.str()], Out::Collect);
    let script = format!(
        "open({p:?}).read(); open({p:?}, 'a').write('y'); open({p:?}, 'r+b').read()",
        p = f.to_str().unwrap()
    );
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat", "-o"])
        .arg(&trace)
        .args(["python3", "-c", &script])
        .output()
        .expect("strace (scripts/test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = fs.stop();
    // strace: openat(AT_FDCWD, "/tmp/…/s.txt", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0666) = 3
    let name = format!("\"{}\"", f.to_str().unwrap());
    let traced: Vec<(Vec<String>, i64)> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&name))
        .map(|l| {
            let args = &l[l.find(&name).unwrap() + name.len() + 2..];
            let flag_text = args.split([',', ')']).next().unwrap();
            let fd = l.rsplit("= ").next().unwrap().trim().parse().unwrap();
            (flag_text.split('|').map(str::to_string).collect(), fd)
        })
        .collect();
    let evs = of(&run, &f, "open");
    assert_eq!(
        evs.len(),
        traced.len(),
        "{traced:?}\n{}",
        run.lines.join("\n")
    );
    assert_eq!(evs.len(), 3);
    for (e, (names, fd)) in evs.iter().zip(&traced) {
        let mut got = flags(e);
        let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{e}");
        assert_eq!(e["file"]["fd"], *fd);
    }
    println!("strace and filespy agree on {} opens", evs.len());
}

/// `create` and `open` hook the same syscalls: each keeps its own per-thread entry, so one O_CREAT
/// open that creates a file is both events.
#[test]
fn an_open_that_creates_is_both_open_and_create() {
    let dir = TestDir::new("bothkinds");
    let f = dir.join("new.txt");
    let fs = Filespy::start(
        &["--events", "create,open", "--path", dir.str()],
        Out::Collect,
    );
    run_sh(&format!("echo made > {}", q(f.to_str().unwrap())));
    let run = fs.stop();
    let ops: Vec<String> = of(&run, &f, "create")
        .iter()
        .chain(of(&run, &f, "open").iter())
        .map(|e| e["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["create", "open"], "{}", run.lines.join("\n"));
    assert_eq!(of(&run, &f, "open")[0]["file"]["created"], true);
}
