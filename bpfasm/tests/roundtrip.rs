//! decode(encode(x)) == x for every form, stable text, and a decoder that never panics and accepts only
//! what it can re-encode byte for byte.

mod common;

use bpfasm::{encode_all, Insn, Syntax};
use common::cases;

#[test]
fn every_form_round_trips_with_stable_text() {
    let all = cases();
    for c in &all {
        let bytes = c.insn.encode();
        assert_eq!(bytes.len(), 8 * c.insn.slots(), "{}", c.form);
        let back = Insn::decode_all(&bytes)
            .unwrap_or_else(|e| panic!("{}: {} does not decode: {e}", c.form, c.insn));
        assert_eq!(back, vec![c.insn], "{}", c.form);
        for sx in [Syntax::Llvm19, Syntax::Llvm14] {
            assert_eq!(
                back[0].display(sx).to_string(),
                c.insn.display(sx).to_string()
            );
        }
        assert!(!c.insn.to_string().contains("unknown"), "{}", c.form);
    }
    // The whole stream at once: lddw's two slots must not shift what follows.
    let insns: Vec<Insn> = all.iter().map(|c| c.insn).collect();
    assert_eq!(Insn::decode_all(&encode_all(&insns)).unwrap(), insns);
    println!("{} instructions round-tripped", insns.len());
}

/// xorshift64*: reproducible pseudo-random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Whatever it is fed, the decoder returns a value; what it accepts re-encodes to the same bytes and prints.
fn check_stream(bytes: &[u8]) -> bool {
    match Insn::decode_all(bytes) {
        Ok(insns) => {
            assert_eq!(encode_all(&insns), bytes, "accepted bytes must re-encode");
            for i in &insns {
                assert!(i.validate().is_ok());
                assert!(!i.to_string().is_empty());
            }
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn decoder_never_panics_on_random_or_mutated_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut total) = (0, 0);
    // Random streams of random length (including lengths that are not a multiple of 8).
    for _ in 0..100_000 {
        let len = (rng.next() % 40) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        accepted += check_stream(&bytes) as usize;
        total += 1;
    }
    // Every valid form with one random bit flipped: close to valid, so it probes each field check.
    for c in cases() {
        let mut bytes = c.insn.encode();
        let bit = (rng.next() % (bytes.len() as u64 * 8)) as usize;
        bytes[bit / 8] ^= 1 << (bit % 8);
        accepted += check_stream(&bytes) as usize;
        total += 1;
    }
    println!("{total} streams decoded without panic, {accepted} accepted and re-encoded exactly");
    assert!(accepted > 0 && accepted < total);
}

#[test]
fn decoder_rejects_invalid_field_combinations() {
    let bad: &[[u8; 8]] = &[
        [0xf7, 0, 0, 0, 0, 0, 0, 0],       // ALU64 op 0xf0
        [0xe7, 0, 0, 0, 0, 0, 0, 0],       // ALU64 op 0xe0
        [0x0f, 0x01, 0, 0, 1, 0, 0, 0],    // add X with imm
        [0x07, 0x10, 0, 0, 0, 0, 0, 0],    // add K with a src register
        [0x07, 0x00, 1, 0, 0, 0, 0, 0],    // add with an offset
        [0x3f, 0x21, 2, 0, 0, 0, 0, 0],    // div with offset 2
        [0xbc, 0x21, 32, 0, 0, 0, 0, 0],   // 32-bit movsx from 32 bits
        [0xd4, 0x01, 0, 0, 8, 0, 0, 0],    // le8
        [0xdf, 0x01, 0, 0, 16, 0, 0, 0],   // ALU64 END with the source bit
        [0x87, 0x01, 0, 0, 1, 0, 0, 0],    // neg with imm
        [0x05, 0x01, 0, 0, 0, 0, 0, 0],    // ja with a dst
        [0x06, 0x00, 1, 0, 0, 0, 0, 0],    // gotol with an offset
        [0x86, 0x00, 0, 0, 1, 0, 0, 0],    // JMP32 call
        [0x85, 0x30, 0, 0, 1, 0, 0, 0],    // call src 3
        [0x95, 0x00, 0, 0, 1, 0, 0, 0],    // exit with imm
        [0xe5, 0x00, 0, 0, 0, 0, 0, 0],    // jump op 0xe0
        [0x99, 0x00, 0, 0, 0, 0, 0, 0],    // ldx DW sign-extending
        [0x61, 0xb0, 0, 0, 0, 0, 0, 0],    // ldx from r11
        [0x62, 0x10, 0, 0, 0, 0, 0, 0],    // st with a src register
        [0xd3, 0x21, 0, 0, 0, 0, 0, 0],    // atomic B
        [0xdb, 0x21, 0, 0, 0x02, 0, 0, 0], // unknown atomic op
        [0x38, 0x00, 0, 0, 0, 0, 0, 0],    // ld_abs DW
        [0x30, 0x01, 0, 0, 0, 0, 0, 0],    // ld_abs with dst r1
        [0xa0, 0x00, 0, 0, 0, 0, 0, 0],    // LD with mode 0xa0
    ];
    for b in bad {
        assert!(
            matches!(
                Insn::decode_all(b),
                Err(bpfasm::DecodeError::Invalid { .. } | bpfasm::DecodeError::BadRegister { .. })
            ),
            "{b:02x?} was accepted"
        );
    }
    let lddw_bad_pseudo = [0x18, 0x71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(Insn::decode_all(&lddw_bad_pseudo).is_err());
    let lddw_truncated = [0x18, 0x01, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        Insn::decode_all(&lddw_truncated),
        Err(bpfasm::DecodeError::TruncatedLddw { slot: 0 })
    );
    assert_eq!(
        Insn::decode_all(&[0; 7]),
        Err(bpfasm::DecodeError::Length(7))
    );
}
