//! Our ELF objects must read cleanly with LLVM's tools: sections, symbols, license, map relocations and a
//! disassembly identical to our listing.

use bpfasm::{write_elf, Asm, Cond, ElfError, Helper, Program, Reg::*, Size};
use std::process::Command;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}): apt-get install llvm-14 llvm-19"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{name} {args:?}: {}\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn programs() -> (Program, Program) {
    let mut a = Asm::new();
    a.mov64(R6, R1)
        .call(Helper::GET_CURRENT_PID_TGID)
        .stx(Size::DW, R10, -8, R0)
        .ld_map_fd(R1, "events")
        .mov64(R2, R10)
        .add64(R2, -8)
        .call(Helper::MAP_LOOKUP_ELEM)
        .jmp(Cond::Eq, R0, 0, "out")
        .ld_map_value(R7, "config", 16)
        .ldx(Size::W, R0, R7, 0)
        .label("out")
        .mov64(R0, 0)
        .exit();
    let write = a.finish().unwrap();
    let mut b = Asm::new();
    b.ld_map_fd(R1, "events").mov32(R0, 1).exit();
    (write, b.finish().unwrap())
}

#[test]
fn llvm_reads_our_object() {
    let (p1, p2) = programs();
    let elf = write_elf(
        &[
            ("kprobe/vfs_write", "on_write", &p1),
            ("tracepoint/syscalls/sys_enter_openat", "on_open", &p2),
        ],
        "GPL",
    )
    .unwrap();
    let path = std::env::temp_dir().join(format!("bpfasm-{}-elf.o", std::process::id()));
    std::fs::write(&path, &elf).unwrap();
    let p = path.to_str().unwrap();
    for readelf in ["llvm-readelf-14", "llvm-readelf-19"] {
        let out = tool(readelf, &["-a", p]);
        for want in [
            "ELF64",
            "little endian",
            "REL (Relocatable file)",
            "EM_BPF",
            "kprobe/vfs_write",
            "tracepoint/syscalls/sys_enter_openat",
            "license",
        ] {
            assert!(out.contains(want), "{readelf}: no '{want}' in\n{out}");
        }
        let sym = |name: &str| {
            out.lines()
                // symbol table rows, not relocation rows naming the same symbol
                .find(|l| l.contains("GLOBAL") && l.split_whitespace().last() == Some(name))
                .unwrap_or_else(|| panic!("{readelf}: no symbol {name}\n{out}"))
                .to_string()
        };
        for f in ["on_write", "on_open"] {
            let l = sym(f);
            assert!(l.contains("FUNC") && l.contains("GLOBAL"), "{l}");
        }
        assert!(sym("_license").contains("OBJECT"));
        assert!(sym("events").contains("UND"));
        assert!(sym("config").contains("UND"));
    }
    let dump = tool("llvm-objdump-19", &["-d", "-r", "--mcpu=v4", p]);
    // Relocations: two against `events`, one against `config`, at the lddw byte offsets.
    let relocs: Vec<&str> = dump.lines().filter(|l| l.contains("R_BPF_64_64")).collect();
    assert_eq!(relocs.len(), 3, "{dump}");
    let reloc = |l: &str| {
        let (off, rest) = l.trim().split_once(':').unwrap();
        let sym = rest.split_whitespace().last().unwrap().to_string();
        (u64::from_str_radix(off, 16).unwrap(), sym)
    };
    // lddw of `events` is slot 3 of on_write, of `config` slot 9; on_open loads `events` at slot 0.
    assert_eq!(reloc(relocs[0]), (3 * 8, "events".to_string()));
    assert_eq!(reloc(relocs[1]), (9 * 8, "config".to_string()));
    assert_eq!(reloc(relocs[2]), (0, "events".to_string()));
    // The disassembly, program by program, equals our listing.
    let texts: Vec<String> = dump
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(":\t")?;
            addr.trim().parse::<u64>().ok()?;
            let text = rest.split_once('\t')?.1;
            Some(match text.rfind(" <") {
                Some(i) if text.ends_with('>') => text[..i].to_string(),
                _ => text.to_string(),
            })
        })
        .collect();
    let ours: Vec<String> = p1
        .insns
        .iter()
        .chain(&p2.insns)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(texts, ours);
    let lic = tool("llvm-objdump-19", &["-s", "-j", "license", p]);
    assert!(lic.contains("47504c00"), "{lic}"); // "GPL\0"
    let _ = std::fs::remove_file(&path);
    println!(
        "{} bytes of ELF read by llvm-readelf 14/19 and llvm-objdump 19:\n{dump}",
        elf.len()
    );
}

#[test]
fn bad_names_are_errors() {
    let (p1, p2) = programs();
    assert_eq!(
        write_elf(&[("a", "f", &p1), ("a", "g", &p2)], "GPL"),
        Err(ElfError::BadName("a".into()))
    );
    assert_eq!(
        write_elf(&[("a", "", &p1)], "GPL"),
        Err(ElfError::BadName("".into()))
    );
    let broken = Program {
        insns: p2.insns.clone(),
        relocs: vec![bpfasm::MapReloc {
            insn: 99,
            map: "m".into(),
        }],
    };
    assert!(matches!(
        write_elf(&[("a", "f", &broken)], "GPL"),
        Err(ElfError::Write(_))
    ));
}
