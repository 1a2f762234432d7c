//! Label resolution and its errors at the exact edges of each offset field.

use bpfasm::{Asm, AsmError, Cond, Reg::*};

/// `ja`/`jmp` over `n` filler slots forward (and back) to a label.
fn forward(n: usize, cond: bool) -> Result<bpfasm::Program, AsmError> {
    let mut a = Asm::new();
    if cond {
        a.jmp(Cond::Eq, R1, R2, "l");
    } else {
        a.ja("l");
    }
    for _ in 0..n {
        a.mov64(R0, 0);
    }
    a.label("l").exit();
    a.finish()
}

fn backward(n: usize) -> Result<bpfasm::Program, AsmError> {
    let mut a = Asm::new();
    a.label("l");
    for _ in 0..n {
        a.mov64(R0, 0);
    }
    a.jmp32(Cond::Ne, R1, 7, "l").exit();
    a.finish()
}

#[test]
fn i16_jump_offsets_reach_exactly_their_range() {
    for cond in [false, true] {
        assert_eq!(forward(32767, cond).unwrap().insns[0].off, i16::MAX);
        assert_eq!(
            forward(32768, cond),
            Err(AsmError::OutOfRange {
                label: "l".into(),
                offset: 32768
            })
        );
    }
    // Backward: the offset counts from the slot after the jump, so n fillers give -(n + 1).
    assert_eq!(backward(32767).unwrap().insns[32767].off, i16::MIN);
    assert_eq!(
        backward(32768),
        Err(AsmError::OutOfRange {
            label: "l".into(),
            offset: -32769
        })
    );
}

#[test]
fn gotol_reaches_beyond_i16_both_ways() {
    let mut a = Asm::new();
    a.label("top").gotol("end");
    for _ in 0..40_000 {
        a.lddw(R0, -1); // two slots each
    }
    a.label("end").gotol("top").exit();
    let p = a.finish().unwrap();
    assert_eq!(p.insns[0].imm, 80_000);
    assert_eq!(p.insns[40_001].imm, -80_002);
    assert_eq!(p.insns[40_001].to_string(), "gotol -0x13882");
}

#[test]
fn local_calls_and_function_pointers_resolve_relative_to_the_next_slot() {
    let mut a = Asm::new();
    a.ld_func(R2, "cb") // slots 0-1
        .call_local("cb") // slot 2
        .exit() // slot 3
        .label("cb")
        .mov64(R0, 0)
        .exit();
    let p = a.finish().unwrap();
    assert_eq!(p.insns[0].imm, 2);
    assert_eq!(p.insns[1].imm, 1);
}

#[test]
fn label_errors_are_values_not_panics() {
    let mut a = Asm::new();
    a.label("x").mov64(R0, 0).label("x").exit();
    assert_eq!(a.finish(), Err(AsmError::DuplicateLabel("x".into())));
    for missing in ["ja", "jmp", "jmp32", "gotol", "call_local", "ld_func"] {
        let mut a = Asm::new();
        match missing {
            "ja" => a.ja("nowhere"),
            "jmp" => a.jmp(Cond::Gt, R1, 1, "nowhere"),
            "jmp32" => a.jmp32(Cond::Gt, R1, R2, "nowhere"),
            "gotol" => a.gotol("nowhere"),
            "call_local" => a.call_local("nowhere"),
            _ => a.ld_func(R1, "nowhere"),
        };
        a.exit();
        assert_eq!(
            a.finish(),
            Err(AsmError::MissingLabel("nowhere".into())),
            "{missing}"
        );
    }
}
