//! `filespy report`: summarises filespy event files (JSON lines, optionally with filespy's stderr
//! mixed in) over a time range, in one streaming pass whose memory is bounded by the tables' key
//! capacity (`topn::CAPACITY` keys each), not by the size of the input.

pub mod event_line;
mod lines;
mod render;
mod skim;
mod summary;
pub mod time;
pub mod topn;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use lines::{Line, Lines};
use summary::{Place, Summary};

pub use lines::MAX_LINE;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON object (its shape is documented in the README).
    Json,
}

/// A `--since` or `--until` value: as given, and as microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub text: String,
    pub micros: i64,
}

/// What `filespy report` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportConfig {
    /// The files to read, in order; empty or `-` means stdin.
    pub inputs: Vec<PathBuf>,
    /// Events at or after this instant.
    pub since: Option<Bound>,
    /// Events before this instant.
    pub until: Option<Bound>,
    pub format: ReportFormat,
    /// Rows per table.
    pub top: usize,
}

pub const DEFAULT_TOP: usize = 10;

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            inputs: Vec::new(),
            since: None,
            until: None,
            format: ReportFormat::Table,
            top: DEFAULT_TOP,
        }
    }
}

/// An input that could not be read, or an output that could not be written. Exit status 1.
#[derive(Debug)]
pub enum ReportError {
    Open { input: String, source: io::Error },
    Read { input: String, source: io::Error },
    Write(io::Error),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Open { input, source } => write!(f, "cannot open {input}: {source}"),
            ReportError::Read { input, source } => write!(f, "cannot read {input}: {source}"),
            ReportError::Write(e) => write!(f, "cannot write the report: {e}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// Reads every input and prints the report on stdout. A reader that goes away (EPIPE) is not an
/// error. On an input that cannot be read nothing is printed.
pub fn run(config: &ReportConfig) -> Result<(), ReportError> {
    let summary = summarise(config)?;
    let mut out = Vec::new();
    match config.format {
        ReportFormat::Table => render::table(&summary, config, &mut out),
        ReportFormat::Json => render::json(&summary, config, &mut out),
    }
    match io::stdout().lock().write_all(&out) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(ReportError::Write(e)),
        _ => Ok(()),
    }
}

/// One pass over every input.
fn summarise(config: &ReportConfig) -> Result<Summary, ReportError> {
    let mut summary = Summary::new(
        config.since.as_ref().map(|b| b.micros),
        config.until.as_ref().map(|b| b.micros),
    );
    let stdin = [PathBuf::from("-")];
    let inputs = match config.inputs.is_empty() {
        true => &stdin[..],
        false => &config.inputs[..],
    };
    for (index, path) in inputs.iter().enumerate() {
        let name = path.to_string_lossy().into_owned();
        summary.inputs.push(name.clone());
        let read = if path.as_os_str() == "-" {
            feed(&mut summary, index, io::stdin().lock())
        } else {
            // A directory opens fine and fails at read(2) with EISDIR, named below.
            let file = File::open(path).map_err(|source| ReportError::Open {
                input: name.clone(),
                source,
            })?;
            feed(&mut summary, index, file)
        };
        read.map_err(|source| ReportError::Read {
            input: name,
            source,
        })?;
    }
    Ok(summary)
}

fn feed(summary: &mut Summary, input: usize, src: impl Read) -> io::Result<()> {
    let mut lines = Lines::new(src);
    let mut number = 0;
    while let Some(line) = lines.next()? {
        number += 1;
        let place = Place {
            input,
            line: number,
        };
        match line {
            Line::Text(text) => summary.line(text, place),
            Line::TooLong => summary.too_long(place),
        }
    }
    summary.bytes += lines.bytes;
    Ok(())
}
