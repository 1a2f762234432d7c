//! bpfasm: a small, pure eBPF assembler. Encode, decode, format; no syscalls, no I/O.
//!
//! ```
//! use bpfasm::{Asm, Cond, Helper, Reg::*};
//! let mut a = Asm::new();
//! a.call(Helper::GET_CURRENT_PID_TGID)
//!     .jmp(Cond::Eq, R0, 0, "out")
//!     .mov64(R0, 1)
//!     .label("out")
//!     .exit();
//! let prog = a.finish().unwrap();
//! assert_eq!(prog.slot_count(), 4);
//! ```

pub mod asm;
pub mod disasm;
pub mod elf;
pub mod helpers;
pub mod insn;
pub mod opcode;

pub use asm::{Asm, AsmError, MapReloc, Program};
pub use disasm::{listing, InsnDisplay, Syntax};
pub use elf::{write_elf, ElfError};
pub use helpers::{Helper, F_CURRENT_CPU};
pub use insn::{encode_all, AluOp, AtomicOp, Cond, DecodeError, Insn, Operand, Reg, Size};

// The README's example is compiled and run as a doctest, so its listing stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
