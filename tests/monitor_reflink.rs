//! Copies on a file system that clones: XFS with reflink, on a loop device of this host. A
//! `copy_file_range` there shares the source's extents instead of moving bytes, and is still a write
//! of the bytes that land in the destination; coreutils `cp` clones with the `FICLONE` ioctl, which
//! filespy does not see (README, "Not seen"), and `cp --reflink=never` writes. Host only (the VMs have
//! no mkfs.xfs): not a `kernel_*` test. Needs root and xfsprogs (scripts/test-deps.sh).

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An XFS file system with reflink on a loop device, unmounted (and its device freed) on drop.
struct Xfs {
    mnt: PathBuf,
}

impl Xfs {
    fn new(dir: &TestDir) -> Xfs {
        let img = dir.join("xfs.img");
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        // 320 MiB: the smallest XFS that current mkfs.xfs makes. Sparse: it costs what is written.
        std::fs::File::create(&img)
            .unwrap()
            .set_len(320 << 20)
            .unwrap();
        run_ok(
            Command::new("mkfs.xfs")
                .args(["-q", "-f", "-m", "reflink=1"])
                .arg(&img),
        );
        run_ok(
            Command::new("mount")
                .args(["-o", "loop"])
                .arg(&img)
                .arg(&mnt),
        );
        Xfs { mnt }
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        // The loop device goes with the last unmount (autoclear).
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

/// Whether every extent of `path` is shared with another file (`filefrag -v` flags them `shared`).
fn extents_shared(path: &Path) -> bool {
    let out = run_ok(Command::new("filefrag").arg("-v").arg(path));
    let extents: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    !extents.is_empty() && extents.iter().all(|l| l.contains("shared"))
}

fn total_written(events: &[&Value]) -> u64 {
    events
        .iter()
        .map(|e| e["file"]["bytes_written"].as_u64().unwrap())
        .sum()
}

#[test]
fn copies_that_clone_are_writes_and_cp_clones_unseen() {
    require_root();
    let dir = TestDir::new("reflink");
    let fs = Xfs::new(&dir);
    let src = fs.mnt.join("big.txt");
    // Whole blocks, so that XFS shares every extent.
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    run_ok(&mut Command::new("sync"));
    let job = dir.join("tools/clone.py");
    std::fs::create_dir_all(job.parent().unwrap()).unwrap();
    std::fs::write(
        &job,
        "import os, sys\n\
         a = os.open(sys.argv[1], os.O_RDONLY)\n\
         b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n\
         while os.copy_file_range(a, b, 1 << 22) > 0:\n    pass\n",
    )
    .unwrap();
    let (cloned, by_cp, by_write) = (
        fs.mnt.join("cloned.txt"),
        fs.mnt.join("cp.txt"),
        fs.mnt.join("never.txt"),
    );
    let mon = Filespy::start(&["--path", fs.mnt.to_str().unwrap()], Out::Collect);
    run_ok(Command::new("python3").arg(&job).arg(&src).arg(&cloned));
    run_ok(Command::new("cp").arg(&src).arg(&by_cp));
    run_ok(
        Command::new("cp")
            .arg("--reflink=never")
            .arg(&src)
            .arg(&by_write),
    );
    let fin = mon.stop();
    let events = fin.events();

    // The clones are real: the file system shared the extents instead of copying them.
    run_ok(&mut Command::new("sync"));
    assert!(extents_shared(&cloned), "copy_file_range did not clone");
    assert!(extents_shared(&by_cp), "cp did not clone");
    assert!(!extents_shared(&by_write), "cp --reflink=never cloned");
    for p in [&cloned, &by_cp, &by_write] {
        assert_eq!(std::fs::read(p).unwrap(), data, "{}", p.display());
    }

    // copy_file_range that clones: the bytes landing in the destination, from the source, by the script.
    let evs = events_for(&events, &cloned);
    assert!(!evs.is_empty(), "no event for the clone: {events:?}");
    assert_eq!(total_written(&evs), data.len() as u64);
    let src_inode = std::fs::metadata(&src).unwrap().ino();
    for e in &evs {
        assert_eq!(e["via"], "copy_file_range", "{e}");
        assert_eq!(e["file"]["source_path"], src.to_str().unwrap(), "{e}");
        assert_eq!(e["file"]["source_inode"], src_inode, "{e}");
        assert_eq!(e["process"]["file_path"], job.to_str().unwrap(), "{e}");
    }
    // cp's FICLONE is no write (documented); --reflink=never reads and writes.
    assert!(
        events_for(&events, &by_cp).is_empty(),
        "FICLONE is not hooked: README's Not seen list must change if this is seen"
    );
    let evs = events_for(&events, &by_write);
    assert_eq!(total_written(&evs), data.len() as u64, "{evs:?}");
    assert!(evs
        .iter()
        .all(|e| e["via"] == "write" && e["process"]["name"] == "cp"));
    println!(
        "reflink: clone {} bytes in {} events; cp cloned unseen; cp --reflink=never {} events",
        data.len(),
        events_for(&events, &cloned).len(),
        evs.len()
    );
}
