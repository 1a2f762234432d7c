//! filespy as a library: watch the file-integrity operations (write, create, delete, rename, chmod, ...)
//! of every file under a directory and print one line per event: op, path, process and script. Ctrl-C
//! (or `COUNT` events) ends the run cleanly, with the probes detached and the totals printed.
//!
//!   sudo cargo run --example watch_etc [DIR] [COUNT]     (default: /etc, no limit)

use filespy::event::Event;
use filespy::kinds::{Group, OpSet};
use filespy::pipeline::{Monitor, Options};
use filespy::sys::signal::SignalFd;
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

fn line(event: &Event, script: Option<&[u8]>) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut s = format!(
        "{:<8} {} by {} (pid {}, uid {})",
        event.op.name(),
        text(&event.file.path),
        text(&event.process.comm),
        event.process.pid,
        event.process.uid
    );
    if let Some(old) = &event.file.old_path {
        s += &format!(", from {}", text(old));
    }
    if let Some(script) = script {
        s += &format!(", script {}", text(script));
    }
    s
}

fn run(dir: &str, count: Option<u64>) -> Result<(), String> {
    // Before the monitor starts: Ctrl-C and SIGTERM become readable on this fd instead of killing us.
    let signals = SignalFd::new().map_err(|e| format!("signalfd: {e}"))?;
    let opts = Options {
        kinds: OpSet::group(Group::Fim),
        all_files: true,
        extensions: Vec::new(),
        paths: vec![dir.into()],
        ..Options::default()
    };
    let mut monitor = Monitor::open(&opts)?;
    eprintln!(
        "watching {dir} ({} hook, {} CPUs); Ctrl-C to stop",
        monitor.hook().name(),
        monitor.cpus()
    );
    let mut seen = 0u64;
    let mut print = |event: &Event, script: Option<&[u8]>| {
        println!("{}", line(event, script));
        seen += 1;
        match count.is_some_and(|n| seen >= n) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    };
    loop {
        let wake = monitor.poll(100, Some(signals.as_raw_fd()), &mut print)?;
        let limit_reached = count.is_some_and(|n| monitor.counters().delivered >= n);
        if wake.extra || limit_reached {
            break;
        }
    }
    // What the probes sent before they were detached is still printed (unless COUNT was reached).
    monitor.finish(&mut print);
    let stats = monitor.stats();
    eprintln!("{} events, {} lost", stats.events, stats.lost);
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "/etc".into());
    let count = match args.next().map(|c| c.parse::<u64>()) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => {
            eprintln!("usage: watch_etc [DIR] [COUNT]   (COUNT: a positive number)");
            return ExitCode::from(2);
        }
    };
    match run(&dir, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watch_etc: {e}");
            ExitCode::FAILURE
        }
    }
}
