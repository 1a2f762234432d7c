//! `truncate`: a file's size set (`truncate`, `ftruncate`: `file.size` is the length asked for), or its
//! space changed by `fallocate` (`file.size` is the size after; a plain `FALLOC_FL_KEEP_SIZE`
//! preallocation changes nothing visible and is not an event). Every other successful fallocate is
//! one, mode 0 inside the current size too: it may have extended the file, and the exit sees only
//! the size after (telling would need the size before, a second file lookup at the entry), so a
//! reader compares `file.size` with the file's earlier size.

use super::{cwd, Check, Syscall, Target, Value};

const FALLOC_FL_KEEP_SIZE: i32 = 1;

pub const SYSCALLS: &[Syscall] = &[
    Syscall {
        bytes: Some(Value::Arg("length")),
        regular_only: true,
        ..Syscall::new("ftruncate", Target::Fd("fd"))
    },
    Syscall {
        bytes: Some(Value::Arg("length")),
        ..Syscall::new("truncate", cwd("path"))
    },
    Syscall {
        checks: &[Check::NotEqual("mode", FALLOC_FL_KEEP_SIZE)],
        arg0: Some(Value::Arg("mode")),
        bytes: Some(Value::SizeAfter),
        regular_only: true,
        ..Syscall::new("fallocate", Target::Fd("fd"))
    },
];
