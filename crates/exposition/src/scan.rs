//! Byte-level scanning shared by both formats: lines, names, label blocks and
//! escapes. Positions are indices into the current line.

use std::borrow::Cow;
use std::ops::Range;

const NAME_START: u8 = 1;
const NAME: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL: u8 = 8;

/// Character classes by byte, so name scanning is one table load per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b':' {
            v |= NAME_START | NAME;
        }
        if digit {
            v |= NAME | LABEL;
        }
        if alpha {
            v |= LABEL_START | LABEL;
        }
        t[b] = v;
        b += 1;
    }
    t
};

/// The end of the metric name starting at `i` (`i` itself when there is none).
pub(crate) fn metric_name_end(line: &[u8], i: usize) -> usize {
    match line.get(i) {
        Some(&c) if CLASS[c as usize] & NAME_START != 0 => {}
        _ => return i,
    }
    let mut j = i + 1;
    while j < line.len() && CLASS[line[j] as usize] & NAME != 0 {
        j += 1;
    }
    j
}

/// The end of the label name starting at `i` (`i` itself when there is none).
pub(crate) fn label_name_end(line: &[u8], i: usize) -> usize {
    match line.get(i) {
        Some(&c) if CLASS[c as usize] & LABEL_START != 0 => {}
        _ => return i,
    }
    let mut j = i + 1;
    while j < line.len() && CLASS[line[j] as usize] & LABEL != 0 {
        j += 1;
    }
    j
}

pub(crate) fn is_metric_name(s: &[u8]) -> bool {
    !s.is_empty() && metric_name_end(s, 0) == s.len()
}

/// Characters allowed in an OpenMetrics unit (those of a metric name).
pub(crate) fn is_unit(s: &[u8]) -> bool {
    s.iter().all(|&c| CLASS[c as usize] & NAME != 0)
}

pub(crate) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

pub(crate) fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    i
}

/// The index of the first `needle` in `hay`, eight bytes at a time.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // The lowest set bit marks the first zero byte exactly; borrows only
        // disturb the bytes above it.
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| offset + p)
}

/// One `name="value"` pair of a label block; `value` excludes the quotes and
/// is still escaped.
#[derive(Debug, Clone)]
pub(crate) struct LabelSpan {
    pub name: Range<usize>,
    pub value: Range<usize>,
    pub escaped: bool,
}

/// Scans the label block whose `{` is at `open`, appending its pairs to
/// `spans`, and returns the index just past the `}` and whether the block is
/// all ASCII (so the caller can skip UTF-8 validation, which costs as much as
/// the scan itself). `lenient` selects the Prometheus text rules (blanks
/// between tokens, a trailing comma) over the exact OpenMetrics grammar.
pub(crate) fn label_block(
    line: &[u8],
    open: usize,
    lenient: bool,
    spans: &mut Vec<LabelSpan>,
) -> Result<(usize, bool), String> {
    let ws = |i: usize| if lenient { skip_blanks(line, i) } else { i };
    let mut i = ws(open + 1);
    if line.get(i) == Some(&b'}') {
        return Ok((i + 1, true));
    }
    // Names are ASCII by grammar; only value bytes can set the high bit.
    let mut high = 0u8;
    loop {
        let name_start = i;
        let name_end = label_name_end(line, i);
        if name_end == name_start {
            return Err(match line.get(i) {
                None => "unterminated label set".to_string(),
                Some(&c) => format!("invalid label name starting with {}", show_byte(c)),
            });
        }
        let name = &line[name_start..name_end];
        i = ws(name_end);
        if line.get(i) != Some(&b'=') {
            return Err(format!(
                "expected '=' after label name \"{}\"",
                String::from_utf8_lossy(name)
            ));
        }
        i = ws(i + 1);
        if line.get(i) != Some(&b'"') {
            return Err(format!(
                "expected '\"' to open the value of label \"{}\"",
                String::from_utf8_lossy(name)
            ));
        }
        i += 1;
        let value_start = i;
        let mut escaped = false;
        loop {
            match line.get(i) {
                Some(b'"') => break,
                Some(b'\\') if i + 1 < line.len() => {
                    escaped = true;
                    high |= line[i + 1];
                    i += 2;
                }
                Some(&c) => {
                    high |= c;
                    i += 1;
                }
                None => {
                    return Err(format!(
                        "unterminated value of label \"{}\"",
                        String::from_utf8_lossy(name)
                    ));
                }
            }
        }
        spans.push(LabelSpan {
            name: name_start..name_end,
            value: value_start..i,
            escaped,
        });
        i = ws(i + 1);
        match line.get(i) {
            Some(b',') => {
                i = ws(i + 1);
                if lenient && line.get(i) == Some(&b'}') {
                    return Ok((i + 1, high < 0x80));
                }
            }
            Some(b'}') => return Ok((i + 1, high < 0x80)),
            None => return Err("unterminated label set".to_string()),
            Some(&c) => {
                return Err(format!(
                    "expected ',' or '}}' after a label value, found {}",
                    show_byte(c)
                ));
            }
        }
    }
}

/// The first label name that occurs twice, if any. `scratch` is reused so the
/// check does not allocate in steady state.
pub(crate) fn duplicate_label<'l>(
    line: &'l [u8],
    spans: &[LabelSpan],
    scratch: &mut Vec<Range<usize>>,
) -> Option<&'l [u8]> {
    let n = spans.len();
    if n < 2 {
        return None;
    }
    if n <= 16 {
        for (k, a) in spans.iter().enumerate() {
            let name = &line[a.name.clone()];
            if spans[k + 1..].iter().any(|b| &line[b.name.clone()] == name) {
                return Some(name);
            }
        }
        return None;
    }
    scratch.clear();
    scratch.extend(spans.iter().map(|s| s.name.clone()));
    scratch.sort_unstable_by(|a, b| line[a.clone()].cmp(&line[b.clone()]));
    scratch
        .windows(2)
        .find(|w| line[w[0].clone()] == line[w[1].clone()])
        .map(|w| &line[w[0].clone()])
}

/// Resolves backslash escapes: `\\`, `\n` and, when `quote` is set, `\"`.
/// Any other backslash is kept as written, as Prometheus and the OpenMetrics
/// reference parser do.
pub(crate) fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    let Some(first) = find_byte(s.as_bytes(), b'\\') else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut chars = s[first..].chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quote => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// The number of characters `s` has once unescaped (label values).
pub(crate) fn unescaped_chars(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        n += 1;
        if c == '\\' && matches!(chars.clone().next(), Some('\\' | 'n' | '"')) {
            chars.next();
        }
    }
    n
}

/// A byte for an error message: printable ASCII quoted, anything else in hex.
pub(crate) fn show_byte(c: u8) -> String {
    if c.is_ascii_graphic() || c == b' ' {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_matches_naive_search() {
        let hay: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        for needle in 0..=255u8 {
            for start in 0..20 {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(h, needle),
                    h.iter().position(|&b| b == needle),
                    "needle {needle} start {start}"
                );
            }
        }
        assert_eq!(find_byte(b"\x0a\x0b\x0a", b'\x0b'), Some(1));
        assert_eq!(find_byte(b"\x01\x01\x01\x01\x01\x01\x01\x00", 0), Some(7));
    }

    #[test]
    fn unescape_known_and_unknown() {
        assert_eq!(unescape(r#"a\\b\nc\"d\z"#, true), "a\\b\nc\"d\\z");
        assert_eq!(unescape(r#"a\"b"#, false), r#"a\"b"#);
        assert_eq!(unescape("plain", true), "plain");
        assert!(matches!(unescape("plain", true), Cow::Borrowed(_)));
        assert_eq!(unescape(r"end\", true), r"end\");
        assert_eq!(unescaped_chars(r#"a\\\"é"#), 4);
    }
}
