//! The code generator's shared emitters: every kind's programs are built from these, so filters, the
//! record header, the process context, the path walk and the submit exist once.
//!
//! Register conventions inside the emitters: r6 = program context, r7 = the record being built (the
//! per-CPU scratch value), r8 = a `struct file *` where one is involved. Labels come from `fresh`, which
//! numbers them, so shared code emitted twice into one program never collides; the walk subprogram's
//! labels are fixed and emitted once per program.

use super::layout::*;
use crate::offsets::KernelOffsets;
use bpfasm::{Asm, AsmError, AtomicOp, Cond, Helper, Program, Reg, Reg::*, Size, F_CURRENT_CPU};

/// Map names shared with the loader.
pub const MAP_EVENTS: &str = "events";
pub const MAP_SCRATCH: &str = "scratch";
pub const MAP_INFLIGHT: &str = "inflight";
/// Per thread, the path strings of a syscall as read at its entry (`NAMES_VALUE` bytes).
pub const MAP_NAMES: &str = "names";
/// Value of `names`: up to two NUL-terminated strings of at most `PATH_MAX` bytes.
pub const NAMES_VALUE: u32 = 2 * PATH_MAX as u32;
/// `inflight` of the read programs: a copy is both a write and a read of one thread at once.
pub const MAP_INFLIGHT_READ: &str = "inflight_read";
/// How many entries `inflight` and `inflight_read` hold (two u64, in one array element): an exit
/// program finds nothing to do without a lookup while its count is 0, as for every filtered call.
pub const MAP_INFLIGHT_N: &str = "inflight_n";
/// Writes and reads that did not fit the ring, merged by (process image, file) until user space
/// takes them (`layout::MERGE_*`); keys carry the generation in `merge_gen` they were added in.
pub const MAP_MERGED: &str = "merged";
pub const MAP_MERGE_GEN: &str = "merge_gen";
pub const MAP_ARGS: &str = "args";
pub const MAP_VFS: &str = "vfs_args";
pub const MAP_SEEN: &str = "seen";
pub const MAP_EXTS: &str = "exts";
pub const MAP_PIDS: &str = "pids";
pub const MAP_UIDS: &str = "uids";
pub const MAP_COMMS: &str = "comms";
pub const MAP_STATS: &str = "stats";
/// Tracked opens (`close`): `struct file *` → `layout::OpenEntry`.
pub const MAP_OPENS: &str = "opens";
/// The registry of running monitors (`crate::monitors`): host tgid → start time.
pub const MAP_MONITORS: &str = "monitors";

/// What the kernel-side filters do, fixed when the programs are generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// filespy's own process: never reported, so its output cannot feed on itself.
    pub self_tgid: u32,
    /// No extension filter.
    pub all_files: bool,
    /// The extensions watched (without the dot), also in the `exts` map.
    pub exts: Vec<Vec<u8>>,
    pub filter_pids: bool,
    pub filter_uids: bool,
    pub filter_comms: bool,
    /// `--path` prefixes as the walk writes them (`path_suffix`); empty: no path filter in the kernel.
    pub paths: Vec<Vec<u8>>,
    /// File-name suffixes that also pass the path filter (the rules' `suffix:` matches, `--alerts`).
    pub names: Vec<NameSuffix>,
    /// Directory names that also pass the path filter: some component before the leaf is one (the
    /// rules' `/**/secrets/**`, `--alerts`); tested during the walk (`walk_subprogram`).
    pub dir_names: Vec<Vec<u8>>,
    /// `close` is watched: opens of watched files are tracked in `opens`, the data programs add
    /// their reads and writes to them.
    pub track_opens: bool,
    /// Writes and reads that find the ring full are merged into `merged` (else lost and counted).
    pub merge: bool,
}

/// A rule's `suffix:` as the kernel tests it on the file's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameSuffix {
    /// The name ends with this (`suffix:.env`).
    Ends(Vec<u8>),
    /// The name is this (`suffix:/credentials.json`).
    Whole(Vec<u8>),
}

impl NameSuffix {
    /// A `suffix:` pattern's kernel form: none for one that reaches past the name (`/a/b`), or an empty
    /// or overlong one.
    pub fn of(suffix: &str) -> Option<NameSuffix> {
        let s = suffix.as_bytes();
        let (whole, text) = match s.strip_prefix(b"/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if text.is_empty() || text.len() > 255 || text.contains(&b'/') {
            return None;
        }
        Some(match whole {
            true => NameSuffix::Whole(text.to_vec()),
            false => NameSuffix::Ends(text.to_vec()),
        })
    }

    fn text(&self) -> &[u8] {
        match self {
            NameSuffix::Ends(t) | NameSuffix::Whole(t) => t,
        }
    }
}

/// `BPF_NOEXIST` and the error of an update that finds the key.
pub const BPF_NOEXIST: i32 = 1;
pub const EEXIST: i32 = 17;

/// Are `exts` few and short enough for `extension_compare` (a dotted one never matches: the
/// extension is the text after the last dot, so it is left out)?
fn compared_exts(exts: &[Vec<u8>]) -> bool {
    exts.len() <= 16 && exts.iter().all(|e| e.len() <= 15)
}

/// Longest `--path` prefix, and most bytes of them together, that the kernel tests (each byte costs
/// about one instruction); beyond either, `--path` is applied in user space only.
pub const KERNEL_PATH_MAX: usize = 512;
pub const KERNEL_PATHS_TOTAL: usize = 4096;

/// Most directory names, and most bytes of them together, that the walk tests (`dir_names_fit`): each costs a
/// compare on every component walked and code in each of the walk's `MAX_COMPONENTS` steps.
pub const KERNEL_DIR_NAMES: usize = 8;
pub const KERNEL_DIR_NAMES_TOTAL: usize = 64;

/// Can the walk test these directory names? Beyond the limits, or an empty name or one with a `/`
/// (no component is), the path filter is left to user space.
pub fn dir_names_fit(names: &[Vec<u8>]) -> bool {
    names.len() <= KERNEL_DIR_NAMES
        && names.iter().map(Vec::len).sum::<usize>() <= KERNEL_DIR_NAMES_TOTAL
        && names.iter().all(|n| !n.is_empty() && !n.contains(&b'/'))
}

/// A `--path` prefix (absolute, normal form) as the end of a walk's output: the path walk writes
/// components leaf first, each NUL-terminated, so the files under `/a/b` are the walks that end in
/// `b\0a\0` at a component boundary. None for `/` (everything is under it).
pub fn path_suffix(prefix: &[u8]) -> Option<Vec<u8>> {
    let comps: Vec<&[u8]> = prefix
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if comps.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(prefix.len() + 1);
    for c in comps.iter().rev() {
        out.extend_from_slice(c);
        out.push(0);
    }
    Some(out)
}

/// The kernel filters for `--path PREFIX…`: the suffixes to test, or empty when the kernel cannot
/// test them (a prefix `/`, or too many bytes) and user space alone filters.
pub fn kernel_paths(prefixes: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let suffixes: Option<Vec<Vec<u8>>> = prefixes.iter().map(|p| path_suffix(p)).collect();
    match suffixes {
        Some(s)
            if s.iter().all(|x| x.len() <= KERNEL_PATH_MAX)
                && s.iter().map(Vec::len).sum::<usize>() <= KERNEL_PATHS_TOTAL =>
        {
            s
        }
        _ => Vec::new(),
    }
}

impl FilterConfig {
    /// Does `process_filter` ever jump to its `filtered` label?
    /// Does `path_filter` emit nothing?
    pub fn no_path_filter(&self) -> bool {
        self.paths.is_empty() && self.names.is_empty() && self.dir_names.is_empty()
    }

    pub fn filters_process(&self) -> bool {
        self.filter_pids || self.filter_uids || self.filter_comms
    }
}

// Stack slots of the main programs (offsets from r10).
pub const S_KEY: i16 = -8; // u64 pid_tgid: key of `inflight` and `args`
pub const S_TMP: i16 = -16; // target of probe reads
pub const S_VAL: i16 = -24; // map values and u32 keys
pub const S_COMM: i16 = -40; // 16 bytes
pub const S_TAIL: i16 = -64; // 24 bytes: the end of a file name
pub const S_EXT: i16 = -80; // 16 bytes: extension key
pub const S_SEEN: i16 = -96; // 16 bytes: value of `seen`
pub const S_ZERO: i16 = -104; // u32 0 / counter index
pub const S_PTR: i16 = -112; // a saved kernel pointer
pub const S_PTR2: i16 = -120; // another saved kernel pointer
/// A syscall's saved arguments (`ARGS_VALUE` bytes), copied out of the `args` map.
pub const S_ARGS: i16 = -184;
/// This thread's `names` value (0: none), in the exit programs of the path-named syscalls.
pub const S_NAMES: i16 = -192;
/// Value of `args`: six syscall arguments and the tag of the hook that saved them.
pub const ARGS_VALUE: u32 = 56;
pub const ARGS_TAG: i16 = 48;
/// The key of `merged` (`MERGE_KEY_LEN` bytes).
pub const S_MKEY: i16 = -296;
/// A tracked open: the key of `opens` (a `struct file *`) and its value (`OPEN_ENTRY_LEN` bytes).
pub const S_OPEN_KEY: i16 = -192;
pub const S_OPEN_VALUE: i16 = -248;

// Stack slots of the path-walk subprogram (its own frame).
const W_TMP: i16 = -8;
const W_ROOT: i16 = -16; // dentry at which the current mount's tree starts
const W_NEXT: i16 = -24; // next dentry / mount
const W_START: i16 = -32; // cursor at the walk's start

pub const S_IFMT: i32 = 0o170000;
pub const S_IFREG: i32 = 0o100000;

/// How much of the process context a program sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// exe, cwd, argv and ids on the first event of each process image (`seen`).
    FirstOfImage,
    /// Always (an exec: the image is new).
    Always,
    /// Only the task's key fields (an exit: the mm is gone).
    TaskOnly,
}

/// A code generator: an `Asm` plus the offsets and a counter for unique labels.
pub struct Gen<'a> {
    pub a: Asm,
    pub k: &'a KernelOffsets,
    next_label: usize,
}

impl<'a> Gen<'a> {
    pub fn new(k: &'a KernelOffsets) -> Self {
        Gen {
            a: Asm::new(),
            k,
            next_label: 0,
        }
    }

    pub fn finish(self) -> Result<Program, AsmError> {
        self.a.finish()
    }

    /// A label no other `fresh` call of this program returns.
    pub fn fresh(&mut self, what: &str) -> String {
        self.next_label += 1;
        format!("{what}_{}", self.next_label)
    }

    /// `*(size *)(base + dst) = *(size *)(src + off)` via `bpf_probe_read_kernel` (faults give zeros).
    /// `src` is copied first, so it may be r1 or r2.
    pub fn read_kernel(&mut self, base: Reg, dst: i16, size: i32, src: Reg, off: i16) {
        self.a
            .mov64(R3, src)
            .add64(R3, off as i32)
            .mov64(R1, base)
            .add64(R1, dst as i32)
            .mov64(R2, size);
        self.a.call(Helper::PROBE_READ_KERNEL);
    }

    /// Read kernel memory at `src + off` into the stack slot `dst`.
    pub fn read_to_stack(&mut self, dst: i16, size: i32, src: Reg, off: i16) {
        self.read_kernel(R10, dst, size, src, off);
    }

    /// `dst = *(u64 *)(src + off)` read from kernel memory.
    pub fn read_u64(&mut self, dst: Reg, src: Reg, off: i16) {
        self.read_to_stack(S_TMP, 8, src, off);
        self.a.ldx(Size::DW, dst, R10, S_TMP);
    }

    /// Read kernel memory at `src + off` straight into the record at `ev_off` (r7 = record).
    pub fn read_to_event(&mut self, ev_off: i16, size: i32, src: Reg, off: i16) {
        self.read_kernel(R7, ev_off, size, src, off);
    }

    /// `dst = *(size *)(src + off)`: a direct load when `typed` (src is a pointer the verifier
    /// types, see `typed`), else through `bpf_probe_read_kernel`. `dst` may be `src`.
    pub fn load(&mut self, typed: bool, size: Size, dst: Reg, src: Reg, off: i16) {
        if typed {
            self.a.ldx(size, dst, src, off);
            return;
        }
        let bytes = match size {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        };
        self.read_to_stack(S_TMP, bytes, src, off);
        self.a.ldx(size, dst, R10, S_TMP);
    }

    /// `dst` = the current task: a typed pointer where the kernel has `bpf_get_current_task_btf`.
    pub fn current_task(&mut self, dst: Reg) {
        let helper = match self.k.typed.task() {
            true => Helper::GET_CURRENT_TASK_BTF,
            false => Helper::GET_CURRENT_TASK,
        };
        self.a.call(helper).mov64(dst, R0);
    }

    /// r8, a `struct file *` as a plain value (from the fd table, a map, a kprobe's argument), as a
    /// typed pointer where the kernel has `bpf_rdonly_cast` (the verifier turns the call into a move).
    /// Clobbers r0-r5.
    pub fn file_typed(&mut self) {
        if let Some(c) = self.k.typed.cast {
            self.a.mov64(R1, R8);
            self.cast_r1(R8, c.file);
        }
    }

    /// `dst = bpf_rdonly_cast(r1, btf_id)` (needs `typed.cast`). Clobbers r0-r5.
    pub(super) fn cast_r1(&mut self, dst: Reg, btf_id: i32) {
        let c = self.k.typed.cast.expect("cast_r1 needs bpf_rdonly_cast");
        self.a.mov64(R2, btf_id).call_kfunc(c.kfunc).mov64(dst, R0);
    }

    pub fn lookup(&mut self, map: &str, key_slot: i16) {
        self.a
            .ld_map_fd(R1, map)
            .mov64(R2, R10)
            .add64(R2, key_slot as i32);
        self.a.call(Helper::MAP_LOOKUP_ELEM);
    }

    /// `map[key_slot] = value_slot` (flags 0).
    pub fn update(&mut self, map: &str, key_slot: i16, value_slot: i16) {
        self.update_with(map, key_slot, value_slot, 0);
    }

    /// `map[key_slot] = value_slot` with `flags` (`BPF_NOEXIST`…); r0 = the helper's result.
    pub fn update_with(&mut self, map: &str, key_slot: i16, value_slot: i16, flags: i32) {
        self.a
            .ld_map_fd(R1, map)
            .mov64(R2, R10)
            .add64(R2, key_slot as i32);
        self.a
            .mov64(R3, R10)
            .add64(R3, value_slot as i32)
            .mov64(R4, flags)
            .call(Helper::MAP_UPDATE_ELEM);
    }

    /// `map[key_slot] = *ptr` (flags 0) for a value pointer in a register (a map value's memory).
    pub fn update_from(&mut self, map: &str, key_slot: i16, ptr: Reg) {
        self.a
            .mov64(R3, ptr)
            .ld_map_fd(R1, map)
            .mov64(R2, R10)
            .add64(R2, key_slot as i32)
            .mov64(R4, 0)
            .call(Helper::MAP_UPDATE_ELEM);
    }

    pub fn delete(&mut self, map: &str, key_slot: i16) {
        self.a
            .ld_map_fd(R1, map)
            .mov64(R2, R10)
            .add64(R2, key_slot as i32);
        self.a.call(Helper::MAP_DELETE_ELEM);
    }

    /// The current task's comm (16 bytes, zero-padded) at `base + off`.
    fn current_comm(&mut self, base: Reg, off: i16) {
        self.a
            .st(Size::DW, base, off, 0)
            .st(Size::DW, base, off + 8, 0);
        self.a
            .mov64(R1, base)
            .add64(R1, off as i32)
            .mov64(R2, 16)
            .call(Helper::GET_CURRENT_COMM);
    }

    /// This thread's entry in the per-thread `map` (pid_tgid at `S_KEY`, r6 = context): r0 = its value,
    /// or a jump to `out` when there is none. The start of every exit-side program.
    pub fn thread_entry(&mut self, map: &str, out: &str) {
        self.thread_entry_of(map, 0, out);
    }

    /// `thread_entry` with `kind` in the key's top byte (`kind_key`).
    pub fn thread_entry_of(&mut self, map: &str, kind: u8, out: &str) {
        self.a.mov64(R6, R1);
        self.a
            .call(Helper::GET_CURRENT_PID_TGID)
            .stx(Size::DW, R10, S_KEY, R0);
        if kind != 0 {
            self.kind_key(kind);
        }
        self.lookup(map, S_KEY);
        self.a.jmp(Cond::Eq, R0, 0, out);
    }

    /// `S_KEY` (pid_tgid) with `kind` in its top byte, which pids never reach: kinds that hook the
    /// same syscall (`create` and `open` both hook openat) keep per-thread entries of their own.
    pub fn kind_key(&mut self, kind: u8) {
        self.a
            .ldx(Size::DW, R1, R10, S_KEY)
            .lddw(R2, i64::from(kind) << 56)
            .or64(R1, R2)
            .stx(Size::DW, R10, S_KEY, R1);
    }

    /// Add one to per-CPU counter `idx`.
    pub fn count(&mut self, idx: u32) {
        let skip = self.fresh("count");
        self.a.st(Size::W, R10, S_ZERO, idx as i32);
        self.lookup(MAP_STATS, S_ZERO);
        self.a.jmp(Cond::Eq, R0, 0, &skip);
        self.a
            .ldx(Size::DW, R1, R0, 0)
            .add64(R1, 1)
            .stx(Size::DW, R0, 0, R1);
        self.a.label(&skip);
    }

    /// `record.flags |= flag` (r7 = record).
    pub fn set_flag(&mut self, flag: u16) {
        self.a
            .ldx(Size::H, R1, R7, OFF_FLAGS)
            .or64(R1, flag as i32)
            .stx(Size::H, R7, OFF_FLAGS, R1);
    }

    /// Process filters. Stores pid_tgid at `S_KEY`. Jumps to `out` for filespy itself, `filtered` when a
    /// configured pid/uid/comm filter does not match.
    pub fn process_filter(&mut self, cfg: &FilterConfig, out: &str, filtered: &str) {
        self.process_filter_of(cfg, out, filtered, false);
    }

    /// `process_filter`, with `--comm` compared to the thread group leader's comm when `leader_comm`:
    /// for programs that run in a process's kernel threads (io_uring's `iou-wrk-N`, `iou-sqp-N`) and
    /// report the leader's comm, so the filter sees the name the event shows. Costs two probe reads
    /// more than the current thread's comm; the other programs keep that.
    pub fn process_filter_of(
        &mut self,
        cfg: &FilterConfig,
        out: &str,
        filtered: &str,
        leader_comm: bool,
    ) {
        self.a
            .call(Helper::GET_CURRENT_PID_TGID)
            .stx(Size::DW, R10, S_KEY, R0);
        self.a.rsh64(R0, 32);
        self.a.jmp(Cond::Eq, R0, cfg.self_tgid as i32, out);
        if cfg.filter_pids {
            self.a.stx(Size::W, R10, S_VAL, R0);
            self.lookup(MAP_PIDS, S_VAL);
            self.a.jmp(Cond::Eq, R0, 0, filtered);
        }
        if cfg.filter_uids {
            self.a
                .call(Helper::GET_CURRENT_UID_GID)
                .stx(Size::W, R10, S_VAL, R0);
            self.lookup(MAP_UIDS, S_VAL);
            self.a.jmp(Cond::Eq, R0, 0, filtered);
        }
        if cfg.filter_comms && leader_comm {
            let k = self.k;
            self.a
                .st(Size::DW, R10, S_COMM, 0)
                .st(Size::DW, R10, S_COMM + 8, 0)
                .call(Helper::GET_CURRENT_TASK)
                .mov64(R9, R0);
            self.read_u64(R9, R9, k.task_group_leader);
            // As `bpf_get_current_comm`: up to the NUL, the rest of the key zeros.
            self.a
                .mov64(R3, R9)
                .add64(R3, k.task_comm as i32)
                .mov64(R1, R10)
                .add64(R1, S_COMM as i32)
                .mov64(R2, 16)
                .call(Helper::PROBE_READ_KERNEL_STR);
            self.lookup(MAP_COMMS, S_COMM);
            self.a.jmp(Cond::Eq, R0, 0, filtered);
        } else if cfg.filter_comms {
            self.current_comm(R10, S_COMM);
            self.lookup(MAP_COMMS, S_COMM);
            self.a.jmp(Cond::Eq, R0, 0, filtered);
        }
    }

    /// Jumps to `out` when the current process is a registered filespy monitor (this one or another):
    /// `monitors[tgid]` holds its start time, which a reused pid does not have. Needs pid_tgid at
    /// `S_KEY`; clobbers r0-r5 and r9.
    pub fn monitor_filter(&mut self, out: &str) {
        let k = self.k;
        let not = self.fresh("not_monitor");
        self.a
            .ldx(Size::DW, R1, R10, S_KEY)
            .rsh64(R1, 32)
            .stx(Size::W, R10, S_VAL, R1);
        self.lookup(MAP_MONITORS, S_VAL);
        self.a.jmp(Cond::Eq, R0, 0, &not).ldx(Size::DW, R9, R0, 0);
        let t = k.typed.task();
        self.current_task(R1);
        self.load(t, Size::DW, R1, R1, k.task_group_leader);
        self.load(t, Size::DW, R1, R1, k.task_start_time);
        self.a.jmp(Cond::Eq, R1, R9, out);
        self.a.label(&not);
    }

    /// r8 = the `struct file *` of the fd in r9 (u32) through `current->files->fdt->fd[fd]`; jumps to
    /// `out` when there is none. Clobbers r9 and r0-r5.
    /// With typed reads the file is a typed pointer (`file_typed`).
    pub fn fd_to_file(&mut self, out: &str) {
        let k = self.k;
        let t = k.typed.task();
        self.current_task(R8);
        self.load(t, Size::DW, R8, R8, k.task_files);
        self.a.jmp(Cond::Eq, R8, 0, out);
        self.load(t, Size::DW, R8, R8, k.files_fdt);
        self.a.jmp(Cond::Eq, R8, 0, out);
        self.load(t, Size::W, R1, R8, k.fdtable_max_fds);
        self.a.jmp(Cond::Ge, R9, R1, out);
        self.load(t, Size::DW, R8, R8, k.fdtable_fd);
        self.a.lsh64(R9, 3).add64(R8, R9);
        self.load(t && k.typed.untrusted_mem, Size::DW, R8, R8, 0);
        self.a.jmp(Cond::Eq, R8, 0, out);
        self.file_typed();
    }

    /// Jumps to `not` unless r8 = `struct file *` is a regular file. Clobbers r9.
    pub fn require_regular(&mut self, not: &str) {
        let k = self.k;
        let f = k.typed.file();
        self.load(f, Size::DW, R9, R8, k.file_f_inode);
        self.a.jmp(Cond::Eq, R9, 0, not);
        self.load(f, Size::H, R1, R9, k.inode_i_mode);
        self.a.and64(R1, S_IFMT).jmp(Cond::Ne, R1, S_IFREG, not);
    }

    /// File filters on r8 = `struct file *`: regular files only, then the extension (unless all files).
    pub fn file_filter(&mut self, cfg: &FilterConfig, filtered: &str) {
        let k = self.k;
        if !cfg.all_files && k.typed.file() && k.typed.untrusted_mem && compared_exts(&cfg.exts) {
            // The name first: most calls stop there, two loads sooner than at the inode's mode.
            self.extension_compare(&cfg.exts, filtered);
            self.require_regular(filtered);
            return;
        }
        self.require_regular(filtered);
        if cfg.all_files {
            return;
        }
        self.extension_key(filtered);
        self.lookup(MAP_EXTS, S_EXT);
        self.a.jmp(Cond::Eq, R0, 0, filtered);
    }

    /// The extension filter as compares of r8's name's last bytes with each `.EXT` (immediates):
    /// for a few short extensions, far cheaper than the scan and the `exts` lookup. The name's bytes
    /// load directly (needs typed reads with untrusted memory). Bytes before the name that the
    /// 8-byte loads may cover are never compared (a name shorter than `.EXT` does not match).
    fn extension_compare(&mut self, exts: &[Vec<u8>], filtered: &str) {
        let k = self.k;
        let matched = self.fresh("ext_matched");
        self.load(true, Size::DW, R7, R8, k.file_f_path_dentry);
        self.load(true, Size::W, R9, R7, k.dentry_d_name_len);
        self.load(true, Size::DW, R7, R7, k.dentry_d_name_name);
        // r2 = the name's last 8 bytes (little-endian: the last byte on top), r3 = the 8 before.
        self.a.add64(R7, R9).ldx(Size::DW, R2, R7, -8);
        if exts.iter().any(|e| e.len() + 1 > 8) {
            self.a.ldx(Size::DW, R3, R7, -16);
        }
        for e in exts {
            let next = self.fresh("ext_next");
            let mut pat = Vec::with_capacity(e.len() + 1);
            pat.push(b'.');
            pat.extend_from_slice(e);
            let m = pat.len();
            self.a.jmp(Cond::Lt, R9, m as i32, &next);
            let (high, low) = if m > 8 {
                pat.split_at(m - 8)
            } else {
                (&pat[..0], &pat[..])
            };
            // The last min(m, 8) bytes: the top bytes of r2.
            let le = |b: &[u8]| b.iter().rev().fold(0u64, |v, &c| (v << 8) | c as u64);
            self.a.mov64(R4, R2);
            if low.len() < 8 {
                self.a.rsh64(R4, 8 * (8 - low.len() as i32));
            }
            self.a.lddw(R5, le(low) as i64);
            if high.is_empty() {
                self.a.jmp(Cond::Eq, R4, R5, &matched);
            } else {
                self.a
                    .jmp(Cond::Ne, R4, R5, &next)
                    .mov64(R4, R3)
                    .rsh64(R4, 8 * (8 - high.len() as i32))
                    .lddw(R5, le(high) as i64)
                    .jmp(Cond::Eq, R4, R5, &matched);
            }
            self.a.label(&next);
        }
        self.a.ja(filtered);
        self.a.label(&matched);
    }

    /// The extension of r8's name as the key of `exts` at `S_EXT`; jumps to `none` when it has none
    /// (or one longer than 16 bytes).
    pub fn extension_key(&mut self, none: &str) {
        let k = self.k;
        let filtered = none;
        // The extension is the text after the last dot of the name; only its last 17 bytes matter (a dot
        // plus at most 16 bytes), so copy the name's tail to the stack and scan it with constant offsets.
        let f = k.typed.file();
        // With untrusted memory the name's bytes load directly; else they are copied to the stack.
        let direct = f && k.typed.untrusted_mem;
        self.load(f, Size::DW, R7, R8, k.file_f_path_dentry);
        self.load(f, Size::W, R9, R7, k.dentry_d_name_len);
        self.load(f, Size::DW, R7, R7, k.dentry_d_name_name);
        let short = self.fresh("short_name");
        let read = self.fresh("read_tail");
        self.a.jmp(Cond::Le, R9, 17, &short);
        self.a.add64(R7, R9).sub64(R7, 17).mov64(R9, 17).ja(&read);
        self.a.label(&short);
        self.a.label(&read);
        // r9 = bytes to scan (0..=17), r7 = where they start.
        if !direct {
            for i in 0..3 {
                self.a.st(Size::DW, R10, S_TAIL + 8 * i, 0);
            }
            self.a
                .mov64(R3, R7)
                .mov64(R1, R10)
                .add64(R1, S_TAIL as i32)
                .mov64(R2, R9);
            self.a.call(Helper::PROBE_READ_KERNEL);
        }
        // r1:r2 = key (hi:lo), r4 = bytes since the last dot, r5 = dot seen.
        self.a.mov64(R1, 0).mov64(R2, 0).mov64(R4, 0).mov64(R5, 0);
        let done = self.fresh("scan_done");
        for j in 0..17 {
            let next = self.fresh("scan_next");
            let dot = self.fresh("scan_dot");
            self.a.jmp(Cond::Le, R9, j, &done);
            match direct {
                true => self.a.ldx(Size::B, R3, R7, j as i16),
                false => self.a.ldx(Size::B, R3, R10, S_TAIL + j as i16),
            };
            self.a.jmp(Cond::Eq, R3, b'.' as i32, &dot);
            // key = key << 8 | c across the two halves
            self.a.lsh64(R1, 8).mov64(R0, R2).rsh64(R0, 56).or64(R1, R0);
            self.a.lsh64(R2, 8).or64(R2, R3).add64(R4, 1).ja(&next);
            self.a.label(&dot);
            self.a.mov64(R1, 0).mov64(R2, 0).mov64(R4, 0).mov64(R5, 1);
            self.a.label(&next);
        }
        self.a.label(&done);
        self.a.jmp(Cond::Eq, R5, 0, filtered);
        self.a.jmp(Cond::Eq, R4, 0, filtered);
        self.a.jmp(Cond::Gt, R4, 16, filtered);
        self.a
            .stx(Size::DW, R10, S_EXT, R2)
            .stx(Size::DW, R10, S_EXT + 8, R1);
    }

    /// `--path` in the kernel, on the path just walked into `Path`, the record's first section (data
    /// bytes 0..cursor; the walked dentry at `S_PTR`): jumps to `outside` unless it ends in one of
    /// `cfg.paths` at a component boundary (the file is a prefix or under one) or its name ends in
    /// one of `cfg.names` (the rules' suffixes, under `--alerts`) or the walk found one of
    /// `cfg.dir_names` above the leaf (`F_DIR_NAMED`). A truncated walk lacks its top and is kept, as
    /// in user space, which still applies `--path` and the rules exactly. The texts are immediates:
    /// they are fixed when the programs are generated.
    pub fn path_filter(&mut self, cfg: &FilterConfig, outside: &str) {
        if cfg.no_path_filter() {
            return;
        }
        let inside = self.fresh("path_inside");
        self.a
            .ldx(Size::H, R1, R7, OFF_FLAGS)
            .and64(R1, (F_TRUNCATED | F_DIR_NAMED) as i32)
            .jmp(Cond::Ne, R1, 0, &inside);
        self.a.ldx(Size::W, R9, R7, OFF_CURSOR).and64(R9, DATA_MASK);
        for suffix in &cfg.paths {
            let next = self.fresh("path_next");
            self.a.jmp(Cond::Lt, R9, suffix.len() as i32, &next);
            // Unless the walk is exactly the prefix, the byte before it ends a component.
            self.boundary_before(suffix.len() as i32, &next);
            self.ends_with(suffix, &next);
            self.a.ja(&inside);
            self.a.label(&next);
        }
        if !cfg.names.is_empty() {
            // The leaf is the walk's first component: r9 = its length, from the walked dentry.
            let k = self.k;
            self.a.ldx(Size::DW, R1, R10, S_PTR);
            self.read_to_stack(S_TMP, 4, R1, k.dentry_d_name_len);
            self.a.ldx(Size::W, R9, R10, S_TMP).and64(R9, DATA_MASK);
            for name in &cfg.names {
                let next = self.fresh("name_next");
                let text = name.text();
                match name {
                    NameSuffix::Ends(_) => {
                        self.a.jmp(Cond::Lt, R9, text.len() as i32, &next);
                    }
                    NameSuffix::Whole(_) => {
                        self.a.jmp(Cond::Ne, R9, text.len() as i32, &next);
                    }
                }
                self.ends_with(text, &next);
                self.a.ja(&inside);
                self.a.label(&next);
            }
        }
        self.a.ja(outside);
        self.a.label(&inside);
    }

    /// Jumps to `not` unless r9 (a data offset) equals `n` or the data byte at r9 - n - 1 is a NUL.
    fn boundary_before(&mut self, n: i32, not: &str) {
        let whole = self.fresh("path_boundary");
        self.a.jmp(Cond::Eq, R9, n, &whole);
        self.a
            .mov64(R1, R9)
            .sub64(R1, n + 1)
            .and64(R1, DATA_MASK)
            .add64(R1, R7)
            .ldx(Size::B, R2, R1, HEADER_LEN as i16)
            .jmp(Cond::Ne, R2, 0, not);
        self.a.label(&whole);
    }

    /// Jumps to `not` unless the data bytes before offset r9 (at least `text.len()` of them) are
    /// `text`, compared eight at a time. Clobbers r1-r3.
    fn ends_with(&mut self, text: &[u8], not: &str) {
        let n = text.len() as i32;
        for (j, chunk) in text.chunks(8).enumerate() {
            self.a
                .mov64(R1, R9)
                .sub64(R1, n - 8 * j as i32)
                .and64(R1, DATA_MASK)
                .add64(R1, R7)
                .ldx(Size::DW, R2, R1, HEADER_LEN as i16);
            self.jne_chunk(chunk, not);
        }
    }

    /// Jumps to `not` unless r2, an 8-byte load, begins with `chunk` (at most 8 bytes): the bytes
    /// past a shorter chunk are masked off (another component's, a NUL, or stale). Clobbers r2, r3.
    pub(super) fn jne_chunk(&mut self, chunk: &[u8], not: &str) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        if chunk.len() < 8 {
            let mask = (1u64 << (8 * chunk.len())) - 1;
            self.a.lddw(R3, mask as i64).and64(R2, R3);
        }
        self.a
            .lddw(R3, u64::from_le_bytes(word) as i64)
            .jmp(Cond::Ne, R2, R3, not);
    }

    /// A read or write of `bytes` (the u64 at stack slot `bytes_slot`) through r8 = `struct file *`:
    /// one more call and its bytes in the file's `opens` entry, when its open is tracked (and the
    /// entry's inode is the file's). Atomic adds: the threads of a process share the file. Stores r8
    /// at `S_OPEN_KEY`; uses `S_PTR`; keeps r6-r9.
    pub fn add_to_open(&mut self, calls: i16, bytes: i16, bytes_slot: i16) {
        let k = self.k;
        let untracked = self.fresh("untracked");
        self.a.stx(Size::DW, R10, S_OPEN_KEY, R8);
        self.lookup(MAP_OPENS, S_OPEN_KEY);
        self.a
            .jmp(Cond::Eq, R0, 0, &untracked)
            .stx(Size::DW, R10, S_PTR, R0);
        self.read_u64(R1, R8, k.file_f_inode);
        self.a
            .ldx(Size::DW, R0, R10, S_PTR)
            .ldx(Size::DW, R2, R0, OPEN_INODE)
            .jmp(Cond::Ne, R1, R2, &untracked);
        self.a
            .mov64(R1, 1)
            .atomic(Size::DW, AtomicOp::Add, R0, calls, R1)
            .ldx(Size::DW, R1, R10, bytes_slot)
            .atomic(Size::DW, AtomicOp::Add, R0, bytes, R1);
        self.a.label(&untracked);
    }

    /// The `Data` section at the cursor: the handle at `S_OPEN_KEY`, then — `with_totals` — the
    /// totals of the `OpenEntry` at `S_OPEN_VALUE` (r7 = record).
    pub fn open_data(&mut self, with_totals: bool) {
        let b = R9;
        self.a
            .ldx(Size::W, b, R7, OFF_CURSOR)
            .and64(b, DATA_MASK)
            .add64(b, HEADER_LEN as i32)
            .add64(b, R7);
        self.a
            .ldx(Size::DW, R1, R10, S_OPEN_KEY)
            .stx(Size::DW, b, 0, R1);
        let len = if with_totals {
            for (i, from) in [OPEN_READS, OPEN_BYTES_READ, OPEN_WRITES, OPEN_BYTES_WRITTEN]
                .into_iter()
                .enumerate()
            {
                self.a.ldx(Size::DW, R1, R10, S_OPEN_VALUE + from).stx(
                    Size::DW,
                    b,
                    8 * (i as i16 + 1),
                    R1,
                );
            }
            OPEN_DATA_LEN
        } else {
            OPEN_DATA_HANDLE_LEN
        };
        self.a
            .st(Size::H, R7, Section::Data.len_off(), len as i32)
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .add64(R1, len as i32)
            .stx(Size::W, R7, OFF_CURSOR, R1);
    }

    /// `submit` for a write or read (r7): when the ring is full the call is merged into `merged`
    /// (one more call, its bytes, its time) instead of lost; only a full `merged` loses it (counted
    /// as an output error). Falls through to `out`'s code path afterwards.
    pub fn submit_merging(&mut self, cfg: &FilterConfig, out: &str) {
        if !cfg.merge {
            self.submit(out);
            return;
        }
        let (sent, add, insert, lost) = (
            self.fresh("sent"),
            self.fresh("merge_add"),
            self.fresh("merge_insert"),
            self.fresh("merge_lost"),
        );
        self.perf_output();
        self.a.jmp(Cond::Eq, R0, 0, &sent);
        // The key: generation, kind, process image (tgid, start time, mm) and file (dev, inode).
        let k = S_MKEY;
        self.a
            .ld_map_value(R1, MAP_MERGE_GEN, 0)
            .ldx(Size::W, R1, R1, 0)
            .stx(Size::W, R10, k + MKEY_GEN, R1)
            .ldx(Size::H, R1, R7, OFF_KIND)
            .stx(Size::W, R10, k + MKEY_KIND, R1);
        for (from, to, size) in [
            (OFF_TGID, MKEY_TGID, Size::W),
            (OFF_DEV, MKEY_DEV, Size::W),
            (OFF_START_TIME, MKEY_START_TIME, Size::DW),
            (OFF_MM, MKEY_MM, Size::DW),
            (OFF_INO, MKEY_INO, Size::DW),
        ] {
            self.a.ldx(size, R1, R7, from).stx(size, R10, k + to, R1);
        }
        self.lookup(MAP_MERGED, k);
        self.a.jmp(Cond::Eq, R0, 0, &insert);
        self.a.label(&add);
        self.a
            .mov64(R1, 1)
            .atomic(Size::DW, AtomicOp::Add, R0, MVAL_COUNT, R1)
            .ldx(Size::DW, R1, R7, OFF_BYTES)
            .atomic(Size::DW, AtomicOp::Add, R0, MVAL_BYTES, R1)
            .ldx(Size::DW, R1, R7, OFF_MONO_NS)
            .stx(Size::DW, R0, MVAL_LAST_NS, R1);
        self.count(STAT_MERGED);
        self.a.ja(out);
        // A new entry: the record itself is its value, the counts written where they fall in it
        // first (the record has been sent or not: its tail is free), so the entry is whole at once.
        self.a.label(&insert);
        self.a
            .st(Size::DW, R7, MVAL_COUNT, 1)
            .ldx(Size::DW, R1, R7, OFF_BYTES)
            .stx(Size::DW, R7, MVAL_BYTES, R1)
            .ldx(Size::DW, R1, R7, OFF_MONO_NS)
            .stx(Size::DW, R7, MVAL_LAST_NS, R1);
        self.a
            .ld_map_fd(R1, MAP_MERGED)
            .mov64(R2, R10)
            .add64(R2, k as i32)
            .mov64(R3, R7)
            .mov64(R4, BPF_NOEXIST)
            .call(Helper::MAP_UPDATE_ELEM);
        let inserted = self.fresh("merge_inserted");
        self.a
            .jmp(Cond::Eq, R0, 0, &inserted)
            .jmp(Cond::Ne, R0, -EEXIST, &lost);
        // Another CPU added it meanwhile: add to that one.
        self.lookup(MAP_MERGED, k);
        self.a.jmp(Cond::Ne, R0, 0, &add);
        self.a.label(&lost);
        self.count(STAT_OUTPUT_ERR);
        self.a.ja(out);
        self.a.label(&inserted);
        self.count(STAT_MERGED);
        self.a.ja(out);
        self.a.label(&sent);
        self.count(STAT_EVENTS);
    }

    /// `return 0` at `out`, and the filtered counter at `filtered`.
    pub fn epilogue(&mut self, out: &str, filtered: Option<&str>) {
        self.a.label(out).mov64(R0, 0).exit();
        if let Some(filtered) = filtered {
            self.a.label(filtered);
            self.count(STAT_FILTERED);
            self.a.ja(out);
        }
    }

    /// r7 = this CPU's scratch record, its header started: version, kind, via, zero flags, cursor and
    /// lengths, time, ids and comm. Jumps to `out` if the scratch map is unreachable.
    pub fn header(&mut self, kind: u16, via: u16, out: &str) {
        // `scratch` is a plain array indexed by CPU (per-CPU map values are limited to 32 KiB, a
        // record can be larger); programs are not preempted, so each CPU's entry has one writer.
        self.a
            .call(Helper::GET_SMP_PROCESSOR_ID)
            .stx(Size::W, R10, S_ZERO, R0);
        self.lookup(MAP_SCRATCH, S_ZERO);
        self.a.jmp(Cond::Eq, R0, 0, out).mov64(R7, R0);
        self.a
            .st(Size::H, R7, OFF_VERSION, VERSION as i32)
            .st(Size::H, R7, OFF_FLAGS, 0)
            .st(Size::W, R7, OFF_CURSOR, 0)
            .st(Size::H, R7, OFF_KIND, kind as i32)
            .st(Size::H, R7, OFF_VIA, via as i32);
        for off in [OFF_BYTES, OFF_INO] {
            self.a.st(Size::DW, R7, off, 0);
        }
        for off in [OFF_DEV, OFF_ARG0, OFF_ARG1, OFF_DATA_LEN] {
            self.a.st(Size::W, R7, off, 0);
        }
        for i in 0..2 {
            self.a.st(Size::DW, R7, OFF_LENS + 8 * i, 0);
        }
        self.a
            .call(Helper::KTIME_GET_NS)
            .stx(Size::DW, R7, OFF_MONO_NS, R0);
        self.a
            .call(Helper::GET_CURRENT_PID_TGID)
            .stx(Size::W, R7, OFF_TID, R0);
        self.a.rsh64(R0, 32).stx(Size::W, R7, OFF_TGID, R0);
        self.a
            .call(Helper::GET_CURRENT_UID_GID)
            .stx(Size::W, R7, OFF_UID, R0);
        self.a.rsh64(R0, 32).stx(Size::W, R7, OFF_GID, R0);
        self.current_comm(R7, OFF_COMM);
    }

    /// The file in r8: inode number, device, the deleted flag (no links left) and its path into
    /// `section`. Clobbers r9.
    pub fn file_info(&mut self, section: Section, trunc_flag: u16) {
        let k = self.k;
        let f = k.typed.file();
        self.load(f, Size::DW, R9, R8, k.file_f_inode);
        self.load(f, Size::DW, R1, R9, k.inode_i_ino);
        self.a.stx(Size::DW, R7, OFF_INO, R1);
        self.load(f, Size::W, R1, R9, k.inode_i_nlink);
        let linked = self.fresh("linked");
        self.a.jmp(Cond::Ne, R1, 0, &linked);
        self.set_flag(F_DELETED);
        self.a.label(&linked);
        self.set_flag(F_HAS_INODE);
        self.load(f, Size::DW, R9, R9, k.inode_i_sb);
        self.load(f, Size::W, R1, R9, k.super_block_s_dev);
        self.a.stx(Size::W, R7, OFF_DEV, R1);
        self.file_path(section, trunc_flag);
    }

    /// The path of the file in r8 into `section`.
    pub fn file_path(&mut self, section: Section, trunc_flag: u16) {
        let k = self.k;
        let f = k.typed.file();
        self.load(f, Size::DW, R1, R8, k.file_f_path_dentry);
        self.a.stx(Size::DW, R10, S_PTR, R1);
        self.load(f, Size::DW, R2, R8, k.file_f_path_mnt);
        self.walk_into(section.len_off(), trunc_flag);
    }

    /// The current task's working directory into `section`.
    pub fn cwd_path(&mut self, section: Section, trunc_flag: u16) {
        let k = self.k;
        let none = self.fresh("no_cwd");
        let t = k.typed.task();
        self.current_task(R9);
        self.load(t, Size::DW, R9, R9, k.task_fs);
        self.a.jmp(Cond::Eq, R9, 0, &none);
        self.load(t, Size::DW, R1, R9, k.fs_pwd_dentry);
        self.a.stx(Size::DW, R10, S_PTR, R1);
        self.load(t, Size::DW, R2, R9, k.fs_pwd_mnt);
        self.walk_into(section.len_off(), trunc_flag);
        self.a.label(&none);
    }

    /// The NUL-terminated user string at r9 (at most `PATH_MAX` bytes with its NUL) into `section`;
    /// sets `F_USER_FAULT` when it cannot be read.
    pub fn user_string(&mut self, section: Section) {
        self.string_into(section, Helper::PROBE_READ_USER_STR);
    }

    /// `user_string` for a string in kernel memory at r9 (a name the kernel copied in).
    pub fn kernel_string(&mut self, section: Section) {
        self.string_into(section, Helper::PROBE_READ_KERNEL_STR);
    }

    fn string_into(&mut self, section: Section, read_str: Helper) {
        let fault = self.fresh("str_fault");
        let done = self.fresh("str_done");
        self.a
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .and64(R1, DATA_MASK)
            .add64(R1, HEADER_LEN as i32)
            .add64(R1, R7);
        self.a.mov64(R2, PATH_MAX).mov64(R3, R9).call(read_str);
        // The length counts the NUL: PATH_MAX is a legal name of PATH_MAX - 1 bytes (a longer one
        // fails the syscall with ENAMETOOLONG, so no event).
        self.a.jmp(Cond::Sle, R0, 0, &fault);
        self.a
            .stx(Size::H, R7, section.len_off(), R0)
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .add64(R1, R0)
            .stx(Size::W, R7, OFF_CURSOR, R1)
            .ja(&done);
        self.a.label(&fault);
        self.set_flag(F_USER_FAULT);
        self.a.label(&done);
    }

    /// Call the walk subprogram for (dentry at `S_PTR`, vfsmount in r2) appending at the cursor; sets
    /// `len_off` to the bytes it added and `trunc_flag` when it did not reach the root.
    pub fn walk_into(&mut self, len_off: i16, trunc_flag: u16) {
        let not_trunc = self.fresh("walk_ok");
        // The walk tests directory names only for `path_filter`, on the first section: a constant
        // at each call, so the verifier follows one branch of the walk's tests of it.
        let first_section = i32::from(len_off == Section::Path.len_off());
        self.a
            .ldx(Size::DW, R1, R10, S_PTR)
            .mov64(R3, R7)
            .mov64(R4, first_section)
            .call_local("walk");
        // r0 = bytes added | truncated << 32
        self.a
            .stx(Size::H, R7, len_off, R0)
            .rsh64(R0, 32)
            .jmp(Cond::Eq, R0, 0, &not_trunc);
        self.set_flag(trunc_flag);
        self.a.label(&not_trunc);
    }

    /// The task's part of the record: parent, the process's start time and exec image (the
    /// process-cache key), and — on the first event of a process image only (`seen` holds start time
    /// and mm), or always (`Context::Always`) — exe, cwd, argv and the `Ids` section. Clobbers r8 and r9.
    pub fn process_context(&mut self, mode: Context) {
        let k = self.k;
        let t = k.typed.task();
        self.current_task(R8);
        self.load(t, Size::DW, R1, R8, k.task_real_parent);
        self.load(t, Size::W, R1, R1, k.task_tgid);
        self.a.stx(Size::W, R7, OFF_PPID, R1);
        self.load(t, Size::DW, R1, R8, k.task_group_leader);
        self.load(t, Size::DW, R1, R1, k.task_start_time);
        self.a.stx(Size::DW, R7, OFF_START_TIME, R1);
        self.load(t, Size::DW, R1, R8, k.task_mm);
        self.a.stx(Size::DW, R7, OFF_MM, R1);

        let send = self.fresh("ctx_done");
        let new_proc = self.fresh("new_proc");
        let argv_done = self.fresh("argv_done");
        if mode == Context::TaskOnly {
            return;
        }
        self.a
            .ldx(Size::W, R1, R7, OFF_TGID)
            .stx(Size::W, R10, S_VAL, R1);
        // An exec (`Always`) sends the new image's context whatever `seen` holds.
        if mode == Context::FirstOfImage {
            self.lookup(MAP_SEEN, S_VAL);
            self.a.jmp(Cond::Eq, R0, 0, &new_proc);
            self.a
                .ldx(Size::DW, R1, R0, 0)
                .ldx(Size::DW, R2, R7, OFF_START_TIME)
                .jmp(Cond::Ne, R1, R2, &new_proc);
            self.a
                .ldx(Size::DW, R1, R0, 8)
                .ldx(Size::DW, R2, R7, OFF_MM)
                .jmp(Cond::Ne, R1, R2, &new_proc);
            self.a.ja(&send);
        }
        self.a.label(&new_proc);
        self.a
            .ldx(Size::DW, R1, R7, OFF_START_TIME)
            .stx(Size::DW, R10, S_SEEN, R1);
        self.a
            .ldx(Size::DW, R1, R7, OFF_MM)
            .stx(Size::DW, R10, S_SEEN + 8, R1);
        self.update(MAP_SEEN, S_VAL, S_SEEN);
        self.set_flag(F_HAS_PROC);

        let no_exe = self.fresh("no_exe");
        self.a
            .ldx(Size::DW, R9, R7, OFF_MM)
            .jmp(Cond::Eq, R9, 0, &no_exe);
        self.read_u64(R1, R9, k.mm_exe_file);
        self.a
            .jmp(Cond::Eq, R1, 0, &no_exe)
            .stx(Size::DW, R10, S_SEEN, R1);
        self.read_u64(R1, R1, k.file_f_path_dentry);
        self.a
            .stx(Size::DW, R10, S_PTR, R1)
            .ldx(Size::DW, R1, R10, S_SEEN);
        self.read_u64(R2, R1, k.file_f_path_mnt);
        self.walk_into(Section::Exe.len_off(), F_EXE_TRUNCATED);
        self.a.label(&no_exe);

        let no_cwd = self.fresh("no_cwd");
        self.read_u64(R9, R8, k.task_fs);
        self.a.jmp(Cond::Eq, R9, 0, &no_cwd);
        self.read_to_stack(S_PTR, 8, R9, k.fs_pwd_dentry);
        self.read_u64(R2, R9, k.fs_pwd_mnt);
        self.walk_into(Section::Cwd.len_off(), F_CWD_TRUNCATED);
        self.a.label(&no_cwd);

        // argv: the raw NUL-separated bytes of mm->arg_start..arg_end, bounded.
        let argv_fit = self.fresh("argv_fit");
        let argv_fault = self.fresh("argv_fault");
        self.a
            .ldx(Size::DW, R9, R7, OFF_MM)
            .jmp(Cond::Eq, R9, 0, &argv_done);
        self.read_u64(R1, R9, k.mm_arg_start);
        self.a.stx(Size::DW, R10, S_PTR, R1);
        self.read_u64(R9, R9, k.mm_arg_end);
        self.a
            .ldx(Size::DW, R1, R10, S_PTR)
            .sub64(R9, R1)
            .jmp(Cond::Sle, R9, 0, &argv_done);
        self.a.jmp(Cond::Le, R9, ARGV_MAX, &argv_fit);
        self.set_flag(F_ARGV_TRUNCATED);
        self.a.mov64(R9, ARGV_MAX);
        self.a.label(&argv_fit);
        self.a
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .and64(R1, DATA_MASK)
            .add64(R1, HEADER_LEN as i32)
            .add64(R1, R7);
        self.a
            .mov64(R2, R9)
            .ldx(Size::DW, R3, R10, S_PTR)
            .call(Helper::PROBE_READ_USER);
        self.a.jmp(Cond::Ne, R0, 0, &argv_fault);
        self.a
            .stx(Size::H, R7, Section::Argv.len_off(), R9)
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .add64(R1, R9);
        self.a.stx(Size::W, R7, OFF_CURSOR, R1).ja(&argv_done);
        self.a.label(&argv_fault);
        self.set_flag(F_ARGV_FAULT);
        self.a.label(&argv_done);
        self.ids();
        self.a.label(&send);
    }

    /// The `Ids` section at the cursor (r8 = current task): effective ids, audit login uid and session,
    /// cgroup id and names, the parent's start time and the chain of ancestors.
    fn ids(&mut self) {
        let k = self.k;
        let b = R9;
        self.a
            .ldx(Size::W, b, R7, OFF_CURSOR)
            .and64(b, DATA_MASK)
            .add64(b, HEADER_LEN as i32)
            .add64(b, R7);
        for off in (0..IDS_LEN as i16).step_by(8) {
            self.a.st(Size::DW, b, off, 0);
        }
        self.read_u64(R1, R8, k.task_cred);
        self.read_kernel(b, IDS_EUID, 4, R1, k.cred_euid);
        self.read_u64(R1, R8, k.task_cred);
        self.read_kernel(b, IDS_EGID, 4, R1, k.cred_egid);
        for (field, off) in [(IDS_AUID, k.task_loginuid), (IDS_SESSION, k.task_sessionid)] {
            match off {
                Some(off) => self.read_kernel(b, field, 4, R8, off),
                None => {
                    self.a.st(Size::W, b, field, -1);
                }
            }
        }
        self.a
            .call(Helper::GET_CURRENT_CGROUP_ID)
            .stx(Size::DW, b, IDS_CGROUP_ID, R0);
        self.read_u64(R1, R8, k.task_real_parent);
        self.read_u64(R1, R1, k.task_group_leader);
        self.read_kernel(b, IDS_PARENT_START, 8, R1, k.task_start_time);

        // Ancestors, parent first, up to pid 1 or MAX_ANCESTORS.
        let done = self.fresh("ancestors_done");
        self.read_u64(R1, R8, k.task_real_parent);
        self.a.stx(Size::DW, R10, S_PTR, R1);
        for i in 0..MAX_ANCESTORS as i16 {
            let at = IDS_ANCESTORS + i * ANCESTOR_LEN;
            self.a
                .ldx(Size::DW, R1, R10, S_PTR)
                .jmp(Cond::Eq, R1, 0, &done);
            self.read_kernel(b, at, 4, R1, k.task_tgid);
            self.a.ldx(Size::DW, R1, R10, S_PTR);
            self.read_kernel(b, at + 4, 16, R1, k.task_comm);
            self.a
                .st(Size::W, b, IDS_ANCESTOR_COUNT, i as i32 + 1)
                .ldx(Size::W, R1, b, at)
                .jmp(Cond::Le, R1, 1, &done);
            self.a.ldx(Size::DW, R1, R10, S_PTR);
            self.read_u64(R1, R1, k.task_real_parent);
            self.a.stx(Size::DW, R10, S_PTR, R1);
        }
        self.a.label(&done);

        // The cgroup directory's name and its parent's: enough to name a container.
        let no_cgroup = self.fresh("no_cgroup");
        self.read_u64(R1, R8, k.task_cgroups);
        self.a.jmp(Cond::Eq, R1, 0, &no_cgroup);
        self.read_u64(R1, R1, k.css_set_dfl_cgrp);
        self.a.jmp(Cond::Eq, R1, 0, &no_cgroup);
        self.read_u64(R1, R1, k.cgroup_kn);
        self.a
            .jmp(Cond::Eq, R1, 0, &no_cgroup)
            .stx(Size::DW, R10, S_PTR, R1);
        for (field, parent) in [(IDS_CGROUP_LEAF, false), (IDS_CGROUP_PARENT, true)] {
            self.a.ldx(Size::DW, R1, R10, S_PTR);
            if parent {
                self.read_u64(R1, R1, k.kernfs_parent);
                self.a.jmp(Cond::Eq, R1, 0, &no_cgroup);
            }
            self.read_u64(R3, R1, k.kernfs_name);
            self.a
                .mov64(R1, b)
                .add64(R1, field as i32)
                .mov64(R2, CGROUP_NAME as i32 - 1)
                .call(Helper::PROBE_READ_KERNEL_STR);
        }
        self.a.label(&no_cgroup);
        self.a
            .st(Size::H, R7, Section::Ids.len_off(), IDS_LEN as i32)
            .ldx(Size::W, R1, R7, OFF_CURSOR)
            .add64(R1, IDS_LEN as i32)
            .stx(Size::W, R7, OFF_CURSOR, R1);
    }

    /// `bpf_perf_event_output` of the record (r7, header and data to the cursor) to this CPU's ring
    /// (r6 = context); r0 = its result.
    fn perf_output(&mut self) {
        self.a
            .ldx(Size::W, R5, R7, OFF_CURSOR)
            .and64(R5, DATA_MASK)
            .add64(R5, HEADER_LEN as i32);
        self.a
            .mov64(R1, R6)
            .ld_map_fd(R2, MAP_EVENTS)
            .lddw(R3, F_CURRENT_CPU)
            .mov64(R4, R7);
        self.a.call(Helper::PERF_EVENT_OUTPUT);
    }

    /// Send the record (r7) to this CPU's ring and count it; a full ring is counted as an output error.
    /// Falls through to `out`'s code path afterwards (the caller places `out`).
    pub fn submit(&mut self, out: &str) {
        let sent = self.fresh("sent");
        self.perf_output();
        self.a.jmp(Cond::Eq, R0, 0, &sent);
        self.count(STAT_OUTPUT_ERR);
        self.a.ja(out);
        self.a.label(&sent);
        self.count(STAT_EVENTS);
    }

    /// `walk(r1 = dentry, r2 = vfsmount, r3 = event, r4 = test dir_names) -> bytes added | truncated << 32`: appends the
    /// path's components leaf first (each NUL-terminated) at the event's cursor, crossing mount points
    /// (`mnt_mountpoint`, `mnt_parent`) up to the real root. At most `MAX_COMPONENTS` steps and
    /// `PATH_MAX` bytes of whole components; beyond that the result is marked truncated.
    /// A walk into the record's first section (`path_filter`'s) sets `F_DIR_NAMED` when a component
    /// after the leaf is one of `dir_names` (`walk_dir_names`).
    pub fn walk_subprogram(&mut self, dir_names: &[Vec<u8>]) {
        let k = self.k;
        let (done, trunc, over) = ("walk_done", "walk_trunc", "walk_over");
        self.a.label("walk");
        // r6 = dentry, r7 = struct mount, r8 = event, r9 = test dir_names
        self.a
            .mov64(R6, R1)
            .mov64(R8, R3)
            .mov64(R7, R2)
            .mov64(R9, R4);
        self.a
            .ldx(Size::W, R1, R8, OFF_CURSOR)
            .stx(Size::DW, R10, W_START, R1);
        self.a.jmp(Cond::Eq, R7, 0, trunc);
        self.a.jmp(Cond::Eq, R6, 0, trunc);
        self.a.sub64(R7, k.mount_mnt as i32);
        // With bpf_rdonly_cast the walk types its inputs itself (its callers pass plain addresses
        // as well as typed pointers) and every step is a direct load.
        let typed = self.k.typed.cast;
        if let Some(c) = typed {
            self.a.mov64(R1, R6);
            self.cast_r1(R6, c.dentry);
            self.a.mov64(R1, R7);
            self.cast_r1(R7, c.mount);
        }
        let t = typed.is_some();
        self.walk_load(t, W_ROOT, R7, k.mount_mnt + k.vfsmount_mnt_root);
        for i in 0..MAX_COMPONENTS {
            let component = format!("walk_comp_{i}");
            let next = format!("walk_step_{}", i + 1);
            self.a
                .ldx(Size::DW, R1, R10, W_ROOT)
                .jmp(Cond::Ne, R6, R1, &component);
            // At the root of this mount: continue from its mount point in the parent mount.
            self.walk_load(t, W_NEXT, R7, k.mount_mnt_parent);
            self.a
                .ldx(Size::DW, R1, R10, W_NEXT)
                .jmp(Cond::Eq, R1, R7, done)
                .jmp(Cond::Eq, R1, 0, done);
            self.walk_load(t, W_TMP, R7, k.mount_mnt_mountpoint);
            self.a
                .ldx(Size::DW, R6, R10, W_TMP)
                .ldx(Size::DW, R7, R10, W_NEXT);
            self.walk_load(t, W_ROOT, R7, k.mount_mnt + k.vfsmount_mnt_root);
            self.a.ja(&next);
            self.a.label(&component);
            self.walk_load(t, W_NEXT, R6, k.dentry_d_parent);
            self.a
                .ldx(Size::DW, R1, R10, W_NEXT)
                .jmp(Cond::Eq, R1, R6, done);
            self.walk_load(t, W_TMP, R6, k.dentry_d_name_name);
            self.a
                .ldx(Size::W, R1, R8, OFF_CURSOR)
                .and64(R1, DATA_MASK)
                .add64(R1, HEADER_LEN as i32);
            self.a
                .add64(R1, R8)
                .mov64(R2, NAME_READ)
                .ldx(Size::DW, R3, R10, W_TMP);
            self.a.call(Helper::PROBE_READ_KERNEL_STR);
            self.a.jmp(Cond::Sle, R0, 0, trunc);
            self.walk_dir_names(dir_names, i);
            self.a
                .ldx(Size::W, R1, R8, OFF_CURSOR)
                .add64(R1, R0)
                .stx(Size::W, R8, OFF_CURSOR, R1);
            self.a.ldx(Size::DW, R6, R10, W_NEXT);
            self.a
                .ldx(Size::DW, R2, R10, W_START)
                .sub64(R1, R2)
                .jmp(Cond::Gt, R1, PATH_MAX, over);
            self.a.label(&next);
        }
        self.a.ja(trunc);
        // The component just read (r0 bytes) crossed PATH_MAX: drop it, so the path stays within the limit.
        self.a.label(over);
        self.a
            .ldx(Size::W, R1, R8, OFF_CURSOR)
            .sub64(R1, R0)
            .stx(Size::W, R8, OFF_CURSOR, R1)
            .ja(trunc);
        self.a.label(done);
        self.a
            .ldx(Size::W, R0, R8, OFF_CURSOR)
            .ldx(Size::DW, R1, R10, W_START)
            .sub64(R0, R1)
            .exit();
        self.a.label(trunc);
        self.a
            .ldx(Size::W, R0, R8, OFF_CURSOR)
            .ldx(Size::DW, R1, R10, W_START)
            .sub64(R0, R1);
        self.a.mov64(R1, 1).lsh64(R1, 32).or64(R0, R1).exit();
    }

    /// In the walk's step `step`, the component just read at the cursor (r0 bytes with its NUL, r8 =
    /// record): `F_DIR_NAMED` when it is one of `names`, the walk is the first section's (r9, a
    /// constant of the call: no stack slot whose value the verifier would learn and so tell states
    /// apart by) and it is not the leaf (at data offset 0). The length decides first, one compare
    /// per name; the text is compared eight bytes at a time against immediates. Keeps r0; clobbers
    /// r1-r3.
    fn walk_dir_names(&mut self, names: &[Vec<u8>], step: usize) {
        if names.is_empty() {
            return;
        }
        let done = format!("walk_dir_done_{step}");
        for (n, name) in names.iter().enumerate() {
            let next = format!("walk_dir_next_{step}_{n}");
            self.a
                .jmp(Cond::Ne, R0, name.len() as i32 + 1, &next)
                .jmp(Cond::Eq, R9, 0, &done)
                .ldx(Size::W, R1, R8, OFF_CURSOR)
                .jmp(Cond::Eq, R1, 0, &done);
            for (j, chunk) in name.chunks(8).enumerate() {
                self.a
                    .mov64(R2, R1)
                    .add64(R2, 8 * j as i32)
                    .and64(R2, DATA_MASK)
                    .add64(R2, R8)
                    .ldx(Size::DW, R2, R2, HEADER_LEN as i16);
                self.jne_chunk(chunk, &next);
            }
            self.a
                .ldx(Size::H, R1, R8, OFF_FLAGS)
                .or64(R1, F_DIR_NAMED as i32)
                .stx(Size::H, R8, OFF_FLAGS, R1)
                .ja(&done);
            self.a.label(&next);
        }
        self.a.label(&done);
    }

    /// In the walk's frame: `*(u64 *)(r10 + slot) = *(u64 *)(src + off)`, a direct load when `typed`.
    fn walk_load(&mut self, typed: bool, slot: i16, src: Reg, off: i16) {
        match typed {
            true => {
                self.a
                    .ldx(Size::DW, R1, src, off)
                    .stx(Size::DW, R10, slot, R1);
            }
            false => self.read_to_stack(slot, 8, src, off),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_the_end_of_a_walk() {
        assert_eq!(path_suffix(b"/etc/ssh").unwrap(), b"ssh\0etc\0");
        assert_eq!(path_suffix(b"/a").unwrap(), b"a\0");
        assert_eq!(path_suffix(b"/"), None);
    }

    #[test]
    fn the_kernel_leaves_what_it_cannot_test_to_user_space() {
        let two = kernel_paths(&[b"/etc".to_vec(), b"/srv/app".to_vec()]);
        assert_eq!(two, [b"etc\0".to_vec(), b"app\0srv\0".to_vec()]);
        assert!(kernel_paths(&[b"/etc".to_vec(), b"/".to_vec()]).is_empty());
        let long = format!("/{}", "x".repeat(KERNEL_PATH_MAX));
        assert!(kernel_paths(&[long.into_bytes()]).is_empty());
        let many: Vec<Vec<u8>> = (0..64)
            .map(|i| format!("/{i:0>100}").into_bytes())
            .collect();
        assert!(kernel_paths(&many).is_empty(), "over the total");
        assert!(kernel_paths(&[]).is_empty());
    }

    fn offsets() -> KernelOffsets {
        let btf = crate::btf::Btf::load(None).expect("kernel BTF");
        KernelOffsets::from_btf(&btf).expect("offsets")
    }

    /// The walk subprogram alone, as its own program (it ends in exits).
    fn walk(k: &KernelOffsets, dir_names: &[Vec<u8>]) -> Result<Program, AsmError> {
        let mut g = Gen::new(k);
        g.walk_subprogram(dir_names);
        g.finish()
    }

    #[test]
    fn directory_names_cost_the_walk_nothing_unless_asked_for() {
        let k = offsets();
        let plain = walk(&k, &[]).unwrap().to_string();
        let named = walk(&k, &[b"secrets".to_vec(), b"vault".to_vec()])
            .unwrap()
            .to_string();
        // Each step tests each name's length first (r0 = the bytes read with the NUL) ...
        let count = |p: &str, what: &str| p.lines().filter(|l| l.contains(what)).count();
        assert_eq!(count(&plain, "r0 != 0x8 goto"), 0, "{plain}");
        assert_eq!(count(&named, "r0 != 0x8 goto"), MAX_COMPONENTS, "{named}");
        assert_eq!(count(&named, "r0 != 0x6 goto"), MAX_COMPONENTS);
        // ... and on a match compares the text: "secrets" as its 7 bytes.
        let secrets = u64::from_le_bytes(*b"secrets\0");
        assert_eq!(count(&named, &format!("{secrets:#x} ll")), MAX_COMPONENTS);
        assert!(named.lines().count() > plain.lines().count());
    }

    #[test]
    fn the_most_directory_names_the_walk_takes_still_assemble() {
        let k = offsets();
        // The limits' worst case: jumps from the walk's first steps to its end stay in range.
        let len = KERNEL_DIR_NAMES_TOTAL / KERNEL_DIR_NAMES;
        let most: Vec<Vec<u8>> = (0..KERNEL_DIR_NAMES)
            .map(|i| vec![b'a' + i as u8; len])
            .collect();
        assert!(dir_names_fit(&most));
        let p = walk(&k, &most).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.insns.len() < i16::MAX as usize, "{}", p.insns.len());
        let mut over = most.clone();
        over.push(b"x".to_vec());
        assert!(!dir_names_fit(&over), "one name too many");
        over.pop();
        over[0].push(b'x');
        assert!(!dir_names_fit(&over), "one byte too many");
        assert!(!dir_names_fit(&[Vec::new()]), "an empty name");
        assert!(!dir_names_fit(&[b"a/b".to_vec()]), "no component has a /");
        assert!(dir_names_fit(&[]));
    }
}
