//! Where the records of the `syscalls:sys_enter_*`/`sys_exit_*` tracepoints keep the fields the programs
//! read (the arguments the kinds name, `ret`), and whether a tracepoint exists: from tracefs' `format` files when this process
//! may read them, else from BTF. tracefs is usually mode 0700, so `--dump-prog` as a plain user (and
//! anyone without CAP_DAC_READ_SEARCH) can only take the BTF way.
//!
//! The kernel writes every syscall tracepoint record from one struct (kernel/trace/trace_syscalls.c):
//! `struct syscall_trace_enter { struct trace_entry ent; int nr; unsigned long args[]; }` and
//! `struct syscall_trace_exit { struct trace_entry ent; int nr; long ret; }`, argument i at
//! `args + 8 * i`. A test checks that both ways agree on this kernel.

use crate::offsets::KernelOffsets;
use crate::sys::{tracefs, SysError};

/// The parameters of every hooked syscall, in order (the names its `sys_enter` format file gives
/// them); a test checks them against this kernel's tracefs.
const PARAMS: &[(&str, &[&str])] = &[
    ("write", &["fd", "buf", "count"]),
    ("pwrite64", &["fd", "buf", "count", "pos"]),
    ("writev", &["fd", "vec", "vlen"]),
    ("pwritev", &["fd", "vec", "vlen", "pos_l", "pos_h"]),
    (
        "pwritev2",
        &["fd", "vec", "vlen", "pos_l", "pos_h", "flags"],
    ),
    (
        "copy_file_range",
        &["fd_in", "off_in", "fd_out", "off_out", "len", "flags"],
    ),
    ("sendfile64", &["out_fd", "in_fd", "offset", "count"]),
    (
        "splice",
        &["fd_in", "off_in", "fd_out", "off_out", "len", "flags"],
    ),
    ("openat", &["dfd", "filename", "flags", "mode"]),
    ("open", &["filename", "flags", "mode"]),
    ("openat2", &["dfd", "filename", "how", "usize"]),
    ("creat", &["pathname", "mode"]),
    ("mknodat", &["dfd", "filename", "mode", "dev"]),
    ("mknod", &["filename", "mode", "dev"]),
    ("unlinkat", &["dfd", "pathname", "flag"]),
    ("unlink", &["pathname"]),
    ("rmdir", &["pathname"]),
    ("mkdirat", &["dfd", "pathname", "mode"]),
    ("mkdir", &["pathname", "mode"]),
    (
        "renameat2",
        &["olddfd", "oldname", "newdfd", "newname", "flags"],
    ),
    ("renameat", &["olddfd", "oldname", "newdfd", "newname"]),
    ("rename", &["oldname", "newname"]),
    (
        "linkat",
        &["olddfd", "oldname", "newdfd", "newname", "flags"],
    ),
    ("link", &["oldname", "newname"]),
    ("symlinkat", &["oldname", "newdfd", "newname"]),
    ("symlink", &["oldname", "newname"]),
    ("fchmodat", &["dfd", "filename", "mode"]),
    ("fchmodat2", &["dfd", "filename", "mode", "flags"]),
    ("fchmod", &["fd", "mode"]),
    ("chmod", &["filename", "mode"]),
    ("fchownat", &["dfd", "filename", "user", "group", "flag"]),
    ("fchown", &["fd", "user", "group"]),
    ("chown", &["filename", "user", "group"]),
    ("lchown", &["filename", "user", "group"]),
    ("ftruncate", &["fd", "length"]),
    ("truncate", &["path", "length"]),
    ("fallocate", &["fd", "mode", "offset", "len"]),
    ("mmap", &["addr", "len", "prot", "flags", "fd", "off"]),
];

/// Which argument `field` of `sys_enter_<call>` is.
fn arg_index(tp: &str, field: &str) -> Option<i16> {
    let call = tp.strip_prefix("sys_enter_")?;
    let (_, params) = PARAMS.iter().find(|(c, _)| *c == call)?;
    params.iter().position(|p| *p == field).map(|i| i as i16)
}

/// Byte offset of `field` in the records of `syscalls:<tp>`.
pub fn field_offset(k: &KernelOffsets, tp: &str, field: &str) -> Result<i16, SysError> {
    let denied = match tracefs::tracepoint_field_offset("syscalls", tp, field) {
        Ok(off) => {
            return i16::try_from(off).map_err(|_| {
                SysError::Invalid(format!("tracepoint {tp} field {field} at offset {off}"))
            })
        }
        Err(e) if e.errno() == Some(libc::EACCES) || e.errno() == Some(libc::EPERM) => e,
        Err(e) => return Err(e),
    };
    from_btf(k, tp, field).ok_or(denied)
}

/// What BTF says the offset of `field` in `syscalls:<tp>` is, for the fields filespy reads.
pub fn from_btf(k: &KernelOffsets, tp: &str, field: &str) -> Option<i16> {
    if tp.starts_with("sys_enter_") {
        let args = k.syscall_enter_args?;
        args.checked_add(8 * arg_index(tp, field)?)
    } else if tp.starts_with("sys_exit_") && field == "ret" {
        k.syscall_exit_ret
    } else {
        None
    }
}

/// Does `syscalls:<tp>` exist? Where tracefs cannot be looked into: whenever the kernel has syscall
/// tracepoints at all, since the hooked syscalls exist on every kernel with BTF (pwritev2, the
/// youngest, is from 4.6).
pub fn exists(k: &KernelOffsets, tp: &str) -> bool {
    tracefs::tracepoint_presence("syscalls", tp)
        .unwrap_or(k.syscall_enter_args.is_some() && k.syscall_exit_ret.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::Btf;

    /// The fallback is only worth having if it says what tracefs says: compare them on this kernel.
    #[test]
    fn btf_layout_agrees_with_tracefs_format_files() {
        let k = KernelOffsets::from_btf(&Btf::load(None).expect("kernel BTF")).expect("offsets");
        let mut checked = 0;
        for (call, params) in PARAMS {
            let enter = format!("sys_enter_{call}");
            let exit = format!("sys_exit_{call}");
            if tracefs::tracepoint_presence("syscalls", &enter) != Some(true) {
                // fchmodat2 is from 6.6; tests run as root, with tracefs.
                assert!(*call == "fchmodat2", "{enter} missing");
                continue;
            }
            for p in *params {
                let off = tracefs::tracepoint_field_offset("syscalls", &enter, p).unwrap();
                assert_eq!(from_btf(&k, &enter, p), Some(off as i16), "{enter} {p}");
                checked += 1;
            }
            let ret = tracefs::tracepoint_field_offset("syscalls", &exit, "ret").unwrap();
            assert_eq!(from_btf(&k, &exit, "ret"), Some(ret as i16), "{exit}");
            checked += 1;
        }
        assert!(checked > 100, "{checked}");
        assert_eq!(from_btf(&k, "sys_enter_write", "nope"), None);
        assert_eq!(from_btf(&k, "sys_exit_write", "fd"), None);
    }
}
