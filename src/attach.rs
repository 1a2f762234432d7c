//! Attaching programs to kprobes and tracepoints. Every choice is made by probing what the kernel offers
//! (a kprobe PMU, tracefs kprobe_events, BPF links), never by its version. A `Link` owns everything an
//! attachment created and undoes it on drop.

use crate::sys::perf_event::{
    perf_event_open, PerfEvent, PerfEventAttr, PERF_ATTR_FLAG_DISABLED, PERF_TYPE_TRACEPOINT,
};
use crate::sys::tracefs::{self, KprobeEvent};
use crate::sys::{BpfLink, Prog, ProgType, SysError};
use std::ffi::CString;
use std::path::Path;

pub use crate::sys::tracefs::remove_stale_kprobe_events;

/// The error text when a kernel offers no kprobes at all.
pub const NO_KPROBES: &str = "this kernel has no kprobes (CONFIG_KPROBES); use --attach tracepoint";

/// The perf kprobe PMU (Linux ≥ 4.17): kprobes created by perf_event_open, gone when the fd closes.
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// How a kprobe is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KprobeMethod {
    /// The PMU if present, else tracefs.
    Auto,
    /// perf_event_open on the kprobe PMU.
    Pmu,
    /// An entry in tracefs `kprobe_events`, opened as a tracepoint perf event.
    Tracefs,
}

/// How the program is bound to its perf event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpfAttach {
    /// A BPF link where the kernel has them, else the ioctl.
    Auto,
    /// BPF_LINK_CREATE with attach type BPF_PERF_EVENT.
    Link,
    /// PERF_EVENT_IOC_SET_BPF (kernels before 5.15).
    Ioctl,
}

/// An attached program. Drop disables the perf event, closes the BPF link and perf fds, then removes
/// the tracefs kprobe entry if one was created (the kernel refuses while a perf event still holds it).
#[derive(Debug)]
pub struct Link {
    bpf_link: Option<BpfLink>,
    perf: Option<PerfEvent>,
    kprobe_event: Option<KprobeEvent>,
    attach: BpfAttach,
    kprobe_method: Option<KprobeMethod>,
    target: String,
}

impl Link {
    /// `Link` or `Ioctl`: what was actually used.
    pub fn attach_method(&self) -> BpfAttach {
        self.attach
    }
    /// `Pmu` or `Tracefs` for kprobes; `None` for tracepoints.
    pub fn kprobe_method(&self) -> Option<KprobeMethod> {
        self.kprobe_method
    }
    /// The tracefs event name (`filespy_<pid>_<n>`) of a kprobe created through tracefs.
    pub fn kprobe_event_name(&self) -> Option<&str> {
        self.kprobe_event.as_ref().map(KprobeEvent::name)
    }
    /// What is attached to, e.g. `kprobe:vfs_write` or `tracepoint:syscalls:sys_enter_write`.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(perf) = &self.perf {
            let _ = perf.disable();
        }
        drop(self.bpf_link.take());
        drop(self.perf.take());
        drop(self.kprobe_event.take());
    }
}

/// Is there any way to create a kprobe here (the PMU or tracefs kprobe_events)?
pub fn kprobes_available() -> bool {
    Path::new(KPROBE_PMU).join("type").exists() || tracefs::kprobe_events_path().is_some()
}

/// Attach `prog` (a RawTracepoint program) to raw tracepoint `name` (e.g. `sched_process_fork`).
pub fn attach_raw_tracepoint(prog: &Prog, name: &str) -> Result<Link, SysError> {
    check_prog_type(prog, ProgType::RawTracepoint, "a raw tracepoint")?;
    Ok(Link {
        bpf_link: Some(BpfLink::raw_tracepoint(prog, name)?),
        perf: None,
        kprobe_event: None,
        attach: BpfAttach::Link,
        kprobe_method: None,
        target: format!("raw_tracepoint:{name}"),
    })
}

/// Attach `prog` (a Tracepoint program) to tracepoint `category:name`.
pub fn attach_tracepoint(prog: &Prog, category: &str, name: &str) -> Result<Link, SysError> {
    attach_tracepoint_with(prog, category, name, BpfAttach::Auto)
}

/// `attach_tracepoint`, choosing how the program is bound.
pub fn attach_tracepoint_with(
    prog: &Prog,
    category: &str,
    name: &str,
    how: BpfAttach,
) -> Result<Link, SysError> {
    check_prog_type(prog, ProgType::Tracepoint, "a tracepoint")?;
    let id = tracefs::tracepoint_id(category, name)?;
    let perf = open_tracepoint_event(id)?;
    attach_perf_event(
        prog,
        perf,
        how,
        None,
        None,
        format!("tracepoint:{category}:{name}"),
    )
}

/// Attach `prog` (a Kprobe program) to the entry of kernel function `func`, or its return if `retprobe`.
pub fn attach_kprobe(
    prog: &Prog,
    func: &str,
    retprobe: bool,
    method: KprobeMethod,
) -> Result<Link, SysError> {
    attach_kprobe_with(prog, func, retprobe, method, BpfAttach::Auto)
}

/// `attach_kprobe`, choosing how the program is bound.
pub fn attach_kprobe_with(
    prog: &Prog,
    func: &str,
    retprobe: bool,
    method: KprobeMethod,
    how: BpfAttach,
) -> Result<Link, SysError> {
    check_prog_type(prog, ProgType::Kprobe, "a kprobe")?;
    tracefs::check_symbol(func)?;
    let pmu = Path::new(KPROBE_PMU).join("type").exists();
    let method = match method {
        // Only tracefs can raise a return probe's instance limit (see `KprobeEvent::create`).
        KprobeMethod::Auto if retprobe && tracefs::kprobe_events_path().is_some() => {
            KprobeMethod::Tracefs
        }
        KprobeMethod::Auto if pmu => KprobeMethod::Pmu,
        KprobeMethod::Auto if tracefs::kprobe_events_path().is_some() => KprobeMethod::Tracefs,
        KprobeMethod::Auto => return Err(SysError::Unsupported(NO_KPROBES.into())),
        m => m,
    };
    let target = format!("{}:{func}", if retprobe { "kretprobe" } else { "kprobe" });
    match method {
        KprobeMethod::Tracefs => {
            if tracefs::kprobe_events_path().is_none() {
                return Err(SysError::Unsupported(if pmu {
                    "this kernel has no tracefs kprobe_events; use the PMU method".to_string()
                } else {
                    NO_KPROBES.into()
                }));
            }
            let event = KprobeEvent::create(func, retprobe)?;
            let perf = open_tracepoint_event(event.id()?)?;
            attach_perf_event(
                prog,
                perf,
                how,
                Some(event),
                Some(KprobeMethod::Tracefs),
                target,
            )
        }
        _ => {
            if !pmu {
                return Err(SysError::Unsupported(if kprobes_available() {
                    format!("this kernel has no kprobe PMU ({KPROBE_PMU}); use the tracefs method")
                } else {
                    NO_KPROBES.into()
                }));
            }
            let perf = open_pmu_kprobe(func, retprobe)?;
            attach_perf_event(prog, perf, how, None, Some(KprobeMethod::Pmu), target)
        }
    }
}

fn check_prog_type(prog: &Prog, want: ProgType, what: &str) -> Result<(), SysError> {
    if prog.prog_type() == want {
        Ok(())
    } else {
        Err(SysError::Invalid(format!(
            "program '{}' is {:?}; {what} needs a {want:?} program",
            prog.name(),
            prog.prog_type()
        )))
    }
}

/// A disabled tracepoint-type perf event for trace event `id`. pid -1 with cpu 0 is the form the kernel
/// accepts for a system-wide tracepoint; the BPF program it carries then runs on every CPU, because the
/// kernel keeps BPF programs on the trace event itself, not in the per-CPU event lists.
fn open_tracepoint_event(id: u64) -> Result<PerfEvent, SysError> {
    let mut attr = PerfEventAttr::new(PERF_TYPE_TRACEPOINT, id);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    attr.flags = PERF_ATTR_FLAG_DISABLED;
    perf_event_open(&attr, -1, 0, -1, 0)
}

/// Read a sysfs file holding one unsigned number.
fn read_sysfs_u32(path: &Path) -> Result<u32, SysError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SysError::from_io(format!("read {}", path.display()), &e))?;
    text.trim()
        .parse()
        .map_err(|_| SysError::Invalid(format!("{} holds '{}'", path.display(), text.trim())))
}

/// The `config` bit of a PMU format file such as `config:0`.
pub fn parse_config_bit(format: &str) -> Option<u32> {
    let bit = format.trim().strip_prefix("config:")?;
    bit.parse().ok().filter(|&b| b < 64)
}

/// A kprobe created on the perf kprobe PMU: config1 points at the symbol, config2 is the offset (0).
fn open_pmu_kprobe(func: &str, retprobe: bool) -> Result<PerfEvent, SysError> {
    let pmu = Path::new(KPROBE_PMU);
    let pmu_type = read_sysfs_u32(&pmu.join("type"))?;
    let mut attr = PerfEventAttr::new(pmu_type, 0);
    if retprobe {
        let path = pmu.join("format/retprobe");
        let format = std::fs::read_to_string(&path)
            .map_err(|e| SysError::from_io(format!("read {}", path.display()), &e))?;
        let bit = parse_config_bit(&format).ok_or_else(|| {
            SysError::Invalid(format!("{} holds '{}'", path.display(), format.trim()))
        })?;
        attr.config |= 1 << bit;
    }
    let name = CString::new(func)
        .map_err(|_| SysError::Invalid(format!("invalid kprobe target '{func}'")))?;
    attr.config1 = name.as_ptr() as u64; // `name` outlives the call below
    attr.config2 = 0;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    attr.flags = PERF_ATTR_FLAG_DISABLED;
    perf_event_open(&attr, -1, 0, -1, 0).map_err(|e| match e {
        SysError::Os { errno, .. } => SysError::Os {
            op: format!(
                "kprobe PMU on '{func}'{}",
                if retprobe { " (return probe)" } else { "" }
            ),
            errno,
        },
        other => other,
    })
}

/// Errnos with which a kernel without perf-event BPF links refuses BPF_LINK_CREATE.
fn link_unsupported(e: &SysError) -> bool {
    matches!(
        e.errno(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::E2BIG | 524)
    )
}

/// Bind `prog` to `perf`, then enable the event. The `Link` is built before enabling so that a failure
/// still releases everything through its Drop.
fn attach_perf_event(
    prog: &Prog,
    perf: PerfEvent,
    how: BpfAttach,
    kprobe_event: Option<KprobeEvent>,
    kprobe_method: Option<KprobeMethod>,
    target: String,
) -> Result<Link, SysError> {
    let (bpf_link, attach) = match how {
        BpfAttach::Link => (Some(BpfLink::perf_event(prog, &perf)?), BpfAttach::Link),
        BpfAttach::Ioctl => {
            perf.set_bpf(prog.fd())?;
            (None, BpfAttach::Ioctl)
        }
        BpfAttach::Auto => match BpfLink::perf_event(prog, &perf) {
            Ok(l) => (Some(l), BpfAttach::Link),
            Err(e) if link_unsupported(&e) => {
                perf.set_bpf(prog.fd())?;
                (None, BpfAttach::Ioctl)
            }
            Err(e) => return Err(e),
        },
    };
    let link = Link {
        bpf_link,
        perf: Some(perf),
        kprobe_event,
        attach,
        kprobe_method,
        target,
    };
    if let Some(perf) = &link.perf {
        perf.enable()?;
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmu_format_bits_parse() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:63"), Some(63));
        assert_eq!(parse_config_bit("config:64"), None);
        assert_eq!(parse_config_bit("config1:0"), None);
        assert_eq!(parse_config_bit(""), None);
    }
}
