//! `mkdir`: a directory created, with the mode asked for (before the umask).

use super::{at, cwd, Syscall, Value};

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("mkdirat", at("dfd", "pathname"))
    },
    Syscall {
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("mkdir", cwd("pathname"))
    },
];
