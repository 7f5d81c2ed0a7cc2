//! Numbers: sample values and timestamps.

/// Parses a float the way both formats spell one: Go's `strconv.ParseFloat`
/// minus hex floats and underscores, which Prometheus rejects too (see
/// [`argus_model::strconv::parse_decimal_float`]).
pub(crate) use argus_model::strconv::parse_decimal_float as parse_float;

/// An OpenMetrics timestamp: float seconds, finite. Returns the seconds (for
/// ordering checks) and the milliseconds Prometheus derives from them.
pub(crate) fn parse_om_timestamp(s: &[u8]) -> Option<(f64, i64)> {
    let secs = parse_float(s)?;
    secs.is_finite().then(|| (secs, go_int64(secs * 1000.0)))
}

/// Go's `int64(f)` as compiled for amd64: truncation toward zero, and the
/// "integer indefinite" `i64::MIN` for NaN and out-of-range values, so that
/// Argus stores the very timestamps Prometheus would.
pub(crate) fn go_int64(f: f64) -> i64 {
    // 2^63 is exactly representable; the range check also rejects NaN.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// A Prometheus text timestamp: integer milliseconds with an optional sign.
pub(crate) fn parse_ms_timestamp(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so i64::MIN is representable.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative { Some(n) } else { n.checked_neg() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn om_timestamps_truncate_like_go() {
        let ms = |s: &str| parse_om_timestamp(s.as_bytes()).map(|t| t.1);
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("1520430000.123"), Some(1_520_430_000_123));
        assert_eq!(ms("0.0009"), Some(0));
        assert_eq!(ms("-0.0009"), Some(0));
        assert_eq!(ms("-1.5"), Some(-1500));
        assert_eq!(ms("1.5e3"), Some(1_500_000));
        assert_eq!(ms("12345678901234567890.1234567890"), Some(i64::MIN));
        assert_eq!(ms("NaN"), None);
        assert_eq!(ms("Inf"), None);
        assert_eq!(ms("-Inf"), None);
    }

    #[test]
    fn ms_timestamps() {
        assert_eq!(
            parse_ms_timestamp(b"1395066363000"),
            Some(1_395_066_363_000)
        );
        assert_eq!(parse_ms_timestamp(b"-5"), Some(-5));
        assert_eq!(parse_ms_timestamp(b"+5"), Some(5));
        assert_eq!(parse_ms_timestamp(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_ms_timestamp(b"9223372036854775808"), None);
        for bad in ["", "-", "1.5", "1e3", "x"] {
            assert_eq!(parse_ms_timestamp(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
