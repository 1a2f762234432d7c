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
    /// What was running when filespy started (one /proc scan): pid → (start in boot-clock ticks,
    /// exe, script), for parents that end before their children are seen.
    running: HashMap<u32, (u64, ExeScript)>,
}

impl Enricher {
    pub fn new(host: Host, names: Names) -> Enricher {
        Enricher {
            host,
            names,
            parents: HashMap::new(),
            running: HashMap::new(),
        }
    }

    /// One scan of /proc for the processes already running, so a parent that exits before its child's
    /// first event is still named. Bounded by `MAX_PARENTS`.
    pub fn scan_running(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in dir.flatten() {
            if self.running.len() >= MAX_PARENTS {
                break;
            }
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let (Some(ticks), Some(ctx)) = (start_ticks(pid), ProcContext::from_proc(pid)) else {
                continue;
            };
            self.running
                .insert(pid, (ticks, (ctx.exe_path, ctx.script)));
        }
    }

    /// The host's own: /etc/passwd, /etc/group, hostname and boot id.
    pub fn system() -> Enricher {
        let mut e = Enricher::new(Host::read(), Names::system());
        e.scan_running();
        e
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
        let expected = ticks_of(start_ns);
        let scanned = self
            .running
            .get(&pid)
            .filter(|(t, _)| t.abs_diff(expected) <= 1)
            .map(|(_, found)| found.clone());
        let found = match scanned {
            Some(found) => found,
            None => start_ticks(pid)
                .filter(|t| t.abs_diff(expected) <= 1)
                .and_then(|_| ProcContext::from_proc(pid))
                .map_or((None, None), |c| (c.exe_path, c.script)),
        };
        if self.parents.len() >= MAX_PARENTS {
            self.parents.clear();
        }
        self.parents.insert((pid, start_ns), found.clone());
        found
    }
}

/// A process's start in clock ticks of CLOCK_BOOTTIME, from /proc/PID/stat (field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The kernel's start time (CLOCK_MONOTONIC ns) as /proc shows it: ticks of CLOCK_BOOTTIME, which runs
/// ahead of the monotonic clock by the time suspended.
fn ticks_of(start_ns: u64) -> u64 {
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
    (start_ns + suspended) / (1_000_000_000 / hz)
}
