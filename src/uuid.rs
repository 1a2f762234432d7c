//! RFC 4122 version-4 UUIDs for event ids, from the kernel's `getrandom(2)`.
//!
//! Randomness is fetched 4 KiB at a time (256 ids) so the per-event cost is a copy, not a syscall.

use std::io;

const BUF: usize = 4096;

/// Buffered source of random v4 UUIDs.
pub struct UuidGen {
    buf: Box<[u8; BUF]>,
    pos: usize,
    /// Fallback stream state, used only if getrandom fails after a successful start.
    fallback: u64,
}

impl UuidGen {
    /// Fails only if the kernel has no usable getrandom(2).
    pub fn new() -> io::Result<UuidGen> {
        let mut g = UuidGen {
            buf: Box::new([0; BUF]),
            pos: BUF,
            fallback: 0,
        };
        g.refill()?;
        Ok(g)
    }

    fn refill(&mut self) -> io::Result<()> {
        let mut filled = 0;
        while filled < BUF {
            let rest = &mut self.buf[filled..];
            // SAFETY: the pointer and length describe the writable tail of our own buffer.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            filled += n as usize;
        }
        self.fallback ^= u64::from_le_bytes(self.buf[..8].try_into().unwrap_or([0; 8]));
        self.pos = 0;
        Ok(())
    }

    /// 16 random bytes with the version (4) and variant (10xx) bits set.
    pub fn next_bytes(&mut self) -> [u8; 16] {
        if self.pos + 16 > BUF && self.refill().is_err() {
            // getrandom worked at start, so this is near impossible; keep ids distinct rather than abort.
            self.fill_fallback();
        }
        let mut u = [0u8; 16];
        u.copy_from_slice(&self.buf[self.pos..self.pos + 16]);
        self.pos += 16;
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        u
    }

    /// SplitMix64 over the last good random bytes: distinct, not cryptographic.
    fn fill_fallback(&mut self) {
        for chunk in self.buf.chunks_exact_mut(8) {
            self.fallback = self.fallback.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.fallback;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        self.pos = 0;
    }

    /// Appends the next id as 36 lowercase characters, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    pub fn write_v4(&mut self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let u = self.next_bytes();
        // Built in place, then appended as one fixed-size copy (not 36 pushes).
        let mut text = [b'-'; 36];
        let mut at = 0;
        for (i, b) in u.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            text[at] = HEX[usize::from(b >> 4)];
            text[at + 1] = HEX[usize::from(b & 15)];
            at += 2;
        }
        out.extend_from_slice(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn format_version_variant_and_uniqueness() {
        let mut g = UuidGen::new().unwrap();
        let mut seen = HashSet::new();
        // Several refills' worth.
        for _ in 0..2000 {
            let mut s = Vec::new();
            g.write_v4(&mut s);
            assert_eq!(s.len(), 36);
            let s = String::from_utf8(s).unwrap();
            let parts: Vec<&str> = s.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(s
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(&s[14..15], "4");
            assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn bits_are_otherwise_random() {
        // Each of the 122 random bits should be set in roughly half of many ids.
        let mut g = UuidGen::new().unwrap();
        let mut ones = [0u32; 128];
        let n = 4000;
        for _ in 0..n {
            let u = g.next_bytes();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(u[bit / 8] >> (7 - bit % 8) & 1);
            }
        }
        let fixed = [48, 49, 50, 51, 64, 65];
        for (bit, &c) in ones.iter().enumerate() {
            if !fixed.contains(&bit) {
                assert!((1600..2400).contains(&c), "bit {bit} set {c}/{n}");
            }
        }
        assert_eq!((ones[48], ones[49], ones[50], ones[51]), (0, n, 0, 0));
        assert_eq!((ones[64], ones[65]), (n, 0));
    }

    #[test]
    fn fallback_stream_keeps_format() {
        let mut g = UuidGen::new().unwrap();
        g.fill_fallback();
        let a = g.next_bytes();
        let b = g.next_bytes();
        assert_ne!(a, b);
        assert_eq!(a[6] >> 4, 4);
        assert_eq!(a[8] >> 6, 2);
    }
}
