//! The emitting API: a program written in Rust reads like the assembly it produces. Jumps name labels;
//! labels are resolved in one pass by `finish`; maps are named and left as relocations for the loader.

use crate::helpers::Helper;
use crate::insn::{encode_all, AluOp, AtomicOp, Cond, Insn, Operand, Reg, Size};
use crate::opcode::{
    PSEUDO_BTF_ID, PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
};
use std::collections::HashMap;
use std::fmt;

/// Errors of assembly; never a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsmError {
    DuplicateLabel(String),
    MissingLabel(String),
    /// A jump to `label` needs an offset that does not fit the instruction's field.
    OutOfRange {
        label: String,
        offset: i64,
    },
    /// A relocation names a map the loader does not know.
    UnknownMap(String),
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::DuplicateLabel(l) => write!(f, "label '{l}' defined twice"),
            AsmError::MissingLabel(l) => write!(f, "jump to undefined label '{l}'"),
            AsmError::OutOfRange { label, offset } => {
                write!(
                    f,
                    "jump to '{label}' needs offset {offset}, beyond the instruction's range"
                )
            }
            AsmError::UnknownMap(m) => write!(f, "program refers to unknown map '{m}'"),
        }
    }
}

impl std::error::Error for AsmError {}

/// A reference to a map by name at instruction `insn` (an index into `Program::insns`), to be filled with
/// the map's fd by the loader (the kernel's `BPF_LD_MAP_FD` shape: the fd in the first slot's imm).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapReloc {
    pub insn: usize,
    pub map: String,
}

/// An assembled program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
}

impl Program {
    /// Slots on the wire (what the kernel counts as `insn_cnt`).
    pub fn slot_count(&self) -> usize {
        self.insns.iter().map(Insn::slots).sum()
    }

    /// Wire bytes with every map relocation left as is (fd 0).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_all(&self.insns)
    }

    /// Wire bytes with each map relocation filled with the fd `fd_of(name)` returns.
    pub fn to_bytes_with_maps(
        &self,
        fd_of: impl Fn(&str) -> Option<i32>,
    ) -> Result<Vec<u8>, AsmError> {
        let mut insns = self.insns.clone();
        for r in &self.relocs {
            let fd = fd_of(&r.map).ok_or_else(|| AsmError::UnknownMap(r.map.clone()))?;
            let insn = &mut insns[r.insn];
            insn.imm = (insn.imm & !0xffff_ffff) | (fd as u32 as i64);
        }
        Ok(encode_all(&insns))
    }
}

#[derive(Clone, Copy, Debug)]
enum FixupKind {
    /// 16-bit offset field of a jump.
    Off16,
    /// 32-bit imm relative to the next slot (gotol, local call, lddw of a function).
    Imm32,
}

#[derive(Debug)]
struct Fixup {
    insn: usize,
    slot: usize,
    label: String,
    kind: FixupKind,
}

/// One `Asm` method per ALU operation and width: `add64(dst, src)`, `add32(dst, src)`, ...
macro_rules! alu_shorthands {
    ($($n64:ident $n32:ident $op:ident),* $(,)?) => {$(
        pub fn $n64(&mut self, dst: Reg, src: impl Into<Operand>) -> &mut Self {
            self.alu64(AluOp::$op, dst, src)
        }
        pub fn $n32(&mut self, dst: Reg, src: impl Into<Operand>) -> &mut Self {
            self.alu32(AluOp::$op, dst, src)
        }
    )*};
}

/// Program builder. Every method appends one instruction and returns `&mut Self` for chaining.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    slot: usize,
    labels: HashMap<String, usize>,
    fixups: Vec<Fixup>,
    relocs: Vec<MapReloc>,
    errors: Vec<AsmError>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Current position in slots.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Append a raw instruction.
    pub fn insn(&mut self, insn: Insn) -> &mut Self {
        self.slot += insn.slots();
        self.insns.push(insn);
        self
    }

    /// Define `name` at the current position.
    pub fn label(&mut self, name: &str) -> &mut Self {
        if self.labels.insert(name.to_string(), self.slot).is_some() {
            self.errors.push(AsmError::DuplicateLabel(name.to_string()));
        }
        self
    }

    fn jump_to(&mut self, insn: Insn, label: &str, kind: FixupKind) -> &mut Self {
        self.fixups.push(Fixup {
            insn: self.insns.len(),
            slot: self.slot,
            label: label.to_string(),
            kind,
        });
        self.insn(insn)
    }

    // ---- ALU ----
    pub fn alu64(&mut self, op: AluOp, dst: Reg, src: impl Into<Operand>) -> &mut Self {
        self.insn(Insn::alu64(op, dst, src))
    }
    pub fn alu32(&mut self, op: AluOp, dst: Reg, src: impl Into<Operand>) -> &mut Self {
        self.insn(Insn::alu32(op, dst, src))
    }
    pub fn mov64(&mut self, dst: Reg, src: impl Into<Operand>) -> &mut Self {
        self.alu64(AluOp::Mov, dst, src)
    }
    pub fn mov32(&mut self, dst: Reg, src: impl Into<Operand>) -> &mut Self {
        self.alu32(AluOp::Mov, dst, src)
    }
    alu_shorthands! {
        add64 add32 Add, sub64 sub32 Sub, mul64 mul32 Mul, div64 div32 Div, sdiv64 sdiv32 SDiv,
        or64 or32 Or, and64 and32 And, lsh64 lsh32 Lsh, rsh64 rsh32 Rsh, mod64 mod32 Mod,
        smod64 smod32 SMod, xor64 xor32 Xor, arsh64 arsh32 Arsh,
    }
    pub fn neg64(&mut self, dst: Reg) -> &mut Self {
        self.insn(Insn::neg(dst, true))
    }
    pub fn neg32(&mut self, dst: Reg) -> &mut Self {
        self.insn(Insn::neg(dst, false))
    }
    /// `dst = (s8/s16/s32)src` (cpu v4).
    pub fn movsx64(&mut self, dst: Reg, src: Reg, from_bits: i16) -> &mut Self {
        self.insn(Insn::movsx(dst, src, from_bits, true))
    }
    /// `wdst = (s8/s16)wsrc` (cpu v4).
    pub fn movsx32(&mut self, dst: Reg, src: Reg, from_bits: i16) -> &mut Self {
        self.insn(Insn::movsx(dst, src, from_bits, false))
    }
    /// `dst = le16/32/64 dst`.
    pub fn le(&mut self, dst: Reg, bits: i32) -> &mut Self {
        self.insn(Insn::le(dst, bits))
    }
    /// `dst = be16/32/64 dst`.
    pub fn be(&mut self, dst: Reg, bits: i32) -> &mut Self {
        self.insn(Insn::be(dst, bits))
    }
    /// `dst = bswap16/32/64 dst` (cpu v4).
    pub fn bswap(&mut self, dst: Reg, bits: i32) -> &mut Self {
        self.insn(Insn::bswap(dst, bits))
    }

    // ---- memory ----
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.insn(Insn::ldx(size, dst, src, off))
    }
    /// Sign-extending load (B/H/W, cpu v4).
    pub fn ldxsx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.insn(Insn::ldxsx(size, dst, src, off))
    }
    /// Legacy `r0 = *(size *)skb[imm]` (socket filters).
    pub fn ld_abs(&mut self, size: Size, imm: i32) -> &mut Self {
        self.insn(Insn::ld_abs(size, imm))
    }
    /// Legacy `r0 = *(size *)skb[src + imm]` (socket filters).
    pub fn ld_ind(&mut self, size: Size, src: Reg, imm: i32) -> &mut Self {
        self.insn(Insn::ld_ind(size, src, imm))
    }
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.insn(Insn::stx(size, dst, off, src))
    }
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Self {
        self.insn(Insn::st(size, dst, off, imm))
    }
    pub fn atomic(&mut self, size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.insn(Insn::atomic(size, op, dst, off, src))
    }
    pub fn lddw(&mut self, dst: Reg, imm: i64) -> &mut Self {
        self.insn(Insn::lddw(dst, imm))
    }

    /// `dst = map` by name: the loader writes the map's fd (BPF_PSEUDO_MAP_FD).
    pub fn ld_map_fd(&mut self, dst: Reg, map: &str) -> &mut Self {
        self.relocs.push(MapReloc {
            insn: self.insns.len(),
            map: map.to_string(),
        });
        self.insn(Insn::lddw_pseudo(dst, PSEUDO_MAP_FD, 0, 0))
    }

    /// `dst = &map.value[off]` by name (BPF_PSEUDO_MAP_VALUE, for array maps).
    pub fn ld_map_value(&mut self, dst: Reg, map: &str, off: i32) -> &mut Self {
        self.relocs.push(MapReloc {
            insn: self.insns.len(),
            map: map.to_string(),
        });
        self.insn(Insn::lddw_pseudo(dst, PSEUDO_MAP_VALUE, 0, off))
    }

    /// `dst = map` by index into the load's fd array (BPF_PSEUDO_MAP_IDX).
    pub fn ld_map_idx(&mut self, dst: Reg, idx: i32) -> &mut Self {
        self.insn(Insn::lddw_pseudo(dst, PSEUDO_MAP_IDX, idx, 0))
    }

    /// `dst = &map.value[off]` by fd-array index (BPF_PSEUDO_MAP_IDX_VALUE).
    pub fn ld_map_idx_value(&mut self, dst: Reg, idx: i32, off: i32) -> &mut Self {
        self.insn(Insn::lddw_pseudo(dst, PSEUDO_MAP_IDX_VALUE, idx, off))
    }

    /// `dst = &kernel variable` by BTF id (BPF_PSEUDO_BTF_ID).
    pub fn ld_btf_id(&mut self, dst: Reg, btf_id: i32) -> &mut Self {
        self.insn(Insn::lddw_pseudo(dst, PSEUDO_BTF_ID, btf_id, 0))
    }

    /// `dst = &function at label` (BPF_PSEUDO_FUNC, e.g. a bpf_loop callback).
    pub fn ld_func(&mut self, dst: Reg, label: &str) -> &mut Self {
        self.jump_to(
            Insn::lddw_pseudo(dst, PSEUDO_FUNC, 0, 0),
            label,
            FixupKind::Imm32,
        )
    }

    // ---- control flow ----
    pub fn ja(&mut self, label: &str) -> &mut Self {
        self.jump_to(Insn::ja(0), label, FixupKind::Off16)
    }
    pub fn gotol(&mut self, label: &str) -> &mut Self {
        self.jump_to(Insn::gotol(0), label, FixupKind::Imm32)
    }
    pub fn jmp(&mut self, cond: Cond, dst: Reg, src: impl Into<Operand>, label: &str) -> &mut Self {
        self.jump_to(Insn::jmp(cond, dst, src, 0), label, FixupKind::Off16)
    }
    pub fn jmp32(
        &mut self,
        cond: Cond,
        dst: Reg,
        src: impl Into<Operand>,
        label: &str,
    ) -> &mut Self {
        self.jump_to(Insn::jmp32(cond, dst, src, 0), label, FixupKind::Off16)
    }
    pub fn call(&mut self, helper: Helper) -> &mut Self {
        self.insn(Insn::call(helper.0))
    }
    /// Call a kernel function by BTF id.
    pub fn call_kfunc(&mut self, btf_id: i32) -> &mut Self {
        self.insn(Insn::call_kfunc(btf_id))
    }
    pub fn call_local(&mut self, label: &str) -> &mut Self {
        self.jump_to(Insn::call_local(0), label, FixupKind::Imm32)
    }
    pub fn exit(&mut self) -> &mut Self {
        self.insn(Insn::exit())
    }

    /// Resolve every label reference in one pass and return the program, or the first error.
    pub fn finish(mut self) -> Result<Program, AsmError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        for f in &self.fixups {
            let target = *self
                .labels
                .get(&f.label)
                .ok_or_else(|| AsmError::MissingLabel(f.label.clone()))?;
            // Offsets are relative to the slot after the referencing instruction.
            let next = f.slot + self.insns[f.insn].slots();
            let rel = target as i64 - next as i64;
            let out_of_range = || AsmError::OutOfRange {
                label: f.label.clone(),
                offset: rel,
            };
            let insn = &mut self.insns[f.insn];
            match f.kind {
                FixupKind::Off16 => insn.off = i16::try_from(rel).map_err(|_| out_of_range())?,
                FixupKind::Imm32 => {
                    let v = i32::try_from(rel).map_err(|_| out_of_range())?;
                    // One-slot instructions keep imm sign-extended; lddw keeps its high half.
                    insn.imm = if insn.is_lddw() {
                        (insn.imm & !0xffff_ffff) | (v as u32 as i64)
                    } else {
                        v as i64
                    };
                }
            }
        }
        Ok(Program {
            insns: self.insns,
            relocs: self.relocs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reg::*;

    #[test]
    fn forward_and_backward_labels_resolve_in_slots() {
        let mut a = Asm::new();
        a.label("top")
            .lddw(R1, 0x1122_3344_5566_7788) // two slots
            .jmp(Cond::Eq, R1, 0, "out")
            .ja("top")
            .label("out")
            .exit();
        let p = a.finish().unwrap();
        assert_eq!(p.insns[1].off, 1); // skips the ja
        assert_eq!(p.insns[2].off, -4); // back over ja, jeq and the two lddw slots
        assert_eq!(p.slot_count(), 5);
    }

    #[test]
    fn label_errors_are_values() {
        let mut a = Asm::new();
        a.label("x").label("x").exit();
        assert_eq!(a.finish(), Err(AsmError::DuplicateLabel("x".into())));
        let mut a = Asm::new();
        a.ja("nowhere").exit();
        assert_eq!(a.finish(), Err(AsmError::MissingLabel("nowhere".into())));
    }

    #[test]
    fn i16_overflow_is_an_error_and_gotol_reaches_further() {
        let mut a = Asm::new();
        a.ja("far");
        for _ in 0..40_000 {
            a.mov64(R0, 0);
        }
        a.label("far").exit();
        assert!(matches!(
            a.finish(),
            Err(AsmError::OutOfRange { offset: 40_000, .. })
        ));
        let mut a = Asm::new();
        a.gotol("far");
        for _ in 0..40_000 {
            a.mov64(R0, 0);
        }
        a.label("far").exit();
        assert_eq!(a.finish().unwrap().insns[0].imm, 40_000);
    }

    #[test]
    fn map_relocations_fill_fds_in_the_first_slot() {
        let mut a = Asm::new();
        a.ld_map_fd(R1, "events").ld_map_value(R2, "cfg", 8).exit();
        let p = a.finish().unwrap();
        let b = p
            .to_bytes_with_maps(|m| if m == "events" { Some(7) } else { Some(9) })
            .unwrap();
        assert_eq!(&b[0..8], &[0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&b[8..16], &[0; 8]);
        assert_eq!(&b[16..24], &[0x18, 0x22, 0, 0, 9, 0, 0, 0]);
        assert_eq!(&b[24..32], &[0, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(
            p.to_bytes_with_maps(|_| None),
            Err(AsmError::UnknownMap("events".into()))
        );
    }
}
