//! Durations in Prometheus syntax: `1h30m`, `15s`, `500ms`, `2d`, `0`.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

const UNITS: [(&str, u64); 8] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
    ("y", 31_536_000_000),
    ("", 0),
];

/// Parses a Prometheus duration into milliseconds. Units must appear from
/// largest to smallest, each at most once, as in Prometheus.
pub fn parse_duration_ms(s: &str) -> Result<u64, DurationError> {
    let err = || DurationError(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_rank = usize::MAX;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(err());
        }
        let n: u64 = s[start..i].parse().map_err(|_| err())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let rank = UNITS[..7]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(err)?;
        // Largest first: y w d h m s ms has descending factors.
        if last_rank != usize::MAX && UNITS[rank].1 >= UNITS[last_rank].1 {
            return Err(err());
        }
        last_rank = rank;
        total = n
            .checked_mul(UNITS[rank].1)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(err)?;
    }
    Ok(total)
}

pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    parse_duration_ms(s).map(Duration::from_millis)
}

/// Formats milliseconds the way Prometheus prints durations (`1h30m`, `15s`).
pub struct DisplayMs(pub u64);

impl fmt::Display for DisplayMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        // As Go's model.Duration: years and weeks only when exact, so 15d
        // stays 15d and not 2w1d.
        for (u, factor, exact) in [
            ("y", 31_536_000_000u64, true),
            ("w", 604_800_000, true),
            ("d", 86_400_000, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1_000, false),
            ("ms", 1, false),
        ] {
            if exact && !ms.is_multiple_of(factor) {
                continue;
            }
            if ms >= factor {
                write!(f, "{}{}", ms / factor, u)?;
                ms %= factor;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_go_model_duration() {
        for (ms, want) in [
            (15 * 86_400_000, "15d"),
            (14 * 86_400_000, "2w"),
            (365 * 86_400_000, "1y"),
            (366 * 86_400_000, "366d"),
            (90_061_001, "1d1h1m1s1ms"),
            (0, "0s"),
        ] {
            assert_eq!(DisplayMs(ms).to_string(), want);
        }
    }

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration_ms("15s"), Ok(15_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        for bad in ["", "1", "s", "1x", "30m1h", "1h1h", "-1s", "1.5s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn displays_like_prometheus() {
        assert_eq!(DisplayMs(5_400_000).to_string(), "1h30m");
        assert_eq!(DisplayMs(15_000).to_string(), "15s");
        assert_eq!(DisplayMs(0).to_string(), "0s");
    }
}
