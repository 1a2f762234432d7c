//! Byte encodings shared by the output formats: base64, JSON string escaping, terminal-safe text.
//!
//! Lossless bytes in JSON: kernel names (comm, paths, argv) are bytes, not text. A field whose
//! bytes are valid UTF-8 is a plain JSON string. Otherwise the field holds the lossy text (each
//! invalid sequence replaced by U+FFFD) and a sibling key `<key>_b64` holds the exact bytes in
//! standard base64 (RFC 4648 §4, with `=` padding), e.g.
//! `"name": "a\ufffd.txt", "name_b64": "YYAudHh0"`. For `cmdline`, if any argument is invalid,
//! `cmdline_b64` is an array with every argument in base64, index for index. Inside strings `"`,
//! `\` and control characters are escaped (`\n`, `\t`, … or `\u00XX`), as are DEL, U+2028 and U+2029
//! so a line is safe to embed in JavaScript too.

use crate::append::append;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the standard base64 (RFC 4648, padded) of `data`.
pub fn base64_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Per byte: 0 = copy as is, 1 = needs escaping, 2 = lead byte of a possible U+2028/U+2029.
static JSON_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t[0x7f] = 1;
    t[0xe2] = 2;
    t
};

/// Appends `s` escaped for the inside of a JSON string (no surrounding quotes).
pub fn json_escape_into(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match JSON_CLASS[usize::from(c)] {
            0 => {
                i += 1;
                continue;
            }
            2 => {
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                if !(b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9))) {
                    i += 1;
                    continue;
                }
                append(out, &b[start..i]);
                out.extend_from_slice(if b[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
                continue;
            }
            _ => {}
        }
        append(out, &b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]),
        }
        i += 1;
        start = i;
    }
    append(out, &b[start..]);
}

/// True when every byte is printable ASCII other than `"` and `\\`, i.e. the bytes are their own JSON
/// string body. Checks 8 bytes per step (the common case for paths, comms and argv), so such fields skip
/// both UTF-8 validation and the per-byte escape scan.
fn plain_ascii(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Exact "some byte of x is below n" for bytes under 0x80 and n <= 0x80.
    let below = |x: u64, n: u8| x.wrapping_sub(LO * u64::from(n)) & !x & HI != 0;
    let zero = |x: u64| below(x, 1);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        if x & HI != 0
            || below(x, 0x20)
            || zero(x ^ (LO * u64::from(b'"')))
            || zero(x ^ (LO * u64::from(b'\\')))
            || zero(x ^ (LO * 0x7f))
        {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
}

/// Appends `bytes` as a quoted JSON string (lossy if not UTF-8); returns whether they were UTF-8.
pub fn json_string(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    out.push(b'"');
    if plain_ascii(bytes) {
        append(out, bytes);
        out.push(b'"');
        return true;
    }
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => {
            json_escape_into(s, out);
            true
        }
        Err(_) => {
            json_escape_into(&String::from_utf8_lossy(bytes), out);
            false
        }
    };
    out.push(b'"');
    valid
}

/// Appends `"key":"value"` for raw bytes, plus `,"key_b64":"…"` when they are not valid UTF-8.
pub fn json_bytes_field(key: &str, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    append(out, key.as_bytes());
    out.extend_from_slice(b"\":");
    if !json_string(bytes, out) {
        out.extend_from_slice(b",\"");
        append(out, key.as_bytes());
        out.extend_from_slice(b"_b64\":\"");
        base64_into(bytes, out);
        out.push(b'"');
    }
}

/// "00" to "99", for two digits per division.
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    append(out, &buf[i..]);
}

/// Appends `bytes` for a terminal: invalid UTF-8 shown as U+FFFD; control characters (C0, DEL, C1)
/// and backslash escaped, so a name can neither forge a line nor send terminal escape sequences.
/// Returns the number of characters appended (for column padding).
pub fn text_escape_into(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(s) => text_escape_str(s, out),
        Err(_) => text_escape_str(&String::from_utf8_lossy(bytes), out),
    }
}

fn text_escape_str(s: &str, out: &mut Vec<u8>) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut width = 0;
    for ch in s.chars() {
        let c = ch as u32;
        let hex_esc;
        let esc: &[u8] = match ch {
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            _ if c < 0x20 || (0x7f..0xa0).contains(&c) => {
                hex_esc = [b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]];
                &hex_esc
            }
            _ => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                width += 1;
                continue;
            }
        };
        out.extend_from_slice(esc);
        width += esc.len();
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_fast_path_agrees_with_the_escaper() {
        // Every byte value at every position of a 17-byte field (two words and a tail): the fast path
        // may only claim bytes that the escaper would copy unchanged.
        for pos in 0..17 {
            for v in 0..=255u8 {
                let mut b = *b"abcdefghijklmnopq";
                b[pos] = v;
                let mut slow = Vec::new();
                match std::str::from_utf8(&b) {
                    Ok(s) => json_escape_into(s, &mut slow),
                    Err(_) => slow.clear(),
                }
                let expect = v.is_ascii() && slow == b;
                assert_eq!(plain_ascii(&b), expect, "byte {v:#x} at {pos}");
            }
        }
        let mut out = Vec::new();
        assert!(json_string(b"/var/log/app.log", &mut out));
        assert_eq!(out, b"\"/var/log/app.log\"");
    }

    fn b64(d: &[u8]) -> String {
        let mut o = Vec::new();
        base64_into(d, &mut o);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(i.as_bytes()), o);
        }
        assert_eq!(b64(b"a\x80.txt"), "YYAudHh0");
        assert_eq!(b64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn base64_matches_python() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut cases = Vec::new();
        for n in 0..40 {
            cases.push(data[n * 7 % 200..n * 7 % 200 + n].to_vec());
        }
        let mut input = String::new();
        for c in &cases {
            input.push_str(&c.iter().map(|b| format!("{b:02x}")).collect::<String>());
            input.push('\n');
        }
        let script = "import sys, base64\nfor l in sys.stdin.read().split('\\n')[:-1]:\n    print(base64.b64encode(bytes.fromhex(l)).decode())\n";
        let want = crate::python_oracle::python_lines(script, &[], &input);
        assert_eq!(want.len(), cases.len());
        for (c, w) in cases.iter().zip(&want) {
            assert_eq!(&b64(c), w);
        }
    }

    #[test]
    fn json_escaping_round_trips_through_serde() {
        let s = "q\" b\\ n\n t\t r\r nul\0 bell\x07 del\x7f ls\u{2028} ps\u{2029} e\u{e2}\u{80} é 日本 \u{1F600}";
        let mut out = b"\"".to_vec();
        json_escape_into(s, &mut out);
        out.push(b'"');
        let text = std::str::from_utf8(&out).unwrap();
        assert!(!text.contains('\n') && !text.contains('\u{2028}'));
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bytes_field_valid_and_invalid() {
        let mut o = b"{".to_vec();
        json_bytes_field("name", b"a\x80.txt", &mut o);
        o.push(b'}');
        assert_eq!(
            std::str::from_utf8(&o).unwrap(),
            "{\"name\":\"a\u{fffd}.txt\",\"name_b64\":\"YYAudHh0\"}"
        );
        let mut o = Vec::new();
        json_bytes_field("k", "ok ✓".as_bytes(), &mut o);
        assert_eq!(std::str::from_utf8(&o).unwrap(), "\"k\":\"ok ✓\"");
    }

    #[test]
    fn numbers() {
        for v in [
            0,
            7,
            9,
            10,
            11,
            99,
            100,
            101,
            999,
            1000,
            1234567890,
            u64::MAX,
        ] {
            let mut o = Vec::new();
            push_u64(&mut o, v);
            assert_eq!(o, v.to_string().as_bytes());
        }
    }

    #[test]
    fn text_escaping_cannot_forge_lines_or_escapes() {
        let mut o = Vec::new();
        let w = text_escape_into(b"a\nb\x1b[31m\\\xff\xc2\x9b\tz", &mut o);
        let s = String::from_utf8(o).unwrap();
        assert_eq!(s, "a\\nb\\x1b[31m\\\\\u{fffd}\\x9b\\tz");
        assert_eq!(w, s.chars().count());
        assert!(!s.chars().any(|c| c.is_control()));
    }
}
