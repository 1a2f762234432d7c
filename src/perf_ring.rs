//! Decoding of one perf ring buffer (`struct perf_event_mmap_page` + 2^n data pages), independent of how the
//! memory was obtained, so the same code reads a kernel mmap and an in-memory ring in tests.
//!
//! Protocol (linux/perf_event.h): the kernel writes records and publishes `data_head`; we read `data_head`
//! with acquire ordering, consume records up to it, then publish `data_tail` with release ordering once per
//! batch so the kernel may reuse the space.

use std::sync::atomic::{AtomicU64, Ordering};

/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD_OFF: usize = 1024;
const DATA_TAIL_OFF: usize = 1032;

pub const PERF_RECORD_LOST: u32 = 2;
pub const PERF_RECORD_SAMPLE: u32 = 9;

const HEADER_LEN: usize = 8;

/// One record of a ring.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A `PERF_SAMPLE_RAW` payload as the BPF program sent it (possibly with up to 7 bytes of padding
    /// appended by the kernel to keep records 8-byte aligned).
    Sample(&'a [u8]),
    /// The kernel dropped `count` samples because the ring was full.
    Lost(u64),
    /// A record type we did not ask for; ignored.
    Other(u32),
}

/// Counts of one drain pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainStats {
    pub records: u64,
    /// Records whose header was impossible (size 0, larger than the ring): the rest of the batch was
    /// dropped to resynchronise at the kernel's head.
    pub corrupt: u64,
}

/// A view of a ring's memory: the control page and the data area that follows it.
pub struct RingView {
    meta: *mut u8,
    data: *const u8,
    size: usize,
}

// The view only touches memory owned by whoever created it (an mmap region or a test buffer), and a ring is
// drained by one thread at a time (`drain` takes `&mut self`).
unsafe impl Send for RingView {}

impl RingView {
    /// # Safety
    /// `meta` must point to a readable/writable control page of at least 4096 bytes, 8-byte aligned, and
    /// `data` to `size` readable bytes (a power of two) that stay valid for the view's lifetime.
    pub unsafe fn new(meta: *mut u8, data: *const u8, size: usize) -> RingView {
        debug_assert!(size.is_power_of_two());
        RingView { meta, data, size }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: in bounds of the control page and 8-byte aligned by the constructor's contract.
        unsafe { &*(self.meta.add(DATA_HEAD_OFF) as *const AtomicU64) }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { &*(self.meta.add(DATA_TAIL_OFF) as *const AtomicU64) }
    }

    /// Bytes written by the kernel and not yet consumed.
    pub fn pending(&self) -> u64 {
        let head = self.head().load(Ordering::Acquire);
        head.wrapping_sub(self.tail().load(Ordering::Relaxed))
    }

    /// Copy `len` bytes at ring position `pos` (which may wrap) into `out`.
    fn copy_out(&self, pos: u64, len: usize, out: &mut Vec<u8>) {
        out.clear();
        let start = (pos as usize) & (self.size - 1);
        let first = len.min(self.size - start);
        // SAFETY: start + first <= size, and len - first < size: both ranges lie inside the data area.
        unsafe {
            out.extend_from_slice(std::slice::from_raw_parts(self.data.add(start), first));
            out.extend_from_slice(std::slice::from_raw_parts(self.data, len - first));
        }
    }

    /// Consume every record published so far, calling `f` for each, then release the space once.
    /// Records that wrap around the end of the ring are reassembled in `scratch`.
    pub fn drain(&mut self, scratch: &mut Vec<u8>, mut f: impl FnMut(Record<'_>)) -> DrainStats {
        let head = self.head().load(Ordering::Acquire);
        let mut tail = self.tail().load(Ordering::Relaxed);
        let mut stats = DrainStats::default();
        let mut header = [0u8; HEADER_LEN];
        while tail < head {
            let avail = head - tail;
            if avail < HEADER_LEN as u64 {
                stats.corrupt += 1;
                break;
            }
            self.copy_out(tail, HEADER_LEN, scratch);
            header.copy_from_slice(scratch);
            let ty = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
            let size = u16::from_ne_bytes([header[6], header[7]]) as usize;
            if size < HEADER_LEN || size as u64 > avail || size > self.size {
                stats.corrupt += 1;
                break;
            }
            let start = (tail as usize) & (self.size - 1);
            let body: &[u8] = if start + size <= self.size {
                // SAFETY: the record lies contiguously inside the data area, and the kernel does not
                // overwrite it before we publish a tail past it.
                unsafe {
                    std::slice::from_raw_parts(self.data.add(start + HEADER_LEN), size - HEADER_LEN)
                }
            } else {
                self.copy_out(tail, size, scratch);
                &scratch[HEADER_LEN..]
            };
            f(parse_record(ty, body));
            stats.records += 1;
            tail += size as u64;
        }
        // A corrupt stream cannot be walked further: skip to the kernel's head so new records are read.
        self.tail().store(
            if stats.corrupt > 0 { head } else { tail },
            Ordering::Release,
        );
        stats
    }
}

fn parse_record(ty: u32, body: &[u8]) -> Record<'_> {
    match ty {
        PERF_RECORD_SAMPLE if body.len() >= 4 => {
            let n = u32::from_ne_bytes([body[0], body[1], body[2], body[3]]) as usize;
            Record::Sample(&body[4..4 + n.min(body.len() - 4)])
        }
        // struct { u64 id; u64 lost; }
        PERF_RECORD_LOST if body.len() >= 16 => {
            Record::Lost(u64::from_ne_bytes(body[8..16].try_into().expect("8 bytes")))
        }
        other => Record::Other(other),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An in-memory ring laid out like the kernel's mmap: a control page then `size` data bytes, with a
    /// producer that writes records exactly as the kernel does (8-aligned, wrapping).
    pub(crate) struct FakeRing {
        mem: Vec<u64>,
        size: usize,
        head: u64,
    }

    impl FakeRing {
        pub(crate) fn new(size: usize) -> FakeRing {
            FakeRing {
                mem: vec![0u64; (4096 + size) / 8],
                size,
                head: 0,
            }
        }

        pub(crate) fn view(&mut self) -> RingView {
            let base = self.mem.as_mut_ptr() as *mut u8;
            unsafe { RingView::new(base, base.add(4096), self.size) }
        }

        fn bytes(&mut self) -> &mut [u8] {
            let len = self.mem.len() * 8;
            unsafe { std::slice::from_raw_parts_mut(self.mem.as_mut_ptr() as *mut u8, len) }
        }

        fn tail(&mut self) -> u64 {
            u64::from_ne_bytes(
                self.bytes()[DATA_TAIL_OFF..DATA_TAIL_OFF + 8]
                    .try_into()
                    .unwrap(),
            )
        }

        fn put(&mut self, ty: u32, body: &[u8]) -> bool {
            let size = (HEADER_LEN + body.len()).div_ceil(8) * 8;
            if self.head + size as u64 - self.tail() > self.size as u64 {
                return false;
            }
            let mut rec = vec![0u8; size];
            rec[0..4].copy_from_slice(&ty.to_ne_bytes());
            rec[6..8].copy_from_slice(&(size as u16).to_ne_bytes());
            rec[8..8 + body.len()].copy_from_slice(body);
            let (head, ring) = (self.head, self.size);
            for (i, b) in rec.iter().enumerate() {
                let pos = 4096 + ((head as usize + i) & (ring - 1));
                self.bytes()[pos] = *b;
            }
            self.head += size as u64;
            let h = self.head;
            self.bytes()[DATA_HEAD_OFF..DATA_HEAD_OFF + 8].copy_from_slice(&h.to_ne_bytes());
            true
        }

        pub(crate) fn sample(&mut self, payload: &[u8]) -> bool {
            let mut body = (payload.len() as u32).to_ne_bytes().to_vec();
            body.extend_from_slice(payload);
            self.put(PERF_RECORD_SAMPLE, &body)
        }

        pub(crate) fn lost(&mut self, n: u64) -> bool {
            let mut body = 7u64.to_ne_bytes().to_vec();
            body.extend_from_slice(&n.to_ne_bytes());
            self.put(PERF_RECORD_LOST, &body)
        }
    }

    fn payload(i: u32, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
    }

    #[test]
    fn records_arrive_intact_and_in_order_across_many_wraps() {
        let mut ring = FakeRing::new(256);
        let mut view = ring.view();
        let mut scratch = Vec::new();
        let (mut sent, mut got) = (0u32, 0u32);
        // Odd lengths make records straddle the end of the ring at every possible offset.
        for round in 0..500u32 {
            let len = 1 + (round as usize * 13) % 90;
            while ring.sample(&payload(sent, len)) {
                sent += 1;
            }
            view.drain(&mut scratch, |r| match r {
                Record::Sample(d) => {
                    let want = payload(got, d.len());
                    assert_eq!(d, &want[..], "record {got}");
                    got += 1;
                }
                other => panic!("unexpected {other:?}"),
            });
            assert_eq!(got, sent);
        }
        assert!(sent > 2000, "{sent}");
    }

    #[test]
    fn lost_records_are_reported_with_their_count() {
        let mut ring = FakeRing::new(128);
        let mut view = ring.view();
        assert!(ring.sample(b"abc"));
        assert!(ring.lost(42));
        let mut seen = Vec::new();
        let stats = view.drain(&mut Vec::new(), |r| {
            seen.push(match r {
                Record::Sample(d) => format!("s{}", d.len()),
                Record::Lost(n) => format!("l{n}"),
                Record::Other(t) => format!("o{t}"),
            })
        });
        assert_eq!(seen, ["s3", "l42"]);
        assert_eq!(stats.records, 2);
        assert_eq!(view.pending(), 0);
    }

    #[test]
    fn a_corrupt_header_resynchronises_at_head() {
        let mut ring = FakeRing::new(128);
        let mut view = ring.view();
        assert!(ring.sample(b"ok"));
        // Forge a record of size 0 after the valid one.
        let pos = 4096 + 16;
        ring.bytes()[pos + 6] = 0;
        ring.head += 8;
        let h = ring.head;
        ring.bytes()[DATA_HEAD_OFF..DATA_HEAD_OFF + 8].copy_from_slice(&h.to_ne_bytes());
        let stats = view.drain(&mut Vec::new(), |_| {});
        assert_eq!(
            stats,
            DrainStats {
                records: 1,
                corrupt: 1
            }
        );
        assert_eq!(view.pending(), 0);
    }
}
