//! BPF maps: `Map` owns the map fd (closing it frees the map once no program holds it) and checks every
//! buffer size before the kernel reads or writes through it.

use super::bpf::{
    bpf_call, obj_name, sys_bpf, sys_bpf_fd, MapCreateAttr, MapElemAttr, MapInfoHead,
    ObjGetInfoAttr, ObjPathAttr, BPF_MAP_CREATE, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD, BPF_OBJ_PIN,
};
use super::cpus::nr_possible_cpus;
use super::error::SysError;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The map types filespy uses (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    Hash,
    Array,
    PerfEventArray,
    PercpuArray,
    /// A hash that evicts its least recently used entries when full (`BPF_MAP_TYPE_LRU_HASH`).
    LruHash,
}

impl MapType {
    pub fn raw(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::PerfEventArray => 4,
            MapType::PercpuArray => 6,
            MapType::LruHash => 9,
        }
    }

    pub fn is_percpu(self) -> bool {
        matches!(self, MapType::PercpuArray)
    }

    fn label(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PerfEventArray => "perf_event_array",
            MapType::PercpuArray => "percpu_array",
            MapType::LruHash => "lru_hash",
        }
    }
}

/// A BPF map.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    ty: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: String,
    /// Bytes of a user-space value buffer: `value_size`, or for per-CPU maps one 8-aligned slot per CPU.
    user_value_len: usize,
}

/// `BPF_F_NO_PREALLOC`: a hash map's elements are allocated on update and freed on delete.
pub const BPF_F_NO_PREALLOC: u32 = 1;

impl Map {
    /// Create a map. `name` is sanitised to what the kernel accepts (15 bytes of `[A-Za-z0-9_.]`).
    pub fn create(
        ty: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        name: &str,
    ) -> Result<Map, SysError> {
        Map::create_with_flags(ty, key_size, value_size, max_entries, 0, name)
    }

    /// `create` with `BPF_MAP_CREATE` flags (`BPF_F_NO_PREALLOC`: elements allocated on update).
    pub fn create_with_flags(
        ty: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        name: &str,
    ) -> Result<Map, SysError> {
        let user_value_len = if ty.is_percpu() {
            (value_size as usize).div_ceil(8) * 8 * nr_possible_cpus()?
        } else {
            value_size as usize
        };
        let mut attr = MapCreateAttr {
            map_type: ty.raw(),
            key_size,
            value_size,
            max_entries,
            map_flags,
            map_name: obj_name(name),
            ..Default::default()
        };
        let fd = sys_bpf_fd(BPF_MAP_CREATE, &mut attr).map_err(|errno| SysError::Os {
            op: format!(
                "BPF_MAP_CREATE {} '{name}' (key {key_size}, value {value_size}, {max_entries} entries)",
                ty.label()
            ),
            errno,
        })?;
        Ok(Map {
            fd,
            ty,
            key_size,
            value_size,
            max_entries,
            name: name.to_string(),
            user_value_len,
        })
    }

    pub fn map_type(&self) -> MapType {
        self.ty
    }
    pub fn key_size(&self) -> u32 {
        self.key_size
    }
    pub fn value_size(&self) -> u32 {
        self.value_size
    }
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Length of the value buffer `update`/`lookup` take: `round_up(value_size, 8) * possible CPUs` for
    /// per-CPU maps, else `value_size`.
    pub fn user_value_len(&self) -> usize {
        self.user_value_len
    }

    fn check(&self, op: &str, key: &[u8], value: Option<usize>) -> Result<(), SysError> {
        if key.len() != self.key_size as usize {
            return Err(SysError::Invalid(format!(
                "{op} on map '{}': key is {} bytes, the map's keys are {}",
                self.name,
                key.len(),
                self.key_size
            )));
        }
        if let Some(len) = value {
            if len != self.user_value_len {
                return Err(SysError::Invalid(format!(
                    "{op} on map '{}': value buffer is {len} bytes, needs {}",
                    self.name, self.user_value_len
                )));
            }
        }
        Ok(())
    }

    fn op_name(&self, op: &str) -> String {
        format!("{op} on {} map '{}'", self.ty.label(), self.name)
    }

    /// Set `key` to `value` (`flags`: BPF_ANY, BPF_NOEXIST, BPF_EXIST).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), SysError> {
        self.check("update", key, Some(value.len()))?;
        let mut attr = MapElemAttr {
            map_fd: self.fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags,
            ..Default::default()
        };
        bpf_call(BPF_MAP_UPDATE_ELEM, &mut attr, || {
            self.op_name("BPF_MAP_UPDATE_ELEM")
        })?;
        Ok(())
    }

    /// Read `key` into `value`; `Ok(false)` when there is no such entry.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, SysError> {
        self.check("lookup", key, Some(value.len()))?;
        let mut attr = MapElemAttr {
            map_fd: self.fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_mut_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(libc::ENOENT) => Ok(false),
            Err(errno) => Err(SysError::Os {
                op: self.op_name("BPF_MAP_LOOKUP_ELEM"),
                errno,
            }),
        }
    }

    /// The key after `key` (the first with None) into `next`; `Ok(false)` after the last.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, SysError> {
        if let Some(k) = key {
            self.check("next_key", k, None)?;
        }
        self.check("next_key", next, None)?;
        let mut attr = MapElemAttr {
            map_fd: self.fd() as u32,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => Ok(true),
            Err(libc::ENOENT) => Ok(false),
            Err(errno) => Err(SysError::Os {
                op: self.op_name("BPF_MAP_GET_NEXT_KEY"),
                errno,
            }),
        }
    }

    /// Remove `key`; `Ok(false)` when there was no such entry.
    pub fn delete(&self, key: &[u8]) -> Result<bool, SysError> {
        self.check("delete", key, None)?;
        let mut attr = MapElemAttr {
            map_fd: self.fd() as u32,
            key: key.as_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(libc::ENOENT) => Ok(false),
            Err(errno) => Err(SysError::Os {
                op: self.op_name("BPF_MAP_DELETE_ELEM"),
                errno,
            }),
        }
    }
}

impl Map {
    /// Pin the map at `path` in a BPF file system, so other processes can open it by path.
    pub fn pin(&self, path: &Path) -> Result<(), SysError> {
        let c = c_path(path)?;
        let mut attr = ObjPathAttr {
            pathname: c.as_ptr() as u64,
            bpf_fd: self.fd() as u32,
            file_flags: 0,
        };
        bpf_call(BPF_OBJ_PIN, &mut attr, || {
            format!("BPF_OBJ_PIN {}", path.display())
        })?;
        Ok(())
    }

    /// Open the map pinned at `path`, which must be of this type and these sizes (a pinned object is
    /// only made by a process with CAP_BPF, but it may be another program's map of another shape).
    pub fn open_pinned(
        path: &Path,
        ty: MapType,
        key_size: u32,
        value_size: u32,
        name: &str,
    ) -> Result<Map, SysError> {
        let c = c_path(path)?;
        let mut attr = ObjPathAttr {
            pathname: c.as_ptr() as u64,
            ..Default::default()
        };
        let fd = sys_bpf_fd(BPF_OBJ_GET, &mut attr).map_err(|errno| SysError::Os {
            op: format!("BPF_OBJ_GET {}", path.display()),
            errno,
        })?;
        let mut info = MapInfoHead::default();
        let mut attr = ObjGetInfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<MapInfoHead>() as u32,
            info: &mut info as *mut MapInfoHead as u64,
        };
        bpf_call(BPF_OBJ_GET_INFO_BY_FD, &mut attr, || {
            format!("BPF_OBJ_GET_INFO_BY_FD {}", path.display())
        })?;
        if (info.map_type, info.key_size, info.value_size) != (ty.raw(), key_size, value_size) {
            return Err(SysError::Invalid(format!(
                "{} is not a {} map with {key_size}-byte keys and {value_size}-byte values",
                path.display(),
                ty.label()
            )));
        }
        Ok(Map {
            fd,
            ty,
            key_size,
            value_size,
            max_entries: info.max_entries,
            name: name.to_string(),
            user_value_len: value_size as usize,
        })
    }
}

impl Map {
    /// Another handle on the same map (the fd duplicated).
    pub fn try_clone(&self) -> Result<Map, SysError> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| SysError::from_io(format!("dup map '{}'", self.name), &e))?;
        Ok(Map {
            fd,
            ty: self.ty,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            name: self.name.clone(),
            user_value_len: self.user_value_len,
        })
    }
}

fn c_path(path: &Path) -> Result<CString, SysError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::Invalid(format!("{} contains NUL", path.display())))
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
