//! packaging/: every file parses with its real consumer's parser (systemd-analyze, logrotate,
//! python3's yaml and tomllib), says what the README promises (paths, privileges, mounts), and
//! passes filespy only flags that filespy's own parser accepts.

use filespy::cli::{parse_args, Action};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EVENTS: &str = "/var/log/filespy/events.jsonl";
const PYTHON: &str = "/usr/bin/python3";

fn packaging(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(packaging(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}); .ci/run installs it"))
}

/// A YAML (all documents) or TOML file as JSON, parsed by python3's yaml / tomllib.
fn parse_with_python(name: &str) -> Value {
    let script = r#"
import sys, json
path = sys.argv[1]
if path.endswith(".toml"):
    import tomllib
    with open(path, "rb") as f:
        print(json.dumps([tomllib.load(f)]))
else:
    try:
        import yaml
    except ImportError:
        sys.exit("python3-yaml is not installed (apt-get install python3-yaml)")
    with open(path, encoding="utf-8") as f:
        print(json.dumps(list(yaml.safe_load_all(f))))
"#;
    let path = packaging(name);
    let out = run(
        Command::new(PYTHON).arg("-c").arg(script).arg(&path),
        PYTHON,
    );
    assert!(
        out.status.success(),
        "{name} does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// Runs filespy's own command-line parser on `args` and returns the output file it would use.
fn filespy_output(args: &[&str]) -> Option<PathBuf> {
    let argv = std::iter::once("filespy")
        .chain(args.iter().copied())
        .map(OsString::from);
    match parse_args(argv) {
        Ok(Action::Run(config)) => config.output,
        other => panic!("filespy rejects {args:?}: {other:?}"),
    }
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

/// `Key=value` lines of the unit (all sections), in order.
fn unit_settings(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect()
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = read("filespy.service");
    let settings = unit_settings(&unit);
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect()
    };
    let exec = get("ExecStart");
    assert_eq!(exec.len(), 1);
    let mut words = exec[0].split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/filespy"));
    let args: Vec<&str> = words.collect();
    assert_eq!(filespy_output(&args), Some(PathBuf::from(EVENTS)));

    for (key, value) in [
        ("CapabilityBoundingSet", "CAP_BPF CAP_PERFMON"),
        ("AmbientCapabilities", "CAP_BPF CAP_PERFMON"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/log/filespy"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "read-only"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(get(key), [value], "{key}");
    }

    // systemd-analyze checks that ExecStart exists, so point it at the binary under test.
    let dir = std::env::temp_dir().join(format!("filespy-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("filespy.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/filespy", env!("CARGO_BIN_EXE_filespy")),
    )
    .unwrap();
    let out = run(
        Command::new("systemd-analyze").arg("verify").arg(&copy),
        "systemd-analyze (apt-get install systemd)",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings with exit status 0, so any output at all is a failure.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

#[test]
fn logrotate_snippet_parses_and_reloads() {
    let text = read("filespy.logrotate");
    assert!(text.contains(&format!("{EVENTS} {{")));
    assert!(text.contains("systemctl reload filespy.service"));
    assert!(!text.contains("copytruncate"), "filespy reopens on SIGHUP");
    let state = std::env::temp_dir().join(format!("filespy-logrotate-{}", std::process::id()));
    // -d: parse and plan only, touching nothing.
    let out = run(
        Command::new("logrotate")
            .arg("-d")
            .arg("-s")
            .arg(&state)
            .arg(packaging("filespy.logrotate")),
        "logrotate (apt-get install logrotate)",
    );
    let _ = std::fs::remove_file(&state);
    let log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !log.to_lowercase().contains("error"),
        "logrotate -d: {}\n{log}",
        out.status
    );
    assert!(log.contains(&format!("considering log {EVENTS}")), "{log}");
}

#[test]
fn daemonset_has_host_pids_capabilities_and_mounts() {
    let docs = parse_with_python("daemonset.yaml");
    assert_eq!(docs.as_array().map(Vec::len), Some(1));
    let ds = &docs[0];
    assert_eq!(ds["apiVersion"], "apps/v1");
    assert_eq!(ds["kind"], "DaemonSet");
    let template = &ds["spec"]["template"];
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"],
        template["metadata"]["labels"]
    );
    let pod = &template["spec"];
    assert_eq!(pod["hostPID"], true);
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(
        filespy_output(&strs(&c["args"])),
        Some(PathBuf::from(EVENTS))
    );

    let sc = &c["securityContext"];
    let added = strs(&sc["capabilities"]["add"]);
    assert!(
        sc["privileged"] == true || (added.contains(&"BPF") && added.contains(&"PERFMON")),
        "needs privileged or CAP_BPF+CAP_PERFMON: {sc}"
    );
    assert_eq!(sc["runAsUser"], 0);

    // Every mount has a hostPath volume at the same path; the three the README lists are there.
    let volumes = pod["volumes"].as_array().expect("volumes");
    let mut mounted = Vec::new();
    for m in c["volumeMounts"].as_array().expect("volumeMounts") {
        let name = m["name"].as_str().unwrap();
        let vol = volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"));
        assert_eq!(vol["hostPath"]["path"], m["mountPath"], "{name}");
        mounted.push((
            m["mountPath"].as_str().unwrap().to_string(),
            m["readOnly"] == true,
        ));
    }
    for (path, read_only) in [
        ("/sys/kernel/btf", true),
        ("/sys/kernel/tracing", false),
        ("/var/log/filespy", false),
    ] {
        assert!(
            mounted.contains(&(path.to_string(), read_only)),
            "{path} (read-only: {read_only}) not mounted: {mounted:?}"
        );
    }
}

#[test]
fn containerfile_is_the_binary_alone() {
    let lines: Vec<String> = read("Containerfile")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        [
            "FROM scratch",
            "COPY dist/filespy /usr/local/bin/filespy",
            "ENTRYPOINT [\"/usr/local/bin/filespy\"]",
        ]
    );
}

#[test]
fn shippers_read_the_events_file_as_json() {
    let fb = &parse_with_python("fluent-bit.yaml")[0];
    let inputs = fb["pipeline"]["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["name"], "tail");
    assert_eq!(inputs[0]["path"], EVENTS);
    let parser = &inputs[0]["parser"];
    let parsers = fb["parsers"].as_array().expect("parsers");
    assert!(
        parsers
            .iter()
            .any(|p| &p["name"] == parser && p["format"] == "json"),
        "tail's parser {parser} must be a json parser"
    );

    let vector = &parse_with_python("vector.toml")[0];
    let source = &vector["sources"]["filespy"];
    assert_eq!(source["type"], "file");
    assert_eq!(strs(&source["include"]), [EVENTS]);
    let remap = &vector["transforms"]["filespy_json"];
    assert_eq!(remap["type"], "remap");
    assert_eq!(strs(&remap["inputs"]), ["filespy"]);
    assert!(remap["source"]
        .as_str()
        .unwrap()
        .contains("parse_json!(string!(.message))"));
    assert_eq!(strs(&vector["sinks"]["out"]["inputs"]), ["filespy_json"]);
}
