//! Sizes for people: GNU's `-h` (`ls -lh`, `du -h`): powers of 1024 with a one-letter suffix,
//! one decimal below 10, always rounded up, so `1025` bytes is `1.1K` and never `1.0K`.
//! This is gnulib's `human_readable` with `human_autoscale | human_SI | human_base_1024` and
//! ceiling rounding, the options `ls -h` uses.

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
    fn blocks_round_up() {
        assert_eq!(blocks_in_units(0, 1024), 0);
        assert_eq!(blocks_in_units(1, 1024), 1);
        assert_eq!(blocks_in_units(8, 1024), 4);
    }
}
