//! The registration program: run once at start-up on `sys_enter_write`, it recognises filespy's own
//! marker call (`write(-1, NULL, cookie)`, which fails with EBADF) and records, as only the kernel can
//! tell, the caller's host identity: its tgid in the initial pid namespace (also when filespy runs in a
//! container's pid namespace) and its start time, in the registry of running monitors.

use super::gen::{Gen, MAP_MONITORS, S_KEY, S_TMP, S_VAL};
use bpfasm::{AsmError, Cond, Helper, Program, Reg::*, Size};

/// Map the program writes the caller's pid_tgid to (one u64 entry).
pub const MAP_WHOAMI: &str = "whoami";

/// `count_off`: the `count` field's offset in `sys_enter_write` records.
pub fn program(mut g: Gen, count_off: i16, cookie: u64) -> Result<Program, AsmError> {
    let k = g.k;
    let out = "out";
    g.a.ldx(Size::DW, R2, R1, count_off)
        .lddw(R3, cookie as i64)
        .jmp(Cond::Ne, R2, R3, out);
    g.a.call(Helper::GET_CURRENT_PID_TGID)
        .stx(Size::DW, R10, S_KEY, R0);
    // whoami[0] = pid_tgid
    g.a.st(Size::W, R10, S_VAL, 0);
    g.update(MAP_WHOAMI, S_VAL, S_KEY);
    // monitors[tgid] = the group leader's start time
    g.a.call(Helper::GET_CURRENT_TASK).mov64(R6, R0);
    g.read_u64(R6, R6, k.task_group_leader);
    g.read_to_stack(S_TMP, 8, R6, k.task_start_time);
    g.a.ldx(Size::DW, R1, R10, S_KEY)
        .rsh64(R1, 32)
        .stx(Size::W, R10, S_VAL, R1);
    g.update(MAP_MONITORS, S_VAL, S_TMP);
    g.a.label(out).mov64(R0, 0).exit();
    g.finish()
}
