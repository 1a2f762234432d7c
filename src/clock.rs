//! Wall-clock time of events: monotonic kernel timestamps to local RFC 3339 text.
//!
//! The kernel stamps events with CLOCK_MONOTONIC (`bpf_ktime_get_ns`). We sample
//! CLOCK_REALTIME − CLOCK_MONOTONIC once at start and add it, so a later wall-clock step does not
//! reorder events. The local UTC offset comes from `TZ` (a TZif path, a zone name under the zoneinfo
//! directory, or a POSIX TZ string) or `/etc/localtime` (TZif v1/v2+/v3, including the POSIX footer
//! rule for instants after the last transition), else UTC. Leap-second records are ignored, and an
//! offset with seconds (pre-1900 local mean time) is printed truncated to minutes, as RFC 3339 allows
//! only `±HH:MM`. Calendar arithmetic is days-from-civil, valid for any i64 second count.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

const NS_PER_S: i64 = 1_000_000_000;
const DAY: i64 = 86_400;

/// Converts event timestamps to local wall time and renders them.
#[derive(Debug, Clone)]
pub struct Clock {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in ns, sampled at start.
    offset_ns: i64,
    tz: TimeZone,
    /// The last rendered second as `YYYY-MM-DDTHH:MM:SS` and `±HH:MM`, reused because consecutive events almost always share their second.
    cached_s: Option<i64>,
    cached_prefix: [u8; 19],
    cached_zone: [u8; 6],
}

impl Clock {
    /// Samples the realtime−monotonic offset now and loads the local zone from `TZ` / `/etc/localtime`.
    pub fn new() -> Clock {
        Clock::from_parts(realtime_minus_monotonic_ns(), TimeZone::from_env())
    }

    /// A clock with a given realtime−monotonic offset (ns) and zone.
    pub fn from_parts(offset_ns: i64, tz: TimeZone) -> Clock {
        Clock {
            offset_ns,
            tz,
            cached_s: None,
            cached_prefix: [0; 19],
            cached_zone: [0; 6],
        }
    }

    /// Unix time in ns of an event stamped `mono_ns`.
    pub fn unix_ns(&self, mono_ns: u64) -> i64 {
        i64::try_from(mono_ns)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_ns)
    }

    /// Appends `2026-01-12T20:38:42.880979+01:00` (microseconds, local offset).
    pub fn write_rfc3339(&mut self, mono_ns: u64, out: &mut Vec<u8>) {
        let ns = self.unix_ns(mono_ns);
        self.fill_cache(ns.div_euclid(NS_PER_S));
        out.extend_from_slice(&self.cached_prefix);
        out.push(b'.');
        push_digits(out, (ns.rem_euclid(NS_PER_S) / 1000) as u32, 6);
        out.extend_from_slice(&self.cached_zone);
    }

    /// Appends local `HH:MM:SS.mmm`.
    pub fn write_time_of_day_ms(&mut self, mono_ns: u64, out: &mut Vec<u8>) {
        let ns = self.unix_ns(mono_ns);
        self.fill_cache(ns.div_euclid(NS_PER_S));
        out.extend_from_slice(&self.cached_prefix[11..19]);
        out.push(b'.');
        push_digits(out, (ns.rem_euclid(NS_PER_S) / 1_000_000) as u32, 3);
    }

    fn fill_cache(&mut self, unix_s: i64) {
        if self.cached_s == Some(unix_s) {
            return;
        }
        let off = self.tz.offset_at(unix_s);
        let local = unix_s.saturating_add(i64::from(off));
        let (y, m, d) = civil_from_days(local.div_euclid(DAY));
        let sod = local.rem_euclid(DAY) as u32;
        // Years outside 0..=9999 cannot be RFC 3339; clamp the digits rather than emit garbage widths.
        let p = &mut self.cached_prefix;
        *p = *b"0000-00-00T00:00:00";
        put_digits(&mut p[0..4], y.clamp(0, 9999) as u32);
        put_digits(&mut p[5..7], m);
        put_digits(&mut p[8..10], d);
        put_digits(&mut p[11..13], sod / 3600);
        put_digits(&mut p[14..16], sod / 60 % 60);
        put_digits(&mut p[17..19], sod % 60);
        let mins = off.unsigned_abs() / 60;
        let z = &mut self.cached_zone;
        *z = *b"+00:00";
        if off < 0 {
            z[0] = b'-';
        }
        put_digits(&mut z[1..3], mins / 60);
        put_digits(&mut z[4..6], mins % 60);
        self.cached_s = Some(unix_s);
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// Appends `v` as exactly `width` decimal digits (higher digits dropped).
fn push_digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let digits = &mut buf[..width.min(10)];
    put_digits(digits, v);
    crate::append::append(out, digits);
}

/// Writes `v` into all of `buf` as decimal digits, zero-padded (higher digits dropped).
fn put_digits(buf: &mut [u8], mut v: u32) {
    for c in buf.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn clock_ns(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec
        .saturating_mul(NS_PER_S)
        .saturating_add(ts.tv_nsec)
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, from the tightest of a few mono/real/mono brackets.
pub fn realtime_minus_monotonic_ns() -> i64 {
    let mut best = (i64::MAX, 0);
    for _ in 0..5 {
        let m1 = clock_ns(libc::CLOCK_MONOTONIC);
        let r = clock_ns(libc::CLOCK_REALTIME);
        let m2 = clock_ns(libc::CLOCK_MONOTONIC);
        let gap = m2 - m1;
        if gap < best.0 {
            best = (gap, r - (m1 + gap / 2));
        }
    }
    best.1
}

// ---- Calendar ---------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month 1-12, day 1-31).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// 0 = Sunday.
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

// ---- Time zones ------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TzError {
    /// Not a TZif file, or its counts point outside the data.
    BadTzif(&'static str),
    /// Not a POSIX TZ string we understand.
    BadPosix,
}

impl std::fmt::Display for TzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TzError::BadTzif(why) => write!(f, "invalid TZif data: {why}"),
            TzError::BadPosix => f.write_str("invalid POSIX TZ string"),
        }
    }
}

impl std::error::Error for TzError {}

/// A zone: the UTC offset (seconds east) in force at any instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    /// Transition instants (Unix s), ascending.
    trans: Vec<i64>,
    /// Offset taking effect at each transition.
    trans_off: Vec<i32>,
    /// Offset before the first transition (TZif time type 0).
    first: i32,
    /// Rule for instants after the last transition (TZif footer or a bare POSIX TZ).
    rule: Option<PosixTz>,
}

impl TimeZone {
    pub fn utc() -> TimeZone {
        TimeZone {
            trans: Vec::new(),
            trans_off: Vec::new(),
            first: 0,
            rule: None,
        }
    }

    /// The zone of this process: `TZ` if set, else `/etc/localtime`, else UTC.
    pub fn from_env() -> TimeZone {
        let tz = std::env::var_os("TZ");
        let dir = std::env::var_os("TZDIR");
        TimeZone::resolve(
            tz.as_deref(),
            dir.as_deref().unwrap_or(OsStr::new("/usr/share/zoneinfo")),
            OsStr::new("/etc/localtime"),
        )
    }

    /// `TZ` resolution with explicit zoneinfo directory and localtime file (for tests).
    /// `tz`: `:`-prefix optional; an absolute TZif path, a zone name, or a POSIX TZ string.
    /// Unset → `localtime` file; empty or unusable → UTC.
    pub fn resolve(tz: Option<&OsStr>, zoneinfo_dir: &OsStr, localtime: &OsStr) -> TimeZone {
        let Some(tz) = tz else {
            return read_tzif(localtime.as_bytes()).unwrap_or_else(TimeZone::utc);
        };
        let tz = tz.as_bytes();
        let tz = tz.strip_prefix(b":").unwrap_or(tz);
        if tz.is_empty() {
            return TimeZone::utc();
        }
        if tz.starts_with(b"/") {
            if let Some(z) = read_tzif(tz) {
                return z;
            }
        } else if !tz.split(|&c| c == b'/').any(|c| c == b"..") {
            let mut p = zoneinfo_dir.as_bytes().to_vec();
            p.push(b'/');
            p.extend_from_slice(tz);
            if let Some(z) = read_tzif(&p) {
                return z;
            }
        }
        TimeZone::from_posix(tz).unwrap_or_else(|_| TimeZone::utc())
    }

    /// A zone given by a POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`.
    pub fn from_posix(s: &[u8]) -> Result<TimeZone, TzError> {
        let rule = PosixTz::parse(s)?;
        Ok(TimeZone {
            trans: Vec::new(),
            trans_off: Vec::new(),
            first: rule.std,
            rule: Some(rule),
        })
    }

    /// Parses TZif (RFC 8536) versions 1 to 4.
    pub fn from_tzif(b: &[u8]) -> Result<TimeZone, TzError> {
        let h1 = Header::parse(b)?;
        if h1.version == 0 {
            let (z, _) = parse_block(b, &h1, 44, 4)?;
            return Ok(z);
        }
        // v2+: skip the 32-bit block, use the 64-bit one and its footer.
        let second = 44 + h1.block_len(4).ok_or(TzError::BadTzif("counts overflow"))?;
        let h2 = Header::parse(
            b.get(second..)
                .ok_or(TzError::BadTzif("missing v2 header"))?,
        )?;
        let (mut z, end) = parse_block(b, &h2, second + 44, 8)?;
        let footer = b.get(end..).unwrap_or(&[]);
        if let Some(rest) = footer.strip_prefix(b"\n") {
            let line = rest.split(|&c| c == b'\n').next().unwrap_or(&[]);
            if !line.is_empty() {
                // An unparseable footer is tolerated: the transition table still applies.
                z.rule = PosixTz::parse(line).ok();
            }
        }
        Ok(z)
    }

    /// UTC offset in seconds east of UTC at Unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match self.trans.partition_point(|&x| x <= t) {
            0 if self.trans.is_empty() => self.rule.as_ref().map_or(self.first, |r| r.offset_at(t)),
            0 => self.first,
            n if n == self.trans.len() => match &self.rule {
                Some(r) => r.offset_at(t),
                None => self.trans_off[n - 1],
            },
            n => self.trans_off[n - 1],
        }
    }
}

fn read_tzif(path: &[u8]) -> Option<TimeZone> {
    let data = std::fs::read(OsStr::from_bytes(path)).ok()?;
    TimeZone::from_tzif(&data).ok()
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn parse(b: &[u8]) -> Result<Header, TzError> {
        if b.len() < 44 || &b[..4] != b"TZif" {
            return Err(TzError::BadTzif("bad magic"));
        }
        let n = |k: usize| {
            u32::from_be_bytes([b[20 + 4 * k], b[21 + 4 * k], b[22 + 4 * k], b[23 + 4 * k]])
                as usize
        };
        let version = match b[4] {
            0 => 0,
            v @ b'2'..=b'9' => v - b'0',
            _ => return Err(TzError::BadTzif("unknown version")),
        };
        let h = Header {
            version,
            isutcnt: n(0),
            isstdcnt: n(1),
            leapcnt: n(2),
            timecnt: n(3),
            typecnt: n(4),
            charcnt: n(5),
        };
        if h.typecnt == 0 {
            return Err(TzError::BadTzif("no time types"));
        }
        Ok(h)
    }

    /// Length of the data block with `t`-byte times.
    fn block_len(&self, t: usize) -> Option<usize> {
        let parts = [
            self.timecnt.checked_mul(t)?,
            self.timecnt,
            self.typecnt.checked_mul(6)?,
            self.charcnt,
            self.leapcnt.checked_mul(t + 4)?,
            self.isstdcnt,
            self.isutcnt,
        ];
        parts.iter().try_fold(0usize, |a, &p| a.checked_add(p))
    }
}

/// Parses one data block starting at `at`; returns the zone and the offset just past the block.
fn parse_block(b: &[u8], h: &Header, at: usize, t: usize) -> Result<(TimeZone, usize), TzError> {
    let len = h.block_len(t).ok_or(TzError::BadTzif("counts overflow"))?;
    let end = at
        .checked_add(len)
        .ok_or(TzError::BadTzif("counts overflow"))?;
    let d = b
        .get(at..end)
        .ok_or(TzError::BadTzif("truncated data block"))?;
    let times = &d[..h.timecnt * t];
    let idx = &d[h.timecnt * t..h.timecnt * (t + 1)];
    let types = &d[h.timecnt * (t + 1)..h.timecnt * (t + 1) + h.typecnt * 6];
    let offsets: Vec<i32> = types
        .chunks_exact(6)
        .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut trans = Vec::with_capacity(h.timecnt);
    let mut trans_off = Vec::with_capacity(h.timecnt);
    for (k, &i) in idx.iter().enumerate() {
        let c = &times[k * t..(k + 1) * t];
        let when = if t == 4 {
            i64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        } else {
            i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
        };
        if trans.last().is_some_and(|&p| when <= p) {
            return Err(TzError::BadTzif("transitions not ascending"));
        }
        let off = *offsets
            .get(usize::from(i))
            .ok_or(TzError::BadTzif("bad type index"))?;
        trans.push(when);
        trans_off.push(off);
    }
    Ok((
        TimeZone {
            trans,
            trans_off,
            first: offsets[0],
            rule: None,
        },
        end,
    ))
}

/// A POSIX TZ rule: standard offset and optional yearly daylight-saving window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PosixTz {
    /// Seconds east of UTC.
    std: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dst {
    off: i32,
    start: (RuleDay, i32),
    end: (RuleDay, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDay {
    /// `Jn`: 1..=365, February 29 never counted.
    Julian1(u16),
    /// `n`: 0..=365, leap day counted.
    Julian0(u16),
    /// `Mm.w.d`: day d (0 = Sunday) of week w (5 = last) of month m.
    Month(u8, u8, u8),
}

impl RuleDay {
    /// Days since the epoch of this rule's day in year `y`.
    fn day_in(self, y: i64) -> i64 {
        let jan1 = days_from_civil(y, 1, 1);
        match self {
            RuleDay::Julian1(n) => {
                let n = i64::from(n);
                jan1 + n - 1 + i64::from(is_leap(y) && n >= 60)
            }
            RuleDay::Julian0(n) => jan1 + i64::from(n),
            RuleDay::Month(m, w, d) => {
                let m = u32::from(m);
                let first = days_from_civil(y, m, 1);
                let next = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                let mut day =
                    first + (i64::from(d) - weekday(first)).rem_euclid(7) + 7 * (i64::from(w) - 1);
                while day >= next {
                    day -= 7;
                }
                day
            }
        }
    }
}

impl PosixTz {
    fn parse(s: &[u8]) -> Result<PosixTz, TzError> {
        let mut p = Cursor { s, i: 0 };
        p.name()?;
        let std = -p.offset()?;
        if p.done() {
            return Ok(PosixTz { std, dst: None });
        }
        p.name()?;
        let off = if p.peek().is_some_and(|c| c == b',') || p.done() {
            std + 3600
        } else {
            -p.offset()?
        };
        // Without a rule, POSIX leaves the dates to the implementation; glibc uses the US rules.
        let (start, end) = if p.done() {
            (
                (RuleDay::Month(3, 2, 0), 7200),
                (RuleDay::Month(11, 1, 0), 7200),
            )
        } else {
            p.expect(b',')?;
            let start = p.rule()?;
            p.expect(b',')?;
            let end = p.rule()?;
            (start, end)
        };
        if !p.done() {
            return Err(TzError::BadPosix);
        }
        Ok(PosixTz {
            std,
            dst: Some(Dst { off, start, end }),
        })
    }

    fn offset_at(&self, t: i64) -> i32 {
        let Some(d) = self.dst else { return self.std };
        let (y, _, _) = civil_from_days(t.saturating_add(i64::from(self.std)).div_euclid(DAY));
        // Rule times are local: the start in standard time, the end in daylight time.
        let start = d.start.0.day_in(y) * DAY + i64::from(d.start.1) - i64::from(self.std);
        let end = d.end.0.day_in(y) * DAY + i64::from(d.end.1) - i64::from(d.off);
        let in_dst = if start <= end {
            start <= t && t < end
        } else {
            !(end <= t && t < start)
        };
        if in_dst {
            d.off
        } else {
            self.std
        }
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn expect(&mut self, c: u8) -> Result<(), TzError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(TzError::BadPosix)
        }
    }
    /// `EST` or `<+0330>`.
    fn name(&mut self) -> Result<(), TzError> {
        let start = self.i;
        if self.peek() == Some(b'<') {
            while self.peek().is_some_and(|c| c != b'>') {
                self.i += 1;
            }
            self.expect(b'>')?;
            return if self.i - start >= 3 {
                Ok(())
            } else {
                Err(TzError::BadPosix)
            };
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        if self.i - start >= 3 {
            Ok(())
        } else {
            Err(TzError::BadPosix)
        }
    }
    fn number(&mut self, max: u32) -> Result<u32, TzError> {
        let start = self.i;
        let mut v: u32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v.saturating_mul(10).saturating_add(u32::from(c - b'0'));
            self.i += 1;
        }
        if self.i == start || v > max {
            return Err(TzError::BadPosix);
        }
        Ok(v)
    }
    /// `[+-]hh[:mm[:ss]]` in seconds, as written (POSIX: positive is west).
    fn offset(&mut self) -> Result<i32, TzError> {
        let neg = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                true
            }
            Some(b'+') => {
                self.i += 1;
                false
            }
            _ => false,
        };
        let mut secs = self.number(167)? * 3600;
        if self.peek() == Some(b':') {
            self.i += 1;
            secs += self.number(59)? * 60;
            if self.peek() == Some(b':') {
                self.i += 1;
                secs += self.number(59)?;
            }
        }
        let secs = secs as i32;
        Ok(if neg { -secs } else { secs })
    }
    fn rule(&mut self) -> Result<(RuleDay, i32), TzError> {
        let day = match self.peek() {
            Some(b'J') => {
                self.i += 1;
                let n = self.number(365)?;
                if n == 0 {
                    return Err(TzError::BadPosix);
                }
                RuleDay::Julian1(n as u16)
            }
            Some(b'M') => {
                self.i += 1;
                let m = self.number(12)?;
                self.expect(b'.')?;
                let w = self.number(5)?;
                self.expect(b'.')?;
                let d = self.number(6)?;
                if m == 0 || w == 0 {
                    return Err(TzError::BadPosix);
                }
                RuleDay::Month(m as u8, w as u8, d as u8)
            }
            _ => RuleDay::Julian0(self.number(365)? as u16),
        };
        let time = if self.peek() == Some(b'/') {
            self.i += 1;
            self.offset()?
        } else {
            7200
        };
        Ok((day, time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn render(tz: &TimeZone, unix_ns: i64) -> String {
        // offset 0 with mono = unix makes the clock render unix_ns directly.
        let mut c = Clock::from_parts(0, tz.clone());
        let mut out = Vec::new();
        c.write_rfc3339(unix_ns as u64, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        let path = format!("/usr/share/zoneinfo/{name}");
        let data = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path} is needed for this test (tzdata): {e}"));
        TimeZone::from_tzif(&data).unwrap()
    }

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for z in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(weekday(0), 4);
    }

    #[test]
    fn utc_format() {
        let tz = TimeZone::utc();
        assert_eq!(render(&tz, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            render(&tz, 1_768_250_322_880_979_123),
            "2026-01-12T20:38:42.880979+00:00"
        );
        let mut c = Clock::from_parts(0, tz);
        let mut out = Vec::new();
        c.write_time_of_day_ms(1_768_250_322_880_979_123, &mut out);
        assert_eq!(out, b"20:38:42.880");
    }

    #[test]
    fn mono_plus_offset() {
        let mut c = Clock::from_parts(1_000 * NS_PER_S, TimeZone::utc());
        let mut out = Vec::new();
        c.write_rfc3339(5 * NS_PER_S as u64 + 7_000, &mut out);
        assert_eq!(out, b"1970-01-01T00:16:45.000007+00:00");
        // The sampled offset puts "now" near the real wall clock.
        let now = Clock::new();
        let real = clock_ns(libc::CLOCK_REALTIME);
        let mono = clock_ns(libc::CLOCK_MONOTONIC) as u64;
        assert!((now.unix_ns(mono) - real).abs() < NS_PER_S);
    }

    #[test]
    fn posix_rules() {
        let berlin = TimeZone::from_posix(b"CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(
            render(&berlin, 1_774_745_999 * NS_PER_S),
            "2026-03-29T01:59:59.000000+01:00"
        );
        assert_eq!(
            render(&berlin, 1_774_746_000 * NS_PER_S),
            "2026-03-29T03:00:00.000000+02:00"
        );
        let sydney = TimeZone::from_posix(b"AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(1_768_250_322), 11 * 3600);
        assert_eq!(sydney.offset_at(1_783_000_000), 10 * 3600);
        let india = TimeZone::from_posix(b"<+0530>-5:30").unwrap();
        assert_eq!(render(&india, 0), "1970-01-01T05:30:00.000000+05:30");
        let ny_default = TimeZone::from_posix(b"EST5EDT").unwrap();
        assert_eq!(ny_default.offset_at(1_783_000_000), -4 * 3600);
        for bad in [
            &b""[..],
            b"E5",
            b"EST",
            b"EST5EDT,M3",
            b"EST5EDT,M13.1.0,M11.1.0",
            b"EST5x",
        ] {
            assert!(
                TimeZone::from_posix(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn resolve_tz_variants() {
        let dir = OsStr::new("/usr/share/zoneinfo");
        let missing = OsStr::new("/nonexistent/localtime");
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            TimeZone::resolve(Some(OsStr::new("Europe/Berlin")), dir, missing),
            berlin
        );
        assert_eq!(
            TimeZone::resolve(Some(OsStr::new(":Europe/Berlin")), dir, missing),
            berlin
        );
        let abs = OsStr::new("/usr/share/zoneinfo/Europe/Berlin");
        assert_eq!(TimeZone::resolve(Some(abs), dir, missing), berlin);
        assert_eq!(TimeZone::resolve(None, dir, abs), berlin);
        // A minimal container without /etc/localtime is UTC.
        assert_eq!(TimeZone::resolve(None, dir, missing), TimeZone::utc());
        assert_eq!(
            TimeZone::resolve(Some(OsStr::new("")), dir, abs),
            TimeZone::utc()
        );
        assert_eq!(
            TimeZone::resolve(Some(OsStr::new("No/Such_Zone")), dir, abs),
            TimeZone::utc()
        );
        assert_eq!(
            TimeZone::resolve(Some(OsStr::new("../../etc/passwd")), dir, abs),
            TimeZone::utc()
        );
        let posix = TimeZone::resolve(Some(OsStr::new("JST-9")), dir, missing);
        assert_eq!(posix.offset_at(0), 9 * 3600);
    }

    /// Builds TZif bytes: `v1` true writes a version-1 file, else v2 with a footer.
    fn tzif(trans: &[i64], types: &[(i32, bool)], idx: &[u8], footer: &str, v1: bool) -> Vec<u8> {
        let header = |version: u8| {
            let mut h = b"TZif".to_vec();
            h.push(version);
            h.extend_from_slice(&[0; 15]);
            for n in [0, 0, 0, trans.len(), types.len(), 4] {
                h.extend_from_slice(&(n as u32).to_be_bytes());
            }
            h
        };
        let block = |wide: bool| {
            let mut d = Vec::new();
            for &t in trans {
                if wide {
                    d.extend_from_slice(&t.to_be_bytes());
                } else {
                    d.extend_from_slice(&(t as i32).to_be_bytes());
                }
            }
            d.extend_from_slice(idx);
            for &(off, dst) in types {
                d.extend_from_slice(&off.to_be_bytes());
                d.push(u8::from(dst));
                d.push(0);
            }
            d.extend_from_slice(b"ABC\0");
            d
        };
        let mut f = header(if v1 { 0 } else { b'2' });
        f.extend(block(false));
        if !v1 {
            f.extend(header(b'2'));
            f.extend(block(true));
            f.extend_from_slice(format!("\n{footer}\n").as_bytes());
        }
        f
    }

    #[test]
    fn generated_tzif_v1_and_v2_with_footer() {
        // One transition in 2000 from +1h to +2h, then the footer's rule takes over.
        let t2000 = days_from_civil(2000, 1, 1) * DAY;
        let v2 = tzif(
            &[t2000],
            &[(3600, false), (7200, false)],
            &[1],
            "CET-1CEST,M3.5.0,M10.5.0/3",
            false,
        );
        let z = TimeZone::from_tzif(&v2).unwrap();
        assert_eq!(z.offset_at(t2000 - 1), 3600);
        assert_eq!(z.offset_at(1_768_250_322), 3600); // January 2026 via footer
        assert_eq!(z.offset_at(1_783_000_000), 7200); // July 2026 via footer
        let v1 = tzif(&[t2000], &[(3600, false), (7200, false)], &[1], "", true);
        let z1 = TimeZone::from_tzif(&v1).unwrap();
        assert_eq!(z1.offset_at(t2000), 7200);
        assert_eq!(z1.offset_at(1_768_250_322), 7200);
        // Malformed inputs are errors, never panics.
        for cut in 0..v2.len() {
            let _ = TimeZone::from_tzif(&v2[..cut]);
        }
        assert!(TimeZone::from_tzif(&tzif(&[t2000], &[(0, false)], &[3], "", true)).is_err());
        let mut huge = v2.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(TimeZone::from_tzif(&huge).is_err());
    }

    /// Instants around every DST switch from 1975 to 2060 plus a spread of others.
    fn instants(tz: &TimeZone) -> Vec<i64> {
        let mut v: Vec<i64> = Vec::new();
        let from = days_from_civil(1975, 1, 1) * DAY;
        let to = days_from_civil(2060, 1, 1) * DAY;
        let mut t = from;
        let mut prev = tz.offset_at(t);
        // Hourly steps find every switch; probe each one's edges.
        while t < to {
            let off = tz.offset_at(t);
            if off != prev {
                v.extend([t - 3601, t - 1, t, t + 1, t + 3599]);
                prev = off;
            }
            t += 3600;
        }
        let mut x: i64 = 1;
        for _ in 0..300 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            v.push(from + (x >> 1).rem_euclid(to - from));
        }
        v
    }

    fn python_render(zone: &str, secs: &[i64]) -> Vec<String> {
        let script = "import sys, datetime, zoneinfo\n\
            z = zoneinfo.ZoneInfo(sys.argv[1])\n\
            for s in sys.stdin.read().split():\n\
            \x20   print(datetime.datetime.fromtimestamp(int(s), z).isoformat(timespec='microseconds'))\n";
        let input: String = secs.iter().map(|s| format!("{s}\n")).collect();
        crate::python_oracle::python_lines(script, &[zone], &input)
    }

    #[test]
    fn matches_python_zoneinfo_across_dst() {
        for name in [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
            "UTC",
        ] {
            let tz = zone(name);
            let secs = instants(&tz);
            let want = python_render(name, &secs);
            assert_eq!(want.len(), secs.len());
            let mut checked = 0;
            for (s, w) in secs.iter().zip(&want) {
                assert_eq!(&render(&tz, s * NS_PER_S), w, "{name} @{s}");
                checked += 1;
            }
            println!("{name}: {checked} instants match python3 zoneinfo");
        }
    }

    #[test]
    fn matches_gnu_date() {
        for name in ["Europe/Berlin", "America/New_York"] {
            let tz = zone(name);
            let secs: Vec<i64> = instants(&tz).into_iter().step_by(9).collect();
            for s in &secs {
                let ns = s * NS_PER_S + 123_456_789;
                let out = Command::new("date")
                    .env("TZ", name)
                    .args([
                        "-d",
                        &format!("@{s}.123456789"),
                        "+%Y-%m-%dT%H:%M:%S.%6N%:z",
                    ])
                    .output()
                    .expect("GNU date is needed for this test");
                let want = String::from_utf8(out.stdout).unwrap();
                assert_eq!(render(&tz, ns), want.trim_end(), "{name} @{s}");
            }
            println!("{name}: {} instants match date(1)", secs.len());
        }
    }
}
