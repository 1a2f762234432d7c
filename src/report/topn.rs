//! Bounded heavy-hitter counting (Space-Saving, Metwally et al. 2005, weighted): at most `capacity`
//! keys are kept whatever the number of distinct keys in the input. Until a key has to make room
//! for another, every count is exact; after that, a key that arrives when the table is full takes
//! the place of the smallest and inherits its count as a possible overcount (`error`), so every
//! reported count is at most `error` above the truth and never below it, and any key whose true
//! total exceeds total/capacity is in the table.

use std::collections::HashMap;
use std::rc::Rc;

/// Keys kept per table by `filespy report`.
pub const CAPACITY: usize = 4096;

/// Longest key kept, in bytes: a path (at most 4095 bytes) plus a command name. A longer key is cut
/// at this length (at a character boundary), so a crafted input cannot grow a table beyond
/// `CAPACITY` × `MAX_KEY` bytes.
pub const MAX_KEY: usize = 4096 + 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Rc<str>,
    /// The counted total; the true total is in `count - error ..= count`.
    pub count: u64,
    pub error: u64,
}

#[derive(Debug)]
pub struct TopN {
    capacity: usize,
    /// Key → index into `slots`.
    index: HashMap<Rc<str>, u32>,
    slots: Vec<Entry>,
    /// Slot indexes as a binary min-heap by count, so the smallest is found in O(1) and kept in
    /// O(log capacity); `heap_pos[slot]` is the slot's place in it.
    heap: Vec<u32>,
    heap_pos: Vec<u32>,
    /// Some key was replaced: counts may be overcounts (by at most their `error`).
    evicted: bool,
    /// Exact sum of every weight added.
    total: u64,
}

impl TopN {
    pub fn new(capacity: usize) -> TopN {
        assert!(capacity > 0 && capacity < u32::MAX as usize);
        TopN {
            capacity,
            index: HashMap::new(),
            slots: Vec::new(),
            heap: Vec::new(),
            heap_pos: Vec::new(),
            evicted: false,
            total: 0,
        }
    }

    /// Counts `weight` more for `key`.
    pub fn add(&mut self, key: &str, weight: u64) {
        let key = cut(key);
        self.total = self.total.saturating_add(weight);
        if let Some(&slot) = self.index.get(key) {
            let e = &mut self.slots[slot as usize];
            e.count = e.count.saturating_add(weight);
            self.sift_down(self.heap_pos[slot as usize] as usize);
            return;
        }
        let key: Rc<str> = Rc::from(key);
        if self.slots.len() < self.capacity {
            let slot = self.slots.len() as u32;
            self.slots.push(Entry {
                key: Rc::clone(&key),
                count: weight,
                error: 0,
            });
            self.heap.push(slot);
            self.heap_pos.push(self.heap.len() as u32 - 1);
            self.index.insert(key, slot);
            self.sift_up(self.heap.len() - 1);
            return;
        }
        // Full: the smallest makes room, and its count becomes the newcomer's possible overcount.
        self.evicted = true;
        let slot = self.heap[0];
        let e = &mut self.slots[slot as usize];
        self.index.remove(&e.key);
        let floor = e.count;
        *e = Entry {
            key: Rc::clone(&key),
            count: floor.saturating_add(weight),
            error: floor,
        };
        self.index.insert(key, slot);
        self.sift_down(0);
    }

    /// Whether every count is exact (no key ever had to make room).
    pub fn exact(&self) -> bool {
        !self.evicted
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Keys kept now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `n` largest counts, largest first (ties by key, for a stable output).
    pub fn top(&self, n: usize) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.slots.iter().collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }

    fn count_at(&self, heap_index: usize) -> u64 {
        self.slots[self.heap[heap_index] as usize].count
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.heap_pos[self.heap[i] as usize] = i as u32;
        self.heap_pos[self.heap[j] as usize] = j as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.count_at(parent) <= self.count_at(i) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < n && self.count_at(l) < self.count_at(least) {
                least = l;
            }
            if r < n && self.count_at(r) < self.count_at(least) {
                least = r;
            }
            if least == i {
                return;
            }
            self.swap(i, least);
            i = least;
        }
    }
}

/// `key` cut to at most `MAX_KEY` bytes, at a character boundary.
fn cut(key: &str) -> &str {
    if key.len() <= MAX_KEY {
        return key;
    }
    let mut end = MAX_KEY;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pairs(t: &TopN, n: usize) -> Vec<(String, u64, u64)> {
        t.top(n)
            .into_iter()
            .map(|e| (e.key.to_string(), e.count, e.error))
            .collect()
    }

    #[test]
    fn exact_while_everything_fits() {
        let mut t = TopN::new(4);
        for (k, w) in [("a", 1), ("b", 5), ("a", 1), ("c", 2), ("a", 1), ("d", 0)] {
            t.add(k, w);
        }
        assert!(t.exact());
        assert_eq!(t.total(), 10);
        assert_eq!(t.len(), 4);
        assert_eq!(
            pairs(&t, 10),
            [
                ("b".into(), 5, 0),
                ("a".into(), 3, 0),
                ("c".into(), 2, 0),
                ("d".into(), 0, 0)
            ]
        );
        assert_eq!(pairs(&t, 2).len(), 2, "top(n) stops at n");
    }

    #[test]
    fn a_full_table_replaces_its_smallest_and_bounds_the_error() {
        let mut t = TopN::new(2);
        t.add("a", 10);
        t.add("b", 3);
        t.add("c", 1); // takes b's place: 3 + 1, of which 3 may be b's
        assert!(!t.exact());
        assert_eq!(t.total(), 14);
        assert_eq!(pairs(&t, 5), [("a".into(), 10, 0), ("c".into(), 4, 3)]);
        t.add("b", 1); // c (4) is now the smallest
        assert_eq!(pairs(&t, 5), [("a".into(), 10, 0), ("b".into(), 5, 4)]);
    }

    /// The Space-Saving guarantees on a skewed stream with many more keys than slots: every kept
    /// count is within [true, true + error], error ≤ total / capacity, and every key heavier than
    /// total / capacity is kept.
    #[test]
    fn guarantees_hold_on_a_skewed_stream() {
        let capacity = 64;
        let mut t = TopN::new(capacity);
        let mut truth: BTreeMap<String, u64> = BTreeMap::new();
        // A deterministic Zipf-like stream: keys 1..20000, key k drawn with probability ∝ 1/k.
        let mut state = 0x2545f4914f6cdd1du64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state % 1_000_000) as f64 / 1_000_000.0;
            let key = format!("k{}", 20_000f64.powf(u) as u64);
            let w = 1 + state % 3;
            t.add(&key, w);
            *truth.entry(key).or_default() += w;
        }
        assert!(!t.exact());
        assert!(truth.len() > capacity * 4, "{} keys", truth.len());
        let total: u64 = truth.values().sum();
        assert_eq!(t.total(), total);
        let bound = total / capacity as u64;
        for e in t.top(capacity) {
            let real = truth[&*e.key];
            assert!(
                real <= e.count && e.count - e.error <= real,
                "{}: {real} vs {e:?}",
                e.key
            );
            assert!(e.error <= bound, "{e:?} error above {bound}");
        }
        let kept: Vec<String> = t.top(capacity).iter().map(|e| e.key.to_string()).collect();
        for (k, &real) in &truth {
            if real > bound {
                assert!(kept.contains(k), "{k} ({real} > {bound}) was dropped");
            }
        }
        // The heaviest keys come out first, in their true order.
        let mut want: Vec<(&String, &u64)> = truth.iter().collect();
        want.sort_by(|a, b| b.1.cmp(a.1));
        let top3: Vec<&str> = t.top(3).iter().map(|e| &*e.key).collect();
        let want3: Vec<&str> = want[..3].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(top3, want3);
    }

    #[test]
    fn long_keys_are_cut_at_a_character_boundary() {
        let mut t = TopN::new(4);
        let long = "é".repeat(MAX_KEY); // 2 bytes per character
        t.add(&long, 1);
        t.add(&format!("{long}tail"), 1);
        let e = t.top(1)[0];
        assert_eq!(e.key.len(), MAX_KEY);
        assert_eq!(e.count, 2, "both cut to the same key");
        assert_eq!(t.len(), 1);
    }
}
