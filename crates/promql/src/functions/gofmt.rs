//! Formatting helpers that reproduce the Go `fmt` verbs Prometheus uses in
//! its annotation and error texts (`%g`, `%f`, `%q`), so that our messages
//! read byte for byte like upstream's. Digits come from Rust's shortest
//! round-trip formatting, as in [`format_float`] (`FormatFloat(v, 'f', -1,
//! 64)`, in `argus_model::strconv`), whose spelling of NaN and the
//! infinities they share.

use argus_model::strconv::format_float;

/// Go's `fmt.Sprintf("%g", v)` for a float64 (`strconv.FormatFloat(v, 'g',
/// -1, 64)` plus fmt's sign rules): the shortest digits that round-trip,
/// printed in exponent form (`1e+06`, `1.5e-05`) when the decimal exponent
/// is below -4 or at least 6, plain decimal otherwise. Infinities print as
/// `+Inf` / `-Inf`, NaN as `NaN`.
pub fn format_g(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's
    // strconv with precision -1: "d.ddddde[-]x".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    // strconv uses an exponent threshold of 6 for the shortest form.
    let eprec = 6;
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let mut out = String::from(sign);
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let ea = exp.unsigned_abs();
        if ea < 10 {
            out.push('0');
        }
        out.push_str(&ea.to_string());
        return out;
    }
    // Plain decimal form with exactly the significant digits.
    let dp = exp + 1; // position of the decimal point relative to digits
    let mut out = String::from(sign);
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        let split = dp as usize;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
    out
}

/// Go's `fmt.Sprintf("%f", v)`: six decimals; `+Inf`, `-Inf`, `NaN`.
pub fn format_f(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    format!("{v:.6}")
}

/// Go's `fmt.Sprintf("%q", s)` (`strconv.Quote`): a double-quoted string
/// with Go escapes for quotes, backslashes and non-printable characters.
pub fn quote(s: &str) -> String {
    quote_bytes(s.as_bytes())
}

/// [`quote`] of bytes that may not be UTF-8: Go shows each invalid byte
/// as `\xNN`.
pub fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_quoted_char(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if c.is_control() => {
            let n = c as u32;
            if n <= 0xffff {
                out.push_str(&format!("\\u{n:04x}"));
            } else {
                out.push_str(&format!("\\U{n:08x}"));
            }
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_shows_invalid_utf8_bytes_as_go_does() {
        assert_eq!(quote_bytes(b"a\xffb\n"), r#""a\xffb\n""#);
        assert_eq!(quote_bytes("é\"".as_bytes()), r#""é\"""#);
    }

    #[test]
    fn g_matches_go() {
        assert_eq!(format_g(1.5), "1.5");
        assert_eq!(format_g(-0.5), "-0.5");
        assert_eq!(format_g(2.0), "2");
        assert_eq!(format_g(100000.0), "100000");
        assert_eq!(format_g(1e6), "1e+06");
        assert_eq!(format_g(1234567.0), "1.234567e+06");
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(0.00001), "1e-05");
        assert_eq!(format_g(1e21), "1e+21");
        assert_eq!(format_g(1e-300), "1e-300");
        assert_eq!(format_g(f64::NAN), "NaN");
        assert_eq!(format_g(f64::INFINITY), "+Inf");
        assert_eq!(format_g(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_g(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn f_and_q_match_go() {
        assert_eq!(format_f(1.5), "1.500000");
        assert_eq!(format_f(-2.0), "-2.000000");
        assert_eq!(format_f(f64::INFINITY), "+Inf");
        assert_eq!(quote("foo"), "\"foo\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("é"), "\"é\"");
    }
}
