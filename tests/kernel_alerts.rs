//! Sensitive-file alerts end to end: real programs touching real sensitive paths — `/etc/shadow` and
//! `/etc/security/` — inside a private mount namespace (a scratch file bound over `/etc/shadow`, a tmpfs
//! over `/etc/security`), so nothing of the host's is touched; severities by category and access;
//! repeats counted, not sent; the built-in rules for a secrets or vault directory anywhere as a kernel
//! filter; a rules file's error names its line; alerts received by a real syslog socket. On the host
//! (tracepoints) and in the VMs (kprobes).

#[path = "common/monitor.rs"]
mod monitor;

use monitor::*;
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Runs `script` with sh in a private mount namespace of its own (mounts made there vanish with it).
fn in_private_mounts(script: &str) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    // SAFETY: unshare and mount are async-signal-safe system calls on memory prepared before fork.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let root = c"/";
            let none = c"none";
            if libc::mount(
                none.as_ptr(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn alert_of(e: &Value) -> (&str, &str, &str) {
    let a = &e["alert"];
    (
        a["rule"]
            .as_str()
            .unwrap_or_else(|| panic!("no alert: {e}")),
        a["category"].as_str().unwrap(),
        a["severity"].as_str().unwrap(),
    )
}

#[test]
fn sensitive_paths_raise_alerts_by_category_and_access() {
    let dir = TestDir::new("alerts");
    let fake = dir.join("shadow");
    std::fs::write(&fake, "root:*:1::::::\n").unwrap();
    let plain = dir.join("plain.txt");
    if in_vm() {
        // The VMs' initramfs (a throwaway root) has no /etc/shadow or /etc/security (nor /etc) to mount over; a
        // host always has them, and nothing of the host's is created.
        std::fs::create_dir_all("/etc/security").unwrap();
        if !std::path::Path::new("/etc/shadow").exists() {
            std::fs::write("/etc/shadow", "").unwrap();
        }
    }
    let fs = Filespy::start(
        &["--alerts", "--events", "all", "--alert-window", "0"],
        Out::Collect,
    );
    in_private_mounts(&format!(
        "mount -o bind {fake} /etc/shadow && mount -t tmpfs none /etc/security && \
         echo 'x:*:1::::::' >> /etc/shadow && cat /etc/shadow > /dev/null && \
         echo conf > /etc/security/t.conf && chmod 600 /etc/security/t.conf && \
         mv /etc/security/t.conf /etc/security/u.conf && echo plain >> {plain}",
        fake = q(fake.to_str().unwrap()),
        plain = q(plain.to_str().unwrap()),
    ));
    let run = fs.stop();
    let text = run.lines.join("\n");
    let evs = run.events();
    // Everything reported is an alert; nothing of the plain file is.
    assert!(evs.iter().all(|e| e["alert"].is_object()), "{text}");
    assert!(run.events_for(&plain).is_empty(), "{text}");
    let of = |path: &str, op: &str| -> Vec<&Value> {
        evs.iter()
            .filter(|e| e["op"] == op && e["file"]["file_path"] == path)
            .collect()
    };
    let write = of("/etc/shadow", "write");
    assert_eq!(write.len(), 1, "{text}");
    assert_eq!(
        alert_of(write[0]),
        ("auth-shadow", "authentication", "CRITICAL")
    );
    let read = of("/etc/shadow", "read");
    assert!(!read.is_empty(), "{text}");
    assert_eq!(alert_of(read[0]).2, "HIGH", "a read rates below a write");
    assert!(of("/etc/shadow", "open")
        .iter()
        .any(|e| e["process"]["name"] == "cat" && alert_of(e).2 == "HIGH"));
    for (path, op) in [
        ("/etc/security/t.conf", "create"),
        ("/etc/security/t.conf", "write"),
        ("/etc/security/t.conf", "chmod"),
        ("/etc/security/u.conf", "rename"),
    ] {
        let e = of(path, op);
        assert_eq!(e.len(), 1, "{op} {path}: {text}");
        assert_eq!(
            alert_of(e[0]),
            ("auth-security", "authentication", "CRITICAL"),
            "{}",
            e[0]
        );
    }
    println!("e.g. {}", write[0]);
}

#[test]
fn repeats_within_the_window_are_counted_not_sent() {
    let dir = TestDir::new("repeats");
    let rules = dir.join("test.rules");
    std::fs::write(
        &rules,
        format!(
            "# the test's own sensitive directory\nrule test-vault crypto_wallets prefix:{}/vault/\n",
            dir.str()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.join("vault")).unwrap();
    let key = dir.join("vault/key.bin");
    let fs = Filespy::start(
        &["--alerts", "--rules", rules.to_str().unwrap(), "--stats"],
        Out::Collect,
    );
    // One process, five writes of one file.
    run_sh(&format!(
        "for i in 1 2 3 4 5; do echo $i >> {}; done",
        q(key.to_str().unwrap())
    ));
    let run = fs.stop();
    let evs = run.events_for(&key);
    assert_eq!(evs.len(), 1, "{}", run.lines.join("\n"));
    assert_eq!(
        alert_of(&evs[0]),
        ("test-vault", "crypto_wallets", "HIGH"),
        "the category's change severity"
    );
    assert_eq!(evs[0]["alert"]["repeats"], 0);
    assert!(run.stats().filtered >= 4, "the repeats are counted");
}

#[test]
fn a_rules_file_error_names_its_line_and_exits_2() {
    let dir = TestDir::new("badrules");
    let rules = dir.join("bad.rules");
    std::fs::write(
        &rules,
        "# fine\nrule ok app exact:/srv/x\nrule broken app exact:/srv/y severity=urgent\n",
    )
    .unwrap();
    let out = Command::new(filespy_bin())
        .args(["--alerts", "--rules", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "filespy: --rules: {}:3: severity=urgent: a severity is INFO, LOW, MEDIUM, HIGH or CRITICAL",
            rules.display()
        )
    );
    // --print-rules shows what is in force, the file's rule included, and exits 0.
    std::fs::write(&rules, "rule ok app exact:/srv/x\ndisable auth-passwd\n").unwrap();
    let out = Command::new(filespy_bin())
        .args(["--rules", rules.to_str().unwrap(), "--print-rules"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("rule ok app exact:/srv/x ops=all change=HIGH read=MEDIUM\n"));
    assert!(printed.contains("rule auth-shadow authentication exact:/etc/shadow"));
    assert!(!printed.contains("auth-passwd"));
}

#[test]
fn alerts_reach_a_real_syslog_socket() {
    let dir = TestDir::new("syslog");
    let sock_path = dir.join("log.sock");
    let server = UnixDatagram::bind(&sock_path).unwrap();
    server
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let rules = dir.join("s.rules");
    std::fs::write(
        &rules,
        format!("rule test-key ssh_keys exact:{}/id_test\n", dir.str()),
    )
    .unwrap();
    let key = dir.join("id_test");
    let fs = Filespy::start(
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--syslog-only",
            "--syslog-socket",
            sock_path.to_str().unwrap(),
            "--path",
            dir.str(),
            "--all-files",
        ],
        Out::Collect,
    );
    run_sh(&format!(
        "echo secret > {0}; echo other > {0}.txt",
        q(key.to_str().unwrap())
    ));
    let mut buf = vec![0u8; 65536];
    let n = server.recv(&mut buf).expect("a syslog message");
    let filespy_pid = fs.pid();
    let run = fs.stop();
    assert!(
        run.lines.is_empty(),
        "--syslog-only writes no JSON lines: {:?}",
        run.lines
    );
    let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
    // <PRI>1 TIMESTAMP HOST filespy PID OP - BOM JSON; authpriv (10) * 8 + crit (2) = 82.
    assert!(msg.starts_with("<82>1 "), "{msg}");
    let fields: Vec<&str> = msg.splitn(8, ' ').collect();
    assert_eq!(fields[3], "filespy");
    assert_eq!(fields[4], filespy_pid.to_string());
    assert_eq!(fields[5], "write");
    let json = fields[7]
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 BOM before the JSON");
    let ev: Value = serde_json::from_str(json).unwrap();
    assert_eq!(ev["file"]["file_path"], key.to_str().unwrap());
    assert_eq!(alert_of(&ev), ("test-key", "ssh_keys", "CRITICAL"));
    // Only alerts go to syslog when rules apply: the .txt write sent nothing more.
    server.set_nonblocking(true).unwrap();
    assert!(server.recv(&mut buf).is_err(), "one message only");
    assert!(
        run.stderr
            .contains("filespy: syslog: 1 messages sent, 0 not taken"),
        "{}",
        run.stderr
    );
}

/// The workload of `secret_directories_are_a_kernel_filter` and what came of it.
struct SecretDirRun {
    events: Vec<filespy::event::Event>,
    kernel_filtered: u64,
    /// Records that passed the kernel's filters: sent, merged (the ring full) or lost.
    kernel_passed: u64,
    user_filtered: u64,
}

/// Many, so that what else the machine does (files under /home, /root, /etc pass) stays below half.
const MISS_ROUNDS: usize = 1000;

/// Under `rules` (alerts only): writes, reads and renames in (and out of) `a/secrets/` and `vault/b/` by sh,
/// cat, cp, python3 (cat in the VMs) and mv; `MISS_ROUNDS` writes each, and a read, of files beside them that no rule
/// matches.
fn secret_dir_workload(dir: &TestDir, rules: filespy::rules::Rules) -> SecretDirRun {
    use filespy::bpf::layout::{STAT_EVENTS, STAT_FILTERED, STAT_MERGED, STAT_OUTPUT_ERR};
    use filespy::kinds::{Op, OpSet};
    use filespy::pipeline::{Monitor, Options};
    let opts = Options {
        kinds: OpSet::only(Op::Write).with(Op::Read).with(Op::Rename),
        rules: Some(rules),
        alerts_only: true,
        alert_window: std::time::Duration::ZERO,
        ..Options::default()
    };
    let mut mon = Monitor::open(&opts).unwrap_or_else(|e| panic!("open: {e}"));
    let p = |rel: &str| q(dir.join(rel).to_str().unwrap());
    // The VMs' initramfs has busybox, no python3.
    let reader = match in_vm() {
        true => "cat",
        false => "python3 -c 'import sys; open(sys.argv[1]).read()'",
    };
    let mut script = format!(
        "echo key=1 > {x}; cat {x} > /dev/null; mv {x} {y}; mv {y} {out}\n\
         cp {bin} {c}; {reader} {c}; mv {c} {d}\n",
        x = p("a/secrets/x.conf"),
        y = p("a/secrets/y.conf"),
        out = p("out.conf"),
        bin = q(sh_exe().to_str().unwrap()),
        c = p("vault/b/c"),
        d = p("vault/b/d"),
    );
    for miss in MISSES {
        script += &format!(
            "i=0; while [ $i -lt {MISS_ROUNDS} ]; do echo x; i=$((i+1)); done >> {m}; cat {m} > /dev/null\n",
            m = p(miss)
        );
    }
    run_sh(&script);
    let events = drain(&mut mon);
    let k = mon.kernel_stats();
    SecretDirRun {
        events,
        kernel_filtered: k[STAT_FILTERED as usize],
        kernel_passed: [STAT_EVENTS, STAT_MERGED, STAT_OUTPUT_ERR]
            .iter()
            .map(|&i| k[i as usize])
            .sum(),
        user_filtered: mon.counters().user_filtered,
    }
}

/// Files the secret-dir and secret-vault rules do not match: beside the directories' names, and the
/// file named `secrets` itself (the glob wants something under it).
const MISSES: [&str; 4] = ["notsecrets/x", "secretsx/y", "a/secrets.d", "b/secrets"];

/// The built-in `secret-dir` and `secret-vault` rules (`/**/secrets/**`, `/**/vault/**`) match a
/// directory anywhere: the kernel's walk tests each directory's name, so their files' writes, reads
/// and renames are alerts and everything else stops in the kernel (counted filtered there, never
/// sent). A rule the kernel cannot test shows the difference: then the same misses reach user space.
#[test]
fn secret_directories_are_a_kernel_filter() {
    use filespy::kinds::Op;
    use filespy::rules::{Rules, Severity};
    require_root();
    let dir = TestDir::new("secretdirs");
    for sub in ["a/secrets", "b", "vault/b", "notsecrets", "secretsx"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let run = secret_dir_workload(&dir, Rules::builtin());
    let seen: Vec<String> = run
        .events
        .iter()
        .map(|e| format!("{} {}", e.op, String::from_utf8_lossy(&e.file.path)))
        .collect();
    let of = |rel: &str, op: Op| -> Vec<(String, Severity)> {
        let path = dir.join(rel);
        run.events
            .iter()
            .filter(|e| e.op == op && e.file.path == path.as_os_str().as_encoded_bytes())
            .map(|e| {
                let a = e.alert.as_ref().expect("alerts only");
                (a.rule.to_string(), a.severity)
            })
            .collect()
    };
    let (dir_rule, vault_rule) = ("secret-dir".to_string(), "secret-vault".to_string());
    for (rel, op, rule, severity) in [
        ("a/secrets/x.conf", Op::Write, &dir_rule, Severity::Medium),
        ("a/secrets/x.conf", Op::Read, &dir_rule, Severity::Low),
        ("a/secrets/y.conf", Op::Rename, &dir_rule, Severity::Medium),
        // Out of the directory: the rule matches the old path.
        ("out.conf", Op::Rename, &dir_rule, Severity::Medium),
        ("vault/b/c", Op::Write, &vault_rule, Severity::Medium),
        ("vault/b/c", Op::Read, &vault_rule, Severity::Low),
        ("vault/b/d", Op::Rename, &vault_rule, Severity::Medium),
    ] {
        let got = of(rel, op);
        assert!(!got.is_empty(), "{op} {rel}: {seen:#?}");
        assert!(
            got.iter().all(|g| *g == (rule.clone(), severity)),
            "{op} {rel}: {got:?}"
        );
    }
    for miss in MISSES {
        let path = dir.join(miss);
        let path = path.to_str().unwrap();
        assert!(!seen.iter().any(|s| s.ends_with(path)), "{miss}: {seen:#?}");
    }
    // The misses' writes stopped in the kernel: counted there, not passed, not filtered by user space.
    let miss_writes = (MISSES.len() * MISS_ROUNDS) as u64;
    assert!(
        run.kernel_filtered >= miss_writes,
        "kernel filtered {}, the misses alone wrote {miss_writes} times",
        run.kernel_filtered
    );
    assert!(
        run.kernel_passed < miss_writes && run.user_filtered < miss_writes / 2,
        "kernel passed {}, user space filtered {}",
        run.kernel_passed,
        run.user_filtered
    );
    // A glob with no fixed directory and no directory name leaves the kernel nothing to test: the
    // same misses pass it and user space drops them.
    let mut wide = Rules::builtin();
    wide.apply("rule anywhere app glob:/**/x*/never\n", "test")
        .unwrap();
    let unfiltered = secret_dir_workload(&dir, wide);
    assert!(
        unfiltered.kernel_passed >= miss_writes,
        "without a kernel filter: kernel passed {}",
        unfiltered.kernel_passed
    );
    println!(
        "kernel filter on: kernel filtered {}, passed {}, user space filtered {}; \
         off: kernel filtered {}, passed {}, user space filtered {}",
        run.kernel_filtered,
        run.kernel_passed,
        run.user_filtered,
        unfiltered.kernel_filtered,
        unfiltered.kernel_passed,
        unfiltered.user_filtered
    );
}
