//! End-to-end tests of the process kinds and of the identity every event carries: exec, fork and exit
//! events of real process trees, lineage (parent and ancestors) of a writer, short-lived processes,
//! entity ids, the login uid across a uid change, a container named by its cgroup, and exact I/O
//! totals at exit. On the host (tracepoints) and in the Debian VMs (kprobe kernels): the process kinds
//! use scheduler tracepoints on both.

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Events of these pids, in time order.
fn of_pids(run: &Finished, pids: &[u64]) -> Vec<Value> {
    let mut evs: Vec<Value> = run
        .events()
        .into_iter()
        .filter(|e| {
            e["process"]["pid"]
                .as_u64()
                .is_some_and(|p| pids.contains(&p))
        })
        .collect();
    evs.sort_by_key(|e| e["system_ts"].as_u64().unwrap());
    evs
}

fn ops(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["op"].as_str().unwrap()).collect()
}

#[test]
fn a_shell_tree_is_exec_fork_and_exit_and_its_write_names_its_lineage() {
    let dir = TestDir::new("tree");
    let log = dir.join("x.log");
    let me = std::process::id().to_string();
    // Everything descends from this test process: filter on nothing but the path and our tree.
    let fs = Filespy::start(
        &["--events", "write,process", "--path", dir.str()],
        Out::Collect,
    );
    let outer = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sh -c 'echo hi >> {log}; echo more >> {log}; exit 7'; exit 0",
            log = q(log.to_str().unwrap())
        ))
        .spawn()
        .unwrap();
    let outer_pid = outer.id() as u64;
    let status = outer.wait_with_output().unwrap().status;
    assert!(status.success());
    let run = fs.stop();
    let all = run.events();
    // The inner shell: the writer.
    let writes: Vec<&Value> = all
        .iter()
        .filter(|e| e["op"] == "write" && file_path(e) == log.to_str().unwrap())
        .collect();
    assert_eq!(writes.len(), 2, "{}", run.lines.join("\n"));
    let w = writes[0];
    let inner_pid = w["process"]["pid"].as_u64().unwrap();
    let p = &w["process"];
    assert_eq!(p["ppid"], outer_pid, "{w}");
    assert_eq!(p["parent"]["pid"], outer_pid);
    assert_eq!(p["parent"]["name"], "sh");
    assert_eq!(
        p["parent"]["exe_path"], p["exe_path"],
        "both are the shell: {w}"
    );
    let anc: Vec<u64> = p["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(anc[0], outer_pid, "{anc:?}");
    assert_eq!(
        anc[1].to_string(),
        me,
        "the test process is the grandparent: {anc:?}"
    );
    assert!(
        anc.len() <= 8 && (anc.last() == Some(&1) || anc.len() == 8),
        "{anc:?}"
    );
    assert!(p["entity_id"].is_string() && p["parent"]["entity_id"].is_string());
    assert_ne!(p["entity_id"], p["parent"]["entity_id"]);

    // The inner shell's life: fork by the outer, exec, two writes, exit 7 with their totals.
    let inner = of_pids(&run, &[inner_pid]);
    assert_eq!(
        ops(&inner),
        ["exec", "write", "write", "exit"],
        "{}",
        run.lines.join("\n")
    );
    let exit = &inner[3]["exit"];
    assert_eq!(exit["code"], 7);
    assert!(exit["signal"].is_null());
    assert_eq!(exit["writes"], 2);
    assert_eq!(exit["bytes_written"], 8, "hi\\n + more\\n");
    assert_eq!(exit["files_written"], 1);
    assert!(exit["run_time_ns"].as_u64().unwrap() > 0);
    // One process, one entity id, on every event of its image.
    for e in &inner {
        assert_eq!(e["process"]["entity_id"], p["entity_id"], "{e}");
    }
    assert_eq!(
        inner[0]["file"]["file_path"], p["exe_path"],
        "exec's file is the executable"
    );
    let forks: Vec<&Value> = all
        .iter()
        .filter(|e| e["op"] == "fork" && e["child"]["pid"] == inner_pid)
        .collect();
    assert_eq!(forks.len(), 1, "{}", run.lines.join("\n"));
    assert_eq!(forks[0]["process"]["pid"], outer_pid);
    assert_eq!(forks[0]["child"]["thread"], false);
    assert!(forks[0].get("file").is_none());
    println!("exec: {}\nexit: {}", inner[0], inner[3]);
}

#[test]
fn a_process_that_forks_writes_and_exits_at_once_keeps_its_lineage() {
    let dir = TestDir::new("blink");
    let fs = Filespy::start(
        &["--events", "write,exit", "--path", dir.str()],
        Out::Collect,
    );
    let mut pids = Vec::new();
    for i in 0..20 {
        let c = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo {i} > {}",
                q(dir.join(format!("{i}.txt")).to_str().unwrap())
            ))
            .spawn()
            .unwrap();
        pids.push(c.id() as u64);
        c.wait_with_output().unwrap();
    }
    let run = fs.stop();
    let me = std::process::id() as u64;
    for (i, pid) in pids.iter().enumerate() {
        let evs = of_pids(&run, &[*pid]);
        assert_eq!(
            ops(&evs),
            ["write", "exit"],
            "process {i}: {}",
            run.lines.join("\n")
        );
        for e in &evs {
            let p = &e["process"];
            assert_eq!(p["parent"]["pid"], me, "{e}");
            assert_eq!(p["ancestors"][0]["pid"], me, "{e}");
            assert!(
                p["exe_path"].is_string(),
                "the exit has the context too: {e}"
            );
        }
        assert_eq!(evs[1]["exit"]["bytes_written"], if i < 10 { 2 } else { 3 });
    }
}

#[test]
fn threads_are_forks_of_the_same_process() {
    let me = std::process::id().to_string();
    let fs = Filespy::start(&["--events", "fork", "--pid", &me], Out::Collect);
    let t = std::thread::spawn(|| 1 + 1);
    assert_eq!(t.join().unwrap(), 2);
    let run = fs.stop();
    let forks = run.events();
    assert!(
        forks
            .iter()
            .any(|e| e["child"]["thread"] == true && e["child"]["pid"] == e["process"]["pid"]),
        "{}",
        run.lines.join("\n")
    );
}

#[test]
fn the_login_uid_survives_a_change_of_user() {
    let dir = TestDir::new("auid");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let target = dir.join("n.log");
    // The login uid is per task: set this thread's, which the child inherits.
    std::fs::write("/proc/thread-self/loginuid", "4242").expect("set loginuid (CONFIG_AUDIT)");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("echo hi > {}", q(target.to_str().unwrap())))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = fs.stop();
    let e = &run.events_for(&target)[0];
    let p = &e["process"];
    assert_eq!(p["uid"], 65534, "{e}");
    assert_eq!(p["euid"], 65534);
    assert_eq!(p["auid"], 4242, "who logged in, after the uid change: {e}");
    assert!(p["session_id"].is_u64() || p["session_id"].is_null());
}

#[test]
fn a_writer_in_a_container_cgroup_names_the_container() {
    let dir = TestDir::new("container");
    let cgroot = std::path::Path::new("/sys/fs/cgroup");
    if !cgroot.join("cgroup.procs").exists() {
        // No cgroup v2 hierarchy mounted (the VMs' initramfs): mount one.
        std::fs::create_dir_all(cgroot).unwrap();
        let rc = unsafe {
            libc::mount(
                c"cgroup2".as_ptr(),
                c"/sys/fs/cgroup".as_ptr(),
                c"cgroup2".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "mount cgroup2: {}", std::io::Error::last_os_error());
    }
    let id = format!("{:064x}", 0xfeed_f00du64 + std::process::id() as u64);
    let cg = cgroot.join(format!("docker-{id}.scope"));
    std::fs::create_dir(&cg).unwrap_or_else(|e| panic!("mkdir {}: {e}", cg.display()));
    let fs = Filespy::start(&["--path", dir.str()], Out::Collect);
    let target = dir.join("in.log");
    let procs = cg.join("cgroup.procs");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && echo inside > {}",
            q(procs.to_str().unwrap()),
            q(target.to_str().unwrap())
        ))
        .output()
        .unwrap();
    let run = fs.stop();
    let _ = std::fs::remove_dir(&cg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &run.events_for(&target)[0];
    assert_eq!(e["container"]["id"], id.as_str(), "{e}");
    assert!(
        e["process"]["cgroup_id"].as_u64().is_some_and(|c| c > 1),
        "{e}"
    );
}

/// `clone3`'s arguments (linux/sched.h, CLONE_ARGS_SIZE_VER1: up to `set_tid_size`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// Runs `argv` (an absolute program) as a child with host pid `pid` (clone3 with `set_tid`, root in the
/// initial pid namespace) and waits for it: Ok(exit status), or Err(errno) when the pid was not free.
fn run_with_pid(pid: u32, argv: &[&str]) -> Result<i32, i32> {
    use std::ffi::CString;
    let args: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let tid = [libc::pid_t::try_from(pid).unwrap()];
    let cl = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: a fork-like clone (no CLONE_VM); the child only calls execv and _exit, which are
    // async-signal-safe, on memory prepared before the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &cl as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        unsafe {
            libc::execv(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    if ret < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    assert_eq!(ret, i64::from(pid), "clone3 gave another pid");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let waited = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    assert_eq!(waited, pid as libc::pid_t);
    Ok(libc::WEXITSTATUS(status))
}

/// The absolute path of `prog` on PATH.
fn which(prog: &str) -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join(prog))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{prog} not on PATH"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A real pid reuse: a shell script writes and exits, then `dd` is started with the same host pid
/// (clone3's set_tid) and writes too. The two processes must never be confused: different entity ids,
/// each its own exec, executable and script, and the first one's exit before the second one's exec.
#[test]
fn a_reused_pid_is_another_process_with_another_entity_id() {
    let dir = TestDir::new("reuse");
    let log = dir.join("x.log");
    let script = dir.join("first.sh");
    std::fs::write(
        &script,
        format!("echo first >> {}\n", q(log.to_str().unwrap())),
    )
    .unwrap();
    // By name: in the VMs sh_exe() is /bin/busybox, which takes its applet from argv[0].
    let sh = which("sh");
    let dd = which("dd");
    let fs = Filespy::start(
        &["--events", "write,process", "--path", dir.str()],
        Out::Collect,
    );
    // The first process takes whatever pid the kernel gives; the second is forced onto it once the
    // first is reaped. Another process may grab the pid in between: then try again with a new one.
    let mut reused = None;
    for _ in 0..20 {
        let child = Command::new(&sh).arg(&script).spawn().unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let of = format!("of={}", log.to_str().unwrap());
        match run_with_pid(
            pid,
            &[&dd, "if=/dev/zero", &of, "bs=5", "count=1", "conv=notrunc"],
        ) {
            Ok(status) => {
                assert_eq!(status, 0, "dd failed");
                reused = Some(pid);
                break;
            }
            Err(libc::EEXIST) => continue,
            Err(e) => panic!("clone3 with set_tid: errno {e}"),
        }
    }
    let pid = u64::from(reused.expect("no pid could be reused in 20 tries"));
    let run = fs.stop();
    let evs = of_pids(&run, &[pid]);
    let text = run.lines.join("\n");
    // The script's shell, then dd, on one pid.
    assert_eq!(
        ops(&evs),
        ["exec", "write", "exit", "exec", "write", "exit"],
        "{text}"
    );
    let (a, b) = (&evs[1]["process"], &evs[4]["process"]);
    assert_ne!(
        a["entity_id"], b["entity_id"],
        "one pid, two processes: {text}"
    );
    for e in &evs[..3] {
        assert_eq!(e["process"]["entity_id"], a["entity_id"], "{e}");
    }
    for e in &evs[3..] {
        assert_eq!(e["process"]["entity_id"], b["entity_id"], "{e}");
    }
    assert_eq!(a["file_path"], script.to_str().unwrap(), "{}", evs[1]);
    assert_eq!(a["exe_path"], evs[0]["file"]["file_path"]);
    let dd_exe = std::fs::canonicalize(&dd).unwrap();
    assert_eq!(b["exe_path"], dd_exe.to_str().unwrap(), "{}", evs[4]);
    assert!(b["file_path"].is_null(), "dd runs no script: {}", evs[4]);
    assert_eq!(b["cmdline"][0], dd.as_str());
    assert_eq!(evs[1]["file"]["bytes_written"], 6);
    assert_eq!(evs[4]["file"]["bytes_written"], 5);
    // Each exit closes its own process's totals.
    assert_eq!(evs[2]["exit"]["writes"], 1, "{}", evs[2]);
    assert_eq!(evs[2]["exit"]["bytes_written"], 6);
    assert_eq!(evs[5]["exit"]["writes"], 1, "{}", evs[5]);
    assert_eq!(evs[5]["exit"]["bytes_written"], 5);
    println!("first: {}\nsecond: {}", evs[1], evs[4]);
}
