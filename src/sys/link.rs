//! BPF links to perf events (`BPF_LINK_CREATE`, attach type BPF_PERF_EVENT, Linux ≥ 5.15): the program
//! stays attached exactly as long as the link fd is open.

use super::bpf::{
    sys_bpf_fd, LinkCreateAttr, RawTracepointOpenAttr, BPF_LINK_CREATE, BPF_PERF_EVENT,
    BPF_RAW_TRACEPOINT_OPEN,
};
use super::error::SysError;
use super::perf_event::PerfEvent;
use super::prog::Prog;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// An owned BPF link fd; closing it detaches the program.
#[derive(Debug)]
pub struct BpfLink(OwnedFd);

impl BpfLink {
    /// Link `prog` to the kprobe/tracepoint perf event `perf`.
    pub fn perf_event(prog: &Prog, perf: &PerfEvent) -> Result<BpfLink, SysError> {
        let mut attr = LinkCreateAttr {
            prog_fd: prog.fd() as u32,
            target_fd: perf.as_raw_fd() as u32,
            attach_type: BPF_PERF_EVENT,
            ..Default::default()
        };
        sys_bpf_fd(BPF_LINK_CREATE, &mut attr)
            .map(BpfLink)
            .map_err(|errno| SysError::Os {
                op: format!(
                    "BPF_LINK_CREATE of program '{}' to a perf event",
                    prog.name()
                ),
                errno,
            })
    }

    /// Attach `prog` (a raw tracepoint program) to raw tracepoint `name` (Linux ≥ 4.17).
    pub fn raw_tracepoint(prog: &Prog, name: &str) -> Result<BpfLink, SysError> {
        let c = std::ffi::CString::new(name)
            .map_err(|_| SysError::Invalid(format!("raw tracepoint name {name:?}")))?;
        let mut attr = RawTracepointOpenAttr {
            name: c.as_ptr() as u64,
            prog_fd: prog.fd() as u32,
            _pad: 0,
        };
        sys_bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
            .map(BpfLink)
            .map_err(|errno| SysError::Os {
                op: format!(
                    "BPF_RAW_TRACEPOINT_OPEN {name} for program '{}'",
                    prog.name()
                ),
                errno,
            })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for BpfLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
