//! The BTF reader against the running kernel's /sys/kernel/btf/vmlinux, with bpftool as an
//! independent oracle on the host.

use filespy::btf::{Btf, BtfError, KERNEL_BTF};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Every (struct, member path) filespy reads from kernel memory.
const NEEDED: &[(&str, &str)] = &[
    ("file", "f_path"),
    ("file", "f_path.dentry"),
    ("file", "f_path.mnt"),
    ("file", "f_inode"),
    ("file", "f_mode"),
    ("dentry", "d_parent"),
    ("dentry", "d_name"),
    ("dentry", "d_name.name"),
    ("dentry", "d_name.len"),
    ("dentry", "d_inode"),
    ("inode", "i_mode"),
    ("inode", "i_ino"),
    ("inode", "i_sb"),
    ("inode", "i_nlink"),
    ("super_block", "s_dev"),
    ("mount", "mnt"),
    ("mount", "mnt.mnt_root"),
    ("mount", "mnt_parent"),
    ("mount", "mnt_mountpoint"),
    ("vfsmount", "mnt_root"),
    ("task_struct", "files"),
    ("task_struct", "mm"),
    ("task_struct", "real_parent"),
    ("task_struct", "tgid"),
    ("task_struct", "pid"),
    ("task_struct", "start_time"),
    ("task_struct", "fs"),
    ("task_struct", "cred"),
    ("task_struct", "real_cred"),
    ("cred", "uid"),
    ("cred", "gid"),
    ("files_struct", "fdt"),
    ("fdtable", "fd"),
    ("fdtable", "max_fds"),
    ("mm_struct", "arg_start"),
    ("mm_struct", "arg_end"),
    ("mm_struct", "exe_file"),
    ("fs_struct", "pwd"),
    ("fs_struct", "root"),
    ("path", "dentry"),
    ("path", "mnt"),
];

fn load_kernel_btf() -> Btf {
    Btf::load(None).unwrap_or_else(|e| panic!("loading the kernel's BTF failed: {e}"))
}

#[test]
fn every_needed_member_resolves_with_sane_offsets() {
    let mut parse_times = Vec::new();
    let data = std::fs::read(KERNEL_BTF).unwrap_or_else(|e| panic!("read {KERNEL_BTF}: {e}"));
    for _ in 0..5 {
        let t = Instant::now();
        let btf = Btf::from_bytes(data.clone()).expect("kernel BTF parses");
        parse_times.push(t.elapsed());
        drop(btf);
    }
    let t = Instant::now();
    let btf = load_kernel_btf();
    let load_time = t.elapsed();
    let t = Instant::now();
    assert!(btf.has_function("vfs_write"), "vfs_write is a BTF FUNC");
    let func_index_time = t.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "kernel BTF ({} bytes, {} build): parse min {:.1} ms / max {:.1} ms; load incl. read {:.1} ms; \
         has_function {:.1} ms",
        data.len(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        ms(*parse_times.iter().min().unwrap()),
        ms(*parse_times.iter().max().unwrap()),
        ms(load_time),
        ms(func_index_time),
    );

    assert!(!btf.has_function("filespy_no_such_function_xyz"));
    assert!(btf.has_function("vfs_read"));
    for &(ty, path) in NEEDED {
        let m = btf
            .member(ty, path)
            .unwrap_or_else(|e| panic!("{ty}.{path}: {e}"));
        let size = btf.struct_size(ty).unwrap();
        let off = btf.member_offset(ty, path).unwrap();
        assert_eq!(m.bitfield_bits, 0, "{ty}.{path} is not a bitfield");
        assert_eq!(off * 8, m.offset_bits);
        assert!(m.size > 0, "{ty}.{path} has a size");
        assert!(
            off + m.size <= size,
            "{ty}.{path} at {off}+{} lies inside sizeof({ty}) = {size}",
            m.size
        );
        assert!(btf.has_member(ty, path));
    }
    // Layout facts that hold on every kernel filespy supports.
    let o = |ty, path| btf.member_offset(ty, path).unwrap();
    assert_eq!((o("path", "mnt"), o("path", "dentry")), (0, 8));
    assert_eq!(o("file", "f_path.dentry"), o("file", "f_path") + 8);
    assert_eq!(
        o("mount", "mnt.mnt_root"),
        o("mount", "mnt") + o("vfsmount", "mnt_root")
    );
    assert_eq!(
        o("dentry", "d_name.len"),
        o("dentry", "d_name") + 4,
        "qstr: u32 hash, u32 len"
    );
    assert_eq!(o("dentry", "d_name.name"), o("dentry", "d_name") + 8);
    assert_eq!(btf.struct_size("path").unwrap(), 16);
    for (ty, path, size) in [
        ("task_struct", "pid", 4),
        ("task_struct", "tgid", 4),
        ("task_struct", "start_time", 8),
        ("cred", "uid", 4),
        ("inode", "i_mode", 2),
        ("inode", "i_nlink", 4),
        ("dentry", "d_name.len", 4),
        ("file", "f_inode", 8),
        ("mm_struct", "exe_file", 8),
    ] {
        assert_eq!(
            btf.member(ty, path).unwrap().size,
            size,
            "sizeof {ty}.{path}"
        );
    }
    // Pointers are not followed by dotted paths.
    let e = btf.member_offset("file", "f_inode.i_ino").unwrap_err();
    assert!(e.to_string().contains("not an embedded"), "{e}");
    let e = btf.member_offset("file", "f_nonexistent").unwrap_err();
    assert_eq!(
        e.to_string(),
        "BTF: struct file has no member f_nonexistent"
    );
}

#[test]
fn missing_and_bad_files_give_clear_errors() {
    let e = Btf::load(Some(Path::new("/nonexistent/vmlinux.btf")))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "BTF file not found: /nonexistent/vmlinux.btf"
    );
    let e = BtfError::KernelBtfMissing(KERNEL_BTF.into());
    assert_eq!(
        e.to_string(),
        "kernel BTF not found at /sys/kernel/btf/vmlinux: this kernel lacks CONFIG_DEBUG_INFO_BTF; \
         pass --btf FILE (e.g. from BTFHub)"
    );

    let data = std::fs::read(KERNEL_BTF).unwrap_or_else(|e| panic!("read {KERNEL_BTF}: {e}"));
    let dir = std::env::temp_dir().join(format!("filespy-btf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("truncated.btf");
    std::fs::write(&truncated, &data[..data.len() / 2]).unwrap();
    let e = Btf::load(Some(&truncated)).err().unwrap();
    eprintln!("truncated file: {e}");
    assert!(matches!(e, BtfError::Malformed { .. }));
    assert!(e.to_string().contains("truncated.btf"), "{e}");
    let garbage = dir.join("garbage.btf");
    std::fs::write(&garbage, b"this is not BTF at all\n").unwrap();
    let e = Btf::load(Some(&garbage)).err().unwrap();
    eprintln!("garbage file: {e}");
    assert!(e.to_string().contains("bad magic"), "{e}");
    let copy = dir.join("copy.btf");
    std::fs::write(&copy, &data).unwrap();
    let btf = Btf::load(Some(&copy)).expect("an external copy of the kernel BTF loads");
    assert!(btf.has_member("file", "f_path.dentry"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One type of `bpftool btf dump ... format raw`, as far as layouts need.
#[derive(Default)]
struct OType {
    kind: String,
    name: String,
    size: u64,
    type_id: u32,
    nr_elems: u64,
    /// (name, type_id, bits_offset, bitfield_size)
    members: Vec<(String, u32, u64, u64)>,
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Parses bpftool's raw dump, written independently of the crate's reader.
fn parse_bpftool(text: &str) -> HashMap<u32, OType> {
    let mut types: HashMap<u32, OType> = HashMap::new();
    let mut cur = 0u32;
    for line in text.lines() {
        let quoted = line.split('\'').nth(1).unwrap_or("").to_string();
        if let Some(rest) = line.strip_prefix('[') {
            let (id, rest) = rest.split_once("] ").expect("type line");
            cur = id.parse().expect("type id");
            let t = OType {
                kind: rest.split_whitespace().next().unwrap().to_string(),
                name: if quoted == "(anon)" {
                    String::new()
                } else {
                    quoted
                },
                size: field(line, "size").unwrap_or(0),
                type_id: field(line, "type_id").unwrap_or(0) as u32,
                nr_elems: field(line, "nr_elems").unwrap_or(0),
                members: Vec::new(),
            };
            types.insert(cur, t);
        } else if line.starts_with('\t') {
            let t = types.get_mut(&cur).expect("member after a type");
            if t.kind == "STRUCT" || t.kind == "UNION" {
                t.members.push((
                    if quoted == "(anon)" {
                        String::new()
                    } else {
                        quoted
                    },
                    field(line, "type_id").expect("member type_id") as u32,
                    field(line, "bits_offset").expect("member bits_offset"),
                    field(line, "bitfield_size").unwrap_or(0),
                ));
            }
        }
    }
    types
}

struct Oracle(HashMap<u32, OType>);

impl Oracle {
    fn strip(&self, mut id: u32) -> u32 {
        while let Some(t) = self.0.get(&id) {
            match t.kind.as_str() {
                "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG" => id = t.type_id,
                _ => break,
            }
        }
        id
    }

    fn size(&self, id: u32) -> u64 {
        let t = &self.0[&self.strip(id)];
        match t.kind.as_str() {
            "PTR" => 8,
            "ARRAY" => t.nr_elems * self.size(t.type_id),
            _ => t.size,
        }
    }

    /// First complete STRUCT with that name, else first complete UNION.
    fn root(&self, name: &str) -> u32 {
        let mut ids: Vec<u32> = self.0.keys().copied().collect();
        ids.sort_unstable();
        ["STRUCT", "UNION"]
            .iter()
            .find_map(|k| {
                ids.iter().copied().find(|id| {
                    let t = &self.0[id];
                    t.kind == *k && t.name == name && t.size > 0
                })
            })
            .unwrap_or_else(|| panic!("bpftool dump has no struct {name}"))
    }

    /// (bits offset, bitfield size, type id) of `name` in `id`, through anonymous members.
    fn find(&self, id: u32, name: &str) -> Option<(u64, u64, u32)> {
        for (mname, tid, off, bits) in &self.0[&id].members {
            if mname == name {
                return Some((*off, *bits, *tid));
            }
            let inner = self.strip(*tid);
            let kind = &self.0[&inner].kind;
            if mname.is_empty() && (kind == "STRUCT" || kind == "UNION") {
                if let Some((o, b, t)) = self.find(inner, name) {
                    return Some((off + o, b, t));
                }
            }
        }
        None
    }

    /// (bits offset, bitfield size, size in bytes) of a dotted path.
    fn member(&self, ty: &str, path: &str) -> (u64, u64, u64) {
        let (mut id, mut base, mut last) = (self.root(ty), 0, (0, 0, 0));
        for part in path.split('.') {
            let (o, b, t) = self
                .find(id, part)
                .unwrap_or_else(|| panic!("bpftool: {ty} has no {path}"));
            base += o;
            last = (base, b, self.size(t));
            id = self.strip(t);
        }
        last
    }
}

#[test]
fn offsets_match_bpftool() {
    // The VM harness sets FILESPY_VM=1: bpftool cannot be in the VM's initramfs, so there only
    // the test above runs; on the host bpftool is the oracle and must be present.
    if std::env::var_os("FILESPY_VM").is_some() {
        return;
    }
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file", KERNEL_BTF, "format", "raw"])
        .output()
        .unwrap_or_else(|e| {
            panic!("bpftool is needed as the BTF oracle (apt-get install bpftool): {e}")
        });
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle = Oracle(parse_bpftool(&String::from_utf8(out.stdout).unwrap()));
    assert!(
        oracle.0.len() > 1000,
        "bpftool dumped {} types",
        oracle.0.len()
    );
    let btf = load_kernel_btf();
    for &(ty, path) in NEEDED {
        let m = btf.member(ty, path).unwrap_or_else(|e| panic!("{e}"));
        let (bits, bitfield, size) = oracle.member(ty, path);
        assert_eq!(
            (m.offset_bits as u64, m.bitfield_bits as u64, m.size as u64),
            (bits, bitfield, size),
            "{ty}.{path}: ours vs bpftool's"
        );
        let root = oracle.root(ty);
        assert_eq!(
            btf.struct_size(ty).unwrap() as u64,
            oracle.0[&root].size,
            "sizeof {ty}"
        );
        eprintln!("{ty}.{path}: byte {} size {}", bits / 8, size);
    }
    // Bitfields in task_struct (kind_flag encoding) agree too.
    for path in ["sched_reset_on_fork", "sched_contributes_to_load"] {
        let m = btf
            .member("task_struct", path)
            .unwrap_or_else(|e| panic!("{e}"));
        let (bits, bitfield, size) = oracle.member("task_struct", path);
        assert_eq!(
            (m.offset_bits as u64, m.bitfield_bits as u64, m.size as u64),
            (bits, bitfield, size),
            "task_struct.{path}"
        );
        assert!(m.bitfield_bits > 0, "task_struct.{path} is a bitfield");
    }
}
