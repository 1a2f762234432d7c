//! Kernel helper function ids (`enum bpf_func_id` in `linux/bpf.h`) that filespy calls.

/// A BPF helper, called with `call <id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Helper(pub i32);

impl Helper {
    pub const MAP_LOOKUP_ELEM: Helper = Helper(1);
    pub const MAP_UPDATE_ELEM: Helper = Helper(2);
    pub const MAP_DELETE_ELEM: Helper = Helper(3);
    pub const PROBE_READ: Helper = Helper(4);
    pub const KTIME_GET_NS: Helper = Helper(5);
    pub const TRACE_PRINTK: Helper = Helper(6);
    pub const GET_PRANDOM_U32: Helper = Helper(7);
    pub const GET_SMP_PROCESSOR_ID: Helper = Helper(8);
    pub const TAIL_CALL: Helper = Helper(12);
    pub const GET_CURRENT_PID_TGID: Helper = Helper(14);
    pub const GET_CURRENT_UID_GID: Helper = Helper(15);
    pub const GET_CURRENT_COMM: Helper = Helper(16);
    pub const PERF_EVENT_OUTPUT: Helper = Helper(25);
    pub const GET_CURRENT_TASK: Helper = Helper(35);
    pub const PROBE_READ_STR: Helper = Helper(45);
    pub const GET_CURRENT_CGROUP_ID: Helper = Helper(80);
    pub const PROBE_READ_USER: Helper = Helper(112);
    pub const PROBE_READ_KERNEL: Helper = Helper(113);
    pub const PROBE_READ_USER_STR: Helper = Helper(114);
    pub const PROBE_READ_KERNEL_STR: Helper = Helper(115);
    pub const KTIME_GET_BOOT_NS: Helper = Helper(125);
    pub const RINGBUF_OUTPUT: Helper = Helper(130);
    pub const RINGBUF_RESERVE: Helper = Helper(131);
    pub const RINGBUF_SUBMIT: Helper = Helper(132);
    pub const RINGBUF_DISCARD: Helper = Helper(133);
    pub const GET_CURRENT_TASK_BTF: Helper = Helper(158);
    pub const GET_FUNC_IP: Helper = Helper(173);
    pub const LOOP: Helper = Helper(181);
}

/// `BPF_F_CURRENT_CPU` for `perf_event_output`'s flags: the ring of the CPU the program runs on.
pub const F_CURRENT_CPU: i64 = 0xffff_ffff;
