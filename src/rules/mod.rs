//! Sensitive-file rules: which paths matter, in which category, and how severe an operation on them
//! is. A change (write, delete, rename, chmod, chown, …) rates higher than an access (open for
//! reading, read, exec). Built in: the categories of the guide (authentication, SSH keys, cloud
//! credentials, crypto wallets, application secrets, database configuration); a rules file adds,
//! overrides or disables rules (`parse`). Matching is pure: path and op in, alert out.

mod alerter;
mod builtin;
mod pattern;

pub use alerter::{Alerter, Verdict};

pub use pattern::Pattern;

use crate::kinds::{Group, Op, OpSet};
use std::fmt;

/// How serious an alert is; RFC 5424 severities follow (`syslog_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    pub fn from_name(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
    }

    /// RFC 5424 severity: CRITICAL is 2 (crit), HIGH 3 (err), MEDIUM 4 (warning), LOW 5 (notice),
    /// INFO 6 (informational).
    pub fn syslog_level(self) -> u8 {
        match self {
            Severity::Critical => 2,
            Severity::High => 3,
            Severity::Medium => 4,
            Severity::Low => 5,
            Severity::Info => 6,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an operation does to the file, for its severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Content, name, owner or mode changed (or an open that can write).
    Change,
    /// Looked at: an open for reading, a read, an exec.
    Read,
}

/// Flags of an `open` that lets the caller change the file.
const WRITING_OPEN: [&str; 5] = ["O_WRONLY", "O_RDWR", "O_TRUNC", "O_CREAT", "O_APPEND"];

impl Access {
    /// What `op` did: an `open` by its flags, a `close` by whether its open wrote.
    pub fn of(op: Op, flags: &[&str], bytes_written: u64) -> Access {
        match op {
            Op::Open if flags.iter().any(|f| WRITING_OPEN.contains(f)) => Access::Change,
            Op::Close if bytes_written > 0 => Access::Change,
            Op::Open | Op::Read | Op::Exec | Op::Close => Access::Read,
            _ => Access::Change,
        }
    }
}

/// One rule: a pattern over absolute paths, the ops it applies to, and the severity of a change and
/// of a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub category: String,
    pub pattern: Pattern,
    pub ops: OpSet,
    pub change: Severity,
    pub read: Severity,
}

impl Rule {
    pub fn severity(&self, access: Access) -> Severity {
        match access {
            Access::Change => self.change,
            Access::Read => self.read,
        }
    }
}

/// The ops a rule applies to unless it names its own: every kind with a file but the process kinds'
/// (an exec of a sensitive file is an access too).
pub fn file_ops() -> OpSet {
    crate::kinds::KINDS
        .iter()
        .filter(|k| k.has_file && (!k.groups.contains(&Group::Process) || k.op == Op::Exec))
        .fold(OpSet::empty(), |s, k| s.with(k.op))
}

/// A matching rule's verdict on one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Index of the rule in `Rules::rules`.
    pub rule: usize,
    pub severity: Severity,
}

/// The rules in force, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

impl Rules {
    pub fn builtin() -> Rules {
        Rules {
            rules: builtin::rules(),
        }
    }

    /// The most severe rule matching `path` (or, for a rename, the path it came from) for `op`, which
    /// did `access`; the first in order among equals.
    pub fn matching(
        &self,
        op: Op,
        access: Access,
        path: &[u8],
        old_path: Option<&[u8]>,
    ) -> Option<Alert> {
        let mut best: Option<Alert> = None;
        for (i, r) in self.rules.iter().enumerate() {
            if !r.ops.contains(op) {
                continue;
            }
            let hit = r.pattern.matches(path) || old_path.is_some_and(|p| r.pattern.matches(p));
            if !hit {
                continue;
            }
            let severity = r.severity(access);
            if best.as_ref().is_none_or(|b| severity > b.severity) {
                best = Some(Alert { rule: i, severity });
            }
        }
        best
    }

    /// Applies a rules file's text (`source` names it in errors): `rule` lines add a rule or replace
    /// the one of that name, `disable` lines remove one.
    pub fn apply(&mut self, text: &str, source: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let at = |msg: String| format!("{source}:{}: {msg}", n + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("disable") => {
                    let name = words
                        .next()
                        .ok_or_else(|| at("disable needs a rule name".into()))?;
                    if let Some(extra) = words.next() {
                        return Err(at(format!("unexpected {extra:?} after the rule name")));
                    }
                    let before = self.rules.len();
                    self.rules.retain(|r| r.name != name);
                    if self.rules.len() == before {
                        return Err(at(format!("no rule named {name:?} to disable")));
                    }
                }
                Some("rule") => {
                    let rule = parse_rule(words).map_err(at)?;
                    match self.rules.iter_mut().find(|r| r.name == rule.name) {
                        Some(old) => *old = rule,
                        None => self.rules.push(rule),
                    }
                }
                Some(other) => {
                    return Err(at(format!(
                        "unknown directive {other:?} (expected rule or disable)"
                    )))
                }
                None => unreachable!("a trimmed non-empty line has a word"),
            }
        }
        Ok(())
    }

    /// The rules in force, one per line, in the rules-file syntax (`--print-rules`).
    pub fn print(&self) -> String {
        let mut out = String::from(
            "# filespy rules in force (rule NAME CATEGORY MATCH ops=… change=… read=…)\n",
        );
        for r in &self.rules {
            let ops = if r.ops == file_ops() {
                "all".to_string()
            } else {
                r.ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(",")
            };
            out += &format!(
                "rule {} {} {} ops={ops} change={} read={}\n",
                r.name, r.category, r.pattern, r.change, r.read
            );
        }
        out
    }
}

/// `NAME CATEGORY MATCH [ops=LIST] [severity=S] [change=S] [read=S]`.
fn parse_rule<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<Rule, String> {
    let name = words.next().ok_or("rule needs NAME CATEGORY MATCH")?;
    let category = words.next().ok_or("rule needs a CATEGORY after its name")?;
    let spec = words
        .next()
        .ok_or("rule needs a MATCH (exact:, prefix:, suffix: or glob:)")?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    if !valid(name) {
        return Err(format!(
            "rule name {name:?}: 1-64 of letters, digits, '_', '-', '.'"
        ));
    }
    if !valid(category) {
        return Err(format!(
            "category {category:?}: 1-64 of letters, digits, '_', '-', '.'"
        ));
    }
    let pattern = Pattern::parse(spec)?;
    let defaults = builtin::category_severities(category);
    let (mut change, mut read) = defaults.unwrap_or((Severity::High, Severity::Medium));
    let mut ops = file_ops();
    for w in words {
        let (key, value) = w
            .split_once('=')
            .ok_or_else(|| format!("{w:?}: expected ops=, severity=, change= or read="))?;
        let level = || {
            Severity::from_name(value).ok_or_else(|| {
                format!("{key}={value}: a severity is INFO, LOW, MEDIUM, HIGH or CRITICAL")
            })
        };
        match key {
            "ops" if value == "all" => ops = file_ops(),
            "ops" => {
                ops = crate::kinds::parse_events(value).map_err(|e| format!("ops={value}: {e}"))?;
                if let Some(op) = ops.iter().find(|&op| !file_ops().contains(op)) {
                    return Err(format!("ops={value}: {op} events name no file"));
                }
            }
            "severity" => {
                change = level()?;
                read = change;
            }
            "change" => change = level()?,
            "read" => read = level()?,
            _ => {
                return Err(format!(
                    "unknown key {key:?} (expected ops, severity, change or read)"
                ))
            }
        }
    }
    Ok(Rule {
        name: name.to_string(),
        category: category.to_string(),
        pattern,
        ops,
        change,
        read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rules: &Rules, op: Op, path: &str) -> Option<(String, Severity)> {
        rules
            .matching(op, Access::of(op, &[], 0), path.as_bytes(), None)
            .map(|a| (rules.rules[a.rule].category.clone(), a.severity))
    }

    #[test]
    fn builtin_categories_rate_changes_above_reads() {
        let r = Rules::builtin();
        let cases = [
            (
                Op::Write,
                "/etc/shadow",
                "authentication",
                Severity::Critical,
            ),
            (Op::Read, "/etc/shadow", "authentication", Severity::High),
            (
                Op::Chmod,
                "/etc/pam.d/sshd",
                "authentication",
                Severity::Critical,
            ),
            (
                Op::Rename,
                "/root/.ssh/authorized_keys",
                "ssh_keys",
                Severity::Critical,
            ),
            (
                Op::Open,
                "/home/ann/.ssh/id_ed25519",
                "ssh_keys",
                Severity::High,
            ),
            (
                Op::Read,
                "/etc/ssh/ssh_host_rsa_key",
                "ssh_keys",
                Severity::High,
            ),
            (
                Op::Write,
                "/home/bob/.aws/credentials",
                "cloud_credentials",
                Severity::High,
            ),
            (
                Op::Read,
                "/root/.kube/config",
                "cloud_credentials",
                Severity::Medium,
            ),
            (
                Op::Read,
                "/home/c/.config/gcloud/creds.db",
                "cloud_credentials",
                Severity::Medium,
            ),
            (
                Op::Write,
                "/home/d/.bitcoin/wallet.dat",
                "crypto_wallets",
                Severity::High,
            ),
            (
                Op::Write,
                "/srv/app/.env",
                "application_secrets",
                Severity::Medium,
            ),
            (
                Op::Read,
                "/srv/app/secrets/db.txt",
                "application_secrets",
                Severity::Low,
            ),
            (
                Op::Read,
                "/opt/x/credentials.json",
                "application_secrets",
                Severity::Low,
            ),
            (
                Op::Delete,
                "/var/lib/mysql/ibdata1",
                "database_config",
                Severity::Medium,
            ),
            (
                Op::Read,
                "/etc/mongodb.conf",
                "database_config",
                Severity::Low,
            ),
        ];
        for (op, path, cat, sev) in cases {
            assert_eq!(
                alert(&r, op, path),
                Some((cat.to_string(), sev)),
                "{op} {path}"
            );
        }
        for path in [
            "/etc/passwd.bak",
            "/etc/securityx/a",
            "/home/ann/ssh/id_rsa",
            "/home/ann/x/.ssh/id_rsa",
            "/tmp/notes.txt",
            "/srv/app/envfile",
        ] {
            assert_eq!(alert(&r, Op::Write, path), None, "{path}");
        }
        // Process events carry no sensitive file; a rename counts where it came from too.
        assert_eq!(alert(&r, Op::Fork, "/etc/shadow"), None);
        let from = r.matching(Op::Rename, Access::Change, b"/tmp/x", Some(b"/etc/shadow"));
        assert_eq!(from.map(|a| a.severity), Some(Severity::Critical));
        // An open that can write is a change.
        let w = Access::of(Op::Open, &["O_WRONLY"], 0);
        let w = r.matching(Op::Open, w, b"/etc/shadow", None);
        assert_eq!(w.map(|a| a.severity), Some(Severity::Critical));
        // A close rates as what its open did.
        assert_eq!(Access::of(Op::Close, &[], 0), Access::Read);
        assert_eq!(Access::of(Op::Close, &[], 1), Access::Change);
    }

    #[test]
    fn a_rules_file_adds_overrides_and_disables() {
        let mut r = Rules::builtin();
        let n = r.rules.len();
        r.apply(
            "# ours\n\
             rule app-config app exact:/srv/app/config.yml change=CRITICAL read=low\n\
             rule auth-shadow authentication exact:/etc/shadow ops=write,rename severity=HIGH\n\
             disable ssh-known-hosts\n",
            "test.rules",
        )
        .unwrap();
        assert_eq!(r.rules.len(), n, "one added, one replaced, one removed");
        assert_eq!(
            alert(&r, Op::Write, "/srv/app/config.yml"),
            Some(("app".into(), Severity::Critical))
        );
        assert_eq!(
            alert(&r, Op::Read, "/srv/app/config.yml"),
            Some(("app".into(), Severity::Low))
        );
        assert_eq!(
            alert(&r, Op::Write, "/etc/shadow").map(|a| a.1),
            Some(Severity::High)
        );
        assert_eq!(alert(&r, Op::Read, "/etc/shadow"), None, "ops=write,rename");
        assert_eq!(alert(&r, Op::Write, "/root/.ssh/known_hosts"), None);
        let printed = r.print();
        assert!(printed.contains(
            "rule app-config app exact:/srv/app/config.yml ops=all change=CRITICAL read=LOW\n"
        ));
        // What --print-rules shows reads back as the same rules.
        let mut again = Rules { rules: Vec::new() };
        again.apply(&printed, "printed").unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let mut r = Rules::builtin();
        for (text, want) in [
            ("rule x", "f:1: rule needs a CATEGORY"),
            ("\nrule x cat nomatch", "f:2: "),
            ("rule x cat exact:relative", "f:1: "),
            ("rule x cat glob:/a/*** ", "f:1: "),
            (
                "rule x cat exact:/a severity=urgent",
                "f:1: severity=urgent",
            ),
            (
                "rule x cat exact:/a ops=fork",
                "f:1: ops=fork: fork events name no file",
            ),
            ("rule x cat exact:/a ops=nope", "f:1: ops=nope"),
            ("rule x cat exact:/a colour=red", "f:1: unknown key"),
            ("disable no-such-rule", "f:1: no rule named"),
            ("allow /etc", "f:1: unknown directive"),
            ("rule b@d cat exact:/a", "f:1: rule name"),
        ] {
            let e = r.apply(text, "f").unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn severities_map_to_syslog() {
        assert_eq!(Severity::Critical.syslog_level(), 2);
        assert_eq!(Severity::Info.syslog_level(), 6);
        assert_eq!(Severity::from_name("medium"), Some(Severity::Medium));
        assert!(Severity::Critical > Severity::High);
    }
}
