//! tracefs: where it is (mounting it when nobody has), tracepoint ids, and the legacy kprobe interface
//! (`kprobe_events`) with filespy's naming scheme `filespy/filespy_<pid>_<n>` so stale entries can be
//! told apart from live ones.

use super::error::{last_errno, SysError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where tracefs is mounted on modern systems, and where we mount it if nobody has.
const TRACEFS_MOUNT: &str = "/sys/kernel/tracing";
/// Older systems reach tracefs through debugfs.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
/// The tracefs event group of every kprobe filespy creates.
pub const KPROBE_GROUP: &str = "filespy";

/// The tracefs directory, mounting tracefs at /sys/kernel/tracing if it is not mounted anywhere.
pub fn tracefs_dir() -> Result<PathBuf, SysError> {
    if let Some(dir) = mounted_tracefs() {
        return Ok(dir);
    }
    if Path::new(DEBUGFS_TRACING).join("events").is_dir() {
        return Ok(PathBuf::from(DEBUGFS_TRACING));
    }
    mount_tracefs()?;
    Ok(PathBuf::from(TRACEFS_MOUNT))
}

/// The first tracefs mount point in this thread's mount namespace.
pub fn mounted_tracefs() -> Option<PathBuf> {
    // thread-self: /proc/mounts shows the main thread's namespace, which a thread may have left.
    let mounts = std::fs::read_to_string("/proc/thread-self/mounts")
        .or_else(|_| std::fs::read_to_string("/proc/mounts"))
        .ok()?;
    mounts.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_src, dir, fstype) = (f.next()?, f.next()?, f.next()?);
        (fstype == "tracefs").then(|| PathBuf::from(unescape_mount_path(dir)))
    })
}

/// /proc/mounts writes space, tab, newline and backslash in paths as `\ooo` octal.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mount_tracefs() -> Result<(), SysError> {
    if !Path::new(TRACEFS_MOUNT).is_dir() {
        return Err(SysError::Unsupported(format!(
            "tracefs is not mounted and {TRACEFS_MOUNT} does not exist (kernel without CONFIG_TRACING?)"
        )));
    }
    // SAFETY: all arguments are NUL-terminated literals; no data argument.
    let ret = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        let err = SysError::last_os(format!("mount tracefs on {TRACEFS_MOUNT}"));
        // Another thread or process may have mounted it meanwhile.
        if err.errno() == Some(libc::EBUSY) && mounted_tracefs().is_some() {
            return Ok(());
        }
        // Mounting is CAP_SYS_ADMIN's, which filespy otherwise never needs: say so, not "needs root".
        if matches!(err.errno(), Some(libc::EPERM) | Some(libc::EACCES)) {
            return Err(SysError::Denied(format!(
                "tracefs is not mounted, and mounting it on {TRACEFS_MOUNT} needs CAP_SYS_ADMIN: mount it \
                 beforehand (mount -t tracefs nodev {TRACEFS_MOUNT}; in a container, mount the host's)"
            )));
        }
        return Err(err);
    }
    Ok(())
}

/// The error for a tracefs file this process may not read: which uid, and what would let it.
fn denied(path: &Path, what: &str) -> SysError {
    let dir = mounted_tracefs().unwrap_or_else(|| PathBuf::from(TRACEFS_MOUNT));
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    SysError::Denied(format!(
        "{what}: tracefs at {} is not readable by uid {uid} ({} denied): needs root, or \
         CAP_DAC_READ_SEARCH besides CAP_BPF+CAP_PERFMON (tracefs is usually mode 0700, root's)",
        dir.display(),
        path.display()
    ))
}

/// Reads a tracefs file; a permission error names what is missing.
fn read_tracefs(path: &Path, what: &str) -> Result<String, SysError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => denied(path, what),
        _ => SysError::from_io(format!("{what}: read {}", path.display()), &e),
    })
}

/// A tracefs path component from a caller: no separators, no `..`, nothing that could escape the dir.
fn check_component(what: &str, s: &str) -> Result<(), SysError> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if ok {
        Ok(())
    } else {
        Err(SysError::Invalid(format!(
            "invalid tracepoint {what} '{s}'"
        )))
    }
}

/// The id of tracepoint `category:name` (`<tracefs>/events/<category>/<name>/id`).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, SysError> {
    let path = tracepoint_file(category, name, "id")?;
    read_id(&path, &format!("tracepoint {category}:{name}"))
}

/// Whether tracepoint `category:name` exists, or None when tracefs cannot be looked into (not
/// mounted and not mountable by us, or not readable by this user).
pub fn tracepoint_presence(category: &str, name: &str) -> Option<bool> {
    let path = tracepoint_file(category, name, "format").ok()?;
    match std::fs::metadata(&path) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// `<tracefs>/events/<category>/<name>/<file>`, the names checked not to escape that directory.
fn tracepoint_file(category: &str, name: &str, file: &str) -> Result<PathBuf, SysError> {
    check_component("category", category)?;
    check_component("name", name)?;
    Ok(tracefs_dir()?
        .join("events")
        .join(category)
        .join(name)
        .join(file))
}

/// Byte offset of `field` in the records of tracepoint `category:name`, from its `format` file
/// (lines like `\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;`).
pub fn tracepoint_field_offset(category: &str, name: &str, field: &str) -> Result<u32, SysError> {
    let path = tracepoint_file(category, name, "format")?;
    let what = format!("tracepoint {category}:{name}");
    let text = read_tracefs(&path, &what)?;
    parse_field_offset(&text, field).ok_or_else(|| {
        SysError::Unsupported(format!(
            "{what} has no field '{field}' in {}",
            path.display()
        ))
    })
}

/// The offset of `field` in a tracepoint `format` text.
pub fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?.split(';').next()?;
        // The declaration's last word is the field name (arrays keep their brackets: `comm[16]`).
        let name = decl
            .rsplit(|c: char| c.is_whitespace() || c == '*')
            .next()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        let off = line
            .split(';')
            .find_map(|p| p.trim().strip_prefix("offset:"))?;
        off.trim().parse().ok()
    })
}

fn read_id(path: &Path, what: &str) -> Result<u64, SysError> {
    let text = read_tracefs(path, what)?;
    text.trim().parse().map_err(|_| {
        SysError::Invalid(format!(
            "{what}: {} holds '{}'",
            path.display(),
            text.trim()
        ))
    })
}

/// `<tracefs>/kprobe_events`, if this kernel has legacy kprobes.
pub fn kprobe_events_path() -> Option<PathBuf> {
    let p = tracefs_dir().ok()?.join("kprobe_events");
    p.exists().then_some(p)
}

/// Append one command line to kprobe_events (O_APPEND: a truncating open would delete every kprobe).
fn write_kprobe_events(path: &Path, cmd: &str) -> Result<(), SysError> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| SysError::from_io(format!("open {}", path.display()), &e))?;
    f.write_all(format!("{cmd}\n").as_bytes())
        .map_err(|e| SysError::from_io(format!("write '{cmd}' to {}", path.display()), &e))
}

/// A kernel symbol name fit for a kprobe_events line (no spaces or newlines that would add commands).
pub fn check_symbol(func: &str) -> Result<(), SysError> {
    let ok = !func.is_empty()
        && func
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(SysError::Invalid(format!("invalid kprobe target '{func}'")))
    }
}

/// Most return-probe instances the kernel accepts (`KRETPROBE_MAXACTIVE_MAX`).
pub const KRETPROBE_MAXACTIVE: u32 = 4096;

static NEXT_EVENT: AtomicU64 = AtomicU64::new(0);

/// A kprobe event created through kprobe_events; dropping it removes the entry.
#[derive(Debug)]
pub struct KprobeEvent {
    events_file: PathBuf,
    tracefs: PathBuf,
    name: String,
}

impl KprobeEvent {
    /// Create `p:filespy/filespy_<pid>_<n> <func>` (`r:` for a return probe).
    pub fn create(func: &str, retprobe: bool) -> Result<KprobeEvent, SysError> {
        check_symbol(func)?;
        let tracefs = tracefs_dir()?;
        let events_file = tracefs.join("kprobe_events");
        if !events_file.exists() {
            return Err(SysError::Unsupported(format!(
                "{} missing: this kernel has no kprobes (CONFIG_KPROBES)",
                events_file.display()
            )));
        }
        let name = format!(
            "filespy_{}_{}",
            std::process::id(),
            NEXT_EVENT.fetch_add(1, Ordering::Relaxed)
        );
        // A return probe holds one instance per call in flight; the kernel's default (about 2 per CPU)
        // is soon exhausted by writers blocked in the probed function, and every miss is a lost event.
        // Ask for the most the kernel allows; an older kernel that refuses gets its default.
        let cmd = if retprobe {
            let big = format!("r{KRETPROBE_MAXACTIVE}:{KPROBE_GROUP}/{name} {func}");
            match write_kprobe_events(&events_file, &big) {
                Ok(()) => None,
                Err(SysError::Os { errno, .. })
                    if errno == libc::EINVAL || errno == libc::E2BIG =>
                {
                    Some(format!("r:{KPROBE_GROUP}/{name} {func}"))
                }
                Err(e) => return Err(e),
            }
        } else {
            Some(format!("p:{KPROBE_GROUP}/{name} {func}"))
        };
        let result = match &cmd {
            Some(cmd) => write_kprobe_events(&events_file, cmd),
            None => Ok(()),
        };
        let cmd = cmd.unwrap_or_default();
        result.map_err(|e| match e {
            // Kernels say ENOENT (newer) or EINVAL (older) for an unknown symbol.
            SysError::Os { errno, .. } => SysError::Os {
                op: format!("kprobe on '{func}' via {} ('{cmd}')", events_file.display()),
                errno,
            },
            other => other,
        })?;
        Ok(KprobeEvent {
            events_file,
            tracefs,
            name,
        })
    }

    /// The event name (`filespy_<pid>_<n>`), group `filespy`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tracepoint id perf_event_open takes as `config` with PERF_TYPE_TRACEPOINT.
    pub fn id(&self) -> Result<u64, SysError> {
        let path = self
            .tracefs
            .join("events")
            .join(KPROBE_GROUP)
            .join(&self.name)
            .join("id");
        read_id(&path, &format!("kprobe event {KPROBE_GROUP}/{}", self.name))
    }
}

impl Drop for KprobeEvent {
    fn drop(&mut self) {
        remove_kprobe_event(&self.events_file, &self.name);
    }
}

/// `-:filespy/<name>`; retried briefly on EBUSY, since a just-closed perf event may still hold the probe.
fn remove_kprobe_event(events_file: &Path, name: &str) -> bool {
    let cmd = format!("-:{KPROBE_GROUP}/{name}");
    for _ in 0..50 {
        match write_kprobe_events(events_file, &cmd) {
            Ok(()) => return true,
            Err(e) if e.errno() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(_) => return false,
        }
    }
    false
}

/// `(group, event)` of a kprobe_events line such as `p:filespy/filespy_12_0 vfs_write+0` or `r16:g/e f`.
pub fn parse_kprobe_event_line(line: &str) -> Option<(&str, &str)> {
    let head = line.split_whitespace().next()?;
    let (_kind, path) = head.split_once(':')?;
    path.split_once('/')
}

/// The pid embedded in one of our event names (`filespy_<pid>_<n>`).
pub fn owner_pid(event: &str) -> Option<i32> {
    let rest = event.strip_prefix("filespy_")?;
    let (pid, n) = rest.split_once('_')?;
    n.parse::<u64>().ok()?;
    // Only a positive pid names one process (kill(0 or -1, ..) would address groups).
    pid.parse().ok().filter(|&p: &i32| p > 0)
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    let ret = unsafe { libc::kill(pid, 0) };
    ret == 0 || last_errno() != libc::ESRCH
}

/// Names of the `filespy/filespy_<pid>_*` kprobe events now defined.
pub fn filespy_kprobe_events() -> Result<Vec<String>, SysError> {
    let Some(path) = kprobe_events_path() else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| SysError::from_io(format!("read {}", path.display()), &e))?;
    Ok(text
        .lines()
        .filter_map(parse_kprobe_event_line)
        .filter(|(g, e)| *g == KPROBE_GROUP && owner_pid(e).is_some())
        .map(|(_, e)| e.to_string())
        .collect())
}

/// Remove filespy kprobe events left behind by processes that are gone; returns how many were removed.
/// A kernel without kprobe_events has none: `Ok(0)`.
pub fn remove_stale_kprobe_events() -> Result<usize, SysError> {
    let Some(path) = kprobe_events_path() else {
        return Ok(0);
    };
    let mut removed = 0;
    for event in filespy_kprobe_events()? {
        if owner_pid(&event).is_some_and(|pid| !pid_alive(pid))
            && remove_kprobe_event(&path, &event)
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoint_format_fields_parse() {
        let f = "name: sys_enter_write\nID: 807\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * buf;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:char comm[16];\toffset:40;\tsize:16;\tsigned:0;\n";
        assert_eq!(parse_field_offset(f, "fd"), Some(16));
        assert_eq!(parse_field_offset(f, "buf"), Some(24));
        assert_eq!(parse_field_offset(f, "comm"), Some(40));
        assert_eq!(parse_field_offset(f, "__syscall_nr"), Some(8));
        assert_eq!(parse_field_offset(f, "count"), None);
    }

    #[test]
    fn kprobe_event_lines_parse() {
        assert_eq!(
            parse_kprobe_event_line("p:filespy/filespy_12_0 vfs_write+0"),
            Some(("filespy", "filespy_12_0"))
        );
        assert_eq!(
            parse_kprobe_event_line("r16:kprobes/r_vfs_write_0 vfs_write"),
            Some(("kprobes", "r_vfs_write_0"))
        );
        assert_eq!(parse_kprobe_event_line(""), None);
        assert_eq!(parse_kprobe_event_line("garbage"), None);
    }

    #[test]
    fn owner_pids_come_from_our_names_only() {
        assert_eq!(owner_pid("filespy_1234_7"), Some(1234));
        assert_eq!(owner_pid("filespy_x_7"), None);
        assert_eq!(owner_pid("filespy_12"), None);
        assert_eq!(owner_pid("filespy_-1_0"), None);
        assert_eq!(owner_pid("filespy_0_0"), None);
        assert_eq!(owner_pid("p_vfs_write_0"), None);
    }

    #[test]
    fn symbols_and_components_are_checked() {
        assert!(check_symbol("vfs_write").is_ok());
        assert!(check_symbol("foo.isra.0").is_ok());
        assert!(check_symbol("vfs_write\n-:x").is_err());
        assert!(check_symbol("").is_err());
        assert!(check_component("name", "sys_enter_write").is_ok());
        assert!(check_component("name", "..").is_err());
        assert!(check_component("name", "a/b").is_err());
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape_mount_path(r"/plain\0"), r"/plain\0");
    }

    #[test]
    fn pid_liveness() {
        assert!(pid_alive(std::process::id() as i32));
    }
}
