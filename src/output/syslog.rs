//! RFC 5424 messages to the local syslog socket (`/dev/log`, a Unix datagram socket), one per event:
//! `<PRI>1 TIMESTAMP HOST filespy PID OP - BOM JSON`. The priority is facility authpriv (10) and the
//! alert's severity (CRITICAL 2, HIGH 3, MEDIUM 4, LOW 5, INFO 6; an event without an alert is INFO);
//! the message is the event's JSON line. Sends never block: a datagram the socket does not take now is
//! counted, not retried, and a refused socket (syslogd restarting) is reconnected at most once a second.

use crate::clock::Clock;
use crate::event::Event;
use crate::output::encode::push_u64;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// authpriv: security messages that may hold private data.
const FACILITY_AUTHPRIV: u8 = 10;
const INFO: u8 = 6;
/// UTF-8 MSG starts with a byte order mark (RFC 5424 section 6.4).
const BOM: &[u8] = b"\xef\xbb\xbf";
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

pub struct Syslog {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    last_connect: Instant,
    clock: Clock,
    host: String,
    pid: u32,
    buf: Vec<u8>,
    /// Messages sent, and those the socket did not take.
    pub sent: u64,
    pub dropped: u64,
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

impl Syslog {
    /// Connects to the socket at `path`; an error names it (no syslog daemon, a container without
    /// /dev/log).
    pub fn connect(path: &Path, host: &str) -> Result<Syslog, String> {
        let sock = connect(path).map_err(|e| {
            format!(
                "--syslog: cannot send to {}: {e} (is a syslog daemon running?)",
                path.display()
            )
        })?;
        Ok(Syslog {
            path: path.to_path_buf(),
            sock: Some(sock),
            last_connect: Instant::now(),
            clock: Clock::new(),
            host: header_field(host),
            pid: std::process::id(),
            buf: Vec::with_capacity(4096),
            sent: 0,
            dropped: 0,
        })
    }

    /// Sends `ev`, whose JSON line (without its newline) is `json`.
    pub fn send(&mut self, ev: &Event, json: &[u8]) {
        let severity = ev
            .alert
            .as_ref()
            .map_or(INFO, |a| a.severity.syslog_level());
        let b = &mut self.buf;
        b.clear();
        b.push(b'<');
        push_u64(b, u64::from(FACILITY_AUTHPRIV * 8 + severity));
        b.extend_from_slice(b">1 ");
        self.clock.write_rfc3339(ev.mono_ns, b);
        b.push(b' ');
        b.extend_from_slice(self.host.as_bytes());
        b.extend_from_slice(b" filespy ");
        push_u64(b, u64::from(self.pid));
        b.push(b' ');
        b.extend_from_slice(ev.op.name().as_bytes());
        b.extend_from_slice(b" - ");
        b.extend_from_slice(BOM);
        b.extend_from_slice(json);
        if self.sock.is_none() && self.last_connect.elapsed() >= RECONNECT_EVERY {
            self.last_connect = Instant::now();
            self.sock = connect(&self.path).ok();
        }
        let sent = self.sock.as_ref().map(|s| s.send(&self.buf));
        match sent {
            Some(Ok(_)) => self.sent += 1,
            Some(Err(e)) => {
                self.dropped += 1;
                if !matches!(e.kind(), io::ErrorKind::WouldBlock)
                    && e.raw_os_error() != Some(libc::ENOBUFS)
                {
                    // Refused or reset: the daemon went away; reconnect later.
                    self.sock = None;
                }
            }
            None => self.dropped += 1,
        }
    }
}

/// A header field as RFC 5424 allows it: printable US-ASCII without spaces, at most 255 bytes; "-"
/// when empty.
fn header_field(s: &str) -> String {
    let f: String = s
        .chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '-' })
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Op;
    use crate::rules::Severity;

    #[test]
    fn one_datagram_per_event_with_the_severity_in_its_priority() {
        let dir = crate::test_dir::TempDir::new("syslog");
        let path = dir.0.join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut s = Syslog::connect(&path, "web 1").unwrap();
        let mut ev = Event {
            op: Op::Write,
            ..Event::default()
        };
        ev.alert = Some(crate::event::EventAlert {
            rule: "auth-shadow".into(),
            category: "authentication".into(),
            severity: Severity::Critical,
            repeats: 0,
        });
        s.send(&ev, b"{\"op\":\"write\"}");
        ev.alert = None;
        s.send(&ev, b"{}");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
        assert!(msg.starts_with("<82>1 "), "authpriv.crit: {msg}");
        let fields: Vec<&str> = msg.splitn(7, ' ').collect();
        assert_eq!(fields[2], "web-1", "a host name without its space");
        assert_eq!(fields[3], "filespy");
        assert_eq!(fields[4], std::process::id().to_string());
        assert_eq!(fields[5], "write");
        assert_eq!(fields[6], "- \u{feff}{\"op\":\"write\"}");
        let n = server.recv(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"<86>1 "),
            "authpriv.info without an alert"
        );
        assert_eq!((s.sent, s.dropped), (2, 0));
        assert!(Syslog::connect(&dir.0.join("none"), "h").is_err());
    }
}
