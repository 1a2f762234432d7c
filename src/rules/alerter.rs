//! Rules applied to the event stream: each event that matches gets its `alert`; with `--alerts` the
//! others are dropped; repeats of one (rule, process, file) within the window are counted, not sent,
//! and the next one sent carries their number.

use super::{Access, Rules};
use crate::event::{Event, EventAlert};
use std::collections::HashMap;
use std::rc::Rc;

/// Distinct (rule, process, file) kept for the repeat window; past it the table starts again (a repeat
/// may then be sent once more: an extra alert, never a missing one).
const MAX_TRACKED: usize = 4096;

/// What to do with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it (its `alert` set when a rule matched).
    Send,
    /// Not an alert under `--alerts`.
    NotAlert,
    /// A repeat within the window: counted.
    Repeat,
}

struct Seen {
    last_sent_ns: u64,
    repeats: u64,
}

pub struct Alerter {
    rules: Rules,
    /// Each rule's name and category, shared by its alerts.
    labels: Vec<(Rc<str>, Rc<str>)>,
    only_alerts: bool,
    window_ns: u64,
    seen: HashMap<(usize, u32, u64, Vec<u8>), Seen>,
    /// Repeats counted and not sent, in all.
    pub repeats: u64,
}

impl Alerter {
    pub fn new(rules: Rules, only_alerts: bool, window: std::time::Duration) -> Alerter {
        let labels = rules
            .rules
            .iter()
            .map(|r| (Rc::from(r.name.as_str()), Rc::from(r.category.as_str())))
            .collect();
        Alerter {
            rules,
            labels,
            only_alerts,
            window_ns: window.as_nanos().min(u128::from(u64::MAX)) as u64,
            seen: HashMap::new(),
            repeats: 0,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Sets `ev.alert` and says whether the event goes out.
    pub fn judge(&mut self, ev: &mut Event) -> Verdict {
        ev.alert = None;
        let f = &ev.file;
        let access = Access::of(ev.op, &f.flags, f.bytes_written);
        let Some(a) = self
            .rules
            .matching(ev.op, access, &f.path, f.old_path.as_deref())
        else {
            return if self.only_alerts {
                Verdict::NotAlert
            } else {
                Verdict::Send
            };
        };
        let key = (a.rule, ev.process.pid, ev.start_time, f.path.clone());
        let mut repeats = 0;
        if let Some(s) = self.seen.get_mut(&key) {
            if ev.mono_ns.saturating_sub(s.last_sent_ns) < self.window_ns {
                s.repeats += 1;
                self.repeats += 1;
                return Verdict::Repeat;
            }
            repeats = std::mem::take(&mut s.repeats);
            s.last_sent_ns = ev.mono_ns;
        } else {
            if self.seen.len() >= MAX_TRACKED {
                self.seen.clear();
            }
            self.seen.insert(
                key,
                Seen {
                    last_sent_ns: ev.mono_ns,
                    repeats: 0,
                },
            );
        }
        let (rule, category) = &self.labels[a.rule];
        ev.alert = Some(EventAlert {
            rule: rule.clone(),
            category: category.clone(),
            severity: a.severity,
            repeats,
        });
        Verdict::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Op;
    use crate::rules::Severity;
    use std::time::Duration;

    fn event(op: Op, path: &str, pid: u32, ns: u64) -> Event {
        let mut ev = Event {
            op,
            mono_ns: ns,
            start_time: 7,
            ..Event::default()
        };
        ev.file.path = path.as_bytes().to_vec();
        ev.process.pid = pid;
        ev
    }

    #[test]
    fn repeats_within_the_window_are_counted_then_carried() {
        let mut a = Alerter::new(Rules::builtin(), true, Duration::from_secs(10));
        let s = 1_000_000_000;
        let mut e = event(Op::Write, "/etc/shadow", 1, s);
        assert_eq!(a.judge(&mut e), Verdict::Send);
        let alert = e.alert.clone().unwrap();
        assert_eq!(
            (
                &*alert.rule,
                &*alert.category,
                alert.severity,
                alert.repeats
            ),
            ("auth-shadow", "authentication", Severity::Critical, 0)
        );
        for i in 1..=3 {
            assert_eq!(
                a.judge(&mut event(Op::Write, "/etc/shadow", 1, s + i)),
                Verdict::Repeat
            );
        }
        // Another process, or another file, is another alert.
        assert_eq!(
            a.judge(&mut event(Op::Write, "/etc/shadow", 2, s + 4)),
            Verdict::Send
        );
        assert_eq!(
            a.judge(&mut event(Op::Write, "/etc/passwd", 1, s + 5)),
            Verdict::Send
        );
        let mut later = event(Op::Write, "/etc/shadow", 1, 12 * s);
        assert_eq!(a.judge(&mut later), Verdict::Send);
        assert_eq!(later.alert.unwrap().repeats, 3);
        assert_eq!(a.repeats, 3);
        assert_eq!(
            a.judge(&mut event(Op::Write, "/tmp/x.txt", 1, 13 * s)),
            Verdict::NotAlert
        );
    }

    #[test]
    fn without_alerts_only_every_event_goes_out() {
        let mut a = Alerter::new(Rules::builtin(), false, Duration::ZERO);
        let mut e = event(Op::Write, "/tmp/x.txt", 1, 5);
        assert_eq!(a.judge(&mut e), Verdict::Send);
        assert!(e.alert.is_none());
        // A zero window sends every repeat.
        for ns in [6, 7] {
            let mut e = event(Op::Read, "/etc/shadow", 1, ns);
            assert_eq!(a.judge(&mut e), Verdict::Send);
            assert_eq!(e.alert.unwrap().severity, Severity::High);
        }
    }
}
