//! The process kinds, on scheduler tracepoints present on every kernel (no kprobe needed):
//! - `exec` at `sched:sched_process_exec`: the new image, its executable as the event's file, and its
//!   whole context (exe, cwd, argv, ids) always, which also feeds the process cache;
//! - `fork` at the raw tracepoint `sched_process_fork` (its arguments are the parent and child tasks,
//!   which the record of the perf tracepoint lacks): the child's pid, tid and start time, and whether
//!   it is a thread of the parent's process;
//! - `exit` at `sched:sched_process_exit`, only when the process's last thread ends: exit code and run
//!   time (the mm is already gone; the context comes from the cache).

use crate::bpf::gen::*;
use crate::bpf::layout::*;
use crate::kinds::Op;
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// `via` of each kind, by index.
pub const EXEC_VIA: [&str; 1] = ["sched_process_exec"];
pub const FORK_VIA: [&str; 1] = ["sched_process_fork"];
pub const EXIT_VIA: [&str; 1] = ["sched_process_exit"];

/// exec: filters on the new image, the executable's path and inode, and the full context.
pub fn exec(mut g: Gen, cfg: &FilterConfig) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    g.monitor_filter(out);
    g.header(Op::Exec as u16, 0, out);
    let no_exe = g.fresh("no_exe");
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R8, R0);
    g.read_u64(R8, R8, k.task_mm);
    g.a.jmp(Cond::Eq, R8, 0, &no_exe);
    g.read_u64(R8, R8, k.mm_exe_file);
    g.a.jmp(Cond::Eq, R8, 0, &no_exe);
    g.file_typed();
    g.file_info(Section::Path, F_TRUNCATED);
    g.a.label(&no_exe);
    g.process_context(Context::Always);
    g.submit(out);
    g.epilogue(out, cfg.filters_process().then_some(filtered));
    g.walk_subprogram(&[]);
    g.finish()
}

/// fork (raw tracepoint: ctx = `u64 args[]`, args[0] = parent, args[1] = child).
pub fn fork(mut g: Gen, cfg: &FilterConfig) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    g.monitor_filter(out);
    g.header(Op::Fork as u16, 0, out);
    g.a.ldx(Size::DW, R8, R6, 8);
    g.read_to_event(OFF_ARG0, 4, R8, k.task_tgid);
    g.read_to_event(OFF_ARG1, 4, R8, k.task_pid);
    g.read_to_event(OFF_BYTES, 8, R8, k.task_start_time);
    let process = g.fresh("new_process");
    g.a.ldx(Size::W, R1, R7, OFF_ARG0)
        .ldx(Size::W, R2, R7, OFF_TGID)
        .jmp(Cond::Ne, R1, R2, &process);
    g.set_flag(F_THREAD);
    g.a.label(&process);
    g.process_context(Context::FirstOfImage);
    g.submit(out);
    g.epilogue(out, cfg.filters_process().then_some(filtered));
    g.walk_subprogram(&[]);
    g.finish()
}

/// exit: when the last thread ends (`group_dead` in the record where it has it, else the signal
/// struct's count of live threads, already decremented here), its exit code and run time.
pub fn exit(
    mut g: Gen,
    cfg: &FilterConfig,
    group_dead_off: Option<i16>,
) -> Result<Program, AsmError> {
    let k = g.k;
    let (out, filtered) = ("out", "filtered");
    g.a.mov64(R6, R1);
    g.process_filter(cfg, out, filtered);
    match group_dead_off {
        Some(off) => {
            g.a.ldx(Size::B, R1, R6, off).jmp(Cond::Eq, R1, 0, out);
        }
        None => {
            g.a.call(Helper::GET_CURRENT_TASK).mov64(R1, R0);
            g.read_u64(R1, R1, k.task_signal);
            g.read_to_stack(S_TMP, 4, R1, k.signal_live);
            g.a.ldx(Size::W, R1, R10, S_TMP).jmp(Cond::Ne, R1, 0, out);
        }
    }
    g.monitor_filter(out);
    g.header(Op::Exit as u16, 0, out);
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R8, R0);
    g.read_to_event(OFF_ARG0, 4, R8, k.task_exit_code);
    g.process_context(Context::TaskOnly);
    // Run time: now minus the process's start (both CLOCK_MONOTONIC ns).
    g.a.ldx(Size::DW, R1, R7, OFF_MONO_NS)
        .ldx(Size::DW, R2, R7, OFF_START_TIME)
        .sub64(R1, R2)
        .stx(Size::DW, R7, OFF_BYTES, R1);
    g.submit(out);
    g.epilogue(out, cfg.filters_process().then_some(filtered));
    g.finish()
}
