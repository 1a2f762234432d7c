//! The event model: one file operation as decoded from the kernel, pure data.
//!
//! Every name is kept as raw bytes because Linux paths, comms and argv are not UTF-8 in general;
//! the output layer decides how to present them losslessly.

use crate::kinds::Op;
use std::rc::Rc;

/// The process (task) that performed the operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Task comm, up to 16 bytes, no NUL.
    pub comm: Vec<u8>,
    /// Absolute path of mm->exe_file, None for kernel threads.
    pub exe_path: Option<Vec<u8>>,
    /// argv as the kernel had it (NUL-split), possibly truncated.
    pub cmdline: Vec<Vec<u8>>,
    pub cmdline_truncated: bool,
    /// Absolute working directory.
    pub cwd: Option<Vec<u8>>,
    /// Who the process is beyond its pid, captured with its context (None until known); shared with
    /// the cached context, not copied per event.
    pub ids: Option<Rc<ProcessIds>>,
    /// Enrichment: names of uid and gid, the stable id of this process, its parent. Shared (`Rc`):
    /// computed once per process image, not per event.
    pub user: Option<Rc<str>>,
    pub group: Option<Rc<str>>,
    pub entity_id: Option<Rc<str>>,
    pub parent: Option<Rc<ParentInfo>>,
    /// Names the process part filled by the pipeline (`exe_path`, `cmdline`, `cwd`, `ids`, the
    /// enrichment and the script): events with the same nonzero id have the same, so a formatter may
    /// render it once. 0 (the default, for events built by hand): render it from the fields.
    pub context_id: u64,
}

/// The parent process, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentInfo {
    pub pid: u32,
    pub name: Option<Vec<u8>>,
    pub exe_path: Option<Vec<u8>>,
    pub script: Option<Vec<u8>>,
    pub entity_id: Option<String>,
}

/// The identity of a process image, from the kernel (the `Ids` section) and enrichment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessIds {
    pub euid: u32,
    pub egid: u32,
    /// Audit login uid and session id; None when unset or not in this kernel.
    pub auid: Option<u32>,
    pub session_id: Option<u32>,
    pub cgroup_id: u64,
    /// The process's start time (CLOCK_MONOTONIC ns), for its entity id.
    pub start_time: u64,
    pub parent_start: u64,
    /// Parent first, up to pid 1 (bounded).
    pub ancestors: Vec<(u32, Vec<u8>)>,
    /// The default-hierarchy cgroup directory's name and its parent's.
    pub cgroup_leaf: Vec<u8>,
    pub cgroup_parent: Vec<u8>,
}

/// `fork`: the new task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildInfo {
    pub pid: u32,
    pub tid: u32,
    /// A thread of the parent's process, not a new process.
    pub thread: bool,
    pub start_time: u64,
}

/// `exit`: how the process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit status (`exit(N)`), or None when a signal ended it.
    pub code: Option<u8>,
    pub signal: Option<u8>,
    pub core_dumped: bool,
    pub run_time_ns: u64,
}

/// The file operated on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInfo {
    /// Last path component.
    pub name: Vec<u8>,
    /// Absolute path: the one the operation leaves (a rename's new name).
    pub path: Vec<u8>,
    /// `write`: bytes the call wrote; `close`: bytes written through that open.
    pub bytes_written: u64,
    /// `read`: bytes the call read; `close`: bytes read through that open.
    pub bytes_read: u64,
    /// `close`: the reads and writes (calls that moved bytes) through that open.
    pub reads: u64,
    pub writes: u64,
    /// `open`: the fd returned, and whether this open created the file.
    pub fd: Option<i32>,
    pub created: bool,
    /// Inode and device, when the kernel reached the file itself (always for writes; for operations
    /// named by a path on the tracepoint path, not).
    pub has_inode: bool,
    pub inode: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// The path was longer than the kernel walk allowed.
    pub truncated: bool,
    /// The file had no links left (written while unlinked).
    pub deleted: bool,
    /// `write` by a copy (`copy_file_range`, `sendfile`, `splice`): the file the data came from.
    pub source_path: Option<Vec<u8>>,
    pub source_inode: Option<u64>,
    /// `rename`: the old path.
    pub old_path: Option<Vec<u8>>,
    /// `rename` on the kprobe path: the inode of the file the new name had before, which the rename
    /// replaced (with `RENAME_EXCHANGE`: the file now at the old path). None: no file was replaced,
    /// or the syscall tracepoint path, which cannot tell.
    pub replaced_inode: Option<u64>,
    /// `symlink`: the link's text; `link`: the existing file's path.
    pub target: Option<Vec<u8>>,
    /// `chmod`, `mkdir`, `create`, `open` (with `O_CREAT` or `O_TMPFILE`): permission bits.
    pub mode: Option<u32>,
    /// `chown`: the new owner and group (None: unchanged).
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// `truncate`: the size; `mmap`: the mapping's length.
    pub size: Option<u64>,
    /// Operation flags where they matter: `rename`'s `RENAME_*`, `fallocate`'s mode, `mmap`'s prot
    /// and flags, `open`'s `O_*`.
    pub flags: Vec<&'static str>,
}

/// One observed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub op: Op,
    /// How it happened (the syscall or kernel function).
    pub via: &'static str,
    /// CLOCK_MONOTONIC ns at the operation (bpf_ktime_get_ns).
    pub mono_ns: u64,
    /// The process's start time (CLOCK_MONOTONIC ns), part of its identity.
    pub start_time: u64,
    pub process: ProcessInfo,
    pub file: FileInfo,
    pub child: Option<ChildInfo>,
    pub exit: Option<ExitInfo>,
    /// `exit`: what the process did that filespy saw.
    pub io: Option<IoSummary>,
    /// The container the process runs in, from its cgroup; None on the host.
    pub container_id: Option<Rc<str>>,
    /// The sensitive-file rule this event matched (`--alerts`, `--rules`).
    pub alert: Option<EventAlert>,
    /// A `write` (`read`) that stands for several: calls that found the ring full, merged in the
    /// kernel by process image and file. Its bytes are theirs together; its time the first's.
    pub merged: Option<Merged>,
}

/// The calls a merged event stands for: how many, and the first's and the last's time
/// (CLOCK_MONOTONIC ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub count: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// A rule's verdict on an event: which rule, its category, the severity, and how many repeats of the
/// same (rule, process, file) were counted, not sent, since the last one sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAlert {
    pub rule: Rc<str>,
    pub category: Rc<str>,
    pub severity: crate::rules::Severity,
    pub repeats: u64,
}

/// `exit`: the operations of the process that filespy reported, by kind of I/O.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoSummary {
    pub writes: u64,
    pub bytes_written: u64,
    /// Distinct files written (counted up to a bound, see `io_summary`).
    pub files_written: u64,
    /// Reads and bytes read, among the `read` events reported (0 when reads are not watched).
    pub reads: u64,
    pub bytes_read: u64,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            op: Op::Write,
            via: "write",
            mono_ns: 0,
            start_time: 0,
            process: ProcessInfo::default(),
            file: FileInfo::default(),
            child: None,
            exit: None,
            io: None,
            container_id: None,
            alert: None,
            merged: None,
        }
    }
}
