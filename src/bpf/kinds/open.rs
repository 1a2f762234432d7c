//! `open`: a file opened, with its flags, mode, the fd returned and whether the call created it. Opens
//! are among the loudest calls a system makes, so the file filters (regular files, `--ext`) run in
//! the kernel before a record is started.

use super::{Syscall, Target, Value};

/// `creat(path, mode)` is `open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)`.
const CREAT_FLAGS: i32 = 0o1101;

const fn opened(name: &'static str, flags: Value, mode: Value) -> Syscall {
    Syscall {
        arg0: Some(flags),
        arg1: Some(mode),
        bytes: Some(Value::Ret),
        file_filter: true,
        mark_created: true,
        ..Syscall::new(name, Target::RetFd)
    }
}

pub const SYSCALLS: &[Syscall] = &[
    opened("openat", Value::Arg("flags"), Value::Arg("mode")),
    opened("open", Value::Arg("flags"), Value::Arg("mode")),
    // struct open_how { u64 flags; u64 mode; u64 resolve; }: the low halves (flags and modes fit).
    opened("openat2", Value::User("how", 0), Value::User("how", 8)),
    opened("creat", Value::Const(CREAT_FLAGS), Value::Arg("mode")),
];
