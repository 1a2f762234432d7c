//! What the report reads of one event line: only the fields it counts, borrowed from the line where
//! no escape had to be decoded. Read by the skimmer ([`super::skim`]) when it is sure of the line,
//! and by serde otherwise; serde's reading is the definition, the skimmer only a faster way to it.
//! Public for the differential test (tests/report_skim.rs), which holds the two to the same result.

use std::borrow::Cow;

use serde::Deserialize;

use super::skim;

/// The fields of an event the report reads; the rest of the line is skipped unparsed into values.
#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub struct EventLine<'a> {
    #[serde(borrow)]
    pub op: Cow<'a, str>,
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
    #[serde(default, borrow)]
    pub process: Option<ProcessFields<'a>>,
    #[serde(default, borrow)]
    pub file: Option<FileFields<'a>>,
    #[serde(default, borrow)]
    pub alert: Option<AlertFields<'a>>,
    /// A merged write stands for `count` of them.
    #[serde(default)]
    pub merged: Option<MergedFields>,
}

#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub struct MergedFields {
    pub count: u64,
}

#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub struct ProcessFields<'a> {
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub exe_path: Option<Cow<'a, str>>,
    /// The script an interpreter runs.
    #[serde(default, borrow)]
    pub file_path: Option<Cow<'a, str>>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub struct FileFields<'a> {
    #[serde(default, borrow)]
    pub file_path: Option<Cow<'a, str>>,
    #[serde(default)]
    pub bytes_written: Option<u64>,
}

#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub struct AlertFields<'a> {
    #[serde(default, borrow)]
    pub severity: Option<Cow<'a, str>>,
}

/// Reads the event `line` holds into `ev`; false when it holds none (not JSON, not an object, a
/// required field missing, a field of the wrong type, a duplicate field, trailing bytes), and then
/// `ev` means nothing.
pub fn read<'a>(line: &'a str, ev: &mut EventLine<'a>) -> bool {
    if skim::skim(line, ev) {
        return true;
    }
    match deserialize(line) {
        Some(parsed) => {
            *ev = parsed;
            true
        }
        None => false,
    }
}

/// serde's reading of the line: the reference the skimmer is held to.
pub fn deserialize(line: &str) -> Option<EventLine<'_>> {
    serde_json::from_str(line).ok()
}

/// The skimmer's reading: Some only when it is sure serde would read the same; None when the line
/// must go to serde (which may still find an event in it).
pub fn skimmed(line: &str) -> Option<EventLine<'_>> {
    let mut ev = EventLine::default();
    skim::skim(line, &mut ev).then_some(ev)
}
