//! The floor of a set of hooks for `make bench`: empty programs (`return 0`) attached where filespy's
//! programs go, so the cost of the hooks themselves can be told from the cost of what filespy does in
//! them.
//!
//!   bench_floor HOOK...     HOOK: tracepoint/CATEGORY/NAME, kprobe/FUNC or kretprobe/FUNC
//!
//! Prints `ready` on stdout once every program is attached, then waits for SIGINT or SIGTERM (the
//! bench stops it so), detaches and exits 0.

use bpfasm::{Asm, Reg};
use filespy::attach::{self, KprobeMethod};
use filespy::sys::prog::{Prog, ProgType};
use std::io::Write;
use std::process::ExitCode;

fn run() -> Result<(), String> {
    let hooks: Vec<String> = std::env::args().skip(1).collect();
    if hooks.is_empty() {
        return Err(
            "usage: bench_floor HOOK... (tracepoint/CAT/NAME, kprobe/FUNC, kretprobe/FUNC)".into(),
        );
    }
    // Blocked before attaching, taken by sigwait after: a stop at any time ends the wait.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mut a = Asm::new();
    a.mov64(Reg::R0, 0).exit();
    let bytes = a.finish().map_err(|e| e.to_string())?.to_bytes();
    let mut links = Vec::new();
    let mut progs = Vec::new();
    for h in &hooks {
        let parts: Vec<&str> = h.split('/').collect();
        let ty = match parts[0] {
            "tracepoint" => ProgType::Tracepoint,
            "kprobe" | "kretprobe" => ProgType::Kprobe,
            _ => return Err(format!("{h}: not tracepoint/…, kprobe/… or kretprobe/…")),
        };
        let prog = Prog::load(ty, "bench_floor", &bytes).map_err(|e| format!("{h}: {e}"))?;
        let link = match parts.as_slice() {
            ["tracepoint", cat, name] => attach::attach_tracepoint(&prog, cat, name),
            ["kprobe", f] => attach::attach_kprobe(&prog, f, false, KprobeMethod::Auto),
            ["kretprobe", f] => attach::attach_kprobe(&prog, f, true, KprobeMethod::Auto),
            _ => return Err(format!("{h}: malformed")),
        }
        .map_err(|e| format!("{h}: {e}"))?;
        links.push(link);
        progs.push(prog);
    }
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sig = 0;
    unsafe { libc::sigwait(&set, &mut sig) };
    drop(links);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
