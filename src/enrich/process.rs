//! Enriching one event's process: user and group names, the stable entity ids of the process and its
//! parent, the parent's name, executable and script (from the process cache), and the container.

use super::container::container_id;
use super::identity::Host;
use super::users::Names;
use crate::event::{Event, ParentInfo, ProcessInfo};
use crate::proc_cache::{start_ticks, ticks_of, KeyHasher, ProcCache, ProcContext};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

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
    /// Per process image (pid, start, uid, gid, ids known): what `enrich` computed.
    memo: HashMap<MemoKey, Memo, BuildHasherDefault<KeyHasher>>,
    /// Times `memo` was started again: what was taken from it before may be computed anew.
    memo_restarts: u64,
}

/// (pid, start time, uid, gid, ppid, address of the ids): one process image as enrichment sees it.
type MemoKey = (u32, u64, u32, u32, u32, usize);

/// Processes whose enrichment is remembered; past it the memo starts again.
const MAX_MEMO: usize = 16384;

/// The enrichment of one process image, shared by its events.
struct Memo {
    /// `Names::generation` it was made with: names follow /etc/passwd and /etc/group.
    names: u64,
    user: Option<Rc<str>>,
    group: Option<Rc<str>>,
    entity_id: Option<Rc<str>>,
    container_id: Option<Rc<str>>,
    parent: Option<Rc<ParentInfo>>,
}

impl Enricher {
    pub fn new(host: Host, names: Names) -> Enricher {
        Enricher {
            host,
            names,
            parents: HashMap::new(),
            running: HashMap::new(),
            memo: HashMap::default(),
            memo_restarts: 0,
        }
    }

    /// Checks whether /etc/passwd or /etc/group changed (at most one stat each a second): once per
    /// drain, not per event.
    pub fn check_names(&mut self) {
        self.names.generation();
    }

    /// Which version of everything `enrich` reads besides the event and the cache is current: what it
    /// gave under the same generation, for the same process image, uid, gid and parent, is still what
    /// it gives.
    pub fn generation(&self) -> (u64, u64) {
        (self.names.last_generation(), self.memo_restarts)
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

    /// Fills the enriched fields of `ev`, whose context (`fill_context`) is already in. What depends
    /// only on the process image is computed once and shared; user and group names follow the files.
    pub fn enrich(&mut self, ev: &mut Event, cache: &ProcCache) {
        let p = &mut ev.process;
        // An exec brings new ids (a new Rc), a reparent a new ppid: either makes a new memo.
        let ids_at = p.ids.as_ref().map_or(0, |i| Rc::as_ptr(i) as usize);
        let key = (p.pid, ev.start_time, p.uid, p.gid, p.ppid, ids_at);
        let generation = self.names.generation();
        if let Some(m) = self.memo.get(&key).filter(|m| m.names == generation) {
            p.user.clone_from(&m.user);
            p.group.clone_from(&m.group);
            p.entity_id.clone_from(&m.entity_id);
            p.parent.clone_from(&m.parent);
            ev.container_id.clone_from(&m.container_id);
            return;
        }
        let m = Memo {
            names: generation,
            user: self.names.user(p.uid).map(Rc::from),
            group: self.names.group(p.gid).map(Rc::from),
            entity_id: Some(Rc::from(self.host.entity_id(p.pid, ev.start_time))),
            container_id: p
                .ids
                .as_ref()
                .and_then(|i| container_id(&i.cgroup_leaf, &i.cgroup_parent))
                .map(Rc::from),
            parent: Some(Rc::new(self.parent_of(p, cache))),
        };
        p.user.clone_from(&m.user);
        p.group.clone_from(&m.group);
        p.entity_id.clone_from(&m.entity_id);
        p.parent.clone_from(&m.parent);
        ev.container_id.clone_from(&m.container_id);
        if self.memo.len() >= MAX_MEMO {
            self.memo.clear();
            self.memo_restarts += 1;
        }
        self.memo.insert(key, m);
    }

    fn parent_of(&mut self, p: &ProcessInfo, cache: &ProcCache) -> ParentInfo {
        // The ids must describe this parent (a reparented process's do not).
        let Some(i) = p
            .ids
            .as_ref()
            .filter(|i| i.ancestors.first().map(|a| a.0) == Some(p.ppid))
        else {
            return ParentInfo {
                pid: p.ppid,
                ..ParentInfo::default()
            };
        };
        let (exe_path, script) = match cache.latest(p.ppid, i.parent_start) {
            Some((_, c)) => (c.exe_path.clone(), c.script.clone()),
            None => self.parent_from_proc(p.ppid, i.parent_start),
        };
        ParentInfo {
            pid: p.ppid,
            name: i.ancestors.first().map(|(_, n)| n.clone()),
            exe_path,
            script,
            entity_id: (i.parent_start != 0).then(|| self.host.entity_id(p.ppid, i.parent_start)),
        }
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
            None => ProcContext::from_proc_started(pid, start_ns)
                .map_or((None, None), |c| (c.exe_path, c.script)),
        };
        if self.parents.len() >= MAX_PARENTS {
            self.parents.clear();
        }
        self.parents.insert((pid, start_ns), found.clone());
        found
    }
}
