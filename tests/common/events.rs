//! Sample events for the output tests (output_cases, schema), built directly rather than captured.
//! Included with `#[path = "common/events.rs"] mod events;`.
#![allow(dead_code)] // each test binary uses a different subset

use filespy::event::{Event, FileInfo, ProcessInfo};

/// 2026-01-12 around 20:38 UTC, as a monotonic stamp with a zero realtime offset.
pub const MONO: u64 = 1_768_250_322_880_979_123;

/// Owned argv from byte-string literals.
pub fn args(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|a| a.to_vec()).collect()
}

/// A typical writer: `python3 ./job.py --out /var/log/x.log` in /home/u/proj writing 4096 bytes.
pub fn python_job() -> Event {
    Event {
        mono_ns: MONO,
        cpu: 1,
        process: ProcessInfo {
            pid: 4242,
            tid: 4243,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            comm: b"python3".to_vec(),
            exe_path: Some(b"/usr/bin/python3.11".to_vec()),
            cmdline: args(&[b"python3", b"./job.py", b"--out", b"/var/log/x.log"]),
            cmdline_truncated: false,
            cwd: Some(b"/home/u/proj".to_vec()),
        },
        file: FileInfo {
            name: b"x.log".to_vec(),
            path: b"/var/log/x.log".to_vec(),
            bytes_written: 4096,
            inode: 1_234_567,
            dev_major: 259,
            dev_minor: 2,
            truncated: false,
            deleted: false,
        },
    }
}
