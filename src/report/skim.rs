//! A fast reader of event lines: one pass over the bytes that checks the line is JSON and takes out
//! only the fields the report counts, without building values for the rest. With serde_json the
//! report ran slower than the disk reads; most of a line is fields the report never looks at.
//!
//! It answers only when it is sure of serde's answer, and gives up otherwise, leaving the
//! line to serde: a key with an escape (it might spell a counted field), a counted field of a type
//! or range serde would reject or that it does not decode itself (negative or fractional numbers, a
//! `\u` surrogate), a field given twice (serde refuses those), nesting deeper than events nest, or
//! anything that is not JSON. Key order does not matter. Where it answers it follows serde_json's
//! grammar exactly, also in the fields it skips: whitespace is space, tab, CR, LF; strings hold no
//! raw control character and only the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; numbers are
//! `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`; nothing but whitespace follows the object.

use std::borrow::Cow;

use super::event_line::{AlertFields, EventLine, FileFields, MergedFields, ProcessFields};

/// Nesting deeper than this is left to serde; events nest three deep (`process.ancestors[].pid`).
const MAX_DEPTH: u32 = 16;

/// Reads the event in `line` into `ev` (which it may have partly filled when it gives up); false
/// when the line is left to serde. In place, as the report's line loop holds one `EventLine`:
/// moving it about cost more than filling it.
pub fn skim<'a>(line: &'a str, ev: &mut EventLine<'a>) -> bool {
    let l = Line {
        text: line,
        b: line.as_bytes(),
    };
    if l.b.first() != Some(&b'{') {
        return false;
    }
    l.event(1, ev)
        .is_some_and(|end| l.whitespace(end) == l.b.len())
}

/// One line, read by position: each reader takes the position where its part starts (past any
/// whitespace) and gives back the position after it, so the cursor stays in a register.
struct Line<'a> {
    /// The line as text, to hand out borrowed fields; `b` is the same bytes.
    text: &'a str,
    b: &'a [u8],
}

impl<'a> Line<'a> {
    /// The top-level object after its `{`, read into `ev`.
    fn event(&self, i: usize, ev: &mut EventLine<'a>) -> Option<usize> {
        let mut given = Given::default();
        let end = self.members(i, |key, v| {
            let (field, end) = match key {
                b"op" => (0, self.string_into(v, &mut ev.op)?),
                b"timestamp" => (1, self.string_into(v, &mut ev.timestamp)?),
                b"process" => (2, self.object_or_null(v, &mut ev.process, Self::process)?),
                b"file" => (3, self.object_or_null(v, &mut ev.file, Self::file)?),
                b"alert" => (4, self.object_or_null(v, &mut ev.alert, Self::alert)?),
                b"merged" => (5, self.object_or_null(v, &mut ev.merged, Self::merged)?),
                _ => return self.skip(v),
            };
            given.first(field)?;
            Some(end)
        })?;
        // `op` and `timestamp` are required.
        given.all(&[0, 1]).then_some(end)
    }

    fn process(&self, i: usize, p: &mut ProcessFields<'a>) -> Option<usize> {
        let mut given = Given::default();
        self.object(i, |key, v| {
            let (field, end) = match key {
                b"name" => (0, self.nullable_string(v, &mut p.name)?),
                b"exe_path" => (1, self.nullable_string(v, &mut p.exe_path)?),
                b"file_path" => (2, self.nullable_string(v, &mut p.file_path)?),
                b"uid" => (3, {
                    let (uid, end) = self.nullable_unsigned(v, u32::MAX.into())?;
                    p.uid = uid.map(|n| n as u32);
                    end
                }),
                b"user" => (4, self.nullable_string(v, &mut p.user)?),
                _ => return self.skip(v),
            };
            given.first(field)?;
            Some(end)
        })
    }

    fn file(&self, i: usize, f: &mut FileFields<'a>) -> Option<usize> {
        let mut given = Given::default();
        self.object(i, |key, v| {
            let (field, end) = match key {
                b"file_path" => (0, self.nullable_string(v, &mut f.file_path)?),
                b"bytes_written" => (1, {
                    let (n, end) = self.nullable_unsigned(v, u64::MAX)?;
                    f.bytes_written = n;
                    end
                }),
                _ => return self.skip(v),
            };
            given.first(field)?;
            Some(end)
        })
    }

    fn alert(&self, i: usize, a: &mut AlertFields<'a>) -> Option<usize> {
        let mut given = Given::default();
        self.object(i, |key, v| match key {
            b"severity" => {
                let end = self.nullable_string(v, &mut a.severity)?;
                given.first(0)?;
                Some(end)
            }
            _ => self.skip(v),
        })
    }

    fn merged(&self, i: usize, m: &mut MergedFields) -> Option<usize> {
        let mut given = Given::default();
        let end = self.object(i, |key, v| match key {
            b"count" => {
                let (n, end) = self.unsigned(v, u64::MAX)?;
                m.count = n;
                given.first(0)?;
                Some(end)
            }
            _ => self.skip(v),
        })?;
        // `count` is required.
        given.all(&[0]).then_some(end)
    }

    /// `null` at `i` as None in `slot`, else the object there read by `read` into it.
    fn object_or_null<T: Default>(
        &self,
        i: usize,
        slot: &mut Option<T>,
        read: impl FnOnce(&Self, usize, &mut T) -> Option<usize>,
    ) -> Option<usize> {
        if self.b[i..].starts_with(b"null") {
            *slot = None;
            return Some(i + 4);
        }
        read(self, i, slot.insert(T::default()))
    }

    /// A string at `i` into `slot`.
    fn string_into(&self, i: usize, slot: &mut Cow<'a, str>) -> Option<usize> {
        let (text, end) = self.string(i)?;
        *slot = text;
        Some(end)
    }

    /// `null` or a string at `i` into `slot`.
    fn nullable_string(&self, i: usize, slot: &mut Option<Cow<'a, str>>) -> Option<usize> {
        if self.b[i..].starts_with(b"null") {
            *slot = None;
            return Some(i + 4);
        }
        let (text, end) = self.string(i)?;
        *slot = Some(text);
        Some(end)
    }

    /// `null` or an integer of at most `max` at `i`.
    fn nullable_unsigned(&self, i: usize, max: u64) -> Option<(Option<u64>, usize)> {
        if self.b[i..].starts_with(b"null") {
            return Some((None, i + 4));
        }
        let (n, end) = self.unsigned(i, max)?;
        Some((Some(n), end))
    }

    /// An object at `i` whose keys the caller matches (see `members`).
    fn object(
        &self,
        i: usize,
        member: impl FnMut(&'a [u8], usize) -> Option<usize>,
    ) -> Option<usize> {
        if self.b.get(i) != Some(&b'{') {
            return None;
        }
        self.members(i + 1, member)
    }

    /// The members of an object after its `{`, up to and with its `}`: `member` is given each key
    /// and where its value starts, and says where the value ends. Keys with escapes are left to
    /// serde (one might spell a counted field).
    fn members(
        &self,
        i: usize,
        mut member: impl FnMut(&'a [u8], usize) -> Option<usize>,
    ) -> Option<usize> {
        let (c, mut i) = self.token(i)?;
        if c == b'}' {
            return Some(i + 1);
        }
        loop {
            if self.b.get(i) != Some(&b'"') {
                return None;
            }
            let start = i + 1;
            let end = start + string_stop(self.b.get(start..)?)?;
            if self.b[end] != b'"' {
                return None;
            }
            let value = self.colon(end + 1)?;
            let (c, after) = self.token(member(&self.b[start..end], value)?)?;
            match c {
                b',' => i = self.token(after + 1)?.1,
                b'}' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    /// The `:` after a key at `i`: where the value after it starts.
    #[inline]
    fn colon(&self, i: usize) -> Option<usize> {
        if let (Some(b':'), Some(c)) = (self.b.get(i), self.b.get(i + 1)) {
            if !is_whitespace(*c) {
                return Some(i + 1);
            }
        }
        let (c, i) = self.token(i)?;
        if c != b':' {
            return None;
        }
        Some(self.token(i + 1)?.1)
    }

    /// A number serde reads as an integer of at most `max`: digits, no sign, fraction or exponent.
    fn unsigned(&self, i: usize, max: u64) -> Option<(u64, usize)> {
        let mut n = 0u64;
        let mut end = i;
        while let Some(&c @ b'0'..=b'9') = self.b.get(end) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            end += 1;
        }
        // No digit, or a leading zero before another (serde stops there with an error).
        if end == i || (self.b[i] == b'0' && end > i + 1) || n > max {
            return None;
        }
        Some((n, end))
    }

    /// A string at `i`, decoded: borrowed when it holds no escape.
    fn string(&self, i: usize) -> Option<(Cow<'a, str>, usize)> {
        if self.b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let mut end = start + string_stop(self.b.get(start..)?)?;
        if self.b[end] == b'"' {
            return Some((Cow::Borrowed(self.text.get(start..end)?), end + 1));
        }
        let mut owned = String::new();
        let mut run = start;
        loop {
            owned.push_str(self.text.get(run..end)?);
            if self.b[end] != b'\\' {
                return None; // a raw control character
            }
            let (c, after) = self.escape(end + 1)?;
            owned.push(c);
            run = after;
            end = run + string_stop(self.b.get(run..)?)?;
            if self.b[end] == b'"' {
                owned.push_str(self.text.get(run..end)?);
                return Some((Cow::Owned(owned), end + 1));
            }
        }
    }

    /// The character of the escape after a backslash at `i`; None for a surrogate (serde pairs
    /// those) or an escape JSON does not have.
    fn escape(&self, i: usize) -> Option<(char, usize)> {
        let c = match *self.b.get(i)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return Some((char::from_u32(self.hex4(i + 1)?.into())?, i + 5)),
            _ => return None,
        };
        Some((c, i + 1))
    }

    /// The four hex digits of a `\u` escape at `i`.
    fn hex4(&self, i: usize) -> Option<u16> {
        let mut n = 0u16;
        for &d in self.b.get(i..i + 4)? {
            n = n << 4 | char::from(d).to_digit(16)? as u16;
        }
        Some(n)
    }

    /// Any JSON value at `i`: strings and integers (most of what is skipped) here, the rest by
    /// `skip_value`.
    #[inline]
    fn skip(&self, i: usize) -> Option<usize> {
        match self.b.get(i)? {
            b'"' => self.skip_string(i + 1),
            b'1'..=b'9' => {
                let end = self.digits(i + 1);
                match self.b.get(end) {
                    Some(b'.' | b'e' | b'E') => self.skip_number(i),
                    _ => Some(end),
                }
            }
            _ => self.skip_value(i),
        }
    }

    /// Any JSON value at `i`, with everything nested in it, checked but not kept: one loop over a
    /// stack of open containers (a bit each, innermost lowest: 1 an object, 0 an array), as
    /// serde skips.
    fn skip_value(&self, mut i: usize) -> Option<usize> {
        let mut open = 0u32;
        let mut depth = 0;
        loop {
            // `i` is where a value starts.
            match *self.b.get(i)? {
                b'"' => i = self.skip_string(i + 1)?,
                b'{' | b'[' if depth == MAX_DEPTH => return None,
                b'{' => {
                    let (c, j) = self.token(i + 1)?;
                    if c != b'}' {
                        (depth, open) = (depth + 1, open << 1 | 1);
                        i = self.key(j)?;
                        continue;
                    }
                    i = j + 1;
                }
                b'[' => {
                    let (c, j) = self.token(i + 1)?;
                    if c != b']' {
                        (depth, open) = (depth + 1, open << 1);
                        i = j;
                        continue;
                    }
                    i = j + 1;
                }
                b'n' => i = self.literal(i, b"null")?,
                b't' => i = self.literal(i, b"true")?,
                b'f' => i = self.literal(i, b"false")?,
                b'-' | b'0'..=b'9' => i = self.skip_number(i)?,
                _ => return None,
            }
            // After a value: the containers that close here, then a comma and the next value.
            loop {
                if depth == 0 {
                    return Some(i);
                }
                let (c, j) = self.token(i)?;
                let in_object = open & 1 == 1;
                match c {
                    b',' => {
                        let next = self.token(j + 1)?.1;
                        i = if in_object { self.key(next)? } else { next };
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                (depth, open) = (depth - 1, open >> 1);
                i = j + 1;
            }
        }
    }

    /// A key of a skipped object at `i` and its colon: where its value starts.
    fn key(&self, i: usize) -> Option<usize> {
        if self.b.get(i) != Some(&b'"') {
            return None;
        }
        self.colon(self.skip_string(i + 1)?)
    }

    /// The rest of a string after its opening quote at `i - 1`, checked but not kept. As serde
    /// does when it skips, a `\u` escape needs only its four hex digits (a lone surrogate is no
    /// error here).
    #[inline]
    fn skip_string(&self, i: usize) -> Option<usize> {
        let end = i + string_stop(self.b.get(i..)?)?;
        if self.b[end] == b'"' {
            return Some(end + 1);
        }
        self.skip_string_rest(end)
    }

    /// The rest of a skipped string from its first stop that is no quote at `i`.
    #[inline(never)]
    fn skip_string_rest(&self, mut i: usize) -> Option<usize> {
        loop {
            let end = i + string_stop(self.b.get(i..)?)?;
            match self.b[end] {
                b'"' => return Some(end + 1),
                b'\\' => match *self.b.get(end + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i = end + 2,
                    b'u' => {
                        self.hex4(end + 2)?;
                        i = end + 6;
                    }
                    _ => return None,
                },
                _ => return None, // a raw control character
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` at `i`.
    fn skip_number(&self, mut i: usize) -> Option<usize> {
        if self.b.get(i) == Some(&b'-') {
            i += 1;
        }
        match *self.b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = self.digits(i + 1),
            _ => return None,
        }
        // A second leading zero is no number (serde stops there with an error).
        if self.b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        if self.b.get(i) == Some(&b'.') {
            i = self.some_digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = self.b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = self.b.get(i) {
                i += 1;
            }
            i = self.some_digits(i)?;
        }
        Some(i)
    }

    /// At least one digit at `i`, then any more.
    fn some_digits(&self, i: usize) -> Option<usize> {
        let end = self.digits(i);
        (end > i).then_some(end)
    }

    fn digits(&self, mut i: usize) -> usize {
        while self.b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    }

    fn literal(&self, i: usize, word: &[u8]) -> Option<usize> {
        self.b[i..].starts_with(word).then_some(i + word.len())
    }

    /// The byte at `i` or, if that is whitespace, after it, and its position. filespy writes no
    /// whitespace, so the first look nearly always finds the token.
    #[inline]
    fn token(&self, i: usize) -> Option<(u8, usize)> {
        match *self.b.get(i)? {
            c if is_whitespace(c) => {
                let i = self.whitespace(i);
                Some((*self.b.get(i)?, i))
            }
            c => Some((c, i)),
        }
    }

    fn whitespace(&self, mut i: usize) -> usize {
        while self.b.get(i).is_some_and(|&c| is_whitespace(c)) {
            i += 1;
        }
        i
    }
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The counted fields of one object read so far, a bit each: serde refuses a field given twice
/// (also one given as null first), so the skimmer gives up on those.
#[derive(Default)]
struct Given(u8);

impl Given {
    /// Notes `field`; None if it was given before.
    fn first(&mut self, field: u8) -> Option<()> {
        let bit = 1 << field;
        if self.0 & bit != 0 {
            return None;
        }
        self.0 |= bit;
        Some(())
    }

    fn all(&self, fields: &[u8]) -> bool {
        fields.iter().all(|f| self.0 & 1 << f != 0)
    }
}

/// Where a string's plain run ends: the first `"`, `\` or control character in `b`, eight bytes at
/// a time (strings are most of a line); None if there is none (an unterminated string).
fn string_stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let (q, bs) = (x ^ QUOTES, x ^ BACKSLASHES);
        // Per byte, the high bit is set where the byte is below 0x20 (a control character) or zero
        // after the xor (a quote or backslash); the lowest set bit is always a true match (borrows
        // only run upwards), which little-endian order makes the first byte.
        let stops = (x.wrapping_sub(ONES * 0x20) & !x
            | q.wrapping_sub(ONES) & !q
            | bs.wrapping_sub(ONES) & !bs)
            & HIGHS;
        if stops != 0 {
            return Some(at + stops.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_stop_finds_the_first_quote_backslash_or_control_character_at_every_offset() {
        // Bytes next to the stops in value or in bits, which must not stop the run.
        let near = [
            b'!', b'#', b'[', b']', 0x20, 0x7f, 0x80, 0xa2, 0xdc, 0xff, b'x',
        ];
        for len in 0..40 {
            for at in 0..len {
                for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut hay: Vec<u8> = (0..len).map(|i| near[i % near.len()]).collect();
                    hay[at] = stop;
                    assert_eq!(string_stop(&hay), Some(at), "len {len}, {stop:#x} at {at}");
                    if at + 1 < len {
                        hay[len - 1] = b'"';
                        assert_eq!(string_stop(&hay), Some(at), "a later stop too");
                    }
                }
            }
            let plain: Vec<u8> = (0..len).map(|i| near[i % near.len()]).collect();
            assert_eq!(string_stop(&plain), None, "len {len}");
        }
    }

    #[test]
    fn decodes_the_escapes_of_counted_strings() {
        let line = r#"{"op":"write","timestamp":"t","file":{"file_path":"/a\"b\\c\/d\b\f\n\r\t\u00e9\u2028\u0000"}}"#;
        let mut ev = EventLine::default();
        assert!(skim(line, &mut ev), "skimmed");
        let path = ev.file.and_then(|f| f.file_path).expect("path");
        assert_eq!(path, "/a\"b\\c/d\x08\x0c\n\r\té\u{2028}\0");
    }

    #[test]
    fn leaves_to_serde_what_it_is_not_sure_of() {
        for line in [
            r#"{"o\u0070":"write","timestamp":"t"}"#,
            r#"{"op":"write","timestamp":"t","file":{"file_path":"\ud83d\ude00"}}"#,
            r#"{"op":"write","timestamp":"t","process":{"uid":-0}}"#,
            r#"{"op":"write","timestamp":"t","process":{"uid":1.0}}"#,
            r#"{"op":"write","timestamp":"t","process":{"uid":4294967296}}"#,
            r#"{"op":"write","timestamp":"t","process":null,"process":null}"#,
            r#"{"op":"write","timestamp":"t","x":[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]}"#,
            r#"{"op":"write","timestamp":"t","process":["a"]}"#,
        ] {
            assert!(!skim(line, &mut EventLine::default()), "{line}");
        }
    }
}
