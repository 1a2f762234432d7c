//! Lost-event accounting: per-CPU totals, a rate-limited warning on stderr, and the `--stats` line.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// At most one loss line per this interval, so a flood of losses cannot flood stderr too.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Accumulates lost counts reported by the perf rings and warns about them sparingly.
#[derive(Debug, Default)]
pub struct LossReporter {
    /// Everything lost since start, per CPU.
    total: BTreeMap<u32, u64>,
    /// Lost since the last printed line, per CPU.
    pending: BTreeMap<u32, u64>,
    last_report: Option<Instant>,
    last_loss: Option<Instant>,
}

impl LossReporter {
    pub fn new() -> LossReporter {
        LossReporter::default()
    }

    /// `n` events were lost on `cpu` (a PERF_RECORD_LOST record) at `now`.
    pub fn record(&mut self, cpu: u32, n: u64, now: Instant) {
        if n == 0 {
            return;
        }
        let total = self.total.entry(cpu).or_insert(0);
        *total = total.saturating_add(n);
        let pending = self.pending.entry(cpu).or_insert(0);
        *pending = pending.saturating_add(n);
        self.last_loss = Some(now);
    }

    /// Writes one line about losses not yet reported, unless a line went out less than
    /// `REPORT_INTERVAL` before `now`. Returns whether a line was written. Held-back losses are
    /// reported by a later call, so call this on every loop turn (and once at exit).
    pub fn maybe_report(&mut self, now: Instant, out: &mut impl Write) -> io::Result<bool> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        if let Some(last) = self.last_report {
            if now.saturating_duration_since(last) < REPORT_INTERVAL {
                return Ok(false);
            }
        }
        let line = loss_line(&self.pending);
        self.pending.clear();
        self.last_report = Some(now);
        out.write_all(line.as_bytes())?;
        Ok(true)
    }

    /// Everything lost since start.
    pub fn totals(&self) -> LossTotals {
        LossTotals {
            total: self
                .total
                .values()
                .fold(0u64, |sum, &n| sum.saturating_add(n)),
            per_cpu: self.total.iter().map(|(&cpu, &n)| (cpu, n)).collect(),
        }
    }

    /// When the latest loss was recorded, if any.
    pub fn last_loss(&self) -> Option<Instant> {
        self.last_loss
    }
}

/// Lost events since start: the sum and (cpu, count) pairs in CPU order, CPUs without loss omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossTotals {
    pub total: u64,
    pub per_cpu: Vec<(u32, u64)>,
}

fn loss_line(per_cpu: &BTreeMap<u32, u64>) -> String {
    let sum = per_cpu.values().fold(0u64, |s, &n| s.saturating_add(n));
    let detail: Vec<String> = per_cpu
        .iter()
        .map(|(cpu, n)| format!("cpu{cpu}: {n}"))
        .collect();
    format!(
        "filespy: lost {sum} events ({}) — raise --buffer-pages\n",
        detail.join(", ")
    )
}

/// Counters for `--stats`, printed once at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events written to the output.
    pub events: u64,
    /// Events lost: those the kernel could not deliver (ring full) plus `lost_output`.
    pub lost: u64,
    /// Events dropped by user-space filters.
    pub filtered: u64,
    /// Writes the kernel saw fail (negative return value).
    pub failed_writes: u64,
    /// Lost events per CPU (ring full), in CPU order.
    pub lost_per_cpu: Vec<(u32, u64)>,
    /// Events read but never written: the output stalled or was full longer than its buffer lasted.
    pub lost_output: u64,
    /// `close` events that cannot come: opens the kernel could not track (its map full) or whose
    /// close it did not see, and opens user space could not remember. Counted in `lost` too.
    pub lost_closes: u64,
    /// The writes and reads that the merged events delivered stand for beyond their own lines
    /// (Σ `merged.count` − 1): with `events` and `lost`, every operation is counted once.
    pub merged: u64,
}

impl Stats {
    /// Takes `lost` and `lost_per_cpu` from the reporter's totals.
    pub fn set_losses(&mut self, totals: &LossTotals) {
        self.lost = totals
            .total
            .saturating_add(self.lost_output)
            .saturating_add(self.lost_closes);
        self.lost_per_cpu = totals.per_cpu.clone();
    }

    /// `n` more events could not be written to the output: they count in `lost` too.
    pub fn add_output_losses(&mut self, n: u64) {
        self.lost_output = self.lost_output.saturating_add(n);
        self.lost = self.lost.saturating_add(n);
    }

    /// One line, keys always present and in this order, no trailing newline:
    /// `filespy: stats events=N lost=N filtered=N failed_writes=N lost_per_cpu=cpu0:N,cpu3:N
    /// lost_output=N lost_closes=N merged=N` (`lost_per_cpu=-` when no ring lost anything).
    pub fn summary_line(&self) -> String {
        let per_cpu = if self.lost_per_cpu.is_empty() {
            "-".to_string()
        } else {
            self.lost_per_cpu
                .iter()
                .map(|(cpu, n)| format!("cpu{cpu}:{n}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "filespy: stats events={} lost={} filtered={} failed_writes={} lost_per_cpu={per_cpu} lost_output={} lost_closes={} merged={}",
            self.events, self.lost, self.filtered, self.failed_writes, self.lost_output, self.lost_closes, self.merged
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(r: &mut LossReporter, now: Instant) -> Option<String> {
        let mut out = Vec::new();
        let wrote = r.maybe_report(now, &mut out).expect("write to a Vec");
        assert_eq!(wrote, !out.is_empty());
        wrote.then(|| String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn nothing_lost_nothing_said() {
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        assert_eq!(report(&mut r, t0), None);
        r.record(0, 0, t0);
        assert_eq!(report(&mut r, t0), None);
        assert_eq!(r.totals(), LossTotals::default());
        assert_eq!(r.last_loss(), None);
    }

    #[test]
    fn first_loss_is_reported_at_once() {
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        r.record(0, 1000, t0);
        r.record(1, 200, t0);
        r.record(1, 34, t0);
        assert_eq!(
            report(&mut r, t0).as_deref(),
            Some("filespy: lost 1234 events (cpu0: 1000, cpu1: 234) — raise --buffer-pages\n")
        );
        // Reported losses are not repeated.
        assert_eq!(report(&mut r, t0 + Duration::from_secs(5)), None);
        assert_eq!(r.last_loss(), Some(t0));
    }

    #[test]
    fn at_most_one_line_a_second() {
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        r.record(2, 5, t0);
        assert!(report(&mut r, t0).is_some());

        // New losses inside the second are held back, not dropped.
        r.record(3, 7, t0 + ms(100));
        assert_eq!(report(&mut r, t0 + ms(100)), None);
        r.record(2, 1, t0 + ms(900));
        assert_eq!(report(&mut r, t0 + ms(999)), None);
        assert_eq!(
            report(&mut r, t0 + ms(1000)).as_deref(),
            Some("filespy: lost 8 events (cpu2: 1, cpu3: 7) — raise --buffer-pages\n")
        );

        // The window restarts from the last printed line.
        r.record(0, 1, t0 + ms(1500));
        assert_eq!(report(&mut r, t0 + ms(1500)), None);
        assert!(report(&mut r, t0 + ms(2000)).is_some());

        // After a quiet spell, a new loss is reported immediately.
        r.record(0, 2, t0 + ms(10_000));
        assert!(report(&mut r, t0 + ms(10_000)).is_some());

        assert_eq!(
            r.totals(),
            LossTotals {
                total: 16,
                per_cpu: vec![(0, 3), (2, 6), (3, 7)]
            }
        );
    }

    #[test]
    fn many_lines_in_a_loop_are_rate_limited() {
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        let mut lines = 0;
        // Losses every millisecond for 10 simulated seconds.
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(i);
            r.record((i % 4) as u32, 1, now);
            lines += usize::from(report(&mut r, now).is_some());
        }
        assert_eq!(lines, 10);
        assert_eq!(r.totals().total, 10_000);
    }

    #[test]
    fn counts_saturate_instead_of_overflowing() {
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        r.record(0, u64::MAX, t0);
        r.record(0, 5, t0);
        r.record(1, u64::MAX, t0);
        assert_eq!(r.totals().total, u64::MAX);
        assert!(report(&mut r, t0).unwrap().contains(&u64::MAX.to_string()));
    }

    #[test]
    fn stats_summary_line_is_stable() {
        let mut s = Stats {
            events: 10,
            filtered: 4,
            failed_writes: 1,
            ..Stats::default()
        };
        assert_eq!(
            s.summary_line(),
            "filespy: stats events=10 lost=0 filtered=4 failed_writes=1 lost_per_cpu=- lost_output=0 lost_closes=0 merged=0"
        );
        let mut r = LossReporter::new();
        let t0 = Instant::now();
        r.record(3, 2, t0);
        r.record(0, 5, t0);
        s.set_losses(&r.totals());
        assert_eq!(
            s.summary_line(),
            "filespy: stats events=10 lost=7 filtered=4 failed_writes=1 lost_per_cpu=cpu0:5,cpu3:2 lost_output=0 lost_closes=0 merged=0"
        );
        s.add_output_losses(3);
        assert_eq!(
            s.summary_line(),
            "filespy: stats events=10 lost=10 filtered=4 failed_writes=1 lost_per_cpu=cpu0:5,cpu3:2 lost_output=3 lost_closes=0 merged=0"
        );
        assert!(!s.summary_line().contains('\n'));
    }
}
