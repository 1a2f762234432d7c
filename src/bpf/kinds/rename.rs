//! `rename`: `file_path` is the new name, `old_path` the old one; `renameat2`'s flags (`RENAME_NOREPLACE`,
//! `RENAME_EXCHANGE`, `RENAME_WHITEOUT`) are kept.

use super::{at, cwd, Syscall, Value};

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        second: Some(at("olddfd", "oldname")),
        arg1: Some(Value::Arg("flags")),
        ..Syscall::new("renameat2", at("newdfd", "newname"))
    },
    Syscall {
        second: Some(at("olddfd", "oldname")),
        ..Syscall::new("renameat", at("newdfd", "newname"))
    },
    Syscall {
        second: Some(cwd("oldname")),
        ..Syscall::new("rename", cwd("newname"))
    },
];
