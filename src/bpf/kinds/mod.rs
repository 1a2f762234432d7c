//! The kernel side of each event kind: `write` has programs of its own; every other kind is a table of
//! the syscalls that perform it, each described by where its arguments are (`Syscall`), and one
//! generic pair of programs (`syscall.rs`) serves them all. On kprobe kernels the kinds that name a
//! file by path are hooked at the LSM and VFS instead (`vfs.rs`, one table row each). A new kind is
//! one file here plus its row in `crate::kinds::KINDS`.

pub mod chmod;
pub mod chown;
pub mod close;
pub mod create;
pub mod delete;
pub mod link;
pub mod mkdir;
pub mod mmap;
pub mod open;
pub mod process;
pub mod rename;
pub mod rmdir;
pub mod symlink;
pub mod syscall;
pub mod truncate;
pub mod vfs;
pub mod write;

use crate::kinds::Op;

/// Where an operation's file is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An open fd argument (`fchmod(fd, …)`): the file itself, with inode and device.
    Fd(&'static str),
    /// The fd the call returned (`openat`).
    RetFd,
    /// A path argument, relative to the directory fd argument (`AT_FDCWD`: the cwd) or, with `None`,
    /// to the cwd; resolved to an absolute path in the kernel.
    At {
        dirfd: Option<&'static str>,
        path: &'static str,
    },
    /// A string argument taken as text, not resolved (a symlink's target).
    Text(&'static str),
}

/// A test on an argument at syscall entry; calls that fail it are not this kind's and are skipped
/// without a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// All bits of the mask set.
    AllSet(&'static str, i32),
    /// No bit of the mask set.
    NoneSet(&'static str, i32),
    /// The argument differs from the value.
    NotEqual(&'static str, i32),
}

/// Where a value of the event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A syscall argument.
    Arg(&'static str),
    /// The file's size after the call (`i_size`; fd targets only).
    SizeAfter,
    /// The call's return value.
    Ret,
    /// A constant (what a call implies: `creat`'s flags).
    Const(i32),
    /// The u32 at this byte offset of the user memory an argument points to (`openat2`'s `how`).
    User(&'static str, i16),
}

/// One syscall that performs a kind, and where its pieces are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// The name in `syscalls:sys_enter_<name>`.
    pub name: &'static str,
    /// The path the operation leaves (a rename's new name, a link's new name).
    pub target: Target,
    /// A rename's source, a link's existing file, a symlink's target text.
    pub second: Option<Target>,
    pub checks: &'static [Check],
    /// Record fields `arg0`, `arg1` and `bytes`.
    pub arg0: Option<Value>,
    pub arg1: Option<Value>,
    pub bytes: Option<Value>,
    /// Only files created by this call (`FMODE_CREATED` on the returned file).
    pub created_only: bool,
    /// Only regular files (fd targets).
    pub regular_only: bool,
    /// The file filters (regular files, `--ext`) in the kernel, before a record is started: for
    /// the loud kinds (`open`), whose every call would otherwise reach user space.
    pub file_filter: bool,
    /// Flag files this call created (`F_CREATED`).
    pub mark_created: bool,
}

impl Syscall {
    pub const fn new(name: &'static str, target: Target) -> Syscall {
        Syscall {
            name,
            target,
            second: None,
            checks: &[],
            arg0: None,
            arg1: None,
            bytes: None,
            created_only: false,
            regular_only: false,
            file_filter: false,
            mark_created: false,
        }
    }
}

/// A path argument relative to the cwd.
pub const fn cwd(path: &'static str) -> Target {
    Target::At { dirfd: None, path }
}

/// A path argument relative to a directory fd.
pub const fn at(dirfd: &'static str, path: &'static str) -> Target {
    Target::At {
        dirfd: Some(dirfd),
        path,
    }
}

/// The syscalls of each kind but `write`, `read` and `close` (programs of their own), whose `via` is the index in its list; the kind's VFS
/// function (kprobe path) follows them (`vfs_via`).
pub fn syscalls(op: Op) -> &'static [Syscall] {
    match op {
        Op::Create => create::SYSCALLS,
        Op::Delete => delete::SYSCALLS,
        Op::Rename => rename::SYSCALLS,
        Op::Mkdir => mkdir::SYSCALLS,
        Op::Rmdir => rmdir::SYSCALLS,
        Op::Link => link::SYSCALLS,
        Op::Symlink => symlink::SYSCALLS,
        Op::Chmod => chmod::SYSCALLS,
        Op::Chown => chown::SYSCALLS,
        Op::Truncate => truncate::SYSCALLS,
        Op::Mmap => mmap::SYSCALLS,
        Op::Open => open::SYSCALLS,
        Op::Write | Op::Read | Op::Close | Op::Exec | Op::Fork | Op::Exit => &[],
    }
}

/// The `via` of `op`'s events seen at its VFS function: the index after its syscalls.
pub fn vfs_via(op: Op) -> u16 {
    syscalls(op).len() as u16
}

/// The name of how an event of `op` happened, from its record's `via`.
pub fn via_name(op: Op, via: u16) -> Option<&'static str> {
    match op {
        Op::Write => write::VIA.get(via as usize).copied(),
        Op::Read => write::READ_VIA.get(via as usize).copied(),
        Op::Close => close::VIA.get(via as usize).copied(),
        Op::Exec => process::EXEC_VIA.get(via as usize).copied(),
        Op::Fork => process::FORK_VIA.get(via as usize).copied(),
        Op::Exit => process::EXIT_VIA.get(via as usize).copied(),
        _ => syscalls(op).get(via as usize).map(|s| s.name).or_else(|| {
            vfs::hook_of(op)
                .filter(|_| via == vfs_via(op))
                .map(|h| h.does)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::KINDS;

    #[test]
    fn vfs_functions_are_named_after_the_syscalls() {
        assert_eq!(via_name(Op::Delete, 0), Some("unlinkat"));
        assert_eq!(
            via_name(Op::Delete, vfs_via(Op::Delete)),
            Some("vfs_unlink")
        );
        assert_eq!(
            via_name(Op::Rename, vfs_via(Op::Rename)),
            Some("vfs_rename")
        );
        assert_eq!(via_name(Op::Delete, vfs_via(Op::Delete) + 1), None);
        assert_eq!(via_name(Op::Chmod, vfs_via(Op::Chmod)), None, "no VFS hook");
        for h in &vfs::HOOKS {
            assert!(KINDS.iter().any(|k| k.op == h.op));
            assert!(h.check.starts_with("security_path_") && h.does.starts_with("vfs_"));
            assert_eq!(vfs::hook_of(h.op).map(|x| x.does), Some(h.does));
        }
    }
}
