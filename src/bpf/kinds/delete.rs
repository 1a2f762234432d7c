//! `delete`: a name removed with `unlink` (`unlinkat` with `AT_REMOVEDIR` is `rmdir`).

use super::{at, cwd, Check, Syscall};

pub const AT_REMOVEDIR: i32 = 0x200;

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        checks: &[Check::NoneSet("flag", AT_REMOVEDIR)],
        ..Syscall::new("unlinkat", at("dfd", "pathname"))
    },
    Syscall::new("unlink", cwd("pathname")),
];
