//! Every instruction form of RFC 9669 crossed with all registers and boundary immediates and offsets,
//! shared by the LLVM differential test and the round-trip test.
#![allow(dead_code)] // each test binary uses a part

use bpfasm::opcode::*;
use bpfasm::{AluOp, AtomicOp, Cond, Insn, Reg, Size};

pub const IMMS: [i32; 10] = [
    0,
    1,
    -1,
    i16::MIN as i32,
    i16::MAX as i32,
    i32::MIN,
    i32::MAX,
    0x7fff_0001,
    0x1234_5678,
    -0x5555_5556,
];
pub const OFFS: [i16; 6] = [0, 1, -1, i16::MIN, i16::MAX, 0x7ff0];
pub const IMM64S: [i64; 11] = [
    0,
    1,
    -1,
    i32::MIN as i64,
    i32::MAX as i64,
    i64::MIN,
    i64::MAX,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1234_5678_9abc_def0,
];

pub struct Case {
    /// The instruction form, e.g. "alu64 add K"; many cases share a form.
    pub form: String,
    pub insn: Insn,
    /// Whether LLVM's text for it carries every field, so `llvm-mc` must give back our exact bytes.
    /// Not so for local/kfunc calls (printed as `call imm`), indirect packet loads (imm not printed)
    /// and pseudo lddw with a second-slot imm (only the first slot's imm is printed).
    pub text_exact: bool,
}

fn push(v: &mut Vec<Case>, form: &str, insn: Insn) {
    v.push(Case {
        form: form.to_string(),
        insn,
        text_exact: true,
    });
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let regs = Reg::ALL;
    for (cls, is64) in [("alu64", true), ("alu32", false)] {
        let alu = |op, d, s: bpfasm::Operand| {
            if is64 {
                Insn::alu64(op, d, s)
            } else {
                Insn::alu32(op, d, s)
            }
        };
        for op in AluOp::ALL {
            let fk = format!("{cls} {op:?} K");
            let fx = format!("{cls} {op:?} X");
            for d in regs {
                for imm in IMMS {
                    push(&mut v, &fk, alu(op, d, imm.into()));
                }
                for s in regs {
                    push(&mut v, &fx, alu(op, d, s.into()));
                }
            }
        }
        for d in regs {
            push(&mut v, &format!("{cls} neg"), Insn::neg(d, is64));
        }
        let widths: &[i16] = if is64 { &[8, 16, 32] } else { &[8, 16] };
        for &bits in widths {
            for d in regs {
                for s in regs {
                    push(
                        &mut v,
                        &format!("{cls} movsx{bits}"),
                        Insn::movsx(d, s, bits, is64),
                    );
                }
            }
        }
    }
    for bits in [16, 32, 64] {
        for d in regs {
            push(&mut v, &format!("le{bits}"), Insn::le(d, bits));
            push(&mut v, &format!("be{bits}"), Insn::be(d, bits));
            push(&mut v, &format!("bswap{bits}"), Insn::bswap(d, bits));
        }
    }
    for off in OFFS {
        push(&mut v, "ja", Insn::ja(off));
    }
    for imm in IMMS {
        push(&mut v, "gotol", Insn::gotol(imm));
    }
    for (cls, is32) in [("jmp", false), ("jmp32", true)] {
        let j = |c, d, s: bpfasm::Operand, off| {
            if is32 {
                Insn::jmp32(c, d, s, off)
            } else {
                Insn::jmp(c, d, s, off)
            }
        };
        for c in Cond::ALL {
            let fk = format!("{cls} {c:?} K");
            let fx = format!("{cls} {c:?} X");
            for d in regs {
                for off in OFFS {
                    for imm in IMMS {
                        push(&mut v, &fk, j(c, d, imm.into(), off));
                    }
                    for s in regs {
                        push(&mut v, &fx, j(c, d, s.into(), off));
                    }
                }
            }
        }
    }
    for imm in IMMS {
        push(&mut v, "call helper", Insn::call(imm));
        for (form, insn) in [
            ("call local", Insn::call_local(imm)),
            ("call kfunc", Insn::call_kfunc(imm)),
        ] {
            v.push(Case {
                form: form.into(),
                insn,
                text_exact: false,
            });
        }
    }
    push(&mut v, "exit", Insn::exit());
    for size in Size::ALL {
        for d in regs {
            for s in regs {
                for off in OFFS {
                    push(&mut v, &format!("ldx {size:?}"), Insn::ldx(size, d, s, off));
                    push(&mut v, &format!("stx {size:?}"), Insn::stx(size, d, off, s));
                    if size != Size::DW {
                        push(
                            &mut v,
                            &format!("ldxsx {size:?}"),
                            Insn::ldxsx(size, d, s, off),
                        );
                    }
                }
            }
            for off in OFFS {
                for imm in IMMS {
                    push(&mut v, &format!("st {size:?}"), Insn::st(size, d, off, imm));
                }
            }
        }
    }
    for size in [Size::W, Size::DW] {
        for op in AtomicOp::ALL {
            let form = format!("atomic {size:?} {op:?}");
            for d in regs {
                for s in regs {
                    push(&mut v, &form, Insn::atomic(size, op, d, 0, s));
                }
                for off in OFFS {
                    push(&mut v, &form, Insn::atomic(size, op, d, off, Reg::R3));
                }
            }
        }
    }
    for d in regs {
        for imm in IMM64S {
            push(&mut v, "lddw", Insn::lddw(d, imm));
        }
        for pseudo in [
            PSEUDO_MAP_FD,
            PSEUDO_MAP_VALUE,
            PSEUDO_BTF_ID,
            PSEUDO_FUNC,
            PSEUDO_MAP_IDX,
            PSEUDO_MAP_IDX_VALUE,
        ] {
            let form = format!("lddw pseudo {pseudo}");
            for lo in IMMS {
                push(&mut v, &form, Insn::lddw_pseudo(d, pseudo, lo, 0));
            }
            v.push(Case {
                form,
                insn: Insn::lddw_pseudo(d, pseudo, 7, -2),
                text_exact: false,
            });
        }
    }
    for size in [Size::B, Size::H, Size::W] {
        for imm in IMMS {
            push(&mut v, &format!("ld_abs {size:?}"), Insn::ld_abs(size, imm));
        }
        for s in regs {
            push(
                &mut v,
                &format!("ld_ind {size:?}"),
                Insn::ld_ind(size, s, 0),
            );
            for imm in IMMS {
                if imm != 0 {
                    v.push(Case {
                        form: format!("ld_ind {size:?}"),
                        insn: Insn::ld_ind(size, s, imm),
                        text_exact: false,
                    });
                }
            }
        }
    }
    v
}
