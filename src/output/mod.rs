//! Rendering events to bytes: JSON lines (the default, machine-read) or aligned text (people).
pub mod encode;
pub mod json;
pub mod syslog;
pub mod text;

pub use json::JsonWriter;
pub use text::TextWriter;

use crate::clock::Clock;
use crate::event::Event;
use crate::uuid::UuidGen;

/// The `--format` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

/// One writer for whichever format was chosen.
pub enum Formatter {
    Json(JsonWriter),
    Text(TextWriter),
}

impl Formatter {
    /// `color` applies to text only and should be true only when stdout is a terminal.
    /// Fails only if the kernel's getrandom(2) is unusable (JSON needs it for ids).
    pub fn new(format: Format, clock: Clock, color: bool) -> std::io::Result<Formatter> {
        Ok(match format {
            Format::Json => Formatter::Json(JsonWriter::new(clock, UuidGen::new()?)),
            Format::Text => Formatter::Text(TextWriter::new(clock, color)),
        })
    }

    /// Appends one line for `ev` to `out`.
    pub fn write_event(&mut self, ev: &Event, script: Option<&[u8]>, out: &mut Vec<u8>) {
        match self {
            Formatter::Json(w) => w.write_event(ev, script, out),
            Formatter::Text(w) => w.write_event(ev, script, out),
        }
    }
}
