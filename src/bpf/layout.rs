//! The raw event record the BPF programs send through the perf buffer, shared by the code generator and
//! the user-space decoder so the two cannot drift apart.
//!
//! A fixed header, then variable data: the written file's path components (leaf first, each NUL-terminated),
//! then — only on the first event of a process image — the executable's and the cwd's components and the raw
//! argv (NUL-separated, as in `mm->arg_start..arg_end`).

pub const VERSION: u16 = 1;

// Header field offsets.
pub const OFF_VERSION: i16 = 0; // u16
pub const OFF_FLAGS: i16 = 2; // u16
/// Write cursor into the data area while the programs build a record (meaningless to readers). Kept in
/// memory, not in a register, so the verifier sees one unknown value and prunes the unrolled loops.
pub const OFF_CURSOR: i16 = 4; // u32
pub const OFF_MONO_NS: i16 = 8; // u64
pub const OFF_TGID: i16 = 16; // u32
pub const OFF_TID: i16 = 20; // u32
pub const OFF_PPID: i16 = 24; // u32
pub const OFF_UID: i16 = 28; // u32
pub const OFF_GID: i16 = 32; // u32
pub const OFF_DEV: i16 = 36; // u32, kernel dev_t (major << 20 | minor)
pub const OFF_BYTES: i16 = 40; // u64
pub const OFF_INO: i16 = 48; // u64
pub const OFF_START_TIME: i16 = 56; // u64, group leader's start time (ns)
pub const OFF_MM: i16 = 64; // u64, mm_struct address: identifies the exec image
pub const OFF_COMM: i16 = 72; // [u8; 16]
pub const OFF_PATH_LEN: i16 = 88; // u16
pub const OFF_EXE_LEN: i16 = 90; // u16
pub const OFF_CWD_LEN: i16 = 92; // u16
pub const OFF_ARGV_LEN: i16 = 94; // u16
pub const HEADER_LEN: usize = 96;

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

/// Data area: offsets into it are masked with `DATA_MASK` so the verifier can bound every write.
pub const DATA_MASK: i32 = 0x3fff;
/// Longest single path walk (bytes) and its component bound, as the issue and `PATH_MAX` ask.
pub const PATH_MAX: i32 = 4096;
pub const MAX_COMPONENTS: usize = 64;
/// One component read: `NAME_MAX` + NUL.
pub const NAME_READ: i32 = 256;
/// Longest argv copied (bytes).
pub const ARGV_MAX: i32 = 2047;
/// Size of the per-CPU scratch value: header + masked data area + slack for the last bounded read.
pub const SCRATCH_SIZE: u32 = HEADER_LEN as u32 + DATA_MASK as u32 + 1 + ARGV_MAX as u32 + 1;

// Indices of the per-CPU counters in the `stats` map.
pub const STAT_EVENTS: u32 = 0;
pub const STAT_FILTERED: u32 = 1;
pub const STAT_FAILED: u32 = 2;
pub const STAT_OUTPUT_ERR: u32 = 3;
pub const STAT_COUNT: u32 = 4;

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
