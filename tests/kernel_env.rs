//! What the kernel side of filespy needs from the running kernel: BTF, tracefs with syscall tracepoints, the
//! kprobe PMU where kprobes are expected (the VMs), and a filespy binary that runs. Being a `kernel_*` test, it
//! runs on the host and inside every VM kernel booted by `scripts/vm-test.sh`.

use std::ffi::CString;
use std::fs;
use std::path::Path;
use std::process::Command;

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: &str = "/sys/kernel/tracing";
const PMU_DIR: &str = "/sys/bus/event_source/devices";

/// The kernel tests load real programs and mount filesystems, so root is a precondition, not an option.
fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "kernel tests must run as root (euid is {euid})");
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| v == "1").unwrap_or(false)
}

fn read_trimmed(path: &str) -> Result<String, String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {path}: {e}"))
}

fn read_int(path: &str) -> Result<u64, String> {
    let text = read_trimmed(path)?;
    text.parse::<u64>()
        .map_err(|e| format!("{path} holds {text:?}, not an integer: {e}"))
}

/// Mounts tracefs at its canonical place unless it is already there: the host boots without it mounted, and
/// every tracepoint id filespy needs is read from it.
fn ensure_tracefs() -> Result<(), String> {
    let probe = format!("{TRACEFS}/events");
    if Path::new(&probe).is_dir() {
        return Ok(());
    }
    let c = |s: &str| CString::new(s).map_err(|e| format!("bad path {s:?}: {e}"));
    let (src, target, fstype) = (c("tracefs")?, c(TRACEFS)?, c("tracefs")?);
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call; data may be NULL.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // EBUSY: someone mounted it between our check and our mount, which is what we wanted anyway.
        if err.raw_os_error() != Some(libc::EBUSY) {
            return Err(format!("mount tracefs at {TRACEFS}: {err}"));
        }
    }
    if Path::new(&probe).is_dir() {
        Ok(())
    } else {
        Err(format!("tracefs mounted but {probe} is missing"))
    }
}

#[test]
fn btf_is_present_with_magic() {
    require_root();
    let data = fs::read(BTF_PATH).unwrap_or_else(|e| panic!("cannot read {BTF_PATH}: {e}"));
    assert!(
        data.len() >= 24,
        "{BTF_PATH} is {} bytes, shorter than a BTF header",
        data.len()
    );
    let magic = u16::from_le_bytes([data[0], data[1]]);
    assert_eq!(
        magic, 0xEB9F,
        "{BTF_PATH} magic is {magic:#06x}, not 0xeb9f"
    );
    println!("BTF: {} bytes, magic {magic:#06x}", data.len());
}

#[test]
fn tracefs_has_sys_enter_write() {
    require_root();
    ensure_tracefs().unwrap_or_else(|e| panic!("{e}"));
    let path = format!("{TRACEFS}/events/syscalls/sys_enter_write/id");
    let id = read_int(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(id > 0, "tracepoint id in {path} is 0");
    println!("sys_enter_write tracepoint id {id}");
}

/// In the VMs (FILESPY_EXPECT_KPROBE=1) the kprobe PMU must exist; elsewhere it may be absent, but whenever it
/// exists it must have the shape filespy relies on (a numeric PMU type, retprobe selected by config bit 0).
#[test]
fn kprobe_pmu_matches_expectation() {
    require_root();
    let expected = env_flag("FILESPY_EXPECT_KPROBE");
    let dir = format!("{PMU_DIR}/kprobe");
    if !Path::new(&dir).is_dir() {
        assert!(
            !expected,
            "FILESPY_EXPECT_KPROBE=1 but the kprobe PMU {dir} is missing"
        );
        // Absence only means something if sysfs is readable: the always-present tracepoint PMU proves it.
        let tp = read_int(&format!("{PMU_DIR}/tracepoint/type")).unwrap_or_else(|e| panic!("{e}"));
        println!("kprobe PMU absent (not expected here); tracepoint PMU type {tp}");
        return;
    }
    let pmu_type = read_int(&format!("{dir}/type")).unwrap_or_else(|e| panic!("{e}"));
    let retprobe =
        read_trimmed(&format!("{dir}/format/retprobe")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        retprobe, "config:0",
        "kprobe PMU retprobe format is {retprobe:?}, not config:0"
    );
    println!("kprobe PMU type {pmu_type}, retprobe {retprobe} (expected: {expected})");
}

#[test]
fn filespy_binary_runs() {
    let bin =
        std::env::var("FILESPY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_filespy").to_string());
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{bin} exited with {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Exactly one line naming this crate's version and the commit this test was built from: the
    // binary under test (in the VMs, /bin/filespy) is the one built from this tree, not a stale one.
    let want = format!(
        "filespy {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        env!("FILESPY_GIT_COMMIT")
    );
    assert_eq!(stdout, want, "{bin} --version");
    assert!(
        out.stderr.is_empty(),
        "{bin} --version wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{bin}: {}", stdout.trim());
}
