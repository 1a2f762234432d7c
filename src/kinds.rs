//! The table of event kinds: every operation filespy reports, with its name on the command line and in
//! the JSON `op` field, the group it belongs to, and how it maps to ECS and OCSF. The decoder, the
//! renderers, `--events` and the schema test all read this table; the kernel programs of each kind are
//! in `bpf::kinds`.

use std::fmt;

/// An operation on a file, as the record header's `kind` carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Op {
    Write = 1,
    Create = 2,
    Delete = 3,
    Rename = 4,
    Mkdir = 5,
    Rmdir = 6,
    Link = 7,
    Symlink = 8,
    Chmod = 9,
    Chown = 10,
    Truncate = 11,
    Mmap = 12,
    Exec = 13,
    Fork = 14,
    Exit = 15,
    Open = 16,
    Read = 17,
    Close = 18,
}

/// Named sets of kinds for `--events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// File-integrity monitoring: data and metadata changes.
    Fim,
    /// Process lifecycle: exec, fork, exit.
    Process,
    /// Access: open, read and close.
    Access,
}

/// One row of the table.
#[derive(Debug)]
pub struct Kind {
    pub op: Op,
    /// The `op` value in JSON and the name in `--events`.
    pub name: &'static str,
    pub groups: &'static [Group],
    /// Whether `--ext` applies to the file name (directories are matched by `--path` only).
    pub ext_filtered: bool,
    /// Whether the event names a file (its `file` object; exec: the executable). `--path` applies
    /// to the file kinds only, not to the process group.
    pub has_file: bool,
    /// ECS `event.type` and `event.action`.
    pub ecs_type: &'static str,
    pub ecs_action: &'static str,
    /// OCSF class: File System Activity (1001) or Process Activity (1007), and its `activity_id`.
    pub ocsf_class: u16,
    pub ocsf_activity: u8,
    pub summary: &'static str,
}

/// Every kind, in `Op` order.
pub static KINDS: [Kind; 18] = [
    Kind {
        op: Op::Write,
        name: "write",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "write",
        ocsf_class: 1001,
        ocsf_activity: 3,
        summary: "bytes written to a file",
    },
    Kind {
        op: Op::Create,
        name: "create",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "creation",
        ecs_action: "creation",
        ocsf_class: 1001,
        ocsf_activity: 1,
        summary: "a new regular file (O_CREAT open that created it, creat, mknod)",
    },
    Kind {
        op: Op::Delete,
        name: "delete",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "deletion",
        ecs_action: "deletion",
        ocsf_class: 1001,
        ocsf_activity: 4,
        summary: "a name removed (unlink)",
    },
    Kind {
        op: Op::Rename,
        name: "rename",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "rename",
        ocsf_class: 1001,
        ocsf_activity: 5,
        summary: "a file moved to a new name (file_path) from old_path",
    },
    Kind {
        op: Op::Mkdir,
        name: "mkdir",
        groups: &[Group::Fim],
        ext_filtered: false,
        has_file: true,
        ecs_type: "creation",
        ecs_action: "directory-creation",
        ocsf_class: 1001,
        ocsf_activity: 1,
        summary: "a directory created",
    },
    Kind {
        op: Op::Rmdir,
        name: "rmdir",
        groups: &[Group::Fim],
        ext_filtered: false,
        has_file: true,
        ecs_type: "deletion",
        ecs_action: "directory-deletion",
        ocsf_class: 1001,
        ocsf_activity: 4,
        summary: "a directory removed",
    },
    Kind {
        op: Op::Link,
        name: "link",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "creation",
        ecs_action: "hard-link-creation",
        ocsf_class: 1001,
        ocsf_activity: 1,
        summary: "a hard link (file_path) to an existing file (target)",
    },
    Kind {
        op: Op::Symlink,
        name: "symlink",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "creation",
        ecs_action: "symbolic-link-creation",
        ocsf_class: 1001,
        ocsf_activity: 1,
        summary: "a symbolic link (file_path) holding the text target",
    },
    Kind {
        op: Op::Chmod,
        name: "chmod",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "permissions-change",
        ocsf_class: 1001,
        ocsf_activity: 6,
        summary: "permission bits set to mode",
    },
    Kind {
        op: Op::Chown,
        name: "chown",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "owner-change",
        ocsf_class: 1001,
        ocsf_activity: 6,
        summary: "owner set to uid/gid (-1: unchanged)",
    },
    Kind {
        op: Op::Truncate,
        name: "truncate",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "truncation",
        ocsf_class: 1001,
        ocsf_activity: 3,
        summary: "size set (truncate, ftruncate) or space changed (fallocate)",
    },
    Kind {
        op: Op::Mmap,
        name: "mmap",
        groups: &[Group::Fim],
        ext_filtered: true,
        has_file: true,
        ecs_type: "change",
        ecs_action: "shared-writable-mapping",
        ocsf_class: 1001,
        ocsf_activity: 3,
        summary:
            "a shared writable mapping of the file (stores through it are not seen one by one)",
    },
    Kind {
        op: Op::Exec,
        name: "exec",
        groups: &[Group::Process],
        ext_filtered: false,
        has_file: true,
        ecs_type: "start",
        ecs_action: "exec",
        ocsf_class: 1007,
        ocsf_activity: 1,
        summary: "a process image started (execve): file is its executable",
    },
    Kind {
        op: Op::Fork,
        name: "fork",
        groups: &[Group::Process],
        ext_filtered: false,
        has_file: false,
        ecs_type: "start",
        ecs_action: "fork",
        ocsf_class: 1007,
        ocsf_activity: 1,
        summary: "a process or thread created: child names it",
    },
    Kind {
        op: Op::Exit,
        name: "exit",
        groups: &[Group::Process],
        ext_filtered: false,
        has_file: false,
        ecs_type: "end",
        ecs_action: "exit",
        ocsf_class: 1007,
        ocsf_activity: 2,
        summary: "the last thread of a process ended: exit names the code or signal, run time, I/O",
    },
    Kind {
        op: Op::Open,
        name: "open",
        groups: &[Group::Access],
        ext_filtered: true,
        has_file: true,
        ecs_type: "access",
        ecs_action: "open",
        ocsf_class: 1001,
        ocsf_activity: 14,
        summary: "a file opened: flags, mode, the fd returned, whether it created the file",
    },
    Kind {
        op: Op::Read,
        name: "read",
        groups: &[Group::Access],
        ext_filtered: true,
        has_file: true,
        ecs_type: "access",
        ecs_action: "read",
        ocsf_class: 1001,
        ocsf_activity: 2,
        summary: "bytes read from a file",
    },
    Kind {
        op: Op::Close,
        name: "close",
        groups: &[Group::Access],
        ext_filtered: true,
        has_file: true,
        ecs_type: "access",
        ecs_action: "close",
        // File System Activity has no close activity: 99 Other.
        ocsf_class: 1001,
        ocsf_activity: 99,
        summary: "a file opened while filespy ran closed: the reads and writes of that open, in calls and bytes",
    },
];

impl Op {
    pub fn kind(self) -> &'static Kind {
        &KINDS[self as usize - 1]
    }

    pub fn name(self) -> &'static str {
        self.kind().name
    }

    /// The op of a record header's `kind`.
    pub fn from_u16(v: u16) -> Option<Op> {
        KINDS.get((v as usize).wrapping_sub(1)).map(|k| k.op)
    }

    pub fn from_name(name: &str) -> Option<Op> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.op)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of ops, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OpSet(u32);

impl OpSet {
    pub const fn empty() -> OpSet {
        OpSet(0)
    }

    pub fn only(op: Op) -> OpSet {
        OpSet(1 << op as u32)
    }

    pub fn all() -> OpSet {
        KINDS.iter().fold(OpSet::empty(), |s, k| s.with(k.op))
    }

    pub fn group(g: Group) -> OpSet {
        KINDS
            .iter()
            .filter(|k| k.groups.contains(&g))
            .fold(OpSet::empty(), |s, k| s.with(k.op))
    }

    pub fn with(self, op: Op) -> OpSet {
        OpSet(self.0 | 1 << op as u32)
    }

    pub fn union(self, other: OpSet) -> OpSet {
        OpSet(self.0 | other.0)
    }

    pub fn contains(self, op: Op) -> bool {
        self.0 & (1 << op as u32) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Op> {
        KINDS
            .iter()
            .map(|k| k.op)
            .filter(move |&op| self.contains(op))
    }
}

/// Parses `--events`: op names and the groups `fim`, `process`, `access` and `all`, comma-separated.
///
/// ```
/// use filespy::kinds::{parse_events, Op};
///
/// let set = parse_events("fim,exec").unwrap();
/// assert!(set.contains(Op::Write) && set.contains(Op::Rename) && set.contains(Op::Exec));
/// assert!(!set.contains(Op::Read) && !set.contains(Op::Fork));
/// let names: Vec<&str> = parse_events("process").unwrap().iter().map(Op::name).collect();
/// assert_eq!(names, ["exec", "fork", "exit"]);
/// assert!(parse_events("write,,read").is_err() && parse_events("wrte").is_err());
/// ```
pub fn parse_events(list: &str) -> Result<OpSet, String> {
    let mut set = OpSet::empty();
    for word in list.split(',').map(str::trim) {
        set = set.union(match word {
            "" => return Err("empty event name".into()),
            "all" => OpSet::all(),
            "fim" => OpSet::group(Group::Fim),
            "process" => OpSet::group(Group::Process),
            "access" => OpSet::group(Group::Access),
            name => match Op::from_name(name) {
                Some(op) => OpSet::only(op),
                None => {
                    return Err(format!(
                        "unknown event {name:?} (expected {}, or the groups fim, process, access and all)",
                        KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                    ))
                }
            },
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_op_order_and_names_are_unique() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.op as usize, i + 1, "{}", k.name);
            assert_eq!(Op::from_u16(k.op as u16), Some(k.op));
            assert_eq!(Op::from_name(k.name), Some(k.op));
            // OCSF File System Activity: 1-7 for changes, 2 Read, 14 Open, 99 Other (close).
            assert!([14, 99].contains(&k.ocsf_activity) || (1..=7).contains(&k.ocsf_activity));
            assert!([1001, 1007].contains(&k.ocsf_class));
            assert_eq!(
                k.has_file,
                !k.groups.contains(&Group::Process) || k.op == Op::Exec
            );
        }
        assert_eq!(Op::from_u16(0), None);
        assert_eq!(Op::from_u16(KINDS.len() as u16 + 1), None);
    }

    #[test]
    fn events_lists_and_groups() {
        assert_eq!(parse_events("write").unwrap(), OpSet::only(Op::Write));
        let s = parse_events("delete, rename").unwrap();
        assert!(s.contains(Op::Delete) && s.contains(Op::Rename) && !s.contains(Op::Write));
        assert_eq!(parse_events("fim").unwrap().iter().count(), 12);
        let p = parse_events("process").unwrap();
        assert!(p.contains(Op::Exec) && p.contains(Op::Fork) && p.contains(Op::Exit));
        assert!(!p.contains(Op::Write));
        let a = parse_events("access").unwrap();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Op::Open, Op::Read, Op::Close]
        );
        assert_eq!(parse_events("all").unwrap(), OpSet::all());
        assert!(parse_events("wrte")
            .unwrap_err()
            .contains("unknown event \"wrte\""));
        assert!(parse_events("write,").is_err());
    }
}
