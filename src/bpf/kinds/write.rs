//! `write`: bytes written to a watched file; `read`: bytes read from one, by the same programs.
//!
//! - kprobe path: `vfs_write` entry filters and remembers the `struct file *` per thread in `inflight`;
//!   the kretprobe reads the bytes the kernel actually wrote and builds the event.
//! - tracepoint path: `sys_enter_write`/`sys_enter_pwrite64` find the `struct file *` from the fd
//!   through `current->files`; `sys_exit_*` builds the event. Same record either way.
//! - The vectored writes and the copies (`copy_file_range`, `sendfile`, `splice`) never pass through
//!   `vfs_write`, so both paths hook their syscall tracepoints; a copy's source file rides along.
//! - io_uring writes are seen at `io_uring:io_uring_complete`, in the submitter's process (the
//!   completing task is the submitter or one of its io-wq/SQPOLL threads), with the request's file.
//! - When `close` is watched, each write (read) that moved bytes through a tracked open is added to
//!   its totals in `opens`; without `write` (`read`) events the same programs only count
//!   (`report == false`): no filters beyond the opens map, no record.

use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::kinds::Op;
use bpfasm::{AsmError, AtomicOp, Cond, Helper, Program, Reg::*, Size};

/// Where an entry program finds the file and an exit program the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// kprobe/kretprobe on `vfs_write`: `struct pt_regs` context.
    Kprobe,
    /// syscall tracepoints: byte offsets of the fd in the enter record and `ret` in the exit record,
    /// and of the source fd of a copy.
    Tracepoint {
        fd_off: i16,
        ret_off: i16,
        source_off: Option<i16>,
    },
}

/// How the data arrived, by `via` index: the kprobe first, then the syscalls, then io_uring's opcodes.
pub const VIA: [&str; 14] = [
    "vfs_write",
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "copy_file_range",
    "sendfile64",
    "splice",
    "io_uring_writev",
    "io_uring_write_fixed",
    "io_uring_write",
    "io_uring_splice",
    "io_uring_writev_fixed",
];

/// How data read from a file arrived, by `via` index: the syscalls (on both paths), then io_uring's.
pub const READ_VIA: [&str; 12] = [
    "read",
    "pread64",
    "readv",
    "preadv",
    "preadv2",
    "copy_file_range",
    "sendfile64",
    "splice",
    "io_uring_readv",
    "io_uring_read_fixed",
    "io_uring_read",
    "io_uring_readv_fixed",
];

/// Which way the data goes: the kind the programs report and the per-thread map they use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    Written,
    Read,
}

impl Data {
    pub fn op(self) -> Op {
        match self {
            Data::Written => Op::Write,
            Data::Read => Op::Read,
        }
    }

    fn map(self) -> &'static str {
        match self {
            Data::Written => MAP_INFLIGHT,
            Data::Read => MAP_INFLIGHT_READ,
        }
    }

    /// This direction's count in `inflight_n`.
    fn count_off(self) -> i32 {
        match self {
            Data::Written => 0,
            Data::Read => 8,
        }
    }

    /// `map[pid_tgid] = S_SEEN` and, when that added an entry, one more in `inflight_n`
    /// (the key is new: a call's exit always removes its entry). Jumps to `out` when full.
    fn remember(self, g: &mut Gen, out: &str) {
        g.update(self.map(), S_KEY, S_SEEN);
        g.a.jmp(Cond::Ne, R0, 0, out);
        self.count_add(g, 1);
    }

    fn count_add(self, g: &mut Gen, delta: i32) {
        g.a.ld_map_value(R1, MAP_INFLIGHT_N, self.count_off())
            .mov64(R2, delta)
            .atomic(Size::DW, AtomicOp::Add, R1, 0, R2);
    }

    /// The `OpenEntry` fields this direction adds to: calls and bytes.
    fn totals(self) -> (i16, i16) {
        match self {
            Data::Written => (OPEN_WRITES, OPEN_BYTES_WRITTEN),
            Data::Read => (OPEN_READS, OPEN_BYTES_READ),
        }
    }

    /// io_uring opcodes (UAPI numbers) that move data this way, and their `via`.
    fn uring_ops(self) -> &'static [(i32, u16)] {
        match self {
            Data::Written => &URING_OPS,
            Data::Read => &URING_READ_OPS,
        }
    }
}

/// A syscall whose tracepoints carry writes (or reads).
pub struct WriteSyscall {
    pub name: &'static str,
    /// The fd field of its enter record that names the written file.
    pub fd: &'static str,
    /// The fd field that names the file copied from.
    pub source: Option<&'static str>,
    pub via: u16,
    /// Hooked on the kprobe path too: it never passes through `vfs_write`.
    pub beside_vfs_write: bool,
}

const fn plain(name: &'static str, via: u16, beside_vfs_write: bool) -> WriteSyscall {
    WriteSyscall {
        name,
        fd: "fd",
        source: None,
        via,
        beside_vfs_write,
    }
}

const fn copy(
    name: &'static str,
    fd: &'static str,
    source: &'static str,
    via: u16,
) -> WriteSyscall {
    WriteSyscall {
        name,
        fd,
        source: Some(source),
        via,
        beside_vfs_write: true,
    }
}

pub const SYSCALLS: [WriteSyscall; 8] = [
    plain("write", 1, false),
    plain("pwrite64", 2, false),
    plain("writev", 3, true),
    plain("pwritev", 4, true),
    plain("pwritev2", 5, true),
    copy("copy_file_range", "fd_out", "fd_in", 6),
    copy("sendfile64", "out_fd", "in_fd", 7),
    copy("splice", "fd_out", "fd_in", 8),
];

/// The syscalls that read a file: the copies read their source. Hooked on both paths.
pub const READ_SYSCALLS: [WriteSyscall; 8] = [
    plain("read", 0, true),
    plain("pread64", 1, true),
    plain("readv", 2, true),
    plain("preadv", 3, true),
    plain("preadv2", 4, true),
    WriteSyscall {
        fd: "fd_in",
        ..plain("copy_file_range", 5, true)
    },
    WriteSyscall {
        fd: "in_fd",
        ..plain("sendfile64", 6, true)
    },
    WriteSyscall {
        fd: "fd_in",
        ..plain("splice", 7, true)
    },
];

/// io_uring opcodes that write to a file (UAPI numbers) and their `via`: WRITEV, WRITE_FIXED, WRITE,
/// SPLICE, and WRITEV_FIXED (61, from 6.15).
pub const URING_OPS: [(i32, u16); 5] = [(2, 9), (5, 10), (23, 11), (30, 12), (61, 13)];
/// io_uring opcodes that read a file: READV, READ_FIXED, READ, and READV_FIXED (60, from 6.15).
pub const URING_READ_OPS: [(i32, u16); 4] = [(1, 8), (4, 9), (22, 10), (60, 11)];

/// Value of `inflight`: the written file and the file copied from (0 for plain writes).
pub const INFLIGHT_VALUE: u32 = 16;

/// r8 = the file an entry program's call names (jumps to `out` when none).
fn entry_file(g: &mut Gen, hook: Hook, out: &str) {
    let k = g.k;
    match hook {
        Hook::Kprobe => {
            g.a.ldx(Size::DW, R8, R6, k.pt_regs_di)
                .jmp(Cond::Eq, R8, 0, out);
            g.file_typed();
        }
        Hook::Tracepoint { fd_off, .. } => {
            g.a.ldx(Size::DW, R9, R6, fd_off).mov32(R9, R9);
            g.fd_to_file(out);
        }
    }
}

/// Entry: filters, then remember r8 = file for this thread in `inflight` (`inflight_read`). Not
/// `report`ing (only `close`'s totals): the files of tracked opens only.
pub fn entry(
    mut g: Gen,
    hook: Hook,
    cfg: &FilterConfig,
    data: Data,
    report: bool,
) -> Result<Program, AsmError> {
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    if !report {
        g.process_filter(cfg, out, out);
        entry_file(&mut g, hook, out);
        g.a.stx(Size::DW, R10, S_OPEN_KEY, R8);
        g.lookup(MAP_OPENS, S_OPEN_KEY);
        g.a.jmp(Cond::Eq, R0, 0, out);
        g.a.stx(Size::DW, R10, S_SEEN, R8)
            .st(Size::DW, R10, S_SEEN + 8, 0);
        data.remember(&mut g, out);
        g.epilogue(out, None);
        return g.finish();
    }
    // The file filters first: most calls are of files nobody watches, and they need no pid.
    entry_file(&mut g, hook, out);
    g.file_filter(cfg, filtered);
    g.path_precheck(cfg, out);
    g.process_filter(cfg, out, filtered);
    // Only for writes that would be reported: a monitor's output passes the file filters.
    g.monitor_filter(out);
    g.a.stx(Size::DW, R10, S_SEEN, R8)
        .st(Size::DW, R10, S_SEEN + 8, 0);
    if let Hook::Tracepoint {
        source_off: Some(off),
        ..
    } = hook
    {
        let none = g.fresh("no_source");
        g.a.ldx(Size::DW, R9, R6, off).mov32(R9, R9);
        g.fd_to_file(&none);
        g.a.stx(Size::DW, R10, S_SEEN + 8, R8);
        g.a.label(&none);
    }
    data.remember(&mut g, out);
    g.epilogue(out, Some(filtered));
    g.finish()
}

/// Exit: take this thread's file from `inflight`; count failed calls; add to a tracked open's
/// totals; build and send the event (not `report`ing: only the totals).
pub fn exit(
    mut g: Gen,
    hook: Hook,
    via: u16,
    data: Data,
    cfg: &FilterConfig,
    report: bool,
) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    // No entry anywhere (every call filtered out at its entry): nothing to look up.
    g.a.ld_map_value(R2, MAP_INFLIGHT_N, data.count_off())
        .ldx(Size::DW, R2, R2, 0)
        .jmp(Cond::Eq, R2, 0, out);
    g.thread_entry(data.map(), out);
    g.a.ldx(Size::DW, R8, R0, 0);
    g.a.ldx(Size::DW, R1, R0, 8).stx(Size::DW, R10, S_PTR2, R1);
    g.delete(data.map(), S_KEY);
    let kept = g.fresh("not_removed");
    g.a.jmp(Cond::Ne, R0, 0, &kept);
    data.count_add(&mut g, -1);
    g.a.label(&kept);
    g.file_typed();
    let ret_off = match hook {
        Hook::Kprobe => k.pt_regs_ax,
        Hook::Tracepoint { ret_off, .. } => ret_off,
    };
    g.a.ldx(Size::DW, R9, R6, ret_off);
    let (calls, bytes) = data.totals();
    if !report {
        g.a.jmp(Cond::Sle, R9, 0, out).stx(Size::DW, R10, S_VAL, R9);
        g.add_to_open(calls, bytes, S_VAL);
        g.epilogue(out, None);
        return g.finish();
    }
    let wrote = g.fresh("wrote");
    g.a.jmp(Cond::Sgt, R9, 0, &wrote);
    // Nothing moved, nothing failed: a read at end of file, a copy at its source's end (every
    // `copy_file_range`/`sendfile` loop ends so), a write of 0 bytes; as io_uring's 0 results.
    g.a.jmp(Cond::Eq, R9, 0, out);
    g.count(STAT_FAILED);
    g.a.ja(out);
    g.a.label(&wrote);
    g.a.stx(Size::DW, R10, S_VAL, R9);
    if cfg.track_opens {
        g.add_to_open(calls, bytes, S_VAL);
    }
    g.header(data.op() as u16, via, out);
    g.a.ldx(Size::DW, R9, R10, S_VAL)
        .stx(Size::DW, R7, OFF_BYTES, R9);
    g.file_info(Section::Path, F_TRUNCATED);
    g.path_filter(cfg, filtered);
    if matches!(
        hook,
        Hook::Tracepoint {
            source_off: Some(_),
            ..
        }
    ) {
        source(&mut g);
    }
    g.process_context(Context::FirstOfImage);
    g.submit_merging(cfg, out);
    g.epilogue(out, (!cfg.no_path_filter()).then_some(filtered));
    g.walk_subprogram(&cfg.dir_names);
    g.finish()
}

/// A copy's source file (at `S_PTR2`, 0 when none): its path into `Path2`, its inode into
/// `arg0` (low half) and `arg1` (high half). Clobbers r8 and r9.
fn source(g: &mut Gen) {
    let k = g.k;
    let none = g.fresh("no_source");
    g.a.ldx(Size::DW, R8, R10, S_PTR2)
        .jmp(Cond::Eq, R8, 0, &none);
    g.file_typed();
    g.read_u64(R9, R8, k.file_f_inode);
    g.read_u64(R1, R9, k.inode_i_ino);
    g.a.stx(Size::W, R7, OFF_ARG0, R1)
        .rsh64(R1, 32)
        .stx(Size::W, R7, OFF_ARG1, R1);
    g.file_path(Section::Path2, F_PATH2_TRUNCATED);
    g.a.label(&none);
}

/// Offsets the io_uring program reads: in the `io_uring_complete` record and in `struct io_kiocb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringLayout {
    pub req_off: i16,
    pub res_off: i16,
    pub kiocb_opcode: i16,
    pub kiocb_file: i16,
}

/// `io_uring:io_uring_complete`: a completed write (read) request of a watched file is a write (read)
/// event of the completing task's process, its bytes the request's result.
pub fn uring(
    mut g: Gen,
    l: UringLayout,
    cfg: &FilterConfig,
    data: Data,
    report: bool,
) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    // The completing task may be an io-wq or SQPOLL thread (`iou-wrk-N`, `iou-sqp-N`): `--comm`
    // compares its leader's name, the one the event reports.
    g.process_filter_of(cfg, out, if report { filtered } else { out }, true);
    g.a.ldx(Size::DW, R9, R6, l.req_off)
        .jmp(Cond::Eq, R9, 0, out);
    g.a.st(Size::DW, R10, S_PTR2, 0);
    g.read_to_stack(S_PTR2, 1, R9, l.kiocb_opcode);
    g.a.ldx(Size::B, R1, R10, S_PTR2);
    let write_op = g.fresh("write_op");
    for &(op, _) in data.uring_ops() {
        g.a.jmp(Cond::Eq, R1, op, &write_op);
    }
    g.a.ja(out);
    g.a.label(&write_op);
    let done = g.fresh("completed");
    g.a.ldx(Size::W, R1, R6, l.res_off)
        .jmp32(Cond::Sgt, R1, 0, &done)
        .jmp32(Cond::Eq, R1, 0, out);
    if report {
        g.count(STAT_FAILED);
    }
    g.a.ja(out);
    g.a.label(&done);
    g.read_u64(R8, R9, l.kiocb_file);
    g.a.jmp(Cond::Eq, R8, 0, out);
    g.file_typed();
    let (calls, bytes) = data.totals();
    if !report {
        g.a.ldx(Size::W, R1, R6, l.res_off)
            .stx(Size::DW, R10, S_VAL, R1);
        g.add_to_open(calls, bytes, S_VAL);
        g.epilogue(out, None);
        return g.finish();
    }
    g.file_filter(cfg, filtered);
    // As at a write's entry: a file outside every `--path` prefix stops before the record.
    g.path_precheck(cfg, out);
    g.monitor_filter(out);
    if cfg.track_opens {
        g.a.ldx(Size::W, R1, R6, l.res_off)
            .stx(Size::DW, R10, S_VAL, R1);
        g.add_to_open(calls, bytes, S_VAL);
    }
    g.header(data.op() as u16, 0, out);
    g.a.ldx(Size::W, R1, R6, l.res_off)
        .stx(Size::DW, R7, OFF_BYTES, R1);
    for &(op, via) in data.uring_ops() {
        let next = g.fresh("via");
        g.a.ldx(Size::B, R1, R10, S_PTR2)
            .jmp(Cond::Ne, R1, op, &next)
            .st(Size::H, R7, OFF_VIA, via as i32)
            .label(&next);
    }
    g.file_info(Section::Path, F_TRUNCATED);
    g.path_filter(cfg, filtered);
    // io-wq workers are named iou-wrk-<pid>: the process is its leader's.
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R9, R0);
    g.read_u64(R9, R9, k.task_group_leader);
    g.read_to_event(OFF_COMM, 16, R9, k.task_comm);
    g.process_context(Context::FirstOfImage);
    g.submit_merging(cfg, out);
    g.epilogue(out, Some(filtered));
    g.walk_subprogram(&cfg.dir_names);
    g.finish()
}
