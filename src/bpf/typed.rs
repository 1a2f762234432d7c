//! Direct loads of kernel memory through BTF-typed pointers, where the kernel allows them.
//!
//! A load the verifier can type is one instruction (a probe load with an exception-table entry: a bad
//! address gives zero, as the helper would); `bpf_probe_read_kernel` is a helper call and a stack
//! round trip. Each feature is offered by the kernel's BTF (`Typed::from_btf`) and confirmed by loading
//! a small program that uses it (`probes::probe_typed`), never assumed from a kernel version; where one
//! is missing the programs read through the helper as before (5.10 has none, 6.1 only the task).

use crate::btf::Btf;

/// What the programs may load directly on this kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Typed {
    /// `bpf_get_current_task_btf` (5.11): the current task as a typed pointer, so its fields and the
    /// structs they point to load directly.
    pub task_btf: bool,
    /// `bpf_rdonly_cast` (6.2): a plain address (a `struct file *` from the fd table, a map value or a
    /// kprobe's argument) cast to a typed pointer.
    pub cast: Option<Cast>,
    /// Pointers to non-structs (the fd array, a name's bytes) load as untrusted memory, not as
    /// scalars (6.17): their targets load directly too.
    pub untrusted_mem: bool,
}

/// BTF ids of `bpf_rdonly_cast` (the kfunc call's immediate) and of the structs cast to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cast {
    pub kfunc: i32,
    pub file: i32,
    pub dentry: i32,
    pub mount: i32,
}

impl Typed {
    /// Nothing typed: every kernel read through `bpf_probe_read_kernel`.
    pub fn none() -> Typed {
        Typed::default()
    }

    /// Everything the running kernel's BTF names (the helper exists since 5.11 on every BTF kernel;
    /// the kfunc is in BTF where the kernel has it). The kernel must still accept each: see
    /// `probes::probe_typed`, which drops what it refuses.
    pub fn from_btf(btf: &Btf) -> Typed {
        let id = |n: Option<u32>| n.and_then(|n| i32::try_from(n).ok());
        let cast = (|| {
            Some(Cast {
                kfunc: id(btf.function_id("bpf_rdonly_cast"))?,
                file: id(btf.struct_id("file"))?,
                dentry: id(btf.struct_id("dentry"))?,
                mount: id(btf.struct_id("mount"))?,
            })
        })();
        Typed {
            task_btf: true,
            untrusted_mem: cast.is_some(),
            cast,
        }
    }

    /// Is the current task a typed pointer?
    pub fn task(&self) -> bool {
        self.task_btf
    }

    /// Is a `struct file *` (r8) a typed pointer?
    pub fn file(&self) -> bool {
        self.cast.is_some()
    }

    /// The features in force, for the start-up line and `--dump-prog`.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        if self.task_btf {
            v.push("task_btf");
        }
        if self.cast.is_some() {
            v.push("rdonly_cast");
        }
        if self.untrusted_mem {
            v.push("untrusted_mem");
        }
        match v.is_empty() {
            true => "probe_read".to_string(),
            false => v.join(","),
        }
    }
}
