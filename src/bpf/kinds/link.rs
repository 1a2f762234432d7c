//! `link`: a new hard link (`file_path`) to an existing file (`target`).

use super::{at, cwd, Syscall};

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        second: Some(at("olddfd", "oldname")),
        ..Syscall::new("linkat", at("newdfd", "newname"))
    },
    Syscall {
        second: Some(cwd("oldname")),
        ..Syscall::new("link", cwd("newname"))
    },
];
