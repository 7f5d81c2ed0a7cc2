//! Byte sizes in Prometheus's flag syntax (`--storage.tsdb.retention.size`):
//! `512MB`, `1.5GB`, `10GiB`, `1GB512MB`, `0`.
//!
//! Prometheus parses these with Go's `units.ParseBase2Bytes`: the prefixes
//! are powers of 1024 whether written `KB` or `KiB` (`kB` is refused), `B`
//! is a byte, a number may have a fraction, terms may be chained, and a bare
//! number other than `0` has no unit and is refused. The whole string uses
//! one spelling: first the `KiB` family is tried, then the `KB` family.

use std::fmt;

/// Why a byte size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error(
        "invalid byte size {0:?}: want a number and a unit such as \"512MB\" (B, KB, MB, GB, TB, PB, EB; powers of 1024)"
    )]
    Invalid(String),
    #[error(
        "invalid byte size {input:?}: unknown unit {unit:?} (B, KB, MB, GB, TB, PB, EB or KiB, MiB, ...; powers of 1024)"
    )]
    UnknownUnit { input: String, unit: String },
    #[error("byte size {0:?} is too large")]
    Overflow(String),
    #[error("byte size {0:?} is negative")]
    Negative(String),
}

const PREFIXES: [&str; 6] = ["K", "M", "G", "T", "P", "E"];

/// The factor of `unit` in one spelling family (`iB` or `B` after the
/// prefix); `B` alone is a byte in both.
fn unit_factor(unit: &str, suffix: &str) -> Option<f64> {
    if unit == "B" {
        return Some(1.0);
    }
    let prefix = unit.strip_suffix(suffix)?;
    let i = PREFIXES.iter().position(|p| *p == prefix)?;
    Some(1024f64.powi(i as i32 + 1))
}

/// Consumes leading ASCII digits; `None` on overflow (as Go's
/// `leadingInt`, which gives up a little before `i64::MAX`).
fn leading_int(s: &str) -> Option<(i64, &str)> {
    let mut x: i64 = 0;
    let mut i = 0;
    for &c in s.as_bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        if x >= (i64::MAX - 10) / 10 {
            return None;
        }
        x = x * 10 + i64::from(c - b'0');
        i += 1;
    }
    Some((x, &s[i..]))
}

fn parse_in(orig: &str, s: &str, suffix: &str) -> Result<f64, ByteSizeError> {
    let invalid = || ByteSizeError::Invalid(orig.to_string());
    let mut s = s;
    let mut total = 0f64;
    while !s.is_empty() {
        if !(s.starts_with('.') || s.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (x, rest) = leading_int(s).ok_or_else(invalid)?;
        let pre = rest.len() != before;
        s = rest;
        let mut g = x as f64;
        let mut post = false;
        if let Some(frac) = s.strip_prefix('.') {
            let (x, rest) = leading_int(frac).ok_or_else(invalid)?;
            let digits = frac.len() - rest.len();
            g += x as f64 / 10f64.powi(digits as i32);
            post = digits > 0;
            s = rest;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let end = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let (unit, rest) = s.split_at(end);
        s = rest;
        let factor = unit_factor(unit, suffix).ok_or_else(|| ByteSizeError::UnknownUnit {
            input: orig.to_string(),
            unit: unit.to_string(),
        })?;
        total += g * factor;
    }
    Ok(total)
}

/// Parses a byte size as Prometheus's `--storage.tsdb.retention.size` does
/// (see the module docs). Negative sizes, which Prometheus reads as
/// "disabled", are an error here.
pub fn parse_byte_size(input: &str) -> Result<u64, ByteSizeError> {
    let (negative, s) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(ByteSizeError::Invalid(input.to_string()));
    }
    let f = parse_in(input, s, "iB").or_else(|_| parse_in(input, s, "B"))?;
    if f >= 2f64.powi(63) {
        return Err(ByteSizeError::Overflow(input.to_string()));
    }
    // Truncation toward zero, as Go's int64(f).
    let n = f as u64;
    if negative && n > 0 {
        return Err(ByteSizeError::Negative(input.to_string()));
    }
    Ok(n)
}

/// Formats bytes as Prometheus prints a `units.Base2Bytes`: `512MiB`,
/// `1KiB512B`, `0B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayBytes(pub u64);

impl fmt::Display for DisplayBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return f.write_str("0B");
        }
        let mut parts = Vec::new();
        for i in 0..=PREFIXES.len() {
            let rem = n % 1024;
            if rem != 0 {
                parts.push(match i {
                    0 => format!("{rem}B"),
                    _ => format!("{rem}{}iB", PREFIXES[i - 1]),
                });
            }
            n /= 1024;
            if n == 0 {
                break;
            }
        }
        for p in parts.iter().rev() {
            f.write_str(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KI: u64 = 1024;

    #[test]
    fn parses_prometheus_sizes() {
        let cases: [(&str, u64); 14] = [
            ("0", 0),
            ("-0", 0),
            ("0B", 0),
            ("1B", 1),
            ("512MB", 512 * KI * KI),
            ("1GB", KI * KI * KI),
            ("10GiB", 10 * KI * KI * KI),
            ("1KB", KI),
            ("1KiB", KI),
            ("1.5GB", 3 * KI * KI * KI / 2),
            (".5KB", 512),
            ("1GB512MB", KI * KI * KI + 512 * KI * KI),
            ("+2TB", 2 * KI * KI * KI * KI),
            ("1EB", KI * KI * KI * KI * KI * KI),
        ];
        for (s, want) in cases {
            assert_eq!(parse_byte_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for bad in [
            "",
            "-",
            "512",
            "1kB",
            "1kb",
            "1gb",
            "MB",
            ".MB",
            "1 MB",
            "1ZB",
            "1GiB512MB",
        ] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_byte_size("1XB"),
            Err(ByteSizeError::UnknownUnit {
                input: "1XB".to_string(),
                unit: "XB".to_string()
            })
        );
        assert_eq!(
            parse_byte_size("-1GB"),
            Err(ByteSizeError::Negative("-1GB".to_string()))
        );
        assert_eq!(
            parse_byte_size("8EB"),
            Err(ByteSizeError::Overflow("8EB".to_string()))
        );
        assert!(parse_byte_size("99999999999999999999B").is_err());
    }

    #[test]
    fn displays_like_base2bytes() {
        assert_eq!(DisplayBytes(0).to_string(), "0B");
        assert_eq!(DisplayBytes(512 * KI * KI).to_string(), "512MiB");
        assert_eq!(DisplayBytes(1536).to_string(), "1KiB512B");
        assert_eq!(DisplayBytes(3).to_string(), "3B");
        for s in ["512MB", "1GB", "1GB512MB", "7B"] {
            let n = parse_byte_size(s).expect("parse");
            assert_eq!(parse_byte_size(&DisplayBytes(n).to_string()), Ok(n));
        }
    }
}
