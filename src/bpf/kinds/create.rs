//! `create`: a new regular file. An `O_CREAT` open counts only when it created the file (the kernel
//! marks such files `FMODE_CREATED`); `creat` likewise; `mknod` of a regular file always does.

use super::{at, cwd, Check, Syscall, Target, Value};

const O_CREAT: i32 = 0o100;
/// File-type bits other than `S_IFREG`: a mknod with none of them makes a regular file.
const NOT_REGULAR: i32 = 0o070000;

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        checks: &[Check::AllSet("flags", O_CREAT)],
        arg0: Some(Value::Arg("mode")),
        created_only: true,
        ..Syscall::new("openat", Target::RetFd)
    },
    Syscall {
        checks: &[Check::AllSet("flags", O_CREAT)],
        arg0: Some(Value::Arg("mode")),
        created_only: true,
        ..Syscall::new("open", Target::RetFd)
    },
    Syscall {
        created_only: true,
        ..Syscall::new("openat2", Target::RetFd)
    },
    Syscall {
        arg0: Some(Value::Arg("mode")),
        created_only: true,
        ..Syscall::new("creat", Target::RetFd)
    },
    Syscall {
        checks: &[Check::NoneSet("mode", NOT_REGULAR)],
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("mknodat", at("dfd", "filename"))
    },
    Syscall {
        checks: &[Check::NoneSet("mode", NOT_REGULAR)],
        arg0: Some(Value::Arg("mode")),
        ..Syscall::new("mknod", cwd("filename"))
    },
];
