//! Positions of expressions in the query text, for annotations worded as
//! Prometheus's (`... (1:25)`). The parser crate keeps no positions, so
//! calls are found again in the text by name; with the same function used
//! twice, the first occurrence is named.

/// ` (line:col)` of argument `arg` of the first call to `name` (or of the
/// call itself when `arg` is `None`), or an empty string if not found.
pub(crate) fn call_position(query: &str, name: &str, arg: Option<usize>) -> String {
    match find_call(query, name, arg) {
        Some(offset) => {
            let before = &query[..offset];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" ({line}:{col})")
        }
        None => String::new(),
    }
}

/// Whether argument `arg` of the first call to `name` is a string literal
/// whose escapes (`\xff`, `\377`) make bytes that are not UTF-8 in Go. The
/// parser crate turns such escapes into characters, so the raw text is the
/// only place the difference shows.
pub(crate) fn arg_has_invalid_utf8_escape(query: &str, name: &str, arg: usize) -> bool {
    let Some(start) = find_call(query, name, Some(arg)) else {
        return false;
    };
    let bytes = query.as_bytes();
    if !matches!(bytes.get(start), Some(b'"') | Some(b'\'')) {
        return false;
    }
    let end = skip_string(bytes, start).min(bytes.len());
    let raw = &bytes[start..end];
    let mut i = 0;
    while i + 1 < raw.len() {
        if raw[i] == b'\\' {
            let rest = &raw[i + 1..];
            let high_hex = rest.first() == Some(&b'x')
                && rest
                    .get(1)
                    .is_some_and(|c| matches!(c, b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'));
            let high_octal = rest.first().is_some_and(|c| matches!(c, b'2' | b'3'))
                && rest.get(1).is_some_and(|c| c.is_ascii_digit());
            if high_hex || high_octal {
                return true;
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    false
}

pub(crate) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Skips a quoted string starting at `i` (on the quote); the index
/// returned may be past the end of an unterminated one.
pub(crate) fn skip_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        if bytes[j] == b'\\' && quote != b'`' {
            j += 2;
            continue;
        }
        if bytes[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    j
}

/// Skips a balanced `( ... )` starting at `i` (on the parenthesis).
fn skip_parens(bytes: &[u8], i: usize) -> usize {
    let mut depth = 0i32;
    let mut j = i;
    while j < bytes.len() {
        match bytes[j] {
            b'"' | b'\'' | b'`' => {
                j = skip_string(bytes, j);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

fn find_call(query: &str, name: &str, arg: Option<usize>) -> Option<usize> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(bytes, i);
                continue;
            }
            _ => {}
        }
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]);
        if at_word_start && query[i..].starts_with(name) {
            let end = i + name.len();
            if end <= bytes.len() && (end == bytes.len() || !is_ident(bytes[end])) {
                let mut j = skip_ws(bytes, end);
                // An aggregation may carry `by (...)` / `without (...)` first.
                for kw in ["by", "without"] {
                    if query[j..].starts_with(kw)
                        && !bytes.get(j + kw.len()).is_some_and(|b| is_ident(*b))
                    {
                        j = skip_ws(bytes, j + kw.len());
                        if bytes.get(j) == Some(&b'(') {
                            j = skip_ws(bytes, skip_parens(bytes, j));
                        }
                    }
                }
                if bytes.get(j) == Some(&b'(') {
                    let Some(want) = arg else {
                        return Some(i);
                    };
                    return nth_arg(bytes, j, want);
                }
            }
        }
        i += 1;
    }
    None
}

/// Offset of the first non-space byte of argument `n` of the call whose
/// opening parenthesis is at `open`.
fn nth_arg(bytes: &[u8], open: usize, n: usize) -> Option<usize> {
    let mut idx = 0usize;
    let mut j = open + 1;
    let mut start = skip_ws(bytes, j);
    let mut depth = 0i32;
    while j < bytes.len() {
        match bytes[j] {
            b'"' | b'\'' | b'`' => {
                j = skip_string(bytes, j);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            b',' if depth == 0 => {
                if idx == n {
                    return Some(start);
                }
                idx += 1;
                start = skip_ws(bytes, j + 1);
            }
            _ => {}
        }
        j += 1;
    }
    (idx == n).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_calls_and_arguments() {
        assert_eq!(call_position("sort(series)", "sort", None), " (1:1)");
        assert_eq!(call_position("sum(sort(series))", "sort", None), " (1:5)");
        assert_eq!(
            call_position(
                "histogram_quantile(0.8, series)",
                "histogram_quantile",
                Some(1)
            ),
            " (1:25)"
        );
        assert_eq!(
            call_position("quantile without(point)(NaN, data)", "quantile", Some(0)),
            " (1:25)"
        );
        assert_eq!(call_position("rate(x[5m])", "nope", None), "");
    }
}
