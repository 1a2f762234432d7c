//! Kernel plumbing: the only code that calls `bpf(2)`, `perf_event_open(2)` and the perf ioctls. Every
//! kernel object is an owned fd newtype; every failure is a `SysError`.

pub mod bpf;
pub mod cpus;
pub mod error;
pub mod link;
pub mod map;
pub mod mmap;
pub mod perf_event;
pub mod prog;
pub mod signal;
pub mod tracefs;

pub use bpf::{raise_memlock_rlimit, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
pub use cpus::{online_cpus, possible_cpus};
pub use error::SysError;
pub use link::BpfLink;
pub use map::{Map, MapType};
pub use perf_event::{perf_event_open, PerfEvent, PerfEventAttr};
pub use prog::{Prog, ProgType};
