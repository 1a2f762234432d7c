//! Process lifecycle in user space: an exit is matched to the process image it ends (its mm is gone by
//! then), a forked child inherits its parent's context until it sends its own, and each process's
//! writes are summed for its exit event.

use crate::event::{Event, IoSummary};
use crate::kinds::Op;
use crate::proc_cache::{KeyHasher, ProcCache, ProcKey};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Distinct files remembered per process for `files_written`; past it the count stops growing.
pub const MAX_FILES_PER_PROCESS: usize = 4096;
/// Processes tracked at once; past it the oldest summaries are dropped wholesale (their exits then
/// report what was counted since).
pub const MAX_PROCESSES: usize = 16384;

/// Keys come from the kernel, not an adversary: the cache's fast hasher, not SipHash (every write
/// passes here).
type Fast = BuildHasherDefault<KeyHasher>;

#[derive(Default)]
struct Io {
    summary: IoSummary,
    files: HashSet<(u32, u32, u64), Fast>,
}

#[derive(Default)]
pub struct Lineage {
    io: HashMap<(u32, u64), Io, Fast>,
}

impl Lineage {
    pub fn new() -> Lineage {
        Lineage::default()
    }

    /// The key an event means before its context is looked up: an exit's (its mm is gone by then) is
    /// its process's latest image.
    pub fn resolve(&self, ev: &Event, key: &mut ProcKey, cache: &ProcCache) {
        // Whether the mm is gone by the tracepoint depends on the kernel: fall back whenever the
        // exact image is not known.
        // A close at exit (kprobe path) is as late.
        if matches!(ev.op, Op::Exit | Op::Close) && cache.get(key).is_none() {
            if let Some((k, _)) = cache.latest(key.tgid, key.start_time) {
                *key = k;
            }
        }
    }

    /// Once per delivered event: a forked child inherits its parent's context (until it sends its
    /// own), a write counts for its process.
    pub fn account(&mut self, ev: &Event, key: &ProcKey, cache: &mut ProcCache) {
        match ev.op {
            Op::Fork => {
                // Not over the child's own context, which may already be in (its exec's context is
                // cached as soon as its record is read, before this fork is delivered).
                let child = ev.child.filter(|c| !c.thread);
                if let Some(child) = child.filter(|c| cache.latest(c.pid, c.start_time).is_none()) {
                    if let Some(mut ctx) = cache.get(key).cloned() {
                        // The child's ids: its parent is this process, then this process's line.
                        if let Some(ids) = ctx.ids.as_mut() {
                            let mine = std::rc::Rc::make_mut(ids);
                            mine.parent_start = key.start_time;
                            mine.ancestors
                                .insert(0, (key.tgid, ev.process.comm.clone()));
                            mine.ancestors.truncate(crate::bpf::layout::MAX_ANCESTORS);
                            mine.start_time = child.start_time;
                        }
                        let child_key = ProcKey {
                            tgid: child.pid,
                            start_time: child.start_time,
                            mm: 0,
                        };
                        cache.insert(child_key, ctx, ev.mono_ns);
                    }
                }
            }
            Op::Write => {
                if self.io.len() >= MAX_PROCESSES {
                    self.io.clear();
                }
                let io = self.io.entry((key.tgid, key.start_time)).or_default();
                let f = &ev.file;
                // A merged event stands for its calls.
                io.summary.writes += ev.merged.map_or(1, |m| m.count);
                io.summary.bytes_written += f.bytes_written;
                if io.files.len() < MAX_FILES_PER_PROCESS
                    && io.files.insert((f.dev_major, f.dev_minor, f.inode))
                {
                    io.summary.files_written += 1;
                }
            }
            Op::Read => {
                if self.io.len() >= MAX_PROCESSES {
                    self.io.clear();
                }
                let io = self.io.entry((key.tgid, key.start_time)).or_default();
                io.summary.reads += ev.merged.map_or(1, |m| m.count);
                io.summary.bytes_read += ev.file.bytes_read;
            }
            _ => {}
        }
    }

    /// After: an exit carries its process's summary, which is then forgotten.
    pub fn after(&mut self, ev: &mut Event) {
        ev.io = match ev.op {
            Op::Exit => Some(
                self.io
                    .remove(&(ev.process.pid, ev.start_time))
                    .map(|io| io.summary)
                    .unwrap_or_default(),
            ),
            _ => None,
        };
    }
}
