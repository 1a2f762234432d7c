//! filespy: parse the command line, check privileges, run the monitor (or the report, which needs
//! none); map outcomes to exit codes.

use std::io::Write;
use std::process::ExitCode;

use filespy::cli::{self, Action, ExitStatus};

fn main() -> ExitCode {
    // Before anything opens a descriptor, so kernel objects never land on fds 0-2.
    if let Err(e) = filespy::sink::reserve_std_fds() {
        eprintln!("filespy: {e}");
        return ExitStatus::Failure.into();
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let config = match cli::parse_args(args.iter().cloned()) {
        Ok(Action::Run(config)) => config,
        Ok(Action::Report(report)) => {
            return match filespy::report::run(&report) {
                Ok(()) => ExitStatus::Success.into(),
                Err(e) => {
                    eprintln!("filespy: {e}");
                    ExitStatus::Failure.into()
                }
            };
        }
        Ok(Action::PrintRules(rules)) => {
            let _ = std::io::stdout().write_all(rules.print().as_bytes());
            return ExitStatus::Success.into();
        }
        Ok(Action::ReportHelp) => {
            let _ = std::io::stdout().write_all(cli::REPORT_HELP.as_bytes());
            return ExitStatus::Success.into();
        }
        // A closed stdout is not worth an error here: print and exit 0 regardless.
        Ok(Action::Help) => {
            let _ = std::io::stdout().write_all(cli::HELP.as_bytes());
            return ExitStatus::Success.into();
        }
        Ok(Action::Version) => {
            let _ = writeln!(std::io::stdout(), "filespy {}", cli::VERSION);
            return ExitStatus::Success.into();
        }
        Err(e) => {
            eprintln!("filespy: {e}");
            eprintln!("{}", cli::usage_hint(&args));
            return ExitStatus::Usage.into();
        }
    };
    // --dump-prog only assembles programs (needs BTF, not privileges).
    if config.dump_prog.is_none() {
        if let Err(e) = filespy::privileges::check() {
            eprintln!("{e}");
            return ExitStatus::Failure.into();
        }
    }
    let outcome = match &config.dump_prog {
        Some(how) => filespy::monitor::dump_programs(&config, how),
        None => filespy::monitor::run(&config),
    };
    match outcome {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("filespy: {e}");
            ExitStatus::Failure.into()
        }
    }
}
