//! filespy's kernel side as one object: the maps, the generated programs loaded for this kernel, and
//! their attachments. Attaching is a separate step so the perf buffer can be opened first and no event
//! is lost at start-up.

use crate::attach::{self, KprobeMethod, Link};
use crate::bpf::gen::{self as codegen, FilterConfig, Gen, ARGS_VALUE};
use crate::bpf::kinds::{self, close, process, syscall, vfs, write};
use crate::bpf::layout::{ext_key, OPEN_ENTRY_LEN, SCRATCH_SIZE, STAT_COUNT};
use crate::bpf::layout::{MERGE_KEY_LEN, MERGE_VALUE_LEN};
use crate::bpf::typed::Typed;
use crate::cli::AttachMode;
use crate::kinds::{Op, OpSet};
use crate::offsets::KernelOffsets;
use crate::sys::map::{Map, MapType};
use crate::sys::prog::{Prog, ProgType};
use crate::sys::{possible_cpus, SysError};
use crate::syscall_layout;
use bpfasm::Program;
use std::rc::Rc;

/// The in-kernel filters, as the user asked for them.
#[derive(Clone, Debug)]
pub struct Filters {
    pub exts: Vec<Vec<u8>>,
    pub all_files: bool,
    pub pids: Vec<u32>,
    pub uids: Vec<u32>,
    pub comms: Vec<Vec<u8>>,
    /// `--path` prefixes (absolute, normal form): the kernel drops what is outside them all where it
    /// walks the file's path itself (user space applies them exactly).
    pub paths: Vec<Vec<u8>>,
    /// File-name suffixes that pass besides `paths` (the rules' `suffix:` matches under `--alerts`).
    pub names: Vec<codegen::NameSuffix>,
    /// Directory names that pass besides `paths` (the rules' `/**/NAME/**` under `--alerts`).
    pub dir_names: Vec<Vec<u8>>,
    /// The kinds to report.
    pub events: OpSet,
    /// Merge the writes and reads that do not fit the ring instead of losing them.
    pub merge: bool,
}

impl Default for Filters {
    /// Writes of every file by everyone: what the kernel side does with no filter at all.
    fn default() -> Filters {
        Filters {
            exts: Vec::new(),
            all_files: false,
            pids: Vec::new(),
            uids: Vec::new(),
            comms: Vec::new(),
            paths: Vec::new(),
            names: Vec::new(),
            dir_names: Vec::new(),
            events: OpSet::only(Op::Write),
            merge: true,
        }
    }
}

/// How the programs are hooked in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    Kprobe,
    Tracepoint,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Kprobe => "kprobe",
            HookKind::Tracepoint => "tracepoint",
        }
    }
}

pub struct Maps {
    pub events: Map,
    pub scratch: Map,
    pub inflight: Map,
    pub inflight_read: Map,
    pub inflight_n: Map,
    pub merged: Map,
    pub merge_gen: Map,
    pub names: Map,
    pub args: Map,
    pub vfs_args: Map,
    pub seen: Map,
    pub exts: Map,
    pub pids: Map,
    pub uids: Map,
    pub comms: Map,
    pub stats: Map,
    /// The registry of running monitors (`crate::monitors`), shared or private.
    pub monitors: Map,
    /// Tracked opens, for `close`.
    pub opens: Map,
}

/// Opens tracked at once for `close` (a full map's opens are counted, `STAT_UNTRACKED`).
pub const OPENS_MAX: u32 = 16384;

impl Maps {
    fn create(f: &Filters, monitors: Option<&Map>) -> Result<Maps, SysError> {
        let cpus = possible_cpus()?.into_iter().max().unwrap_or(0) + 1;
        let maps = Maps {
            events: Map::create(MapType::PerfEventArray, 4, 4, cpus, codegen::MAP_EVENTS)?,
            scratch: Map::create(MapType::Array, 4, SCRATCH_SIZE, cpus, codegen::MAP_SCRATCH)?,
            inflight: Map::create(
                MapType::Hash,
                8,
                write::INFLIGHT_VALUE,
                16384,
                codegen::MAP_INFLIGHT,
            )?,
            inflight_n: Map::create(MapType::Array, 4, 16, 1, codegen::MAP_INFLIGHT_N)?,
            merged: Map::create(
                MapType::Hash,
                MERGE_KEY_LEN,
                MERGE_VALUE_LEN,
                MERGE_ENTRIES,
                codegen::MAP_MERGED,
            )?,
            merge_gen: Map::create(MapType::Array, 4, 4, 1, codegen::MAP_MERGE_GEN)?,
            // Preallocated: only as large as `read` needs.
            inflight_read: Map::create(
                MapType::Hash,
                8,
                write::INFLIGHT_VALUE,
                if f.events.contains(Op::Read) {
                    16384
                } else {
                    1
                },
                codegen::MAP_INFLIGHT_READ,
            )?,
            // The path strings of the syscalls in flight, as read at their entry: preallocated (5.10's
            // tracing programs may use no other hash), so sized only when a kind names paths.
            names: Map::create(
                MapType::LruHash,
                8,
                codegen::NAMES_VALUE,
                if names_paths(f.events) { 256 } else { 1 },
                codegen::MAP_NAMES,
            )?,
            // LRU: a thread that dies inside a hooked syscall never takes its entry back.
            args: Map::create(MapType::LruHash, 8, ARGS_VALUE, 16384, codegen::MAP_ARGS)?,
            // Likewise, and an LSM hook whose VFS call never comes (a denial) leaves one.
            vfs_args: Map::create(
                MapType::LruHash,
                8,
                vfs::STATE_VALUE,
                4096,
                codegen::MAP_VFS,
            )?,
            seen: Map::create(MapType::LruHash, 4, 16, 16384, codegen::MAP_SEEN)?,
            exts: Map::create(MapType::Hash, 16, 1, 256, codegen::MAP_EXTS)?,
            pids: Map::create(MapType::Hash, 4, 1, 256, codegen::MAP_PIDS)?,
            uids: Map::create(MapType::Hash, 4, 1, 256, codegen::MAP_UIDS)?,
            comms: Map::create(MapType::Hash, 16, 1, 256, codegen::MAP_COMMS)?,
            stats: Map::create(MapType::PercpuArray, 4, 8, STAT_COUNT, codegen::MAP_STATS)?,
            // Not LRU: an open pushed out would lose its close silently; a full map is counted.
            opens: Map::create(
                MapType::Hash,
                8,
                OPEN_ENTRY_LEN as u32,
                if f.events.contains(Op::Close) {
                    OPENS_MAX
                } else {
                    1
                },
                codegen::MAP_OPENS,
            )?,
            monitors: match monitors {
                Some(m) => m.try_clone()?,
                None => Map::create(
                    MapType::LruHash,
                    4,
                    8,
                    crate::monitors::MAX_MONITORS,
                    codegen::MAP_MONITORS,
                )?,
            },
        };
        for ext in &f.exts {
            let key = ext_key(ext)
                .ok_or_else(|| SysError::Invalid(format!("extension of {} bytes", ext.len())))?;
            maps.exts.update(&key, &[1], 0)?;
        }
        for pid in &f.pids {
            maps.pids.update(&pid.to_ne_bytes(), &[1], 0)?;
        }
        for uid in &f.uids {
            maps.uids.update(&uid.to_ne_bytes(), &[1], 0)?;
        }
        for comm in &f.comms {
            let mut key = [0u8; 16];
            let n = comm.len().min(15);
            key[..n].copy_from_slice(&comm[..n]);
            maps.comms.update(&key, &[1], 0)?;
        }
        Ok(maps)
    }

    fn fd_of(&self, name: &str) -> Option<i32> {
        let m = match name {
            codegen::MAP_EVENTS => &self.events,
            codegen::MAP_SCRATCH => &self.scratch,
            codegen::MAP_INFLIGHT => &self.inflight,
            codegen::MAP_INFLIGHT_READ => &self.inflight_read,
            codegen::MAP_INFLIGHT_N => &self.inflight_n,
            codegen::MAP_MERGED => &self.merged,
            codegen::MAP_MERGE_GEN => &self.merge_gen,
            codegen::MAP_NAMES => &self.names,
            codegen::MAP_ARGS => &self.args,
            codegen::MAP_VFS => &self.vfs_args,
            codegen::MAP_SEEN => &self.seen,
            codegen::MAP_EXTS => &self.exts,
            codegen::MAP_PIDS => &self.pids,
            codegen::MAP_UIDS => &self.uids,
            codegen::MAP_COMMS => &self.comms,
            codegen::MAP_STATS => &self.stats,
            codegen::MAP_MONITORS => &self.monitors,
            codegen::MAP_OPENS => &self.opens,
            _ => return None,
        };
        Some(m.fd())
    }
}

/// Does a kind of `events` report a path string (whose copy `names` keeps per thread)?
fn names_paths(events: OpSet) -> bool {
    events.iter().any(|op| {
        kinds::syscalls(op)
            .iter()
            .any(|sc| !syscall::string_args(sc).is_empty())
    })
}

/// What of `offer` (from BTF) the verifier accepts in programs of `hook`'s type, by loading the
/// filtered path's emitters (fd → file → inode → name → extension, and the task's loads) with each
/// set of features in turn, the fullest first; nothing typed when none loads (or `offer` is none).
/// None when this process may not load programs at all (`--dump-prog` as a plain user).
pub fn probe_typed(k: &KernelOffsets, offer: &Typed, hook: HookKind) -> Option<Typed> {
    let ty = match hook {
        HookKind::Kprobe => ProgType::Kprobe,
        HookKind::Tracepoint => ProgType::Tracepoint,
    };
    let candidates = [
        offer.clone(),
        Typed {
            untrusted_mem: false,
            ..offer.clone()
        },
        Typed {
            task_btf: offer.task_btf,
            ..Typed::none()
        },
    ];
    for t in candidates {
        if t == Typed::none() {
            break;
        }
        let mut kt = k.clone();
        kt.typed = t.clone();
        let Some(bytes) = typed_probe(&kt)
            .ok()
            .and_then(|p| p.to_bytes_with_maps(|_| None).ok())
        else {
            continue;
        };
        match Prog::load(ty, "filespy_typed", &bytes) {
            Ok(_) => return Some(t),
            Err(SysError::Os { errno, .. } | SysError::Verifier { errno, .. })
                if errno == libc::EPERM =>
            {
                return None
            }
            Err(_) => {}
        }
    }
    Some(Typed::none())
}

/// The probe of `probe_typed`: fd 0's file through the emitters the filtered path uses, no maps.
fn typed_probe(k: &KernelOffsets) -> Result<Program, bpfasm::AsmError> {
    use bpfasm::{Reg::*, Size};
    let mut g = Gen::new(k);
    let t = k.typed.task();
    g.a.mov64(R6, R1);
    g.current_task(R1);
    g.load(t, Size::DW, R1, R1, k.task_group_leader);
    g.load(t, Size::DW, R1, R1, k.task_start_time);
    g.a.mov64(R9, 0);
    g.fd_to_file("out");
    g.require_regular("out");
    g.extension_key("out");
    g.a.label("out").mov64(R0, 0).exit();
    g.finish()
}

/// One generated program: its name, ELF section and code.
pub struct Generated {
    pub name: String,
    pub section: String,
    pub program: Program,
}

/// Which hook `mode` means on this kernel, decided by probing.
pub fn choose_hook(mode: AttachMode) -> Result<HookKind, SysError> {
    match mode {
        AttachMode::Kprobe if !attach::kprobes_available() => {
            Err(SysError::Unsupported(attach::NO_KPROBES.into()))
        }
        AttachMode::Kprobe => Ok(HookKind::Kprobe),
        AttachMode::Tracepoint => Ok(HookKind::Tracepoint),
        AttachMode::Auto if attach::kprobes_available() => Ok(HookKind::Kprobe),
        AttachMode::Auto => Ok(HookKind::Tracepoint),
    }
}

fn filter_config(f: &Filters, self_tgid: u32) -> FilterConfig {
    let paths = codegen::kernel_paths(&f.paths);
    // Prefixes or directory names the kernel cannot test leave the whole path filter to user space,
    // the rest too: alone it would drop what they pass.
    let testable =
        (f.paths.is_empty() || !paths.is_empty()) && codegen::dir_names_fit(&f.dir_names);
    let (paths, names, dir_names) = match testable {
        true => (paths, f.names.clone(), f.dir_names.clone()),
        false => (Vec::new(), Vec::new(), Vec::new()),
    };
    FilterConfig {
        self_tgid,
        all_files: f.all_files,
        // A dotted extension never matches (the extension is the text after the last dot).
        exts: f
            .exts
            .iter()
            .filter(|e| !e.contains(&b'.'))
            .cloned()
            .collect(),
        filter_pids: !f.pids.is_empty(),
        filter_uids: !f.uids.is_empty(),
        filter_comms: !f.comms.is_empty(),
        paths,
        names,
        dir_names,
        track_opens: f.events.contains(Op::Close),
        merge: f.merge,
    }
}

/// The programs for `hook` on this kernel (pure but for reading tracefs formats: used by `--dump-prog`
/// and by `Probes::load`).
pub fn generate(
    k: &KernelOffsets,
    hook: HookKind,
    f: &Filters,
    self_tgid: u32,
) -> Result<Vec<Generated>, SysError> {
    let cfg = filter_config(f, self_tgid);
    let mut out = Vec::new();
    // `close` needs the opens (tracked), the reads and writes (counted) and the exits (the opens a
    // process leaves to its exit), whether or not they are reported.
    let close = f.events.contains(Op::Close);
    for (op, data) in [
        (Op::Write, write::Data::Written),
        (Op::Read, write::Data::Read),
    ] {
        if f.events.contains(op) || close {
            data_programs(k, hook, &cfg, data, f.events.contains(op), &mut out)?;
        }
    }
    process_programs(k, f, &cfg, &mut out)?;
    if close {
        close_programs(k, hook, &mut out)?;
    }
    let hooked = if close {
        f.events.with(Op::Open)
    } else {
        f.events
    };
    for op in hooked.iter().filter(|&op| !kinds::syscalls(op).is_empty()) {
        let report = f.events.contains(op);
        if hook == HookKind::Kprobe {
            if let Some((h, l)) = vfs::hook_of(op).zip(k.vfs.iter().find(|l| l.op == op)) {
                let name = format!("fs_{}", op.name());
                out.push(Generated {
                    name: format!("{name}_lsm"),
                    section: format!("kprobe/{}", h.check),
                    program: vfs::check(Gen::new(k), h, l, &cfg).map_err(asm_err)?,
                });
                let via = kinds::vfs_via(op);
                out.push(Generated {
                    name: format!("{name}_vfs"),
                    section: format!("kretprobe/{}", h.does),
                    program: vfs::done(Gen::new(k), h, l, via, vfs::Seen::Return, &cfg)
                        .map_err(asm_err)?,
                });
                if l.d_delete.is_some() {
                    out.push(Generated {
                        name: format!("{name}_dcache"),
                        section: format!("kprobe/{}", vfs::D_DELETE),
                        program: vfs::done(Gen::new(k), h, l, via, vfs::Seen::Deleted, &cfg)
                            .map_err(asm_err)?,
                    });
                }
                continue;
            }
        }
        for (via, sc) in (0u16..).zip(kinds::syscalls(op)) {
            let (enter, exit) = (
                format!("sys_enter_{}", sc.name),
                format!("sys_exit_{}", sc.name),
            );
            // Syscalls this kernel lacks (fchmodat2 before 6.6, open/creat on other arches) are skipped.
            if !syscall_layout::exists(k, &enter) || !syscall_layout::exists(k, &exit) {
                continue;
            }
            let layout = syscall::Layout {
                args: syscall::arg_names(sc)
                    .into_iter()
                    .map(|n| Ok((n, syscall_layout::field_offset(k, &enter, n)?)))
                    .collect::<Result<_, SysError>>()?,
                ret_off: syscall_layout::field_offset(k, &exit, "ret")?,
            };
            let name = format!("fs_{}_{}", op.name(), sc.name);
            out.push(Generated {
                name: format!("{name}_in"),
                section: format!("tracepoint/syscalls/{enter}"),
                program: syscall::enter(Gen::new(k), op, via, sc, &layout, &cfg)
                    .map_err(asm_err)?,
            });
            out.push(Generated {
                name: format!("{name}_out"),
                section: format!("tracepoint/syscalls/{exit}"),
                program: syscall::exit(Gen::new(k), op, via, sc, &layout, &cfg, report)
                    .map_err(asm_err)?,
            });
        }
    }
    Ok(out)
}

/// exec, fork and exit, as asked for.
fn process_programs(
    k: &KernelOffsets,
    f: &Filters,
    cfg: &FilterConfig,
    out: &mut Vec<Generated>,
) -> Result<(), SysError> {
    if f.events.contains(Op::Exec) {
        out.push(Generated {
            name: "fs_exec".into(),
            section: "tracepoint/sched/sched_process_exec".into(),
            program: process::exec(Gen::new(k), cfg).map_err(asm_err)?,
        });
    }
    if f.events.contains(Op::Fork) {
        out.push(Generated {
            name: "fs_fork".into(),
            section: "raw_tracepoint/sched_process_fork".into(),
            program: process::fork(Gen::new(k), cfg).map_err(asm_err)?,
        });
    }
    if f.events.contains(Op::Exit) || f.events.contains(Op::Close) {
        // `group_dead` is in the record from 6.16 on; before, the count of live threads tells.
        let group_dead = crate::sys::tracefs::tracepoint_field_offset(
            "sched",
            "sched_process_exit",
            "group_dead",
        )
        .ok()
        .and_then(|o| i16::try_from(o).ok());
        out.push(Generated {
            name: "fs_exit".into(),
            section: "tracepoint/sched/sched_process_exit".into(),
            program: process::exit(Gen::new(k), cfg, group_dead).map_err(asm_err)?,
        });
    }
    Ok(())
}

/// `close`: `filp_close` and `filp_flush` on the kprobe path where the kernel has them, else the
/// syscalls that close a descriptor.
fn close_programs(
    k: &KernelOffsets,
    hook: HookKind,
    out: &mut Vec<Generated>,
) -> Result<(), SysError> {
    let file_ref = k.file_ref.ok_or_else(|| {
        SysError::Unsupported("close: struct file has neither f_ref nor f_count in BTF".into())
    })?;
    if hook == HookKind::Kprobe && !k.close_functions.is_empty() {
        for (func, via) in close::KPROBES {
            if k.close_functions.contains(&func) {
                out.push(Generated {
                    name: format!("fs_close_{func}"),
                    section: format!("kprobe/{func}"),
                    program: close::close(Gen::new(k), close::Hook::Kprobe, via, file_ref)
                        .map_err(asm_err)?,
                });
            }
        }
        return Ok(());
    }
    for (name, replaces, via) in close::SYSCALLS {
        let enter = format!("sys_enter_{name}");
        if !syscall_layout::exists(k, &enter) {
            continue;
        }
        let h = if replaces {
            close::Hook::Replaced {
                oldfd: syscall_layout::field_offset(k, &enter, "oldfd")?,
                newfd: syscall_layout::field_offset(k, &enter, "newfd")?,
            }
        } else {
            close::Hook::Fd(syscall_layout::field_offset(k, &enter, "fd")?)
        };
        out.push(Generated {
            name: format!("fs_close_{name}"),
            section: format!("tracepoint/syscalls/{enter}"),
            program: close::close(Gen::new(k), h, via, file_ref).map_err(asm_err)?,
        });
    }
    Ok(())
}

fn asm_err(e: bpfasm::AsmError) -> SysError {
    SysError::Invalid(format!("generating programs: {e}"))
}

/// `write`: kprobe/kretprobe on `vfs_write` or the write syscalls' tracepoints, plus the vectored
/// writes' tracepoints on both paths. `read`: the read syscalls' tracepoints on both paths. Both: the
/// copies' tracepoints and io_uring's completions.
fn data_programs(
    k: &KernelOffsets,
    hook: HookKind,
    cfg: &FilterConfig,
    data: write::Data,
    report: bool,
    out: &mut Vec<Generated>,
) -> Result<(), SysError> {
    let (syscalls, prefix, uring_name): (&[write::WriteSyscall], &str, &str) = match data {
        write::Data::Written => (&write::SYSCALLS, "fs", "fs_uring_write"),
        write::Data::Read => (&write::READ_SYSCALLS, "fs_read", "fs_uring_read"),
    };
    if hook == HookKind::Kprobe && data == write::Data::Written {
        let h = write::Hook::Kprobe;
        out.push(Generated {
            name: "filespy_entry".into(),
            section: "kprobe/vfs_write".into(),
            program: write::entry(Gen::new(k), h, cfg, data, report).map_err(asm_err)?,
        });
        out.push(Generated {
            name: "filespy_exit".into(),
            section: "kretprobe/vfs_write".into(),
            program: write::exit(Gen::new(k), h, 0, data, cfg, report).map_err(asm_err)?,
        });
    }
    for sc in syscalls {
        if hook == HookKind::Kprobe && !sc.beside_vfs_write {
            continue;
        }
        let name = sc.name;
        let (enter, exit) = (format!("sys_enter_{name}"), format!("sys_exit_{name}"));
        if !syscall_layout::exists(k, &enter) || !syscall_layout::exists(k, &exit) {
            continue;
        }
        let h = write::Hook::Tracepoint {
            fd_off: syscall_layout::field_offset(k, &enter, sc.fd)?,
            ret_off: syscall_layout::field_offset(k, &exit, "ret")?,
            source_off: sc
                .source
                .map(|f| syscall_layout::field_offset(k, &enter, f))
                .transpose()?,
        };
        out.push(Generated {
            name: format!("{prefix}_enter_{name}"),
            section: format!("tracepoint/syscalls/{enter}"),
            program: write::entry(Gen::new(k), h, cfg, data, report).map_err(asm_err)?,
        });
        out.push(Generated {
            name: format!("{prefix}_exit_{name}"),
            section: format!("tracepoint/syscalls/{exit}"),
            program: write::exit(Gen::new(k), h, sc.via, data, cfg, report).map_err(asm_err)?,
        });
    }
    if let Some(layout) = uring_layout(k)? {
        out.push(Generated {
            name: uring_name.into(),
            section: "tracepoint/io_uring/io_uring_complete".into(),
            program: write::uring(Gen::new(k), layout, cfg, data, report).map_err(asm_err)?,
        });
    }
    Ok(())
}

/// Where `io_uring_complete` has the request (5.18 and later: older records carry only user_data)
/// and BTF describes it; else io_uring writes cannot be seen. The record's layout comes from tracefs'
/// format file, or from BTF where tracefs is closed (`--dump-prog` as a plain user).
fn uring_layout(k: &KernelOffsets) -> Result<Option<write::UringLayout>, SysError> {
    use crate::sys::tracefs;
    const TP: (&str, &str) = ("io_uring", "io_uring_complete");
    let Some((kiocb_opcode, kiocb_file)) = k.io_kiocb else {
        return Ok(None);
    };
    let denied = |e: &SysError| matches!(e.errno(), Some(libc::EACCES) | Some(libc::EPERM));
    let field = |f: &str| tracefs::tracepoint_field_offset(TP.0, TP.1, f);
    let offsets = match tracefs::tracepoint_presence(TP.0, TP.1) {
        Some(false) => None,
        None => k.uring_complete,
        Some(true) => match (field("req"), field("res")) {
            (Ok(req), Ok(res)) => i16::try_from(req).ok().zip(i16::try_from(res).ok()),
            (Err(e), _) | (_, Err(e)) if denied(&e) => k.uring_complete,
            // A record without `req` (before 5.18).
            (Err(SysError::Unsupported(_)), _) | (_, Err(SysError::Unsupported(_))) => None,
            (Err(e), _) | (_, Err(e)) => return Err(e),
        },
    };
    Ok(offsets.map(|(req_off, res_off)| write::UringLayout {
        req_off,
        res_off,
        kiocb_opcode,
        kiocb_file,
    }))
}

/// (process image, file) pairs `merged` holds at once (about 4.2 KiB each, preallocated): more
/// distinct writers overflowing the ring between two of user space's takes are lost, and counted.
pub const MERGE_ENTRIES: u32 = 512;

/// Threads that release links at once (see `Probes::detach`).
const DETACH_THREADS: usize = 16;

/// The loaded kernel side.
pub struct Probes {
    // Field order is drop order: links detach before programs and maps close.
    links: Vec<Link>,
    /// Programs and the section each attaches to; identical programs are loaded once and shared (the
    /// write and pwrite64 tracepoints have the same record layout), which halves verification at start.
    progs: Vec<(Rc<Prog>, String)>,
    pub maps: Maps,
    pub hook: HookKind,
}

impl Probes {
    /// Create maps, generate and load the programs for `hook`, with a registry of monitors of their
    /// own. Nothing is attached yet.
    pub fn load(
        k: &KernelOffsets,
        hook: HookKind,
        f: &Filters,
        self_tgid: u32,
    ) -> Result<Probes, SysError> {
        Probes::load_with(k, hook, f, self_tgid, None)
    }

    /// `load`, skipping the processes in `monitors` (`crate::monitors::Registry`).
    pub fn load_with(
        k: &KernelOffsets,
        hook: HookKind,
        f: &Filters,
        self_tgid: u32,
        monitors: Option<&Map>,
    ) -> Result<Probes, SysError> {
        crate::sys::raise_memlock_rlimit();
        let maps = Maps::create(f, monitors)?;
        let mut progs = Vec::new();
        let mut loaded: Vec<(ProgType, Vec<u8>, Rc<Prog>)> = Vec::new();
        for g in generate(k, hook, f, self_tgid)? {
            let ty = if g.section.starts_with("tracepoint/") {
                ProgType::Tracepoint
            } else if g.section.starts_with("raw_tracepoint/") {
                ProgType::RawTracepoint
            } else {
                ProgType::Kprobe
            };
            let bytes = g
                .program
                .to_bytes_with_maps(|m| maps.fd_of(m))
                .map_err(|e| SysError::Invalid(format!("program {}: {e}", g.name)))?;
            let prog = match loaded.iter().find(|(t, b, _)| *t == ty && *b == bytes) {
                Some((_, _, p)) => Rc::clone(p),
                None => {
                    let p = Rc::new(Prog::load(ty, &g.name, &bytes)?);
                    loaded.push((ty, bytes, Rc::clone(&p)));
                    p
                }
            };
            progs.push((prog, g.section));
        }
        Ok(Probes {
            links: Vec::new(),
            progs,
            maps,
            hook,
        })
    }

    /// Attach every program. Kprobes go through the perf PMU, else tracefs.
    /// Exit programs first: a call whose entry program ran always meets its exit program, so no
    /// per-thread entry is left behind at start-up (and `inflight_n` counts only live ones).
    pub fn attach(&mut self) -> Result<(), SysError> {
        let is_exit = |s: &str| s.starts_with("kretprobe/") || s.contains("/sys_exit_");
        let (exits, rest): (Vec<_>, Vec<_>) = self.progs.iter().partition(|(_, s)| is_exit(s));
        for (prog, section) in exits.into_iter().chain(rest) {
            let link = match section.split('/').collect::<Vec<_>>().as_slice() {
                ["kprobe", func] => attach::attach_kprobe(prog, func, false, KprobeMethod::Auto)?,
                ["kretprobe", func] => attach::attach_kprobe(prog, func, true, KprobeMethod::Auto)?,
                ["tracepoint", cat, name] => attach::attach_tracepoint(prog, cat, name)?,
                ["raw_tracepoint", name] => attach::attach_raw_tracepoint(prog, name)?,
                _ => return Err(SysError::Invalid(format!("unknown section {section}"))),
            };
            self.links.push(link);
        }
        Ok(())
    }

    /// Detach everything now (programs stay loaded until drop). Each detach waits in the kernel for
    /// an RCU grace period (20-40 ms); one after another that is seconds with many hooks, so the links
    /// are released from parallel threads, where the waits overlap, and a stop stays prompt.
    pub fn detach(&mut self) {
        let links = std::mem::take(&mut self.links);
        let per_thread = links.len().div_ceil(DETACH_THREADS).max(1);
        let mut links = links.into_iter();
        std::thread::scope(|s| loop {
            let chunk: Vec<Link> = links.by_ref().take(per_thread).collect();
            if chunk.is_empty() {
                break;
            }
            s.spawn(move || drop(chunk));
        });
    }

    /// Counters summed over CPUs, indexed by `layout::STAT_*`.
    pub fn stats(&self) -> Result<[u64; STAT_COUNT as usize], SysError> {
        let mut out = [0u64; STAT_COUNT as usize];
        let mut buf = vec![0u8; self.maps.stats.user_value_len()];
        for (i, slot) in out.iter_mut().enumerate() {
            if self
                .maps
                .stats
                .lookup(&(i as u32).to_ne_bytes(), &mut buf)?
            {
                *slot = buf
                    .chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
                    .sum();
            }
        }
        Ok(out)
    }

    /// One counter (`layout::STAT_*`) per CPU, indexed by CPU number.
    pub fn stat_per_cpu(&self, idx: u32) -> Result<Vec<u64>, SysError> {
        let mut buf = vec![0u8; self.maps.stats.user_value_len()];
        if !self.maps.stats.lookup(&idx.to_ne_bytes(), &mut buf)? {
            return Ok(Vec::new());
        }
        Ok(buf
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// Make the next event of `tgid` carry its process context again (user space missed it).
    pub fn forget_process(&self, tgid: u32) {
        let _ = self.maps.seen.delete(&tgid.to_ne_bytes());
    }
}

impl Drop for Probes {
    /// Links first (in parallel), before the programs and maps they hold close.
    fn drop(&mut self) {
        self.detach();
    }
}
