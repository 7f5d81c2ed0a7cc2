//! Checks on literals made on the query text before parsing. The parser
//! crate turns a number written as a duration (`x[1e30]`, `x offset Inf`)
//! into a `Duration` with a conversion that panics when the number does
//! not fit, and compiles every regex matcher while parsing (a 1 MB
//! alternation takes a noticeable time even to be refused), so such
//! literals are refused first.

use crate::error::QueryError;
use crate::position::{is_ident, skip_string};

/// Refuses number literals in duration positions (ranges, subquery steps,
/// offsets) that no `Duration` can hold.
pub fn check_duration_literals(query: &str) -> Result<(), QueryError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'}' {
                    if matches!(bytes[i], b'"' | b'\'' | b'`') {
                        i = skip_string(bytes, i);
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'[' => {
                let close = bytes[i..]
                    .iter()
                    .position(|b| *b == b']')
                    .map_or(bytes.len(), |p| i + p);
                for part in query[i + 1..close].split(':') {
                    check_literal(part.trim())?;
                }
                i = close + 1;
            }
            b if is_ident(b) => {
                let start = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                if query[start..i].eq_ignore_ascii_case("offset") {
                    let mut j = i;
                    while j < bytes.len()
                        && (bytes[j].is_ascii_whitespace() || bytes[j] == b'-' || bytes[j] == b'+')
                    {
                        j += 1;
                    }
                    let end = bytes[j..]
                        .iter()
                        .position(|b| !(is_ident(*b) || *b == b'.'))
                        .map_or(bytes.len(), |p| j + p);
                    check_literal(&query[j..end])?;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The longest regex a label matcher may have, in bytes of query text;
/// Grafana's multi-value variables make alternations of a few KB.
pub const MAX_REGEX_BYTES: usize = 64 * 1024;

/// Refuses regex matchers (`=~"…"`, `!~"…"`) longer than
/// [`MAX_REGEX_BYTES`] before anything compiles them.
pub fn check_regex_literals(query: &str) -> Result<(), QueryError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                let end = skip_string(bytes, i);
                let before = query[..i].trim_end();
                let len = end.saturating_sub(i + 2);
                if (before.ends_with("=~") || before.ends_with("!~")) && len > MAX_REGEX_BYTES {
                    return Err(QueryError::BadData(format!(
                        "parse error: regular expression of {len} bytes exceeds the limit of {MAX_REGEX_BYTES} bytes"
                    )));
                }
                i = end;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// An error when `text` is a plain number (no unit) too large, negative or
/// not finite for a duration in seconds.
fn check_literal(text: &str) -> Result<(), QueryError> {
    let Some(seconds) = plain_number(text).or_else(|| unit_duration_seconds(text)) else {
        return Ok(());
    };
    // `Duration::from_secs_f64` holds up to 2^64 seconds.
    if seconds.is_finite() && (0.0..1.8e19).contains(&seconds) {
        return Ok(());
    }
    Err(QueryError::BadData(format!(
        "parse error: duration out of range: {text:?}"
    )))
}

/// The value of a number literal without a duration unit: decimal, hex,
/// octal-looking or `Inf`/`NaN`, as the parser reads it.
fn plain_number(text: &str) -> Option<f64> {
    let t = text.strip_prefix('+').unwrap_or(text);
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u128::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return Some(if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        });
    }
    if !t
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
    {
        return None;
    }
    // A unit letter other than an exponent makes it a duration string.
    if t.bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Seconds of a duration written with units (`1h30m`), as a float so that
/// any number of digits is measured; `None` when it is not one.
fn unit_duration_seconds(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut total = 0.0f64;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let seconds = match &text[unit_start..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        let n: f64 = text[start..unit_start].parse().ok()?;
        total += n * seconds;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_fit_a_duration_pass() {
        for q in [
            "x[5m]",
            "x[300]",
            "x[1.5]",
            "x[1h:30]",
            "x offset 60",
            "x[0x10]",
            "x[1e3]",
        ] {
            assert!(check_duration_literals(q).is_ok(), "{q}");
        }
    }

    #[test]
    fn numbers_too_large_or_not_finite_are_refused() {
        for q in [
            "x[1e30]",
            "x[Inf]",
            "x[NaN]",
            "x[5m:1e25]",
            "x offset 1e30",
            "x OFFSET -Inf",
            "x[0xffffffffffffffffffff]",
            "max_over_time(x[1e20:])",
            "x[99999999999999999999999y]",
            "x[1m:99999999999999999999999999999999999999999s]",
        ] {
            match check_duration_literals(q) {
                Err(QueryError::BadData(m)) => assert!(m.contains("out of range"), "{m}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_regexes_are_refused_and_long_strings_are_not() {
        let long = "a|".repeat(MAX_REGEX_BYTES);
        for q in [
            format!("x{{a=~\"{long}\"}}"),
            format!("x{{a !~ '{long}'}}"),
            format!("{{__name__=~`{long}`}}"),
        ] {
            match check_regex_literals(&q) {
                Err(QueryError::BadData(m)) => assert!(m.contains("exceeds the limit"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let fits = "a|".repeat(1000);
        assert!(check_regex_literals(&format!("x{{a=~\"{fits}\"}}")).is_ok());
        assert!(check_regex_literals(&format!("x{{a=\"{long}\"}}")).is_ok());
        assert!(check_regex_literals(&format!("label_join(x, \"{long}\")")).is_ok());
    }

    #[test]
    fn strings_and_matchers_are_skipped() {
        for q in [
            "x{a=\"[1e30]\"}",
            "label_replace(x, \"a\", \"offset 1e30\", \"b\", \"\")",
        ] {
            assert!(check_duration_literals(q).is_ok(), "{q}");
        }
    }
}
