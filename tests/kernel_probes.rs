//! filespy's generated programs load and count on the running kernel: the kprobe path in the VMs, the
//! tracepoint path on the host.

#[path = "common/kernel.rs"]
mod kernel;

use filespy::bpf::gen::{KERNEL_DIR_NAMES, KERNEL_DIR_NAMES_TOTAL};
use filespy::bpf::layout::{
    MERGE_KEY_LEN, MERGE_VALUE_LEN, MVAL_BYTES, MVAL_COUNT, STAT_FAILED, STAT_FILTERED,
    STAT_MERGED, STAT_OUTPUT_ERR,
};
use filespy::btf::Btf;
use filespy::cli::AttachMode;
use filespy::kinds::OpSet;
use filespy::offsets::KernelOffsets;
use filespy::probes::{choose_hook, Filters, HookKind, Probes};
use kernel::require_root;
use std::io::Write;

fn expected_hook() -> HookKind {
    let hook = choose_hook(AttachMode::Auto).expect("a hook");
    if std::env::var("FILESPY_EXPECT_KPROBE").as_deref() == Ok("1") {
        assert_eq!(
            hook,
            HookKind::Kprobe,
            "this kernel must use the kprobe path"
        );
    }
    hook
}

#[test]
fn programs_load_and_count_matching_filtered_and_failed_writes() {
    require_root();
    let btf = Btf::load(None).expect("BTF");
    let k = KernelOffsets::from_btf(&btf).expect("offsets");
    let hook = expected_hook();
    let me = std::process::id();
    let filters = Filters {
        exts: vec![b"txt".to_vec(), b"json".to_vec()],
        pids: vec![me],
        ..Default::default()
    };
    // self_tgid 0: the test process itself must be seen.
    let mut p = Probes::load(&k, hook, &filters, 0).unwrap_or_else(|e| panic!("load: {e}"));
    p.attach().unwrap_or_else(|e| panic!("attach: {e}"));
    let dir = std::env::temp_dir().join(format!("filespy-probes-{me}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut txt = std::fs::File::create(dir.join("a.txt")).unwrap();
    let mut bin = std::fs::File::create(dir.join("a.bin")).unwrap();
    let ro = std::fs::File::open(dir.join("a.txt")).unwrap();
    for _ in 0..10 {
        txt.write_all(b"hello").unwrap();
        bin.write_all(b"hello").unwrap();
    }
    // A write that fails (EBADF on a read-only fd) is counted, not reported.
    let rc = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(&ro),
            b"x".as_ptr().cast(),
            1,
        )
    };
    assert_eq!(rc, -1);
    p.detach();
    let s = p.stats().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    println!("hook {}: stats {s:?}", hook.name());
    // No perf buffer is open here, so every matching write reaches bpf_perf_event_output and fails
    // there: each is merged instead, into one entry (one process image, one file), with every call
    // and its bytes. That counts exactly the writes that passed every filter.
    assert_eq!(
        s[STAT_MERGED as usize], 10,
        "writes that passed the filters"
    );
    assert_eq!(s[STAT_OUTPUT_ERR as usize], 0, "none lost: merged");
    let mut key = vec![0u8; MERGE_KEY_LEN as usize];
    assert!(
        p.maps.merged.next_key(None, &mut key).unwrap(),
        "a merged entry"
    );
    let mut value = vec![0u8; MERGE_VALUE_LEN as usize];
    assert!(p.maps.merged.lookup(&key, &mut value).unwrap());
    let at = |off: i16| u64::from_ne_bytes(value[off as usize..][..8].try_into().unwrap());
    assert_eq!(
        (at(MVAL_COUNT), at(MVAL_BYTES)),
        (10, 50),
        "calls and bytes merged"
    );
    let mut next = key.clone();
    assert!(
        !p.maps.merged.next_key(Some(&key), &mut next).unwrap(),
        "only one entry"
    );
    assert!(s[STAT_FILTERED as usize] >= 10, "filtered");
    assert_eq!(s[STAT_FAILED as usize], 1, "failed writes");
}

/// The most directory names the walk takes (`KERNEL_DIR_NAMES`, `KERNEL_DIR_NAMES_TOTAL` bytes) load
/// into every kind's programs, and the kernel passes exactly the files with one of them among their
/// directories: each compared whole (a name of one, eight, nine and 31 bytes, so one to four words),
/// never the leaf, never a longer or a differing name.
#[test]
fn directory_names_pass_the_files_under_them_and_nothing_else() {
    require_root();
    let btf = Btf::load(None).expect("BTF");
    let k = KernelOffsets::from_btf(&btf).expect("offsets");
    let hook = expected_hook();
    let me = std::process::id();
    let long = format!("{}z", "l".repeat(30));
    let names: Vec<String> = [
        "secrets",
        "vault",
        "exactly8",
        "nine_char",
        "k",
        "mm",
        "n",
        &long,
    ]
    .map(String::from)
    .into();
    assert_eq!(names.len(), KERNEL_DIR_NAMES);
    assert_eq!(
        names.iter().map(String::len).sum::<usize>(),
        KERNEL_DIR_NAMES_TOTAL
    );
    let filters = Filters {
        all_files: true,
        pids: vec![me],
        dir_names: names.iter().map(|n| n.as_bytes().to_vec()).collect(),
        events: OpSet::all(),
        ..Default::default()
    };
    let mut p = Probes::load(&k, hook, &filters, 0).unwrap_or_else(|e| panic!("load: {e}"));
    p.attach().unwrap_or_else(|e| panic!("attach: {e}"));
    let dir = std::env::temp_dir().join(format!("filespy-dirnames-{me}"));
    let hits = [
        "exactly8/f".to_string(),
        format!("{long}/deep/f"),
        "nine_char/f".into(),
        "k/f".into(),
    ];
    let misses = [
        "exactly8x/f".to_string(),
        format!("{}y/f", &long[..30]),
        format!("m{}/f", &long[1..]),
        "nine_chaX/f".into(),
        "x/k".into(),
        "vaul/f".into(),
    ];
    const WRITES: usize = 3;
    for rel in hits.iter().chain(&misses) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = std::fs::File::create(&path).unwrap();
        for _ in 0..WRITES {
            f.write_all(b"x").unwrap();
        }
    }
    p.detach();
    let s = p.stats().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    println!("hook {}: stats {s:?}", hook.name());
    // No perf buffer is open: every write that passed is merged, so the merged count is those.
    assert_eq!(
        s[STAT_MERGED as usize],
        (hits.len() * WRITES) as u64,
        "the hits' writes passed, no miss's"
    );
    assert!(
        s[STAT_FILTERED as usize] >= (misses.len() * WRITES) as u64,
        "the misses' writes were filtered"
    );
}
