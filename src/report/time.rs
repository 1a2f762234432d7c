//! Instants of the report: the events' RFC 3339 `timestamp`s and the `--since`/`--until` bounds, as
//! microseconds since the Unix epoch (events carry microseconds; finer digits are dropped).

use crate::clock::{days_from_civil, TimeZone};

const US_PER_S: i64 = 1_000_000;

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (RFC 3339 section 5.6; `t`, `z` and a space for the `T`
/// are accepted as the RFC allows) to microseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = parse_date(&b[..10])?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    // 60 is a leap second; it counts as the next second's start.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, &c) in frac[..digits].iter().enumerate().take(6) {
            micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh @ .., b':', om1, om2] if oh.len() == 2 => {
            let (oh, om) = (num(oh)?, num(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let secs = days * 86_400 + h * 3600 + m * 60 + sec - offset;
    Some(secs * US_PER_S + micros)
}

/// A `--since`/`--until` value: an RFC 3339 date-time, or a plain `YYYY-MM-DD`, which means the
/// midnight that starts that day in `tz` (the local zone, as the events' offsets are).
pub fn parse_bound(s: &str, tz: &TimeZone) -> Option<i64> {
    if s.len() == 10 {
        let local = parse_date(s.as_bytes())? * 86_400;
        // The offset in force at that local midnight: found from a first guess, then corrected.
        let guess = local - i64::from(tz.offset_at(local));
        let utc = local - i64::from(tz.offset_at(guess));
        return Some(utc * US_PER_S);
    }
    parse_rfc3339(s)
}

/// `YYYY-MM-DD` to days since 1970-01-01, checking the day exists.
fn parse_date(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&b[..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m as u32, d as u32))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A fixed-width run of ASCII digits.
fn num(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = US_PER_S;

    #[test]
    fn rfc3339_instants() {
        // 2026-11-23T03:54:33Z = days 20415.
        let base = (days_from_civil(2026, 11, 23) * 86_400 + 3 * 3600 + 54 * 60 + 33) * S;
        for (text, want) in [
            ("2026-11-23T03:54:33Z", base),
            ("2026-11-23T03:54:33.350731+00:00", base + 350_731),
            ("2026-11-23t03:54:33.350731z", base + 350_731),
            ("2026-11-23 03:54:33.5Z", base + 500_000),
            ("2026-11-23T03:54:33.123456789Z", base + 123_456),
            ("2026-11-23T05:54:33+02:00", base),
            ("2026-11-23T00:24:33-03:30", base),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59.5Z", -S / 2),
            (
                "2024-02-29T00:00:00Z",
                days_from_civil(2024, 2, 29) * 86_400 * S,
            ),
            (
                "2016-12-31T23:59:60Z",
                days_from_civil(2017, 1, 1) * 86_400 * S,
            ),
        ] {
            assert_eq!(parse_rfc3339(text), Some(want), "{text}");
        }
    }

    #[test]
    fn rfc3339_rejects() {
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T03:54:33",
            "2026-11-23T03:54Z",
            "2026-11-23X03:54:33Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T23:60:00Z",
            "2026-11-23T23:59:61Z",
            "2026-11-23T03:54:33.Z",
            "2026-11-23T03:54:33+0200",
            "2026-11-23T03:54:33+02:0",
            "2026-11-23T03:54:33+24:00",
            "2026-11-23T03:54:33 Z",
            "2026-11-23T03:54:33Z ",
            "+026-11-23T03:54:33Z",
            "2026-1a-23T03:54:33Z",
            "２０２６-11-23T03:54:33Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_dates_are_local_midnight() {
        let day = days_from_civil(2026, 11, 23) * 86_400 * S;
        assert_eq!(parse_bound("2026-11-23", &TimeZone::utc()), Some(day));
        // CET in winter is UTC+1: local midnight is 23:00 UTC the day before.
        let cet = TimeZone::from_posix(b"CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(parse_bound("2026-11-23", &cet), Some(day - 3600 * S));
        // And UTC+2 in summer.
        let july = days_from_civil(2026, 7, 1) * 86_400 * S;
        assert_eq!(parse_bound("2026-07-01", &cet), Some(july - 7200 * S));
        // Newfoundland: UTC-3:30 in winter.
        let nst = TimeZone::from_posix(b"NST3:30NDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(parse_bound("2026-11-23", &nst), Some(day + 12_600 * S));
        // A full date-time keeps its own offset whatever the zone.
        assert_eq!(parse_bound("2026-11-23T00:00:00Z", &cet), Some(day));
        for bad in ["2026-11-31", "2026/11/23", "20261123", "yesterday", ""] {
            assert_eq!(parse_bound(bad, &cet), None, "{bad:?}");
        }
    }
}
