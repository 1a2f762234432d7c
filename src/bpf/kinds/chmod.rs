//! `chmod`: permission bits set (`file.mode`).

use super::{at, cwd, Syscall, Target, Value};

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("fchmodat", at("dfd", "filename"))
    },
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("fchmodat2", at("dfd", "filename"))
    },
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("fchmod", Target::Fd("fd"))
    },
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("chmod", cwd("filename"))
    },
];
