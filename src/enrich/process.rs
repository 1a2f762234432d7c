//! Enriching one event's process: user and group names, the stable entity ids of the process and its
//! parent, the parent's name, executable and script (from the process cache), and the container.

use super::container::container_id;
use super::identity::Host;
use super::users::Names;
use crate::event::{Event, ParentInfo};
use crate::proc_cache::{ProcCache, ProcContext};
use std::collections::HashMap;

/// Parents read from /proc (not in the cache: started before filespy and silent since).
const MAX_PARENTS: usize = 4096;

/// A parent's executable and script.
type ExeScript = (Option<Vec<u8>>, Option<Vec<u8>>);

pub struct Enricher {
    pub host: Host,
    names: Names,
    /// (pid, start time) → (exe, script) of parents found in /proc.
    parents: HashMap<(u32, u64), ExeScript>,
}

impl Enricher {
    pub fn new(host: Host, names: Names) -> Enricher {
        Enricher {
            host,
            names,
            parents: HashMap::new(),
        }
    }

    /// The host's own: /etc/passwd, /etc/group, hostname and boot id.
    pub fn system() -> Enricher {
        Enricher::new(Host::read(), Names::system())
    }

    /// Fills the enriched fields of `ev`, whose context (`fill_context`) is already in.
    pub fn enrich(&mut self, ev: &mut Event, cache: &ProcCache) {
        let p = &mut ev.process;
        p.user = self.names.user(p.uid).map(str::to_string);
        p.group = self.names.group(p.gid).map(str::to_string);
        p.entity_id = Some(self.host.entity_id(p.pid, ev.start_time));
        let ids = p.ids.as_ref();
        ev.container_id = ids.and_then(|i| container_id(&i.cgroup_leaf, &i.cgroup_parent));
        p.parent = match ids {
            Some(i) => {
                let (exe_path, script) = match cache.latest(p.ppid, i.parent_start) {
                    Some((_, c)) => (c.exe_path.clone(), c.script.clone()),
                    None => self.parent_from_proc(p.ppid, i.parent_start),
                };
                Some(ParentInfo {
                    pid: p.ppid,
                    name: i.ancestors.first().map(|(_, n)| n.clone()),
                    exe_path,
                    script,
                    entity_id: (i.parent_start != 0)
                        .then(|| self.host.entity_id(p.ppid, i.parent_start)),
                })
            }
            None => Some(ParentInfo {
                pid: p.ppid,
                ..ParentInfo::default()
            }),
        };
    }

    /// A parent's executable and script from /proc, if the process there is that parent: its start
    /// time (boot-based clock ticks) must match the kernel's (monotonic ns) to within a tick.
    fn parent_from_proc(&mut self, pid: u32, start_ns: u64) -> ExeScript {
        if let Some(hit) = self.parents.get(&(pid, start_ns)) {
            return hit.clone();
        }
        let found = same_process(pid, start_ns)
            .then(|| ProcContext::from_proc(pid))
            .flatten()
            .map_or((None, None), |c| (c.exe_path, c.script));
        if self.parents.len() >= MAX_PARENTS {
            self.parents.clear();
        }
        self.parents.insert((pid, start_ns), found.clone());
        found
    }
}

/// Is /proc/PID the process that started at `start_ns` (CLOCK_MONOTONIC)? /proc gives the start in
/// clock ticks of CLOCK_BOOTTIME, which runs ahead of the monotonic clock by the time suspended.
fn same_process(pid: u32, start_ns: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The comm (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let Some(ticks) = after
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse::<u64>().ok())
    else {
        return false;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid out-parameter.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let suspended = now(libc::CLOCK_BOOTTIME).saturating_sub(now(libc::CLOCK_MONOTONIC));
    let expected = (start_ns + suspended) / (1_000_000_000 / hz);
    expected.abs_diff(ticks) <= 1
}
