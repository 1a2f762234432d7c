//! The generic programs of a kind performed by syscalls (every kind but `write`): the enter program
//! filters by process, tests the call's arguments and saves them per thread in `args`; the exit
//! program takes them back, drops failed calls (counted), resolves the target and the second path in
//! the kernel and sends the record. Pairing with the exit means only what succeeded is an event.

use super::{Check, Syscall, Target, Value};
use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::kinds::Op;
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// `AT_FDCWD`: a dirfd meaning the cwd.
const AT_FDCWD: i32 = -100;
/// `file->f_mode` bit set by an open that created the file (include/linux/fs.h, since 4.19).
const FMODE_CREATED: i32 = 1 << 20;

/// Byte offsets, in the tracepoints' records, of what the programs read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Offset in the enter record of each argument the call's description names, in slot order.
    pub args: Vec<(&'static str, i16)>,
    /// `ret` in the exit record.
    pub ret_off: i16,
}

/// The argument names a description uses, each once, in the order of their save slots.
pub fn arg_names(sc: &Syscall) -> Vec<&'static str> {
    let mut names = Vec::new();
    let mut add = |n: &'static str| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    for t in [Some(sc.target), sc.second].into_iter().flatten() {
        match t {
            Target::Fd(n) | Target::Text(n) => add(n),
            Target::At { dirfd, path } => {
                if let Some(d) = dirfd {
                    add(d);
                }
                add(path);
            }
            Target::RetFd => {}
        }
    }
    for c in sc.checks {
        match *c {
            Check::AllSet(n, _) | Check::NoneSet(n, _) | Check::NotEqual(n, _) => add(n),
        }
    }
    for v in [sc.arg0, sc.arg1, sc.bytes].into_iter().flatten() {
        if let Value::Arg(n) | Value::User(n, _) = v {
            add(n);
        }
    }
    names
}

/// The string arguments an event reports (a path, a symlink's text), in the order of their places in
/// `names`. They are read at the syscall's entry, so the event shows what the kernel read, not what
/// another thread wrote into the process's memory while the call ran.
pub fn string_args(sc: &Syscall) -> Vec<&'static str> {
    [Some(sc.target), sc.second]
        .into_iter()
        .flatten()
        .filter_map(|t| match t {
            Target::At { path, .. } => Some(path),
            Target::Text(n) => Some(n),
            Target::Fd(_) | Target::RetFd => None,
        })
        .collect()
}

/// Where the exit finds the length `names` holds for string `i` (0: unreadable at entry).
const fn string_len_at(i: usize) -> i16 {
    S_ARGS + ARGS_TAG + 4 + 2 * i as i16
}

/// Tag saved with the arguments: which (kind, syscall) saved them, since several kinds may hook one
/// syscall (`unlinkat` is `delete` or `rmdir` by its flag).
fn tag(op: Op, via: u16) -> i32 {
    (op as i32) << 16 | via as i32
}

fn slot(layout: &Layout, name: &str) -> i16 {
    let i = layout
        .args
        .iter()
        .position(|(n, _)| *n == name)
        .expect("every argument a description names has a slot");
    S_ARGS + 8 * i as i16
}

/// Enter: process filters, the argument checks, then save the arguments for the exit.
pub fn enter(
    mut g: Gen,
    op: Op,
    via: u16,
    sc: &Syscall,
    layout: &Layout,
    cfg: &FilterConfig,
) -> Result<Program, AsmError> {
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    for c in sc.checks {
        let (Check::AllSet(n, _) | Check::NoneSet(n, _) | Check::NotEqual(n, _)) = *c;
        let off = layout.args.iter().find(|(a, _)| *a == n).map(|a| a.1);
        let off = off.expect("checked arguments have offsets");
        g.a.ldx(Size::DW, R1, R6, off);
        match *c {
            Check::AllSet(_, mask) => {
                g.a.and64(R1, mask).jmp(Cond::Ne, R1, mask, out);
            }
            Check::NoneSet(_, mask) => {
                g.a.and64(R1, mask).jmp(Cond::Ne, R1, 0, out);
            }
            Check::NotEqual(_, v) => {
                g.a.jmp32(Cond::Eq, R1, v, out);
            }
        }
    }
    g.monitor_filter(out);
    // monitor_filter needs the plain pid_tgid; the entries are this kind's.
    g.kind_key(op as u8);
    for (i, (_, off)) in layout.args.iter().enumerate() {
        g.a.ldx(Size::DW, R1, R6, *off)
            .stx(Size::DW, R10, S_ARGS + 8 * i as i16, R1);
    }
    // Unused slots too: verifiers before 6.2 refuse a helper reading uninitialized stack (openat2
    // saves no argument, and was refused on 5.10).
    for i in layout.args.len()..ARGS_TAG as usize / 8 {
        g.a.st(Size::DW, R10, S_ARGS + 8 * i as i16, 0);
    }
    g.a.st(Size::W, R10, S_ARGS + ARGS_TAG, tag(op, via)).st(
        Size::W,
        R10,
        S_ARGS + ARGS_TAG + 4,
        0,
    );
    let strings = string_args(sc);
    if !strings.is_empty() {
        // This CPU's scratch record (none is being built at an entry) gathers the strings for the
        // copy into `names`.
        g.a.call(Helper::GET_SMP_PROCESSOR_ID)
            .stx(Size::W, R10, S_ZERO, R0);
        g.lookup(MAP_SCRATCH, S_ZERO);
        g.a.jmp(Cond::Eq, R0, 0, out)
            .mov64(R7, R0)
            .add64(R7, HEADER_LEN as i32);
        for (i, n) in strings.iter().enumerate() {
            let read = g.fresh("string_read");
            g.a.mov64(R1, R7)
                .add64(R1, i as i32 * PATH_MAX)
                .mov64(R2, PATH_MAX)
                .ldx(Size::DW, R3, R10, slot(layout, n))
                .call(Helper::PROBE_READ_USER_STR);
            g.a.jmp(Cond::Sgt, R0, 0, &read).mov64(R0, 0).label(&read);
            g.a.stx(Size::H, R10, string_len_at(i), R0);
        }
        g.update_from(MAP_NAMES, S_KEY, R7);
    }
    g.update(MAP_ARGS, S_KEY, S_ARGS);
    // The verifier rejects unreachable code: the counter exists only when a filter can jump to it.
    g.epilogue(out, cfg.filters_process().then_some(filtered));
    g.finish()
}

/// Exit: the saved arguments back; failures counted; the file filters where the kind asks for them;
/// the record built and sent. An `open` when `close` is watched is tracked in `opens` (`F_TRACKED`,
/// its handle in the `Data` section) and sent even when not `report`ed, for user space to end it at
/// its process's exit.
pub fn exit(
    mut g: Gen,
    op: Op,
    via: u16,
    sc: &Syscall,
    layout: &Layout,
    cfg: &FilterConfig,
    report: bool,
) -> Result<Program, AsmError> {
    let (out, filtered) = ("out", "filtered");
    restore_args(&mut g, op, via, layout, out);
    // From here on every way out releases this thread's `names` (a mismatched tag above is another
    // kind's call, whose names are its own).
    let strings = string_args(sc);
    let out = if strings.is_empty() {
        out
    } else {
        g.lookup(MAP_NAMES, S_KEY);
        g.a.stx(Size::DW, R10, S_NAMES, R0);
        "release_names"
    };
    let ok = g.fresh("succeeded");
    g.a.ldx(Size::DW, R9, R6, layout.ret_off)
        .jmp(Cond::Sge, R9, 0, &ok);
    // A failed open is no open to close: counted only where `open` is reported.
    if report {
        g.count(STAT_FAILED);
    }
    g.a.ja(out);
    g.a.label(&ok);
    g.a.stx(Size::DW, R10, S_VAL, R9);

    let fd_target = target_file(&mut g, sc, layout, cfg, out, filtered);
    g.header(op as u16, via, out);
    record_names(&mut g, sc, layout, cfg, fd_target, filtered);
    record_values(&mut g, sc, layout);
    let track = cfg.track_opens && op == Op::Open;
    if track {
        g.a.stx(Size::DW, R10, S_OPEN_KEY, R8);
    }
    g.process_context(Context::FirstOfImage);
    if track {
        track_open(&mut g, report, out);
    }
    g.submit(out);
    let filters = sc.file_filter || (fd_target && !cfg.no_path_filter());
    if strings.is_empty() {
        g.epilogue(out, filters.then_some(filtered));
    } else {
        g.a.label(out);
        g.delete(MAP_NAMES, S_KEY);
        g.epilogue("out", None);
        if filters {
            g.a.label(filtered);
            g.count(STAT_FILTERED);
            g.a.ja(out);
        }
    }
    g.walk_subprogram(&cfg.dir_names);
    g.finish()
}

/// The arguments the enter saved for this thread's call of this kind, onto the stack (`S_ARGS`), and
/// the entry deleted; another kind's call (its tag differs) leaves by `out`.
fn restore_args(g: &mut Gen, op: Op, via: u16, layout: &Layout, out: &str) {
    g.thread_entry_of(MAP_ARGS, op as u8, out);
    g.a.ldx(Size::W, R1, R0, ARGS_TAG)
        .jmp(Cond::Ne, R1, tag(op, via), out);
    for i in 0..layout.args.len() as i16 {
        g.a.ldx(Size::DW, R1, R0, 8 * i)
            .stx(Size::DW, R10, S_ARGS + 8 * i, R1);
    }
    g.a.ldx(Size::W, R1, R0, ARGS_TAG + 4)
        .stx(Size::W, R10, S_ARGS + ARGS_TAG + 4, R1);
    g.delete(MAP_ARGS, S_KEY);
}

/// A file target: r8 = its file, tested before a record is started (`header` keeps r8). Returns
/// whether the target is a file (not a name).
fn target_file(
    g: &mut Gen,
    sc: &Syscall,
    layout: &Layout,
    cfg: &FilterConfig,
    out: &str,
    filtered: &str,
) -> bool {
    let k = g.k;
    match sc.target {
        Target::Fd(n) => {
            g.a.ldx(Size::W, R9, R10, slot(layout, n));
            g.fd_to_file(out);
        }
        Target::RetFd => {
            g.a.ldx(Size::W, R9, R10, S_VAL);
            g.fd_to_file(out);
        }
        Target::At { .. } | Target::Text(_) => return false,
    }
    if sc.created_only {
        g.read_to_stack(S_TMP, 4, R8, k.file_f_mode);
        g.a.ldx(Size::W, R1, R10, S_TMP)
            .and64(R1, FMODE_CREATED)
            .jmp(Cond::Eq, R1, 0, out);
    }
    if sc.file_filter {
        g.file_filter(cfg, filtered);
    } else if sc.regular_only || sc.created_only {
        g.require_regular(out);
    }
    true
}

/// The record's paths: the file's walk (and `--path` on it), or the name resolved against its dirfd
/// or the cwd; then the second name, if the kind has one.
fn record_names(
    g: &mut Gen,
    sc: &Syscall,
    layout: &Layout,
    cfg: &FilterConfig,
    fd_target: bool,
    filtered: &str,
) {
    let k = g.k;
    if fd_target {
        if sc.mark_created {
            let kept = g.fresh("not_created");
            g.read_to_stack(S_TMP, 4, R8, k.file_f_mode);
            g.a.ldx(Size::W, R1, R10, S_TMP)
                .and64(R1, FMODE_CREATED)
                .jmp(Cond::Eq, R1, 0, &kept);
            g.set_flag(F_CREATED);
            g.a.label(&kept);
        }
        g.file_info(Section::Path, F_TRUNCATED);
        // A named path's walk is only its base: `--path` is applied to those in user space.
        g.path_filter(cfg, filtered);
    } else {
        named(
            g,
            sc.target,
            layout,
            Section::Path,
            Section::PathUser,
            F_TRUNCATED,
            Some(0),
        );
    }
    if let Some(t) = sc.second {
        // The second string's place follows the target's, if the target has one.
        let i = usize::from(!fd_target);
        named(
            g,
            t,
            layout,
            Section::Path2,
            Section::Path2User,
            F_PATH2_TRUNCATED,
            Some(i),
        );
    }
}

/// The kind's values into the record's `arg0`, `arg1` and `bytes`.
fn record_values(g: &mut Gen, sc: &Syscall, layout: &Layout) {
    let k = g.k;
    for (value, off, size) in [
        (sc.arg0, OFF_ARG0, Size::W),
        (sc.arg1, OFF_ARG1, Size::W),
        (sc.bytes, OFF_BYTES, Size::DW),
    ] {
        match value {
            Some(Value::Arg(n)) => {
                g.a.ldx(Size::DW, R1, R10, slot(layout, n))
                    .stx(size, R7, off, R1);
            }
            Some(Value::SizeAfter) => {
                // r8 is still the target's file (fd targets only).
                g.read_u64(R1, R8, k.file_f_inode);
                g.read_to_event(off, 8, R1, k.inode_i_size);
            }
            Some(Value::Ret) => {
                g.a.ldx(Size::DW, R1, R10, S_VAL).stx(size, R7, off, R1);
            }
            Some(Value::Const(c)) => {
                g.a.st(size, R7, off, c);
            }
            Some(Value::User(n, at)) => {
                // Unreadable memory leaves 0 (the kernel has just read it, so it is mapped).
                g.a.st(Size::DW, R10, S_TMP, 0)
                    .mov64(R1, R10)
                    .add64(R1, S_TMP as i32)
                    .mov64(R2, 4)
                    .ldx(Size::DW, R3, R10, slot(layout, n))
                    .add64(R3, i32::from(at))
                    .call(Helper::PROBE_READ_USER);
                g.a.ldx(Size::W, R1, R10, S_TMP).stx(size, R7, off, R1);
            }
            None => {}
        }
    }
}

/// The opened file (at `S_OPEN_KEY`) into `opens`, its opener the record's process, its totals 0;
/// the record flagged `F_TRACKED` with the handle in its `Data` section. A file already there is an
/// open whose close was not seen (the same `struct file` again): replaced, and counted as a close
/// that will not come, as is an open the full map cannot take. Not `report`ing, an untracked open
/// sends nothing.
fn track_open(g: &mut Gen, report: bool, out: &str) {
    let v = S_OPEN_VALUE;
    g.a.ldx(Size::W, R1, R7, OFF_TGID)
        .stx(Size::W, R10, v + OPEN_TGID, R1)
        .st(Size::W, R10, v + OPEN_TGID + 4, 0);
    g.a.ldx(Size::DW, R1, R7, OFF_START_TIME)
        .stx(Size::DW, R10, v + OPEN_START_TIME, R1);
    g.a.ldx(Size::DW, R8, R10, S_OPEN_KEY);
    g.file_typed();
    let k = g.k;
    g.read_u64(R1, R8, k.file_f_inode);
    g.a.stx(Size::DW, R10, v + OPEN_INODE, R1);
    for off in [OPEN_READS, OPEN_BYTES_READ, OPEN_WRITES, OPEN_BYTES_WRITTEN] {
        g.a.st(Size::DW, R10, v + off, 0);
    }
    let (tracked, full, done) = (
        g.fresh("tracked"),
        g.fresh("untracked"),
        g.fresh("tracking_done"),
    );
    g.update_with(MAP_OPENS, S_OPEN_KEY, v, BPF_NOEXIST);
    g.a.jmp(Cond::Eq, R0, 0, &tracked)
        .jmp(Cond::Ne, R0, -EEXIST, &full);
    g.count(STAT_UNTRACKED);
    g.update(MAP_OPENS, S_OPEN_KEY, v);
    g.a.jmp(Cond::Eq, R0, 0, &tracked);
    g.a.label(&full);
    g.count(STAT_UNTRACKED);
    g.a.ja(if report { &done } else { out });
    g.a.label(&tracked);
    g.set_flag(F_TRACKED);
    g.open_data(false);
    g.a.label(&done);
}

/// A path named by the call: the walked base directory into `base` (unless the name is absolute),
/// the name itself into `user`. A text target is only the string.
fn named(
    g: &mut Gen,
    t: Target,
    layout: &Layout,
    base: Section,
    user: Section,
    trunc: u16,
    place: Option<usize>,
) {
    match t {
        Target::At { dirfd, path } => {
            let skip = g.fresh("absolute");
            let p = slot(layout, path);
            // The first byte decides: an absolute name needs no base.
            g.a.st(Size::DW, R10, S_TMP, 0);
            first_byte(g, p, place);
            g.a.ldx(Size::B, R1, R10, S_TMP)
                .jmp(Cond::Eq, R1, b'/' as i32, &skip);
            match dirfd {
                Some(d) => {
                    let from_fd = g.fresh("from_dirfd");
                    g.a.ldx(Size::W, R9, R10, slot(layout, d)).jmp32(
                        Cond::Ne,
                        R9,
                        AT_FDCWD,
                        &from_fd,
                    );
                    g.cwd_path(base, trunc);
                    g.a.ja(&skip);
                    g.a.label(&from_fd);
                    g.fd_to_file(&skip);
                    g.file_path(base, trunc);
                }
                None => g.cwd_path(base, trunc),
            }
            g.a.label(&skip);
            string(g, p, place, user);
        }
        Target::Text(n) => string(g, slot(layout, n), place, user),
        Target::Fd(_) | Target::RetFd => unreachable!("fd targets are handled by the caller"),
    }
}

/// The first byte of a string argument into `S_TMP`: from `names` (its `place` there) when the entry
/// saved it, else from the process's memory.
fn first_byte(g: &mut Gen, arg_slot: i16, place: Option<usize>) {
    let from_user = g.fresh("first_from_user");
    let got = g.fresh("first_got");
    if let Some(i) = place {
        g.a.ldx(Size::DW, R3, R10, S_NAMES)
            .jmp(Cond::Eq, R3, 0, &from_user)
            .add64(R3, i as i32 * PATH_MAX)
            .mov64(R1, R10)
            .add64(R1, S_TMP as i32)
            .mov64(R2, 1)
            .call(Helper::PROBE_READ_KERNEL)
            .ja(&got);
    }
    g.a.label(&from_user)
        .mov64(R1, R10)
        .add64(R1, S_TMP as i32)
        .mov64(R2, 1)
        .ldx(Size::DW, R3, R10, arg_slot)
        .call(Helper::PROBE_READ_USER);
    g.a.label(&got);
}

/// A string argument into `section`: the copy `names` holds (its `place`), as the kernel read it at
/// the entry, or — when the entry could not save one — the process's memory now.
fn string(g: &mut Gen, arg_slot: i16, place: Option<usize>, section: Section) {
    let from_user = g.fresh("string_from_user");
    let done = g.fresh("string_done");
    if let Some(i) = place {
        let readable = g.fresh("string_readable");
        g.a.ldx(Size::DW, R9, R10, S_NAMES)
            .jmp(Cond::Eq, R9, 0, &from_user);
        g.a.ldx(Size::H, R1, R10, string_len_at(i))
            .jmp(Cond::Ne, R1, 0, &readable);
        g.set_flag(F_USER_FAULT);
        g.a.ja(&done);
        g.a.label(&readable).add64(R9, i as i32 * PATH_MAX);
        g.kernel_string(section);
        g.a.ja(&done);
    }
    g.a.label(&from_user).ldx(Size::DW, R9, R10, arg_slot);
    g.user_string(section);
    g.a.label(&done);
}
