//! Can this process load BPF programs and open perf events? Checked before touching the kernel,
//! so the user gets one clear line instead of an EPERM from deep inside the loader.

/// The one-line error shown when privileges are missing.
pub const MISSING: &str = "filespy needs root or CAP_BPF+CAP_PERFMON (try: sudo filespy)";

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Ok if euid is 0, or the effective capabilities include CAP_BPF and CAP_PERFMON, or
/// CAP_SYS_ADMIN (which covers both on older kernels); else `MISSING`.
pub fn check() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let cap_eff = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_cap_eff(&status));
    if sufficient(euid, cap_eff) {
        Ok(())
    } else {
        Err(MISSING.to_string())
    }
}

/// The decision, apart from where its inputs come from. An unreadable CapEff counts as none.
pub fn sufficient(euid: u32, cap_eff: Option<u64>) -> bool {
    if euid == 0 {
        return true;
    }
    let caps = cap_eff.unwrap_or(0);
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN)
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
    fn root_is_enough() {
        assert!(sufficient(0, None));
        assert!(sufficient(0, Some(0)));
    }

    #[test]
    fn capabilities_without_root() {
        assert!(sufficient(1000, Some(BPF_PERFMON)));
        assert!(sufficient(1000, Some(1 << 21)));
        assert!(!sufficient(1000, Some(1 << 39)));
        assert!(!sufficient(1000, Some(1 << 38)));
        assert!(!sufficient(1000, Some(0)));
        assert!(!sufficient(1000, None));
        // A full set, as root-equivalent containers show it.
        assert!(sufficient(1000, Some(0x000001ffffffffff)));
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
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(check(), Ok(()));
        } else {
            assert_eq!(check().is_ok(), sufficient(1, parse_cap_eff(&status)));
        }
    }
}
