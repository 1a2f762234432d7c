//! `chown`: owner and group set (`file.uid`, `file.gid`; -1 leaves one unchanged and is shown as null).

use super::{at, cwd, Syscall, Target, Value};

const OWNER: (Option<Value>, Option<Value>) = (Some(Value::Arg("user")), Some(Value::Arg("group")));

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        arg0: OWNER.0,
        arg1: OWNER.1,
        ..Syscall::new("fchownat", at("dfd", "filename"))
    },
    Syscall {
        arg0: OWNER.0,
        arg1: OWNER.1,
        ..Syscall::new("fchown", Target::Fd("fd"))
    },
    Syscall {
        arg0: OWNER.0,
        arg1: OWNER.1,
        ..Syscall::new("chown", cwd("filename"))
    },
    Syscall {
        arg0: OWNER.0,
        arg1: OWNER.1,
        ..Syscall::new("lchown", cwd("filename"))
    },
];
