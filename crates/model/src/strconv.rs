//! Go's `strconv` for floats, as Prometheus reads and writes them: the one
//! `ParseFloat` and `FormatFloat(v, 'f', -1, 64)` of the workspace.
//!
//! - [`parse_float`]: `strconv.ParseFloat(s, 64)`, the whole Go syntax
//!   (decimal and hexadecimal floats, `_` digit separators, `Inf`,
//!   `Infinity`, `NaN`), for API parameters, label values and test scripts.
//! - [`parse_decimal_float`]: the same without hex floats and `_`, which
//!   Prometheus's text and OpenMetrics parsers refuse; the exposition
//!   parser's hot path, on bytes.
//! - [`format_float`]: the shortest decimal that reads back as the value,
//!   never in exponent form; `NaN`, `+Inf`, `-Inf`.

use std::fmt;

/// What is wrong with a float's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatErrorKind {
    /// Not a float in Go's syntax.
    Syntax,
    /// A finite literal beyond the f64 range (Go returns ±Inf with
    /// `ErrRange`).
    Range,
}

impl fmt::Display for FloatErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FloatErrorKind::Syntax => "invalid syntax",
            FloatErrorKind::Range => "value out of range",
        })
    }
}

/// Go's `*strconv.NumError` for `ParseFloat`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strconv.ParseFloat: parsing {input:?}: {kind}")]
pub struct ParseFloatError {
    pub input: String,
    pub kind: FloatErrorKind,
}

/// Go's `strconv.ParseFloat(s, 64)`.
pub fn parse_float(s: &str) -> Result<f64, ParseFloatError> {
    parse(s.as_bytes(), true).map_err(|kind| ParseFloatError {
        input: s.to_string(),
        kind,
    })
}

/// Go's `strconv.ParseFloat(s, 64)` minus hexadecimal floats and `_` digit
/// separators, as Prometheus's text and OpenMetrics parsers take sample
/// values: an optional sign, decimal digits with an optional fraction and
/// exponent, or `Inf`/`Infinity`/`NaN` in any case (no sign on NaN). A
/// finite literal beyond the f64 range is refused, as in Go.
#[inline]
pub fn parse_decimal_float(s: &[u8]) -> Option<f64> {
    // Most values are small integers: convert them without the full parser.
    if !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_digit) {
        let n = s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        return Some(n as f64);
    }
    parse(s, false).ok()
}

/// The parser; `go_ext` enables hex floats and underscores. Inlined so the
/// decimal-only caller gets a copy without the Go extensions.
#[inline]
fn parse(s: &[u8], go_ext: bool) -> Result<f64, FloatErrorKind> {
    use FloatErrorKind::{Range, Syntax};
    let (negative, body) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.first().ok_or(Syntax)?.is_ascii_alphabetic() {
        let inf = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            f64::INFINITY
        } else if body.eq_ignore_ascii_case(b"nan") && body.len() == s.len() {
            return Ok(f64::NAN);
        } else {
            return Err(Syntax);
        };
        return Ok(if negative { -inf } else { inf });
    }
    if go_ext && body.len() > 2 && body[0] == b'0' && matches!(body[1], b'x' | b'X') {
        if !underscores_ok(s) {
            return Err(Syntax);
        }
        let v = parse_hex(&body[2..]).ok_or(Syntax)?;
        let v = if negative { -v } else { v };
        return if v.is_infinite() { Err(Range) } else { Ok(v) };
    }
    if !decimal_shape(body, go_ext) {
        return Err(Syntax);
    }
    let underscores = go_ext && body.contains(&b'_');
    let v: f64 = if underscores {
        if !underscores_ok(s) {
            return Err(Syntax);
        }
        let text: String = s
            .iter()
            .filter(|&&c| c != b'_')
            .map(|&c| char::from(c))
            .collect();
        text.parse().map_err(|_| Syntax)?
    } else {
        // The shape check leaves only ASCII that Rust's parser accepts with
        // the same meaning.
        std::str::from_utf8(s)
            .map_err(|_| Syntax)?
            .parse()
            .map_err(|_| Syntax)?
    };
    if v.is_finite() { Ok(v) } else { Err(Range) }
}

/// `digits [. digits] [(e|E) [sign] digits]` with at least one mantissa
/// digit; with `underscores`, `_` counts as a digit here and
/// [`underscores_ok`] checks where it stands.
#[inline]
fn decimal_shape(s: &[u8], underscores: bool) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_digit() || (underscores && s[*i] == b'_')) {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if s.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

/// Go's `underscoreOK`: each `_` sits between digits, or between a base
/// prefix and a digit.
fn underscores_ok(s: &[u8]) -> bool {
    // The class of the last character: b'^' start, b'0' digit or base
    // prefix, b'_' underscore, b'!' anything else.
    let mut saw = b'^';
    let s = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// `h.hhh p ±d` after `0x`, correctly rounded (ties to even); the binary
/// exponent is required, as in Go. `None` for bad syntax, ±Inf past the
/// f64 range.
fn parse_hex(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut mant = 0u64;
    let mut kept = 0;
    let mut sticky = false;
    let mut digits = 0;
    // Value = mant * 16^exp16 * 2^exp2 (plus sticky bits below mant).
    let mut exp16: i64 = 0;
    let mut dot = false;
    while let Some(&c) = s.get(i) {
        if c == b'_' {
            i += 1;
            continue;
        }
        if c == b'.' {
            if dot {
                break;
            }
            dot = true;
            i += 1;
            continue;
        }
        let Some(d) = char::from(c).to_digit(16) else {
            break;
        };
        digits += 1;
        i += 1;
        if mant == 0 && d == 0 {
            if dot {
                exp16 -= 1;
            }
            continue;
        }
        if kept < 16 {
            mant = mant * 16 + u64::from(d);
            kept += 1;
            if dot {
                exp16 -= 1;
            }
        } else {
            sticky |= d != 0;
            if !dot {
                exp16 += 1;
            }
        }
    }
    if digits == 0 || !matches!(s.get(i), Some(b'p' | b'P')) {
        return None;
    }
    i += 1;
    let negative_exp = match s.get(i) {
        Some(b'+') => {
            i += 1;
            false
        }
        Some(b'-') => {
            i += 1;
            true
        }
        _ => false,
    };
    if !s.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut exp2: i64 = 0;
    while let Some(&c) = s.get(i) {
        if c == b'_' {
            i += 1;
            continue;
        }
        if !c.is_ascii_digit() {
            break;
        }
        // Go stops accumulating at 10000 too: past it the result is 0 or Inf.
        if exp2 < 10_000 {
            exp2 = exp2 * 10 + i64::from(c - b'0');
        }
        i += 1;
    }
    if i != s.len() {
        return None;
    }
    if negative_exp {
        exp2 = -exp2;
    }
    Some(compose(mant, exp16 * 4 + exp2, sticky))
}

/// `m * 2^e` (and nonzero bits below `m` when `sticky`) rounded to the
/// nearest f64, ties to even; ±Inf is not signed here (positive).
fn compose(m: u64, e: i64, sticky: bool) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let nbits = 64 - i64::from(m.leading_zeros());
    // Exponent of the leading bit, and of the last bit the result keeps:
    // 53 bits for normal numbers, fewer down to 2^-1074 for subnormals.
    let top = e + nbits - 1;
    let mut lsb = (top - 52).max(-1074);
    let shift = lsb - e;
    let mut q: u64 = if shift <= 0 {
        // Exact: at most 53 bits.
        m << (-shift)
    } else if shift >= 128 {
        0
    } else {
        let wide = u128::from(m);
        let q = wide >> shift;
        let rem = wide & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        (q + u128::from(up)) as u64
    };
    if q == 1 << 53 {
        q >>= 1;
        lsb += 1;
    }
    if q == 0 {
        return 0.0;
    }
    if q >= 1 << 52 {
        let biased = lsb + 52 + 1023;
        if biased >= 2047 {
            return f64::INFINITY;
        }
        f64::from_bits(((biased as u64) << 52) | (q & ((1 << 52) - 1)))
    } else {
        // Subnormal: lsb is -1074.
        f64::from_bits(q)
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that
/// reads back as `v`, never in exponent form; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's `Display` for floats is shortest round-trip, no exponent.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(r: Result<f64, ParseFloatError>) -> Option<u64> {
        r.ok().map(f64::to_bits)
    }

    #[test]
    fn decimal_floats() {
        let ok = |s: &str, want: f64| {
            let got = parse_decimal_float(s.as_bytes());
            assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{s}");
            assert_eq!(bits(parse_float(s)), Some(want.to_bits()), "{s}");
        };
        ok("0", 0.0);
        ok("-0", -0.0);
        ok("42", 42.0);
        ok("1.5", 1.5);
        ok("1.", 1.0);
        ok(".5", 0.5);
        ok("+.5", 0.5);
        ok("1e3", 1000.0);
        ok("1E+03", 1000.0);
        ok("2.5e-1", 0.25);
        ok("0000000000000000000000000000000000000000001.2e-1", 0.12);
        ok("9223372036854775808", 9_223_372_036_854_775_808.0);
        ok("123456789012345678", 123_456_789_012_345_678.0);
        ok("1e-400", 0.0);
        ok("+Inf", f64::INFINITY);
        ok("-Inf", f64::NEG_INFINITY);
        ok("Inf", f64::INFINITY);
        ok("infinity", f64::INFINITY);
        ok("-INFINITY", f64::NEG_INFINITY);
        assert!(parse_decimal_float(b"NaN").is_some_and(f64::is_nan));
        assert!(parse_decimal_float(b"nan").is_some_and(f64::is_nan));
        assert!(parse_float("nAn").is_ok_and(f64::is_nan));
        for bad in [
            "", "+", "-", ".", "e5", "1e", "1e+", "1_2", "0x1", "0x1p-3", "1.1.1", "1z", "+NaN",
            "-nan", "infin", " 1", "1 ", "1\t", "1e400", "--1", "0b1", "0o1", "1e+_1",
        ] {
            assert_eq!(parse_decimal_float(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn go_extensions() {
        let ok = |s: &str, want: f64| {
            assert_eq!(bits(parse_float(s)), Some(want.to_bits()), "{s}");
        };
        ok("1_000", 1000.0);
        ok("1_000.000_5", 1000.0005);
        ok("1e1_0", 1e10);
        ok("0x1p-2", 0.25);
        ok("0X1P+2", 4.0);
        ok("-0x1.8p1", -3.0);
        ok("0x_1p0", 1.0);
        ok("0x.8p0", 0.5);
        ok("0x1.fffffffffffffp1023", f64::MAX);
        ok("0x1p-1074", f64::from_bits(1));
        ok("0x1p-1075", 0.0);
        ok("0x1.8p-1074", f64::from_bits(2));
        ok("0x0.0000000000001p-1022", f64::from_bits(1));
        // 2^53 + 1 rounds to even; + a sticky bit rounds up.
        ok("0x20000000000001p0", 9_007_199_254_740_992.0);
        ok("0x200000000000010001p-16", 9_007_199_254_740_994.0);
        ok("0x123456789abcdef01p0", 20_988_295_479_420_645_376.0);
        for bad in [
            "_1",
            "1_",
            "1__0",
            "1_.5",
            "0x1",
            "0x",
            "0xp1",
            "0x1p",
            "0x1p+",
            "0x1g",
            "0x1.2.3p0",
            "+nan",
            "1_e5",
            "0x1p1_",
        ] {
            assert_eq!(
                parse_float(bad).map_err(|e| e.kind),
                Err(FloatErrorKind::Syntax),
                "{bad:?}"
            );
        }
        for big in ["1e400", "-1e400", "0x1p1024", "0x1.fffffffffffff8p1023"] {
            assert_eq!(
                parse_float(big).map_err(|e| e.kind),
                Err(FloatErrorKind::Range),
                "{big:?}"
            );
        }
        assert_eq!(
            parse_float("x").map_err(|e| e.to_string()),
            Err("strconv.ParseFloat: parsing \"x\": invalid syntax".to_string())
        );
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1.5e-7), "0.00000015");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(123456.789), "123456.789");
    }
}
