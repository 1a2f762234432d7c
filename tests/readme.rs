//! README.md stays true to the code: every flag of `--help` is documented (and every flag of
//! `filespy report --help` in the report's section), every exit code too, and the shipper configs
//! shown are the ones in packaging/ (which tests/packaging.rs checks).

use filespy::cli::{ExitStatus, HELP, REPORT_HELP};

fn file(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The flag lines of a help text: indented, starting with the flag (`  -o, --output FILE  …`).
fn flags_of(help: &str) -> Vec<&str> {
    help.lines()
        .filter(|l| l.starts_with("  ") && l.trim_start().starts_with('-'))
        .filter_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == '[' || c == '=')
                .find(|w| w.starts_with("--"))
        })
        .collect()
}

fn undocumented<'a>(flags: &[&'a str], text: &str) -> Vec<&'a str> {
    flags
        .iter()
        .copied()
        .filter(|f| !text.contains(&format!("`{f}")) && !text.contains(&format!(", {f}")))
        .collect()
}

#[test]
fn every_flag_in_help_is_documented() {
    let readme = file("README.md");
    let flags = flags_of(HELP);
    assert!(flags.len() >= 18, "found only {flags:?} in --help");
    let missing = undocumented(&flags, &readme);
    assert!(missing.is_empty(), "README.md lacks flags {missing:?}");
}

#[test]
fn every_report_flag_is_documented_in_the_reports_section() {
    let readme = file("README.md");
    let start = readme
        .find("\n## The report: `filespy report`\n")
        .expect("README.md has a section for filespy report");
    let rest = &readme[start + 1..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let flags = flags_of(REPORT_HELP);
    assert!(flags.len() >= 5, "found only {flags:?} in report --help");
    let missing = undocumented(&flags, section);
    assert!(
        missing.is_empty(),
        "the report's section lacks flags {missing:?}"
    );
}

#[test]
fn every_exit_code_is_documented() {
    let readme = file("README.md");
    for status in [ExitStatus::Success, ExitStatus::Failure, ExitStatus::Usage] {
        let row = format!("| {} |", status.code());
        assert!(readme.contains(&row), "README.md lacks exit code row {row}");
    }
}

/// The README shows each config without its comment lines; the rest must be identical.
#[test]
fn shipper_configs_match_packaging() {
    let readme = file("README.md");
    for name in ["packaging/vector.toml", "packaging/fluent-bit.yaml"] {
        let text = file(name);
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        let body = body.join("\n");
        assert!(
            readme.contains(body.trim()),
            "README.md does not show {name} as it is:\n{body}"
        );
    }
}

/// The README's kinds table is the kind table (`filespy::kinds::KINDS`): one row per op,
/// with its ECS type / action and its OCSF class and activity id.
#[test]
fn the_kinds_table_is_the_kind_table() {
    use filespy::kinds::KINDS;
    let readme = file("README.md");
    let start = readme
        .find("\n### Kinds\n")
        .expect("README.md has a Kinds section");
    let rows: Vec<Vec<&str>> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| `op` |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let mut ops: Vec<&str> = rows.iter().map(|r| r[0].trim_matches('`')).collect();
    ops.sort_unstable();
    let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    names.sort_unstable();
    assert_eq!(ops, names, "the table's rows (one block, one row per kind)");
    for row in &rows {
        let k = KINDS
            .iter()
            .find(|k| k.name == row[0].trim_matches('`'))
            .unwrap();
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(
            row[3],
            format!("{} / {}", k.ecs_type, k.ecs_action),
            "{}",
            k.name
        );
        let ocsf = row[4];
        let ok = match k.ocsf_class {
            1001 => ocsf.starts_with(&format!("{} ", k.ocsf_activity)),
            class => {
                ocsf.starts_with(&class.to_string())
                    && ocsf.contains(&format!(": {} ", k.ocsf_activity))
            }
        };
        assert!(
            ok,
            "{}: OCSF cell {ocsf:?} vs class {} activity {}",
            k.name, k.ocsf_class, k.ocsf_activity
        );
    }
}
