//! The real binary with less than a root shell gives it: a non-root user with capabilities, root with
//! its capabilities dropped, no /sys (a chroot), tracefs that is not mounted and cannot be. Each must
//! either work or say in one line what exactly is missing. Host only (setpriv and unshare from
//! util-linux; the tests run as root and drop what they test).

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A copy of the binary any user can execute (the checkout may be root's only), removed on drop.
struct Copy {
    dir: TestDir,
}

impl Copy {
    fn new(tag: &str) -> Copy {
        let dir = TestDir::new(tag);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // cp in a child: a write fd held by this multithreaded process could leak into other tests'
        // children and make exec of the copy fail with ETXTBSY.
        run_ok(
            Command::new("cp")
                .arg(filespy_bin())
                .arg(dir.join("filespy")),
        );
        Copy { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("filespy")
    }
}

/// `setpriv` running `bin` as uid/gid 65534 with `caps` (e.g. "+bpf,+perfmon") inherited and ambient.
fn as_nobody_with(caps: &str, bin: &Path, args: &[&str]) -> Command {
    require_root();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps={caps}"))
        .arg(format!("--ambient-caps={caps}"))
        .arg(bin)
        .args(args);
    c
}

fn one_line_exit_1(fin: &Finished, needles: &[&str]) {
    assert_eq!(fin.code(), 1, "{}", fin.stderr);
    assert_no_panic(&fin.stderr);
    assert_eq!(fin.stderr.lines().count(), 1, "one line: {}", fin.stderr);
    assert!(fin.stderr.starts_with("filespy"), "{}", fin.stderr);
    for n in needles {
        assert!(fin.stderr.contains(n), "{n:?} missing from: {}", fin.stderr);
    }
}

/// tracefs is mode 0700 here: CAP_BPF+CAP_PERFMON alone cannot read the tracepoint ids, and the error
/// says what would; with CAP_DAC_READ_SEARCH as well, a non-root run delivers events.
#[test]
fn non_root_with_capabilities_runs_or_names_what_is_missing() {
    let copy = Copy::new("caps");
    let bin = copy.bin();
    let fin = run_bounded(
        as_nobody_with("+bpf,+perfmon", &bin, &[]),
        Duration::from_secs(60),
    );
    one_line_exit_1(
        &fin,
        &[
            "tracefs at /sys/kernel/tracing is not readable by uid 65534",
            "CAP_DAC_READ_SEARCH",
        ],
    );
    assert!(
        !fin.stderr.contains("needs root or CAP_BPF+CAP_PERFMON"),
        "{}",
        fin.stderr
    );

    let watched = copy.dir.join("w");
    std::fs::create_dir(&watched).unwrap();
    let w = watched.to_str().unwrap().to_string();
    let writer = std::thread::spawn({
        let watched = watched.clone();
        move || {
            // After start-up (BTF and program loading take well under this here).
            std::thread::sleep(Duration::from_secs(2));
            std::fs::write(watched.join("seen.txt"), "x").unwrap();
        }
    });
    let fin = run_bounded(
        as_nobody_with(
            "+bpf,+perfmon,+dac_read_search",
            &bin,
            &["--path", &w, "--duration", "4", "--stats"],
        ),
        Duration::from_secs(60),
    );
    writer.join().unwrap();
    assert_eq!(fin.code(), 0, "{}", fin.stderr);
    let events = fin.events();
    assert_eq!(events.len(), 1, "{}", fin.stderr);
    assert_eq!(events[0]["file"]["name"], "seen.txt");
    assert_eq!(fin.stats().events, 1);
}

/// `--dump-prog` is documented as needing no privileges: as a plain user (tracefs closed, so the
/// tracepoint layouts come from BTF) it prints exactly root's programs, but for the embedded own pid.
#[test]
fn dump_prog_as_a_plain_user_is_roots_dump() {
    let copy = Copy::new("dump");
    let dump = |mut cmd: Command| {
        let out = cmd.output().expect("run --dump-prog");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}: {err}", out.status);
        assert!(out.stderr.is_empty(), "{err}");
        String::from_utf8(out.stdout).unwrap()
    };
    // The programs compare the writer's tgid with filespy's: normalise that one immediate.
    let normalise = |text: String, pid: u32| text.replace(&format!("== {pid:#x} "), "== SELF ");
    // Run each through a shell that prints its pid first, as exec keeps it.
    let run = |prefix: &str| {
        let script = format!(
            "echo $$; exec {prefix} {} --dump-prog",
            copy.bin().display()
        );
        let text = dump({
            let mut c = Command::new("sh");
            c.args(["-c", &script]);
            c
        });
        let (pid, rest) = text.split_once('\n').unwrap();
        normalise(rest.to_string(), pid.parse().unwrap())
    };
    let as_root = run("");
    let as_nobody = run("setpriv --reuid=65534 --regid=65534 --clear-groups");
    assert!(
        as_root.contains("tracepoint/syscalls/sys_enter_pwritev2"),
        "{as_root}"
    );
    assert!(
        as_root.contains("== SELF "),
        "the own-pid immediate was not found"
    );
    assert_eq!(as_nobody.lines().count(), as_root.lines().count());
    assert!(
        as_nobody == as_root,
        "the unprivileged dump differs from root's"
    );
}

/// Root whose capabilities were dropped (a container, a unit, capsh) is told which are missing, not
/// that it "needs root".
#[test]
fn root_without_capabilities_is_told_which_are_missing() {
    require_root();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--inh-caps=-all", "--bounding-set=-all"])
        .arg(filespy_bin());
    let fin = run_bounded(cmd, Duration::from_secs(60));
    one_line_exit_1(
        &fin,
        &["runs as root but without CAP_BPF and CAP_PERFMON", "grant"],
    );
    assert!(!fin.stderr.contains("try: sudo"), "{}", fin.stderr);
}

/// In a mount namespace whose /sys is an empty tmpfs (as in a chroot without /sys): the error says
/// /sys is not mounted, not that the kernel lacks CONFIG_DEBUG_INFO_BTF.
#[test]
fn no_sys_is_named_as_such() {
    require_root();
    for args in ["", "--dump-prog"] {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs none /sys && exec {} {args}",
                filespy_bin().display()
            ));
        let fin = run_bounded(cmd, Duration::from_secs(60));
        one_line_exit_1(&fin, &["/sys is not mounted", "mount -t sysfs"]);
        assert!(
            !fin.stderr.contains("CONFIG_DEBUG_INFO_BTF"),
            "{}",
            fin.stderr
        );
    }
}

/// tracefs not mounted and root without CAP_SYS_ADMIN (but with CAP_BPF+CAP_PERFMON, as the systemd
/// unit runs it): the error says mounting needs CAP_SYS_ADMIN.
#[test]
fn unmountable_tracefs_names_cap_sys_admin() {
    require_root();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; \
             ! grep -q tracefs /proc/self/mounts || exit 99; \
             exec setpriv --inh-caps=-all --bounding-set=-all,+bpf,+perfmon {}",
            filespy_bin().display()
        ));
    let fin = run_bounded(cmd, Duration::from_secs(60));
    assert_ne!(fin.code(), 99, "tracefs is still mounted in the namespace");
    one_line_exit_1(
        &fin,
        &[
            "tracefs is not mounted",
            "needs CAP_SYS_ADMIN",
            "mount -t tracefs",
        ],
    );
    assert!(
        !fin.stderr.contains("needs root or CAP_BPF"),
        "{}",
        fin.stderr
    );
}
