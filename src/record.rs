//! Decoding of the kernel's raw records (see `bpf::layout`) into `Event`s, with the per-process context
//! cache: the kernel sends exe, cwd and argv only on the first event of a process image, keyed by
//! (tgid, start time, mm), so a reused pid or an exec can never be served a stale context.

use crate::bpf::layout::*;
use crate::event::Event;
use crate::script::script_of;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;

/// A record that does not have the layout this filespy's programs write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Short(usize),
    Version(u16),
    Lengths { declared: usize, have: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Short(n) => write!(f, "record of {n} bytes is shorter than its header"),
            RecordError::Version(v) => write!(f, "record version {v}, expected {VERSION}"),
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

/// Identity of a process image: pid reuse changes the start time, exec changes the mm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcKey {
    pub tgid: u32,
    pub start_time: u64,
    pub mm: u64,
}

/// What the kernel sent once per process image, plus the script recognised from it (computed once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcContext {
    pub exe_path: Option<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub cmdline: Vec<Vec<u8>>,
    pub cmdline_truncated: bool,
    pub script: Option<Vec<u8>>,
}

impl ProcContext {
    pub fn new(
        exe_path: Option<Vec<u8>>,
        cwd: Option<Vec<u8>>,
        cmdline: Vec<Vec<u8>>,
        cmdline_truncated: bool,
    ) -> ProcContext {
        let script = script_of(&cmdline, exe_path.as_deref(), cwd.as_deref());
        ProcContext {
            exe_path,
            cwd,
            cmdline,
            cmdline_truncated,
            script,
        }
    }

    /// The context of a live process from /proc, for when its first event was lost.
    pub fn from_proc(tgid: u32) -> Option<ProcContext> {
        use std::os::unix::ffi::OsStrExt;
        let dir = format!("/proc/{tgid}");
        let raw = std::fs::read(format!("{dir}/cmdline")).ok()?;
        let cmdline = split_argv(&raw);
        let link = |name: &str| {
            std::fs::read_link(format!("{dir}/{name}"))
                .ok()
                .map(|p| p.as_os_str().as_bytes().to_vec())
        };
        Some(ProcContext::new(link("exe"), link("cwd"), cmdline, false))
    }
}

/// Hasher for `ProcKey`: a multiply-rotate mix (as in rustc's FxHash). Keys come from the kernel (pids,
/// start times, mm addresses), not from an adversary, so SipHash's flood resistance buys nothing here and
/// it cost ~10% of the per-event user-space time.
#[derive(Default)]
pub struct KeyHasher(u64);

impl KeyHasher {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
}

/// Bounded cache of process contexts; cleared wholesale when full (misses refill from the kernel).
pub struct ProcCache {
    map: HashMap<ProcKey, ProcContext, BuildHasherDefault<KeyHasher>>,
    cap: usize,
}

impl ProcCache {
    pub fn new(cap: usize) -> ProcCache {
        ProcCache {
            map: HashMap::default(),
            cap,
        }
    }

    pub fn get(&self, key: &ProcKey) -> Option<&ProcContext> {
        self.map.get(key)
    }

    pub fn insert(&mut self, key: ProcKey, ctx: ProcContext) {
        if self.map.len() >= self.cap {
            self.map.clear();
        }
        self.map.insert(key, ctx);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

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
        out.extend_from_slice(c);
    }
    if !leaf.is_empty() || out.is_empty() {
        if !(truncated && out.is_empty()) {
            out.push(b'/');
        }
        out.extend_from_slice(leaf);
    }
    leaf
}

/// What decoding a record yields besides the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub key: ProcKey,
    /// The record carried the process context (first event of this image).
    pub had_context: bool,
}

/// Decode `data` into `ev` in place (its buffers are reused, so steady state does not allocate).
/// Process context fields are filled from the record when present, and inserted into `cache`; otherwise
/// from `cache`; on a miss they are left empty and the caller decides (see `Monitor`).
pub fn decode_into(
    data: &[u8],
    cpu: u32,
    ev: &mut Event,
    cache: &mut ProcCache,
    path_buf: &mut Vec<u8>,
) -> Result<Decoded, RecordError> {
    if data.len() < HEADER_LEN {
        return Err(RecordError::Short(data.len()));
    }
    let version = u16_at(data, OFF_VERSION);
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let flags = u16_at(data, OFF_FLAGS);
    let lens =
        [OFF_PATH_LEN, OFF_EXE_LEN, OFF_CWD_LEN, OFF_ARGV_LEN].map(|o| u16_at(data, o) as usize);
    let body = &data[HEADER_LEN..];
    let declared: usize = lens.iter().sum();
    if declared > body.len() {
        return Err(RecordError::Lengths {
            declared,
            have: body.len(),
        });
    }
    ev.mono_ns = u64_at(data, OFF_MONO_NS);
    ev.cpu = cpu;
    let p = &mut ev.process;
    p.pid = u32_at(data, OFF_TGID);
    p.tid = u32_at(data, OFF_TID);
    p.ppid = u32_at(data, OFF_PPID);
    p.uid = u32_at(data, OFF_UID);
    p.gid = u32_at(data, OFF_GID);
    let comm = &data[OFF_COMM as usize..OFF_COMM as usize + 16];
    p.comm.clear();
    p.comm
        .extend_from_slice(comm.split(|&b| b == 0).next().unwrap_or(&[]));

    let f = &mut ev.file;
    let dev = u32_at(data, OFF_DEV);
    f.dev_major = dev >> 20;
    f.dev_minor = dev & 0xfffff;
    f.bytes_written = u64_at(data, OFF_BYTES);
    f.inode = u64_at(data, OFF_INO);
    f.truncated = flags & F_TRUNCATED != 0;
    f.deleted = flags & F_DELETED != 0;
    let (path, rest) = body.split_at(lens[0]);
    let leaf = join_components(path, f.truncated, &mut f.path);
    f.name.clear();
    f.name.extend_from_slice(leaf);

    let key = ProcKey {
        tgid: p.pid,
        start_time: u64_at(data, OFF_START_TIME),
        mm: u64_at(data, OFF_MM),
    };
    let had_context = flags & F_HAS_PROC != 0;
    if had_context {
        let (exe, rest) = rest.split_at(lens[1]);
        let (cwd, rest) = rest.split_at(lens[2]);
        let argv = &rest[..lens[3]];
        let path_of = |d: &[u8], trunc: bool, buf: &mut Vec<u8>| {
            if d.is_empty() {
                None
            } else {
                join_components(d, trunc, buf);
                Some(buf.clone())
            }
        };
        let exe = path_of(exe, flags & F_EXE_TRUNCATED != 0, path_buf);
        // A complete walk with no component ended at the root: the cwd is "/" (an exe file never is).
        let cwd = if cwd.is_empty() && flags & F_CWD_TRUNCATED == 0 {
            Some(b"/".to_vec())
        } else {
            path_of(cwd, flags & F_CWD_TRUNCATED != 0, path_buf)
        };
        let mut cmdline = split_argv(argv);
        if flags & F_ARGV_FAULT != 0 && cmdline.is_empty() {
            // The kernel could not read argv (paged out): /proc still has it while the process lives.
            if let Some(ctx) = ProcContext::from_proc(key.tgid) {
                cmdline = ctx.cmdline;
            }
        }
        cache.insert(
            key,
            ProcContext::new(exe, cwd, cmdline, flags & F_ARGV_TRUNCATED != 0),
        );
    }
    fill_context(ev, cache.get(&key));
    Ok(Decoded { key, had_context })
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
                        v.extend_from_slice(arg);
                    }
                    None => p.cmdline.push(arg.clone()),
                }
            }
            p.cmdline_truncated = c.cmdline_truncated;
        }
        None => {
            p.exe_path = None;
            p.cwd = None;
            p.cmdline.clear();
            p.cmdline_truncated = false;
        }
    }
}

fn copy_opt(dst: &mut Option<Vec<u8>>, src: &Option<Vec<u8>>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => {
            d.clear();
            d.extend_from_slice(s);
        }
        (_, s) => *dst = s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the kernel programs build it.
    pub(crate) fn record(
        flags: u16,
        path: &[&str],
        exe: &[&str],
        cwd: &[&str],
        argv: &[u8],
    ) -> Vec<u8> {
        let comps = |c: &[&str]| {
            c.iter()
                .flat_map(|s| s.bytes().chain([0]))
                .collect::<Vec<u8>>()
        };
        let (p, e, c) = (comps(path), comps(exe), comps(cwd));
        let mut d = vec![0u8; HEADER_LEN];
        let put = |d: &mut Vec<u8>, off: i16, b: &[u8]| {
            d[off as usize..off as usize + b.len()].copy_from_slice(b)
        };
        put(&mut d, OFF_VERSION, &VERSION.to_ne_bytes());
        put(&mut d, OFF_FLAGS, &flags.to_ne_bytes());
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
        put(&mut d, OFF_PATH_LEN, &(p.len() as u16).to_ne_bytes());
        put(&mut d, OFF_EXE_LEN, &(e.len() as u16).to_ne_bytes());
        put(&mut d, OFF_CWD_LEN, &(c.len() as u16).to_ne_bytes());
        put(&mut d, OFF_ARGV_LEN, &(argv.len() as u16).to_ne_bytes());
        d.extend_from_slice(&p);
        d.extend_from_slice(&e);
        d.extend_from_slice(&c);
        d.extend_from_slice(argv);
        d.extend_from_slice(&[0; 5]); // perf pads raw samples
        d
    }

    #[test]
    fn first_event_carries_context_and_later_ones_use_the_cache() {
        let mut cache = ProcCache::new(16);
        let mut ev = Event::default();
        let mut buf = Vec::new();
        let r = record(
            F_HAS_PROC,
            &["app.log", "log", "var"],
            &["python3.11", "bin", "usr"],
            &["srv"],
            b"python3\0tools/job.py\0-v\0",
        );
        let d = decode_into(&r, 1, &mut ev, &mut cache, &mut buf).unwrap();
        assert!(d.had_context);
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
            cache.get(&d.key).unwrap().script.as_deref(),
            Some(&b"/srv/tools/job.py"[..])
        );

        let r2 = record(F_DELETED, &["b.txt", "tmp"], &[], &[], b"");
        let mut ev2 = Event::default();
        let d2 = decode_into(&r2, 0, &mut ev2, &mut cache, &mut buf).unwrap();
        assert!(!d2.had_context);
        assert!(ev2.file.deleted);
        assert_eq!(ev2.file.path, b"/tmp/b.txt");
        assert_eq!(ev2.process.cmdline.len(), 3, "served from the cache");
    }

    #[test]
    fn a_cwd_walk_without_components_is_the_root() {
        let mut cache = ProcCache::new(16);
        let (mut ev, mut buf) = (Event::default(), Vec::new());
        let r = record(F_HAS_PROC, &["a.txt"], &["busybox", "bin"], &[], b"sh\0");
        decode_into(&r, 0, &mut ev, &mut cache, &mut buf).unwrap();
        assert_eq!(ev.process.cwd.as_deref(), Some(&b"/"[..]));
        let r = record(
            F_HAS_PROC | F_CWD_TRUNCATED,
            &["a.txt"],
            &["busybox", "bin"],
            &[],
            b"sh\0",
        );
        let mut cache = ProcCache::new(16);
        decode_into(&r, 0, &mut ev, &mut cache, &mut buf).unwrap();
        assert_eq!(ev.process.cwd, None, "nothing read is not the root");
    }

    #[test]
    fn a_new_image_of_the_same_pid_is_not_served_the_old_context() {
        let mut cache = ProcCache::new(16);
        let mut ev = Event::default();
        let mut buf = Vec::new();
        let r = record(
            F_HAS_PROC,
            &["a.txt"],
            &["bash", "bin"],
            &["/"],
            b"bash\0run.sh\0",
        );
        decode_into(&r, 0, &mut ev, &mut cache, &mut buf).unwrap();
        let mut r2 = record(0, &["a.txt"], &[], &[], b"");
        r2[OFF_MM as usize] ^= 0x40; // exec: new mm
        decode_into(&r2, 0, &mut ev, &mut cache, &mut buf).unwrap();
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
    fn malformed_records_are_errors_not_panics() {
        let mut cache = ProcCache::new(4);
        let mut ev = Event::default();
        let mut buf = Vec::new();
        assert_eq!(
            decode_into(&[0; 10], 0, &mut ev, &mut cache, &mut buf),
            Err(RecordError::Short(10))
        );
        let mut r = record(0, &["a.txt"], &[], &[], b"");
        r[0] = 9;
        assert!(matches!(
            decode_into(&r, 0, &mut ev, &mut cache, &mut buf),
            Err(RecordError::Version(_))
        ));
        let mut r = record(F_HAS_PROC, &["a.txt"], &[], &[], b"x\0");
        r[OFF_ARGV_LEN as usize] = 0xff;
        r[OFF_ARGV_LEN as usize + 1] = 0x7f;
        assert!(matches!(
            decode_into(&r, 0, &mut ev, &mut cache, &mut buf),
            Err(RecordError::Lengths { .. })
        ));
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
            let _ = decode_into(&r, 0, &mut ev, &mut cache, &mut buf);
        }
    }
}
