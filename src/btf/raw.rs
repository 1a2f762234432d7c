//! The BTF wire format: header, string section and the type records (UAPI `linux/btf.h`).
//! Everything here is bounds-checked; a malformed blob yields `BtfError::Malformed`, never a panic.

use super::BtfError;

pub(super) const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
/// Type ids are 20 bits wide in every user of the format (BTF_MAX_TYPE).
const MAX_TYPE_ID: usize = 0x000f_ffff;
const TYPE_HEADER_LEN: usize = 12;

pub(super) const KIND_INT: u8 = 1;
pub(super) const KIND_PTR: u8 = 2;
pub(super) const KIND_ARRAY: u8 = 3;
pub(super) const KIND_STRUCT: u8 = 4;
pub(super) const KIND_UNION: u8 = 5;
pub(super) const KIND_ENUM: u8 = 6;
pub(super) const KIND_FWD: u8 = 7;
pub(super) const KIND_TYPEDEF: u8 = 8;
pub(super) const KIND_VOLATILE: u8 = 9;
pub(super) const KIND_CONST: u8 = 10;
pub(super) const KIND_RESTRICT: u8 = 11;
pub(super) const KIND_FUNC: u8 = 12;
pub(super) const KIND_FUNC_PROTO: u8 = 13;
pub(super) const KIND_VAR: u8 = 14;
pub(super) const KIND_DATASEC: u8 = 15;
pub(super) const KIND_FLOAT: u8 = 16;
pub(super) const KIND_DECL_TAG: u8 = 17;
pub(super) const KIND_TYPE_TAG: u8 = 18;
pub(super) const KIND_ENUM64: u8 = 19;

/// Bytes that follow the 12-byte `btf_type` header: (fixed part, size of each of `vlen` items).
fn known_layout(kind: u8) -> Option<(usize, usize)> {
    Some(match kind {
        KIND_INT => (4, 0),
        KIND_ARRAY => (12, 0),
        KIND_STRUCT | KIND_UNION => (0, 12),
        KIND_ENUM => (0, 8),
        KIND_FUNC_PROTO => (0, 8),
        KIND_VAR => (4, 0),
        KIND_DATASEC => (0, 12),
        KIND_DECL_TAG => (4, 0),
        KIND_ENUM64 => (0, 12),
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => (0, 0),
        _ => return None,
    })
}

fn malformed(reason: impl Into<String>) -> BtfError {
    BtfError::Malformed {
        path: None,
        reason: reason.into(),
    }
}

/// One decoded `btf_type` header.
#[derive(Clone, Copy, Debug)]
pub(super) struct TypeRec {
    pub kind: u8,
    pub kind_flag: bool,
    pub vlen: u16,
    pub name_off: u32,
    /// `size` or `type`, depending on the kind.
    pub size_or_type: u32,
    /// Absolute byte position of the record in the blob.
    pos: usize,
}

/// One `btf_member` of a STRUCT/UNION.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawMember {
    pub name_off: u32,
    pub type_id: u32,
    pub offset: u32,
}

pub(super) struct Raw {
    data: Vec<u8>,
    big_endian: bool,
    strs: std::ops::Range<usize>,
    /// Absolute position of each type record; index 0 stands for `void` and is never read.
    offsets: Vec<u32>,
}

impl Raw {
    pub fn parse(data: Vec<u8>) -> Result<Raw, BtfError> {
        let magic = data
            .get(0..2)
            .ok_or_else(|| malformed(format!("{} bytes is too short for a header", data.len())))?;
        // The producer's byte order is told by how the magic reads; support both.
        let big_endian = match [magic[0], magic[1]] {
            m if u16::from_le_bytes(m) == MAGIC => false,
            m if u16::from_be_bytes(m) == MAGIC => true,
            m => {
                return Err(malformed(format!(
                    "bad magic {:02x}{:02x} (not a BTF blob)",
                    m[0], m[1]
                )))
            }
        };
        let mut raw = Raw {
            data,
            big_endian,
            strs: 0..0,
            offsets: Vec::new(),
        };
        if raw.data.len() < HEADER_LEN {
            return Err(malformed(format!(
                "{} bytes is too short for a header",
                raw.data.len()
            )));
        }
        if raw.data[2] != 1 {
            return Err(malformed(format!("unsupported version {}", raw.data[2])));
        }
        let hdr_len = raw.u32_at(4)? as usize;
        if hdr_len < HEADER_LEN || hdr_len > raw.data.len() {
            return Err(malformed(format!("header length {hdr_len} out of range")));
        }
        let section = |off: u32, len: u32, what: &str| {
            let start = hdr_len.checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= raw.data.len() => Ok(s..e),
                _ => Err(malformed(format!(
                    "{what} section ({off}+{len} after a {hdr_len}-byte header) exceeds the {} bytes of data",
                    raw.data.len()
                ))),
            }
        };
        let types = section(raw.u32_at(8)?, raw.u32_at(12)?, "type")?;
        let strs = section(raw.u32_at(16)?, raw.u32_at(20)?, "string")?;
        // As the kernel's own check; records are read bytewise, so this is about rejecting garbage.
        if raw.u32_at(8)? % 4 != 0 {
            return Err(malformed("type section offset is not 4-byte aligned"));
        }
        // Every name is then terminated inside the section, whatever its offset.
        if strs.is_empty() || raw.data[strs.start] != 0 || raw.data[strs.end - 1] != 0 {
            return Err(malformed(
                "string section must start and end with a NUL byte",
            ));
        }
        let layouts = raw.layout_section(hdr_len)?;
        raw.strs = strs;
        raw.offsets = raw.walk_types(types, layouts)?;
        Ok(raw)
    }

    /// Newer kernels may describe each kind's record layout (header fields 24..32); it lets us step
    /// over kinds newer than this parser.
    fn layout_section(&self, hdr_len: usize) -> Result<Option<std::ops::Range<usize>>, BtfError> {
        if hdr_len < HEADER_LEN + 8 {
            return Ok(None);
        }
        let (off, len) = (self.u32_at(24)? as usize, self.u32_at(28)? as usize);
        if len == 0 {
            return Ok(None);
        }
        let start = hdr_len.saturating_add(off);
        let end = start.saturating_add(len);
        if end > self.data.len() {
            return Err(malformed("layout section exceeds the data"));
        }
        Ok(Some(start..end))
    }

    fn record_layout(
        &self,
        kind: u8,
        layouts: &Option<std::ops::Range<usize>>,
    ) -> Result<(usize, usize), BtfError> {
        if let Some(l) = known_layout(kind) {
            return Ok(l);
        }
        if let Some(range) = layouts {
            let at = range.start + kind as usize * 4;
            if at + 4 <= range.end {
                return Ok((self.data[at] as usize, self.data[at + 1] as usize));
            }
        }
        Err(malformed(format!("unknown type kind {kind}")))
    }

    /// One pass over the type section: checks every record lies inside it and notes where each starts.
    fn walk_types(
        &self,
        types: std::ops::Range<usize>,
        layouts: Option<std::ops::Range<usize>>,
    ) -> Result<Vec<u32>, BtfError> {
        if types.end > u32::MAX as usize {
            return Err(malformed("type section beyond 4 GiB"));
        }
        // A record is at least 12 bytes: this bounds the allocation by the input size.
        let mut offsets = Vec::with_capacity(types.len() / TYPE_HEADER_LEN + 1);
        offsets.push(0);
        let mut pos = types.start;
        while pos < types.end {
            if pos + TYPE_HEADER_LEN > types.end {
                return Err(malformed(format!(
                    "type {} truncated at byte {pos}",
                    offsets.len()
                )));
            }
            let rec = self.rec_at(pos)?;
            if rec.name_off as usize >= self.strs.len() {
                return Err(malformed(format!(
                    "type {} has name offset {} beyond the string section",
                    offsets.len(),
                    rec.name_off
                )));
            }
            let (fixed, each) = self.record_layout(rec.kind, &layouts)?;
            let next = pos + TYPE_HEADER_LEN + fixed + each * rec.vlen as usize;
            if next > types.end {
                return Err(malformed(format!(
                    "type {} (kind {}) runs past the end of the type section",
                    offsets.len(),
                    rec.kind
                )));
            }
            if offsets.len() > MAX_TYPE_ID {
                return Err(malformed("more than 2^20 types"));
            }
            offsets.push(pos as u32);
            pos = next;
        }
        Ok(offsets)
    }

    fn u32_at(&self, pos: usize) -> Result<u32, BtfError> {
        let b = self
            .data
            .get(pos..pos.wrapping_add(4))
            .ok_or_else(|| malformed(format!("read past the end at byte {pos}")))?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn rec_at(&self, pos: usize) -> Result<TypeRec, BtfError> {
        let info = self.u32_at(pos + 4)?;
        Ok(TypeRec {
            kind: ((info >> 24) & 0x1f) as u8,
            kind_flag: info >> 31 == 1,
            vlen: (info & 0xffff) as u16,
            name_off: self.u32_at(pos)?,
            size_or_type: self.u32_at(pos + 8)?,
            pos,
        })
    }

    /// Number of type ids, counting `void` (id 0).
    pub fn type_count(&self) -> usize {
        self.offsets.len()
    }

    pub fn ty(&self, id: u32) -> Result<TypeRec, BtfError> {
        match self.offsets.get(id as usize) {
            Some(&pos) if id != 0 => self.rec_at(pos as usize),
            _ => Err(malformed(format!(
                "reference to type id {id}, which does not exist (have {})",
                self.offsets.len().saturating_sub(1)
            ))),
        }
    }

    /// The u32 that follows the record header (INT encoding, VAR linkage, ...).
    pub fn extra_u32(&self, rec: &TypeRec, index: usize) -> Result<u32, BtfError> {
        self.u32_at(rec.pos + TYPE_HEADER_LEN + index * 4)
    }

    pub fn member(&self, rec: &TypeRec, index: u16) -> Result<RawMember, BtfError> {
        let at = rec.pos + TYPE_HEADER_LEN + index as usize * 12;
        Ok(RawMember {
            name_off: self.u32_at(at)?,
            type_id: self.u32_at(at + 4)?,
            offset: self.u32_at(at + 8)?,
        })
    }

    /// The NUL-terminated string at `off` in the string section, without its NUL.
    pub fn name(&self, off: u32) -> Result<&[u8], BtfError> {
        let tail = self
            .data
            .get(self.strs.start.saturating_add(off as usize)..self.strs.end)
            .ok_or_else(|| malformed(format!("name offset {off} beyond the string section")))?;
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed(format!("name at offset {off} is not terminated")))?;
        Ok(&tail[..len])
    }

    /// Whether the string at `off` is exactly `want`, without measuring the whole string.
    pub fn name_is(&self, off: u32, want: &[u8]) -> bool {
        let start = self.strs.start.saturating_add(off as usize);
        let end = start.saturating_add(want.len());
        end < self.strs.end && &self.data[start..end] == want && self.data[end] == 0
    }
}
