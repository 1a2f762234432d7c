//! The kprobe path of the kinds that name a file by path (delete, rmdir, mkdir, rename, link,
//! symlink): a kprobe on the LSM hook the kernel calls just before it acts (`security_path_*`: it has
//! the directory's `struct path`, so the mount, and the dentry) saves what the event needs per thread;
//! a kretprobe on the VFS function that acts (`vfs_*`) sends the event when it succeeded. Every caller
//! of the operation passes there: each syscall variant and io_uring's `*AT` opcodes (run by the
//! submitter or one of its io-wq threads). Paths are walked from (dentry, mount), so they are absolute
//! and carry the inode. Kernels without the functions keep the syscall tracepoints (`syscall.rs`).
//!
//! A compiler may inline a VFS function into its syscall's code (5.10's `do_rmdir` holds its own copy
//! of `vfs_rmdir`), and a kretprobe on the out-of-line copy then never fires. A removed name is
//! therefore also caught where the VFS drops it on success, at `d_delete(dentry)` (in dcache.c, never
//! inlined into namei.c): the first of the two to see the saved dentry sends the event.

use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::btf::{Btf, BtfError, Shape};
use crate::kinds::Op;
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// What a parameter of the LSM hook is to the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `const struct path *` of the directory holding the operation's name: its mount.
    Dir,
    /// `struct dentry *` of the operation's name.
    Dentry,
    /// A rename's source directory (`const struct path *`): the old path's base.
    OldDir,
    /// A rename's source dentry: its name is copied now (after the move it carries the new one),
    /// and at the return it is the renamed file at its new place.
    Moved,
    /// A hard link's existing file (`struct dentry *`, on the new name's mount).
    Existing,
    /// A symlink's target text (a kernel copy of the user's string).
    Text,
    /// A value for the record's `arg1` (a rename's flags).
    Arg1,
    /// A rename's target dentry (`struct dentry *`): positive when the rename replaces a file (or,
    /// with `RENAME_EXCHANGE`, swaps with one): that file's inode number goes to the record's
    /// `bytes` (0: none).
    Replaced,
}

/// One kind on the kprobe path.
#[derive(Debug)]
pub struct VfsHook {
    pub op: Op,
    /// Kprobe: the LSM hook before the operation.
    pub check: &'static str,
    /// Kretprobe: the VFS function that performs it; `via` names it.
    pub does: &'static str,
    /// The hook's parameters the event uses, by name.
    pub params: &'static [(&'static str, Role)],
    /// Read the inode at the hook, while the dentry still has it (a removed name loses it).
    pub inode_at_check: bool,
    /// `arg0` is the new inode's permission bits (mkdir: the mode the directory got).
    pub mode_after: bool,
}

const fn hook(
    op: Op,
    check: &'static str,
    does: &'static str,
    params: &'static [(&'static str, Role)],
) -> VfsHook {
    VfsHook {
        op,
        check,
        does,
        params,
        inode_at_check: false,
        mode_after: false,
    }
}

const DIR: (&str, Role) = ("dir", Role::Dir);
const DENTRY: (&str, Role) = ("dentry", Role::Dentry);

pub static HOOKS: [VfsHook; 6] = [
    VfsHook {
        inode_at_check: true,
        ..hook(
            Op::Delete,
            "security_path_unlink",
            "vfs_unlink",
            &[DIR, DENTRY],
        )
    },
    VfsHook {
        inode_at_check: true,
        ..hook(
            Op::Rmdir,
            "security_path_rmdir",
            "vfs_rmdir",
            &[DIR, DENTRY],
        )
    },
    VfsHook {
        mode_after: true,
        ..hook(
            Op::Mkdir,
            "security_path_mkdir",
            "vfs_mkdir",
            &[DIR, DENTRY],
        )
    },
    hook(
        Op::Rename,
        "security_path_rename",
        "vfs_rename",
        &[
            ("old_dir", Role::OldDir),
            ("old_dentry", Role::Moved),
            ("new_dir", Role::Dir),
            ("new_dentry", Role::Replaced),
            ("flags", Role::Arg1),
        ],
    ),
    hook(
        Op::Link,
        "security_path_link",
        "vfs_link",
        &[
            ("old_dentry", Role::Existing),
            ("new_dir", Role::Dir),
            ("new_dentry", Role::Dentry),
        ],
    ),
    hook(
        Op::Symlink,
        "security_path_symlink",
        "vfs_symlink",
        &[DIR, DENTRY, ("old_name", Role::Text)],
    ),
];

/// The kprobe-path hook of `op`, if it has one.
pub fn hook_of(op: Op) -> Option<&'static VfsHook> {
    HOOKS.iter().find(|h| h.op == op)
}

/// How the VFS function reports its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// An `int`: negative errno on failure (sign-extended from 32 bits).
    Int32,
    Int64,
    /// A `struct dentry *` (`vfs_mkdir` since 6.15): `ERR_PTR(-errno)` on failure, else the dentry
    /// the new name has (possibly not the one the hook saw).
    Dentry,
}

/// The dcache function a successful removal calls with the removed dentry.
pub const D_DELETE: &str = "d_delete";

/// Where a hook's pieces are on this kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub op: Op,
    /// `pt_regs` offset of each of the hook's `params`, in order.
    pub regs: Vec<i16>,
    pub ret: Ret,
    /// Removals: the `pt_regs` offset of `d_delete`'s dentry, where the kernel has it.
    pub d_delete: Option<i16>,
}

/// The layout of `h` from BTF: `None` when the kernel lacks either function (no
/// `CONFIG_SECURITY_PATH`), a parameter is not where a register passes it, or the return is of a
/// shape the programs do not know.
pub fn layout(btf: &Btf, arg_regs: &[i16; 6], h: &VfsHook) -> Result<Option<Layout>, BtfError> {
    let (Some(check), Some(does)) = (
        btf.function_signature(h.check)?,
        btf.function_signature(h.does)?,
    ) else {
        return Ok(None);
    };
    let mut regs = Vec::new();
    for (name, _) in h.params {
        match check.position(name) {
            Some(i) if i < arg_regs.len() => regs.push(arg_regs[i]),
            _ => return Ok(None),
        }
    }
    let ret = match does.ret {
        Shape::Int { size: 4, .. } => Ret::Int32,
        Shape::Int { size: 8, .. } => Ret::Int64,
        Shape::Pointer => Ret::Dentry,
        _ => return Ok(None),
    };
    let d_delete = match (h.inode_at_check, btf.function_signature(D_DELETE)?) {
        (true, Some(sig)) => sig
            .position("dentry")
            .filter(|&i| i < arg_regs.len())
            .map(|i| arg_regs[i]),
        _ => None,
    };
    Ok(Some(Layout {
        op: h.op,
        regs,
        ret,
        d_delete,
    }))
}

// The value of `vfs_args`: what the hook saved for the return.
const V_TAG: i16 = 0; // u32 op
const V_HAS_INODE: i16 = 4; // u32: ino and dev were read at the hook
const V_DENTRY: i16 = 8;
const V_MNT: i16 = 16;
const V_DENTRY2: i16 = 24; // a rename's old directory, a link's existing file
const V_MNT2: i16 = 32; // a rename's old directory's mount (0: the operation's)
const V_TEXT: i16 = 40; // a symlink's target text
const V_INO: i16 = 48;
const V_DEV: i16 = 56; // u32
const V_ARG1: i16 = 60; // u32
const V_REPLACED: i16 = 64; // u64: the inode a rename replaces (0: none)
const V_NAME: i16 = 72; // a rename's old name, `NAME_READ` bytes
pub const STATE_VALUE: u32 = V_NAME as u32 + NAME_READ as u32;

/// The hook builds the value here (the hook program calls no walk, so its frame has the room).
const S_V: i16 = S_ARGS - STATE_VALUE as i16;
/// The return keeps the value's address here.
const S_STATE: i16 = S_ARGS;

/// `PF_IO_WORKER` in `task_struct.flags` (include/linux/sched.h): an io-wq thread.
const PF_IO_WORKER: i32 = 0x10;

/// The kprobe on the LSM hook: process filters, then save what the event needs.
pub fn check(mut g: Gen, h: &VfsHook, l: &Layout, cfg: &FilterConfig) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    g.monitor_filter(out);
    for off in (0..STATE_VALUE as i16).step_by(8) {
        g.a.st(Size::DW, R10, S_V + off, 0);
    }
    g.a.st(Size::W, R10, S_V + V_TAG, h.op as i32);
    for ((_, role), &reg) in h.params.iter().zip(&l.regs) {
        g.a.ldx(Size::DW, R9, R6, reg);
        match role {
            Role::Dentry => {
                g.a.stx(Size::DW, R10, S_V + V_DENTRY, R9);
            }
            Role::Moved => {
                g.a.stx(Size::DW, R10, S_V + V_DENTRY, R9);
                g.read_u64(R3, R9, k.dentry_d_name_name);
                g.a.mov64(R1, R10)
                    .add64(R1, (S_V + V_NAME) as i32)
                    .mov64(R2, NAME_READ)
                    .call(Helper::PROBE_READ_KERNEL_STR);
            }
            Role::Dir => g.read_to_stack(S_V + V_MNT, 8, R9, k.path_mnt),
            Role::OldDir => {
                g.read_to_stack(S_V + V_DENTRY2, 8, R9, k.path_dentry);
                g.read_to_stack(S_V + V_MNT2, 8, R9, k.path_mnt);
            }
            Role::Existing => {
                g.a.stx(Size::DW, R10, S_V + V_DENTRY2, R9);
            }
            Role::Text => {
                g.a.stx(Size::DW, R10, S_V + V_TEXT, R9);
            }
            Role::Arg1 => {
                g.a.stx(Size::W, R10, S_V + V_ARG1, R9);
            }
            Role::Replaced => {
                // Read now: after the rename the dentry is the moved file's.
                let none = g.fresh("replaces_none");
                g.read_u64(R9, R9, k.dentry_d_inode);
                g.a.jmp(Cond::Eq, R9, 0, &none);
                g.read_to_stack(S_V + V_REPLACED, 8, R9, k.inode_i_ino);
                g.a.label(&none);
            }
        }
    }
    if h.inode_at_check {
        let none = g.fresh("no_inode");
        g.a.ldx(Size::DW, R9, R10, S_V + V_DENTRY);
        g.read_u64(R9, R9, k.dentry_d_inode);
        g.a.jmp(Cond::Eq, R9, 0, &none);
        g.read_to_stack(S_V + V_INO, 8, R9, k.inode_i_ino);
        g.read_u64(R9, R9, k.inode_i_sb);
        g.read_to_stack(S_V + V_DEV, 4, R9, k.super_block_s_dev);
        g.a.st(Size::W, R10, S_V + V_HAS_INODE, 1);
        g.a.label(&none);
    }
    g.update(MAP_VFS, S_KEY, S_V);
    // The verifier rejects unreachable code: the counter exists only when a filter can jump to it.
    g.epilogue(out, cfg.filters_process().then_some(filtered));
    g.finish()
}

/// Where `done` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The kretprobe on the VFS function: its result says whether it succeeded.
    Return,
    /// The kprobe on `d_delete` (removals): success, when its dentry is the saved one.
    Deleted,
}

/// The kretprobe on the VFS function (or the `d_delete` kprobe): this thread's saved state back; a
/// failure counted; on success the event built from the state and sent.
pub fn done(
    mut g: Gen,
    h: &VfsHook,
    l: &Layout,
    via: u16,
    seen: Seen,
    cfg: &FilterConfig,
) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, done) = ("out", "done");
    g.thread_entry(MAP_VFS, out);
    g.a.ldx(Size::W, R1, R0, V_TAG)
        .jmp(Cond::Ne, R1, h.op as i32, out);
    // The entry is deleted only at the end: until then nothing else can take its memory.
    g.a.stx(Size::DW, R10, S_STATE, R0);
    let ok = g.fresh("succeeded");
    match seen {
        Seen::Deleted => {
            let reg = l
                .d_delete
                .expect("d_delete programs only where it has a layout");
            g.a.ldx(Size::DW, R1, R0, V_DENTRY)
                .ldx(Size::DW, R2, R6, reg)
                .jmp(Cond::Ne, R1, R2, out)
                .mov64(R9, 0);
        }
        Seen::Return => {
            g.a.ldx(Size::DW, R9, R6, k.pt_regs_ax);
            match l.ret {
                Ret::Int32 => {
                    g.a.lsh64(R9, 32).arsh64(R9, 32).jmp(Cond::Sge, R9, 0, &ok);
                }
                Ret::Int64 => {
                    g.a.jmp(Cond::Sge, R9, 0, &ok);
                }
                Ret::Dentry => {
                    // Errors are the last 4095 addresses (IS_ERR); the immediate is sign-extended.
                    g.a.jmp(Cond::Le, R9, -4096, &ok);
                }
            }
            g.count(STAT_FAILED);
            g.a.ja(done);
        }
    }
    g.a.label(&ok);
    g.a.stx(Size::DW, R10, S_VAL, R9);
    g.header(h.op as u16, via, done);
    worker_comm(&mut g);

    // The operation's path, walked from its dentry now (a rename's: after the move).
    g.a.ldx(Size::DW, R1, R10, S_STATE)
        .ldx(Size::DW, R2, R1, V_DENTRY)
        .stx(Size::DW, R10, S_PTR, R2);
    if l.ret == Ret::Dentry {
        let same = g.fresh("same_dentry");
        g.a.ldx(Size::DW, R2, R10, S_VAL)
            .jmp(Cond::Eq, R2, 0, &same)
            .stx(Size::DW, R10, S_PTR, R2)
            .label(&same);
    }
    g.a.ldx(Size::DW, R1, R10, S_STATE)
        .ldx(Size::DW, R2, R1, V_MNT);
    g.walk_into(Section::Path.len_off(), F_TRUNCATED);
    let roles = || h.params.iter().map(|p| p.1);
    // The rules match a rename by its old path too, which the filter does not test (it is walked
    // below, into `Path2`): renames are left to user space, as the named syscalls are.
    let filter_paths = !cfg.no_path_filter() && !roles().any(|r| r == Role::OldDir);
    let outside = g.fresh("outside_paths");
    if filter_paths {
        g.path_filter(cfg, &outside);
    }

    let no_inode = g.fresh("no_inode");
    if h.inode_at_check {
        g.a.ldx(Size::DW, R1, R10, S_STATE)
            .ldx(Size::W, R2, R1, V_HAS_INODE)
            .jmp(Cond::Eq, R2, 0, &no_inode);
        g.a.ldx(Size::DW, R2, R1, V_INO)
            .stx(Size::DW, R7, OFF_INO, R2)
            .ldx(Size::W, R2, R1, V_DEV)
            .stx(Size::W, R7, OFF_DEV, R2);
    } else {
        g.a.ldx(Size::DW, R8, R10, S_PTR);
        g.read_u64(R8, R8, k.dentry_d_inode);
        g.a.jmp(Cond::Eq, R8, 0, &no_inode);
        g.read_to_event(OFF_INO, 8, R8, k.inode_i_ino);
        if h.mode_after {
            g.read_to_stack(S_TMP, 2, R8, k.inode_i_mode);
            g.a.ldx(Size::H, R1, R10, S_TMP)
                .and64(R1, 0o7777)
                .stx(Size::W, R7, OFF_ARG0, R1);
        }
        g.read_u64(R8, R8, k.inode_i_sb);
        g.read_to_event(OFF_DEV, 4, R8, k.super_block_s_dev);
    }
    g.set_flag(F_HAS_INODE);
    g.a.label(&no_inode);

    if roles().any(|r| matches!(r, Role::OldDir | Role::Existing)) {
        let own = g.fresh("own_mount");
        g.a.ldx(Size::DW, R1, R10, S_STATE)
            .ldx(Size::DW, R2, R1, V_DENTRY2)
            .stx(Size::DW, R10, S_PTR, R2);
        g.a.ldx(Size::DW, R2, R1, V_MNT2)
            .jmp(Cond::Ne, R2, 0, &own)
            .ldx(Size::DW, R2, R1, V_MNT)
            .label(&own);
        g.walk_into(Section::Path2.len_off(), F_PATH2_TRUNCATED);
    }
    if roles().any(|r| r == Role::Moved) {
        g.a.ldx(Size::DW, R9, R10, S_STATE).add64(R9, V_NAME as i32);
        g.kernel_string(Section::Path2User);
    }
    if roles().any(|r| r == Role::Text) {
        g.a.ldx(Size::DW, R1, R10, S_STATE)
            .ldx(Size::DW, R9, R1, V_TEXT);
        g.kernel_string(Section::Path2User);
    }
    if roles().any(|r| r == Role::Arg1) {
        g.a.ldx(Size::DW, R1, R10, S_STATE)
            .ldx(Size::W, R2, R1, V_ARG1)
            .stx(Size::W, R7, OFF_ARG1, R2);
    }
    if roles().any(|r| r == Role::Replaced) {
        g.a.ldx(Size::DW, R1, R10, S_STATE)
            .ldx(Size::DW, R2, R1, V_REPLACED)
            .stx(Size::DW, R7, OFF_BYTES, R2);
    }
    g.process_context(Context::FirstOfImage);
    g.submit(done);
    if filter_paths {
        g.a.ja(done);
        g.a.label(&outside);
        g.count(STAT_FILTERED);
    }
    g.a.label(done);
    g.delete(MAP_VFS, S_KEY);
    g.epilogue(out, None);
    g.walk_subprogram(&cfg.dir_names);
    g.finish()
}

/// io-wq threads are named iou-wrk-<pid>: the command is their process's (its leader's).
fn worker_comm(g: &mut Gen) {
    let k = g.k;
    let not = g.fresh("not_worker");
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R9, R0);
    g.read_to_stack(S_TMP, 4, R9, k.task_flags);
    g.a.ldx(Size::W, R1, R10, S_TMP)
        .and64(R1, PF_IO_WORKER)
        .jmp(Cond::Eq, R1, 0, &not);
    g.read_u64(R9, R9, k.task_group_leader);
    g.read_to_event(OFF_COMM, 16, R9, k.task_comm);
    g.a.label(&not);
}
