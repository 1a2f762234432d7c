//! Every way data reaches a watched file is a write event: `copy_file_range`, `sendfile`, `splice`
//! (also fed by `vmsplice`), the system's `cp`, and io_uring's WRITE, WRITEV, WRITE_FIXED and SPLICE,
//! with the bytes the kernel moved, `via` naming the path, a copy's source file, and the submitter as
//! the writer. On the host (syscall tracepoints) and in the Debian VMs (kprobe kernels).

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

fn open(p: &Path, flags: i32) -> i32 {
    let fd = unsafe { libc::open(cstr(p).as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    assert!(
        fd >= 0,
        "open {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    fd
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

/// The events of `path`, in time order.
fn of(run: &Finished, path: &Path) -> Vec<Value> {
    let mut evs = run.events_for(path);
    evs.sort_by_key(|e| e["system_ts"].as_u64().unwrap());
    evs
}

fn total(evs: &[Value]) -> u64 {
    evs.iter()
        .map(|e| e["file"]["bytes_written"].as_u64().unwrap())
        .sum()
}

#[test]
fn copy_file_range_sendfile_and_splice_are_writes() {
    let dir = TestDir::new("copies");
    let src = dir.join("src.dat");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let me = std::process::id();
    let fs = Filespy::start(
        &["--path", dir.str(), "--pid", &me.to_string(), "--stats"],
        Out::Collect,
    );
    let (cfr, sf, sp, vm, bin, empty, ro) = (
        dir.join("cfr.txt"),
        dir.join("sf.txt"),
        dir.join("sp.txt"),
        dir.join("vm.log"),
        dir.join("ignored.bin"),
        dir.join("empty.txt"),
        dir.join("ro.txt"),
    );
    std::fs::write(&ro, "").unwrap();
    unsafe {
        let s = open(&src, libc::O_RDONLY);
        for (dst, _) in [(&cfr, 0), (&bin, 0)] {
            let d = open(dst, libc::O_WRONLY | libc::O_CREAT);
            // Until it returns 0, as cp and shutil do: the last call copies nothing and fails nothing.
            loop {
                let n = libc::copy_file_range(
                    s,
                    std::ptr::null_mut(),
                    d,
                    std::ptr::null_mut(),
                    1 << 20,
                    0,
                );
                assert!(
                    n >= 0,
                    "copy_file_range: {}",
                    std::io::Error::last_os_error()
                );
                if n == 0 {
                    break;
                }
            }
            libc::close(d);
            libc::lseek(s, 0, libc::SEEK_SET);
        }
        let d = open(&sf, libc::O_WRONLY | libc::O_CREAT);
        loop {
            let n = libc::sendfile(d, s, std::ptr::null_mut(), 1 << 20);
            assert!(n >= 0, "sendfile: {}", std::io::Error::last_os_error());
            if n == 0 {
                break;
            }
        }
        libc::close(d);
        // A pipe filled by write, spliced into the file.
        let (r, w) = pipe();
        assert_eq!(libc::write(w, b"through a pipe\n".as_ptr().cast(), 15), 15);
        let d = open(&sp, libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(
            libc::splice(r, std::ptr::null_mut(), d, std::ptr::null_mut(), 15, 0),
            15
        );
        libc::close(d);
        // vmsplice into the pipe, then splice out of it.
        let buf = b"vmspliced bytes\n";
        let iov = libc::iovec {
            iov_base: buf.as_ptr() as *mut _,
            iov_len: buf.len(),
        };
        assert_eq!(libc::vmsplice(w, &iov, 1, 0), buf.len() as isize);
        let d = open(&vm, libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(
            libc::splice(
                r,
                std::ptr::null_mut(),
                d,
                std::ptr::null_mut(),
                buf.len(),
                0
            ),
            buf.len() as isize
        );
        // The writer gone and the pipe empty: splice returns 0.
        libc::close(w);
        assert_eq!(
            libc::splice(r, std::ptr::null_mut(), d, std::ptr::null_mut(), 64, 0),
            0
        );
        libc::close(d);
        libc::close(r);
        libc::close(s);
        // write(fd, buf, 0) wrote nothing and did not fail; a write on a read-only fd failed.
        let d = open(&empty, libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(libc::write(d, b"x".as_ptr().cast(), 0), 0);
        libc::close(d);
        let d = open(&ro, libc::O_RDONLY);
        assert_eq!(libc::write(d, b"x".as_ptr().cast(), 1), -1);
        libc::close(d);
    }
    let run = fs.stop();
    let src_ino = std::fs::metadata(&src).unwrap().ino();
    for (path, via, source) in [
        (&cfr, "copy_file_range", true),
        (&sf, "sendfile64", true),
        (&sp, "splice", false),
        (&vm, "splice", false),
    ] {
        let evs = of(&run, path);
        assert!(
            !evs.is_empty(),
            "no event for {}: {}",
            path.display(),
            run.lines.join("\n")
        );
        let size = std::fs::metadata(path).unwrap().len();
        assert_eq!(total(&evs), size, "bytes of {}", path.display());
        for e in &evs {
            assert_eq!(e["via"], via, "{e}");
            assert_eq!(e["process"]["pid"], me, "{e}");
            if source {
                assert_eq!(e["file"]["source_path"], src.to_str().unwrap(), "{e}");
                assert_eq!(e["file"]["source_inode"], src_ino, "{e}");
            } else {
                assert!(
                    e["file"].get("source_path").is_none(),
                    "a pipe is no source file: {e}"
                );
            }
        }
    }
    assert!(
        of(&run, &bin).is_empty(),
        "the extension filter applies to copies"
    );
    assert!(of(&run, &empty).is_empty(), "{}", run.lines.join("\n"));
    assert!(
        run.lines
            .iter()
            .all(|l| !l.contains("\"bytes_written\":0,")),
        "no event of 0 bytes: {}",
        run.lines.join("\n")
    );
    // Only the write on the read-only fd failed: the copies' closing 0s and the empty write did not.
    assert_eq!(run.stats().failed_writes, 1, "{:?}", run.stats());
    println!("e.g. {}", of(&run, &cfr)[0]);
}

/// `tool` as found in PATH.
fn which(tool: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(tool))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} not in PATH"))
}

/// How the system's `tool` (`cp`, `cat`) moves a file's bytes, by its identity: busybox (the VMs'
/// initramfs) with sendfile, GNU coreutils 9 and later with copy_file_range (both end on a call
/// that returns 0), older coreutils with read and write.
fn copy_via(tool: &str) -> &'static str {
    let path = which(tool);
    let real = std::fs::canonicalize(&path).unwrap();
    if real.file_name().is_some_and(|n| n == "busybox") {
        return "sendfile64";
    }
    let out = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("");
    let version = first
        .split("(GNU coreutils) ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}: not coreutils nor busybox: {first}", path.display()));
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    match (major >= 9, expected_hook()) {
        (true, _) => "copy_file_range",
        (false, "kprobe") => "vfs_write",
        (false, _) => "write",
    }
}

#[test]
fn the_systems_cp_and_cat_are_seen() {
    let dir = TestDir::new("cp");
    let src = dir.join("notes.txt");
    std::fs::write(&src, "notes\n".repeat(5000)).unwrap();
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    // Run as themselves, not from a shell (busybox sh forks its applets without exec: named sh),
    // so each is its process's name; cat's stdout is the file, as `cat a > b.txt` makes it.
    let cp = std::process::Command::new(which("cp"))
        .args(["notes.txt", "backup.txt"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(cp.success());
    let cat = std::process::Command::new(which("cat"))
        .arg("notes.txt")
        .current_dir(dir.path())
        .stdout(std::fs::File::create(dir.join("catted.txt")).unwrap())
        .status()
        .unwrap();
    assert!(cat.success());
    let run = fs.stop();
    let src_ino = std::fs::metadata(&src).unwrap().ino();
    for (name, tool) in [("backup.txt", "cp"), ("catted.txt", "cat")] {
        let path = dir.join(name);
        let via = copy_via(tool);
        let evs = of(&run, &path);
        assert_eq!(
            total(&evs),
            std::fs::metadata(&path).unwrap().len(),
            "{name}: {}",
            run.lines.join("\n")
        );
        for e in &evs {
            assert_eq!(e["via"], via, "{tool} ({}): {e}", which(tool).display());
            assert_eq!(e["process"]["name"], tool, "{e}");
            if via == "copy_file_range" || via == "sendfile64" {
                assert_eq!(e["file"]["source_path"], src.to_str().unwrap(), "{e}");
                assert_eq!(e["file"]["source_inode"], src_ino, "{e}");
            } else {
                assert!(e["file"].get("source_path").is_none(), "{e}");
            }
        }
        println!("{name}: {tool} via {via}");
    }
}

/// The process name events report: the thread group leader's comm.
fn leader_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

/// The submitter's identity, whichever task completed the request: pid, leader's comm (not
/// `iou-wrk-N`/`iou-sqp-N`), executable and command line.
fn assert_the_submitters(e: &Value) {
    let p = &e["process"];
    assert_eq!(p["pid"], std::process::id(), "the submitter: {e}");
    assert_eq!(p["name"], leader_comm().as_str(), "{e}");
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    assert_eq!(p["exe_path"], exe.to_str().unwrap(), "{e}");
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(p["cmdline"], serde_json::json!(args), "{e}");
}

/// No line claims an io_uring write: on kernels whose `io_uring_complete` lacks the request.
fn assert_no_uring_claims(run: &Finished) {
    let claimed: Vec<&String> = run
        .lines
        .iter()
        .filter(|l| l.contains("\"via\":\"io_uring"))
        .collect();
    assert!(claimed.is_empty(), "{claimed:?}");
    println!("io_uring_complete has no req field here: no io_uring write is claimed");
}

/// WRITEV_FIXED exists from 6.15 (older kernels complete it with -EINVAL: not submitted there).
fn has_writev_fixed() -> bool {
    uring::supports(uring::IORING_OP_WRITEV_FIXED)
}

/// A WRITE of `buf` to `fd`.
fn write_sqe(fd: i32, buf: &[u8], flags: u8) -> uring::Sqe {
    uring::Sqe {
        opcode: uring::IORING_OP_WRITE,
        flags,
        fd,
        addr: buf.as_ptr() as u64,
        len: buf.len() as u32,
        // -1: at the file's position.
        off: u64::MAX,
        ..Default::default()
    }
}

#[test]
fn io_uring_writes_are_the_submitters() {
    let dir = TestDir::new("uring");
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let has_req = uring::complete_has_req();
    let ring = uring::Ring::new().expect("io_uring_setup");
    // The opcode probe that decides WRITEV_FIXED below answers: WRITE (5.6) is there, 255 is not.
    assert!(uring::supports(uring::IORING_OP_WRITE) && !uring::supports(255));
    println!("io_uring WRITEV_FIXED supported: {}", has_writev_fixed());
    let names = [
        "write.txt",
        "writev.txt",
        "fixed.txt",
        "splice.txt",
        "async.txt",
        "writev_fixed.txt",
        "sqpoll.txt",
    ];
    let fds: Vec<i32> = names
        .iter()
        .map(|n| open(&dir.join(n), libc::O_WRONLY | libc::O_CREAT))
        .collect();
    let buf = b"io_uring wrote this\n".to_vec();
    let fixed = vec![b'f'; 4096];
    let iov = [libc::iovec {
        iov_base: buf.as_ptr() as *mut _,
        iov_len: buf.len(),
    }];
    // Two pieces of the registered buffer.
    let fixed_iov = [
        libc::iovec {
            iov_base: fixed.as_ptr() as *mut _,
            iov_len: 1000,
        },
        libc::iovec {
            iov_base: unsafe { fixed.as_ptr().add(2000) } as *mut _,
            iov_len: 500,
        },
    ];
    ring.register_buffers(&[libc::iovec {
        iov_base: fixed.as_ptr() as *mut _,
        iov_len: fixed.len(),
    }])
    .expect("register buffers");
    let (r, w) = pipe();
    assert_eq!(
        unsafe { libc::write(w, buf.as_ptr().cast(), buf.len()) },
        buf.len() as isize
    );
    let mut sqes = vec![
        write_sqe(fds[0], &buf, 0),
        uring::Sqe {
            opcode: uring::IORING_OP_WRITEV,
            fd: fds[1],
            addr: iov.as_ptr() as u64,
            len: 1,
            ..Default::default()
        },
        uring::Sqe {
            opcode: uring::IORING_OP_WRITE_FIXED,
            fd: fds[2],
            addr: fixed.as_ptr() as u64,
            len: fixed.len() as u32,
            buf_index: 0,
            ..Default::default()
        },
        uring::Sqe {
            opcode: uring::IORING_OP_SPLICE,
            fd: fds[3],
            len: buf.len() as u32,
            splice_fd_in: r,
            // off_in (addr) = -1 and off_out (off) = -1: the pipe's and the file's position.
            addr: u64::MAX,
            off: u64::MAX,
            ..Default::default()
        },
        // Issued on an io-wq worker (iou-wrk-N), which completes it.
        write_sqe(fds[4], &buf, uring::IOSQE_ASYNC),
    ];
    if has_writev_fixed() {
        sqes.push(uring::Sqe {
            opcode: uring::IORING_OP_WRITEV_FIXED,
            fd: fds[5],
            addr: fixed_iov.as_ptr() as u64,
            len: fixed_iov.len() as u32,
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
    // Submitted by the ring's SQPOLL thread (iou-sqp-N, 5.11 on; before, a kernel thread that needs
    // registered files: there the request may fail, and no event is claimed anyway).
    let sqpoll = uring::Ring::with_flags(uring::IORING_SETUP_SQPOLL);
    match &sqpoll {
        Ok(sq) => {
            let res = sq.run(write_sqe(fds[6], &buf, 0)).expect("io_uring_enter");
            assert!(
                res > 0 || !has_req,
                "SQPOLL write: {}",
                std::io::Error::from_raw_os_error(-res)
            );
        }
        Err(e) => assert!(!has_req, "SQPOLL io_uring_setup: {e}"),
    }
    drop(sqpoll);
    for fd in fds {
        unsafe { libc::close(fd) };
    }
    unsafe {
        libc::close(r);
        libc::close(w);
    }
    let run = fs.stop();
    if !has_req {
        // This kernel's tracepoint does not say which request completed (before 5.18): the documented
        // limit is that io_uring writes are not seen, and none may be claimed.
        assert_no_uring_claims(&run);
        return;
    }
    let mut expected = vec![
        ("write.txt", "io_uring_write"),
        ("writev.txt", "io_uring_writev"),
        ("fixed.txt", "io_uring_write_fixed"),
        ("splice.txt", "io_uring_splice"),
        ("async.txt", "io_uring_write"),
        ("sqpoll.txt", "io_uring_write"),
    ];
    if has_writev_fixed() {
        expected.push(("writev_fixed.txt", "io_uring_writev_fixed"));
    } else {
        assert!(of(&run, &dir.join("writev_fixed.txt")).is_empty());
    }
    for (name, via) in expected {
        let path = dir.join(name);
        let evs = of(&run, &path);
        assert_eq!(evs.len(), 1, "{name}: {}", run.lines.join("\n"));
        let e = &evs[0];
        assert_eq!(e["via"], via, "{e}");
        assert_the_submitters(e);
        assert_eq!(
            e["file"]["bytes_written"],
            std::fs::metadata(&path).unwrap().len(),
            "{e}"
        );
        assert_eq!(e["file"]["inode"], std::fs::metadata(&path).unwrap().ino());
        println!("{name}: {e}");
    }
    if has_writev_fixed() {
        assert_eq!(
            std::fs::metadata(dir.join("writev_fixed.txt"))
                .unwrap()
                .len(),
            1500
        );
    }
}

/// `--comm` names the process: an io_uring write completed by an io-wq worker or the SQPOLL thread
/// (whose own comm is `iou-*`) is the process's and kept; another process's write is not.
#[test]
fn comm_filter_keeps_io_uring_writes_run_by_the_process_threads() {
    let dir = TestDir::new("uring-comm");
    let comm = leader_comm();
    let fs = Filespy::start(&["--comm", &comm, "--path", dir.str()], Out::Collect);
    let has_req = uring::complete_has_req();
    let (a, sq, other, control) = (
        dir.join("async.txt"),
        dir.join("sqpoll.txt"),
        dir.join("other.txt"),
        dir.join("control.txt"),
    );
    let buf = b"written by a worker\n";
    let ring = uring::Ring::new().expect("io_uring_setup");
    let fd = open(&a, libc::O_WRONLY | libc::O_CREAT);
    let res = ring
        .run(write_sqe(fd, buf, uring::IOSQE_ASYNC))
        .expect("io_uring_enter");
    assert_eq!(res, buf.len() as i32);
    unsafe { libc::close(fd) };
    let fd = open(&sq, libc::O_WRONLY | libc::O_CREAT);
    match uring::Ring::with_flags(uring::IORING_SETUP_SQPOLL) {
        Ok(r) => {
            let res = r.run(write_sqe(fd, buf, 0)).expect("io_uring_enter");
            assert!(res > 0 || !has_req, "SQPOLL write: {res}");
        }
        Err(e) => assert!(!has_req, "SQPOLL io_uring_setup: {e}"),
    }
    unsafe { libc::close(fd) };
    // A plain write is its thread's: one named as the process passes, so the monitor was live.
    let c = control.clone();
    std::thread::Builder::new()
        .name(comm.clone())
        .spawn(move || std::fs::write(c, "control\n").unwrap())
        .unwrap()
        .join()
        .unwrap();
    run_sh(&format!("echo other > {}", q(other.to_str().unwrap())));
    let run = fs.stop();
    assert_eq!(of(&run, &control).len(), 1, "{}", run.lines.join("\n"));
    assert!(of(&run, &other).is_empty(), "{}", run.lines.join("\n"));
    if !has_req {
        assert_no_uring_claims(&run);
        return;
    }
    for path in [&a, &sq] {
        let evs = of(&run, path);
        assert_eq!(evs.len(), 1, "{}: {}", path.display(), run.lines.join("\n"));
        assert_eq!(evs[0]["via"], "io_uring_write", "{}", evs[0]);
        assert_the_submitters(&evs[0]);
    }
}

/// The extension filter applies to copies and io_uring writes as to write: `.bin` files (not in the
/// default extensions) written by sendfile, splice and io_uring make no event, while a `.txt`
/// written in the same run does.
#[test]
fn copies_and_io_uring_writes_of_unwatched_files_are_not_events() {
    let dir = TestDir::new("unwatched");
    let src = dir.join("src.txt");
    std::fs::write(&src, "source bytes\n".repeat(100)).unwrap();
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let (sf, sp, ur, ua, control) = (
        dir.join("sf.bin"),
        dir.join("sp.bin"),
        dir.join("uring.bin"),
        dir.join("uring-async.bin"),
        dir.join("control.txt"),
    );
    let buf = b"not watched\n";
    unsafe {
        let s = open(&src, libc::O_RDONLY);
        let d = open(&sf, libc::O_WRONLY | libc::O_CREAT);
        assert!(libc::sendfile(d, s, std::ptr::null_mut(), 1 << 20) > 0);
        libc::close(d);
        libc::close(s);
        let (r, w) = pipe();
        assert_eq!(libc::write(w, buf.as_ptr().cast(), buf.len()), 12);
        let d = open(&sp, libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(
            libc::splice(r, std::ptr::null_mut(), d, std::ptr::null_mut(), 12, 0),
            12
        );
        libc::close(d);
        libc::close(r);
        libc::close(w);
    }
    let ring = uring::Ring::new().expect("io_uring_setup");
    for (path, flags) in [(&ur, 0), (&ua, uring::IOSQE_ASYNC)] {
        let fd = open(path, libc::O_WRONLY | libc::O_CREAT);
        let res = ring.run(write_sqe(fd, buf, flags)).expect("io_uring_enter");
        assert_eq!(res, buf.len() as i32);
        unsafe { libc::close(fd) };
    }
    std::fs::write(&control, "watched\n").unwrap();
    let run = fs.stop();
    assert_eq!(of(&run, &control).len(), 1, "{}", run.lines.join("\n"));
    for path in [&sf, &sp, &ur, &ua] {
        assert!(std::fs::metadata(path).unwrap().len() > 0);
        assert!(
            of(&run, path).is_empty(),
            "{}: {}",
            path.display(),
            run.lines.join("\n")
        );
    }
    assert!(
        run.lines.iter().all(|l| !l.contains(".bin\"")),
        "{}",
        run.lines.join("\n")
    );
}
