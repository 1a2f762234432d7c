//! An ELF64 little-endian EM_BPF relocatable object of assembled programs, in the shape clang emits, so
//! `llvm-objdump -d -r`, `llvm-readelf` and libbpf-style loaders can read it.

use crate::asm::Program;
use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};
use std::collections::HashMap;
use std::fmt;

/// Why an object could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Two programs share a section or symbol name, or a name is empty.
    BadName(String),
    /// The `object` crate refused the layout.
    Write(String),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::BadName(n) => write!(f, "bad or duplicate section/symbol name '{n}'"),
            ElfError::Write(e) => write!(f, "writing ELF: {e}"),
        }
    }
}

impl std::error::Error for ElfError {}

impl From<object::write::Error> for ElfError {
    fn from(e: object::write::Error) -> Self {
        ElfError::Write(e.to_string())
    }
}

/// Write `progs` as (section name e.g. `kprobe/vfs_write`, function symbol, program), one executable
/// section and one global FUNC symbol each, plus a `license` section holding `license` NUL-terminated with
/// the symbol `_license`. Every map reference becomes an `R_BPF_64_64` relocation against an undefined
/// global symbol named after the map, as clang emits for an extern map.
pub fn write_elf(progs: &[(&str, &str, &Program)], license: &str) -> Result<Vec<u8>, ElfError> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let mut names: Vec<&str> = Vec::new();
    for &(section, symbol, _) in progs {
        for n in [section, symbol] {
            if n.is_empty() || n.contains('\0') || names.contains(&n) {
                return Err(ElfError::BadName(n.to_string()));
            }
            names.push(n);
        }
    }
    let mut maps: HashMap<String, SymbolId> = HashMap::new();
    for &(section, symbol, prog) in progs {
        let code = prog.to_bytes();
        let sec = add_section(&mut obj, section, SectionKind::Text);
        let offset = obj.append_section_data(sec, &code, 8);
        obj.add_symbol(Symbol {
            name: symbol.as_bytes().to_vec(),
            value: offset,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(sec),
            flags: SymbolFlags::None,
        });
        // Relocation offsets are byte offsets of the lddw's first slot.
        let mut starts = Vec::with_capacity(prog.insns.len());
        let mut at = 0u64;
        for i in &prog.insns {
            starts.push(at);
            at += 8 * i.slots() as u64;
        }
        for r in &prog.relocs {
            let Some(&insn_at) = starts.get(r.insn) else {
                return Err(ElfError::Write(format!(
                    "relocation for map '{}' at instruction {} beyond the program",
                    r.map, r.insn
                )));
            };
            if r.map.is_empty() || r.map.contains('\0') {
                return Err(ElfError::BadName(r.map.clone()));
            }
            let sym = *maps.entry(r.map.clone()).or_insert_with(|| {
                obj.add_symbol(Symbol {
                    name: r.map.as_bytes().to_vec(),
                    value: 0,
                    size: 0,
                    kind: SymbolKind::Unknown,
                    scope: SymbolScope::Dynamic,
                    weak: false,
                    section: SymbolSection::Undefined,
                    flags: SymbolFlags::None,
                })
            });
            obj.add_relocation(
                sec,
                Relocation {
                    offset: offset + insn_at,
                    symbol: sym,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
    }
    let lic = add_section(&mut obj, "license", SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    let off = obj.append_section_data(lic, &text, 1);
    obj.add_symbol(Symbol {
        name: b"_license".to_vec(),
        value: off,
        size: text.len() as u64,
        kind: SymbolKind::Data,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Section(lic),
        flags: SymbolFlags::None,
    });
    Ok(obj.write()?)
}

fn add_section(obj: &mut Object<'_>, name: &str, kind: SectionKind) -> SectionId {
    obj.add_section(Vec::new(), name.as_bytes().to_vec(), kind)
}
