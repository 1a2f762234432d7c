//! The one instruction type, its typed operands, constructors and the 8-byte wire encoding.

use crate::opcode::*;
use std::fmt;

/// A BPF register. R10 is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    R0 = 0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
}

impl Reg {
    pub const ALL: [Reg; 11] = [
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R8,
        Reg::R9,
        Reg::R10,
    ];

    /// The register numbered `n`, if it exists.
    pub fn from_u8(n: u8) -> Option<Reg> {
        Reg::ALL.get(n as usize).copied()
    }

    pub fn num(self) -> u8 {
        self as u8
    }
}

/// Second operand of ALU and jump instructions: a register or a 32-bit immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Reg(Reg),
    Imm(i32),
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Self {
        Operand::Reg(r)
    }
}

impl From<i32> for Operand {
    fn from(v: i32) -> Self {
        Operand::Imm(v)
    }
}

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

    pub fn bits(self) -> u8 {
        match self {
            Size::B => SIZE_B,
            Size::H => SIZE_H,
            Size::W => SIZE_W,
            Size::DW => SIZE_DW,
        }
    }

    pub fn from_bits(code: u8) -> Size {
        match code & 0x18 {
            SIZE_B => Size::B,
            SIZE_H => Size::H,
            SIZE_W => Size::W,
            _ => Size::DW,
        }
    }

    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Arithmetic operations. Signed division and modulo are `Div`/`Mod` with offset 1 on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    SMod,
    Xor,
    Mov,
    Arsh,
}

impl AluOp {
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    /// (operation bits, offset field) on the wire.
    pub fn encoding(self) -> (u8, i16) {
        match self {
            AluOp::Add => (ALU_ADD, 0),
            AluOp::Sub => (ALU_SUB, 0),
            AluOp::Mul => (ALU_MUL, 0),
            AluOp::Div => (ALU_DIV, 0),
            AluOp::SDiv => (ALU_DIV, 1),
            AluOp::Or => (ALU_OR, 0),
            AluOp::And => (ALU_AND, 0),
            AluOp::Lsh => (ALU_LSH, 0),
            AluOp::Rsh => (ALU_RSH, 0),
            AluOp::Mod => (ALU_MOD, 0),
            AluOp::SMod => (ALU_MOD, 1),
            AluOp::Xor => (ALU_XOR, 0),
            AluOp::Mov => (ALU_MOV, 0),
            AluOp::Arsh => (ALU_ARSH, 0),
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl Cond {
    pub const ALL: [Cond; 11] = [
        Cond::Eq,
        Cond::Gt,
        Cond::Ge,
        Cond::Set,
        Cond::Ne,
        Cond::Sgt,
        Cond::Sge,
        Cond::Lt,
        Cond::Le,
        Cond::Slt,
        Cond::Sle,
    ];

    pub fn bits(self) -> u8 {
        match self {
            Cond::Eq => JMP_JEQ,
            Cond::Gt => JMP_JGT,
            Cond::Ge => JMP_JGE,
            Cond::Set => JMP_JSET,
            Cond::Ne => JMP_JNE,
            Cond::Sgt => JMP_JSGT,
            Cond::Sge => JMP_JSGE,
            Cond::Lt => JMP_JLT,
            Cond::Le => JMP_JLE,
            Cond::Slt => JMP_JSLT,
            Cond::Sle => JMP_JSLE,
        }
    }
}

/// Atomic read-modify-write operations (the imm field of `BPF_STX | BPF_ATOMIC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    FetchAdd,
    FetchOr,
    FetchAnd,
    FetchXor,
    Xchg,
    CmpXchg,
}

impl AtomicOp {
    pub const ALL: [AtomicOp; 10] = [
        AtomicOp::Add,
        AtomicOp::Or,
        AtomicOp::And,
        AtomicOp::Xor,
        AtomicOp::FetchAdd,
        AtomicOp::FetchOr,
        AtomicOp::FetchAnd,
        AtomicOp::FetchXor,
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ];

    pub fn imm(self) -> i32 {
        match self {
            AtomicOp::Add => ATOMIC_ADD,
            AtomicOp::Or => ATOMIC_OR,
            AtomicOp::And => ATOMIC_AND,
            AtomicOp::Xor => ATOMIC_XOR,
            AtomicOp::FetchAdd => ATOMIC_ADD | ATOMIC_FETCH,
            AtomicOp::FetchOr => ATOMIC_OR | ATOMIC_FETCH,
            AtomicOp::FetchAnd => ATOMIC_AND | ATOMIC_FETCH,
            AtomicOp::FetchXor => ATOMIC_XOR | ATOMIC_FETCH,
            AtomicOp::Xchg => ATOMIC_XCHG,
            AtomicOp::CmpXchg => ATOMIC_CMPXCHG,
        }
    }

    pub fn from_imm(imm: i32) -> Option<AtomicOp> {
        AtomicOp::ALL.into_iter().find(|op| op.imm() == imm)
    }
}

/// One BPF instruction. `lddw` (opcode 0x18) is a single `Insn` whose 64-bit `imm` occupies two 8-byte
/// slots on the wire; every other instruction is one slot and its `imm` fits in an `i32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u8,
    pub dst: Reg,
    /// Source register number; for lddw and call it carries the pseudo source (map fd, kfunc, ...).
    pub src: u8,
    pub off: i16,
    pub imm: i64,
}

/// Bytes that are not a valid instruction stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream length is not a multiple of 8.
    Length(usize),
    /// Register number above 10 at this slot.
    BadRegister { slot: usize, reg: u8 },
    /// The stream ends in the middle of an lddw.
    TruncatedLddw { slot: usize },
    /// The second slot of an lddw has non-zero fields other than imm.
    BadLddwSecondSlot { slot: usize },
    /// An unknown opcode or a field combination no kernel accepts.
    Invalid {
        slot: usize,
        code: u8,
        why: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Length(n) => {
                write!(f, "instruction stream of {n} bytes is not a multiple of 8")
            }
            DecodeError::BadRegister { slot, reg } => {
                write!(f, "slot {slot}: register r{reg} does not exist")
            }
            DecodeError::TruncatedLddw { slot } => {
                write!(f, "slot {slot}: lddw without its second slot")
            }
            DecodeError::BadLddwSecondSlot { slot } => {
                write!(
                    f,
                    "slot {slot}: second slot of lddw must be zero except imm"
                )
            }
            DecodeError::Invalid { slot, code, why } => {
                write!(
                    f,
                    "slot {slot}: invalid instruction (opcode {code:#04x}): {why}"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl Insn {
    /// A one-slot instruction from raw fields.
    pub const fn new(code: u8, dst: Reg, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm: imm as i64,
        }
    }

    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    pub fn is_lddw(&self) -> bool {
        self.code == LDDW
    }

    /// Slots this instruction occupies on the wire (jump offsets count slots).
    pub fn slots(&self) -> usize {
        if self.is_lddw() {
            2
        } else {
            1
        }
    }

    // ---- constructors: one per instruction family ----

    /// `dst op= src` on 64 bits.
    pub fn alu64(op: AluOp, dst: Reg, src: impl Into<Operand>) -> Insn {
        Self::alu(CLASS_ALU64, op, dst, src.into())
    }

    /// `wdst op= src` on 32 bits (upper half zeroed).
    pub fn alu32(op: AluOp, dst: Reg, src: impl Into<Operand>) -> Insn {
        Self::alu(CLASS_ALU, op, dst, src.into())
    }

    fn alu(class: u8, op: AluOp, dst: Reg, src: Operand) -> Insn {
        let (bits, off) = op.encoding();
        match src {
            Operand::Imm(imm) => Insn::new(class | bits | SRC_K, dst, 0, off, imm),
            Operand::Reg(s) => Insn::new(class | bits | SRC_X, dst, s.num(), off, 0),
        }
    }

    /// `dst = -dst` (64 or 32 bit).
    pub fn neg(dst: Reg, is64: bool) -> Insn {
        let class = if is64 { CLASS_ALU64 } else { CLASS_ALU };
        Insn::new(class | ALU_NEG, dst, 0, 0, 0)
    }

    /// Sign-extending move of the low `from_bits` (8, 16 or 32) of `src` (64 or 32 bit destination).
    pub fn movsx(dst: Reg, src: Reg, from_bits: i16, is64: bool) -> Insn {
        let class = if is64 { CLASS_ALU64 } else { CLASS_ALU };
        Insn::new(class | ALU_MOV | SRC_X, dst, src.num(), from_bits, 0)
    }

    /// Convert `dst` to little endian (`le16/32/64`).
    pub fn le(dst: Reg, bits: i32) -> Insn {
        Insn::new(CLASS_ALU | ALU_END | END_TO_LE, dst, 0, 0, bits)
    }

    /// Convert `dst` to big endian (`be16/32/64`).
    pub fn be(dst: Reg, bits: i32) -> Insn {
        Insn::new(CLASS_ALU | ALU_END | END_TO_BE, dst, 0, 0, bits)
    }

    /// Unconditional byte swap (`bswap16/32/64`, cpu v4).
    pub fn bswap(dst: Reg, bits: i32) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_END, dst, 0, 0, bits)
    }

    /// `goto off` (16-bit offset, in slots).
    pub fn ja(off: i16) -> Insn {
        Insn::new(CLASS_JMP | JMP_JA, Reg::R0, 0, off, 0)
    }

    /// `gotol off` (32-bit offset in imm, cpu v4).
    pub fn gotol(off: i32) -> Insn {
        Insn::new(CLASS_JMP32 | JMP_JA, Reg::R0, 0, 0, off)
    }

    /// `if dst cond src goto off`, 64-bit compare.
    pub fn jmp(cond: Cond, dst: Reg, src: impl Into<Operand>, off: i16) -> Insn {
        Self::jcond(CLASS_JMP, cond, dst, src.into(), off)
    }

    /// `if wdst cond src goto off`, 32-bit compare.
    pub fn jmp32(cond: Cond, dst: Reg, src: impl Into<Operand>, off: i16) -> Insn {
        Self::jcond(CLASS_JMP32, cond, dst, src.into(), off)
    }

    fn jcond(class: u8, cond: Cond, dst: Reg, src: Operand, off: i16) -> Insn {
        match src {
            Operand::Imm(imm) => Insn::new(class | cond.bits() | SRC_K, dst, 0, off, imm),
            Operand::Reg(s) => Insn::new(class | cond.bits() | SRC_X, dst, s.num(), off, 0),
        }
    }

    /// Call a kernel helper.
    pub fn call(id: i32) -> Insn {
        Insn::new(CLASS_JMP | JMP_CALL, Reg::R0, 0, 0, id)
    }

    /// Call a BPF-to-BPF function `imm` slots after the next instruction.
    pub fn call_local(rel: i32) -> Insn {
        Insn::new(CLASS_JMP | JMP_CALL, Reg::R0, PSEUDO_CALL, 0, rel)
    }

    /// Call a kernel function by BTF id.
    pub fn call_kfunc(btf_id: i32) -> Insn {
        Insn::new(CLASS_JMP | JMP_CALL, Reg::R0, PSEUDO_KFUNC_CALL, 0, btf_id)
    }

    pub fn exit() -> Insn {
        Insn::new(CLASS_JMP | JMP_EXIT, Reg::R0, 0, 0, 0)
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(CLASS_LDX | MODE_MEM | size.bits(), dst, src.num(), off, 0)
    }

    /// Sign-extending load `dst = *(s8/s16/s32 *)(src + off)` (cpu v4; not DW).
    pub fn ldxsx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(CLASS_LDX | MODE_MEMSX | size.bits(), dst, src.num(), off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(CLASS_STX | MODE_MEM | size.bits(), dst, src.num(), off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(CLASS_ST | MODE_MEM | size.bits(), dst, 0, off, imm)
    }

    /// Atomic read-modify-write on `*(size *)(dst + off)` with `src` (size W or DW).
    pub fn atomic(size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(
            CLASS_STX | MODE_ATOMIC | size.bits(),
            dst,
            src.num(),
            off,
            op.imm(),
        )
    }

    /// `dst = imm64` (lddw, two slots).
    pub fn lddw(dst: Reg, imm: i64) -> Insn {
        Insn {
            code: LDDW,
            dst,
            src: 0,
            off: 0,
            imm,
        }
    }

    /// lddw with a pseudo source: low 32 bits of `imm` go to the first slot, high 32 to the second.
    pub fn lddw_pseudo(dst: Reg, pseudo: u8, lo: i32, hi: i32) -> Insn {
        let imm = (lo as u32 as i64) | ((hi as i64) << 32);
        Insn {
            code: LDDW,
            dst,
            src: pseudo,
            off: 0,
            imm,
        }
    }

    /// Legacy packet load `r0 = *(size *)skb[imm]`.
    pub fn ld_abs(size: Size, imm: i32) -> Insn {
        Insn::new(CLASS_LD | MODE_ABS | size.bits(), Reg::R0, 0, 0, imm)
    }

    /// Legacy packet load `r0 = *(size *)skb[src + imm]`.
    pub fn ld_ind(size: Size, src: Reg, imm: i32) -> Insn {
        Insn::new(
            CLASS_LD | MODE_IND | size.bits(),
            Reg::R0,
            src.num(),
            0,
            imm,
        )
    }

    // ---- validation ----

    /// Check that opcode and fields form an instruction of RFC 9669 that the kernel can accept
    /// (unused fields zero, known operations, registers in range). Verifier rules (e.g. no write to r10)
    /// are not checked: this is about well-formed encodings.
    pub fn validate(&self) -> Result<(), &'static str> {
        let (src, imm) = (self.src, self.imm);
        if !self.is_lddw() && i32::try_from(imm).is_err() {
            return Err("imm does not fit 32 bits");
        }
        match self.class() {
            CLASS_ALU | CLASS_ALU64 => self.validate_alu(),
            CLASS_JMP | CLASS_JMP32 => self.validate_jmp(),
            CLASS_LDX => {
                let mode = self.code & 0xe0;
                if src > 10 || imm != 0 {
                    return Err("ldx needs a source register and imm 0");
                }
                match mode {
                    MODE_MEM => Ok(()),
                    MODE_MEMSX if Size::from_bits(self.code) != Size::DW => Ok(()),
                    _ => Err("ldx mode must be MEM or MEMSX (B/H/W)"),
                }
            }
            CLASS_ST => match (self.code & 0xe0, src) {
                (MODE_MEM, 0) => Ok(()),
                _ => Err("st needs mode MEM and src 0"),
            },
            CLASS_STX => {
                if src > 10 {
                    return Err("source register does not exist");
                }
                match self.code & 0xe0 {
                    MODE_MEM if imm == 0 => Ok(()),
                    MODE_ATOMIC => {
                        let size = Size::from_bits(self.code);
                        if !matches!(size, Size::W | Size::DW) {
                            return Err("atomics are W or DW");
                        }
                        match AtomicOp::from_imm(imm as i32) {
                            Some(_) => Ok(()),
                            None => Err("unknown atomic operation"),
                        }
                    }
                    _ => Err("stx mode must be MEM (imm 0) or ATOMIC"),
                }
            }
            _ => self.validate_ld(),
        }
    }

    fn validate_ld(&self) -> Result<(), &'static str> {
        if self.is_lddw() {
            return match (self.src, self.off) {
                (0..=6, 0) => Ok(()),
                (_, 0) => Err("unknown lddw pseudo source"),
                _ => Err("lddw offset must be 0"),
            };
        }
        let size = Size::from_bits(self.code);
        if size == Size::DW {
            return Err("legacy packet loads are B/H/W");
        }
        if self.dst != Reg::R0 || self.off != 0 {
            return Err("legacy packet loads have dst r0 and offset 0");
        }
        match self.code & 0xe0 {
            MODE_ABS if self.src == 0 => Ok(()),
            MODE_IND if self.src <= 10 => Ok(()),
            _ => Err("ld mode must be IMM (lddw), ABS (src 0) or IND"),
        }
    }

    fn validate_alu(&self) -> Result<(), &'static str> {
        let (src, off, imm) = (self.src, self.off, self.imm);
        let is64 = self.class() == CLASS_ALU64;
        let op = self.code & 0xf0;
        let is_x = self.code & SRC_X != 0;
        match op {
            ALU_NEG => {
                return match (is_x, src, off, imm) {
                    (false, 0, 0, 0) => Ok(()),
                    _ => Err("neg has no operand"),
                }
            }
            ALU_END => {
                if is64 && is_x {
                    return Err("bswap has no source bit");
                }
                return match (src, off, imm) {
                    (0, 0, 16 | 32 | 64) => Ok(()),
                    _ => Err("byte swap width must be 16, 32 or 64"),
                };
            }
            0xe0 | 0xf0 => return Err("unknown ALU operation"),
            _ => {}
        }
        let off_ok = match op {
            ALU_DIV | ALU_MOD => matches!(off, 0 | 1),
            ALU_MOV if is_x => matches!((is64, off), (_, 0 | 8 | 16) | (true, 32)),
            _ => off == 0,
        };
        if !off_ok {
            return Err("offset not allowed for this ALU operation");
        }
        match (is_x, src, imm) {
            (false, 0, _) | (true, 0..=10, 0) => Ok(()),
            _ => Err("ALU operand fields"),
        }
    }

    fn validate_jmp(&self) -> Result<(), &'static str> {
        let (src, off, imm) = (self.src, self.off, self.imm);
        let is32 = self.class() == CLASS_JMP32;
        let is_x = self.code & SRC_X != 0;
        let no_dst = self.dst == Reg::R0;
        match self.code & 0xf0 {
            JMP_JA => match (is_x, no_dst, src, is32) {
                (false, true, 0, false) if imm == 0 => Ok(()),
                (false, true, 0, true) if off == 0 => Ok(()),
                _ => Err("ja takes only an offset (JMP) or imm (JMP32)"),
            },
            JMP_CALL => match (is32, is_x, no_dst, src, off) {
                (false, false, true, 0 | 1, 0) | (false, false, true, 2, _) => Ok(()),
                _ => Err("call: JMP class, dst 0, src helper/local/kfunc"),
            },
            JMP_EXIT => match (is32, is_x, no_dst, src, off, imm) {
                (false, false, true, 0, 0, 0) => Ok(()),
                _ => Err("exit has no operands"),
            },
            0xe0 | 0xf0 => Err("unknown jump operation"),
            _ => match (is_x, src, imm) {
                (false, 0, _) | (true, 0..=10, 0) => Ok(()),
                _ => Err("conditional jump operand fields"),
            },
        }
    }

    // ---- wire format ----

    /// Append this instruction's 8 or 16 bytes (little endian, dst in the low nibble).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(((self.src & 0x0f) << 4) | (self.dst.num() & 0x0f));
        out.extend_from_slice(&self.off.to_le_bytes());
        out.extend_from_slice(&(self.imm as i32).to_le_bytes());
        if self.is_lddw() {
            out.extend_from_slice(&[0u8; 4]);
            out.extend_from_slice(&((self.imm >> 32) as i32).to_le_bytes());
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        self.encode_into(&mut v);
        v
    }

    /// Decode a whole instruction stream; lddw's two slots become one `Insn`.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
        if !bytes.len().is_multiple_of(8) {
            return Err(DecodeError::Length(bytes.len()));
        }
        let slots: Vec<&[u8]> = bytes.chunks_exact(8).collect();
        let mut out = Vec::with_capacity(slots.len());
        let mut i = 0;
        while i < slots.len() {
            let s = slots[i];
            let dst_n = s[1] & 0x0f;
            let dst = Reg::from_u8(dst_n).ok_or(DecodeError::BadRegister {
                slot: i,
                reg: dst_n,
            })?;
            let src = s[1] >> 4;
            let off = i16::from_le_bytes([s[2], s[3]]);
            let lo = i32::from_le_bytes([s[4], s[5], s[6], s[7]]);
            let insn = if s[0] == LDDW {
                let next = slots
                    .get(i + 1)
                    .ok_or(DecodeError::TruncatedLddw { slot: i })?;
                if next[..4] != [0, 0, 0, 0] {
                    return Err(DecodeError::BadLddwSecondSlot { slot: i });
                }
                let hi = i32::from_le_bytes([next[4], next[5], next[6], next[7]]);
                Insn {
                    code: s[0],
                    dst,
                    src,
                    off,
                    imm: (lo as u32 as i64) | ((hi as i64) << 32),
                }
            } else {
                if src > 10 && !matches!(s[0] & 0x07, CLASS_LD | CLASS_JMP) {
                    return Err(DecodeError::BadRegister { slot: i, reg: src });
                }
                Insn::new(s[0], dst, src, off, lo)
            };
            insn.validate().map_err(|why| DecodeError::Invalid {
                slot: i,
                code: s[0],
                why,
            })?;
            i += insn.slots();
            out.push(insn);
        }
        Ok(out)
    }
}

/// Encode a sequence of instructions to the kernel's wire format.
pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    for insn in insns {
        insn.encode_into(&mut out);
    }
    out
}
