//! End-to-end tests of the file-integrity kinds (`--events`): each operation done by the real tools
//! (`touch`, `mv`, `ln`, `chmod`, `chown`, `truncate`, `rm`, `mkdir`, `rmdir`), by the raw calls with a
//! directory fd, or by io_uring, is exactly one event with its fields; failed calls are none; the
//! default reports writes only. On the host (syscall tracepoints) and in the Debian VMs (kprobe
//! kernels: delete, rmdir, mkdir, rename, link and symlink are seen at their LSM hook and VFS
//! function, with the inode and io_uring's requests; the other kinds at the syscall tracepoints).

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

/// The kinds seen at the VFS on kprobe kernels (`vfs_*` via, inode known).
const VFS_KINDS: [&str; 6] = ["delete", "rmdir", "mkdir", "rename", "link", "symlink"];

fn kprobe_kernel() -> bool {
    expected_hook() == "kprobe"
}

/// On kprobe kernels an event of a VFS kind was seen at its VFS function and carries the inode and
/// device of its file.
fn assert_seen_at_the_vfs(e: &Value) {
    if !kprobe_kernel() || !VFS_KINDS.contains(&e["op"].as_str().unwrap()) {
        return;
    }
    assert!(e["via"].as_str().unwrap().starts_with("vfs_"), "{e}");
    assert!(e["file"]["inode"].as_u64().is_some_and(|i| i > 0), "{e}");
    assert!(e["file"]["dev"].is_string(), "{e}");
}

/// (op, file_path) of every event, in time order. Truncated paths are left out: `--path` keeps them (they
/// cannot be placed outside the subtree), and other tests on the machine make them; ours are short.
fn ops(run: &Finished) -> Vec<(String, String)> {
    let mut evs = run.events();
    evs.retain(|e| e["file"].get("truncated").is_none());
    evs.sort_by_key(|e| e["system_ts"].as_u64().expect("system_ts"));
    evs.iter()
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_string(),
                file_path(e).to_string(),
            )
        })
        .collect()
}

fn one<'a>(evs: &'a [Value], op: &str, path: &Path) -> &'a Value {
    let found: Vec<&Value> = evs
        .iter()
        .filter(|e| e["op"] == op && file_path(e) == path.to_str().unwrap())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {op} of {}; events:\n{}",
        path.display(),
        evs.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    found[0]
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

#[test]
fn each_operation_is_one_event_with_its_fields() {
    let dir = TestDir::new("fim-ops");
    let fs = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    let d = dir.str();
    run_sh(&format!(
        "cd {d} && touch a.txt && mv a.txt b.txt && mkdir sub && ln b.txt sub/hard.txt && \
         ln -s ../b.txt sub/soft.txt && chmod 640 b.txt && chown 65534:65533 b.txt && \
         truncate -s 10 b.txt && rm sub/hard.txt sub/soft.txt && rmdir sub && rm b.txt",
        d = q(d)
    ));
    let run = fs.stop();
    let j = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let want: Vec<(String, String)> = [
        ("create", j("a.txt")),
        ("rename", j("b.txt")),
        ("mkdir", j("sub")),
        ("link", j("sub/hard.txt")),
        ("symlink", j("sub/soft.txt")),
        ("chmod", j("b.txt")),
        ("chown", j("b.txt")),
        ("truncate", j("b.txt")),
        ("delete", j("sub/hard.txt")),
        ("delete", j("sub/soft.txt")),
        ("rmdir", j("sub")),
        ("delete", j("b.txt")),
    ]
    .into_iter()
    .map(|(o, p)| (o.to_string(), p))
    .collect();
    assert_eq!(ops(&run), want, "output:\n{}", run.lines.join("\n"));
    let evs = run.events();
    println!("kernel {}: {} events, e.g.", expected_hook(), evs.len());
    for e in &evs {
        println!("  {e}");
    }
    let f = |op: &str, name: &str| one(&evs, op, &dir.join(name))["file"].clone();
    assert_eq!(f("rename", "b.txt")["old_path"], j("a.txt"));
    assert_eq!(f("link", "sub/hard.txt")["target"], j("b.txt"));
    assert_eq!(f("symlink", "sub/soft.txt")["target"], "../b.txt");
    assert_eq!(f("chmod", "b.txt")["mode"], "0640");
    assert_eq!(f("chown", "b.txt")["uid"], 65534);
    assert_eq!(f("chown", "b.txt")["gid"], 65533);
    assert_eq!(f("truncate", "b.txt")["size"], 10);
    assert_eq!(f("mkdir", "sub")["name"], "sub");
    // The create was reached through its new fd: inode and device are the file's.
    let create = &one(&evs, "create", &dir.join("a.txt"));
    assert!(create["file"]["inode"].as_u64().is_some_and(|i| i > 0));
    for e in &evs {
        let p = &e["process"];
        assert!(
            p["pid"].as_u64().is_some() && p["exe_path"].is_string(),
            "{e}"
        );
        assert!(e["via"].as_str().is_some_and(|v| !v.is_empty()), "{e}");
        assert_seen_at_the_vfs(e);
    }
    if kprobe_kernel() {
        // One file under three names: its inode is the same in each event that names it.
        let ino = &create["file"]["inode"];
        for (op, name) in [
            ("rename", "b.txt"),
            ("link", "sub/hard.txt"),
            ("delete", "sub/hard.txt"),
            ("delete", "b.txt"),
        ] {
            assert_eq!(&f(op, name)["inode"], ino, "{op} {name}");
        }
        assert_ne!(&f("symlink", "sub/soft.txt")["inode"], ino);
    }
}

#[test]
fn failed_calls_make_no_event_and_are_counted() {
    let dir = TestDir::new("fim-fail");
    std::fs::create_dir(dir.join("exists")).unwrap();
    std::fs::write(dir.join("exists/inside.txt"), b"x").unwrap();
    // The failing calls are made by a child of their own, so that `--pid` sees them and nothing else
    // (the other tests of this binary run in threads of this process). Everything the child needs is
    // made before the fork: after it, it only makes raw system calls.
    let p = |n: &str| cstr(&dir.join(n));
    let names = [
        p("exists"),
        p("missing.txt"),
        p("gone.txt"),
        p("x.txt"),
        p("nodir"),
        p("none.txt"),
        p("exists/inside.txt"),
    ];
    let mut go = [0i32; 2];
    assert_eq!(unsafe { libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        unsafe {
            let mut b = [0u8; 1];
            libc::read(go[0], b.as_mut_ptr().cast(), 1);
            let [exists, missing, gone, x, nodir, none, inside] = &names;
            let mut ok = 0;
            // Fail at the VFS on both paths: a directory is not unlinked, a full one not removed.
            ok += (libc::unlink(exists.as_ptr()) == -1) as i32;
            ok += (libc::rmdir(exists.as_ptr()) == -1) as i32;
            // Fail at the name lookup: the kprobe path's hooks are never reached.
            ok += (libc::unlink(missing.as_ptr()) == -1) as i32;
            ok += (libc::mkdir(exists.as_ptr(), 0o755) == -1) as i32;
            ok += (libc::rename(gone.as_ptr(), x.as_ptr()) == -1) as i32;
            ok += (libc::rmdir(nodir.as_ptr()) == -1) as i32;
            ok += (libc::chmod(none.as_ptr(), 0o600) == -1) as i32;
            // A new name that exists (EEXIST): a link, a symlink, an exclusive create.
            ok += (libc::link(inside.as_ptr(), inside.as_ptr()) == -1) as i32;
            ok += (libc::symlink(c"x".as_ptr(), inside.as_ptr()) == -1) as i32;
            let excl = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
            ok += (libc::open(inside.as_ptr(), excl, 0o600) == -1) as i32;
            libc::_exit(if ok == 10 { 0 } else { 1 });
        }
    }
    let pid = child.to_string();
    let fs = Filespy::start(
        &[
            "--events",
            "fim",
            "--path",
            dir.str(),
            "--pid",
            &pid,
            "--stats",
        ],
        Out::Collect,
    );
    unsafe {
        assert_eq!(libc::write(go[1], b"g".as_ptr().cast(), 1), 1);
        let mut status = 0;
        assert_eq!(libc::waitpid(child, &mut status, 0), child);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "every call failed"
        );
        libc::close(go[0]);
        libc::close(go[1]);
    }
    let run = fs.stop();
    assert!(
        run.lines.is_empty(),
        "events of failed calls:\n{}",
        run.lines.join("\n")
    );
    // The syscall tracepoints count every failed call. The kprobe path counts chmod and the
    // exclusive create (still at their syscalls) and what the VFS functions refused where their
    // return is seen: the unlink always, the rmdir unless the kernel inlined vfs_rmdir into the
    // syscall (5.10), where only its successes are caught (at d_delete). The link and symlink over
    // an existing name fail at the lookup, before the LSM hook: not seen, so not counted.
    let failed = run.stats().failed_writes;
    if kprobe_kernel() {
        assert!((3..=4).contains(&failed), "{:?}", run.stats());
    } else {
        assert_eq!(failed, 10, "failed calls are counted: {:?}", run.stats());
    }
}

#[test]
fn rename_over_a_file_and_across_directories() {
    let dir = TestDir::new("fim-rename");
    std::fs::create_dir(dir.join("a")).unwrap();
    std::fs::create_dir(dir.join("b")).unwrap();
    std::fs::write(dir.join("a/x.txt"), b"x").unwrap();
    std::fs::write(dir.join("b/y.txt"), b"old").unwrap();
    std::fs::write(dir.join("b/z.txt"), b"z").unwrap();
    let ino = std::fs::metadata(dir.join("a/x.txt")).unwrap().ino();
    let replaced = std::fs::metadata(dir.join("b/y.txt")).unwrap().ino();
    // tmpfs swaps names (RENAME_EXCHANGE); the VMs' root may not.
    let mnt = TmpfsMount::new(&dir.join("t"));
    let (p, q_) = (mnt.path().join("p.txt"), mnt.path().join("q.txt"));
    std::fs::write(&p, b"p").unwrap();
    std::fs::write(&q_, b"q").unwrap();
    let q_ino = std::fs::metadata(&q_).unwrap().ino();
    // Outside --path: a file moved out of the watched directory, and one moved into it.
    let outside = TestDir::new("fim-rename-out");
    std::fs::write(outside.join("in.txt"), b"in").unwrap();
    let fs = Filespy::start(&["--events", "rename", "--path", dir.str()], Out::Collect);
    // Over a file, to a free name, out and in, then a swap.
    run_sh(&format!(
        "cd {d}/a && mv x.txt ../b/y.txt && mv ../b/z.txt ../b/w.txt && mv ../b/w.txt {o}/out.txt && \
         mv {o}/in.txt ../b/in.txt",
        d = q(dir.str()),
        o = q(outside.str())
    ));
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cstr(&p).as_ptr(),
            libc::AT_FDCWD,
            cstr(&q_).as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
    let run = fs.stop();
    let evs = run.events();
    println!("kernel {}: {}", expected_hook(), run.lines.join("\n"));
    let e = one(&evs, "rename", &dir.join("b/y.txt"));
    assert_eq!(e["file"]["old_path"], dir.join("a/x.txt").to_str().unwrap());
    let free = one(&evs, "rename", &dir.join("b/w.txt"));
    assert!(free["file"].get("replaced_inode").is_none(), "{free}");
    // --path matches a rename by either path.
    let out = one(&evs, "rename", &outside.join("out.txt"));
    assert_eq!(
        out["file"]["old_path"],
        dir.join("b/w.txt").to_str().unwrap()
    );
    let into = one(&evs, "rename", &dir.join("b/in.txt"));
    assert_eq!(
        into["file"]["old_path"],
        outside.join("in.txt").to_str().unwrap()
    );
    let swap = one(&evs, "rename", &q_);
    assert_eq!(
        swap["file"]["flags"],
        serde_json::json!(["RENAME_EXCHANGE"])
    );
    if kprobe_kernel() {
        // Seen at security_path_rename: the file that had the new name, as stat'ed before.
        assert_eq!(e["file"]["replaced_inode"], replaced, "{e}");
        assert_eq!(e["file"]["inode"], ino, "{e}");
        // A swap removes nothing: the other file, now at old_path, is named.
        assert_eq!(swap["file"]["replaced_inode"], q_ino, "{swap}");
    } else {
        // The syscall tracepoints cannot tell: nothing is claimed.
        assert!(e["file"].get("replaced_inode").is_none(), "{e}");
        assert!(swap["file"].get("replaced_inode").is_none(), "{swap}");
    }
    assert_eq!(run.lines.len(), 5, "{}", run.lines.join("\n"));
    assert_eq!(std::fs::metadata(dir.join("b/y.txt")).unwrap().ino(), ino);
}

#[test]
fn names_relative_to_a_directory_fd_are_absolute() {
    let dir = TestDir::new("fim-dirfd");
    std::fs::create_dir(dir.join("d")).unwrap();
    std::fs::write(dir.join("d/a.txt"), b"a").unwrap();
    std::fs::write(dir.join("d/gone.txt"), b"g").unwrap();
    let fs = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    let dfd = unsafe {
        libc::open(
            cstr(&dir.join("d")).as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY,
        )
    };
    assert!(dfd >= 0, "open the directory");
    unsafe {
        assert_eq!(libc::mkdirat(dfd, c"sub".as_ptr(), 0o750), 0);
        assert_eq!(
            libc::renameat(dfd, c"a.txt".as_ptr(), dfd, c"./sub/b.txt".as_ptr()),
            0
        );
        assert_eq!(libc::unlinkat(dfd, c"gone.txt".as_ptr(), 0), 0);
        assert_eq!(libc::fchmodat(dfd, c"sub/b.txt".as_ptr(), 0o600, 0), 0);
        let fd = libc::openat(
            dfd,
            c"./new.txt".as_ptr(),
            libc::O_CREAT | libc::O_WRONLY,
            0o644,
        );
        assert!(fd >= 0);
        // An existing file opened with O_CREAT is not created again.
        let again = libc::openat(
            dfd,
            c"new.txt".as_ptr(),
            libc::O_CREAT | libc::O_WRONLY,
            0o644,
        );
        assert!(again >= 0);
        libc::close(again);
        libc::close(fd);
        assert_eq!(libc::unlinkat(dfd, c"sub/b.txt".as_ptr(), 0), 0);
        assert_eq!(libc::unlinkat(dfd, c"sub".as_ptr(), libc::AT_REMOVEDIR), 0);
        libc::close(dfd);
    }
    let run = fs.stop();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let want: Vec<(String, String)> = [
        ("mkdir", p("d/sub")),
        ("rename", p("d/sub/b.txt")),
        ("delete", p("d/gone.txt")),
        ("chmod", p("d/sub/b.txt")),
        ("create", p("d/new.txt")),
        ("delete", p("d/sub/b.txt")),
        ("rmdir", p("d/sub")),
    ]
    .into_iter()
    .map(|(o, p)| (o.to_string(), p))
    .collect();
    assert_eq!(ops(&run), want, "output:\n{}", run.lines.join("\n"));
    let evs = run.events();
    assert_ours_at_the_vfs(&evs);
    assert_eq!(
        one(&evs, "rename", &dir.join("d/sub/b.txt"))["file"]["old_path"],
        p("d/a.txt")
    );
    assert_eq!(
        one(&evs, "mkdir", &dir.join("d/sub"))["file"]["mode"],
        "0750"
    );
    assert_eq!(
        one(&evs, "create", &dir.join("d/new.txt"))["file"]["mode"],
        "0644"
    );
}

/// The calls no tool makes, each by its raw syscall (so `via` is known whatever the libc): mknod and
/// mknodat of a regular file, creat and openat2 with O_CREAT are creates; a hole punched is a
/// truncate; fchmod, fchown, lchown (of the link itself) and fchmodat2 (6.6+; ENOSYS before, and
/// no event) are chmod and chown; linkat, symlinkat and mknodat name a relative name under a real
/// directory fd, reported absolute. A link, a symlink or an exclusive create over an existing name
/// fails and is no event.
#[test]
fn raw_calls_are_their_kinds() {
    let dir = TestDir::new("fim-raw");
    let d = dir.join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("src.txt"), b"s").unwrap();
    std::fs::write(d.join("exists.txt"), b"e").unwrap();
    std::os::unix::fs::symlink("src.txt", d.join("lnk.txt")).unwrap();
    // tmpfs punches holes (the VMs' root may not).
    let mnt = TmpfsMount::new(&dir.join("t"));
    let hole = mnt.path().join("h.txt");
    std::fs::write(&hole, vec![7u8; 8192]).unwrap();
    let src_ino = std::fs::metadata(d.join("src.txt")).unwrap().ino();
    let dfd = unsafe { libc::open(cstr(&d).as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY) };
    let sfd = unsafe { libc::open(cstr(&d.join("src.txt")).as_ptr(), libc::O_RDWR) };
    let hfd = unsafe { libc::open(cstr(&hole).as_ptr(), libc::O_RDWR) };
    assert!(dfd >= 0 && sfd >= 0 && hfd >= 0, "opens");
    let fs = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    let ok = |what: &str, rc: libc::c_long| {
        assert!(rc >= 0, "{what}: {}", std::io::Error::last_os_error());
        rc
    };
    let fchmodat2_rc;
    unsafe {
        use libc::syscall as sys;
        let reg = libc::S_IFREG as libc::c_long;
        ok(
            "mknod",
            sys(
                libc::SYS_mknod,
                cstr(&d.join("n1.txt")).as_ptr(),
                reg | 0o640,
                0,
            ),
        );
        ok(
            "mknodat",
            sys(libc::SYS_mknodat, dfd, c"n2.txt".as_ptr(), reg | 0o600, 0),
        );
        let fd = ok(
            "creat",
            sys(libc::SYS_creat, cstr(&d.join("c.txt")).as_ptr(), 0o644),
        );
        libc::close(fd as i32);
        // struct open_how { u64 flags, mode, resolve }
        let how: [u64; 3] = [(libc::O_CREAT | libc::O_WRONLY) as u64, 0o600, 0];
        let fd = ok(
            "openat2",
            sys(
                libc::SYS_openat2,
                dfd,
                c"o2.txt".as_ptr(),
                how.as_ptr(),
                24usize,
            ),
        );
        libc::close(fd as i32);
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        ok("fallocate", sys(libc::SYS_fallocate, hfd, punch, 0, 4096));
        // Mode 0 inside the size changes only the blocks: reported all the same (see truncate.rs).
        ok("fallocate", sys(libc::SYS_fallocate, hfd, 0, 0, 4096));
        ok("fchmod", sys(libc::SYS_fchmod, sfd, 0o600));
        ok("fchown", sys(libc::SYS_fchown, sfd, 65534, 65533));
        ok(
            "lchown",
            sys(
                libc::SYS_lchown,
                cstr(&d.join("lnk.txt")).as_ptr(),
                65533,
                -1,
            ),
        );
        // fchmodat2 is 452 on x86-64 (6.6+).
        fchmodat2_rc = sys(452, dfd, c"n2.txt".as_ptr(), 0o640, 0);
        assert!(
            fchmodat2_rc == 0 || *libc::__errno_location() == libc::ENOSYS,
            "fchmodat2: {}",
            std::io::Error::last_os_error()
        );
        ok(
            "linkat",
            sys(
                libc::SYS_linkat,
                dfd,
                c"src.txt".as_ptr(),
                dfd,
                c"l.txt".as_ptr(),
                0,
            ),
        );
        ok(
            "symlinkat",
            sys(
                libc::SYS_symlinkat,
                c"src.txt".as_ptr(),
                dfd,
                c"s.txt".as_ptr(),
            ),
        );
        // Over an existing name: EEXIST, no event.
        let exists = c"exists.txt".as_ptr();
        for (what, rc) in [
            (
                "linkat",
                sys(libc::SYS_linkat, dfd, c"src.txt".as_ptr(), dfd, exists, 0),
            ),
            (
                "symlinkat",
                sys(libc::SYS_symlinkat, c"x".as_ptr(), dfd, exists),
            ),
            (
                "openat O_EXCL",
                sys(
                    libc::SYS_openat,
                    dfd,
                    exists,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                    0o600,
                ),
            ),
        ] {
            assert_eq!(
                (rc, *libc::__errno_location()),
                (-1, libc::EEXIST),
                "{what} over an existing name"
            );
        }
        for fd in [dfd, sfd, hfd] {
            libc::close(fd);
        }
    }
    let run = fs.stop();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let h = hole.to_str().unwrap().to_string();
    let mut want: Vec<(&str, String)> = vec![
        ("create", p("n1.txt")),
        ("create", p("n2.txt")),
        ("create", p("c.txt")),
        ("create", p("o2.txt")),
        ("truncate", h.clone()),
        ("truncate", h.clone()),
        ("chmod", p("src.txt")),
        ("chown", p("src.txt")),
        ("chown", p("lnk.txt")),
    ];
    if fchmodat2_rc == 0 {
        want.push(("chmod", p("n2.txt")));
    }
    want.extend([("link", p("l.txt")), ("symlink", p("s.txt"))]);
    let want: Vec<(String, String)> = want.into_iter().map(|(o, p)| (o.to_string(), p)).collect();
    assert_eq!(ops(&run), want, "output:\n{}", run.lines.join("\n"));
    let evs = run.events();
    assert_ours_at_the_vfs(&evs);
    let ev = |op: &str, path: &str| one(&evs, op, Path::new(path)).clone();
    let vias = |op: &str, path: &str, via: &str| {
        let e = ev(op, path);
        if !(kprobe_kernel() && VFS_KINDS.contains(&op)) {
            assert_eq!(e["via"], via, "{e}");
        }
        e["file"].clone()
    };
    assert_eq!(vias("create", &p("n1.txt"), "mknod")["mode"], "0640");
    assert_eq!(vias("create", &p("n2.txt"), "mknodat")["mode"], "0600");
    assert_eq!(vias("create", &p("c.txt"), "creat")["mode"], "0644");
    // openat2's mode is in user memory, which is not read.
    assert_eq!(vias("create", &p("o2.txt"), "openat2")["mode"], Value::Null);
    let falloc: Vec<&Value> = evs.iter().filter(|e| e["op"] == "truncate").collect();
    assert_eq!(falloc.len(), 2);
    assert!(falloc.iter().all(|e| e["via"] == "fallocate"), "{falloc:?}");
    let mut falloc: Vec<Value> = falloc.into_iter().map(|e| e["file"].clone()).collect();
    falloc.sort_by_key(|f| f["flags"].as_array().unwrap().len());
    for f in &falloc {
        assert_eq!(
            (&f["file_path"], &f["size"]),
            (&h.clone().into(), &8192.into()),
            "{f}"
        );
    }
    assert_eq!(falloc[0]["flags"], serde_json::json!([]), "mode 0");
    assert_eq!(
        falloc[1]["flags"],
        serde_json::json!(["FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE"])
    );
    let c = vias("chmod", &p("src.txt"), "fchmod");
    assert_eq!((&c["mode"], &c["inode"]), (&"0600".into(), &src_ino.into()));
    let c = vias("chown", &p("src.txt"), "fchown");
    assert_eq!((&c["uid"], &c["gid"]), (&65534.into(), &65533.into()));
    let c = vias("chown", &p("lnk.txt"), "lchown");
    assert_eq!((&c["uid"], &c["gid"]), (&65533.into(), &Value::Null));
    // lchown changed the link, not the file it names.
    let link_meta = std::fs::symlink_metadata(d.join("lnk.txt")).unwrap();
    assert_eq!(link_meta.uid(), 65533);
    assert_eq!(std::fs::metadata(d.join("src.txt")).unwrap().uid(), 65534);
    if fchmodat2_rc == 0 {
        assert_eq!(vias("chmod", &p("n2.txt"), "fchmodat2")["mode"], "0640");
    }
    assert_eq!(vias("link", &p("l.txt"), "linkat")["target"], p("src.txt"));
    assert_eq!(
        vias("symlink", &p("s.txt"), "symlinkat")["target"],
        "src.txt"
    );
    println!(
        "kernel {}: fchmodat2 {}",
        expected_hook(),
        if fchmodat2_rc == 0 { "ran" } else { "ENOSYS" }
    );
}

#[test]
fn shared_writable_mappings_and_fallocate_are_events() {
    let dir = TestDir::new("fim-mmap");
    // tmpfs has fallocate (the VMs' initramfs root may not).
    let mnt = TmpfsMount::new(&dir.join("t"));
    let path = mnt.path().join("m.log");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    let fs = Filespy::start(
        &["--events", "mmap,truncate", "--path", dir.str()],
        Out::Collect,
    );
    unsafe {
        let fd = libc::open(cstr(&path).as_ptr(), libc::O_RDWR);
        assert!(fd >= 0);
        // Private and read-only mappings cannot change the file: no event.
        for (prot, flags) in [
            (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE),
            (libc::PROT_READ, libc::MAP_SHARED),
            (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED),
        ] {
            let m = libc::mmap(std::ptr::null_mut(), 4096, prot, flags, fd, 0);
            assert_ne!(m, libc::MAP_FAILED);
            libc::munmap(m, 4096);
        }
        assert_eq!(libc::fallocate(fd, 0, 0, 16384), 0);
        assert_eq!(libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
        assert_eq!(libc::ftruncate(fd, 100), 0);
        libc::close(fd);
    }
    let run = fs.stop();
    let p = path.to_str().unwrap().to_string();
    let got: Vec<(String, String)> = ops(&run);
    assert_eq!(
        got,
        [("mmap", &p), ("truncate", &p), ("truncate", &p)]
            .map(|(o, p)| (o.to_string(), p.clone()))
            .to_vec(),
        "output:\n{}",
        run.lines.join("\n")
    );
    let mut evs = run.events();
    evs.sort_by_key(|e| e["system_ts"].as_u64().unwrap());
    let ino = std::fs::metadata(&path).unwrap().ino();
    assert_eq!(evs[0]["file"]["size"], 4096);
    assert_eq!(
        evs[0]["file"]["flags"],
        serde_json::json!(["PROT_READ", "PROT_WRITE"])
    );
    assert_eq!(evs[1]["via"], "fallocate");
    assert_eq!(evs[1]["file"]["size"], 16384, "the size after");
    assert_eq!(evs[2]["via"], "ftruncate");
    assert_eq!(evs[2]["file"]["size"], 100);
    for e in &evs {
        assert_eq!(e["file"]["inode"], ino);
    }
}

#[test]
fn default_is_writes_only_and_ext_matches_either_name() {
    let dir = TestDir::new("fim-default");
    std::fs::write(dir.join("data.bin"), b"x").unwrap();
    std::fs::write(dir.join("keep.bin"), b"x").unwrap();
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    run_sh(&format!(
        "cd {} && echo hi > w.txt && mv w.txt v.txt && rm v.txt && mkdir x.d",
        q(dir.str())
    ));
    let run = fs.stop();
    assert_eq!(
        ops(&run),
        [(
            "write".to_string(),
            dir.join("w.txt").to_str().unwrap().to_string()
        )],
        "{}",
        run.lines.join("\n")
    );

    let fs = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    run_sh(&format!(
        "cd {} && mv data.bin data.txt && mv keep.bin keep2.bin && mkdir y.d && rm keep2.bin",
        q(dir.str())
    ));
    let run = fs.stop();
    assert_eq!(
        ops(&run),
        [("rename", dir.join("data.txt")), ("mkdir", dir.join("y.d"))]
            .map(|(o, p)| (o.to_string(), p.to_str().unwrap().to_string()))
            .to_vec(),
        "a rename matches by either name, directories by --path only: {}",
        run.lines.join("\n")
    );
}

#[test]
fn a_move_across_mounts_is_a_copy_and_a_delete() {
    let dir = TestDir::new("fim-exdev");
    let mnt = TmpfsMount::new(&dir.join("mnt"));
    std::fs::write(dir.join("src.txt"), b"payload\n").unwrap();
    let fs = Filespy::start(
        &["--events", "rename,create,delete", "--path", dir.str()],
        Out::Collect,
    );
    run_sh(&format!(
        "mv {} {}/",
        q(dir.join("src.txt").to_str().unwrap()),
        q(mnt.path().to_str().unwrap())
    ));
    let run = fs.stop();
    let dst = mnt.path().join("src.txt");
    let got = ops(&run);
    assert!(
        !got.iter().any(|(o, _)| o == "rename"),
        "EXDEV renames fail: {got:?}"
    );
    assert!(
        got.contains(&("create".into(), dst.to_str().unwrap().into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "delete".into(),
            dir.join("src.txt").to_str().unwrap().into()
        )),
        "{got:?}"
    );
}

#[test]
fn io_uring_path_operations_are_the_submitters_on_kprobe_kernels() {
    let dir = TestDir::new("fim-uring");
    let d = dir.join("d");
    std::fs::create_dir_all(d.join("old.d")).unwrap();
    for f in ["a.txt", "keep.txt", "gone.txt", "control.txt"] {
        std::fs::write(d.join(f), b"x").unwrap();
    }
    let ring = uring::Ring::new().expect("io_uring_setup");
    let dfd = unsafe { libc::open(cstr(&d).as_ptr(), libc::O_DIRECTORY | libc::O_RDONLY) };
    assert!(dfd >= 0, "open the directory");
    let fs = Filespy::start(&["--events", "fim", "--path", dir.str()], Out::Collect);
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let requests: [(&str, String, uring::Sqe); 6] = [
        (
            "mkdir",
            p("new.d"),
            uring::Sqe::mkdirat(dfd, c"new.d", 0o700),
        ),
        (
            "rename",
            p("b.txt"),
            uring::Sqe::renameat(dfd, c"a.txt", dfd, c"b.txt", 0),
        ),
        (
            "link",
            p("hard.txt"),
            uring::Sqe::linkat(dfd, c"keep.txt", dfd, c"hard.txt", 0),
        ),
        (
            "symlink",
            p("soft.txt"),
            uring::Sqe::symlinkat(c"keep.txt", dfd, c"soft.txt"),
        ),
        (
            "delete",
            p("gone.txt"),
            uring::Sqe::unlinkat(dfd, c"gone.txt", 0),
        ),
        (
            "rmdir",
            p("old.d"),
            uring::Sqe::unlinkat(dfd, c"old.d", libc::AT_REMOVEDIR),
        ),
    ];
    let mut done = Vec::new();
    for (op, path, sqe) in requests {
        let res = ring.run(sqe).expect("io_uring_enter");
        if res == -libc::EINVAL {
            println!("this kernel's io_uring has no {op} request");
            continue;
        }
        assert_eq!(res, 0, "io_uring {op} of {path}");
        done.push((op.to_string(), path));
    }
    // A syscall beside them: seen on both paths, so the monitor was watching.
    assert_eq!(
        unsafe { libc::unlinkat(dfd, c"control.txt".as_ptr(), 0) },
        0
    );
    unsafe { libc::close(dfd) };
    let run = fs.stop();
    assert!(
        !d.join("gone.txt").exists() && d.join("b.txt").exists(),
        "UNLINKAT and RENAMEAT (5.11) ran"
    );
    let mut want = if kprobe_kernel() {
        done.clone()
    } else {
        Vec::new()
    };
    want.push(("delete".into(), p("control.txt")));
    println!("kernel {}: io_uring did {done:?}", expected_hook());
    assert_eq!(ops(&run), want, "output:\n{}", run.lines.join("\n"));
    let evs = run.events();
    let me = std::process::id();
    for e in &evs {
        // io-wq threads are the submitter's: its process, and its command rather than iou-wrk-<pid>.
        assert_eq!(e["process"]["pid"], me, "{e}");
        assert!(
            !e["process"]["name"]
                .as_str()
                .unwrap()
                .starts_with("iou-wrk"),
            "{e}"
        );
        assert_seen_at_the_vfs(e);
    }
    if kprobe_kernel() {
        let has = |op: &str| done.iter().any(|(o, _)| o == op);
        if has("rename") {
            assert_eq!(
                one(&evs, "rename", &d.join("b.txt"))["file"]["old_path"],
                p("a.txt")
            );
        }
        if has("link") {
            assert_eq!(
                one(&evs, "link", &d.join("hard.txt"))["file"]["target"],
                p("keep.txt")
            );
        }
        if has("symlink") {
            assert_eq!(
                one(&evs, "symlink", &d.join("soft.txt"))["file"]["target"],
                "keep.txt"
            );
        }
        if has("mkdir") {
            assert_eq!(one(&evs, "mkdir", &d.join("new.d"))["file"]["mode"], "0700");
        }
    }
}

/// A name the process rewrites while its call is blocked is reported as the kernel read it. `truncate`
/// blocks in the lease break of a file this test holds a read lease on; meanwhile the test rewrites
/// the caller's path buffer to another file's name, then releases the lease. The event must name the
/// file truncated (read at the call's entry), not what the buffer held at its return.
#[test]
fn a_name_rewritten_during_the_call_is_reported_as_the_kernel_read_it() {
    let dir = TestDir::new("rewrite");
    let real = dir.join("real.txt");
    let decoy = dir.join("decoy.txt");
    std::fs::write(&real, "0123456789").unwrap();
    std::fs::write(&decoy, "0123456789").unwrap();
    let fs = Filespy::start(&["--events", "truncate", "--path", dir.str()], Out::Collect);
    // The lease break notifies by SIGIO, whose default would end the test process.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    let fd = unsafe { libc::open(cstr(&real).as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    assert!(fd >= 0);
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) },
        0,
        "F_SETLEASE: {}",
        std::io::Error::last_os_error()
    );
    // The caller's buffer, as big as either name: rewritten below while the call waits.
    let mut buf = [0u8; 512];
    let real_bytes = real.as_os_str().as_bytes();
    buf[..real_bytes.len()].copy_from_slice(real_bytes);
    let addr = buf.as_mut_ptr() as usize;
    let caller =
        std::thread::spawn(move || unsafe { libc::truncate(addr as *const libc::c_char, 3) });
    // Breaking: F_GETLEASE then names the lease type being broken to (F_UNLCK for a truncate).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while unsafe { libc::fcntl(fd, libc::F_GETLEASE) } != libc::F_UNLCK {
        assert!(
            std::time::Instant::now() < deadline,
            "truncate never waited for the lease"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let decoy_bytes = decoy.as_os_str().as_bytes();
    unsafe {
        let p = addr as *mut u8;
        std::ptr::write_bytes(p, 0, 512);
        std::ptr::copy_nonoverlapping(decoy_bytes.as_ptr(), p, decoy_bytes.len());
    }
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) },
        0
    );
    assert_eq!(caller.join().unwrap(), 0, "truncate failed");
    unsafe { libc::close(fd) };
    assert_eq!(
        std::fs::metadata(&real).unwrap().len(),
        3,
        "the kernel truncated real.txt"
    );
    assert_eq!(std::fs::metadata(&decoy).unwrap().len(), 10);
    let run = fs.stop();
    let evs: Vec<Value> = run
        .events()
        .into_iter()
        .filter(|e| e["op"] == "truncate")
        .collect();
    assert_eq!(evs.len(), 1, "{}", run.lines.join("\n"));
    assert_eq!(
        evs[0]["file"]["file_path"],
        real.to_str().unwrap(),
        "the name as the kernel read it: {}",
        evs[0]
    );
    assert_eq!(evs[0]["file"]["size"], 3);
}

/// Every event is this test process's, and (on kprobe kernels) seen at the VFS.
fn assert_ours_at_the_vfs(evs: &[Value]) {
    let me = std::process::id();
    for e in evs {
        assert_eq!(e["process"]["pid"], me, "{e}");
        assert_seen_at_the_vfs(e);
    }
}
