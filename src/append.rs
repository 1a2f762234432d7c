//! Appending short byte strings without calling `memcpy`.
//!
//! Per event the reader copies a few dozen short strings (path components, names, numbers, argv
//! words: 16 bytes on average). musl's `memcpy` is an out-of-line `rep movs`, whose start-up cost
//! dwarfs such copies: it took about two thirds of the reader's CPU. Here a short copy is two
//! overlapping fixed-size moves, which the compiler inlines as plain loads and stores.

/// Appends `b` to `out`, as `extend_from_slice` does.
#[inline(always)]
pub fn append(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n > 64 {
        out.extend_from_slice(b);
        return;
    }
    out.reserve(n);
    let len = out.len();
    // SAFETY: `reserve` made room for `n` more bytes after `len`; every move below reads inside `b`
    // and writes inside `out[len..len + n]` (the pairs overlap when `n` is not a whole size), and
    // `b` cannot alias the spare capacity of `out`, borrowed mutably.
    unsafe {
        let src = b.as_ptr();
        let dst = out.as_mut_ptr().add(len);
        if n >= 32 {
            move_n::<32>(src, dst);
            move_n::<32>(src.add(n - 32), dst.add(n - 32));
        } else if n >= 16 {
            move_n::<16>(src, dst);
            move_n::<16>(src.add(n - 16), dst.add(n - 16));
        } else if n >= 8 {
            move_n::<8>(src, dst);
            move_n::<8>(src.add(n - 8), dst.add(n - 8));
        } else if n >= 4 {
            move_n::<4>(src, dst);
            move_n::<4>(src.add(n - 4), dst.add(n - 4));
        } else if n > 0 {
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
        out.set_len(len + n);
    }
}

/// Copies `N` bytes from `src` to `dst` (unaligned).
///
/// # Safety
/// Both must be valid for `N` bytes.
#[inline(always)]
unsafe fn move_n<const N: usize>(src: *const u8, dst: *mut u8) {
    let v = std::ptr::read_unaligned(src as *const [u8; N]);
    std::ptr::write_unaligned(dst as *mut [u8; N], v);
}

#[cfg(test)]
mod tests {
    use super::append;

    #[test]
    fn appends_every_length_as_extend_from_slice_does() {
        let src: Vec<u8> = (0..200u8).collect();
        for prefix in [0, 1, 7, 31] {
            for n in 0..=src.len() {
                let mut want = vec![0xaa; prefix];
                let mut got = want.clone();
                want.extend_from_slice(&src[..n]);
                append(&mut got, &src[..n]);
                assert_eq!(got, want, "prefix {prefix}, {n} bytes");
            }
        }
    }
}
