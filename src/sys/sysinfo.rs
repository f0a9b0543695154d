//! The whole system's numbers as `/proc` gives them: memory (`meminfo`), load (`loadavg`), CPU
//! time (`stat`), pressure stall information (`pressure/*`), and the count of logged-in users
//! from utmp. `free`, `uptime` and `top` print them; nothing here prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::procfs::PROC;
use crate::{Error, Result};

fn read_proc(file: &str) -> Result<(PathBuf, String)> {
    let path = Path::new(PROC).join(file);
    let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
    Ok((path, text))
}

/// `/proc/meminfo`, in kB, with the sums `free` shows.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    fields: HashMap<String, u64>,
}

impl Memory {
    pub fn read() -> Result<Memory> {
        let (_, text) = read_proc("meminfo")?;
        Ok(Memory::parse(&text))
    }

    pub fn parse(text: &str) -> Memory {
        let fields = text
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                let value = value.split_ascii_whitespace().next()?.parse().ok()?;
                Some((key.to_string(), value))
            })
            .collect();
        Memory { fields }
    }

    /// A field in kB, 0 when the kernel does not have it.
    pub fn get(&self, key: &str) -> u64 {
        self.fields.get(key).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.get("MemTotal")
    }

    pub fn free(&self) -> u64 {
        self.get("MemFree")
    }

    pub fn shared(&self) -> u64 {
        self.get("Shmem")
    }

    pub fn buffers(&self) -> u64 {
        self.get("Buffers")
    }

    /// Page cache as procps counts it: `Cached` plus `SReclaimable`.
    pub fn cache(&self) -> u64 {
        self.get("Cached") + self.get("SReclaimable")
    }

    /// `MemAvailable`, or free memory where the kernel (before 3.14) does not say, as procps.
    pub fn available(&self) -> u64 {
        match self.fields.get("MemAvailable") {
            Some(&available) if available <= self.total() => available,
            _ => self.free(),
        }
    }

    /// Used as procps 4 counts it: total minus available (not minus free and cache, as 3.3).
    pub fn used(&self) -> u64 {
        let used = self.total().saturating_sub(self.available());
        if used == 0 {
            self.total().saturating_sub(self.free())
        } else {
            used
        }
    }

    pub fn swap_total(&self) -> u64 {
        self.get("SwapTotal")
    }

    pub fn swap_free(&self) -> u64 {
        self.get("SwapFree")
    }

    pub fn swap_used(&self) -> u64 {
        self.swap_total().saturating_sub(self.swap_free())
    }
}

/// A decimal as the kernel writes it (`0.42`, `67321.45`) in hundredths, read without the
/// float parser (which would add its tables to a binary that must stay small).
pub fn hundredths(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction.chars().chain("00".chars()).take(2).collect();
    Some(whole.parse::<u64>().ok()?.checked_mul(100)? + digits.parse::<u64>().ok()?)
}

/// `/proc/loadavg`: the three load averages, in hundredths.
pub fn load_average() -> Result<[u64; 3]> {
    let (path, text) = read_proc("loadavg")?;
    let mut words = text.split_ascii_whitespace().map(hundredths);
    let mut load = [0; 3];
    for slot in &mut load {
        *slot = words
            .next()
            .flatten()
            .ok_or_else(|| Error::parse(&path, Some(1), "not a load average line"))?;
    }
    Ok(load)
}

/// The `cpu` line of `/proc/stat`: ticks spent in user, nice, system, idle, iowait, irq,
/// softirq and steal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes(pub [u64; 8]);

impl CpuTimes {
    pub fn read() -> Result<CpuTimes> {
        let (path, text) = read_proc("stat")?;
        let line = text
            .lines()
            .find(|line| line.starts_with("cpu "))
            .ok_or_else(|| Error::parse(&path, None, "no cpu line"))?;
        let mut times = [0u64; 8];
        for (slot, word) in times.iter_mut().zip(line.split_ascii_whitespace().skip(1)) {
            *slot = word.parse().unwrap_or(0);
        }
        Ok(CpuTimes(times))
    }

    /// The share of each of the eight states between `earlier` and `self`, in percent.
    pub fn percent_since(&self, earlier: &CpuTimes) -> [f64; 8] {
        let delta: Vec<u64> = (0..8)
            .map(|i| self.0[i].saturating_sub(earlier.0[i]))
            .collect();
        let total: u64 = delta.iter().sum();
        let mut share = [0.0; 8];
        if total == 0 {
            share[3] = 100.0;
            return share;
        }
        for (slot, ticks) in share.iter_mut().zip(delta) {
            *slot = ticks as f64 * 100.0 / total as f64;
        }
        share
    }
}

/// The first (`some`) line of `/proc/pressure/RESOURCE`, e.g.
/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`; `None` where PSI is off or absent.
pub fn pressure(resource: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(Path::new(PROC).join("pressure").join(resource)).ok()?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    (!lines.is_empty()).then_some(lines)
}

/// The size of glibc's `struct utmp` on 64-bit Linux, and where `ut_type` sits.
const UTMP_RECORD: usize = 384;
const USER_PROCESS: i16 = 7;

/// How many USER_PROCESS records the host's utmp holds (`/var/run/utmp`, else `/run/utmp`);
/// 0 when neither can be read (systemd hosts without utmp, an empty chroot).
pub fn logged_in_users() -> usize {
    let data = std::fs::read("/var/run/utmp")
        .or_else(|_| std::fs::read("/run/utmp"))
        .unwrap_or_default();
    data.chunks_exact(UTMP_RECORD)
        .filter(|record| i16::from_ne_bytes([record[0], record[1]]) == USER_PROCESS)
        .filter(|record| record[44] != 0)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_is_total_minus_available() {
        let memory = Memory::parse(
            "MemTotal: 1000 kB\nMemFree: 300 kB\nMemAvailable: 700 kB\nBuffers: 10 kB\n\
             Cached: 200 kB\nSReclaimable: 50 kB\nShmem: 5 kB\n",
        );
        assert_eq!(memory.used(), 300);
        assert_eq!(memory.cache(), 250);
        let old = Memory::parse("MemTotal: 1000 kB\nMemFree: 300 kB\n");
        assert_eq!(old.available(), 300);
        assert_eq!(old.used(), 700);
    }

    #[test]
    fn decimals_in_hundredths() {
        assert_eq!(hundredths("0.42"), Some(42));
        assert_eq!(hundredths("67321.4"), Some(6732140));
        assert_eq!(hundredths("3"), Some(300));
        assert_eq!(hundredths("1.234"), Some(123));
        assert_eq!(hundredths("x"), None);
        assert_eq!(hundredths(".5"), None);
        assert_eq!(hundredths("1.-"), None);
    }

    #[test]
    fn cpu_shares_sum_to_100() {
        let before = CpuTimes([10, 0, 10, 80, 0, 0, 0, 0]);
        let after = CpuTimes([20, 0, 20, 140, 0, 0, 0, 0]);
        let share = after.percent_since(&before);
        assert!((share.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert!((share[3] - 75.0).abs() < 1e-9);
    }
}
