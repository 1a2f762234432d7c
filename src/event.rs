//! The event model: one file write as decoded from the kernel, pure data.
//!
//! Every name is kept as raw bytes because Linux paths, comms and argv are not UTF-8 in general;
//! the output layer decides how to present them losslessly.

/// The process (task) that performed the write.
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
}

/// The file that was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInfo {
    /// Last path component.
    pub name: Vec<u8>,
    /// Absolute path.
    pub path: Vec<u8>,
    pub bytes_written: u64,
    pub inode: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// The path was longer than the kernel walk allowed.
    pub truncated: bool,
    /// The file was written while unlinked.
    pub deleted: bool,
}

/// One observed write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// CLOCK_MONOTONIC ns at the write (bpf_ktime_get_ns).
    pub mono_ns: u64,
    pub cpu: u32,
    pub process: ProcessInfo,
    pub file: FileInfo,
}
