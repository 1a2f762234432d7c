//! Every kernel struct offset the BPF programs use, read from BTF at start-up: no hard-coded layouts.

use crate::bpf::kinds::{close, vfs};
use crate::bpf::typed::Typed;
use crate::btf::{Btf, BtfError};

/// Byte offsets of the members filespy's programs dereference, for the running kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub file_f_path_dentry: i16,
    pub file_f_path_mnt: i16,
    pub file_f_inode: i16,
    pub file_f_mode: i16,
    pub dentry_d_parent: i16,
    pub dentry_d_name_name: i16,
    pub dentry_d_name_len: i16,
    pub dentry_d_inode: i16,
    pub inode_i_mode: i16,
    pub inode_i_ino: i16,
    pub inode_i_sb: i16,
    pub inode_i_nlink: i16,
    pub inode_i_size: i16,
    pub super_block_s_dev: i16,
    /// Offset of the `struct vfsmount` embedded in `struct mount` (container_of distance).
    pub mount_mnt: i16,
    pub mount_mnt_parent: i16,
    pub mount_mnt_mountpoint: i16,
    pub vfsmount_mnt_root: i16,
    pub task_files: i16,
    pub task_mm: i16,
    pub task_real_parent: i16,
    pub task_group_leader: i16,
    pub task_tgid: i16,
    pub task_start_time: i16,
    pub task_fs: i16,
    pub task_comm: i16,
    pub task_flags: i16,
    pub task_pid: i16,
    pub task_cred: i16,
    pub cred_euid: i16,
    pub cred_egid: i16,
    /// CONFIG_AUDIT's login uid and session id.
    pub task_loginuid: Option<i16>,
    pub task_sessionid: Option<i16>,
    pub task_cgroups: i16,
    pub css_set_dfl_cgrp: i16,
    pub cgroup_kn: i16,
    pub kernfs_name: i16,
    /// `kernfs_node.parent`, `__parent` since 6.15.
    pub kernfs_parent: i16,
    pub task_exit_code: i16,
    pub task_signal: i16,
    pub signal_live: i16,
    pub files_fdt: i16,
    pub fdtable_fd: i16,
    pub fdtable_max_fds: i16,
    pub mm_arg_start: i16,
    pub mm_arg_end: i16,
    pub mm_exe_file: i16,
    pub fs_pwd_dentry: i16,
    pub fs_pwd_mnt: i16,
    pub path_dentry: i16,
    pub path_mnt: i16,
    /// x86_64 `struct pt_regs`: first argument and return value registers (kprobe context).
    pub pt_regs_di: i16,
    pub pt_regs_ax: i16,
    /// The six argument registers in calling-convention order (di, si, dx, cx, r8, r9).
    pub pt_regs_args: [i16; 6],
    /// The kinds whose LSM and VFS functions this kernel has, with where their arguments are.
    pub vfs: Vec<vfs::Layout>,
    /// `struct io_kiocb` (io_uring's request): its opcode and file, where the kernel has io_uring.
    pub io_kiocb: Option<(i16, i16)>,
    /// `io_uring:io_uring_complete` records (`struct trace_event_raw_io_uring_complete`): `req` and
    /// `res`, for when tracefs' format file cannot be read. None before 5.18 (no `req`).
    pub uring_complete: Option<(i16, i16)>,
    /// The syscall tracepoints' record layouts, `struct syscall_trace_enter.args` and
    /// `struct syscall_trace_exit.ret`: what tracefs' `format` files say, for when they cannot be read
    /// (see `syscall_layout`). None when the kernel has no syscall tracepoints.
    pub syscall_enter_args: Option<i16>,
    pub syscall_exit_ret: Option<i16>,
    /// `struct file`'s reference count (`close`): `f_ref` from 6.13, `f_count` before.
    pub file_ref: Option<close::FileRef>,
    /// The kernel's functions of `close::KPROBES` that BTF lists: where the kprobe path sees closes.
    pub close_functions: Vec<&'static str>,
    /// What the programs may load directly instead of through `bpf_probe_read_kernel`: nothing until
    /// probed (`probes::probe_typed`), since BTF alone cannot say what the verifier accepts.
    pub typed: Typed,
}

impl KernelOffsets {
    pub fn from_btf(btf: &Btf) -> Result<KernelOffsets, BtfError> {
        let off = |ty: &str, path: &str| -> Result<i16, BtfError> {
            let o = btf.member_offset(ty, path)?;
            // Every load in our programs uses the instruction's 16-bit offset field.
            i16::try_from(o)
                .map_err(|_| BtfError::BadPath(format!("{ty}.{path} at offset {o} beyond 32767")))
        };
        let pwd = off("fs_struct", "pwd")?;
        let mut pt_regs_args = [0; 6];
        for (slot, reg) in pt_regs_args
            .iter_mut()
            .zip(["di", "si", "dx", "cx", "r8", "r9"])
        {
            *slot = off("pt_regs", reg)?;
        }
        let mut vfs_layouts = Vec::new();
        for h in &vfs::HOOKS {
            vfs_layouts.extend(vfs::layout(btf, &pt_regs_args, h)?);
        }
        Ok(KernelOffsets {
            file_f_path_dentry: off("file", "f_path.dentry")?,
            file_f_path_mnt: off("file", "f_path.mnt")?,
            file_f_inode: off("file", "f_inode")?,
            file_f_mode: off("file", "f_mode")?,
            dentry_d_parent: off("dentry", "d_parent")?,
            dentry_d_name_name: off("dentry", "d_name.name")?,
            dentry_d_name_len: off("dentry", "d_name.len")?,
            dentry_d_inode: off("dentry", "d_inode")?,
            inode_i_mode: off("inode", "i_mode")?,
            inode_i_ino: off("inode", "i_ino")?,
            inode_i_sb: off("inode", "i_sb")?,
            inode_i_nlink: off("inode", "i_nlink")?,
            inode_i_size: off("inode", "i_size")?,
            super_block_s_dev: off("super_block", "s_dev")?,
            mount_mnt: off("mount", "mnt")?,
            mount_mnt_parent: off("mount", "mnt_parent")?,
            mount_mnt_mountpoint: off("mount", "mnt_mountpoint")?,
            vfsmount_mnt_root: off("vfsmount", "mnt_root")?,
            task_files: off("task_struct", "files")?,
            task_mm: off("task_struct", "mm")?,
            task_real_parent: off("task_struct", "real_parent")?,
            task_group_leader: off("task_struct", "group_leader")?,
            task_tgid: off("task_struct", "tgid")?,
            task_start_time: off("task_struct", "start_time")?,
            task_fs: off("task_struct", "fs")?,
            task_comm: off("task_struct", "comm")?,
            task_flags: off("task_struct", "flags")?,
            task_pid: off("task_struct", "pid")?,
            task_cred: off("task_struct", "cred")?,
            cred_euid: off("cred", "euid")?,
            cred_egid: off("cred", "egid")?,
            task_loginuid: off("task_struct", "loginuid").ok(),
            task_sessionid: off("task_struct", "sessionid").ok(),
            task_cgroups: off("task_struct", "cgroups")?,
            css_set_dfl_cgrp: off("css_set", "dfl_cgrp")?,
            cgroup_kn: off("cgroup", "kn")?,
            kernfs_name: off("kernfs_node", "name")?,
            kernfs_parent: off("kernfs_node", "parent")
                .or_else(|_| off("kernfs_node", "__parent"))?,
            task_exit_code: off("task_struct", "exit_code")?,
            task_signal: off("task_struct", "signal")?,
            signal_live: off("signal_struct", "live")?,
            files_fdt: off("files_struct", "fdt")?,
            fdtable_fd: off("fdtable", "fd")?,
            fdtable_max_fds: off("fdtable", "max_fds")?,
            mm_arg_start: off("mm_struct", "arg_start")?,
            mm_arg_end: off("mm_struct", "arg_end")?,
            mm_exe_file: off("mm_struct", "exe_file")?,
            fs_pwd_dentry: pwd + off("path", "dentry")?,
            fs_pwd_mnt: pwd + off("path", "mnt")?,
            path_dentry: off("path", "dentry")?,
            path_mnt: off("path", "mnt")?,
            pt_regs_di: off("pt_regs", "di")?,
            pt_regs_ax: off("pt_regs", "ax")?,
            pt_regs_args,
            vfs: vfs_layouts,
            io_kiocb: off("io_kiocb", "opcode")
                .and_then(|op| Ok((op, off("io_kiocb", "file")?)))
                .ok(),
            uring_complete: off("trace_event_raw_io_uring_complete", "req")
                .and_then(|req| Ok((req, off("trace_event_raw_io_uring_complete", "res")?)))
                .ok(),
            syscall_enter_args: off("syscall_trace_enter", "args").ok(),
            syscall_exit_ret: off("syscall_trace_exit", "ret").ok(),
            file_ref: off("file", "f_ref")
                .map(|off| close::FileRef { off, one: 0 })
                .or_else(|_| off("file", "f_count").map(|off| close::FileRef { off, one: 1 }))
                .ok(),
            close_functions: close::KPROBES
                .iter()
                .map(|&(f, _)| f)
                .filter(|f| btf.has_function(f))
                .collect(),
            typed: Typed::none(),
        })
    }
}
