//! The per-CPU perf buffer: one `PERF_COUNT_SW_BPF_OUTPUT` event and mmap'd ring per online CPU, registered
//! in a `PERF_EVENT_ARRAY` map so `bpf_perf_event_output(.., BPF_F_CURRENT_CPU, ..)` reaches them; read
//! with one `poll(2)` over every ring (plus an optional extra fd such as a signalfd) and drained through
//! `perf_ring::RingView`.

use crate::perf_ring::RingView;
pub use crate::perf_ring::{DrainStats, Record};
use crate::sys::mmap::{page_size, MmapRegion};
use crate::sys::perf_event::{
    perf_event_open, PerfEvent, PerfEventAttr, PERF_ATTR_FLAG_DISABLED, PERF_COUNT_SW_BPF_OUTPUT,
    PERF_SAMPLE_RAW, PERF_TYPE_SOFTWARE,
};
use crate::sys::signal::{is_ready, poll_fds};
use crate::sys::{online_cpus, Map, MapType, SysError, BPF_ANY};
use std::os::fd::RawFd;

/// What woke `PerfBuffer::poll`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// At least one ring reached its wakeup watermark (or reported an error): drain.
    pub data: bool,
    /// The extra fd is readable.
    pub extra: bool,
}

/// One CPU's event and ring. Field order is drop order: the view (no drop) and the mapping go before the
/// event fd is closed, so the ring is unmapped before its event.
struct Ring {
    view: RingView,
    mmap: MmapRegion,
    event: PerfEvent,
    cpu: u32,
    lost: u64,
}

/// Every online CPU's BPF output ring.
///
/// The map entries stay in the map after drop (the kernel keeps those events until the entry is replaced
/// or the map closed); nothing is read from them any more.
pub struct PerfBuffer {
    rings: Vec<Ring>,
    /// The pollfd array: one per ring, then room for the extra fd, reused by every `poll`.
    pfds: Vec<libc::pollfd>,
    /// Reassembly space for records that wrap the end of a ring, reused by every `drain`.
    scratch: Vec<u8>,
}

/// The largest watermark for a ring of `ring_bytes`: a quarter is left free so records arriving while
/// the woken reader gets going are not lost.
fn clamp_watermark(wakeup_bytes: u32, ring_bytes: usize) -> u32 {
    let max = ring_bytes - ring_bytes / 4;
    wakeup_bytes.min(u32::try_from(max).unwrap_or(u32::MAX))
}

impl PerfBuffer {
    /// Open one event per online CPU with a ring of `pages` data pages (a power of two), store each
    /// event's fd in `map` (a PERF_EVENT_ARRAY) at key = CPU, and enable them.
    ///
    /// `wakeup_bytes` batches wakeups: `poll` wakes once a ring holds that many bytes (clamped to three
    /// quarters of the ring). 0 wakes on every record.
    pub fn open(map: &Map, pages: usize, wakeup_bytes: u32) -> Result<PerfBuffer, SysError> {
        if pages == 0 || !pages.is_power_of_two() {
            return Err(SysError::Invalid(format!(
                "perf buffer of {pages} pages: the kernel needs a power of two"
            )));
        }
        if map.map_type() != MapType::PerfEventArray {
            return Err(SysError::Invalid(format!(
                "perf buffer needs a perf_event_array map, '{}' is {:?}",
                map.name(),
                map.map_type()
            )));
        }
        if map.key_size() != 4 || map.value_size() != 4 {
            return Err(SysError::Invalid(format!(
                "perf_event_array '{}' must have 4-byte keys and values (has {} and {})",
                map.name(),
                map.key_size(),
                map.value_size()
            )));
        }
        let page = page_size();
        let ring_bytes = pages.checked_mul(page).ok_or_else(|| {
            SysError::Invalid(format!("perf buffer of {pages} pages is too large"))
        })?;
        let cpus = online_cpus()?;
        if let Some(&cpu) = cpus.iter().find(|&&c| c >= map.max_entries()) {
            return Err(SysError::Invalid(format!(
                "perf_event_array '{}' has {} entries but CPU {cpu} is online",
                map.name(),
                map.max_entries()
            )));
        }

        let mut attr = PerfEventAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT);
        attr.sample_type = PERF_SAMPLE_RAW;
        attr.sample_period = 1;
        attr.flags = PERF_ATTR_FLAG_DISABLED;
        match clamp_watermark(wakeup_bytes, ring_bytes) {
            0 => attr.wakeup_events = 1,
            bytes => attr.set_wakeup_watermark(bytes),
        }

        let mut rings = Vec::with_capacity(cpus.len());
        for &cpu in &cpus {
            let event = perf_event_open(&attr, -1, cpu as i32, -1, 0)?;
            let mmap = MmapRegion::shared_rw(event.as_raw_fd(), page + ring_bytes)?;
            // SAFETY: the mapping is a control page followed by `ring_bytes` (a power of two) of data,
            // page-aligned, and lives in the same `Ring` as the view, dropped after it.
            let view = unsafe { RingView::new(mmap.as_ptr(), mmap.as_ptr().add(page), ring_bytes) };
            map.update(
                &cpu.to_ne_bytes(),
                &(event.as_raw_fd() as u32).to_ne_bytes(),
                BPF_ANY,
            )?;
            rings.push(Ring {
                view,
                mmap,
                event,
                cpu,
                lost: 0,
            });
        }
        for ring in &rings {
            ring.event.enable()?;
        }
        let mut pfds = Vec::with_capacity(rings.len() + 1);
        pfds.extend(rings.iter().map(|r| libc::pollfd {
            fd: r.event.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        Ok(PerfBuffer {
            rings,
            pfds,
            scratch: Vec::with_capacity(page),
        })
    }

    /// The CPUs with a ring, ascending.
    pub fn cpus(&self) -> Vec<u32> {
        self.rings.iter().map(|r| r.cpu).collect()
    }

    /// Bytes of each ring's data area.
    pub fn ring_bytes(&self) -> usize {
        self.rings.first().map_or(0, |r| r.mmap.len() - page_size())
    }

    /// Wait up to `timeout_ms` (-1: forever) for a ring to reach its watermark or `extra` to become
    /// readable. A signal interrupting the wait returns an empty `Wake`.
    pub fn poll(&mut self, extra: Option<RawFd>, timeout_ms: i32) -> Result<Wake, SysError> {
        let n = self.rings.len();
        if let Some(fd) = extra {
            // Within the capacity reserved in `open`: no allocation.
            self.pfds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let polled = poll_fds(&mut self.pfds, timeout_ms);
        let extra_revents = if extra.is_some() {
            self.pfds.pop().map_or(0, |p| p.revents)
        } else {
            0
        };
        polled?;
        if extra_revents & libc::POLLNVAL != 0 {
            return Err(SysError::Invalid(format!(
                "poll: extra fd {} is not open",
                extra.unwrap_or(-1)
            )));
        }
        if let Some(p) = self.pfds[..n]
            .iter()
            .find(|p| p.revents & libc::POLLNVAL != 0)
        {
            return Err(SysError::Invalid(format!(
                "poll: perf ring fd {} is not open",
                p.fd
            )));
        }
        Ok(Wake {
            data: self.pfds[..n].iter().any(|p| is_ready(p.revents)),
            extra: is_ready(extra_revents),
        })
    }

    /// Drain every ring (not only woken ones: a watermark leaves data below the mark unannounced),
    /// calling `f(cpu, record)` per record. LOST records also add to that CPU's `lost_per_cpu` total.
    pub fn drain(&mut self, mut f: impl FnMut(u32, Record<'_>)) -> DrainStats {
        let mut total = DrainStats::default();
        for ring in &mut self.rings {
            let (cpu, lost) = (ring.cpu, &mut ring.lost);
            let stats = ring.view.drain(&mut self.scratch, |rec| {
                if let Record::Lost(n) = rec {
                    *lost += n;
                }
                f(cpu, rec)
            });
            total.records += stats.records;
            total.corrupt += stats.corrupt;
        }
        total
    }

    /// Samples the kernel dropped on each CPU's ring since `open` (as reported by LOST records drained).
    pub fn lost_per_cpu(&self) -> Vec<(u32, u64)> {
        self.rings.iter().map(|r| (r.cpu, r.lost)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_clamped_below_the_ring() {
        assert_eq!(clamp_watermark(0, 4096), 0);
        assert_eq!(clamp_watermark(2048, 4096), 2048);
        assert_eq!(clamp_watermark(4096, 4096), 3072);
        assert_eq!(clamp_watermark(u32::MAX, 1 << 20), 786_432);
        assert_eq!(clamp_watermark(u32::MAX, 1 << 40), u32::MAX);
    }
}
