//! Path patterns of the rules: `exact:PATH`, `prefix:TEXT` (a trailing `/` makes it a directory's
//! subtree), `suffix:TEXT`, and `glob:PATTERN` with `*` (any run of bytes but `/`), `**` (any run,
//! `/` too) and `?` (one byte but `/`). A glob starting `~/` is in every home: `/root/` and
//! `/home/*/`. Paths are the absolute paths filespy reports.

use std::fmt;

/// Most wildcards in one glob: matching backtracks, so their number is bounded.
const MAX_WILDCARDS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Glob(String),
}

impl Pattern {
    pub fn parse(spec: &str) -> Result<Pattern, String> {
        let (kind, text) = spec.split_once(':').ok_or_else(|| {
            format!("{spec:?}: a match is exact:PATH, prefix:TEXT, suffix:TEXT or glob:PATTERN")
        })?;
        if text.is_empty() {
            return Err(format!("{spec:?}: nothing to match"));
        }
        let absolute = |what: &str| {
            if text.starts_with('/') {
                Ok(())
            } else {
                Err(format!("{spec:?}: {what} must be an absolute path"))
            }
        };
        match kind {
            "exact" => {
                absolute("an exact path")?;
                Ok(Pattern::Exact(text.into()))
            }
            "prefix" => {
                absolute("a prefix")?;
                Ok(Pattern::Prefix(text.into()))
            }
            "suffix" => Ok(Pattern::Suffix(text.into())),
            "glob" => {
                if !(text.starts_with('/') || text.starts_with("~/")) {
                    return Err(format!("{spec:?}: a glob starts with / or ~/"));
                }
                if text.contains("***") {
                    return Err(format!("{spec:?}: *** is not a wildcard (* or **)"));
                }
                let wild =
                    text.matches("**").count() + text.replace("**", "").matches(['*', '?']).count();
                if wild > MAX_WILDCARDS {
                    return Err(format!(
                        "{spec:?}: at most {MAX_WILDCARDS} wildcards in a glob"
                    ));
                }
                Ok(Pattern::Glob(text.into()))
            }
            _ => Err(format!(
                "{spec:?}: unknown match {kind:?} (exact, prefix, suffix or glob)"
            )),
        }
    }

    pub fn matches(&self, path: &[u8]) -> bool {
        match self {
            Pattern::Exact(p) => path == p.as_bytes(),
            Pattern::Prefix(p) => path.starts_with(p.as_bytes()),
            Pattern::Suffix(s) => path.ends_with(s.as_bytes()),
            Pattern::Glob(g) => match g.strip_prefix("~/") {
                Some(rest) => {
                    let rest = rest.as_bytes();
                    [&b"/root/"[..], b"/home/*/"].iter().any(|home| {
                        let mut full = home.to_vec();
                        full.extend_from_slice(rest);
                        glob(&full, path)
                    })
                }
                None => glob(g.as_bytes(), path),
            },
        }
    }

    /// The directories every match lies under (the kernel's `--path` filter can then drop
    /// everything else); None for a suffix, which may match anywhere.
    pub fn fixed_dirs(&self) -> Option<Vec<String>> {
        let text = match self {
            Pattern::Exact(p) => return Some(vec![p.clone()]),
            Pattern::Prefix(p) => p.as_str(),
            Pattern::Suffix(_) => return None,
            Pattern::Glob(g) if g.starts_with("~/") => {
                return Some(vec!["/root".into(), "/home".into()])
            }
            Pattern::Glob(g) => &g[..g.find(['*', '?']).unwrap_or(g.len())],
        };
        // The whole components of the fixed text: `/etc/ssh/ssh_host_` is under `/etc/ssh`.
        let dir = &text[..text.rfind('/').unwrap_or(0)];
        Some(vec![if dir.is_empty() {
            "/".into()
        } else {
            dir.into()
        }])
    }

    /// A name every match has as a directory, a whole component before the last (`secrets` for
    /// `/**/secrets/**`), for the kernel to test where a glob has no fixed directory: a component free
    /// of wildcards between two `/` that match a `/` of the path (a `**` ending a longer component
    /// may take the `/` after it: `/a**/x/*` matches `/ax/y`). Every match then has it, so the kernel's
    /// test passes a superset; for `/**/NAME/**` exactly the matches. The longest such (the rarest).
    pub fn dir_name(&self) -> Option<String> {
        let Pattern::Glob(g) = self else { return None };
        let comps: Vec<&str> = g.strip_prefix('/')?.split('/').collect();
        let mut best: Option<&str> = None;
        // The leading `/` matches itself; a `/` after a component does unless a `**` ends it (then
        // only a `**` alone after a matched `/` keeps it: it matches nothing or ends in a `/`).
        let mut slash_before = true;
        for (i, c) in comps.iter().enumerate() {
            let whole = slash_before && i + 1 < comps.len();
            if whole
                && !c.is_empty()
                && !c.contains(['*', '?'])
                && best.is_none_or(|b| c.len() > b.len())
            {
                best = Some(c);
            }
            slash_before = !c.ends_with("**") || (*c == "**" && slash_before);
        }
        best.map(str::to_string)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(p) => write!(f, "exact:{p}"),
            Pattern::Prefix(p) => write!(f, "prefix:{p}"),
            Pattern::Suffix(s) => write!(f, "suffix:{s}"),
            Pattern::Glob(g) => write!(f, "glob:{g}"),
        }
    }
}

/// Does `path` match the glob `pat` (`*`, `**`, `?` as above)?
fn glob(pat: &[u8], path: &[u8]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(b'*') if pat.get(1) == Some(&b'*') => {
            let rest = &pat[2..];
            // `/**/` also matches `/`: no directory in between.
            rest.strip_prefix(b"/").is_some_and(|r| glob(r, path))
                || (0..=path.len()).any(|i| glob(rest, &path[i..]))
        }
        Some(b'*') => {
            let rest = &pat[1..];
            let run = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
            (0..=run).any(|i| glob(rest, &path[i..]))
        }
        Some(b'?') => path.first().is_some_and(|&b| b != b'/') && glob(&pat[1..], &path[1..]),
        Some(&c) => path.first() == Some(&c) && glob(&pat[1..], &path[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(spec: &str, path: &str) -> bool {
        Pattern::parse(spec).unwrap().matches(path.as_bytes())
    }

    #[test]
    fn each_kind_matches_what_it_says() {
        assert!(m("exact:/etc/shadow", "/etc/shadow"));
        assert!(!m("exact:/etc/shadow", "/etc/shadow-"));
        assert!(m("prefix:/etc/pam.d/", "/etc/pam.d/sshd"));
        assert!(!m("prefix:/etc/pam.d/", "/etc/pam.dx/sshd"));
        assert!(m("prefix:/etc/ssh/ssh_host_", "/etc/ssh/ssh_host_rsa_key"));
        assert!(m("suffix:.env", "/srv/app/.env"));
        assert!(m("suffix:/.htpasswd", "/var/www/.htpasswd"));
        assert!(!m("suffix:/.htpasswd", "/var/www/x.htpasswd"));
        assert!(m("glob:/home/*/.ssh/id_*", "/home/ann/.ssh/id_rsa"));
        assert!(!m("glob:/home/*/.ssh/id_*", "/home/ann/x/.ssh/id_rsa"));
        assert!(m("glob:/srv/**/secrets/*", "/srv/a/b/secrets/k"));
        assert!(m("glob:/srv/**/secrets/*", "/srv/secrets/k"));
        assert!(!m("glob:/srv/**/secrets/*", "/srv/a/secrets/k/deeper"));
        assert!(m("glob:/a/?.txt", "/a/b.txt"));
        assert!(!m("glob:/a/?.txt", "/a/bb.txt"));
        assert!(m("glob:~/.aws/credentials", "/root/.aws/credentials"));
        assert!(m("glob:~/.aws/credentials", "/home/bob/.aws/credentials"));
        assert!(!m(
            "glob:~/.aws/credentials",
            "/home/bob/sub/.aws/credentials"
        ));
        assert!(m("glob:/**/secrets/**", "/srv/app/secrets/db/pw"));
        assert!(m("glob:/**/secrets/**", "/secrets/pw"));
        assert!(!m("glob:/**/secrets/**", "/srv/mysecrets/pw"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for spec in [
            "nocolon",
            "exact:relative",
            "prefix:",
            "glob:rel/*",
            "glob:/a/***",
            "glob:/*/*/*/*/*/*/*/*/*",
            "regex:/a",
        ] {
            assert!(Pattern::parse(spec).is_err(), "{spec}");
        }
    }

    #[test]
    fn fixed_directories_for_the_kernel() {
        let d = |s: &str| Pattern::parse(s).unwrap().fixed_dirs();
        let v = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(d("exact:/etc/shadow"), v(&["/etc/shadow"]));
        assert_eq!(d("prefix:/etc/pam.d/"), v(&["/etc/pam.d"]));
        assert_eq!(d("prefix:/etc/ssh/ssh_host_"), v(&["/etc/ssh"]));
        assert_eq!(d("glob:/home/*/.ssh/id_*"), v(&["/home"]));
        assert_eq!(d("glob:/*/x"), v(&["/"]));
        assert_eq!(d("glob:~/.aws/credentials"), v(&["/root", "/home"]));
        assert_eq!(d("suffix:.env"), None);
    }

    #[test]
    fn a_directory_anywhere_is_a_name_for_the_kernel() {
        let n = |s: &str| Pattern::parse(s).unwrap().dir_name();
        assert_eq!(n("glob:/**/secrets/**").as_deref(), Some("secrets"));
        assert_eq!(n("glob:/**/vault/**").as_deref(), Some("vault"));
        // Not the last component: that is the file's name, not a directory.
        assert_eq!(n("glob:/**/secrets"), None);
        assert_eq!(
            n("glob:/*/app/**/keys/*").as_deref(),
            Some("keys"),
            "the longest"
        );
        assert_eq!(n("glob:/**/**/k/*").as_deref(), Some("k"));
        assert_eq!(n("glob:/**/se*ts/**"), None, "a wildcard in it");
        // `**` ending a longer component can take the `/` before `x`: `/ax/y` matches.
        assert_eq!(n("glob:/a**/x/*"), None);
        assert!(Pattern::parse("glob:/a**/x/*").unwrap().matches(b"/ax/y"));
        assert_eq!(n("glob:/a**/x/k/*").as_deref(), Some("k"));
        assert_eq!(n("exact:/etc/shadow"), None);
        assert_eq!(n("suffix:/secrets/x"), None);
        assert_eq!(n("glob:~/.ssh/id_*"), None, "in a home: fixed directories");
        // What the name stands for: every match has it as a directory.
        let p = Pattern::parse("glob:/**/secrets/**").unwrap();
        for (path, hit) in [
            ("/a/secrets/x.conf", true),
            ("/secrets/x", true),
            ("/a/secrets/b/secrets", true),
            ("/a/secrets", false),
            ("/notsecrets/x", false),
            ("/secretsx/y", false),
        ] {
            assert_eq!(p.matches(path.as_bytes()), hit, "{path}");
        }
    }
}
