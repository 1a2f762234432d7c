//! filespy's generated programs load and count on the running kernel: the kprobe path in the VMs, the
//! tracepoint path on the host.

#[path = "common/kernel.rs"]
mod kernel;

use filespy::bpf::layout::{
    MERGE_KEY_LEN, MERGE_VALUE_LEN, MVAL_BYTES, MVAL_COUNT, STAT_FAILED, STAT_FILTERED,
    STAT_MERGED, STAT_OUTPUT_ERR,
};
use filespy::btf::Btf;
use filespy::cli::AttachMode;
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
