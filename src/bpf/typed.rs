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

    /// Everything the running kernel's BTF names: the helper's and the kfunc's functions are in BTF
    /// where the kernel has them. Untrusted memory is verifier behaviour, offered with the cast. The
    /// kernel must still accept each: `probes::probe_typed` drops what it refuses.
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
            task_btf: btf.has_function("bpf_get_current_task_btf"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::gen::{FilterConfig, Gen};
    use crate::bpf::kinds::write::{self, Data, Hook};
    use crate::offsets::KernelOffsets;

    /// `bpf_probe_read_kernel` calls in the write entry program (the filters) under `typed`.
    fn helper_reads(typed: Typed) -> usize {
        let mut k = KernelOffsets::from_btf(&Btf::load(None).expect("kernel BTF")).unwrap();
        k.typed = typed;
        let cfg = FilterConfig {
            self_tgid: 1,
            all_files: false,
            exts: vec![b"log".to_vec()],
            filter_pids: false,
            filter_uids: false,
            filter_comms: false,
            paths: Vec::new(),
            names: Vec::new(),
            dir_names: Vec::new(),
            track_opens: false,
            merge: true,
        };
        let hook = Hook::Tracepoint {
            fd_off: 16,
            ret_off: 16,
            source_off: None,
        };
        let p = write::entry(Gen::new(&k), hook, &cfg, Data::Written, true).unwrap();
        p.to_string()
            .lines()
            .filter(|l| l.ends_with("call 0x71"))
            .count()
    }

    #[test]
    fn with_every_feature_the_filters_read_nothing_through_the_helper() {
        let all = Typed {
            task_btf: true,
            cast: Some(Cast {
                kfunc: 1,
                file: 2,
                dentry: 3,
                mount: 4,
            }),
            untrusted_mem: true,
        };
        assert_eq!(helper_reads(all.clone()), 0);
        // Without untrusted memory the fd array's slot and the name's tail are copied.
        let no_mem = Typed {
            untrusted_mem: false,
            ..all
        };
        assert_eq!(helper_reads(no_mem), 2);
        let task_only = Typed {
            task_btf: true,
            ..Typed::none()
        };
        assert!(helper_reads(task_only) > 2);
        assert!(helper_reads(Typed::none()) >= 11, "the probe-read path");
    }
}
