//! Unit tests on hand-built BTF blobs, plus fuzzing of the real kernel BTF.

use super::raw::*;
use super::*;

/// Assembles a BTF blob type by type, as pahole would emit it.
struct Builder {
    strs: Vec<u8>,
    types: Vec<u32>,
    next_id: u32,
    big_endian: bool,
    hdr_len: u32,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            strs: vec![0],
            types: Vec::new(),
            next_id: 1,
            big_endian: false,
            hdr_len: 24,
        }
    }

    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(name.as_bytes());
        self.strs.push(0);
        off
    }

    #[allow(clippy::too_many_arguments)]
    fn ty(&mut self, name: &str, kind: u8, kflag: bool, vlen: u16, st: u32, extra: &[u32]) -> u32 {
        let n = self.s(name);
        let info = ((kflag as u32) << 31) | ((kind as u32) << 24) | vlen as u32;
        self.types.extend_from_slice(&[n, info, st]);
        self.types.extend_from_slice(extra);
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        self.ty(name, KIND_INT, false, 0, size, &[size * 8])
    }

    fn wrap(&mut self, kind: u8, name: &str, target: u32) -> u32 {
        self.ty(name, kind, false, 0, target, &[])
    }

    /// Members are (name, type, bit offset, bitfield bits); kind_flag is set if any is a bitfield.
    fn composite(
        &mut self,
        kind: u8,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32, u32)],
    ) -> u32 {
        let kflag = members.iter().any(|m| m.3 != 0);
        let mut extra = Vec::new();
        for &(mname, t, off, bits) in members {
            let n = self.s(mname);
            extra.extend_from_slice(&[n, t, if kflag { (bits << 24) | off } else { off }]);
        }
        self.ty(name, kind, kflag, members.len() as u16, size, &extra)
    }

    fn build(&self) -> Vec<u8> {
        let word = |v: u32| {
            if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        let magic = if self.big_endian {
            MAGIC.to_be_bytes()
        } else {
            MAGIC.to_le_bytes()
        };
        out.extend_from_slice(&magic);
        out.extend_from_slice(&[1, 0]);
        let type_len = self.types.len() as u32 * 4;
        for v in [self.hdr_len, 0, type_len, type_len, self.strs.len() as u32] {
            out.extend_from_slice(&word(v));
        }
        out.resize(self.hdr_len as usize, 0);
        for &v in &self.types {
            out.extend_from_slice(&word(v));
        }
        out.extend_from_slice(&self.strs);
        out
    }
}

/// A small kernel-like world: typedef chains, anonymous unions/structs, bitfields, pointers.
fn sample(b: &mut Builder) {
    let u32_ = b.int("unsigned int", 4); // 1
    let u64_ = b.int("long long unsigned int", 8); // 2
    let char_ = b.int("char", 1); // 3
    let td = b.wrap(KIND_TYPEDEF, "__u32", u32_);
    let c = b.wrap(KIND_CONST, "", td);
    let v = b.wrap(KIND_VOLATILE, "", c);
    let tt = b.wrap(KIND_TYPE_TAG, "rcu", v);
    let u32_t = b.wrap(KIND_TYPEDEF, "u32", tt);
    let cchar = b.wrap(KIND_CONST, "", char_);
    let pchar = b.wrap(KIND_PTR, "", cchar);
    let hashlen = b.composite(
        KIND_STRUCT,
        "",
        8,
        &[("hash", u32_t, 0, 0), ("len", u32_t, 32, 0)],
    );
    let un = b.composite(
        KIND_UNION,
        "",
        8,
        &[("", hashlen, 0, 0), ("hash_len", u64_, 0, 0)],
    );
    let qstr = b.composite(
        KIND_STRUCT,
        "qstr",
        16,
        &[("", un, 0, 0), ("name", pchar, 64, 0)],
    );
    let cqstr = b.wrap(KIND_CONST, "", qstr);
    let arr = b.ty("", KIND_ARRAY, false, 0, 0, &[char_, u32_, 32]);
    let pself = b.wrap(KIND_PTR, "", 0);
    b.composite(
        KIND_STRUCT,
        "dentry",
        88,
        &[
            ("d_flags", u32_, 0, 0),
            ("d_seq", u32_, 32, 3),
            ("d_bit", u32_, 35, 1),
            ("d_parent", pself, 64, 0),
            ("d_name", cqstr, 128, 0),
            ("d_iname", arr, 256, 0),
            ("d_tail", u64_, 512, 0),
        ],
    );
    let proto = b.ty("", KIND_FUNC_PROTO, false, 1, 0, &[0, u32_]);
    b.wrap(KIND_FUNC, "vfs_write", proto);
}

fn sample_btf() -> Btf {
    let mut b = Builder::new();
    sample(&mut b);
    Btf::from_bytes(b.build()).expect("sample parses")
}

#[test]
fn typedef_chain_is_stripped() {
    let btf = sample_btf();
    let m = btf.member("qstr", "hash").unwrap();
    assert_eq!(
        m,
        MemberInfo {
            offset_bits: 0,
            bitfield_bits: 0,
            size: 4,
            type_id: 1
        }
    );
    assert_eq!(
        btf.member("dentry", "d_name").unwrap().type_id,
        13,
        "const qstr -> qstr"
    );
}

#[test]
fn anonymous_union_and_struct_are_descended() {
    let btf = sample_btf();
    assert_eq!(btf.member_offset("qstr", "len").unwrap(), 4);
    assert_eq!(btf.member_offset("qstr", "hash_len").unwrap(), 0);
    assert_eq!(btf.member_offset("qstr", "name").unwrap(), 8);
    assert_eq!(btf.member_offset("dentry", "d_name.len").unwrap(), 16 + 4);
    assert_eq!(btf.member_offset("dentry", "d_name.name").unwrap(), 16 + 8);
    assert_eq!(btf.member("dentry", "d_name.hash_len").unwrap().size, 8);
    assert_eq!(btf.struct_size("qstr").unwrap(), 16);
    assert_eq!(btf.struct_size("dentry").unwrap(), 88);
}

#[test]
fn bitfields_with_kind_flag() {
    let btf = sample_btf();
    let m = btf.member("dentry", "d_seq").unwrap();
    assert_eq!((m.offset_bits, m.bitfield_bits, m.size), (32, 3, 4));
    let m = btf.member("dentry", "d_bit").unwrap();
    assert_eq!((m.offset_bits, m.bitfield_bits), (35, 1));
    // A bitfield at a byte boundary still has a byte offset; one inside a byte does not.
    assert_eq!(btf.member_offset("dentry", "d_seq").unwrap(), 4);
    let e = btf.member_offset("dentry", "d_bit").unwrap_err();
    assert!(
        matches!(
            e,
            BtfError::NotByteAligned {
                offset_bits: 35,
                ..
            }
        ),
        "{e}"
    );
    // kind_flag struct: plain members keep plain offsets.
    assert_eq!(btf.member_offset("dentry", "d_tail").unwrap(), 64);
    assert_eq!(btf.member("dentry", "d_flags").unwrap().bitfield_bits, 0);
}

#[test]
fn legacy_int_encoded_bitfield() {
    let mut b = Builder::new();
    let u32_ = b.int("unsigned int", 4);
    // BTF_INT_OFFSET 2, 5 bits, in a kind_flag=0 struct.
    let bf = b.ty("unsigned int", KIND_INT, false, 0, 4, &[(2 << 16) | 5]);
    b.composite(KIND_STRUCT, "s", 8, &[("a", u32_, 0, 0), ("b", bf, 32, 0)]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    let m = btf.member("s", "b").unwrap();
    assert_eq!((m.offset_bits, m.bitfield_bits, m.size), (34, 5, 4));
    assert_eq!(btf.member("s", "a").unwrap().bitfield_bits, 0);
}

#[test]
fn array_and_pointer_sizes() {
    let btf = sample_btf();
    assert_eq!(btf.member("dentry", "d_iname").unwrap().size, 32);
    assert_eq!(btf.member("dentry", "d_parent").unwrap().size, 8);
    assert_eq!(btf.member_offset("dentry", "d_iname").unwrap(), 32);
}

#[test]
fn errors_read_well() {
    let btf = sample_btf();
    let e = btf.member_offset("dentry", "d_nope").unwrap_err();
    assert_eq!(e.to_string(), "BTF: struct dentry has no member d_nope");
    let e = btf.member_offset("dentry", "d_name.nope").unwrap_err();
    assert_eq!(
        e.to_string(),
        "BTF: struct dentry has no member d_name.nope"
    );
    let e = btf.member_offset("file", "f_path.dentry").unwrap_err();
    assert_eq!(e.to_string(), "BTF: no struct or union named file");
    let e = btf.member_offset("dentry", "d_parent.d_name").unwrap_err();
    assert_eq!(
        e.to_string(),
        "BTF: struct dentry: member d_parent is not an embedded struct or union (pointers are not followed)"
    );
    for p in ["", ".", "d_name.", ".d_name", "d_name..len"] {
        assert!(
            matches!(btf.member("dentry", p), Err(BtfError::BadPath(_))),
            "{p:?}"
        );
    }
    assert!(!btf.has_member("dentry", "d_inode"));
    assert!(btf.has_member("dentry", "d_name.len"));
}

#[test]
fn functions() {
    let btf = sample_btf();
    assert!(btf.has_function("vfs_write"));
    assert!(!btf.has_function("vfs_writ"));
    assert!(!btf.has_function("dentry"), "a struct is not a function");
}

#[test]
fn function_signatures_name_their_parameters() {
    let mut b = Builder::new();
    let int = b.ty("int", KIND_INT, false, 0, 4, &[1 << 24 | 32]);
    let uint = b.int("unsigned int", 4);
    let dentry = b.composite(KIND_STRUCT, "dentry", 8, &[("d_flags", uint, 0, 0)]);
    let pdentry = b.wrap(KIND_PTR, "", dentry);
    let umode = b.wrap(KIND_TYPEDEF, "umode_t", uint);
    let cpd = b.wrap(KIND_CONST, "", pdentry);
    let (d, m) = (b.s("dentry"), b.s("mode"));
    let proto = b.ty("", KIND_FUNC_PROTO, false, 2, int, &[d, cpd, m, umode]);
    b.wrap(KIND_FUNC, "vfs_mkdir", proto);
    let rproto = b.ty("", KIND_FUNC_PROTO, false, 1, pdentry, &[d, pdentry]);
    b.wrap(KIND_FUNC, "vfs_mkdir2", rproto);
    let vproto = b.ty("", KIND_FUNC_PROTO, false, 0, 0, &[]);
    b.wrap(KIND_FUNC, "nothing", vproto);
    b.wrap(KIND_FUNC, "broken", int);
    let btf = Btf::from_bytes(b.build()).unwrap();

    let sig = btf.function_signature("vfs_mkdir").unwrap().unwrap();
    assert_eq!(
        sig.ret,
        Shape::Int {
            size: 4,
            signed: true
        }
    );
    assert_eq!(sig.params.len(), 2);
    assert_eq!(sig.params[0].name, "dentry");
    assert_eq!(sig.params[0].shape, Shape::Pointer, "const is stripped");
    assert_eq!(
        sig.params[1].shape,
        Shape::Int {
            size: 4,
            signed: false
        },
        "typedefs are stripped"
    );
    assert_eq!(sig.position("mode"), Some(1));
    assert_eq!(sig.position("dir"), None);
    let sig = btf.function_signature("vfs_mkdir2").unwrap().unwrap();
    assert_eq!(sig.ret, Shape::Pointer);
    let sig = btf.function_signature("nothing").unwrap().unwrap();
    assert_eq!((sig.ret, sig.params.len()), (Shape::Void, 0));
    assert!(btf.function_signature("vfs_mkdi").unwrap().is_none());
    assert!(btf.function_signature("dentry").unwrap().is_none());
    assert!(btf
        .function_signature("broken")
        .unwrap_err()
        .to_string()
        .contains("not a FUNC_PROTO"));
}

#[test]
fn every_kind_has_the_right_record_size() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.wrap(KIND_PTR, "", int);
    b.ty("", KIND_ARRAY, false, 0, 0, &[int, int, 4]);
    b.composite(KIND_STRUCT, "st", 4, &[("x", int, 0, 0)]);
    b.composite(KIND_UNION, "un", 4, &[("x", int, 0, 0), ("y", int, 0, 0)]);
    b.ty("e", KIND_ENUM, false, 2, 4, &[1, 0, 1, 1]);
    b.ty("fw", KIND_FWD, false, 0, 0, &[]);
    b.wrap(KIND_TYPEDEF, "td", int);
    b.wrap(KIND_VOLATILE, "", int);
    b.wrap(KIND_CONST, "", int);
    b.wrap(KIND_RESTRICT, "", int);
    let proto = b.ty("", KIND_FUNC_PROTO, false, 2, int, &[0, int, 0, int]);
    b.ty("f", KIND_FUNC, false, 0, proto, &[]);
    let var = b.ty("v", KIND_VAR, false, 0, int, &[1]);
    b.ty(".data", KIND_DATASEC, false, 1, 4, &[var, 0, 4]);
    b.ty("double", KIND_FLOAT, false, 0, 8, &[]);
    b.ty("tag", KIND_DECL_TAG, false, 0, var, &[u32::MAX]);
    b.wrap(KIND_TYPE_TAG, "user", int);
    b.ty("e64", KIND_ENUM64, false, 2, 8, &[1, 0, 1, 1, 2, 3]);
    b.composite(
        KIND_STRUCT,
        "after",
        8,
        &[("a", int, 0, 0), ("b", int, 32, 0)],
    );
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert_eq!(btf.member_offset("after", "b").unwrap(), 4);
    assert_eq!(btf.struct_size("un").unwrap(), 4);
    assert!(btf.has_function("f"));
}

#[test]
fn big_endian_and_long_header() {
    let mut b = Builder::new();
    sample(&mut b);
    b.big_endian = true;
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert_eq!(btf.member_offset("dentry", "d_name.len").unwrap(), 20);
    b.big_endian = false;
    b.hdr_len = 40;
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert_eq!(btf.member_offset("dentry", "d_name.len").unwrap(), 20);
}

#[test]
fn duplicate_names_prefer_first_complete_struct() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.composite(KIND_STRUCT, "dup", 0, &[]);
    b.composite(KIND_UNION, "dup", 4, &[("u", int, 0, 0)]);
    b.composite(KIND_STRUCT, "dup", 8, &[("first", int, 32, 0)]);
    b.composite(KIND_STRUCT, "dup", 16, &[("second", int, 0, 0)]);
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert_eq!(btf.struct_size("dup").unwrap(), 8);
    assert!(btf.has_member("dup", "first"));
    assert!(!btf.has_member("dup", "second"));
}

#[test]
fn cycles_end_in_errors() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let td = b.wrap(KIND_TYPEDEF, "loop", 3); // id 2 -> 3 -> 2
    b.wrap(KIND_CONST, "", td);
    // An anonymous member whose type is its own struct (id 4).
    b.composite(
        KIND_STRUCT,
        "selfish",
        8,
        &[("", 4, 0, 0), ("x", int, 32, 0), ("t", td, 0, 0)],
    );
    let btf = Btf::from_bytes(b.build()).unwrap();
    assert!(btf.member("selfish", "nope").is_err());
    assert!(
        btf.member("selfish", "t").is_err(),
        "size of a cyclic typedef"
    );
}

#[test]
fn header_errors() {
    assert!(Btf::from_bytes(Vec::new()).is_err());
    assert!(Btf::from_bytes(vec![0x9f]).is_err());
    let e = Btf::from_bytes(b"garbage garbage garbage".to_vec())
        .err()
        .unwrap();
    assert!(e.to_string().contains("bad magic"), "{e}");
    let e = Btf::from_bytes(b"\x7fELF garbage garbage garbage".to_vec())
        .err()
        .unwrap();
    assert!(e.to_string().contains("ELF file"), "{e}");
    let mut good = Builder::new();
    sample(&mut good);
    let blob = good.build();
    let mut v = blob.clone();
    v[2] = 2;
    assert!(Btf::from_bytes(v)
        .err()
        .unwrap()
        .to_string()
        .contains("version"));
    let mut v = blob.clone();
    v[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // type_len
    assert!(Btf::from_bytes(v).is_err());
    let mut v = blob.clone();
    v[4..8].copy_from_slice(&7u32.to_le_bytes()); // hdr_len < 24
    assert!(Btf::from_bytes(v).is_err());
    let mut v = blob;
    let info_of_first_type = 24 + 4 + 3;
    v[info_of_first_type] = 0x1f; // kind 31
    assert!(Btf::from_bytes(v)
        .err()
        .unwrap()
        .to_string()
        .contains("unknown type kind"));
}

/// Runs every query filespy might make; on corrupt input they may fail but never panic.
fn exercise(btf: &Btf) -> usize {
    let queries = [
        ("dentry", "d_name.len"),
        ("dentry", "d_name.name"),
        ("dentry", "d_iname"),
        ("dentry", "d_seq"),
        ("dentry", "d_bit"),
        ("dentry", "d_parent.x"),
        ("qstr", "hash_len"),
        ("file", "f_path.dentry"),
        ("inode", "i_nlink"),
        ("task_struct", "mm"),
        ("mount", "mnt.mnt_root"),
        ("selfish", "nope"),
    ];
    let mut ok = 0;
    for (t, p) in queries {
        ok += btf.member(t, p).is_ok() as usize;
        let _ = btf.member_offset(t, p);
        let _ = btf.struct_size(t);
    }
    let _ = btf.has_function("vfs_write");
    let _ = btf.function_signature("vfs_write");
    ok
}

#[test]
fn exhaustive_mutations_of_a_tiny_blob_never_panic() {
    let mut b = Builder::new();
    sample(&mut b);
    let blob = b.build();
    for n in 0..blob.len() {
        assert!(
            Btf::from_bytes(blob[..n].to_vec()).is_err(),
            "prefix of {n} bytes parsed"
        );
    }
    let (mut parsed, mut rejected) = (0, 0);
    for i in 0..blob.len() {
        for val in [0u8, 1, 0x1f, 0x7f, 0x80, 0xff, blob[i] ^ 1, blob[i] ^ 0x40] {
            let mut v = blob.clone();
            v[i] = val;
            match Btf::from_bytes(v) {
                Ok(btf) => {
                    exercise(&btf);
                    parsed += 1;
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    rejected += 1;
                }
            }
        }
    }
    eprintln!("tiny blob mutations: {parsed} parsed, {rejected} rejected");
    assert!(rejected > 0 && parsed > 0);
}

/// xorshift64: deterministic, dependency-free randomness for the fuzzer.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn real_kernel_btf_survives_truncation_and_mutation() {
    let data = std::fs::read(KERNEL_BTF)
        .unwrap_or_else(|e| panic!("cannot read {KERNEL_BTF} (run as root on a BTF kernel): {e}"));
    let full = Btf::from_bytes(data.clone()).expect("the real file parses");
    assert!(exercise(&full) >= 5);
    let mut seed = 0x5eed_f11e_5b7f_u64;
    for _ in 0..24 {
        let n = (rng(&mut seed) % data.len() as u64) as usize;
        assert!(
            Btf::from_bytes(data[..n].to_vec()).is_err(),
            "prefix of {n} bytes parsed"
        );
    }
    // Mutate mostly the header and type section, where the structure lives.
    let type_end = 24 + u32::from_le_bytes([data[12], data[13], data[14], data[15]]) as usize;
    let (mut parsed, mut rejected) = (0, 0);
    for round in 0..40 {
        let mut v = data.clone();
        let flips = 1 + rng(&mut seed) % 16;
        for _ in 0..flips {
            let span = if round % 4 == 0 { 64 } else { type_end };
            let i = (rng(&mut seed) % span as u64) as usize;
            v[i] = rng(&mut seed) as u8;
        }
        match Btf::from_bytes(v) {
            Ok(btf) => {
                exercise(&btf);
                parsed += 1;
            }
            Err(_) => rejected += 1,
        }
    }
    eprintln!("real BTF mutations: {parsed} parsed, {rejected} rejected");
    let garbage: Vec<u8> = (0..4096).map(|_| rng(&mut seed) as u8).collect();
    assert!(Btf::from_bytes(garbage).is_err());
}

/// A minimal ELF (null section, .shstrtab, .BTF.ext decoy, .BTF) around `btf`.
fn elf_with_btf(btf: &[u8], class64: bool, big: bool) -> Vec<u8> {
    let put = |out: &mut Vec<u8>, v: u64, width: usize| {
        let b = v.to_be_bytes();
        let b = &b[8 - width..];
        if big {
            out.extend_from_slice(b)
        } else {
            out.extend(b.iter().rev())
        }
    };
    let word = if class64 { 8 } else { 4 };
    let (ehsize, shentsize) = if class64 { (64, 64) } else { (52, 40) };
    let names = b"\0.shstrtab\0.BTF.ext\0.BTF\0";
    let names_off = ehsize;
    let btf_off = names_off + names.len() as u64;
    let shoff = btf_off + btf.len() as u64;
    let mut out = b"\x7fELF".to_vec();
    out.extend_from_slice(&[if class64 { 2 } else { 1 }, if big { 2 } else { 1 }, 1]);
    out.resize(16, 0);
    put(&mut out, 1, 2); // e_type
    put(&mut out, 247, 2); // e_machine: BPF, any will do
    put(&mut out, 1, 4); // e_version
    put(&mut out, 0, word); // e_entry
    put(&mut out, 0, word); // e_phoff
    put(&mut out, shoff, word);
    put(&mut out, 0, 4); // e_flags
    put(&mut out, ehsize, 2);
    put(&mut out, 0, 2); // e_phentsize
    put(&mut out, 0, 2); // e_phnum
    put(&mut out, shentsize, 2);
    put(&mut out, 4, 2); // e_shnum
    put(&mut out, 1, 2); // e_shstrndx
    assert_eq!(out.len() as u64, ehsize);
    out.extend_from_slice(names);
    out.extend_from_slice(btf);
    // (name, offset, size) of each section header.
    for (name, off, size) in [
        (0, 0, 0),
        (1, names_off, names.len() as u64),
        (11, btf_off, 3),
        (20, btf_off, btf.len() as u64),
    ] {
        let start = out.len();
        put(&mut out, name, 4);
        put(&mut out, 1, 4); // sh_type
        put(&mut out, 0, word); // sh_flags
        put(&mut out, 0, word); // sh_addr
        put(&mut out, off, word);
        put(&mut out, size, word);
        out.resize(start + shentsize as usize, 0);
    }
    out
}

#[test]
fn btf_inside_an_elf_file() {
    let mut b = Builder::new();
    sample(&mut b);
    let blob = b.build();
    for (class64, big) in [(true, false), (false, true)] {
        let elf = elf_with_btf(&blob, class64, big);
        let btf = Btf::from_bytes(elf.clone()).expect("ELF with .BTF parses");
        assert_eq!(btf.member_offset("dentry", "d_name.len").unwrap(), 20);
        // The reader never looks at the tail of the last section header (link, info, align).
        let last_header = elf.len() - if class64 { 64 } else { 40 };
        for n in 0..elf.len() {
            let r = Btf::from_bytes(elf[..n].to_vec());
            assert!(
                n > last_header || r.is_err(),
                "ELF prefix of {n} bytes parsed"
            );
        }
        for i in 0..elf.len() {
            let mut v = elf.clone();
            v[i] ^= 0xff;
            if let Ok(btf) = Btf::from_bytes(v) {
                exercise(&btf);
            }
        }
    }
    let mut no_btf = elf_with_btf(&blob, true, false);
    let at = no_btf.windows(5).position(|w| w == b".BTF\0").unwrap();
    no_btf[at + 1] = b'X';
    let e = Btf::from_bytes(no_btf).err().unwrap();
    assert!(e.to_string().contains("no .BTF section"), "{e}");
}
