//! `host.name` and `process.entity_id`: who the host is, and an id for a process that no later
//! process with the same pid can share.
//!
//! A pid is reused within minutes on a busy host, so a SIEM joining a write to its exec by pid joins
//! strangers. The entity id binds the pid to the process's start time and to this boot (the kernel's
//! random boot id), as Tetragon's `exec_id` and ECS `process.entity_id` do.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::output::encode::base64_into;

/// Longest hostname or boot id read from /proc: both are far shorter (64 and 36 bytes).
const MAX_PROC_BYTES: u64 = 4096;

/// This host's name and boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The hostname (of filespy's UTS namespace: the host's when filespy runs on the host).
    pub name: String,
    /// The kernel's random id of this boot, or empty if it could not be read.
    boot_id: String,
}

impl Host {
    /// Reads the hostname from `/proc/sys/kernel/hostname` (uname(2)'s nodename if that fails) and
    /// the boot id from `/proc/sys/kernel/random/boot_id` (empty if that fails). Never fails.
    pub fn read() -> Host {
        Host::read_from(
            Path::new("/proc/sys/kernel/hostname"),
            Path::new("/proc/sys/kernel/random/boot_id"),
        )
    }

    /// A host of known name and boot id (a replayed recording, a test's fixed values).
    pub fn new(name: String, boot_id: String) -> Host {
        Host { name, boot_id }
    }

    /// The boot id `entity_id` is built from; empty if it could not be read.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    fn read_from(hostname: &Path, boot_id: &Path) -> Host {
        let name = read_line(hostname)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(uname_nodename);
        let boot_id = read_line(boot_id).unwrap_or_default();
        Host { name, boot_id }
    }

    /// The id of the process `pid` that started at `start_time_ns`: the standard base64 (RFC 4648,
    /// with `=` padding, the encoder the output already uses) of `"{boot_id}:{start_time_ns}:{pid}"`.
    ///
    /// Same inputs, same id; another start time, pid or boot, another id (the boot id holds no
    /// `:`, so the text is unambiguous). `start_time_ns` must come from one clock for every source
    /// of one process (the kernel side and the start-up `/proc` scan alike), or the ids of one
    /// process will not join. With an empty boot id, ids of two boots can meet only if a pid
    /// started at the same nanosecond after boot in both.
    pub fn entity_id(&self, pid: u32, start_time_ns: u64) -> String {
        let text = format!("{}:{start_time_ns}:{pid}", self.boot_id);
        let mut out = Vec::with_capacity(text.len().div_ceil(3) * 4);
        base64_into(text.as_bytes(), &mut out);
        // base64 is ASCII, so this never replaces anything.
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The first line of a small file, trimmed; `None` if it cannot be read.
fn read_line(path: &Path) -> Option<String> {
    let mut buf = Vec::new();
    File::open(path)
        .ok()?
        .take(MAX_PROC_BYTES)
        .read_to_end(&mut buf)
        .ok()?;
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    Some(String::from_utf8_lossy(line).trim().to_string())
}

/// uname(2)'s nodename, or empty if even uname fails.
fn uname_nodename() -> String {
    // SAFETY: an all-zero utsname is valid plain data, filled by uname.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, exclusively borrowed utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    // The kernel NUL-terminates nodename; stop at the array's end regardless.
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| u8::from_ne_bytes(c.to_ne_bytes()))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "4c1f4e2e-8d0b-4b3a-9d27-5f6e7a8b9c0d";

    fn host() -> Host {
        Host::new("web01".into(), BOOT.into())
    }

    #[test]
    fn entity_id_is_base64_of_boot_start_and_pid() {
        // python3 -c 'import base64; print(base64.b64encode(b"<BOOT>:1234567890123:4242").decode())'
        assert_eq!(
            host().entity_id(4242, 1_234_567_890_123),
            "NGMxZjRlMmUtOGQwYi00YjNhLTlkMjctNWY2ZTdhOGI5YzBkOjEyMzQ1Njc4OTAxMjM6NDI0Mg=="
        );
    }

    #[test]
    fn entity_id_is_deterministic() {
        let a = host();
        assert_eq!(a.entity_id(77, 5_000_000), a.entity_id(77, 5_000_000));
        assert_eq!(a.entity_id(77, 5_000_000), host().entity_id(77, 5_000_000));
    }

    #[test]
    fn reused_pid_with_another_start_time_gets_another_id() {
        let h = host();
        let first = h.entity_id(31337, 10_000_000_000);
        let reused = h.entity_id(31337, 10_000_000_001);
        assert_ne!(first, reused);
    }

    #[test]
    fn another_pid_or_boot_gets_another_id() {
        let h = host();
        assert_ne!(h.entity_id(100, 42), h.entity_id(101, 42));
        let next_boot = Host::new(
            "web01".into(),
            "0e5a0c1d-2b3c-4d5e-8f90-a1b2c3d4e5f6".into(),
        );
        assert_ne!(h.entity_id(100, 42), next_boot.entity_id(100, 42));
        // The host name is not part of the id: renaming a host does not re-identify its processes.
        let renamed = Host::new("web02".into(), BOOT.into());
        assert_eq!(h.entity_id(100, 42), renamed.entity_id(100, 42));
    }

    #[test]
    fn no_two_fields_run_together() {
        // "1:23" and "12:3" must not meet: the separators keep start time and pid apart.
        let h = host();
        assert_ne!(h.entity_id(23, 1), h.entity_id(3, 12));
        let empty = Host::new(String::new(), String::new());
        assert_ne!(empty.entity_id(23, 1), empty.entity_id(3, 12));
    }

    #[test]
    fn reads_this_hosts_name_and_boot() {
        let h = Host::read();
        assert_eq!(
            h.name,
            uname_nodename(),
            "/proc and uname(2) name one UTS namespace"
        );
        assert!(!h.name.is_empty());
        let id = h.boot_id();
        assert_eq!(id.len(), 36, "{id:?}");
        assert_eq!(id.matches('-').count(), 4, "{id:?}");
        assert_eq!(Host::read().boot_id(), id, "one boot, one id");
    }

    #[test]
    fn unreadable_proc_falls_back_to_uname_and_an_empty_boot_id() {
        let missing = Path::new("/nonexistent/filespy-test");
        let h = Host::read_from(missing, missing);
        assert_eq!(h.name, uname_nodename());
        assert_eq!(h.boot_id(), "");
        // An empty hostname file is no name either.
        let h = Host::read_from(Path::new("/dev/null"), Path::new("/dev/null"));
        assert_eq!(h.name, uname_nodename());
        assert_eq!(h.boot_id(), "");
    }
}
