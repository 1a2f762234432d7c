//! `process.user` and `process.group`: uid → user name and gid → group name, read from the host's
//! `/etc/passwd` and `/etc/group` themselves.
//!
//! The binary is static (musl), so there is no NSS: names come from the two files, and accounts that
//! live only in LDAP/SSSD have none (null). The files are re-read when they change, checked at most
//! once a second by one stat(2) each, so a lookup per event is a hash probe.
//!
//! filespy runs as root on hosts where attackers live, and these names go into the evidence: a file
//! is opened without following a symlink (O_NOFOLLOW) and is used only if, checked on the opened
//! descriptor, it is a regular file owned by root (or by filespy's own euid when it does not run as
//! root) that group and others cannot write. Anything else, a missing or unreadable file included,
//! counts as empty (every name unknown) until a later check sees it change. At most
//! [`MAX_FILE_BYTES`] are read; a longer file keeps the whole lines within the bound.
//!
//! Names are bytes; one that is not valid UTF-8 is kept with each invalid sequence replaced by
//! U+FFFD (lossy), as the rest of the output does with text it must show.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bound on the bytes read from one file: far above any real account database, far below harm.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// How often the files are stat'ed for a change.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The uid → user and gid → group names of the host, kept current.
#[derive(Debug)]
pub struct Names {
    users: Table,
    groups: Table,
    /// When the files were last stat'ed; `None` until the first lookup (the load is lazy).
    last_check: Option<Instant>,
    /// Counts the checks that found a file changed: names cached elsewhere are stale when it moves.
    generation: u64,
}

impl Names {
    /// Names from `passwd` (`name:pw:uid:…`) and `group` (`name:pw:gid:…`), read on first use.
    pub fn new(passwd: PathBuf, group: PathBuf) -> Names {
        Names {
            users: Table::new(passwd),
            groups: Table::new(group),
            last_check: None,
            generation: 0,
        }
    }

    /// The host's `/etc/passwd` and `/etc/group`.
    pub fn system() -> Names {
        Names::new("/etc/passwd".into(), "/etc/group".into())
    }

    /// The user name of `uid`, `None` if no line of the passwd file has it.
    pub fn user(&mut self, uid: u32) -> Option<&str> {
        self.check_at(Instant::now());
        self.users.names.get(&uid).map(|s| &**s)
    }

    /// The group name of `gid`, `None` if no line of the group file has it.
    pub fn group(&mut self, gid: u32) -> Option<&str> {
        self.check_at(Instant::now());
        self.groups.names.get(&gid).map(|s| &**s)
    }

    /// Stats both files now, whenever they were last checked, and re-reads a changed one: for a
    /// caller that knows they changed (and for tests, which cannot wait a second).
    pub fn check_now(&mut self) {
        self.last_check = Some(Instant::now());
        self.refresh();
    }

    /// Changes whenever a file is re-read (after the periodic check): names a caller cached with an
    /// older generation may be stale.
    pub fn generation(&mut self) -> u64 {
        self.check_at(Instant::now());
        self.generation
    }

    /// The generation as of the last check, without checking: cheap enough for every event.
    pub fn last_generation(&self) -> u64 {
        self.generation
    }

    fn refresh(&mut self) {
        let users = self.users.refresh();
        let groups = self.groups.refresh();
        if users || groups {
            self.generation += 1;
        }
    }

    /// Checks the files if the last check is at least [`CHECK_EVERY`] before `now`.
    fn check_at(&mut self, now: Instant) {
        if let Some(last) = self.last_check {
            if now.saturating_duration_since(last) < CHECK_EVERY {
                return;
            }
        }
        self.last_check = Some(now);
        self.refresh();
    }
}

/// One file's id → name map and what the file was when it was read.
#[derive(Debug)]
struct Table {
    path: PathBuf,
    /// The file's identity at the last read (or refusal); `None` when it was missing or unreadable,
    /// so the next check tries again.
    stamp: Option<Stamp>,
    names: HashMap<u32, Box<str>>,
    max_bytes: u64,
}

/// What tells one version of a file from another without reading it. Editors and `useradd` replace
/// the file (new inode); an in-place write changes size or mtime (one keeping the size within the
/// filesystem's timestamp tick is seen at the next change). Mode and owner are in it so that fixing
/// a refused file's permissions is noticed too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
    uid: u32,
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
            uid: m.uid(),
        }
    }
}

impl Table {
    fn new(path: PathBuf) -> Table {
        Table {
            path,
            stamp: None,
            names: HashMap::new(),
            max_bytes: MAX_FILE_BYTES,
        }
    }

    /// Re-reads the file if it is not the one last read; true when it did.
    fn refresh(&mut self) -> bool {
        // lstat: the name itself, so a symlink put in its place is a change (and then refused).
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| Stamp::of(&m));
        if now.is_some() && now == self.stamp {
            return false;
        }
        self.names.clear();
        self.stamp = None;
        if now.is_none() {
            return true;
        }
        match read_trusted(&self.path, self.max_bytes) {
            Ok(Loaded::Text(stamp, text)) => {
                self.names = parse(&text);
                self.stamp = Some(stamp);
            }
            // Kept refused until the file changes: refusing again each second would change nothing.
            Ok(Loaded::Refused(stamp)) => self.stamp = Some(stamp),
            Err(_) => {}
        }
        true
    }
}

/// What reading a file gave: its text, or its refusal, with the stamp of what was opened.
enum Loaded {
    Text(Stamp, Vec<u8>),
    Refused(Stamp),
}

/// Opens `path` without following a symlink or blocking on a FIFO and reads at most `max` bytes,
/// if the opened file is one only root (or we) could have written.
fn read_trusted(path: &Path, max: u64) -> std::io::Result<Loaded> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?; // fstat of the opened fd: what is read is what was checked
    let stamp = Stamp::of(&meta);
    if refusal(meta.mode(), meta.uid(), euid()).is_some() {
        return Ok(Loaded::Refused(stamp));
    }
    Ok(Loaded::Text(stamp, read_bounded(file, max)?))
}

/// Why a file of `mode` owned by `uid` must not be trusted by a process of euid `me`, if it must not.
fn refusal(mode: u32, uid: u32, me: u32) -> Option<&'static str> {
    if mode & libc::S_IFMT != libc::S_IFREG {
        Some("not a regular file")
    } else if uid != 0 && uid != me {
        Some("not owned by root")
    } else if mode & 0o022 != 0 {
        Some("writable by group or others")
    } else {
        None
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// At most `max` bytes of `file`; if it holds more, only the whole lines among them, so no name is
/// cut short.
fn read_bounded(file: File, max: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        buf.truncate(max as usize);
        let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        buf.truncate(whole);
    }
    Ok(buf)
}

/// The id → name map of a passwd or group file: both have the name in field 1 and the id in field 3.
/// Lines that are empty, comments, NIS `+`/`-` entries, or without a name or a decimal u32 id are
/// skipped; of two lines with one id the first wins, as getpwuid(3) returns it.
fn parse(text: &[u8]) -> HashMap<u32, Box<str>> {
    let mut names = HashMap::new();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.split(|&b| b == b':');
        let (Some(name), Some(_pw), Some(id)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if name.is_empty() || matches!(name[0], b'#' | b'+' | b'-') {
            continue;
        }
        let Some(id) = parse_id(id) else { continue };
        names
            .entry(id)
            .or_insert_with(|| String::from_utf8_lossy(name).into());
    }
    names
}

/// A decimal id as the files write it: digits only (no sign, no spaces), within u32.
fn parse_id(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use std::os::unix::fs::PermissionsExt;

    impl TempDir {
        /// Writes `text` as `name` the way useradd and vipw do: a new file renamed over the old.
        fn replace(&self, name: &str, text: &str) -> PathBuf {
            let tmp = self.path(&format!("{name}+"));
            std::fs::write(&tmp, text).expect("write temp file");
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let path = self.path(name);
            std::fs::rename(&tmp, &path).expect("rename");
            path
        }
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                          alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:syslog,alice\nalice:x:1000:\nnogroup:x:65534:\n";

    fn names(dir: &TempDir) -> Names {
        Names::new(dir.replace("passwd", PASSWD), dir.replace("group", GROUP))
    }

    #[test]
    fn parses_users_and_groups() {
        let dir = TempDir::new("users-parse");
        let mut n = names(&dir);
        assert_eq!(n.user(0), Some("root"));
        assert_eq!(n.user(1000), Some("alice"));
        assert_eq!(n.user(65534), Some("nobody"));
        assert_eq!(n.user(4242), None);
        assert_eq!(n.group(4), Some("adm"));
        assert_eq!(n.group(65534), Some("nogroup"));
        assert_eq!(n.group(1), None);
    }

    #[test]
    fn the_hosts_own_files_name_root() {
        let mut n = Names::system();
        assert_eq!(n.user(0), Some("root"));
        assert_eq!(n.group(0), Some("root"));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = b"\n\
            #comment:x:5:5\n\
            +nisuser:x:6:6\n\
            -nisgroup:x:7:7\n\
            :x:8:8::/:/bin/sh\n\
            noid:x::9\n\
            neg:x:-1:0\n\
            big:x:4294967296:0\n\
            spaced:x: 10:0\n\
            short:x\n\
            max:x:4294967295:0\n\
            first:x:11:0\n\
            second:x:11:0\n\
            caf\xc3\xa9:x:12:0\n\
            bad\xff:x:13:0\n\
            last:x:14:0";
        let m = parse(text);
        let get = |id| m.get(&id).map(|s| &**s);
        for id in [5, 6, 7, 8, 10] {
            assert_eq!(get(id), None, "id {id}");
        }
        assert_eq!(get(u32::MAX), Some("max"));
        assert_eq!(get(11), Some("first"));
        assert_eq!(get(12), Some("café"));
        assert_eq!(get(13), Some("bad\u{fffd}"));
        assert_eq!(
            get(14),
            Some("last"),
            "a last line without a newline counts"
        );
        assert_eq!(m.len(), 5);
        assert!(parse(b"").is_empty());
        assert!(parse(b"::::::\n\xff\xfe\n:::\n").is_empty());
    }

    #[test]
    fn reloads_a_replaced_file_on_the_next_check() {
        let dir = TempDir::new("users-replace");
        let mut n = names(&dir);
        assert_eq!(n.user(1001), None);
        dir.replace(
            "passwd",
            &format!("{PASSWD}bob:x:1001:1001::/home/bob:/bin/sh\n"),
        );
        n.check_now();
        assert_eq!(n.user(1001), Some("bob"));
        dir.replace("passwd", "root:x:0:0::/root:/bin/sh\n");
        n.check_now();
        assert_eq!(n.user(1001), None, "a removed user is forgotten");
        assert_eq!(n.user(0), Some("root"));
    }

    #[test]
    fn reloads_a_file_written_in_place() {
        let dir = TempDir::new("users-inplace");
        let mut n = names(&dir);
        assert_eq!(n.group(2000), None);
        let path = dir.path("group");
        std::fs::write(&path, format!("{GROUP}devs:x:2000:alice\n")).expect("rewrite");
        n.check_now();
        assert_eq!(n.group(2000), Some("devs"));
    }

    #[test]
    fn checks_at_most_once_a_second() {
        let dir = TempDir::new("users-clock");
        let mut n = names(&dir);
        let t0 = Instant::now();
        n.check_at(t0);
        assert_eq!(n.users.names.get(&1001), None);
        dir.replace(
            "passwd",
            &format!("{PASSWD}bob:x:1001:1001::/home/bob:/bin/sh\n"),
        );
        n.check_at(t0 + Duration::from_millis(999));
        assert_eq!(
            n.users.names.get(&1001),
            None,
            "checked again within a second"
        );
        n.check_at(t0 + CHECK_EVERY);
        assert_eq!(n.users.names.get(&1001).map(|s| &**s), Some("bob"));
    }

    #[test]
    fn refuses_a_file_others_can_write() {
        let dir = TempDir::new("users-wide");
        let mut n = names(&dir);
        assert_eq!(n.user(1000), Some("alice"));
        let path = dir.path("passwd");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        n.check_now();
        assert_eq!(n.user(0), None, "a world-writable passwd is not evidence");
        assert_eq!(
            n.group(0),
            Some("root"),
            "the group file is judged on its own"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        n.check_now();
        assert_eq!(n.user(0), Some("root"), "fixed permissions are noticed");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).expect("chmod");
        n.check_now();
        assert_eq!(n.user(0), None, "group-writable is refused too");
    }

    #[test]
    fn refuses_symlinks_fifos_and_directories() {
        let dir = TempDir::new("users-kinds");
        let real = dir.replace("real", PASSWD);
        let link = dir.path("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let mut n = Names::new(link, dir.path("group"));
        assert_eq!(n.user(0), None, "a symlink is never followed");

        let fifo = dir.path("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8 temp path")).expect("no NUL");
        // SAFETY: c is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let mut n = Names::new(fifo, dir.path("group"));
        assert_eq!(n.user(0), None, "a FIFO is refused, not waited on");

        let mut n = Names::new(dir.0.clone(), dir.path("group"));
        assert_eq!(n.user(0), None, "a directory is refused");
    }

    #[test]
    fn who_may_own_what() {
        let reg = libc::S_IFREG;
        assert_eq!(refusal(reg | 0o644, 0, 0), None);
        assert_eq!(refusal(reg | 0o600, 0, 1000), None);
        assert_eq!(
            refusal(reg | 0o644, 1000, 1000),
            None,
            "our own file, not root"
        );
        assert_eq!(refusal(reg | 0o644, 1000, 0), Some("not owned by root"));
        assert_eq!(refusal(reg | 0o644, 65534, 1000), Some("not owned by root"));
        assert_eq!(
            refusal(reg | 0o646, 0, 0),
            Some("writable by group or others")
        );
        assert_eq!(
            refusal(reg | 0o664, 0, 0),
            Some("writable by group or others")
        );
        assert_eq!(
            refusal(libc::S_IFIFO | 0o644, 0, 0),
            Some("not a regular file")
        );
        assert_eq!(
            refusal(libc::S_IFLNK | 0o777, 0, 0),
            Some("not a regular file")
        );
        assert_eq!(
            refusal(libc::S_IFDIR | 0o755, 0, 0),
            Some("not a regular file")
        );
    }

    #[test]
    fn missing_file_is_empty_and_retried() {
        let dir = TempDir::new("users-missing");
        let mut n = Names::new(dir.path("passwd"), dir.path("group"));
        assert_eq!(n.user(0), None);
        assert_eq!(n.group(0), None);
        dir.replace("passwd", PASSWD);
        n.check_now();
        assert_eq!(n.user(0), Some("root"), "a file that appears is read");
        std::fs::remove_file(dir.path("passwd")).expect("rm");
        n.check_now();
        assert_eq!(
            n.user(0),
            None,
            "a file that disappears takes its names along"
        );
    }

    #[test]
    fn many_entries() {
        let dir = TempDir::new("users-many");
        let mut text = String::new();
        for uid in 0..50_000u32 {
            text.push_str(&format!("user{uid}:x:{uid}:100::/home/user{uid}:/bin/sh\n"));
        }
        let mut n = Names::new(dir.replace("passwd", &text), dir.replace("group", GROUP));
        assert_eq!(n.user(0), Some("user0"));
        assert_eq!(n.user(31_337), Some("user31337"));
        assert_eq!(n.user(49_999), Some("user49999"));
        assert_eq!(n.user(50_000), None);
        assert_eq!(n.users.names.len(), 50_000);
    }

    #[test]
    fn a_file_over_the_bound_keeps_its_whole_lines() {
        let dir = TempDir::new("users-bound");
        let lines = "a:x:1:1::/:/bin/sh\nbb:x:2:2::/:/bin/sh\nccc:x:3:3::/:/bin/sh\n";
        let mut n = Names::new(dir.replace("passwd", lines), dir.replace("group", GROUP));
        // The bound ends inside the third line, which must not become a name cut short.
        n.users.max_bytes = (lines.find("ccc").expect("third line") + 10) as u64;
        assert_eq!(n.user(1), Some("a"));
        assert_eq!(n.user(2), Some("bb"));
        assert_eq!(n.user(3), None);
        assert_eq!(
            read_bounded(File::open(dir.path("passwd")).expect("open"), 5).expect("read"),
            b""
        );
    }
}
