//! The one choke point for `bpf(2)`: command numbers, one `#[repr(C)]` attribute struct per command (the
//! matching member of `union bpf_attr` in `linux/bpf.h`), and the raw call that passes each struct's size.

use super::error::{last_errno, SysError};
use std::os::fd::{FromRawFd, OwnedFd};

// `enum bpf_cmd`.
pub const BPF_MAP_CREATE: u32 = 0;
pub const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub const BPF_MAP_UPDATE_ELEM: u32 = 2;
pub const BPF_MAP_DELETE_ELEM: u32 = 3;
pub const BPF_MAP_GET_NEXT_KEY: u32 = 4;
pub const BPF_PROG_LOAD: u32 = 5;
pub const BPF_OBJ_PIN: u32 = 6;
pub const BPF_OBJ_GET: u32 = 7;
pub const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;
pub const BPF_LINK_CREATE: u32 = 28;

/// `enum bpf_attach_type` value of a link to a perf event (kprobe/tracepoint perf events, ≥ 5.15).
pub const BPF_PERF_EVENT: u32 = 41;

// Map update flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

/// Object names (`BPF_OBJ_NAME_LEN`) hold 15 bytes and a NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// Marker for the attribute structs: plain old data the kernel reads (and may write) in place.
///
/// # Safety
/// Implementors are `#[repr(C)]`, hold only integers, and any pointer they carry as a `u64` must stay
/// valid for the duration of the call.
pub unsafe trait BpfAttr: Sized {
    const NAME: &'static str;
}

/// `BPF_MAP_CREATE` (the fields up to `map_ifindex`; later ones stay zero).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; BPF_OBJ_NAME_LEN],
    pub map_ifindex: u32,
}
unsafe impl BpfAttr for MapCreateAttr {
    const NAME: &'static str = "BPF_MAP_CREATE";
}

/// `BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM`: pointers to key and value buffers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}
unsafe impl BpfAttr for MapElemAttr {
    const NAME: &'static str = "BPF_MAP_*_ELEM";
}

/// `BPF_PROG_LOAD` (the fields up to `expected_attach_type`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; BPF_OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
}
unsafe impl BpfAttr for ProgLoadAttr {
    const NAME: &'static str = "BPF_PROG_LOAD";
}

/// `BPF_LINK_CREATE` with the `perf_event` member of its trailing union (`bpf_cookie`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkCreateAttr {
    pub prog_fd: u32,
    pub target_fd: u32,
    pub attach_type: u32,
    pub flags: u32,
    pub bpf_cookie: u64,
}
unsafe impl BpfAttr for LinkCreateAttr {
    const NAME: &'static str = "BPF_LINK_CREATE";
}

/// `BPF_OBJ_PIN` / `BPF_OBJ_GET`: a path in a BPF file system and the object's fd.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ObjPathAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}
unsafe impl BpfAttr for ObjPathAttr {
    const NAME: &'static str = "BPF_OBJ_PIN/GET";
}

/// The head of `struct bpf_map_info` (enough to check what a pinned map is).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MapInfoHead {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// `BPF_RAW_TRACEPOINT_OPEN`: the tracepoint's name and the program; returns a link-like fd.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RawTracepointOpenAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad: u32,
}
unsafe impl BpfAttr for RawTracepointOpenAttr {
    const NAME: &'static str = "BPF_RAW_TRACEPOINT_OPEN";
}

/// `BPF_OBJ_GET_INFO_BY_FD`: the kernel fills `info_len` bytes at `info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ObjGetInfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}
unsafe impl BpfAttr for ObjGetInfoAttr {
    const NAME: &'static str = "BPF_OBJ_GET_INFO_BY_FD";
}

/// The head of `struct bpf_prog_info` (enough for type and id).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgInfoHead {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
}

/// `bpf(cmd, attr, sizeof attr)`: the non-negative result, or the errno.
pub fn sys_bpf<A: BpfAttr>(cmd: u32, attr: &mut A) -> Result<i64, i32> {
    // SAFETY: `attr` is a live, properly sized #[repr(C)] struct (BpfAttr contract); the kernel copies at
    // most `size_of::<A>()` bytes in and, for some commands, writes back within that size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut A as *mut libc::c_void,
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// A bpf command that returns a new fd, wrapped as an `OwnedFd`.
pub fn sys_bpf_fd<A: BpfAttr>(cmd: u32, attr: &mut A) -> Result<OwnedFd, i32> {
    let fd = sys_bpf(cmd, attr)?;
    // SAFETY: on success these commands return a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Like `sys_bpf`, mapping the errno to a `SysError` that names `op`.
pub fn bpf_call<A: BpfAttr>(
    cmd: u32,
    attr: &mut A,
    op: impl FnOnce() -> String,
) -> Result<i64, SysError> {
    sys_bpf(cmd, attr).map_err(|errno| SysError::Os { op: op(), errno })
}

/// An object name as the kernel accepts it: alphanumerics, `_` and `.`, at most 15 bytes, NUL-padded.
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    for (slot, b) in out.iter_mut().zip(name.bytes().take(BPF_OBJ_NAME_LEN - 1)) {
        *slot = if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            b
        } else {
            b'_'
        };
    }
    out
}

/// Best effort: lift RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF maps and programs to. Newer
/// kernels charge memcg instead, so a refusal (EPERM in a container) is harmless and ignored.
pub fn raise_memlock_rlimit() {
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn attr_layouts_match_linux_bpf_h() {
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(size_of::<MapCreateAttr>(), 48);
        assert_eq!(offset_of!(MapElemAttr, key), 8);
        assert_eq!(offset_of!(MapElemAttr, flags), 24);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(offset_of!(ProgLoadAttr, log_level), 24);
        assert_eq!(offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadAttr, kern_version), 40);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(offset_of!(LinkCreateAttr, bpf_cookie), 16);
        assert_eq!(size_of::<LinkCreateAttr>(), 24);
        assert_eq!(size_of::<ObjGetInfoAttr>(), 16);
        assert_eq!(size_of::<RawTracepointOpenAttr>(), 16);
        assert_eq!(offset_of!(ObjPathAttr, bpf_fd), 8);
        assert_eq!(size_of::<ObjPathAttr>(), 16);
        assert_eq!(offset_of!(MapInfoHead, max_entries), 16);
    }

    #[test]
    fn names_are_sanitised_and_truncated() {
        assert_eq!(&obj_name("a-b.c_d")[..8], b"a_b.c_d\0");
        let long = obj_name("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(&long[..15], b"abcdefghijklmno");
        assert_eq!(long[15], 0);
    }
}
