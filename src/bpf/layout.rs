//! The raw event record the BPF programs send through the perf buffer, shared by the code generator and
//! the user-space decoder so the two cannot drift apart.
//!
//! A fixed header, then variable data in the order of `Section`: the operation's path (a kernel walk's
//! components, leaf first, each NUL-terminated), the user string it named (for syscalls that take a
//! path: relative to the walked directory unless it starts with `/`), the same two for a second path
//! (a rename's source, a link's existing file, a symlink's target text), then — only on the first event
//! of a process image — the executable's and the cwd's components and the raw argv (NUL-separated, as
//! in `mm->arg_start..arg_end`), the `Ids` section, and last the `Data` section of a tracked open
//! (`OpenData`: the handle of the open file and, on its close, its totals).

pub const VERSION: u16 = 2;

/// The record header as the programs write it. Only its offsets are used (the programs store fields one
/// by one, the decoder reads them by offset), so both sides agree by construction.
#[repr(C)]
pub struct Header {
    pub version: u16,
    pub flags: u16,
    /// Write cursor into the data area while the programs build a record (meaningless to readers).
    /// Kept in memory, not in a register, so the verifier sees one unknown value and prunes the
    /// unrolled loops.
    pub cursor: u32,
    pub mono_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Kernel dev_t (major << 20 | minor).
    pub dev: u32,
    /// The operation's quantity: bytes written, a truncate's new size, a mapping's length.
    pub bytes: u64,
    pub ino: u64,
    /// Group leader's start time (ns).
    pub start_time: u64,
    /// mm_struct address: identifies the exec image.
    pub mm: u64,
    pub comm: [u8; 16],
    /// Which event kind (`kinds::Op` as u16).
    pub kind: u16,
    /// How it happened: the hook's index in the kind's table (e.g. which syscall).
    pub via: u16,
    /// Operation arguments: chmod's mode, chown's uid, a create's mode, fallocate's mode, mmap's prot.
    pub arg0: u32,
    /// chown's gid, rename's flags, mmap's flags.
    pub arg1: u32,
    /// The length of the `Data` section, the ninth: apart from `lens` so that adding it moved no
    /// field (the programs of the other kinds are what they were).
    pub data_len: u16,
    pub spare: u16,
    /// Section lengths, `Section` order, but for `Data` (`data_len`).
    pub lens: [u16; 8],
}

macro_rules! offsets {
    ($($name:ident = $field:ident;)*) => {
        $(pub const $name: i16 = std::mem::offset_of!(Header, $field) as i16;)*
    };
}

offsets! {
    OFF_VERSION = version;
    OFF_FLAGS = flags;
    OFF_CURSOR = cursor;
    OFF_MONO_NS = mono_ns;
    OFF_TGID = tgid;
    OFF_TID = tid;
    OFF_PPID = ppid;
    OFF_UID = uid;
    OFF_GID = gid;
    OFF_DEV = dev;
    OFF_BYTES = bytes;
    OFF_INO = ino;
    OFF_START_TIME = start_time;
    OFF_MM = mm;
    OFF_COMM = comm;
    OFF_KIND = kind;
    OFF_VIA = via;
    OFF_ARG0 = arg0;
    OFF_ARG1 = arg1;
    OFF_DATA_LEN = data_len;
    OFF_LENS = lens;
}
pub const HEADER_LEN: usize = std::mem::size_of::<Header>();

/// The variable-length sections, in the order they follow the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Section {
    Path = 0,
    PathUser = 1,
    Path2 = 2,
    Path2User = 3,
    Exe = 4,
    Cwd = 5,
    Argv = 6,
    /// `Ids`, with the context: the identity of the process beyond its pid.
    Ids = 7,
    /// `OpenData`: a tracked open's handle (`open` with `F_TRACKED`) and its totals (`close`).
    Data = 8,
}
pub const SECTIONS: usize = 9;

impl Section {
    pub const ALL: [Section; SECTIONS] = [
        Section::Path,
        Section::PathUser,
        Section::Path2,
        Section::Path2User,
        Section::Exe,
        Section::Cwd,
        Section::Argv,
        Section::Ids,
        Section::Data,
    ];

    /// Header offset of this section's u16 length.
    pub const fn len_off(self) -> i16 {
        match self {
            Section::Data => OFF_DATA_LEN,
            s => OFF_LENS + 2 * s as i16,
        }
    }
}

/// The `Data` section: the open file's handle in the kernel (its `struct file *`, the key of the
/// `opens` map; never printed) and, on a `close`, the totals of that open. A tracked `open` sends the
/// handle alone (`OPEN_DATA_HANDLE_LEN` bytes).
#[repr(C)]
pub struct OpenData {
    pub handle: u64,
    pub reads: u64,
    pub bytes_read: u64,
    pub writes: u64,
    pub bytes_written: u64,
}
pub const OPEN_DATA_LEN: usize = std::mem::size_of::<OpenData>();
pub const OPEN_DATA_HANDLE_LEN: usize = 8;

/// Value of the `opens` map (key: the `struct file *`): who opened the file, and the totals of the
/// reads and writes through it, added atomically by the data programs.
#[repr(C)]
pub struct OpenEntry {
    pub tgid: u32,
    pub spare: u32,
    /// The opener's process start time: with `tgid`, which process opened it.
    pub start_time: u64,
    /// The file's `struct inode *` at the open: a `struct file` freed unseen (closed by exec on the
    /// tracepoint path) whose memory now holds another file's is not that open.
    pub inode: u64,
    pub reads: u64,
    pub bytes_read: u64,
    pub writes: u64,
    pub bytes_written: u64,
}

macro_rules! open_offsets {
    ($($name:ident = $field:ident;)*) => {
        $(pub const $name: i16 = std::mem::offset_of!(OpenEntry, $field) as i16;)*
    };
}

open_offsets! {
    OPEN_TGID = tgid;
    OPEN_START_TIME = start_time;
    OPEN_INODE = inode;
    OPEN_READS = reads;
    OPEN_BYTES_READ = bytes_read;
    OPEN_WRITES = writes;
    OPEN_BYTES_WRITTEN = bytes_written;
}
pub const OPEN_ENTRY_LEN: usize = std::mem::size_of::<OpenEntry>();

/// Most ancestors recorded (parent first).
pub const MAX_ANCESTORS: usize = 8;
/// Bytes kept of a cgroup directory's name.
pub const CGROUP_NAME: usize = 128;

/// One ancestor: its tgid and comm.
#[repr(C)]
pub struct Ancestor {
    pub tgid: u32,
    pub comm: [u8; 16],
}

/// The `Ids` section, sent with the process context: who the process is beyond its pid.
#[repr(C)]
pub struct Ids {
    pub euid: u32,
    pub egid: u32,
    /// The audit login uid (u32::MAX: unset) and session id (u32::MAX: unset), where the kernel has
    /// them (CONFIG_AUDIT).
    pub auid: u32,
    pub session: u32,
    /// The default-hierarchy (v2) cgroup's id.
    pub cgroup_id: u64,
    /// The parent's process start time, for its entity id and cache key.
    pub parent_start: u64,
    pub ancestor_count: u32,
    pub ancestors: [Ancestor; MAX_ANCESTORS],
    /// The names of the task's default-hierarchy cgroup directory and of its parent (NUL-padded).
    pub cgroup_leaf: [u8; CGROUP_NAME],
    pub cgroup_parent: [u8; CGROUP_NAME],
}

macro_rules! ids_offsets {
    ($($name:ident = $field:ident;)*) => {
        $(pub const $name: i16 = std::mem::offset_of!(Ids, $field) as i16;)*
    };
}

ids_offsets! {
    IDS_EUID = euid;
    IDS_EGID = egid;
    IDS_AUID = auid;
    IDS_SESSION = session;
    IDS_CGROUP_ID = cgroup_id;
    IDS_PARENT_START = parent_start;
    IDS_ANCESTOR_COUNT = ancestor_count;
    IDS_ANCESTORS = ancestors;
    IDS_CGROUP_LEAF = cgroup_leaf;
    IDS_CGROUP_PARENT = cgroup_parent;
}
pub const IDS_LEN: usize = std::mem::size_of::<Ids>();
pub const ANCESTOR_LEN: i16 = std::mem::size_of::<Ancestor>() as i16;

// Flags.
pub const F_TRUNCATED: u16 = 1;
pub const F_DELETED: u16 = 2;
/// exe, cwd and argv follow the path: the first event of this process image.
pub const F_HAS_PROC: u16 = 4;
pub const F_ARGV_TRUNCATED: u16 = 8;
pub const F_EXE_TRUNCATED: u16 = 16;
pub const F_CWD_TRUNCATED: u16 = 32;
/// argv could not be read (paged out, or the process is exiting).
pub const F_ARGV_FAULT: u16 = 64;
/// The second path's walk did not reach the root.
pub const F_PATH2_TRUNCATED: u16 = 128;
/// inode and dev are known (the operation's file was reached in the kernel, not only named).
pub const F_HAS_INODE: u16 = 256;
/// A user string could not be read whole (fault or longer than `PATH_MAX`).
pub const F_USER_FAULT: u16 = 512;
/// `fork`: the child is a thread of the parent's process.
pub const F_THREAD: u16 = 1024;
/// An `open` that created the file (`FMODE_CREATED`).
pub const F_CREATED: u16 = 2048;
/// An `open` tracked for its `close` (in `opens`): the `Data` section holds its handle. Sent even
/// when `open` is not reported, so that user space can end it when its process exits.
pub const F_TRACKED: u16 = 4096;
/// The kernel's path filter only: a directory of the path is one of its `dir_names` (set by the
/// walk, read by `path_filter`; user space ignores it).
pub const F_DIR_NAMED: u16 = 16384;

/// Data area: offsets into it are masked with `DATA_MASK` so the verifier can bound every write. Two
/// paths of `PATH_MAX` with their user strings, exe, cwd and argv fit.
pub const DATA_MASK: i32 = 0x7fff;
/// Longest single path walk (bytes) and its component bound, as the issue and `PATH_MAX` ask.
pub const PATH_MAX: i32 = 4096;
pub const MAX_COMPONENTS: usize = 64;
/// One component read: `NAME_MAX` + NUL.
pub const NAME_READ: i32 = 256;
/// Longest argv copied (bytes).
pub const ARGV_MAX: i32 = 2047;
/// Size of each CPU's scratch record: header + masked data area + slack for the last bounded read.
pub const SCRATCH_SIZE: u32 = HEADER_LEN as u32 + DATA_MASK as u32 + 1 + PATH_MAX as u32;

// Indices of the per-CPU counters in the `stats` map.
pub const STAT_EVENTS: u32 = 0;
pub const STAT_FILTERED: u32 = 1;
/// Writes (and other operations) that failed: not events.
pub const STAT_FAILED: u32 = 2;
pub const STAT_OUTPUT_ERR: u32 = 3;
/// Opens of watched files that could not be tracked for `close` (`opens` full), and tracked opens
/// found replaced by a new open of the same `struct file` (their close was not seen): each a `close`
/// event that will not come.
pub const STAT_UNTRACKED: u32 = 4;
/// Writes (reads) added to a merged entry in `merged` because the ring was full (delivered later).
pub const STAT_MERGED: u32 = 5;
/// Calls outside every `--path` prefix, dropped at their entry by the path precheck (not also in
/// `STAT_FILTERED`: user space adds the two).
pub const STAT_PATH_EARLY: u32 = 6;
pub const STAT_COUNT: u32 = 7;

/// `merged`'s key: the generation it was added in, the kind, and the (process image, file).
pub const MERGE_KEY_LEN: u32 = 40;
pub const MKEY_GEN: i16 = 0;
pub const MKEY_KIND: i16 = 4;
pub const MKEY_TGID: i16 = 8;
pub const MKEY_DEV: i16 = 12;
pub const MKEY_START_TIME: i16 = 16;
pub const MKEY_MM: i16 = 24;
pub const MKEY_INO: i16 = 32;
/// `merged`'s value: the first record that did not fit the ring (header and the `Path` section;
/// the rest of it is not kept), then the merged counts: calls, bytes and the last call's time
/// (the first's is the record's).
pub const MERGE_RECORD_LEN: i16 = HEADER_LEN as i16 + PATH_MAX as i16;
pub const MVAL_COUNT: i16 = MERGE_RECORD_LEN;
pub const MVAL_BYTES: i16 = MERGE_RECORD_LEN + 8;
pub const MVAL_LAST_NS: i16 = MERGE_RECORD_LEN + 16;
pub const MERGE_VALUE_LEN: u32 = MERGE_RECORD_LEN as u32 + 24;
/// The record flag of a merged event, whose `Data` section is `MergedData`.
pub const F_MERGED: u16 = 8192;
/// The `Data` section of a merged record (built by user space from `merged`'s value).
pub const MERGED_DATA_LEN: usize = 16;

/// Map key of an extension: the bytes after the last dot folded big-endian into a u128
/// (`k = k << 8 | byte`), stored as two little-endian u64 halves (low first). Names hold no NUL, so
/// distinct extensions of up to 16 bytes give distinct keys.
pub fn ext_key(ext: &[u8]) -> Option<[u8; 16]> {
    if ext.is_empty() || ext.len() > 16 {
        return None;
    }
    let v = ext.iter().fold(0u128, |k, &b| (k << 8) | b as u128);
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&(v as u64).to_le_bytes());
    key[8..].copy_from_slice(&((v >> 64) as u64).to_le_bytes());
    Some(key)
}
