//! Differential proof against LLVM: our disassembly of every form must assemble with `llvm-mc` to our exact
//! bytes, and `llvm-objdump -d` of our ELF must print our disassembly line for line. LLVM 14 checks every
//! form it knows (decimal dialect); LLVM 19 with `--mcpu=v4` checks every form (hex dialect, cpu v4).
//! The tools are required: CI installs llvm-14 and llvm-19, so a missing one is a failure, not a skip.

mod common;

use bpfasm::{write_elf, Insn, Program, Syntax};
use common::{cases, Case};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

struct Llvm {
    syntax: Syntax,
    mc: &'static str,
    objdump: &'static str,
    /// Extra arguments so the tool knows every instruction of the dialect.
    cpu: &'static [&'static str],
}

const LLVM14: Llvm = Llvm {
    syntax: Syntax::Llvm14,
    mc: "llvm-mc-14",
    objdump: "llvm-objdump-14",
    cpu: &[],
};
const LLVM19: Llvm = Llvm {
    syntax: Syntax::Llvm19,
    mc: "llvm-mc-19",
    objdump: "llvm-objdump-19",
    cpu: &["--mcpu=v4"],
};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("bpfasm-{}-{name}", std::process::id()))
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {tool} ({e}): install it (apt-get install llvm-14 llvm-19; .ci/run does)"
        )
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{tool} {args:?} failed: {}\n{}",
        out.status,
        stderr.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `# encoding: [0x18,0x01,...]` of each llvm-mc output line, in order.
fn encodings(mc_out: &str) -> Vec<Vec<u8>> {
    mc_out
        .lines()
        .filter_map(|l| l.split_once("# encoding: [").map(|(_, r)| r))
        .map(|r| {
            r.trim_end_matches(']')
                .split(',')
                .map(|b| u8::from_str_radix(b.trim().trim_start_matches("0x"), 16).unwrap())
                .collect()
        })
        .collect()
}

/// The instruction text of each `llvm-objdump -d` line, without the `<symbol+off>` jump annotation.
fn objdump_texts(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(":\t")?;
            addr.trim().parse::<u64>().ok()?;
            let (_bytes, text) = rest.split_once('\t')?;
            let text = match text.rfind(" <") {
                Some(i) if text.ends_with('>') => &text[..i],
                _ => text,
            };
            Some(text.to_string())
        })
        .collect()
}

/// Fail with the first mismatch of each form (lines start with the form name).
fn report_mismatches(what: &str, bad: &[String]) {
    let mut seen = BTreeSet::new();
    let firsts: Vec<&str> = bad
        .iter()
        .filter(|l| seen.insert(l.split(':').next().unwrap_or("")))
        .map(String::as_str)
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: {} mismatches in {} forms, first of each:\n{}",
        bad.len(),
        firsts.len(),
        firsts.join("\n")
    );
}

/// LLVM 14's assembler cannot read some text its own disassembler prints: pseudo loads (`ld_pseudo`),
/// modulo (`%=`) and jset (`&`) (its lexer takes `%`/`&` for something else), and the fetching atomics
/// (`atomic_fetch_add(...)`, `xchg_64(...)`, `cmpxchg_64(...)`). LLVM 19 reads all of them.
fn llvm14_mc_parses(i: &Insn) -> bool {
    let op = i.code & 0xf0;
    let is_pseudo = i.is_lddw() && i.src != 0;
    let is_mod = matches!(i.class(), 4 | 7) && op == 0x90;
    let is_jset = matches!(i.class(), 5 | 6) && op == 0x40;
    let is_fetch = i.code & 0xe0 == 0xc0 && i.imm & 1 != 0;
    !(is_pseudo || is_mod || is_jset || is_fetch)
}

/// LLVM 19's assembler reads a `gotol` target only as a label or a 16-bit number.
fn llvm19_mc_parses(i: &Insn) -> bool {
    i.code != 0x06 || i16::try_from(i.imm).is_ok()
}

/// llvm-mc must turn our text back into our bytes.
fn check_mc(llvm: &Llvm, known: &[&Case]) -> usize {
    let exact: Vec<&Case> = known
        .iter()
        .copied()
        .filter(|c| c.text_exact)
        .filter(|c| match llvm.syntax {
            Syntax::Llvm14 => llvm14_mc_parses(&c.insn),
            Syntax::Llvm19 => llvm19_mc_parses(&c.insn),
        })
        .collect();
    let src: String = exact
        .iter()
        .map(|c| format!("{}\n", c.insn.display(llvm.syntax)))
        .collect();
    let path = tmp(&format!("{}.s", llvm.mc));
    std::fs::write(&path, src).unwrap();
    let mut args = vec!["-arch=bpf", "-show-encoding"];
    args.extend(llvm.cpu.iter().map(|a| &a[1..])); // llvm-mc spells it -mcpu
    args.push(path.to_str().unwrap());
    let out = run(llvm.mc, &args);
    let _ = std::fs::remove_file(&path);
    let got = encodings(&out);
    assert_eq!(got.len(), exact.len(), "{}: one encoding per line", llvm.mc);
    let bad: Vec<String> = exact
        .iter()
        .zip(&got)
        .filter(|(c, g)| c.insn.encode() != **g)
        .map(|(c, g)| {
            format!(
                "{}: `{}` ours {:02x?} llvm {g:02x?}",
                c.form,
                c.insn.display(llvm.syntax),
                c.insn.encode()
            )
        })
        .collect();
    report_mismatches(llvm.mc, &bad);
    exact.len()
}

/// LLVM 14's disassembler prints a map-value pseudo load whose first imm is 0 as garbage
/// (`lea r0, r0 + 7`, operands left over from the previous instruction); LLVM 19 prints it right.
fn llvm14_objdump_garbles(i: &Insn) -> bool {
    i.is_lddw() && i.src == 2 && i.imm as u32 == 0
}

/// llvm-objdump of our ELF must print our text.
fn check_objdump(llvm: &Llvm, known: &[&Case]) -> usize {
    let known: Vec<&Case> = known
        .iter()
        .copied()
        .filter(|c| llvm.syntax != Syntax::Llvm14 || !llvm14_objdump_garbles(&c.insn))
        .collect();
    let prog = Program {
        insns: known.iter().map(|c| c.insn).collect::<Vec<Insn>>(),
        relocs: Vec::new(),
    };
    let elf = write_elf(&[("kprobe/all_forms", "all_forms", &prog)], "GPL").unwrap();
    let path = tmp(&format!("{}.o", llvm.objdump));
    std::fs::write(&path, elf).unwrap();
    let mut args = vec!["-d"];
    args.extend(llvm.cpu);
    args.push(path.to_str().unwrap());
    let out = run(llvm.objdump, &args);
    let _ = std::fs::remove_file(&path);
    let texts = objdump_texts(&out);
    assert_eq!(
        texts.len(),
        known.len(),
        "{}: one line per instruction",
        llvm.objdump
    );
    let bad: Vec<String> = known
        .iter()
        .zip(&texts)
        .filter(|(c, t)| c.insn.display(llvm.syntax).to_string() != **t)
        .map(|(c, t)| {
            format!(
                "{}: ours `{}` llvm `{t}` ({:02x?})",
                c.form,
                c.insn.display(llvm.syntax),
                c.insn.encode()
            )
        })
        .collect();
    report_mismatches(llvm.objdump, &bad);
    known.len()
}

fn check(llvm: &Llvm) {
    let all = cases();
    let known: Vec<&Case> = all
        .iter()
        .filter(|c| c.insn.llvm_text(llvm.syntax).is_some())
        .collect();
    let forms: BTreeSet<&str> = known.iter().map(|c| c.form.as_str()).collect();
    let all_forms: BTreeSet<&str> = all.iter().map(|c| c.form.as_str()).collect();
    let t = std::time::Instant::now();
    let assembled = check_mc(llvm, &known);
    let printed = check_objdump(llvm, &known);
    println!(
        "LLVM {}: {} of {} forms; {} instructions printed identically by {}, {} reassembled to \
         identical bytes by {} ({:?})",
        if llvm.syntax == Syntax::Llvm14 {
            14
        } else {
            19
        },
        forms.len(),
        all_forms.len(),
        printed,
        llvm.objdump,
        assembled,
        llvm.mc,
        t.elapsed()
    );
    if llvm.syntax == Syntax::Llvm19 {
        let missing: Vec<_> = all_forms.difference(&forms).collect();
        assert!(
            missing.is_empty(),
            "LLVM 19 must know every form: {missing:?}"
        );
    }
}

#[test]
fn every_form_matches_llvm14() {
    check(&LLVM14);
}

#[test]
fn every_form_matches_llvm19_cpu_v4() {
    check(&LLVM19);
}
