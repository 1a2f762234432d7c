//! `write`: bytes written to a watched file.
//!
//! - kprobe path: `vfs_write` entry filters and remembers the `struct file *` per thread in `inflight`;
//!   the kretprobe reads the bytes the kernel actually wrote and builds the event.
//! - tracepoint path: `sys_enter_write`/`sys_enter_pwrite64` find the `struct file *` from the fd
//!   through `current->files`; `sys_exit_*` builds the event. Same record either way.
//! - The vectored writes never pass through `vfs_write`, so both paths hook their syscall tracepoints.

use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::kinds::Op;
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// Where an entry program finds the file and an exit program the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// kprobe/kretprobe on `vfs_write`: `struct pt_regs` context.
    Kprobe,
    /// syscall tracepoints: byte offsets of the fd in the enter record and `ret` in the exit record.
    Tracepoint { fd_off: i16, ret_off: i16 },
}

/// How the data arrived, by `via` index: the kprobe first, then the syscalls (tracepoint name, name of
/// the fd field in its enter record).
pub const VIA: [&str; 6] = [
    "vfs_write",
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
];

/// The syscalls whose tracepoints carry writes, with their `via` index: (syscall, fd field, via).
pub const SYSCALLS: [(&str, &str, u16); 5] = [
    ("write", "fd", 1),
    ("pwrite64", "fd", 2),
    ("writev", "fd", 3),
    ("pwritev", "fd", 4),
    ("pwritev2", "fd", 5),
];

/// Hooked on the kprobe path too: they never pass through `vfs_write`.
pub const VECTORED: [&str; 3] = ["writev", "pwritev", "pwritev2"];

/// Entry: filters, then remember r8 = file for this thread in `inflight`.
pub fn entry(mut g: Gen, hook: Hook, cfg: &FilterConfig) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    match hook {
        Hook::Kprobe => {
            g.a.ldx(Size::DW, R8, R6, k.pt_regs_di);
        }
        Hook::Tracepoint { fd_off, .. } => {
            g.a.ldx(Size::DW, R9, R6, fd_off).mov32(R9, R9);
            g.fd_to_file(out);
        }
    }
    g.a.jmp(Cond::Eq, R8, 0, out);
    g.file_filter(cfg, filtered);
    g.a.stx(Size::DW, R10, S_VAL, R8);
    g.update(MAP_INFLIGHT, S_KEY, S_VAL);
    g.epilogue(out, Some(filtered));
    g.finish()
}

/// Exit: take this thread's file from `inflight`; count failed writes; build and send the event.
pub fn exit(mut g: Gen, hook: Hook, via: u16) -> Result<Program, AsmError> {
    let k = g.k;
    let out = "out";
    g.a.mov64(R6, R1);
    g.a.call(Helper::GET_CURRENT_PID_TGID)
        .stx(Size::DW, R10, S_KEY, R0);
    g.lookup(MAP_INFLIGHT, S_KEY);
    g.a.jmp(Cond::Eq, R0, 0, out);
    g.a.ldx(Size::DW, R8, R0, 0);
    g.delete(MAP_INFLIGHT, S_KEY);
    let ret_off = match hook {
        Hook::Kprobe => k.pt_regs_ax,
        Hook::Tracepoint { ret_off, .. } => ret_off,
    };
    g.a.ldx(Size::DW, R9, R6, ret_off);
    let wrote = g.fresh("wrote");
    g.a.jmp(Cond::Sgt, R9, 0, &wrote);
    g.count(STAT_FAILED);
    g.a.ja(out);
    g.a.label(&wrote);
    g.a.stx(Size::DW, R10, S_VAL, R9);
    g.header(Op::Write as u16, via, out);
    g.a.ldx(Size::DW, R9, R10, S_VAL)
        .stx(Size::DW, R7, OFF_BYTES, R9);
    g.file_info(Section::Path, F_TRUNCATED);
    g.process_context();
    g.submit(out);
    g.epilogue(out, None);
    g.walk_subprogram();
    g.finish()
}
