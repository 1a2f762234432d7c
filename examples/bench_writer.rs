//! Workload for `make bench`: 64-byte write(2)s to one file, either as fast as possible or at a set rate.
//!
//!   bench_writer loop PATH N          N writes in a tight loop; prints `ns_per_write=F wall_ns_per_write=F
//!                                     writes=N` (ns_per_write is this thread's CPU time, which the in-syscall
//!                                     BPF programs are charged to; it ignores time spent preempted by other
//!                                     load on the machine, unlike the wall figure)
//!   bench_writer read PATH N          N 64-byte pread(2)s at offset 0 of PATH (which must hold 64 bytes)
//!                                     in a tight loop; prints `ns_per_read=F wall_ns_per_read=F reads=N`
//!   bench_writer rate PATH RATE SECS [THREADS]
//!                                     RATE writes/s in all for SECS seconds, split over THREADS threads
//!                                     (default 1) writing a.0.log, a.1.log, … for a.log; prints `writes=N rate=F`
//!
//!   bench_writer uring-nop N          N io_uring NOP requests, each submitted and waited for: the
//!                                     completions filespy's io_uring program sees and drops (no file);
//!                                     prints `ns_per_op=F wall_ns_per_op=F ops=N`
//!   bench_writer getppid N            N getppid(2)s: a syscall no filespy program hooks; prints
//!                                     `ns_per_op=F wall_ns_per_op=F ops=N`
//!   bench_writer splice-pipe N        N splice(2)s of 64 bytes between two pipes (pipe to pipe: no file,
//!                                     but on a hooked syscall); prints `ns_per_op=F wall_ns_per_op=F ops=N`
//!
//! Raw libc calls so the loop measures the syscall and nothing of std's buffering.

// The tests' raw io_uring client (no liburing).
#[path = "../tests/common/uring.rs"]
mod uring;

use std::ffi::CString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const CHUNK: [u8; 64] = *b"filespy bench: sixty-four bytes of payload per write(2) call...\n";

fn open(path: &str) -> Result<i32, String> {
    let c = CString::new(path).map_err(|_| format!("{path:?}: contains NUL"))?;
    // SAFETY: c is a valid NUL-terminated string; the flags and mode are plain integers.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(format!("{path}: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

fn write_once(fd: i32) -> Result<(), String> {
    // SAFETY: CHUNK is a live 64-byte buffer for the duration of the call.
    let n = unsafe { libc::write(fd, CHUNK.as_ptr().cast(), CHUNK.len()) };
    if n != CHUNK.len() as isize {
        return Err(format!("write: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn number<T: std::str::FromStr>(s: Option<String>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse()
        .map_err(|_| format!("{what}: {s:?} is not a number"))
}

/// CPU time of the calling thread (user + system), in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn tight_loop(path: &str, n: u64) -> Result<(), String> {
    let fd = open(path)?;
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        write_once(fd)?;
    }
    let cpu = thread_cpu_ns() - cpu;
    let wall = start.elapsed().as_nanos() as f64;
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    let n = n.max(1) as f64;
    println!(
        "ns_per_write={:.1} wall_ns_per_write={:.1} writes={n}",
        cpu as f64 / n,
        wall / n
    );
    Ok(())
}

fn read_loop(path: &str, n: u64) -> Result<(), String> {
    let c = CString::new(path).map_err(|_| format!("{path:?}: contains NUL"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("{path}: {}", std::io::Error::last_os_error()));
    }
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        // SAFETY: buf is a live 64-byte buffer for the duration of the call.
        let got = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got != buf.len() as isize {
            return Err(format!(
                "pread: {got} ({})",
                std::io::Error::last_os_error()
            ));
        }
    }
    let cpu = thread_cpu_ns() - cpu;
    let wall = start.elapsed().as_nanos() as f64;
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    let n = n.max(1) as f64;
    println!(
        "ns_per_read={:.1} wall_ns_per_read={:.1} reads={n}",
        cpu as f64 / n,
        wall / n
    );
    Ok(())
}

/// Times `n` runs of `op` on this thread's CPU clock and prints the per-op figures.
fn timed_ops(n: u64, mut op: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        op()?;
    }
    let cpu = thread_cpu_ns() - cpu;
    let wall = start.elapsed().as_nanos() as f64;
    let n = n.max(1) as f64;
    println!(
        "ns_per_op={:.1} wall_ns_per_op={:.1} ops={n}",
        cpu as f64 / n,
        wall / n
    );
    Ok(())
}

fn uring_nops(n: u64) -> Result<(), String> {
    let ring = uring::Ring::new().map_err(|e| format!("io_uring_setup: {e}"))?;
    timed_ops(n, || match ring.run(uring::Sqe::default()) {
        Ok(0) => Ok(()),
        Ok(res) => Err(format!("NOP completed with {res}")),
        Err(e) => Err(format!("io_uring_enter: {e}")),
    })
}

fn splice_pipes(n: u64) -> Result<(), String> {
    let mut a = [0i32; 2];
    let mut b = [0i32; 2];
    // SAFETY: a and b are valid 2-int arrays for pipe(2) to fill.
    if unsafe { libc::pipe(a.as_mut_ptr()) } != 0 || unsafe { libc::pipe(b.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    write_once(a[1])?;
    // The same 64 bytes go a → b, then b → a: every call moves them, none touches a file.
    let mut forth = true;
    timed_ops(n, || {
        let (from, to) = if forth { (a[0], b[1]) } else { (b[0], a[1]) };
        forth = !forth;
        // SAFETY: plain fds and null offsets (pipes have none).
        let moved =
            unsafe { libc::splice(from, std::ptr::null_mut(), to, std::ptr::null_mut(), 64, 0) };
        match moved {
            64 => Ok(()),
            _ => Err(format!(
                "splice: {moved} ({})",
                std::io::Error::last_os_error()
            )),
        }
    })
}

/// Paces writes against the clock: each slice catches up to `rate * elapsed`, then naps briefly, so the
/// rate holds on average without a timer syscall per write.
fn paced(path: &str, rate: u64, secs: f64, start: Instant) -> Result<u64, String> {
    let fd = open(path)?;
    let total = Duration::from_secs_f64(secs);
    let mut done: u64 = 0;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= total {
            break;
        }
        let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
        if done >= due {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        // Bounded bursts keep the clock checks frequent enough to stop on time.
        for _ in 0..(due - done).min(4096) {
            write_once(fd)?;
            done += 1;
        }
    }
    // SAFETY: fd was opened above and is closed once.
    unsafe { libc::close(fd) };
    Ok(done)
}

/// One paced writer per thread (unnamed, so each keeps the process's comm for `--comm` filters).
fn paced_threads(path: &str, rate: u64, secs: f64, threads: u64) -> Result<(), String> {
    if threads == 0 {
        return Err("THREADS must be at least 1".into());
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            // One file per thread, keeping the extension last so extension filters still match.
            let p = match path.rsplit_once('.') {
                _ if threads == 1 => path.to_string(),
                Some((stem, ext)) if !ext.contains('/') => format!("{stem}.{i}.{ext}"),
                _ => format!("{path}.{i}"),
            };
            let r = rate / threads + u64::from(i < rate % threads);
            std::thread::spawn(move || paced(&p, r, secs, start))
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.join().map_err(|_| "writer thread panicked")??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("writes={done} rate={:.0}", done as f64 / secs);
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let path = args.next().unwrap_or_default();
    let r = match mode.as_str() {
        "loop" => number(args.next(), "N").and_then(|n| tight_loop(&path, n)),
        "read" => number(args.next(), "N").and_then(|n| read_loop(&path, n)),
        // These two take N where the others take PATH.
        "uring-nop" => number(Some(path.clone()), "N").and_then(uring_nops),
        "splice-pipe" => number(Some(path.clone()), "N").and_then(splice_pipes),
        "getppid" => number(Some(path.clone()), "N").and_then(|n| {
            timed_ops(n, || {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
                Ok(())
            })
        }),
        "rate" => number(args.next(), "RATE").and_then(|rate| {
            let secs = number::<f64>(args.next(), "SECS")?;
            let threads = match args.next() {
                Some(t) => number(Some(t), "THREADS")?,
                None => 1,
            };
            paced_threads(&path, rate, secs, threads)
        }),
        _ => Err(
            "usage: bench_writer loop PATH N | read PATH N | rate PATH RATE SECS [THREADS] \
             | uring-nop N | splice-pipe N | getppid N"
                .into(),
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_writer: {e}");
            ExitCode::FAILURE
        }
    }
}
