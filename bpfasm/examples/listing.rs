//! Prints the README's sample program in both LLVM dialects and writes it as an ELF object:
//! `cargo run -p bpfasm --example listing [out.o]`, then `llvm-objdump -d -r out.o`.

use bpfasm::{listing, write_elf, Asm, AtomicOp, Cond, Helper, Reg::*, Size, Syntax};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = Asm::new();
    a.call(Helper::GET_CURRENT_PID_TGID)
        .rsh64(R0, 32)
        .stx(Size::W, R10, -4, R0)
        .ld_map_fd(R1, "counts")
        .mov64(R2, R10)
        .add64(R2, -4)
        .call(Helper::MAP_LOOKUP_ELEM)
        .jmp(Cond::Eq, R0, 0, "out")
        .mov64(R1, 1)
        .atomic(Size::DW, AtomicOp::Add, R0, 0, R1)
        .label("out")
        .mov32(R0, 0)
        .exit();
    let prog = a.finish()?;
    print!("{prog}");
    println!("-- as llvm-objdump-14 prints it --");
    print!("{}", listing(&prog.insns, Syntax::Llvm14));
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(
            &path,
            write_elf(&[("kprobe/vfs_write", "count_writes", &prog)], "GPL")?,
        )?;
    }
    Ok(())
}
