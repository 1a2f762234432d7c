//! `--path` at the entry of a write or read, before anything is saved or copied: the file's ancestors
//! are followed by direct loads alone (no name is copied), and only the top components, as many as a
//! prefix has, are compared with it. A write outside every prefix then costs about what an
//! extension-filtered one does, instead of an `inflight` entry, a path walk and a drop at the exit.
//!
//! It decides exactly what the exit's `path_filter` would decide on the walked path, or passes the
//! call on when it cannot tell: the same chain (mount crossings as the walk does them), the same
//! truncation (a walk that would not reach the top, by components or by bytes, is kept), and the
//! exit still applies `path_filter` to what passes. Emitted only where every load can be direct
//! (`bpf_rdonly_cast` and untrusted memory) and only for plain `--path` prefixes (the rules' name
//! and directory-name tests stay at the exit).

use super::gen::{FilterConfig, Gen, MAP_SCRATCH, S_ZERO};
use super::layout::{PATH_MAX, STAT_PATH_EARLY};
use bpfasm::{Cond, Helper, Reg::*, Size};

/// Steps of the ancestor chain followed at the entry (components and mount crossings, as the walk
/// counts them); a longer chain is left to the exit. A power of two: the index mask.
const LEVELS: usize = 32;

/// Stack slot for the program's context (r6) while r6 follows the chain.
const P_CTX: i16 = -304;

impl Gen<'_> {
    /// Whether `path_precheck` emits anything for `cfg` on this kernel.
    pub fn has_path_precheck(&self, cfg: &FilterConfig) -> bool {
        let t = &self.k.typed;
        t.cast.is_some()
            && t.untrusted_mem
            && !cfg.paths.is_empty()
            && cfg.names.is_empty()
            && cfg.dir_names.is_empty()
            && cfg
                .paths
                .iter()
                .all(|p| prefix_components(p).len() <= LEVELS)
    }

    /// On r8 = the typed `struct file *` of an entry: counts `STAT_PATH_EARLY` and jumps to `out`
    /// when the file is under none of `cfg.paths` (nor one of them). Keeps r6-r8; clobbers r0-r5, r9
    /// and this CPU's scratch record (unused at an entry).
    pub fn path_precheck(&mut self, cfg: &FilterConfig, out: &str) {
        if !self.has_path_precheck(cfg) {
            return;
        }
        let k = self.k;
        let c = k.typed.cast.expect("has_path_precheck");
        let (inside, done) = (self.fresh("pre_inside"), self.fresh("pre_done"));
        let pass = self.fresh("pre_pass");
        self.a.stx(Size::DW, R10, P_CTX, R6);
        // r7 = this CPU's scratch record: the chain's dentries, leaf first, as plain addresses.
        self.a
            .call(Helper::GET_SMP_PROCESSOR_ID)
            .stx(Size::W, R10, S_ZERO, R0);
        self.lookup(MAP_SCRATCH, S_ZERO);
        self.a.jmp(Cond::Eq, R0, 0, &pass).mov64(R7, R0);
        // r9 = the file's mount, r6 = its dentry (typed), r3 = the mount's root.
        self.a
            .ldx(Size::DW, R1, R8, k.file_f_path_mnt)
            .jmp(Cond::Eq, R1, 0, &pass)
            .sub64(R1, k.mount_mnt as i32);
        self.cast_r1(R9, c.mount);
        // As the walk: no mount or no dentry is a walk that does not reach the top (kept).
        self.a.ldx(Size::DW, R6, R8, k.file_f_path_dentry);
        self.a
            .jmp(Cond::Eq, R6, 0, &pass)
            .ldx(Size::DW, R3, R9, k.mount_mnt + k.vfsmount_mnt_root)
            .mov64(R4, 0)
            .mov64(R5, R7);
        // r4 = the walk's bytes so far (each name and its NUL), r5 = where the next component goes.
        for i in 0..LEVELS {
            let (component, next) = (format!("pre_comp_{i}"), format!("pre_step_{}", i + 1));
            self.a.jmp(Cond::Ne, R6, R3, &component);
            // At the root of this mount: on from its mount point in the parent mount.
            self.a
                .ldx(Size::DW, R1, R9, k.mount_mnt_parent)
                .jmp(Cond::Eq, R1, R9, &done)
                .jmp(Cond::Eq, R1, 0, &done)
                .ldx(Size::DW, R6, R9, k.mount_mnt_mountpoint)
                .mov64(R9, R1)
                .ldx(Size::DW, R3, R9, k.mount_mnt + k.vfsmount_mnt_root)
                .ja(&next);
            self.a.label(&component);
            self.a
                .ldx(Size::DW, R1, R6, k.dentry_d_parent)
                .jmp(Cond::Eq, R1, R6, &done)
                .ldx(Size::W, R2, R6, k.dentry_d_name_len)
                .add64(R4, R2)
                .add64(R4, 1)
                // The walk would stop short of the top (PATH_MAX): kept, as a truncated path is.
                .jmp(Cond::Gt, R4, PATH_MAX, &pass)
                .stx(Size::DW, R5, 0, R6)
                .add64(R5, 8)
                .mov64(R6, R1);
            self.a.label(&next);
        }
        // Longer than the chain followed here: the exit decides.
        self.a.ja(&pass);
        self.a.label(&done);
        // r9 = the number of components (the casts below clobber r1-r5).
        self.a.mov64(R9, R5).sub64(R9, R7).rsh64(R9, 3);
        for prefix in &cfg.paths {
            let comps = prefix_components(prefix);
            let next = self.fresh("pre_next");
            self.a.jmp(Cond::Lt, R9, comps.len() as i32, &next);
            for (j, comp) in comps.iter().enumerate() {
                // The j-th component from the top is entry n - 1 - j.
                self.a
                    .mov64(R1, R9)
                    .sub64(R1, 1 + j as i32)
                    .and64(R1, LEVELS as i32 - 1)
                    .lsh64(R1, 3)
                    .add64(R1, R7)
                    .ldx(Size::DW, R1, R1, 0);
                self.cast_r1(R6, c.dentry);
                self.a
                    .ldx(Size::W, R2, R6, k.dentry_d_name_len)
                    .jmp(Cond::Ne, R2, comp.len() as i32, &next)
                    .ldx(Size::DW, R1, R6, k.dentry_d_name_name);
                for (w, chunk) in comp.chunks(8).enumerate() {
                    self.a.ldx(Size::DW, R2, R1, 8 * w as i16);
                    self.jne_chunk(chunk, &next);
                }
            }
            self.a.ja(&inside);
            self.a.label(&next);
        }
        self.count(STAT_PATH_EARLY);
        self.a.ja(out);
        self.a.label(&pass);
        self.a.label(&inside);
        self.a.ldx(Size::DW, R6, R10, P_CTX);
    }
}

/// A prefix as `path_suffix` encodes it (components leaf first, each with its NUL), top first.
fn prefix_components(suffix: &[u8]) -> Vec<&[u8]> {
    let mut comps: Vec<&[u8]> = suffix
        .split(|&b| b == 0)
        .filter(|c| !c.is_empty())
        .collect();
    comps.reverse();
    comps
}

#[cfg(test)]
mod tests {
    use super::prefix_components;
    use crate::bpf::gen::path_suffix;

    #[test]
    fn a_prefix_is_compared_from_the_top() {
        let s = path_suffix(b"/dev/shm/lv").unwrap();
        assert_eq!(prefix_components(&s), [&b"dev"[..], b"shm", b"lv"]);
    }
}
