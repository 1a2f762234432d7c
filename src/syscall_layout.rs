//! Where the records of the `syscalls:sys_enter_*`/`sys_exit_*` tracepoints keep the fields the programs
//! read (`fd`, `ret`), and whether a tracepoint exists: from tracefs' `format` files when this process
//! may read them, else from BTF. tracefs is usually mode 0700, so `--dump-prog` as a plain user (and
//! anyone without CAP_DAC_READ_SEARCH) can only take the BTF way.
//!
//! The kernel writes every syscall tracepoint record from one struct (kernel/trace/trace_syscalls.c):
//! `struct syscall_trace_enter { struct trace_entry ent; int nr; unsigned long args[]; }` and
//! `struct syscall_trace_exit { struct trace_entry ent; int nr; long ret; }`, argument i at
//! `args + 8 * i`. A test checks that both ways agree on this kernel.

use crate::offsets::KernelOffsets;
use crate::sys::{tracefs, SysError};

/// The argument each hooked syscall's `sys_enter` field is: `fd` is the first argument of write,
/// pwrite64, writev, pwritev and pwritev2.
fn arg_index(field: &str) -> Option<i16> {
    (field == "fd").then_some(0)
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
        args.checked_add(8 * arg_index(field)?)
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
        for call in ["write", "pwrite64", "writev", "pwritev", "pwritev2"] {
            let enter = format!("sys_enter_{call}");
            let exit = format!("sys_exit_{call}");
            assert_eq!(
                tracefs::tracepoint_presence("syscalls", &enter),
                Some(true),
                "tests run as root, with tracefs"
            );
            let fd = tracefs::tracepoint_field_offset("syscalls", &enter, "fd").unwrap();
            let ret = tracefs::tracepoint_field_offset("syscalls", &exit, "ret").unwrap();
            assert_eq!(from_btf(&k, &enter, "fd"), Some(fd as i16), "{enter}");
            assert_eq!(from_btf(&k, &exit, "ret"), Some(ret as i16), "{exit}");
            checked += 2;
        }
        assert_eq!(checked, 10);
        assert_eq!(from_btf(&k, "sys_enter_write", "buf"), None);
        assert_eq!(from_btf(&k, "sys_exit_write", "fd"), None);
    }
}
