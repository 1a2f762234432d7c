//! Disassembly in LLVM's BPF assembly syntax, character for character as `llvm-objdump -d` prints it, so a
//! listing can be diffed against LLVM and fed back to `llvm-mc -arch=bpf`.
//!
//! Two dialects, because LLVM changed its printer: `Llvm19` is `llvm-objdump-19 -d --mcpu=v4` (hex numbers,
//! `w` registers for sub-64-bit loads, stores and atomics, every cpu v4 form); `Llvm14` is
//! `llvm-objdump-14 -d` (decimal numbers, `r` registers; it has no text for cpu v4 forms, mod, jset, `st`
//! and 32-bit atomics other than add, so those display as `<unknown>` like it does).

use crate::asm::Program;
use crate::insn::{AtomicOp, Insn, Size};
use crate::opcode::*;
use std::fmt;

/// Which LLVM's printer to reproduce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// `llvm-objdump-19 -d --mcpu=v4`.
    #[default]
    Llvm19,
    /// `llvm-objdump-14 -d`.
    Llvm14,
}

/// An instruction formatted in one dialect; `Display` writes its text.
pub struct InsnDisplay<'a> {
    insn: &'a Insn,
    syntax: Syntax,
}

impl fmt::Display for InsnDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match text(self.insn, self.syntax) {
            Some(t) => f.write_str(&t),
            // What LLVM prints for an instruction it cannot decode.
            None => f.write_str("<unknown>"),
        }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display(Syntax::Llvm19).fmt(f)
    }
}

impl Insn {
    /// This instruction's text in `syntax` (`<unknown>` where that LLVM has no syntax for it).
    pub fn display(&self, syntax: Syntax) -> InsnDisplay<'_> {
        InsnDisplay { insn: self, syntax }
    }

    /// The text in `syntax`, or `None` if the instruction is invalid or that LLVM cannot print it.
    pub fn llvm_text(&self, syntax: Syntax) -> Option<String> {
        text(self, syntax)
    }
}

/// One line per instruction, `slot: text`, slots counted as the kernel and jump offsets count them.
pub fn listing(insns: &[Insn], syntax: Syntax) -> String {
    let mut out = String::new();
    let mut slot = 0;
    for i in insns {
        out.push_str(&format!("{slot:>5}: {}\n", i.display(syntax)));
        slot += i.slots();
    }
    out
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&listing(&self.insns, Syntax::Llvm19))
    }
}

/// A magnitude: hex for LLVM 19, decimal for LLVM 14.
fn mag(v: u64, sx: Syntax) -> String {
    match sx {
        Syntax::Llvm19 => format!("{v:#x}"),
        Syntax::Llvm14 => v.to_string(),
    }
}

/// A signed immediate (`-0x1`, `0x5`).
fn num(v: i64, sx: Syntax) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}", mag(v.unsigned_abs(), sx))
}

/// A jump offset, always signed (`+0x3`, `-0x8000`).
fn rel(v: i64, sx: Syntax) -> String {
    let sign = if v < 0 { '-' } else { '+' };
    format!("{sign}{}", mag(v.unsigned_abs(), sx))
}

/// `r1 + 0x4` / `r10 - 0x8`: a base register and offset, without parentheses.
fn addr(reg: u8, off: i16, sx: Syntax) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    format!("r{reg} {sign} {}", mag(off.unsigned_abs() as u64, sx))
}

fn width(size: Size) -> u32 {
    size.bytes() * 8
}

fn text(i: &Insn, sx: Syntax) -> Option<String> {
    i.validate().ok()?;
    let v19 = sx == Syntax::Llvm19;
    let (d, s, off, imm) = (i.dst.num(), i.src, i.off, i.imm);
    let is_x = i.code & SRC_X != 0;
    match i.class() {
        CLASS_ALU | CLASS_ALU64 => {
            let is64 = i.class() == CLASS_ALU64;
            let r = if is64 { 'r' } else { 'w' };
            let op = i.code & 0xf0;
            let rhs = if is_x {
                format!("{r}{s}")
            } else {
                num(imm, sx)
            };
            let opstr = match (op, off) {
                (ALU_NEG, _) => return Some(format!("{r}{d} = -{r}{d}")),
                (ALU_END, _) if is64 => {
                    return v19.then(|| format!("r{d} = bswap{imm} r{d}"));
                }
                (ALU_END, _) => {
                    let e = if is_x { "be" } else { "le" };
                    return Some(format!("r{d} = {e}{imm} r{d}"));
                }
                (ALU_MOV, 8 | 16 | 32) => {
                    return v19.then(|| format!("{r}{d} = (s{off}){r}{s}"));
                }
                // LLVM 14 knows neither signed division nor modulo at all.
                (ALU_DIV, 1) | (ALU_MOD, _) if !v19 => return None,
                (ALU_ADD, _) => "+=",
                (ALU_SUB, _) => "-=",
                (ALU_MUL, _) => "*=",
                (ALU_DIV, 0) => "/=",
                (ALU_DIV, _) => "s/=",
                (ALU_OR, _) => "|=",
                (ALU_AND, _) => "&=",
                (ALU_LSH, _) => "<<=",
                (ALU_RSH, _) => ">>=",
                (ALU_MOD, 0) => "%=",
                (ALU_MOD, _) => "s%=",
                (ALU_XOR, _) => "^=",
                (ALU_MOV, _) => "=",
                _ => "s>>=", // ARSH: validate() admitted nothing else
            };
            Some(format!("{r}{d} {opstr} {rhs}"))
        }
        CLASS_JMP | CLASS_JMP32 => {
            let r = if i.class() == CLASS_JMP32 { 'w' } else { 'r' };
            let op = match i.code & 0xf0 {
                JMP_JA if r == 'r' => return Some(format!("goto {}", rel(off as i64, sx))),
                JMP_JA => return v19.then(|| format!("gotol {}", rel(imm, sx))),
                JMP_CALL => return Some(format!("call {}", num(imm, sx))),
                JMP_EXIT => return Some("exit".to_string()),
                JMP_JEQ => "==",
                JMP_JGT => ">",
                JMP_JGE => ">=",
                JMP_JSET if !v19 => return None, // unknown to LLVM 14
                JMP_JSET => "&",
                JMP_JNE => "!=",
                JMP_JSGT => "s>",
                JMP_JSGE => "s>=",
                JMP_JLT => "<",
                JMP_JLE => "<=",
                JMP_JSLT => "s<",
                _ => "s<=", // JSLE: validate() admitted nothing else
            };
            let rhs = if is_x {
                format!("{r}{s}")
            } else {
                num(imm, sx)
            };
            Some(format!("if {r}{d} {op} {rhs} goto {}", rel(off as i64, sx)))
        }
        CLASS_LDX => {
            let size = Size::from_bits(i.code);
            let w = width(size);
            let a = addr(s, off, sx);
            if i.code & 0xe0 == MODE_MEMSX {
                return v19.then(|| format!("r{d} = *(s{w} *)({a})"));
            }
            let r = if v19 && size != Size::DW { 'w' } else { 'r' };
            Some(format!("{r}{d} = *(u{w} *)({a})"))
        }
        CLASS_ST => {
            let w = width(Size::from_bits(i.code));
            v19.then(|| format!("*(u{w} *)({}) = {}", addr(d, off, sx), num(imm, sx)))
        }
        CLASS_STX => {
            let size = Size::from_bits(i.code);
            let w = width(size);
            let a = addr(d, off, sx);
            let r = if v19 && size != Size::DW { 'w' } else { 'r' };
            if i.code & 0xe0 == MODE_MEM {
                return Some(format!("*(u{w} *)({a}) = {r}{s}"));
            }
            let op = AtomicOp::from_imm(imm as i32)?;
            if !v19 && size == Size::W && op != AtomicOp::Add {
                return None; // LLVM 14 only knows the plain 32-bit atomic add
            }
            let (name, sym) = match op {
                AtomicOp::Add | AtomicOp::FetchAdd => ("add", "+="),
                AtomicOp::Or | AtomicOp::FetchOr => ("or", "|="),
                AtomicOp::And | AtomicOp::FetchAnd => ("and", "&="),
                AtomicOp::Xor | AtomicOp::FetchXor => ("xor", "^="),
                AtomicOp::Xchg => {
                    let f = if size == Size::DW {
                        "xchg_64"
                    } else {
                        "xchg32_32"
                    };
                    return Some(format!("{r}{s} = {f}({a}, {r}{s})"));
                }
                AtomicOp::CmpXchg => {
                    let f = if size == Size::DW {
                        "cmpxchg_64"
                    } else {
                        "cmpxchg32_32"
                    };
                    return Some(format!("{r}0 = {f}({a}, {r}0, {r}{s})"));
                }
            };
            if imm as i32 & ATOMIC_FETCH != 0 {
                Some(format!(
                    "{r}{s} = atomic_fetch_{name}((u{w} *)({a}), {r}{s})"
                ))
            } else {
                Some(format!("lock *(u{w} *)({a}) {sym} {r}{s}"))
            }
        }
        _ => {
            if i.is_lddw() {
                return Some(match s {
                    0 => format!("r{d} = {} ll", num(imm, sx)),
                    // LLVM prints only the first slot's imm of a pseudo load, unsigned.
                    _ => format!(
                        "ld_pseudo\tr{d}, {}, {}",
                        num(s as i64, sx),
                        num(imm as u32 as i64, sx)
                    ),
                });
            }
            let w = width(Size::from_bits(i.code));
            match i.code & 0xe0 {
                MODE_ABS => Some(format!("r0 = *(u{w} *)skb[{}]", num(imm, sx))),
                // LLVM prints (and parses) no imm for indirect packet loads.
                _ => Some(format!("r0 = *(u{w} *)skb[r{s}]")),
            }
        }
    }
}
