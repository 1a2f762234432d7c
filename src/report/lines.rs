//! Lines of an input of any size with a bounded buffer: a line longer than `MAX_LINE` is reported as
//! too long and skipped up to its newline without ever being held whole.

use std::io::{self, Read};

/// Longest line kept, newline excluded. A filespy event is a few KiB at most (paths are at most
/// 4095 bytes, argv is capped), so anything longer is not one.
pub const MAX_LINE: usize = 1 << 20;

/// Bytes asked of each read(2); the buffer holds one whole line plus this much.
const READ_CHUNK: usize = 256 << 10;

/// One line of the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes without its newline (the last line may lack one).
    Text(&'a [u8]),
    /// A line longer than `MAX_LINE`: skipped.
    TooLong,
}

pub struct Lines<R> {
    src: R,
    buf: Vec<u8>,
    /// `buf[start..end]` holds bytes read but not yet returned.
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes read so far.
    pub bytes: u64,
}

impl<R: Read> Lines<R> {
    pub fn new(src: R) -> Lines<R> {
        Lines {
            src,
            buf: vec![0; MAX_LINE + READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
            bytes: 0,
        }
    }

    /// The next line, or None at the end of the input.
    #[allow(clippy::should_implement_trait)] // lines borrow the buffer: not an Iterator
    pub fn next(&mut self) -> io::Result<Option<Line<'_>>> {
        // Where to resume looking for a newline in `buf[start..end]`.
        let mut scanned = 0;
        loop {
            let pending = &self.buf[self.start + scanned..self.end];
            if let Some(i) = find_newline(pending) {
                let line_end = self.start + scanned + i;
                let line = self.start..line_end;
                self.start = line_end + 1;
                return Ok(Some(Line::Text(&self.buf[line])));
            }
            scanned = self.end - self.start;
            if scanned > MAX_LINE {
                self.skip_rest_of_line()?;
                return Ok(Some(Line::TooLong));
            }
            if self.eof {
                if scanned == 0 {
                    return Ok(None);
                }
                let line = self.start..self.end;
                self.start = self.end;
                return Ok(Some(Line::Text(&self.buf[line])));
            }
            self.fill()?;
        }
    }

    /// Reads more after what is pending, first moving it to the front when the tail has no room.
    fn fill(&mut self) -> io::Result<()> {
        if self.buf.len() - self.end < READ_CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let room = &mut self.buf[self.end..];
        let n = loop {
            match self.src.read(room) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        self.bytes += n as u64;
        self.eof = n == 0;
        Ok(())
    }

    /// Drops everything up to and including the next newline (or to the end of the input).
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = find_newline(pending) {
                self.start += i + 1;
                return Ok(());
            }
            self.start = 0;
            self.end = 0;
            if self.eof {
                return Ok(());
            }
            self.fill()?;
        }
    }
}

/// The first `\n` in `hay`, 32 bytes at a time (four words tested together, then the first of
/// them with a newline found): a byte-by-byte search took a sixth of the report's time, a word at a
/// time still a tenth.
fn find_newline(hay: &[u8]) -> Option<usize> {
    let mut blocks = hay.chunks_exact(32);
    let mut at = 0;
    for block in &mut blocks {
        let w = |i: usize| {
            newlines_in(u64::from_le_bytes(
                block[i..i + 8].try_into().expect("8 bytes"),
            ))
        };
        let (a, b, c, d) = (w(0), w(8), w(16), w(24));
        if a | b | c | d != 0 {
            let (skip, word) = [(0, a), (8, b), (16, c), (24, d)]
                .into_iter()
                .find(|&(_, m)| m != 0)
                .expect("one word has a newline");
            return Some(at + skip + word.trailing_zeros() as usize / 8);
        }
        at += 32;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

/// The high bit of each byte of `x` that may be a newline; the lowest one set always is one (borrows
/// only run upwards), which little-endian order makes the first.
fn newlines_in(x: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let x = x ^ NEWLINES;
    x.wrapping_sub(ONES) & !x & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, so lines straddle reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn collect(data: &[u8], step: usize) -> Vec<Option<Vec<u8>>> {
        let mut lines = Lines::new(Trickle { data, step });
        let mut out = Vec::new();
        while let Some(line) = lines.next().unwrap() {
            out.push(match line {
                Line::Text(t) => Some(t.to_vec()),
                Line::TooLong => None,
            });
        }
        assert_eq!(lines.bytes, data.len() as u64);
        out
    }

    #[test]
    fn finds_the_first_newline_at_every_offset() {
        // Past two 32-byte blocks, so a newline sits in every word of a block and in the rest.
        for len in 0..80 {
            for nl in 0..len {
                let mut hay = vec![b'x'; len];
                hay[nl] = b'\n';
                // Bytes that differ from a newline by one bit, or are 0x80-ish, must not match.
                for (i, b) in hay.iter_mut().enumerate() {
                    if *b == b'x' {
                        *b = [0x0b, 0x08, 0x8a, 0x00, 0xff, 0x09][i % 6];
                    }
                }
                assert_eq!(find_newline(&hay), Some(nl), "len {len} at {nl}");
                if nl + 1 < len {
                    hay[len - 1] = b'\n';
                    assert_eq!(find_newline(&hay), Some(nl), "a later newline too");
                }
            }
            assert_eq!(find_newline(&vec![0x0bu8; len]), None);
        }
    }

    #[test]
    fn splits_on_newlines_whatever_the_read_sizes() {
        let data = b"one\n\ntwo\nthree";
        for step in [1, 2, 3, 5, 100] {
            let want: Vec<Option<Vec<u8>>> = [&b"one"[..], b"", b"two", b"three"]
                .iter()
                .map(|l| Some(l.to_vec()))
                .collect();
            assert_eq!(collect(data, step), want, "step {step}");
        }
        assert!(collect(b"", 7).is_empty());
        assert_eq!(collect(b"\n", 7), [Some(Vec::new())]);
    }

    #[test]
    fn an_overlong_line_is_skipped_to_its_newline() {
        let mut data = b"a\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE + 17));
        data.extend_from_slice(b"\nb\n");
        data.extend(std::iter::repeat_n(b'y', MAX_LINE));
        data.extend_from_slice(b"\n");
        data.extend(std::iter::repeat_n(b'z', MAX_LINE + 1));
        for step in [4096, READ_CHUNK, usize::MAX] {
            let got = collect(&data, step);
            assert_eq!(got.len(), 5, "step {step}");
            assert_eq!(got[0].as_deref(), Some(&b"a"[..]));
            assert_eq!(got[1], None, "3 MiB line");
            assert_eq!(got[2].as_deref(), Some(&b"b"[..]));
            assert_eq!(
                got[3].as_ref().map(Vec::len),
                Some(MAX_LINE),
                "exactly the limit"
            );
            assert_eq!(got[4], None, "one byte over, at the end without a newline");
        }
    }
}
