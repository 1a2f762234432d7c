//! Start-up and footprint of filespy for `make bench`: time from exec to the `ready` line, then RSS at
//! ready, and after a burst of matching writes has been delivered (steady state).
//!
//!   bench_startup FILESPY DIR WRITES [ARGS...]
//!
//! Runs `FILESPY --path DIR -o /dev/null ARGS...`, writes WRITES 64-byte records to DIR/startup.log,
//! waits a second, stops it with SIGINT and prints
//! `ready_ms=F ready_cpu_ms=F rss_ready_kib=N hwm_kib=N rss_steady_kib=N` (ready_cpu_ms: CPU time filespy
//! used until ready, user + kernel, which includes the verifier's work on its programs).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// CPU time a process has run so far (ns), from /proc/PID/schedstat: unlike the wall time to ready, it
/// does not count time spent waiting for a CPU when other jobs load the machine.
fn cpu_ns(pid: u32) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .map_err(|e| format!("/proc/{pid}/schedstat: {e}"))?;
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("bad /proc/{pid}/schedstat: {s:?}"))
}

/// `VmRSS`/`VmHWM` of a process, in KiB.
fn status_kib(pid: u32, key: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_startup FILESPY DIR WRITES [ARGS...]";
    let bin = args.next().ok_or(usage)?;
    let dir = args.next().ok_or(usage)?;
    let writes: u64 = args
        .next()
        .ok_or(usage)?
        .parse()
        .map_err(|_| "WRITES is not a number")?;
    let extra: Vec<String> = args.collect();

    let start = Instant::now();
    let mut child = Command::new(&bin)
        .args(["--path", &dir, "-o", "/dev/null"])
        .args(&extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr pipe")?).lines();
    let ready = loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("filespy: ready") => break start.elapsed(),
            Some(Ok(_)) => {}
            _ => {
                let _ = child.wait();
                return Err("filespy exited before its ready line".into());
            }
        }
    };
    // Keep reading stderr so filespy never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let ready_cpu = cpu_ns(pid)?;
    let rss_ready = status_kib(pid, "VmRSS:")?;

    let path = format!("{dir}/startup.log");
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?;
    let chunk = [b'x'; 64];
    for _ in 0..writes {
        f.write_all(&chunk).map_err(|e| format!("{path}: {e}"))?;
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss_steady = status_kib(pid, "VmRSS:")?;
    let hwm = status_kib(pid, "VmHWM:")?;

    // SAFETY: pid is our own live child (not yet waited for).
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = drain.join();
    if !status.success() {
        return Err(format!("filespy ended with {status}"));
    }
    println!(
        "ready_ms={:.1} ready_cpu_ms={:.1} rss_ready_kib={rss_ready} hwm_kib={hwm} rss_steady_kib={rss_steady}",
        ready.as_secs_f64() * 1e3,
        ready_cpu as f64 / 1e6
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_startup: {e}");
            ExitCode::FAILURE
        }
    }
}
