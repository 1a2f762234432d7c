//! `rmdir`: a directory removed.

use super::{at, cwd, delete::AT_REMOVEDIR, Check, Syscall};

pub const SYSCALLS: &[Syscall] = &[
    Syscall::new("rmdir", cwd("pathname")),
    Syscall {
        checks: &[Check::AllSet("flag", AT_REMOVEDIR)],
        ..Syscall::new("unlinkat", at("dfd", "pathname"))
    },
];
