//! Can this process load BPF programs and open perf events? Checked before touching the kernel,
//! so the user gets one clear line instead of an EPERM from deep inside the loader.

/// The one-line error shown when privileges are missing.
pub const MISSING: &str = "filespy needs root or CAP_BPF+CAP_PERFMON (try: sudo filespy)";

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Ok if the effective capabilities include CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (which covers
/// both on older kernels); else one line saying what is missing. Being root is not enough by itself:
/// a container or a unit can drop root's capabilities, and then the kernel refuses root too.
pub fn check() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let status = std::fs::read_to_string("/proc/self/status");
    let cap_eff = status.as_deref().ok().and_then(parse_cap_eff);
    // Without /proc the capabilities are unknown: let the kernel decide (its error is precise enough).
    if status.is_err() && euid == 0 {
        return Ok(());
    }
    if sufficient(cap_eff) {
        Ok(())
    } else if euid == 0 {
        Err(root_without(cap_eff.unwrap_or(0)))
    } else {
        Err(MISSING.to_string())
    }
}

/// The decision, apart from where its inputs come from. An unreadable CapEff counts as none.
pub fn sufficient(cap_eff: Option<u64>) -> bool {
    let caps = cap_eff.unwrap_or(0);
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN)
}

/// The message for root whose effective set lacks what the kernel checks.
pub fn root_without(caps: u64) -> String {
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .iter()
        .filter(|(c, _)| caps & (1u64 << c) == 0)
        .map(|(_, n)| *n)
        .collect();
    format!(
        "filespy runs as root but without {} (effective capabilities {caps:016x}; dropped by a \
         container, a systemd unit or capsh?): grant CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
        missing.join(" and ")
    )
}

/// The `CapEff:` line of /proc/<pid>/status: 16 hex digits.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPF_PERFMON: u64 = (1 << 39) | (1 << 38);

    #[test]
    fn capabilities_decide_not_the_uid() {
        assert!(sufficient(Some(BPF_PERFMON)));
        assert!(sufficient(Some(1 << 21)));
        assert!(!sufficient(Some(1 << 39)));
        assert!(!sufficient(Some(1 << 38)));
        assert!(!sufficient(Some(0)));
        assert!(!sufficient(None));
        // A full set, as root-equivalent containers show it.
        assert!(sufficient(Some(0x000001ffffffffff)));
    }

    #[test]
    fn root_without_capabilities_is_told_which() {
        let m = root_without(0);
        assert!(m.contains("without CAP_BPF and CAP_PERFMON"), "{m}");
        assert!(!m.contains('\n'));
        let m = root_without(1 << CAP_BPF);
        assert!(m.contains("without CAP_PERFMON ("), "{m}");
    }

    #[test]
    fn parses_cap_eff_line() {
        let status = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n\
                      CapEff:\t000000c000000000\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(BPF_PERFMON));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
        assert_eq!(parse_cap_eff(""), None);
    }

    #[test]
    fn this_process_reads_its_own_status() {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        assert!(
            parse_cap_eff(&status).is_some(),
            "no CapEff line in {status}"
        );
        // The test suite runs as root, so the live check must pass.
        // SAFETY: geteuid cannot fail.
        assert_eq!(check().is_ok(), sufficient(parse_cap_eff(&status)));
    }
}
