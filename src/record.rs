//! Decoding of the kernel's raw records (see `bpf::layout`) into `Event`s: pure, bytes in, event out.
//! The process context a record may carry is returned for the caller to cache (`proc_cache`).

use crate::append::append;
use crate::bpf::kinds::via_name;
use crate::bpf::layout::*;
use crate::event::{ChildInfo, Event, ExitInfo, FileInfo, Merged, ProcessIds};
use crate::kinds::Op;
use crate::proc_cache::{ProcContext, ProcKey};
use std::fmt;

/// A record that does not have the layout this filespy's programs write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Short(usize),
    Version(u16),
    Kind(u16),
    Lengths { declared: usize, have: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Short(n) => write!(f, "record of {n} bytes is shorter than its header"),
            RecordError::Version(v) => write!(f, "record version {v}, expected {VERSION}"),
            RecordError::Kind(k) => write!(f, "record of unknown kind {k}"),
            RecordError::Lengths { declared, have } => {
                write!(
                    f,
                    "record declares {declared} data bytes but carries {have}"
                )
            }
        }
    }
}

impl std::error::Error for RecordError {}

fn u16_at(d: &[u8], off: i16) -> u16 {
    let o = off as usize;
    u16::from_ne_bytes([d[o], d[o + 1]])
}

fn u32_at(d: &[u8], off: i16) -> u32 {
    let o = off as usize;
    u32::from_ne_bytes(d[o..o + 4].try_into().expect("4 bytes"))
}

fn u64_at(d: &[u8], off: i16) -> u64 {
    let o = off as usize;
    u64::from_ne_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}

/// CLOCK_MONOTONIC ns of a record, for ordering before decoding (0 if it is too short).
pub fn mono_ns_of(data: &[u8]) -> u64 {
    if data.len() < HEADER_LEN {
        return 0;
    }
    u64_at(data, OFF_MONO_NS)
}

/// The kernel's handle of the open a record is about: a tracked `open`'s (`F_TRACKED`) or a
/// `close`'s, from the `Data` section (None for every other record, or a malformed one).
pub fn open_handle(data: &[u8]) -> Option<u64> {
    let r = parse(data).ok()?;
    let op = Op::from_u16(u16_at(data, OFF_KIND))?;
    let tracked = match op {
        Op::Open => r.flags & F_TRACKED != 0,
        Op::Close => true,
        _ => false,
    };
    let d = r.sections[Section::Data as usize];
    (tracked && d.len() >= OPEN_DATA_HANDLE_LEN)
        .then(|| u64::from_ne_bytes(d[..8].try_into().expect("8 bytes")))
}

/// Does this raw record carry its process's context (exe, cwd, argv)?
pub fn carries_context(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && u16_at(data, OFF_FLAGS) & F_HAS_PROC != 0
}

/// Split NUL-separated argv bytes (a trailing NUL ends the last argument).
pub fn split_argv(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// Append the path whose components arrive leaf first, each NUL-terminated, to `out`; returns the leaf.
/// A complete walk gives an absolute path; a truncated one the deepest components found, unrooted.
fn join_components<'a>(data: &'a [u8], truncated: bool, out: &mut Vec<u8>) -> &'a [u8] {
    out.clear();
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    // The leaf is the first non-empty component; the ancestors follow it, read root first from the end
    // of the buffer (no per-event allocation).
    let start = data.iter().position(|&b| b != 0).unwrap_or(data.len());
    let end = data[start..]
        .iter()
        .position(|&b| b == 0)
        .map_or(data.len(), |p| start + p);
    let leaf = &data[start..end];
    let rest = &data[end..];
    let ancestors = rest.rsplit(|&b| b == 0).filter(|c| !c.is_empty());
    for (i, c) in ancestors.enumerate() {
        if i > 0 || !truncated {
            out.push(b'/');
        }
        append(out, c);
    }
    if !leaf.is_empty() || out.is_empty() {
        if !(truncated && out.is_empty()) {
            out.push(b'/');
        }
        append(out, leaf);
    }
    leaf
}

/// A checked record: its header and its sections.
struct Parsed<'a> {
    data: &'a [u8],
    flags: u16,
    sections: [&'a [u8]; SECTIONS],
}

fn parse(data: &[u8]) -> Result<Parsed<'_>, RecordError> {
    if data.len() < HEADER_LEN {
        return Err(RecordError::Short(data.len()));
    }
    let version = u16_at(data, OFF_VERSION);
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let mut sections = [&data[..0]; SECTIONS];
    let mut rest = &data[HEADER_LEN..];
    let have = rest.len();
    let mut declared = 0;
    for (s, section) in sections.iter_mut().zip(Section::ALL) {
        let len = u16_at(data, section.len_off()) as usize;
        declared += len;
        if len > rest.len() {
            return Err(RecordError::Lengths { declared, have });
        }
        let (here, more) = rest.split_at(len);
        *s = here;
        rest = more;
    }
    Ok(Parsed {
        data,
        flags: u16_at(data, OFF_FLAGS),
        sections,
    })
}

fn key_of(data: &[u8]) -> ProcKey {
    ProcKey {
        tgid: u32_at(data, OFF_TGID),
        start_time: u64_at(data, OFF_START_TIME),
        mm: u64_at(data, OFF_MM),
    }
}

/// Decode `data` into `ev` in place (its buffers are reused, so steady state does not allocate) and
/// return the record's process key. The process context fields of `ev` are left to the caller
/// (`fill_context`).
/// The record of a merged write (read) from a value of the kernel's `merged` map
/// (`layout::MERGE_*`): the first call's header and path, its other sections dropped (not kept in
/// the map), the calls' total bytes, and the `Data` section with their count and the last's time.
/// None for a value that is not one.
pub fn merged_record(value: &[u8]) -> Option<Vec<u8>> {
    if value.len() < MERGE_VALUE_LEN as usize {
        return None;
    }
    let path_len = u16_at(value, Section::Path.len_off()) as usize;
    if path_len > PATH_MAX as usize {
        return None;
    }
    let mut rec = Vec::with_capacity(HEADER_LEN + path_len + MERGED_DATA_LEN);
    rec.extend_from_slice(&value[..HEADER_LEN + path_len]);
    let flags = u16_at(value, OFF_FLAGS) & (F_TRUNCATED | F_DELETED | F_HAS_INODE) | F_MERGED;
    rec[OFF_FLAGS as usize..][..2].copy_from_slice(&flags.to_ne_bytes());
    for s in &Section::ALL[1..] {
        rec[s.len_off() as usize..][..2].copy_from_slice(&0u16.to_ne_bytes());
    }
    let data_len = MERGED_DATA_LEN as u16;
    rec[OFF_DATA_LEN as usize..][..2].copy_from_slice(&data_len.to_ne_bytes());
    let bytes = u64_at(value, MVAL_BYTES);
    rec[OFF_BYTES as usize..][..8].copy_from_slice(&bytes.to_ne_bytes());
    rec.extend_from_slice(&u64_at(value, MVAL_COUNT).to_ne_bytes());
    rec.extend_from_slice(&u64_at(value, MVAL_LAST_NS).to_ne_bytes());
    Some(rec)
}

pub fn decode_into(data: &[u8], ev: &mut Event) -> Result<ProcKey, RecordError> {
    let r = parse(data)?;
    let kind = u16_at(data, OFF_KIND);
    let op = Op::from_u16(kind).ok_or(RecordError::Kind(kind))?;
    decode_header(data, op, ev);
    ev.merged = merged_of(op, &r, ev.mono_ns);
    decode_file(data, &r, op, &mut ev.file);
    decode_op_fields(data, &r, op, ev);
    Ok(key_of(data))
}

/// What every record's header says: the op, how it was seen, when, and by whom.
fn decode_header(data: &[u8], op: Op, ev: &mut Event) {
    ev.op = op;
    ev.via = via_name(op, u16_at(data, OFF_VIA)).unwrap_or("unknown");
    ev.mono_ns = u64_at(data, OFF_MONO_NS);
    ev.start_time = u64_at(data, OFF_START_TIME);
    let p = &mut ev.process;
    p.pid = u32_at(data, OFF_TGID);
    p.tid = u32_at(data, OFF_TID);
    p.ppid = u32_at(data, OFF_PPID);
    p.uid = u32_at(data, OFF_UID);
    p.gid = u32_at(data, OFF_GID);
    let comm = &data[OFF_COMM as usize..OFF_COMM as usize + 16];
    p.comm.clear();
    append(&mut p.comm, comm.split(|&b| b == 0).next().unwrap_or(&[]));
}

/// A merged write or read: the calls it stands for and the span of their times.
fn merged_of(op: Op, r: &Parsed<'_>, first_ns: u64) -> Option<Merged> {
    if r.flags & F_MERGED == 0 || !matches!(op, Op::Write | Op::Read) {
        return None;
    }
    let d = r.sections[Section::Data as usize];
    if d.len() != MERGED_DATA_LEN {
        return None;
    }
    let at = |i: usize| u64::from_ne_bytes(d[i..i + 8].try_into().expect("8 bytes"));
    Some(Merged {
        count: at(0),
        first_ns,
        last_ns: at(8),
    })
}

/// The fields every kind's file has (identity, path, name, byte counts), and the per-kind ones reset.
fn decode_file(data: &[u8], r: &Parsed<'_>, op: Op, f: &mut FileInfo) {
    let flags = r.flags;
    let dev = u32_at(data, OFF_DEV);
    f.dev_major = dev >> 20;
    f.dev_minor = dev & 0xfffff;
    f.has_inode = flags & F_HAS_INODE != 0;
    f.inode = u64_at(data, OFF_INO);
    // A name the kernel could not read is not the whole path: marked truncated, so that --path keeps
    // it and readers see that the path shown is only its known part.
    f.truncated = flags & (F_TRUNCATED | F_USER_FAULT) != 0;
    f.deleted = flags & F_DELETED != 0;
    let bytes = u64_at(data, OFF_BYTES);
    f.bytes_written = if op == Op::Write { bytes } else { 0 };
    f.bytes_read = if op == Op::Read { bytes } else { 0 };
    f.reads = 0;
    f.writes = 0;
    f.fd = None;
    f.created = false;
    let s = &r.sections;
    resolve(
        s[Section::Path as usize],
        s[Section::PathUser as usize],
        f.truncated,
        &mut f.path,
    );
    let leaf = f.path.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
    f.name.clear();
    append(&mut f.name, leaf);
    f.old_path = None;
    f.replaced_inode = None;
    f.source_path = None;
    f.source_inode = None;
    f.target = None;
    f.mode = None;
    f.owner_uid = None;
    f.owner_gid = None;
    f.size = None;
    f.flags.clear();
}

/// What each kind adds: its second path, mode, owner, size, flags, counts, child or exit status.
fn decode_op_fields(data: &[u8], r: &Parsed<'_>, op: Op, ev: &mut Event) {
    let (flags, s) = (r.flags, &r.sections);
    let bytes = u64_at(data, OFF_BYTES);
    let (arg0, arg1) = (u32_at(data, OFF_ARG0), u32_at(data, OFF_ARG1));
    let second = || {
        let mut p = Vec::new();
        let user = s[Section::Path2User as usize];
        resolve(
            s[Section::Path2 as usize],
            user,
            flags & F_PATH2_TRUNCATED != 0,
            &mut p,
        );
        p
    };
    ev.child = None;
    ev.exit = None;
    let f = &mut ev.file;
    match op {
        Op::Write => {
            if !s[Section::Path2 as usize].is_empty() {
                f.source_path = Some(second());
                f.source_inode = Some(u64::from(arg0) | u64::from(arg1) << 32);
            }
        }
        Op::Rename => {
            f.old_path = Some(second());
            f.flags = flag_names(arg1, &RENAME_FLAGS);
            f.replaced_inode = (bytes != 0).then_some(bytes);
        }
        Op::Link => f.target = Some(second()),
        Op::Symlink => {
            let text = s[Section::Path2User as usize];
            f.target = Some(text.strip_suffix(&[0]).unwrap_or(text).to_vec());
        }
        Op::Chmod | Op::Mkdir | Op::Create => {
            // openat2 carries its mode in user memory, which is not read: no mode is not mode 0.
            if !(op == Op::Create && ev.via == "openat2") {
                f.mode = Some(arg0 & 0o7777);
            }
        }
        Op::Chown => {
            f.owner_uid = (arg0 != u32::MAX).then_some(arg0);
            f.owner_gid = (arg1 != u32::MAX).then_some(arg1);
        }
        Op::Truncate => {
            f.size = Some(bytes);
            f.flags = flag_names(arg0, &FALLOC_FLAGS);
        }
        Op::Mmap => {
            f.size = Some(bytes);
            f.flags = flag_names(arg0, &PROT_FLAGS);
        }
        Op::Open => {
            f.flags = open_flag_names(arg0);
            if arg0 & (O_CREAT | O_TMPFILE) != 0 {
                f.mode = Some(arg1 & 0o7777);
            }
            f.fd = Some(bytes as i32);
            f.created = flags & F_CREATED != 0;
        }
        Op::Close => {
            let d = s[Section::Data as usize];
            if d.len() == OPEN_DATA_LEN {
                let at = |field: usize| {
                    u64::from_ne_bytes(d[field..field + 8].try_into().expect("8 bytes"))
                };
                f.reads = at(std::mem::offset_of!(OpenData, reads));
                f.bytes_read = at(std::mem::offset_of!(OpenData, bytes_read));
                f.writes = at(std::mem::offset_of!(OpenData, writes));
                f.bytes_written = at(std::mem::offset_of!(OpenData, bytes_written));
            }
        }
        Op::Delete | Op::Rmdir | Op::Exec | Op::Read => {}
        Op::Fork => {
            ev.child = Some(ChildInfo {
                pid: arg0,
                tid: arg1,
                thread: flags & F_THREAD != 0,
                start_time: bytes,
            });
        }
        Op::Exit => {
            // The kernel's exit_code: the status in bits 8-15, or the signal in bits 0-6 (+ core).
            let (signal, status) = (arg0 & 0x7f, (arg0 >> 8) & 0xff);
            ev.exit = Some(ExitInfo {
                code: (signal == 0).then_some(status as u8),
                signal: (signal != 0).then_some(signal as u8),
                core_dumped: arg0 & 0x80 != 0,
                run_time_ns: bytes,
            });
        }
    }
}

const RENAME_FLAGS: [(u32, &str); 3] = [
    (1, "RENAME_NOREPLACE"),
    (2, "RENAME_EXCHANGE"),
    (4, "RENAME_WHITEOUT"),
];
const FALLOC_FLAGS: [(u32, &str); 6] = [
    (0x01, "FALLOC_FL_KEEP_SIZE"),
    (0x02, "FALLOC_FL_PUNCH_HOLE"),
    (0x08, "FALLOC_FL_COLLAPSE_RANGE"),
    (0x10, "FALLOC_FL_ZERO_RANGE"),
    (0x20, "FALLOC_FL_INSERT_RANGE"),
    (0x40, "FALLOC_FL_UNSHARE_RANGE"),
];
const PROT_FLAGS: [(u32, &str); 3] = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")];

const O_CREAT: u32 = 0o100;
const O_DIRECTORY: u32 = 0o200000;
const O_DSYNC: u32 = 0o10000;
const O_SYNC_ONLY: u32 = 0o4000000;
const O_TMPFILE_ONLY: u32 = 0o20000000;
const O_TMPFILE: u32 = O_TMPFILE_ONLY | O_DIRECTORY;
/// `open`'s flags (x86-64 values) after the access mode, as strace names them. `O_SYNC` and
/// `O_TMPFILE` include another bit (`O_DSYNC`, `O_DIRECTORY`), named only once.
const OPEN_FLAGS: [(u32, &str); 17] = [
    (O_CREAT, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (O_DSYNC, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (O_DIRECTORY, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (O_SYNC_ONLY | O_DSYNC, "O_SYNC"),
    (0o10000000, "O_PATH"),
    (O_TMPFILE, "O_TMPFILE"),
];

/// `O_RDONLY`, `O_WRONLY` or `O_RDWR`, then each flag set.
fn open_flag_names(v: u32) -> Vec<&'static str> {
    let mut names = vec![match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        _ => "O_RDWR",
    }];
    for &(bits, name) in &OPEN_FLAGS {
        let implied_by = match bits {
            O_DSYNC => O_SYNC_ONLY,
            O_DIRECTORY => O_TMPFILE_ONLY,
            _ => 0,
        };
        if v & bits == bits && v & implied_by == 0 {
            names.push(name);
        }
    }
    names
}

fn flag_names(v: u32, table: &[(u32, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(bit, _)| v & bit != 0)
        .map(|&(_, n)| n)
        .collect()
}

/// The path of a walked base and the user string naming something relative to it: the string alone
/// when absolute, else base + "/" + string; `.` and repeated `/` are folded; a `..` right after the
/// walked base (a real directory, from the kernel) goes to its parent, one after a named component
/// is kept as named (that component may be a symlink, so folding it by name could name another
/// file). Without a string, the walk.
fn resolve(walk: &[u8], user: &[u8], truncated: bool, out: &mut Vec<u8>) {
    if user.is_empty() {
        join_components(walk, truncated, out);
        return;
    }
    let user = user.strip_suffix(&[0]).unwrap_or(user);
    let unrooted = if user.starts_with(b"/") {
        out.clear();
        false
    } else {
        join_components(walk, truncated, out);
        let unrooted = !out.starts_with(b"/");
        if out == b"/" {
            out.clear();
        }
        unrooted
    };
    // Components of `out` that came from the name, not from the kernel's walk: one of them may be a
    // symlink, so a `..` after it is kept as named; a `..` right after the walked base (a real
    // directory) is its parent.
    let mut named = 0usize;
    for c in user.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named == 0 && !user.starts_with(b"/") => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            name => {
                if !(unrooted && out.is_empty()) {
                    out.push(b'/');
                }
                append(out, name);
                named += 1;
            }
        }
    }
    if out.is_empty() && !unrooted {
        out.push(b'/');
    }
}

/// The process context a record carries (its first event of a process image), pure: no `/proc`.
/// Returns the key, the context and whether argv could not be read in the kernel.
pub fn decode_context(data: &[u8]) -> Option<(ProcKey, ProcContext, bool)> {
    let r = parse(data).ok()?;
    let flags = r.flags;
    if flags & F_HAS_PROC == 0 {
        return None;
    }
    let s = &r.sections;
    let path_of = |d: &[u8], trunc: bool| {
        if d.is_empty() {
            None
        } else {
            let mut buf = Vec::new();
            join_components(d, trunc, &mut buf);
            Some(buf)
        }
    };
    let exe = path_of(s[Section::Exe as usize], flags & F_EXE_TRUNCATED != 0);
    let cwd_walk = s[Section::Cwd as usize];
    // A complete walk with no component ended at the root: the cwd is "/" (an exe file never is).
    let cwd = if cwd_walk.is_empty() && flags & F_CWD_TRUNCATED == 0 {
        Some(b"/".to_vec())
    } else {
        path_of(cwd_walk, flags & F_CWD_TRUNCATED != 0)
    };
    let cmdline = split_argv(s[Section::Argv as usize]);
    let mut ctx = ProcContext::new(exe, cwd, cmdline, flags & F_ARGV_TRUNCATED != 0);
    ctx.ids =
        decode_ids(s[Section::Ids as usize], u64_at(data, OFF_START_TIME)).map(std::rc::Rc::new);
    Some((key_of(r.data), ctx, flags & F_ARGV_FAULT != 0))
}

/// The `Ids` section (exactly `IDS_LEN` bytes, else absent).
fn decode_ids(b: &[u8], start_time: u64) -> Option<ProcessIds> {
    if b.len() != IDS_LEN {
        return None;
    }
    let u32_of = |off: i16| u32_at(b, off);
    let name = |off: i16, len: usize| {
        let raw = &b[off as usize..off as usize + len];
        raw.split(|&c| c == 0).next().unwrap_or(&[]).to_vec()
    };
    let set = |v: u32| (v != u32::MAX).then_some(v);
    let count = (u32_of(IDS_ANCESTOR_COUNT) as usize).min(MAX_ANCESTORS);
    let ancestors = (0..count)
        .map(|i| {
            let at = IDS_ANCESTORS + i as i16 * ANCESTOR_LEN;
            (u32_of(at), name(at + 4, 16))
        })
        .collect();
    Some(ProcessIds {
        euid: u32_of(IDS_EUID),
        egid: u32_of(IDS_EGID),
        auid: set(u32_of(IDS_AUID)),
        session_id: set(u32_of(IDS_SESSION)),
        cgroup_id: u64_at(b, IDS_CGROUP_ID),
        start_time,
        parent_start: u64_at(b, IDS_PARENT_START),
        ancestors,
        cgroup_leaf: name(IDS_CGROUP_LEAF, CGROUP_NAME),
        cgroup_parent: name(IDS_CGROUP_PARENT, CGROUP_NAME),
    })
}

/// Copy a cached context into the event (or clear it).
pub fn fill_context(ev: &mut Event, ctx: Option<&ProcContext>) {
    let p = &mut ev.process;
    match ctx {
        Some(c) => {
            copy_opt(&mut p.exe_path, &c.exe_path);
            copy_opt(&mut p.cwd, &c.cwd);
            p.cmdline.truncate(c.cmdline.len());
            for (i, arg) in c.cmdline.iter().enumerate() {
                match p.cmdline.get_mut(i) {
                    Some(v) => {
                        v.clear();
                        append(v, arg);
                    }
                    None => p.cmdline.push(arg.clone()),
                }
            }
            p.cmdline_truncated = c.cmdline_truncated;
            p.ids.clone_from(&c.ids);
        }
        None => {
            p.exe_path = None;
            p.cwd = None;
            p.cmdline.clear();
            p.cmdline_truncated = false;
            p.ids = None;
        }
    }
}

fn copy_opt(dst: &mut Option<Vec<u8>>, src: &Option<Vec<u8>>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => {
            d.clear();
            append(d, s);
        }
        (_, s) => *dst = s.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proc_cache::ProcCache;

    #[test]
    fn open_flags_are_named_as_strace_names_them() {
        assert_eq!(open_flag_names(0), ["O_RDONLY"]);
        assert_eq!(
            open_flag_names(0o2001101),
            ["O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"]
        );
        assert_eq!(open_flag_names(0o2 | 0o2000), ["O_RDWR", "O_APPEND"]);
        // O_SYNC holds O_DSYNC's bit, O_TMPFILE O_DIRECTORY's: each named once.
        assert_eq!(open_flag_names(0o4010001), ["O_WRONLY", "O_SYNC"]);
        assert_eq!(open_flag_names(0o10001), ["O_WRONLY", "O_DSYNC"]);
        assert_eq!(open_flag_names(0o20200002), ["O_RDWR", "O_TMPFILE"]);
        assert_eq!(open_flag_names(0o200000), ["O_RDONLY", "O_DIRECTORY"]);
        assert_eq!(open_flag_names(0o10000000), ["O_RDONLY", "O_PATH"]);
    }

    /// A record as the kernel programs build it: `sections` in `Section` order (the first `N`).
    pub(crate) fn record_of<const N: usize>(
        op: Op,
        via: u16,
        flags: u16,
        sections: [&[u8]; N],
    ) -> Vec<u8> {
        let mut d = vec![0u8; HEADER_LEN];
        let put = |d: &mut Vec<u8>, off: i16, b: &[u8]| {
            d[off as usize..off as usize + b.len()].copy_from_slice(b)
        };
        put(&mut d, OFF_VERSION, &VERSION.to_ne_bytes());
        put(&mut d, OFF_FLAGS, &(flags | F_HAS_INODE).to_ne_bytes());
        put(&mut d, OFF_KIND, &(op as u16).to_ne_bytes());
        put(&mut d, OFF_VIA, &via.to_ne_bytes());
        put(&mut d, OFF_MONO_NS, &123u64.to_ne_bytes());
        put(&mut d, OFF_TGID, &42u32.to_ne_bytes());
        put(&mut d, OFF_TID, &43u32.to_ne_bytes());
        put(&mut d, OFF_PPID, &1u32.to_ne_bytes());
        put(&mut d, OFF_UID, &1000u32.to_ne_bytes());
        put(&mut d, OFF_GID, &100u32.to_ne_bytes());
        put(&mut d, OFF_DEV, &((8u32 << 20) | 3).to_ne_bytes());
        put(&mut d, OFF_BYTES, &64u64.to_ne_bytes());
        put(&mut d, OFF_INO, &777u64.to_ne_bytes());
        put(&mut d, OFF_START_TIME, &5u64.to_ne_bytes());
        put(&mut d, OFF_MM, &0xffff_8880_0000_1000u64.to_ne_bytes());
        put(&mut d, OFF_COMM, b"python3\0");
        for (s, section) in sections.iter().zip(Section::ALL) {
            put(&mut d, section.len_off(), &(s.len() as u16).to_ne_bytes());
        }
        for s in sections {
            d.extend_from_slice(s);
        }
        d.extend_from_slice(&[0; 5]); // perf pads raw samples
        d
    }

    #[test]
    fn a_merged_value_is_the_first_calls_record_with_the_totals() {
        // The first call's record as the kernel kept it: header, path, a copy's source and the
        // process context (only the header and the path are kept in the map's value).
        let path = comps(&["b.log", "tmp"]);
        let rec = record_of(
            Op::Write,
            1,
            F_HAS_PROC | F_DELETED,
            [&path, b"", &comps(&["a.log"]), b"", &comps(&["sh", "bin"])],
        );
        let mut value = vec![0u8; MERGE_VALUE_LEN as usize];
        let kept = rec.len().min(MERGE_RECORD_LEN as usize);
        value[..kept].copy_from_slice(&rec[..kept]);
        for (off, v) in [(MVAL_COUNT, 3u64), (MVAL_BYTES, 192), (MVAL_LAST_NS, 999)] {
            value[off as usize..][..8].copy_from_slice(&v.to_ne_bytes());
        }
        let merged = merged_record(&value).expect("a merged record");
        let mut ev = Event::default();
        decode_into(&merged, &mut ev).expect("decodes");
        assert_eq!(ev.file.path, b"/tmp/b.log");
        assert_eq!(ev.file.bytes_written, 192);
        assert!(ev.file.deleted);
        assert_eq!(ev.file.source_path, None, "the source is not kept");
        assert_eq!(
            ev.merged,
            Some(Merged {
                count: 3,
                first_ns: 123,
                last_ns: 999
            })
        );
        assert!(!carries_context(&merged), "the context is not kept");
        // A path longer than the kernel writes is no value of the map.
        value[Section::Path.len_off() as usize..][..2].copy_from_slice(&5000u16.to_ne_bytes());
        assert_eq!(merged_record(&value), None);
        assert_eq!(merged_record(&value[..10]), None);
    }

    pub(crate) fn comps(c: &[&str]) -> Vec<u8> {
        c.iter().flat_map(|s| s.bytes().chain([0])).collect()
    }

    /// A write record: path, exe and cwd components leaf first, raw argv.
    pub(crate) fn record(
        flags: u16,
        path: &[&str],
        exe: &[&str],
        cwd: &[&str],
        argv: &[u8],
    ) -> Vec<u8> {
        let (p, e, c) = (comps(path), comps(exe), comps(cwd));
        record_of(Op::Write, 1, flags, [&p, b"", b"", b"", &e, &c, argv, b""])
    }

    /// Decode the way the monitor does: context first (cached), then the event.
    fn decode(r: &[u8], ev: &mut Event, cache: &mut ProcCache) -> Result<ProcKey, RecordError> {
        if let Some((key, ctx, _)) = decode_context(r) {
            cache.insert(key, ctx, mono_ns_of(r));
        }
        let key = decode_into(r, ev)?;
        fill_context(ev, cache.get(&key));
        Ok(key)
    }

    #[test]
    fn first_event_carries_context_and_later_ones_use_the_cache() {
        let mut cache = ProcCache::new(16);
        let mut ev = Event::default();
        let r = record(
            F_HAS_PROC,
            &["app.log", "log", "var"],
            &["python3.11", "bin", "usr"],
            &["srv"],
            b"python3\0tools/job.py\0-v\0",
        );
        assert!(carries_context(&r));
        let key = decode(&r, &mut ev, &mut cache).unwrap();
        assert_eq!((ev.op, ev.via), (Op::Write, "write"));
        assert_eq!(ev.file.path, b"/var/log/app.log");
        assert_eq!(ev.file.name, b"app.log");
        assert_eq!(
            (
                ev.file.dev_major,
                ev.file.dev_minor,
                ev.file.inode,
                ev.file.bytes_written
            ),
            (8, 3, 777, 64)
        );
        assert_eq!(ev.process.comm, b"python3");
        assert_eq!(
            ev.process.exe_path.as_deref(),
            Some(&b"/usr/bin/python3.11"[..])
        );
        assert_eq!(ev.process.cwd.as_deref(), Some(&b"/srv"[..]));
        assert_eq!(
            ev.process.cmdline,
            [
                b"python3".to_vec(),
                b"tools/job.py".to_vec(),
                b"-v".to_vec()
            ]
        );
        assert_eq!(
            cache.get(&key).unwrap().script.as_deref(),
            Some(&b"/srv/tools/job.py"[..])
        );

        let r2 = record(F_DELETED, &["b.txt", "tmp"], &[], &[], b"");
        assert!(!carries_context(&r2));
        let mut ev2 = Event::default();
        decode(&r2, &mut ev2, &mut cache).unwrap();
        assert!(ev2.file.deleted);
        assert_eq!(ev2.file.path, b"/tmp/b.txt");
        assert_eq!(ev2.process.cmdline.len(), 3, "served from the cache");
    }

    #[test]
    fn a_cwd_walk_without_components_is_the_root() {
        let r = record(F_HAS_PROC, &["a.txt"], &["busybox", "bin"], &[], b"sh\0");
        let (_, ctx, _) = decode_context(&r).unwrap();
        assert_eq!(ctx.cwd.as_deref(), Some(&b"/"[..]));
        let r = record(
            F_HAS_PROC | F_CWD_TRUNCATED,
            &["a.txt"],
            &["busybox", "bin"],
            &[],
            b"sh\0",
        );
        let (_, ctx, _) = decode_context(&r).unwrap();
        assert_eq!(ctx.cwd, None, "nothing read is not the root");
    }

    #[test]
    fn a_new_image_of_the_same_pid_is_not_served_the_old_context() {
        let mut cache = ProcCache::new(16);
        let mut ev = Event::default();
        let r = record(
            F_HAS_PROC,
            &["a.txt"],
            &["bash", "bin"],
            &["/"],
            b"bash\0run.sh\0",
        );
        decode(&r, &mut ev, &mut cache).unwrap();
        let mut r2 = record(0, &["a.txt"], &[], &[], b"");
        r2[OFF_MM as usize] ^= 0x40; // exec: new mm
        decode(&r2, &mut ev, &mut cache).unwrap();
        assert!(ev.process.cmdline.is_empty() && ev.process.exe_path.is_none());
    }

    #[test]
    fn truncated_paths_are_unrooted_and_root_files_work() {
        let mut out = Vec::new();
        assert_eq!(join_components(b"c.txt\0b\0a\0", true, &mut out), b"c.txt");
        assert_eq!(out, b"a/b/c.txt");
        assert_eq!(join_components(b"top.txt\0", false, &mut out), b"top.txt");
        assert_eq!(out, b"/top.txt");
        join_components(b"", false, &mut out);
        assert_eq!(out, b"/");
        // Empty components (never sent by the kernel) are ignored wherever they are.
        assert_eq!(
            join_components(b"\0\0a.txt\0\0b\0\0c\0", false, &mut out),
            b"a.txt"
        );
        assert_eq!(out, b"/c/b/a.txt");
        assert_eq!(join_components(b"\0\0\0", false, &mut out), b"");
        assert_eq!(out, b"/");
    }

    #[test]
    fn names_relative_to_a_walked_directory_become_absolute() {
        let mut out = Vec::new();
        let base = comps(&["work", "srv"]);
        for (user, want) in [
            (&b"a.txt\0"[..], &b"/srv/work/a.txt"[..]),
            (b"./sub/../b.txt\0", b"/srv/work/sub/../b.txt"),
            (b"/etc//passwd\0", b"/etc/passwd"),
            (b"../x\0", b"/srv/x"),
            (b"../../../../x\0", b"/x"),
            (b"/etc/l/../passwd\0", b"/etc/l/../passwd"),
            (b"\0", b"/srv/work"),
            (b".\0", b"/srv/work"),
        ] {
            resolve(&base, user, false, &mut out);
            assert_eq!(out, want, "{:?}", String::from_utf8_lossy(user));
        }
        resolve(b"", b"a.txt\0", false, &mut out);
        assert_eq!(out, b"/a.txt", "a cwd at the root");
        resolve(&comps(&["b", "a"]), b"c.txt\0", true, &mut out);
        assert_eq!(out, b"a/b/c.txt", "a truncated base stays unrooted");
    }

    #[test]
    fn each_kind_decodes_its_fields() {
        let user = |s: &str| [s.as_bytes(), b"\0"].concat();
        let base = comps(&["d", "tmp"]);
        let mut ev = Event::default();
        let (new, old) = (user("new.txt"), user("/tmp/old.txt"));
        let r = record_of(
            Op::Rename,
            0,
            0,
            [&base, &new, b"", &old, b"", b"", b"", b""],
        );
        let mut r = r;
        r[OFF_ARG1 as usize] = 1;
        decode_into(&r, &mut ev).unwrap();
        assert_eq!((ev.op, ev.via), (Op::Rename, "renameat2"));
        assert_eq!(ev.file.path, b"/tmp/d/new.txt");
        assert_eq!(ev.file.name, b"new.txt");
        assert_eq!(ev.file.old_path.as_deref(), Some(&b"/tmp/old.txt"[..]));
        assert_eq!(ev.file.flags, ["RENAME_NOREPLACE"]);
        // The kprobe path puts the replaced file's inode in `bytes` (0: nothing replaced).
        for (bytes, replaced) in [(0u64, None), (77, Some(77))] {
            r[OFF_BYTES as usize..][..8].copy_from_slice(&bytes.to_ne_bytes());
            decode_into(&r, &mut ev).unwrap();
            assert_eq!(ev.file.replaced_inode, replaced);
        }

        let text = user("../target with space");
        let r = record_of(
            Op::Symlink,
            1,
            0,
            [&base, &user("l.txt"), b"", &text, b"", b"", b"", b""],
        );
        decode_into(&r, &mut ev).unwrap();
        assert_eq!((ev.op, ev.via), (Op::Symlink, "symlink"));
        assert_eq!(
            ev.file.target.as_deref(),
            Some(&b"../target with space"[..])
        );
        assert_eq!(ev.file.old_path, None);

        let mut r = record_of(
            Op::Chown,
            1,
            0,
            [&comps(&["f.txt", "tmp"]), b"", b"", b"", b"", b"", b"", b""],
        );
        r[OFF_ARG0 as usize..OFF_ARG0 as usize + 4].copy_from_slice(&7u32.to_ne_bytes());
        r[OFF_ARG1 as usize..OFF_ARG1 as usize + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        decode_into(&r, &mut ev).unwrap();
        assert_eq!(
            (ev.via, ev.file.owner_uid, ev.file.owner_gid),
            ("fchown", Some(7), None)
        );
        assert_eq!(ev.file.path, b"/tmp/f.txt");
        assert!(ev.file.has_inode);

        let mut r = record_of(
            Op::Chmod,
            3,
            0,
            [&base, &user("m.txt"), b"", b"", b"", b"", b"", b""],
        );
        r[OFF_ARG0 as usize..OFF_ARG0 as usize + 4].copy_from_slice(&0o100640u32.to_ne_bytes());
        decode_into(&r, &mut ev).unwrap();
        assert_eq!((ev.via, ev.file.mode), ("chmod", Some(0o640)));
        assert_eq!(ev.file.bytes_written, 0, "only writes write bytes");

        let r = record_of(
            Op::Truncate,
            0,
            0,
            [&comps(&["t.log"]), b"", b"", b"", b"", b"", b"", b""],
        );
        decode_into(&r, &mut ev).unwrap();
        assert_eq!((ev.via, ev.file.size), ("ftruncate", Some(64)));
    }

    #[test]
    fn a_close_carries_its_totals_and_a_tracked_open_its_handle() {
        let path = comps(&["f.log", "tmp"]);
        let data: Vec<u8> = [0xffff_8880_1234_5600u64, 2, 300, 5, 40]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let e: &[u8] = b"";
        let r = record_of(Op::Close, 1, 0, [&path[..], e, e, e, e, e, e, e, &data]);
        let mut ev = Event::default();
        decode_into(&r, &mut ev).unwrap();
        assert_eq!((ev.op, ev.via), (Op::Close, "close"));
        assert_eq!(ev.file.path, b"/tmp/f.log");
        let f = &ev.file;
        assert_eq!(
            (f.reads, f.bytes_read, f.writes, f.bytes_written),
            (2, 300, 5, 40)
        );
        assert_eq!(open_handle(&r), Some(0xffff_8880_1234_5600));

        let handle = &data[..OPEN_DATA_HANDLE_LEN];
        let tracked = record_of(
            Op::Open,
            0,
            F_TRACKED,
            [&path[..], e, e, e, e, e, e, e, handle],
        );
        assert_eq!(open_handle(&tracked), Some(0xffff_8880_1234_5600));
        decode_into(&tracked, &mut ev).unwrap();
        assert_eq!(
            (ev.op, ev.file.reads, ev.file.bytes_written),
            (Op::Open, 0, 0)
        );
        let untracked = record_of(Op::Open, 0, 0, [&path[..], e, e, e, e, e, e, e, handle]);
        assert_eq!(open_handle(&untracked), None);
        assert_eq!(open_handle(&record(0, &["a.txt"], &[], &[], b"")), None);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        let mut ev = Event::default();
        assert_eq!(decode_into(&[0; 10], &mut ev), Err(RecordError::Short(10)));
        let mut r = record(0, &["a.txt"], &[], &[], b"");
        r[0] = 9;
        assert!(matches!(
            decode_into(&r, &mut ev),
            Err(RecordError::Version(_))
        ));
        let mut r = record(0, &["a.txt"], &[], &[], b"");
        r[OFF_KIND as usize] = 200;
        assert_eq!(decode_into(&r, &mut ev), Err(RecordError::Kind(200)));
        let mut r = record(F_HAS_PROC, &["a.txt"], &[], &[], b"x\0");
        let argv = Section::Argv.len_off() as usize;
        r[argv] = 0xff;
        r[argv + 1] = 0x7f;
        assert!(matches!(
            decode_into(&r, &mut ev),
            Err(RecordError::Lengths { .. })
        ));
        assert!(decode_context(&r).is_none());
        // Random bytes behind a valid header never panic.
        let mut seed = 0x1234_5678u64;
        for _ in 0..2000 {
            let mut r = record(F_HAS_PROC, &["a.txt", "d"], &["e"], &["c"], b"a\0b\0");
            for _ in 0..6 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (seed >> 33) as usize % r.len();
                if i >= 4 {
                    r[i] = (seed >> 20) as u8;
                }
            }
            let _ = decode_into(&r, &mut ev);
            let _ = decode_context(&r);
        }
    }
}
