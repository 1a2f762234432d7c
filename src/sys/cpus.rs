//! CPU lists from sysfs (`0-3,5` format): per-CPU map values and per-CPU perf rings are sized by them.

use super::error::SysError;

/// Parse the kernel's CPU list format (`0-3,5,7-8`, maybe with a trailing newline).
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, SysError> {
    let bad = || SysError::Invalid(format!("malformed CPU list '{}'", text.trim()));
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        return Err(bad());
    }
    Ok(cpus)
}

fn read_cpu_list(path: &str) -> Result<Vec<u32>, SysError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| SysError::from_io(format!("read {path}"), &e))?;
    parse_cpu_list(&text)
}

/// CPUs that may ever exist: per-CPU map values hold one slot for each.
pub fn possible_cpus() -> Result<Vec<u32>, SysError> {
    read_cpu_list("/sys/devices/system/cpu/possible")
}

/// CPUs online now.
pub fn online_cpus() -> Result<Vec<u32>, SysError> {
    read_cpu_list("/sys/devices/system/cpu/online")
}

/// Number of slots in a per-CPU map value: the highest possible CPU + 1 (the kernel indexes by CPU id).
pub fn nr_possible_cpus() -> Result<usize, SysError> {
    Ok(possible_cpus()?.iter().max().map_or(0, |&m| m as usize + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_singles_and_newlines() {
        assert_eq!(parse_cpu_list("0-3,5\n").unwrap(), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0-1,4-5,7").unwrap(), vec![0, 1, 4, 5, 7]);
    }

    #[test]
    fn malformed_lists_are_errors() {
        for bad in ["", "\n", "a", "3-1", "0-", "1,,x"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn this_machine_has_cpu_zero() {
        let possible = possible_cpus().unwrap();
        let online = online_cpus().unwrap();
        assert!(possible.contains(&0) && online.contains(&0));
        assert!(online.iter().all(|c| possible.contains(c)));
        assert!(nr_possible_cpus().unwrap() >= online.len());
    }
}
