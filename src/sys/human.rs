//! Sizes for people. [`human_size`] is GNU's `-h` (`ls -lh`, `du -h`): powers of 1024 with a
//! one-letter suffix, one decimal below 10, always rounded up, so `1025` bytes is `1.1K` and
//! never `1.0K`. This is gnulib's `human_readable` with `human_autoscale | human_SI |
//! human_base_1024` and ceiling rounding, the options `ls -h` uses.
//! [`decimal_size`] is for the tool's own reports (verify's progress and summary): powers of
//! 1000 as GNU's `--si` scales, but spelled with the unit (`12.3 MB`) and rounded to nearest.

const SUFFIXES: &[u8] = b"KMGTPEZYRQ";

/// `bytes` the way `ls -h` prints a size.
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut exponent = 0usize;
    let mut unit: u128 = 1;
    while u128::from(bytes) / unit >= 1024 && exponent < SUFFIXES.len() {
        unit *= 1024;
        exponent += 1;
    }
    let value = u128::from(bytes);
    let mut amount = value / unit;
    let remainder = value % unit;
    let mut tenths = remainder * 10 / unit;
    let below_tenths = !(remainder * 10).is_multiple_of(unit);
    if amount < 10 {
        if below_tenths {
            tenths += 1;
            if tenths == 10 {
                amount += 1;
                tenths = 0;
            }
        }
        if amount < 10 {
            return format!("{amount}.{tenths}{}", SUFFIXES[exponent - 1] as char);
        }
    } else if tenths > 0 || below_tenths {
        amount += 1;
        if amount == 1024 && exponent < SUFFIXES.len() {
            return format!("1.0{}", SUFFIXES[exponent] as char);
        }
    }
    format!("{amount}{}", SUFFIXES[exponent - 1] as char)
}

/// `bytes` in powers of 1000 with one decimal (`999 B`, `1.5 KB`, `12.3 MB`), up to TB.
pub fn decimal_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A count of 512-byte blocks in units of `block_size` bytes, rounded up (`ls`'s `total`,
/// `du`'s default 1K blocks).
pub fn blocks_in_units(blocks_512: u64, block_size: u64) -> u64 {
    let bytes = u128::from(blocks_512) * 512;
    let unit = u128::from(block_size.max(1));
    u64::try_from(bytes.div_ceil(unit)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_like_gnu() {
        assert_eq!(human_size(0), "0");
        assert_eq!(human_size(1023), "1023");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(1025), "1.1K");
        assert_eq!(human_size(4096), "4.0K");
        assert_eq!(human_size(10 * 1024 - 1), "10K");
        assert_eq!(human_size(10 * 1024 + 1), "11K");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0M");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0M");
        assert_eq!(human_size(u64::MAX), "16E");
    }

    #[test]
    fn decimal_sizes_for_reports() {
        assert_eq!(decimal_size(0), "0 B");
        assert_eq!(decimal_size(999), "999 B");
        assert_eq!(decimal_size(1000), "1.0 KB");
        assert_eq!(decimal_size(1_540), "1.5 KB");
        assert_eq!(decimal_size(12_345_678), "12.3 MB");
        assert_eq!(decimal_size(5_000_000_000_000_000), "5000.0 TB");
    }

    #[test]
    fn blocks_round_up() {
        assert_eq!(blocks_in_units(0, 1024), 0);
        assert_eq!(blocks_in_units(1, 1024), 1);
        assert_eq!(blocks_in_units(8, 1024), 4);
    }
}
