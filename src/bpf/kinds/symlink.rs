//! `symlink`: a symbolic link (`file_path`) and the text it holds (`target`, never resolved).

use super::{at, cwd, Syscall, Target};

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        second: Some(Target::Text("oldname")),
        ..Syscall::new("symlinkat", at("newdfd", "newname"))
    },
    Syscall {
        second: Some(Target::Text("oldname")),
        ..Syscall::new("symlink", cwd("newname"))
    },
];
