//! BTF reader: kernel struct layouts and function names from `/sys/kernel/btf/vmlinux` (or a `--btf`
//! file), so that filespy never hard-codes an offset.

mod elf;
mod raw;
#[cfg(test)]
mod tests;

use raw::*;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Largest BTF file read (a raw blob or an ELF holding `.BTF`): the kernel's own BTF is 5-10 MiB, so
/// this only stops a wrong file (a device, a huge vmlinux with DWARF) from eating all memory.
pub const MAX_BTF_FILE: u64 = 256 << 20;

/// Bounds the walk through typedef/const chains and nested anonymous members, so that a cyclic
/// (malicious or corrupt) blob ends in an error instead of a stack overflow.
const MAX_DEPTH: u32 = 64;

#[derive(Debug)]
pub enum BtfError {
    /// The running kernel exposes no BTF.
    KernelBtfMissing(PathBuf),
    /// /sys is not sysfs (a chroot, a container without /sys): the kernel's BTF cannot be there.
    SysfsNotMounted(PathBuf),
    /// A `--btf FILE` that does not exist.
    FileNotFound(PathBuf),
    /// A device, FIFO, directory, ...: BTF comes from a regular file (reading /dev/zero never ends).
    NotRegular {
        path: PathBuf,
        kind: &'static str,
    },
    /// Bigger than `MAX_BTF_FILE`.
    TooLarge {
        path: PathBuf,
        size: u64,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Malformed {
        path: Option<PathBuf>,
        reason: String,
    },
    NoType(String),
    NoMember {
        kind: &'static str,
        ty: String,
        path: String,
    },
    /// A dotted path tried to go through something that is not an embedded struct/union.
    NotEmbedded {
        kind: &'static str,
        ty: String,
        path: String,
    },
    /// `member_offset` of a bitfield that does not start on a byte.
    NotByteAligned {
        kind: &'static str,
        ty: String,
        path: String,
        offset_bits: u32,
    },
    BadPath(String),
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::KernelBtfMissing(p) => write!(
                f,
                "kernel BTF not found at {}: this kernel lacks CONFIG_DEBUG_INFO_BTF; pass --btf FILE (e.g. from BTFHub)",
                p.display()
            ),
            BtfError::SysfsNotMounted(p) => write!(
                f,
                "kernel BTF not found at {}: /sys is not mounted (no sysfs here, as in a chroot or a container without /sys); mount it (mount -t sysfs sysfs /sys) or pass --btf FILE",
                p.display()
            ),
            BtfError::FileNotFound(p) => write!(f, "BTF file not found: {}", p.display()),
            BtfError::NotRegular { path, kind } => write!(
                f,
                "BTF file {} is {kind}, not a regular file",
                path.display()
            ),
            BtfError::TooLarge { path, size } => write!(
                f,
                "BTF file {} is larger than {} MiB ({size} bytes); for a vmlinux with debug info, extract its BTF: objcopy --dump-section .BTF=vmlinux.btf vmlinux",
                path.display(),
                MAX_BTF_FILE >> 20
            ),
            BtfError::Io { path, source } => {
                write!(f, "cannot read BTF file {}: {source}", path.display())
            }
            BtfError::Malformed { path: Some(p), reason } => {
                write!(f, "BTF: {} is not valid BTF: {reason}", p.display())
            }
            BtfError::Malformed { path: None, reason } => write!(f, "BTF: invalid data: {reason}"),
            BtfError::NoType(ty) => write!(f, "BTF: no struct or union named {ty}"),
            BtfError::NoMember { kind, ty, path } => {
                write!(f, "BTF: {kind} {ty} has no member {path}")
            }
            BtfError::NotEmbedded { kind, ty, path } => write!(
                f,
                "BTF: {kind} {ty}: member {path} is not an embedded struct or union (pointers are not followed)"
            ),
            BtfError::NotByteAligned {
                kind,
                ty,
                path,
                offset_bits,
            } => write!(
                f,
                "BTF: {kind} {ty}: member {path} is a bitfield at bit {offset_bits}, not at a byte offset"
            ),
            BtfError::BadPath(p) => write!(f, "BTF: invalid member path '{p}'"),
        }
    }
}

impl std::error::Error for BtfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BtfError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where a member lies, relative to the start of the outermost struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInfo {
    pub offset_bits: u32,
    /// 0 if not a bitfield.
    pub bitfield_bits: u32,
    /// Bytes of the resolved type (for a bitfield: of its underlying integer type).
    pub size: u32,
    /// The member's type with typedef/const/volatile/restrict/type_tag stripped.
    pub type_id: u32,
}

/// A function's parameters and return, as `function_signature` reads them from BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub params: Vec<Param>,
    pub ret: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub shape: Shape,
}

/// A value's type, as far as a register holding it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Void,
    Pointer,
    /// An integer (or enum) of `size` bytes; `signed` values are sign-extended from that width.
    Int {
        size: u32,
        signed: bool,
    },
    /// A struct passed by value, a float, ...
    Other,
}

impl Signature {
    /// The position (0-based) of the parameter called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
}

pub struct Btf {
    raw: Raw,
    /// STRUCT/UNION name -> type id; built at load since every start-up needs it.
    composites: HashMap<Box<[u8]>, u32>,
}

struct Found {
    offset_bits: u32,
    bitfield_bits: u32,
    type_id: u32,
}

impl Btf {
    /// A raw BTF blob, or an ELF file (e.g. `vmlinux`) with a `.BTF` section.
    pub fn from_bytes(data: Vec<u8>) -> Result<Btf, BtfError> {
        let data = if elf::is_elf(&data) {
            data[elf::btf_section(&data)?].to_vec()
        } else {
            data
        };
        let raw = Raw::parse(data)?;
        let composites = index_composites(&raw)?;
        Ok(Btf { raw, composites })
    }

    /// Reads at most `MAX_BTF_FILE` bytes of a regular file.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = read_bounded(path)?;
        Btf::from_bytes(data).map_err(|e| match e {
            BtfError::Malformed { path: None, reason } => BtfError::Malformed {
                path: Some(path.to_path_buf()),
                reason,
            },
            e => e,
        })
    }

    /// The external file if given, else the running kernel's BTF.
    pub fn load(external: Option<&Path>) -> Result<Btf, BtfError> {
        match external {
            Some(p) => Btf::from_file(p),
            None => Btf::from_file(Path::new(KERNEL_BTF)).map_err(|e| match e {
                // Without sysfs /sys/kernel is absent too; with it, only the BTF file is missing.
                BtfError::FileNotFound(p) if !Path::new("/sys/kernel").is_dir() => {
                    BtfError::SysfsNotMounted(p)
                }
                BtfError::FileNotFound(p) => BtfError::KernelBtfMissing(p),
                e => e,
            }),
        }
    }

    /// Byte offset of a member; `path` is dotted through embedded structs/unions, e.g.
    /// `member_offset("file", "f_path.dentry")`.
    pub fn member_offset(&self, ty: &str, path: &str) -> Result<u32, BtfError> {
        let m = self.member(ty, path)?;
        if m.offset_bits % 8 != 0 {
            let kind = self.kind_word(self.composite(ty)?)?;
            return Err(BtfError::NotByteAligned {
                kind,
                ty: ty.to_string(),
                path: path.to_string(),
                offset_bits: m.offset_bits,
            });
        }
        Ok(m.offset_bits / 8)
    }

    pub fn member(&self, ty: &str, path: &str) -> Result<MemberInfo, BtfError> {
        let root = self.composite(ty)?;
        let kind = self.kind_word(root)?;
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(BtfError::BadPath(path.to_string()));
        }
        let mut cur = root;
        let mut base_bits = 0u32;
        let mut found = None;
        let mut consumed = 0usize;
        for (i, part) in path.split('.').enumerate() {
            if i > 0 {
                let prev: &Found = found
                    .as_ref()
                    .ok_or_else(|| BtfError::BadPath(path.into()))?;
                let t = self.strip(prev.type_id)?;
                let k = self.raw.ty(t)?.kind;
                if prev.bitfield_bits != 0 || (k != KIND_STRUCT && k != KIND_UNION) {
                    return Err(BtfError::NotEmbedded {
                        kind,
                        ty: ty.to_string(),
                        path: path[..consumed - 1].to_string(),
                    });
                }
                cur = t;
                base_bits = prev.offset_bits;
            }
            consumed += part.len() + 1;
            found = Some(
                self.find_in(cur, part.as_bytes(), base_bits, 0)?
                    .ok_or_else(|| BtfError::NoMember {
                        kind,
                        ty: ty.to_string(),
                        path: path.to_string(),
                    })?,
            );
        }
        let f = found.ok_or_else(|| BtfError::BadPath(path.to_string()))?;
        Ok(MemberInfo {
            offset_bits: f.offset_bits,
            bitfield_bits: f.bitfield_bits,
            size: self.type_size(f.type_id, 0)?,
            type_id: self.strip(f.type_id)?,
        })
    }

    pub fn has_member(&self, ty: &str, path: &str) -> bool {
        self.member(ty, path).is_ok()
    }

    /// Whether a BTF FUNC named `name` exists (e.g. "vfs_write"). A scan (about 1 ms on vmlinux)
    /// costs less than indexing its ~60k functions for the few names filespy asks about.
    pub fn has_function(&self, name: &str) -> bool {
        self.function_id(name).is_some()
    }

    /// The type id of BTF FUNC `name`: what a kfunc call names (`bpf_rdonly_cast`).
    pub fn function_id(&self, name: &str) -> Option<u32> {
        let name = name.as_bytes();
        (1..self.raw.type_count() as u32).find(|&id| {
            self.raw
                .ty(id)
                .is_ok_and(|t| t.kind == KIND_FUNC && self.raw.name_is(t.name_off, name))
        })
    }

    /// The type id of STRUCT `name` (its complete definition): what `bpf_rdonly_cast` casts to.
    pub fn struct_id(&self, name: &str) -> Option<u32> {
        let id = *self.composites.get(name.as_bytes())?;
        self.raw
            .ty(id)
            .is_ok_and(|t| t.kind == KIND_STRUCT && t.size_or_type != 0)
            .then_some(id)
    }

    /// The signature of BTF FUNC `name` (its FUNC_PROTO): each parameter's name and shape, and the
    /// return's; `None` when there is no such function. Kprobe programs find their arguments by
    /// parameter name, since positions moved between kernels (`vfs_*` gained a first argument twice).
    pub fn function_signature(&self, name: &str) -> Result<Option<Signature>, BtfError> {
        let want = name.as_bytes();
        let Some(func) = (1..self.raw.type_count() as u32).find(|&id| {
            self.raw
                .ty(id)
                .is_ok_and(|t| t.kind == KIND_FUNC && self.raw.name_is(t.name_off, want))
        }) else {
            return Ok(None);
        };
        let proto_id = self.raw.ty(func)?.size_or_type;
        let proto = self.raw.ty(proto_id)?;
        if proto.kind != KIND_FUNC_PROTO {
            return Err(bad(format!(
                "function {name} refers to type {proto_id}, not a FUNC_PROTO"
            )));
        }
        let mut params = Vec::with_capacity(proto.vlen as usize);
        for i in 0..proto.vlen as usize {
            let pname = self.raw.extra_u32(&proto, 2 * i)?;
            let ty = self.raw.extra_u32(&proto, 2 * i + 1)?;
            params.push(Param {
                name: String::from_utf8_lossy(self.raw.name(pname)?).into_owned(),
                shape: self.shape(ty)?,
            });
        }
        Ok(Some(Signature {
            params,
            ret: self.shape(proto.size_or_type)?,
        }))
    }

    /// What a value of type `id` looks like in a register.
    fn shape(&self, id: u32) -> Result<Shape, BtfError> {
        let id = self.strip(id)?;
        if id == 0 {
            return Ok(Shape::Void);
        }
        let t = self.raw.ty(id)?;
        Ok(match t.kind {
            KIND_PTR => Shape::Pointer,
            KIND_INT => {
                let enc = self.raw.extra_u32(&t, 0)?;
                Shape::Int {
                    size: t.size_or_type,
                    signed: enc >> 24 & 1 != 0,
                }
            }
            KIND_ENUM | KIND_ENUM64 => Shape::Int {
                size: t.size_or_type,
                signed: t.kind_flag,
            },
            _ => Shape::Other,
        })
    }

    pub fn struct_size(&self, ty: &str) -> Result<u32, BtfError> {
        Ok(self.raw.ty(self.composite(ty)?)?.size_or_type)
    }

    fn composite(&self, ty: &str) -> Result<u32, BtfError> {
        self.composites
            .get(ty.as_bytes())
            .copied()
            .ok_or_else(|| BtfError::NoType(ty.to_string()))
    }

    fn kind_word(&self, id: u32) -> Result<&'static str, BtfError> {
        Ok(match self.raw.ty(id)?.kind {
            KIND_UNION => "union",
            _ => "struct",
        })
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the type that has a layout.
    fn strip(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok(0);
            }
            let t = self.raw.ty(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(too_deep(id))
    }

    fn type_size(&self, id: u32, depth: u32) -> Result<u32, BtfError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let id = self.strip(id)?;
        let t = self.raw.ty(id)?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                Ok(t.size_or_type)
            }
            // BTF does not record pointer width; filespy's kernels are all 64-bit.
            KIND_PTR => Ok(8),
            KIND_ARRAY => {
                let elem = self.raw.extra_u32(&t, 0)?;
                let nelems = self.raw.extra_u32(&t, 2)?;
                self.type_size(elem, depth + 1)?
                    .checked_mul(nelems)
                    .ok_or_else(|| bad(format!("array type {id} is larger than 4 GiB")))
            }
            k => Err(bad(format!("type {id} of kind {k} has no size"))),
        }
    }

    /// Looks for `name` among the members of STRUCT/UNION `id`, descending into anonymous
    /// struct/union members as C does.
    fn find_in(
        &self,
        id: u32,
        name: &[u8],
        base_bits: u32,
        depth: u32,
    ) -> Result<Option<Found>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let t = self.raw.ty(id)?;
        if t.kind != KIND_STRUCT && t.kind != KIND_UNION {
            return Err(bad(format!("type {id} is not a struct or union")));
        }
        for i in 0..t.vlen {
            let m = self.raw.member(&t, i)?;
            // kind_flag: offset packs the bit offset (low 24 bits) and bitfield size (high 8).
            let (off, mut bits) = if t.kind_flag {
                (m.offset & 0x00ff_ffff, m.offset >> 24)
            } else {
                (m.offset, 0)
            };
            let mut offset_bits = base_bits
                .checked_add(off)
                .ok_or_else(|| bad(format!("member offset overflows in type {id}")))?;
            let mname = self.raw.name(m.name_off)?;
            if mname == name {
                if !t.kind_flag {
                    // Legacy encoding: a bitfield is told by its INT's own bit offset and width.
                    let sid = self.strip(m.type_id)?;
                    let mt = self.raw.ty(sid)?;
                    if mt.kind == KIND_INT {
                        let enc = self.raw.extra_u32(&mt, 0)?;
                        let (nr_bits, int_off) = (enc & 0xff, (enc >> 16) & 0xff);
                        if int_off != 0 || nr_bits != mt.size_or_type.saturating_mul(8) {
                            bits = nr_bits;
                            offset_bits = offset_bits.checked_add(int_off).ok_or_else(|| {
                                bad(format!("member offset overflows in type {id}"))
                            })?;
                        }
                    }
                }
                return Ok(Some(Found {
                    offset_bits,
                    bitfield_bits: bits,
                    type_id: m.type_id,
                }));
            }
            if mname.is_empty() {
                let inner = self.strip(m.type_id)?;
                let k = self.raw.ty(inner)?.kind;
                if k == KIND_STRUCT || k == KIND_UNION {
                    if let Some(f) = self.find_in(inner, name, offset_bits, depth + 1)? {
                        return Ok(Some(f));
                    }
                }
            }
        }
        Ok(None)
    }
}

fn bad(reason: String) -> BtfError {
    BtfError::Malformed { path: None, reason }
}

fn too_deep(id: u32) -> BtfError {
    bad(format!(
        "type {id}: typedef or nesting chain deeper than {MAX_DEPTH} (cyclic?)"
    ))
}

/// The whole of a regular file, refusing anything else or anything bigger than `MAX_BTF_FILE`. The
/// size is checked on the open descriptor and the read is bounded too, since a file can grow while
/// read. O_NONBLOCK: opening a FIFO must not wait for a writer.
fn read_bounded(path: &Path) -> Result<Vec<u8>, BtfError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => BtfError::FileNotFound(path.to_path_buf()),
        _ => BtfError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else {
            "a special file"
        };
        return Err(BtfError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    let too_large = |size| BtfError::TooLarge {
        path: path.to_path_buf(),
        size,
    };
    if meta.len() > MAX_BTF_FILE {
        return Err(too_large(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_BTF_FILE + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_BTF_FILE {
        return Err(too_large(data.len() as u64));
    }
    Ok(data)
}

/// Name -> STRUCT/UNION id. Duplicated names keep the first complete (non-zero-size) STRUCT,
/// else the first complete UNION, else the first seen.
fn index_composites(raw: &Raw) -> Result<HashMap<Box<[u8]>, u32>, BtfError> {
    let rank = |t: &TypeRec| (t.size_or_type != 0) as u8 * 2 + (t.kind == KIND_STRUCT) as u8;
    let mut map: HashMap<Box<[u8]>, u32> = HashMap::with_capacity(raw.type_count() / 8);
    for id in 1..raw.type_count() as u32 {
        let t = raw.ty(id)?;
        if (t.kind != KIND_STRUCT && t.kind != KIND_UNION) || t.name_off == 0 {
            continue;
        }
        let name = raw.name(t.name_off)?;
        if name.is_empty() {
            continue;
        }
        match map.get_mut(name) {
            None => {
                map.insert(name.into(), id);
            }
            Some(old) => {
                if rank(&t) > rank(&raw.ty(*old)?) {
                    *old = id;
                }
            }
        }
    }
    Ok(map)
}
