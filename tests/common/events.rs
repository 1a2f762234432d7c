//! Sample events for the output tests (output_cases, schema), built directly rather than captured.
//! Included with `#[path = "common/events.rs"] mod events;`.
#![allow(dead_code)] // each test binary uses a different subset

use filespy::event::{Event, FileInfo, ProcessInfo};
use filespy::kinds::Op;

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
        op: Op::Write,
        via: "write",
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
            ..ProcessInfo::default()
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
            has_inode: true,
            ..FileInfo::default()
        },
        ..Event::default()
    }
}

/// One event of every op but write, each with its own fields (non-UTF-8 in the second paths, so their
/// `_b64` siblings are rendered too), named by the path of a call (no inode) or reached by fd.
pub fn one_of_each_op() -> Vec<Event> {
    use filespy::kinds::KINDS;
    KINDS
        .iter()
        .filter(|k| k.op != Op::Write)
        .map(|k| {
            let mut ev = python_job();
            ev.op = k.op;
            ev.via = filespy::bpf::kinds::via_name(k.op, 0).expect("every op has a syscall");
            let f = &mut ev.file;
            f.bytes_written = 0;
            f.has_inode = matches!(
                k.op,
                Op::Create | Op::Truncate | Op::Mmap | Op::Open | Op::Read | Op::Close
            );
            match k.op {
                Op::Rename => {
                    f.old_path = Some(b"/var/log/old\xff.log".to_vec());
                    f.flags = vec!["RENAME_NOREPLACE"];
                    f.replaced_inode = Some(4242);
                }
                Op::Link => f.target = Some(b"/var/log/orig.log".to_vec()),
                Op::Symlink => f.target = Some(b"../rel\xfe/target".to_vec()),
                Op::Chmod | Op::Mkdir => {
                    f.mode = Some(0o4755);
                    ev.alert = (k.op == Op::Chmod).then(|| filespy::event::EventAlert {
                        rule: "auth-shadow".into(),
                        category: "authentication".into(),
                        severity: filespy::rules::Severity::Critical,
                        repeats: 3,
                    });
                }
                Op::Create => f.mode = None,
                Op::Chown => {
                    f.owner_uid = Some(0);
                    f.owner_gid = None;
                }
                Op::Truncate => f.size = Some(0),
                Op::Open => {
                    f.flags = vec!["O_WRONLY", "O_CREAT", "O_TRUNC"];
                    f.mode = Some(0o640);
                    f.fd = Some(3);
                    f.created = true;
                }
                Op::Read => f.bytes_read = 4096,
                Op::Close => {
                    f.reads = 2;
                    f.bytes_read = 8192;
                    f.writes = 3;
                    f.bytes_written = 120;
                }
                Op::Mmap => {
                    f.size = Some(4096);
                    f.flags = vec!["PROT_READ", "PROT_WRITE"];
                }
                Op::Fork => {
                    ev.child = Some(filespy::event::ChildInfo {
                        pid: 4300,
                        tid: 4300,
                        thread: false,
                        start_time: 77,
                    })
                }
                Op::Exit => {
                    ev.exit = Some(filespy::event::ExitInfo {
                        code: None,
                        signal: Some(9),
                        core_dumped: true,
                        run_time_ns: 1_000_000,
                    });
                    ev.io = Some(filespy::event::IoSummary {
                        writes: 3,
                        bytes_written: 12,
                        files_written: 2,
                        reads: 4,
                        bytes_read: 9000,
                    });
                }
                Op::Write | Op::Delete | Op::Rmdir | Op::Exec => {}
            }
            ev
        })
        .collect()
}

/// A write by a copy: `cp` through copy_file_range, with its source file (non-UTF-8, so the `_b64`
/// sibling is rendered).
pub fn copy_write() -> Event {
    let mut ev = python_job();
    ev.via = "copy_file_range";
    ev.file.source_path = Some(b"/srv/in\xff.log".to_vec());
    ev.file.source_inode = Some(99);
    ev
}

/// A merged write: 40 calls that found the ring full, added up in the kernel.
pub fn merged_write() -> Event {
    let mut ev = python_job();
    ev.file.bytes_written = 40 * 64;
    ev.merged = Some(filespy::event::Merged {
        count: 40,
        first_ns: ev.mono_ns,
        last_ns: ev.mono_ns + 1_000_000,
    });
    ev
}

/// A writer with its whole identity: effective and login ids, names, entity ids, parent, ancestors and
/// a container.
pub fn with_identity() -> Event {
    use filespy::event::{ParentInfo, ProcessIds};
    let mut ev = python_job();
    let p = &mut ev.process;
    p.ids = Some(std::rc::Rc::new(ProcessIds {
        euid: 0,
        egid: 0,
        auid: Some(1000),
        session_id: Some(3),
        cgroup_id: 12345,
        start_time: 5,
        parent_start: 4,
        ancestors: vec![(1, b"systemd".to_vec()), (900, b"b\xffsh".to_vec())],
        cgroup_leaf: b"docker-0123.scope".to_vec(),
        cgroup_parent: b"system.slice".to_vec(),
    }));
    p.user = Some("root".into());
    p.group = Some("root".into());
    p.entity_id = Some("YmF6OjU6NDI0Mg==".into());
    p.parent = Some(std::rc::Rc::new(ParentInfo {
        pid: 1,
        name: Some(b"bash".to_vec()),
        exe_path: Some(b"/usr/bin/bash".to_vec()),
        script: None,
        entity_id: Some("YmF6OjQ6MQ==".into()),
    }));
    ev.container_id = Some("0123".into());
    ev
}
