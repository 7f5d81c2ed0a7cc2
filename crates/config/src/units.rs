//! Byte sizes as Prometheus writes them (`body_size_limit: 10MB`): Go's
//! `units.Base2Bytes`, where `KB` and `KiB` both mean 1024.

const BASE2_IEC: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PiB", 1 << 50),
    ("EiB", 1 << 60),
];
const BASE2_OLD: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1 << 10),
    ("MB", 1 << 20),
    ("GB", 1 << 30),
    ("TB", 1 << 40),
    ("PB", 1 << 50),
    ("EB", 1 << 60),
];

/// Why a size does not parse: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {input:?}: {problem} (expected e.g. 10MB, 512KiB or 0)")]
pub struct InvalidSize {
    pub input: String,
    pub problem: SizeProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeProblem {
    #[error("negative size")]
    Negative,
    #[error("empty size")]
    Empty,
    #[error("expected a number")]
    ExpectedNumber,
    #[error("bad number {0:?}")]
    BadNumber(String),
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("size too large")]
    TooLarge,
}

/// Parses `10MB`, `1KiB`, `1.5GB`, `1GiB512MiB` or `0`. Either all units
/// are IEC (`KiB`) or all are the old spelling (`KB`), as in Go.
pub fn parse_base2_bytes(s: &str) -> Result<u64, InvalidSize> {
    parse_with(s, &BASE2_IEC)
        .or_else(|_| parse_with(s, &BASE2_OLD))
        .map_err(|problem| InvalidSize {
            input: s.to_string(),
            problem,
        })
}

fn parse_with(orig: &str, units: &[(&str, u64)]) -> Result<u64, SizeProblem> {
    let s = orig.strip_prefix('+').unwrap_or(orig);
    if s.starts_with('-') {
        return Err(SizeProblem::Negative);
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(SizeProblem::Empty);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(SizeProblem::ExpectedNumber);
        }
        let value: f64 = number
            .parse()
            .map_err(|_| SizeProblem::BadNumber(number.to_string()))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = units
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| SizeProblem::UnknownUnit(unit.to_string()))?;
        total += value * scale as f64;
    }
    if total >= i64::MAX as f64 {
        return Err(SizeProblem::TooLarge);
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base2_sizes() {
        assert_eq!(parse_base2_bytes("0"), Ok(0));
        assert_eq!(parse_base2_bytes("100B"), Ok(100));
        assert_eq!(parse_base2_bytes("1KB"), Ok(1024));
        assert_eq!(parse_base2_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_base2_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_base2_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_base2_bytes("1MiB512KiB"), Ok(1536 << 10));
        for bad in ["", "10", "1kB", "10XB", "-1MB", "MB", "1..5MB", "1KiB1KB"] {
            let e = parse_base2_bytes(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.starts_with("invalid size"), "{bad:?}: {e}");
        }
    }
}
