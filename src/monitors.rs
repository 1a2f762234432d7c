//! The registry of running filespy monitors, shared by every instance on the host through a map pinned
//! in the BPF file system: each instance registers its host tgid and start time, and every program skips
//! the operations of any registered monitor. So no instance reports another's output (two monitors, or
//! a monitor whose output another watches, would otherwise feed each other forever), and exclusion is
//! by host identity, right in a container's pid namespace.
//!
//! The map holds (tgid → group leader's start time): a pid reused after a monitor died without
//! unregistering (SIGKILL) has another start time, so it is never hidden.

use crate::bpf::gen::{Gen, MAP_MONITORS};
use crate::bpf::register::{self, MAP_WHOAMI};
use crate::offsets::KernelOffsets;
use crate::sys::map::{Map, MapType};
use crate::sys::prog::{Prog, ProgType};
use crate::sys::{tracefs, SysError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the BPF file system is mounted by convention (systemd mounts it there).
pub const BPFFS: &str = "/sys/fs/bpf";
/// `statfs` magic of a BPF file system.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
pub const MAX_MONITORS: u32 = 1024;

pub struct Registry {
    pub map: Map,
    /// Pinned (shared with other instances), or private to this one.
    pub shared: bool,
    /// This instance's host tgid, once registered.
    me: Option<u32>,
}

fn pin_path() -> PathBuf {
    Path::new(BPFFS).join("filespy").join("monitors")
}

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: c is NUL-terminated; st is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// Refuse a path that someone else could have planted: owned by another user, or writable by group or
/// others (`sticky`: unless the sticky bit keeps them from replacing what is not theirs, as in /tmp).
fn check_owner(path: &Path, sticky: bool) -> Result<(), String> {
    let md = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if md.uid() != 0 && md.uid() != euid {
        return Err(format!("{} is owned by uid {}", path.display(), md.uid()));
    }
    if md.mode() & 0o022 != 0 && !(sticky && md.mode() & 0o1000 != 0) {
        return Err(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            md.mode() & 0o7777
        ));
    }
    Ok(())
}

impl Registry {
    /// The shared registry, mounting the BPF file system at `/sys/fs/bpf` if nothing has; else a
    /// private one, with the reason in the second value (other instances' output is then not excluded).
    pub fn open() -> Result<(Registry, Option<String>), SysError> {
        // Kernels before 5.11 charge maps to RLIMIT_MEMLOCK: lifted before the first map is made.
        crate::sys::raise_memlock_rlimit();
        let (map, why) = match Registry::shared() {
            Ok(map) => (map, None),
            Err(why) => (Registry::create()?, Some(why)),
        };
        let shared = why.is_none();
        Ok((
            Registry {
                map,
                shared,
                me: None,
            },
            why,
        ))
    }

    fn create() -> Result<Map, SysError> {
        Map::create(MapType::LruHash, 4, 8, MAX_MONITORS, MAP_MONITORS)
    }

    fn shared() -> Result<Map, String> {
        let root = Path::new(BPFFS);
        if !is_bpffs(root) {
            let src = c"bpf";
            let dst = std::ffi::CString::new(BPFFS).expect("no NUL");
            // SAFETY: NUL-terminated strings; no data argument.
            let rc = unsafe {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    src.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if rc != 0 || !is_bpffs(root) {
                return Err(format!(
                    "no BPF file system at {BPFFS} and mounting one failed ({})",
                    std::io::Error::last_os_error()
                ));
            }
        }
        let dir = root.join("filespy");
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
        check_owner(root, true)?;
        check_owner(&dir, false)?;
        let pin = pin_path();
        let open = || Map::open_pinned(&pin, MapType::LruHash, 4, 8, MAP_MONITORS);
        if pin.exists() {
            check_owner(&pin, false)?;
            return open().map_err(|e| e.to_string());
        }
        let map = Registry::create().map_err(|e| e.to_string())?;
        match map.pin(&pin) {
            Ok(()) => Ok(map),
            // Another instance pinned one first: use that.
            Err(SysError::Os {
                errno: libc::EEXIST,
                ..
            }) => open().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Registers this process, as the kernel knows it, and returns its host tgid.
    pub fn register_self(&mut self, k: &KernelOffsets) -> Result<u32, SysError> {
        let whoami = Map::create(MapType::Array, 4, 8, 1, MAP_WHOAMI)?;
        let count_off = tracefs::tracepoint_field_offset("syscalls", "sys_enter_write", "count")?;
        let count_off = i16::try_from(count_off)
            .map_err(|_| SysError::Invalid(format!("sys_enter_write count at {count_off}")))?;
        let random = crate::uuid::UuidGen::new()
            .map_err(|e| SysError::Invalid(format!("getrandom: {e}")))?
            .next_bytes();
        // Never the count of a real write: above SSIZE_MAX.
        let cookie = u64::from_ne_bytes(random[..8].try_into().expect("8 bytes")) | 1 << 63;
        let prog = register::program(Gen::new(k), count_off, cookie)
            .map_err(|e| SysError::Invalid(format!("generating the registration program: {e}")))?;
        let bytes = prog
            .to_bytes_with_maps(|m| match m {
                MAP_MONITORS => Some(self.map.fd()),
                MAP_WHOAMI => Some(whoami.fd()),
                _ => None,
            })
            .map_err(|e| SysError::Invalid(format!("registration program: {e}")))?;
        let prog = Prog::load(ProgType::Tracepoint, "fs_register", &bytes)?;
        let link = crate::attach::attach_tracepoint(&prog, "syscalls", "sys_enter_write")?;
        // SAFETY: fd -1 fails with EBADF before the kernel looks at the buffer or the count.
        unsafe { libc::write(-1, std::ptr::null(), cookie as usize) };
        drop(link);
        let mut v = [0u8; 8];
        if !whoami.lookup(&0u32.to_ne_bytes(), &mut v)? {
            return Err(SysError::Invalid(
                "the registration program did not see filespy's marker write".into(),
            ));
        }
        let tgid = (u64::from_ne_bytes(v) >> 32) as u32;
        self.me = Some(tgid);
        Ok(tgid)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(tgid) = self.me {
            let _ = self.map.delete(&tgid.to_ne_bytes());
        }
    }
}
