//! `close`: a tracked open (see `syscall::exit`, `opens`) ends when its last file descriptor is
//! closed; the event carries the file, the closing process and the totals of that open, which the
//! data programs added up (`write.rs`).
//!
//! - kprobe path: `filp_close`, through which every descriptor is closed — `close_range`,
//!   `dup2`/`dup3` over it, exec's `O_CLOEXEC`, io_uring's close, the process's exit, and `close`
//!   itself before 6.8 — and `filp_flush`, which `close` calls instead from 6.8 on (and `filp_close`
//!   too, unless inlined: the first to see the close claims it).
//! - tracepoint path: `sys_enter_close` and `sys_enter_dup2`/`dup3` (the descriptor they replace).
//!   Descriptors closed otherwise (exec, `close_range`, the process's exit) are ended by user space
//!   when the process that opened the file exits (`crate::open_files`).
//!
//! A close ends the open only when it drops the last reference to the `struct file` (`f_ref`, or
//! `f_count` before 6.13): a descriptor `dup`ed or inherited by a child keeps it open. The entry is
//! claimed by deleting it, so that a close and user space's sweep at exit never both report it.

use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::kinds::Op;
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// How the close arrived, by `via`: the kprobes, the syscalls, user space's sweep at exit.
pub const VIA: [&str; 6] = [
    "filp_close",
    "close",
    "dup2",
    "dup3",
    "sched_process_exit",
    "filp_flush",
];
/// `via` of the closes user space makes when the opener exits.
pub const VIA_EXIT: u16 = 4;

/// The kprobe path's functions, where the kernel has them, and their `via`.
pub const KPROBES: [(&str, u16); 2] = [("filp_close", 0), ("filp_flush", 5)];

/// Where the closing program finds the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// kprobe on `filp_close` or `filp_flush(struct file *, fl_owner_t)`.
    Kprobe,
    /// `sys_enter_close`: the fd closed (offset in the enter record).
    Fd(i16),
    /// `sys_enter_dup2`/`dup3`: the fd replaced (`newfd`), when `oldfd` is open and differs (else
    /// the call fails and closes nothing).
    Replaced { oldfd: i16, newfd: i16 },
}

/// The syscalls of the tracepoint path: name, whether it replaces `newfd`, `via`.
pub const SYSCALLS: [(&str, bool, u16); 3] =
    [("close", false, 1), ("dup2", true, 2), ("dup3", true, 3)];

/// Where a `struct file`'s reference count is and its raw value when one reference is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub off: i16,
    /// `file_ref_t` (6.13 on) stores the count minus one; `atomic_long_t f_count` the count.
    pub one: i32,
}

/// The close of r8's descriptor: the last one of a tracked open sends its event, with the closing
/// process's context (no process filter: the open passed them) and the totals.
pub fn close(mut g: Gen, hook: Hook, via: u16, file_ref: FileRef) -> Result<Program, AsmError> {
    let k = g.k;
    let out = "out";
    g.a.mov64(R6, R1);
    match hook {
        Hook::Kprobe => {
            g.a.ldx(Size::DW, R8, R6, k.pt_regs_di);
            g.file_typed();
        }
        Hook::Fd(off) => {
            g.a.ldx(Size::DW, R9, R6, off).mov32(R9, R9);
            g.fd_to_file(out);
        }
        Hook::Replaced { oldfd, newfd } => {
            g.a.ldx(Size::DW, R1, R6, oldfd)
                .ldx(Size::DW, R2, R6, newfd)
                .jmp32(Cond::Eq, R1, R2, out);
            g.a.ldx(Size::DW, R9, R6, oldfd).mov32(R9, R9);
            g.fd_to_file(out);
            g.a.ldx(Size::DW, R9, R6, newfd).mov32(R9, R9);
            g.fd_to_file(out);
        }
    }
    g.a.jmp(Cond::Eq, R8, 0, out)
        .stx(Size::DW, R10, S_OPEN_KEY, R8);
    // Most closes are of files no one tracks: one lookup and out.
    g.lookup(MAP_OPENS, S_OPEN_KEY);
    g.a.jmp(Cond::Eq, R0, 0, out).mov64(R9, R0);
    // Another file in the memory of a `struct file` freed unseen: that open's close was missed.
    let same = g.fresh("same_file");
    g.read_u64(R1, R8, k.file_f_inode);
    g.a.ldx(Size::DW, R2, R9, OPEN_INODE)
        .jmp(Cond::Eq, R1, R2, &same);
    g.delete(MAP_OPENS, S_OPEN_KEY);
    g.count(STAT_UNTRACKED);
    g.a.ja(out);
    g.a.label(&same);
    g.read_to_stack(S_TMP, 8, R8, file_ref.off);
    g.a.ldx(Size::DW, R1, R10, S_TMP)
        .jmp(Cond::Ne, R1, file_ref.one, out);
    for off in (0..OPEN_ENTRY_LEN as i16).step_by(8) {
        g.a.ldx(Size::DW, R1, R9, off)
            .stx(Size::DW, R10, S_OPEN_VALUE + off, R1);
    }
    // Claimed by the delete: user space's sweep at exit may have ended it already.
    g.delete(MAP_OPENS, S_OPEN_KEY);
    g.a.jmp(Cond::Ne, R0, 0, out);
    g.header(Op::Close as u16, via, out);
    g.file_info(Section::Path, F_TRUNCATED);
    // At the process's exit (kprobe path) its mm is gone: the task's key alone, and user space takes
    // the context of its latest image, as for `exit`.
    let (exiting, context_done) = (g.fresh("exiting"), g.fresh("context_done"));
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R1, R0);
    g.read_u64(R1, R1, k.task_mm);
    g.a.jmp(Cond::Eq, R1, 0, &exiting);
    g.process_context(Context::FirstOfImage);
    g.a.ja(&context_done);
    g.a.label(&exiting);
    g.process_context(Context::TaskOnly);
    g.a.label(&context_done);
    g.open_data(true);
    g.submit(out);
    g.epilogue(out, None);
    g.walk_subprogram(&[]);
    g.finish()
}
