//! Human-readable lines: `HH:MM:SS.mmm  PID  PROCESS  OP  BYTES  PATH [detail]`, aligned, optionally
//! coloured. BYTES is what a write wrote, or a truncate's or mapping's size; the detail names a rename's
//! old path (and on the kprobe path the inode of the file it replaced), a link's target, a mode, an
//! owner or a close's totals.

use super::encode::{push_u64, text_escape_into};
use crate::clock::Clock;
use crate::event::Event;
use crate::kinds::Op;

const PID_W: usize = 7;
const PROC_W: usize = 16;
const BYTES_W: usize = 10;
const OP_W: usize = 8;

const DIM: &[u8] = b"\x1b[2m";
const CYAN: &[u8] = b"\x1b[36m";
const GREEN: &[u8] = b"\x1b[32m";
const RED: &[u8] = b"\x1b[31m";
const RESET: &[u8] = b"\x1b[0m";

/// Renders events as aligned text columns.
pub struct TextWriter {
    clock: Clock,
    /// ANSI colour, for a terminal only (the caller checks isatty).
    color: bool,
}

impl TextWriter {
    pub fn new(clock: Clock, color: bool) -> TextWriter {
        TextWriter { clock, color }
    }

    /// Appends the column titles line.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        // "HH:MM:SS.mmm" is 12 characters wide.
        pad_right(out, b"TIME", 12);
        out.extend_from_slice(b"  ");
        pad_left(out, b"PID", PID_W);
        out.extend_from_slice(b"  ");
        pad_right(out, b"PROCESS", PROC_W);
        out.extend_from_slice(b"  ");
        pad_right(out, b"OP", OP_W);
        out.extend_from_slice(b"  ");
        pad_left(out, b"BYTES", BYTES_W);
        out.extend_from_slice(b"  PATH\n");
    }

    /// Appends one line for `ev`. The process column is the script's file name when an
    /// interpreter runs one (`script` from [`crate::script::script_of`]), else the comm.
    pub fn write_event(&mut self, ev: &Event, script: Option<&[u8]>, out: &mut Vec<u8>) {
        self.paint(out, DIM);
        self.clock.write_time_of_day_ms(ev.mono_ns, out);
        self.paint(out, RESET);
        out.extend_from_slice(b"  ");

        let mut num = Vec::<u8>::new();
        push_u64(&mut num, u64::from(ev.process.pid));
        pad_left(out, &num, PID_W);
        out.extend_from_slice(b"  ");

        let name = match script {
            Some(s) => s.rsplit(|&c| c == b'/').next().unwrap_or(s),
            None => &ev.process.comm,
        };
        self.paint(out, CYAN);
        let w = text_escape_into(name, out);
        self.paint(out, RESET);
        out.resize(out.len() + PROC_W.saturating_sub(w), b' ');
        out.extend_from_slice(b"  ");

        pad_right(out, ev.op.name().as_bytes(), OP_W);
        out.extend_from_slice(b"  ");

        num.clear();
        match (ev.op, ev.file.size) {
            (Op::Write, _) => push_u64(&mut num, ev.file.bytes_written),
            (Op::Read, _) => push_u64(&mut num, ev.file.bytes_read),
            (_, Some(size)) => push_u64(&mut num, size),
            (_, None) => num.push(b'-'),
        }
        self.paint(out, GREEN);
        pad_left(out, &num, BYTES_W);
        self.paint(out, RESET);
        out.extend_from_slice(b"  ");

        if ev.file.truncated {
            // The kernel walk stopped before the root: mark the missing leading part.
            out.extend_from_slice("…".as_bytes());
        }
        text_escape_into(&ev.file.path, out);
        if ev.file.deleted {
            out.push(b' ');
            self.paint(out, RED);
            out.extend_from_slice(b"(deleted)");
            self.paint(out, RESET);
        }
        if let Some(m) = &ev.merged {
            out.extend_from_slice(b" (merged: ");
            push_u64(out, m.count);
            out.extend_from_slice(b" calls)");
        }
        let f = &ev.file;
        if let Some(old) = &f.old_path {
            out.extend_from_slice(b" <- ");
            text_escape_into(old, out);
        }
        if let Some(ino) = f.replaced_inode {
            out.extend_from_slice(b" (replaced inode ");
            push_u64(out, ino);
            out.push(b')');
        }
        if let Some(target) = &f.target {
            out.extend_from_slice(b" -> ");
            text_escape_into(target, out);
        }
        if let Some(mode) = f.mode {
            out.extend_from_slice(format!(" mode {mode:04o}").as_bytes());
        }
        if ev.op == Op::Close {
            out.extend_from_slice(
                format!(
                    " read {} B in {}, wrote {} B in {}",
                    f.bytes_read, f.reads, f.bytes_written, f.writes
                )
                .as_bytes(),
            );
        }
        if ev.op == Op::Chown {
            let id = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
            out.extend_from_slice(
                format!(" owner {}:{}", id(f.owner_uid), id(f.owner_gid)).as_bytes(),
            );
        }
        out.push(b'\n');
    }

    fn paint(&self, out: &mut Vec<u8>, code: &[u8]) {
        if self.color {
            out.extend_from_slice(code);
        }
    }
}

fn pad_right(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
}

fn pad_left(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TimeZone;
    use crate::event::{FileInfo, ProcessInfo};

    fn event() -> Event {
        Event {
            mono_ns: 1_768_250_322_880_979_123,
            op: Op::Write,
            via: "write",
            process: ProcessInfo {
                pid: 4242,
                comm: b"python3".to_vec(),
                ..Default::default()
            },
            file: FileInfo {
                name: b"out.log".to_vec(),
                path: b"/tmp/out.log".to_vec(),
                bytes_written: 512,
                ..Default::default()
            },
            ..Event::default()
        }
    }

    fn line(ev: &Event, script: Option<&[u8]>, color: bool) -> String {
        let mut w = TextWriter::new(Clock::from_parts(0, TimeZone::utc()), color);
        let mut out = Vec::new();
        w.write_event(ev, script, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_and_script_name() {
        let s = line(&event(), Some(b"/home/u/tools/job.py"), false);
        assert_eq!(
            s,
            "20:38:42.880     4242  job.py            write            512  /tmp/out.log\n"
        );
        let s = line(&event(), None, false);
        assert_eq!(
            s,
            "20:38:42.880     4242  python3           write            512  /tmp/out.log\n"
        );
        let mut h = Vec::new();
        TextWriter::new(Clock::from_parts(0, TimeZone::utc()), false).write_header(&mut h);
        let h = String::from_utf8(h).unwrap();
        // The header's columns line up with the event's.
        assert_eq!(h.find("PID").map(|i| i + 3), s.find("4242").map(|i| i + 4));
        assert_eq!(h.find("PATH"), s.find("/tmp"));
        assert_eq!(h.find("OP"), s.find("write"));
    }

    #[test]
    fn other_ops_show_their_detail() {
        let mut ev = event();
        ev.op = Op::Rename;
        ev.file.old_path = Some(b"/tmp/a\nb.log".to_vec());
        let s = line(&ev, None, false);
        assert!(s.contains(" rename  ") && s.contains("  -  "), "{s}");
        assert!(s.ends_with("/tmp/out.log <- /tmp/a\\nb.log\n"), "{s}");
        ev.file.replaced_inode = Some(12);
        let s = line(&ev, None, false);
        assert!(
            s.ends_with("<- /tmp/a\\nb.log (replaced inode 12)\n"),
            "{s}"
        );
        let mut ev = event();
        ev.op = Op::Chown;
        ev.file.owner_uid = Some(0);
        assert!(line(&ev, None, false).ends_with(" owner 0:-\n"));
        ev.op = Op::Chmod;
        ev.file.mode = Some(0o640);
        ev.file.owner_uid = None;
        assert!(line(&ev, None, false).ends_with(" mode 0640\n"));
    }

    #[test]
    fn hostile_names_stay_on_one_line() {
        let mut ev = event();
        ev.process.comm = b"evil\n12:00:00.000".to_vec();
        ev.file.path = b"/tmp/a\nb\x1b]0;x\x07\xff".to_vec();
        ev.file.deleted = true;
        ev.file.truncated = true;
        let s = line(&ev, None, false);
        assert_eq!(s.matches('\n').count(), 1);
        assert!(!s.contains('\x1b'));
        assert!(
            s.ends_with("…/tmp/a\\nb\\x1b]0;x\\x07\u{fffd} (deleted)\n"),
            "{s}"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!line(&event(), None, false).contains('\x1b'));
        let c = line(&event(), None, true);
        assert!(c.contains("\x1b[36mpython3\x1b[0m"));
        // Without the escapes, the coloured line is the plain one.
        let mut plain = c.clone();
        for code in ["\x1b[2m", "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[0m"] {
            plain = plain.replace(code, "");
        }
        assert_eq!(plain, line(&event(), None, false));
    }
}
