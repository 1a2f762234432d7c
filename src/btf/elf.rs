//! Finds the `.BTF` section of an ELF file, so that `--btf` also takes an uncompressed `vmlinux`
//! (or a BTFHub-style object) rather than only a raw BTF blob.

use super::BtfError;
use std::ops::Range;

pub(super) fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

fn malformed(reason: &str) -> BtfError {
    BtfError::Malformed {
        path: None,
        reason: format!("ELF file: {reason}"),
    }
}

/// Byte range of the `.BTF` section's contents.
pub(super) fn btf_section(data: &[u8]) -> Result<Range<usize>, BtfError> {
    let class64 = match data.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(malformed("unknown ELF class")),
    };
    let big = match data.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(malformed("unknown ELF byte order")),
    };
    let uint = |at: usize, width: usize| -> Result<u64, BtfError> {
        let b = data
            .get(at..at.saturating_add(width))
            .ok_or_else(|| malformed("truncated"))?;
        let mut v = 0u64;
        for i in 0..width {
            let byte = if big { b[i] } else { b[width - 1 - i] };
            v = (v << 8) | byte as u64;
        }
        Ok(v)
    };
    let word = if class64 { 8 } else { 4 };
    let (shoff, shentsize, shnum, shstrndx) = if class64 {
        (
            uint(0x28, 8)?,
            uint(0x3a, 2)?,
            uint(0x3c, 2)?,
            uint(0x3e, 2)?,
        )
    } else {
        (
            uint(0x20, 4)?,
            uint(0x2e, 2)?,
            uint(0x30, 2)?,
            uint(0x32, 2)?,
        )
    };
    // (name offset, file offset, size) of section `i`.
    let section = |i: u64| -> Result<(u64, u64, u64), BtfError> {
        let at = shoff
            .checked_add(
                i.checked_mul(shentsize)
                    .ok_or_else(|| malformed("bad section table"))?,
            )
            .ok_or_else(|| malformed("bad section table"))? as usize;
        let (off_at, size_at) = if class64 { (24, 32) } else { (16, 20) };
        Ok((
            uint(at, 4)?,
            uint(at.saturating_add(off_at), word)?,
            uint(at.saturating_add(size_at), word)?,
        ))
    };
    let in_file = |off: u64, size: u64| -> Result<Range<usize>, BtfError> {
        match off.checked_add(size) {
            Some(end) if end <= data.len() as u64 => Ok(off as usize..end as usize),
            _ => Err(malformed("section lies outside the file")),
        }
    };
    let (_, str_off, str_size) = section(shstrndx)?;
    let names = in_file(str_off, str_size)?;
    for i in 0..shnum {
        let (name, off, size) = section(i)?;
        let start = names.start.saturating_add(name as usize);
        if data
            .get(start..names.end)
            .is_some_and(|s| s.starts_with(b".BTF\0"))
        {
            return in_file(off, size);
        }
    }
    Err(malformed(
        "no .BTF section (was the kernel built with CONFIG_DEBUG_INFO_BTF?)",
    ))
}
