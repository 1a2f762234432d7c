//! `perf_event_open(2)` and the perf ioctls: the kernel's `struct perf_event_attr` (PERF_ATTR_SIZE_VER8
//! layout) and `PerfEvent`, the owned event fd.

use super::error::{last_errno, SysError};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

// `enum perf_type_id`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;

/// `enum perf_sw_ids`: the event `bpf_perf_event_output` writes to.
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;

// `enum perf_event_sample_format`.
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;

// perf_event_open flags.
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;

// Bits of `PerfEventAttr::flags` (the C bitfield after `read_format`, LSB first).
pub const PERF_ATTR_FLAG_DISABLED: u64 = 1 << 0;
/// `wakeup_watermark` (bytes) instead of `wakeup_events` decides when poll() wakes.
pub const PERF_ATTR_FLAG_WATERMARK: u64 = 1 << 14;

// ioctls (`_IO('$', n)`, `_IOW('$', n, T)`, `_IOR('$', n, T)` on x86_64/aarch64 encodings).
pub const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: u64 = 0x2401;
pub const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;

/// PERF_ATTR_SIZE_VER8: the layout below, through `config3`.
pub const PERF_ATTR_SIZE_VER8: u32 = 136;

/// `struct perf_event_attr`. Older kernels accept this larger size as long as the fields they do not
/// know are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// Union with `sample_freq` (when the `freq` bit of `flags` is set).
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// The bitfield of PERF_ATTR_FLAG_* bits.
    pub flags: u64,
    /// Union with `wakeup_watermark` (when PERF_ATTR_FLAG_WATERMARK is set).
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// Union: `bp_addr`, `kprobe_func` (pointer to a NUL-terminated name), `uprobe_path`.
    pub config1: u64,
    /// Union: `bp_len`, `kprobe_addr`, `probe_offset`.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
    pub aux_sample_size: u32,
    pub reserved_3: u32,
    pub sig_data: u64,
    pub config3: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER8 as usize);

impl PerfEventAttr {
    /// An all-zero attr of `type_`/`config` with `size` set.
    pub fn new(type_: u32, config: u64) -> PerfEventAttr {
        PerfEventAttr {
            type_,
            size: PERF_ATTR_SIZE_VER8,
            config,
            ..Default::default()
        }
    }

    /// `wakeup_watermark`, the other member of the `wakeup_events` union.
    pub fn set_wakeup_watermark(&mut self, bytes: u32) {
        self.flags |= PERF_ATTR_FLAG_WATERMARK;
        self.wakeup_events = bytes;
    }
}

/// An open perf event; closing it (drop) detaches whatever BPF program it carries.
#[derive(Debug)]
pub struct PerfEvent(OwnedFd);

/// `perf_event_open(attr, pid, cpu, group_fd, flags | PERF_FLAG_FD_CLOEXEC)`.
///
/// Any pointer `attr` carries (e.g. `config1` as a kprobe function name) must be valid during the call.
pub fn perf_event_open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    group_fd: i32,
    flags: u64,
) -> Result<PerfEvent, SysError> {
    // SAFETY: `attr` is a live struct of `attr.size` ≤ 136 bytes; the kernel only reads it (it writes
    // `size` back only on E2BIG, within the struct).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const PerfEventAttr,
            pid as libc::c_long,
            cpu as libc::c_long,
            group_fd as libc::c_long,
            (flags | PERF_FLAG_FD_CLOEXEC) as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(SysError::Os {
            op: format!(
                "perf_event_open (type {}, config {:#x}, cpu {cpu})",
                attr.type_, attr.config
            ),
            errno: last_errno(),
        });
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(PerfEvent(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

impl PerfEvent {
    fn ioctl(&self, request: u64, arg: libc::c_ulong, what: &str) -> Result<libc::c_int, SysError> {
        // SAFETY: perf ioctls on our own fd; `arg` is an integer for every request issued here.
        let ret = unsafe { libc::ioctl(self.0.as_raw_fd(), request as _, arg) };
        if ret < 0 {
            Err(SysError::last_os(format!("ioctl({what}) on perf event")))
        } else {
            Ok(ret)
        }
    }

    pub fn enable(&self) -> Result<(), SysError> {
        self.ioctl(PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")
            .map(drop)
    }

    pub fn disable(&self) -> Result<(), SysError> {
        self.ioctl(PERF_EVENT_IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")
            .map(drop)
    }

    /// Attach a BPF program to this (kprobe/tracepoint) event, the pre-link way.
    pub fn set_bpf(&self, prog_fd: RawFd) -> Result<(), SysError> {
        self.ioctl(
            PERF_EVENT_IOC_SET_BPF,
            prog_fd as libc::c_ulong,
            "PERF_EVENT_IOC_SET_BPF",
        )
        .map(drop)
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for PerfEvent {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for PerfEvent {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn attr_layout_matches_perf_event_h() {
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, wakeup_events), 48);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, config2), 64);
        assert_eq!(offset_of!(PerfEventAttr, sample_stack_user), 88);
        assert_eq!(offset_of!(PerfEventAttr, sample_regs_intr), 96);
        assert_eq!(offset_of!(PerfEventAttr, sample_max_stack), 108);
        assert_eq!(offset_of!(PerfEventAttr, aux_sample_size), 112);
        assert_eq!(offset_of!(PerfEventAttr, sig_data), 120);
        assert_eq!(offset_of!(PerfEventAttr, config3), 128);
        assert_eq!(PerfEventAttr::new(1, 10).size, 136);
    }

    #[test]
    fn watermark_shares_the_wakeup_field() {
        let mut a = PerfEventAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT);
        a.set_wakeup_watermark(4096);
        assert_eq!(a.flags, PERF_ATTR_FLAG_WATERMARK);
        assert_eq!(a.wakeup_events, 4096);
    }
}
