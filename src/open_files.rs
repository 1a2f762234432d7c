//! The opens the kernel tracks for `close` (its `opens` map), as user space knows them: the file of
//! each tracked `open` record, by the kernel's handle, and the opens of each process. A close the
//! kernel sees ends one; the opens a process still holds when it exits — which the tracepoint path
//! cannot see closed, and which a descriptor outliving its opener would keep open — are ended by its
//! exit record (`take_process`), their totals read out of `opens`.

use crate::bpf::layout::{OpenEntry, OPEN_ENTRY_LEN};
use crate::event::FileInfo;
use crate::sys::map::Map;
use std::collections::HashMap;

/// The process an open belongs to: tgid and start time.
type Opener = (u32, u64);

/// The opens known at once; past it an open is not remembered (counted: its end at exit is lost).
pub const MAX_OPEN_FILES: usize = 2 * crate::probes::OPENS_MAX as usize;

#[derive(Default)]
pub struct OpenFiles {
    by_handle: HashMap<u64, (Opener, FileInfo)>,
    by_opener: HashMap<Opener, Vec<u64>>,
    /// Opens not remembered (the table full): their close at their process's exit will not come.
    pub forgotten: u64,
}

/// The totals of a tracked open, read out of the kernel's entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub reads: u64,
    pub bytes_read: u64,
    pub writes: u64,
    pub bytes_written: u64,
}

impl OpenFiles {
    pub fn new() -> OpenFiles {
        OpenFiles::default()
    }

    pub fn len(&self) -> usize {
        self.by_handle.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_handle.is_empty()
    }

    /// Does `opener` hold tracked opens?
    pub fn holds(&self, opener: Opener) -> bool {
        self.by_opener.contains_key(&opener)
    }

    /// A tracked open: `handle` is now `file`, opened by `opener`. A handle already known was a
    /// `struct file` closed unseen (the kernel counted it when it replaced the entry).
    pub fn opened(&mut self, handle: u64, opener: Opener, file: &FileInfo) {
        self.closed(handle);
        if self.by_handle.len() >= MAX_OPEN_FILES {
            self.forgotten += 1;
            return;
        }
        self.by_handle.insert(handle, (opener, file.clone()));
        self.by_opener.entry(opener).or_default().push(handle);
    }

    /// The kernel ended the open of `handle` (its close event).
    pub fn closed(&mut self, handle: u64) {
        if let Some((opener, _)) = self.by_handle.remove(&handle) {
            if let Some(list) = self.by_opener.get_mut(&opener) {
                list.retain(|&h| h != handle);
                if list.is_empty() {
                    self.by_opener.remove(&opener);
                }
            }
        }
    }

    /// The process `opener` exited: the opens it still holds, each claimed from the kernel's `opens`
    /// (deleted there, so the kernel cannot end it too) with its totals. Opens the kernel ended
    /// meanwhile (its close is on its way) are skipped.
    pub fn take_process(&mut self, opener: Opener, opens: &Map) -> Vec<(FileInfo, Totals)> {
        let Some(handles) = self.by_opener.remove(&opener) else {
            return Vec::new();
        };
        let mut ended = Vec::new();
        let mut value = vec![0u8; OPEN_ENTRY_LEN];
        for handle in handles {
            let Some((_, file)) = self.by_handle.remove(&handle) else {
                continue;
            };
            let key = handle.to_ne_bytes();
            if !matches!(opens.lookup(&key, &mut value), Ok(true)) {
                continue;
            }
            let totals = totals_of(&value);
            if totals.0 != opener || !matches!(opens.delete(&key), Ok(true)) {
                continue;
            }
            ended.push((file, totals.1));
        }
        ended
    }
}

/// An `OpenEntry`'s opener and totals.
fn totals_of(v: &[u8]) -> (Opener, Totals) {
    let u64_at = |off: usize| u64::from_ne_bytes(v[off..off + 8].try_into().expect("8 bytes"));
    let tgid = u32::from_ne_bytes(v[..4].try_into().expect("4 bytes"));
    (
        (tgid, u64_at(std::mem::offset_of!(OpenEntry, start_time))),
        Totals {
            reads: u64_at(std::mem::offset_of!(OpenEntry, reads)),
            bytes_read: u64_at(std::mem::offset_of!(OpenEntry, bytes_read)),
            writes: u64_at(std::mem::offset_of!(OpenEntry, writes)),
            bytes_written: u64_at(std::mem::offset_of!(OpenEntry, bytes_written)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileInfo {
        FileInfo {
            path: path.as_bytes().to_vec(),
            ..FileInfo::default()
        }
    }

    #[test]
    fn closes_and_reused_handles_leave_each_process_its_own_opens() {
        let mut t = OpenFiles::new();
        t.opened(1, (10, 5), &file("/a"));
        t.opened(2, (10, 5), &file("/b"));
        t.opened(3, (11, 6), &file("/c"));
        t.closed(2);
        // Handle 1 closed unseen, then reused by another process's open.
        t.opened(1, (11, 6), &file("/d"));
        assert_eq!(t.len(), 2);
        assert!(!t.holds((10, 5)) && t.holds((11, 6)));
        let mut mine: Vec<u64> = t.by_opener[&(11, 6)].clone();
        mine.sort_unstable();
        assert_eq!(mine, [1, 3]);
        assert_eq!(t.by_handle[&1].1.path, b"/d");
        t.closed(1);
        t.closed(3);
        assert!(t.is_empty() && t.by_opener.is_empty());
    }

    #[test]
    fn an_entry_reads_back_as_its_opener_and_totals() {
        let mut v = vec![0u8; OPEN_ENTRY_LEN];
        v[..4].copy_from_slice(&42u32.to_ne_bytes());
        for (off, n) in [(8, 7u64), (24, 1), (32, 100), (40, 2), (48, 30)] {
            v[off..off + 8].copy_from_slice(&n.to_ne_bytes());
        }
        let (opener, t) = totals_of(&v);
        assert_eq!(opener, (42, 7));
        assert_eq!(
            t,
            Totals {
                reads: 1,
                bytes_read: 100,
                writes: 2,
                bytes_written: 30
            }
        );
    }
}
