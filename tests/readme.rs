//! README.md stays true to the code: every flag of `--help` is documented, every exit code too, and
//! the shipper configs shown are the ones in packaging/ (which tests/packaging.rs checks).

use filespy::cli::{ExitStatus, HELP};

fn file(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

#[test]
fn every_flag_in_help_is_documented() {
    let readme = file("README.md");
    // The flag lines of --help: indented, starting with the flag (`  -o, --output FILE  …`).
    let flags: Vec<&str> = HELP
        .lines()
        .filter(|l| l.starts_with("  ") && l.trim_start().starts_with('-'))
        .filter_map(|l| {
            l.split(|c: char| c.is_whitespace() || c == '[' || c == '=')
                .find(|w| w.starts_with("--"))
        })
        .collect();
    assert!(flags.len() >= 18, "found only {flags:?} in --help");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !readme.contains(&format!("`{f}")) && !readme.contains(&format!(", {f}")))
        .collect();
    assert!(missing.is_empty(), "README.md lacks flags {missing:?}");
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
