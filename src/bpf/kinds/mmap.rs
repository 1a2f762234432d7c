//! `mmap`: a shared writable mapping of a regular file, once at map time: stores through it reach the
//! file without a syscall, so this is the only trace they leave.

use super::{Check, Syscall, Target, Value};

const PROT_WRITE: i32 = 2;
const MAP_SHARED: i32 = 1;
const MAP_ANONYMOUS: i32 = 0x20;

pub const SYSCALLS: &[Syscall] = &[Syscall {
    checks: &[
        Check::AllSet("prot", PROT_WRITE),
        Check::AllSet("flags", MAP_SHARED),
        Check::NoneSet("flags", MAP_ANONYMOUS),
    ],
    arg0: Some(Value::Arg("prot")),
    arg1: Some(Value::Arg("flags")),
    bytes: Some(Value::Arg("len")),
    regular_only: true,
    ..Syscall::new("mmap", Target::Fd("fd"))
}];
