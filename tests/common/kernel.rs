//! Helpers of the tests that load BPF programs themselves against the running kernel (kernel_sys,
//! kernel_perfbuf, kernel_probes). Included with `#[path = "common/kernel.rs"] mod kernel;`; it uses only
//! the filespy library, bpfasm and libc, so it runs in the test VMs as on the host.
#![allow(dead_code)] // each test binary uses a different subset

use bpfasm::Program;
use filespy::attach::kprobes_available;
use filespy::sys::{raise_memlock_rlimit, Map, Prog, ProgType};

/// The tracepoint the tests' programs hook where there are no kprobes: `syscalls:sys_enter_write`.
pub const TP_CATEGORY: &str = "syscalls";
pub const TP_NAME: &str = "sys_enter_write";
/// The function the tests' programs hook where there are kprobes.
pub const KPROBE_FUNC: &str = "vfs_write";

/// Fails unless root; raises RLIMIT_MEMLOCK for the maps on kernels that still charge it.
pub fn require_root() {
    raise_memlock_rlimit();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let test = env!("CARGO_CRATE_NAME");
    assert_eq!(
        euid, 0,
        "{test} tests load BPF programs and need root: run `sudo cargo test --test {test}`"
    );
}

/// Must the kprobe path be used? In the VMs the harness says so; elsewhere we use what exists.
pub fn kprobes_expected() -> bool {
    let expected = std::env::var("FILESPY_EXPECT_KPROBE").is_ok_and(|v| v == "1");
    if expected {
        assert!(
            kprobes_available(),
            "FILESPY_EXPECT_KPROBE=1 but neither the kprobe PMU nor tracefs kprobe_events exists"
        );
    }
    expected || kprobes_available()
}

pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// Pins the calling thread to `cpu` and checks it runs there. An error, not a panic: callers in
/// threads synchronised by barriers must not panic before reaching them.
pub fn pin_to(cpu: u32) -> Result<(), String> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against its size; pid 0 = this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let now = libc::sched_getcpu();
        if now != cpu as i32 {
            return Err(format!("pinned to CPU {cpu} but running on {now}"));
        }
    }
    Ok(())
}

/// Loads `prog` as `name`, its map references resolved to `maps` by name.
pub fn load(ty: ProgType, name: &str, prog: &Program, maps: &[&Map]) -> Prog {
    let bytes = prog
        .to_bytes_with_maps(|n| maps.iter().find(|m| m.name() == n).map(|m| m.fd()))
        .expect("relocate maps");
    Prog::load(ty, name, &bytes).unwrap_or_else(|e| panic!("load {name}: {e}"))
}
