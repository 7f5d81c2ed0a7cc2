//! Parse errors worded and positioned as Prometheus reports them
//! (`1:14: parse error: ...`). The parser crate reports syntax errors
//! without a position, so the position is found here: the first token at
//! which the query can no longer be completed into a valid expression.

use std::time::{Duration, Instant};

use promql_parser::parser::parse;

/// How long the search for an error's position may take: every step
/// re-parses a prefix, which for a long query with large regexes adds up.
const SEARCH_BUDGET: Duration = Duration::from_millis(200);

/// Suffixes that complete a valid prefix of a query.
const COMPLETIONS: &[&str] = &[
    "", ")", "))", ")))", "}", "\"}", "]", "])", " x", " 1", "x)", "1)", "(x)", " x)", "m]", "m])",
    ":]", ":])", "\")", "\"})", "}[1m])", "} ", " (x)", "x}", "x\"}", "=\"\"}", " (x) (x)",
    "(x)(x)", " x) (x)", ") (x)",
];

/// What promql-parser says for any syntax error it has no words for.
const GENERIC: &str = "invalid promql query";

const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
];
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "start",
    "end",
    "step",
    "range",
    "smoothed",
    "anchored",
];
const OPERATORS: &[&str] = &[
    "==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "=", "and", "or",
    "unless", "atan2",
];

/// The token at `offset` as Prometheus's parser names it in "unexpected
/// ..." (its `Item.desc()`), or `None` at the end of input.
fn token_desc(query: &str, offset: usize) -> Option<String> {
    let rest = query.get(offset..)?.trim_start();
    let first = rest.chars().next()?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    if first.is_ascii_digit()
        || (first == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        let number: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
            .collect();
        let kind = if number.ends_with(|c: char| c.is_ascii_alphabetic()) && !number.contains('x') {
            "duration"
        } else {
            "number"
        };
        return Some(format!("{kind} {number:?}"));
    }
    if !word.is_empty() {
        let lower = word.to_ascii_lowercase();
        if OPERATORS.contains(&lower.as_str()) {
            return Some(format!("<op:{word}>"));
        }
        if AGGREGATORS.contains(&lower.as_str()) {
            return Some(format!("<aggr:{word}>"));
        }
        if KEYWORDS.contains(&lower.as_str()) {
            return Some(format!("<{word}>"));
        }
        let kind = if word.contains(':') {
            "metric identifier"
        } else {
            "identifier"
        };
        return Some(format!("{kind} {word:?}"));
    }
    if first == '"' || first == '\'' || first == '`' {
        let end = rest[1..].find(first).map_or(rest.len(), |i| i + 2);
        return Some(format!("string {:?}", &rest[..end]));
    }
    if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
        return Some(format!("<op:{op}>"));
    }
    Some(format!("{:?}", first.to_string()))
}

/// The word before `offset`, lower-cased.
fn previous_word(query: &str, offset: usize) -> String {
    query[..offset]
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Prometheus's "unexpected X[ in context][, expected Y]" for the
/// syntax error at `offset`.
fn unexpected(query: &str, offset: usize) -> String {
    let what = token_desc(query, offset).unwrap_or_else(|| "end of input".to_string());
    let before = previous_word(query, offset);
    if before == "by" || before == "without" {
        return format!("unexpected {what} in grouping opts, expected \"(\"");
    }
    format!("unexpected {what}")
}

pub(crate) fn describe(query: &str, message: &str) -> String {
    if message.starts_with(char::is_numeric) && message.contains(": parse error") {
        return message.to_string();
    }
    // Upstream quotes the name with double quotes and points at it.
    if let Some(name) = message
        .strip_prefix("unknown function with name '")
        .and_then(|rest| rest.strip_suffix('\''))
    {
        let pos = crate::position::call_position(query, name, None);
        let pos = pos.trim().trim_start_matches('(').trim_end_matches(')');
        let pos = if pos.is_empty() { "1:1" } else { pos };
        return format!("{pos}: parse error: unknown function with name {name:?}");
    }
    let (offset, line, col) = position(query);
    if message == GENERIC {
        return format!("{line}:{col}: parse error: {}", unexpected(query, offset));
    }
    format!("{line}:{col}: parse error: {message}")
}

fn completes(prefix: &str) -> bool {
    COMPLETIONS.iter().any(|c| {
        let candidate = format!("{prefix}{c}");
        // The parser panics on a duration no `Duration` holds, which a
        // completion can close (`x[5555…0m` + `]`): such a candidate does
        // not complete.
        crate::literals::check_duration_literals(&candidate).is_ok() && parse(&candidate).is_ok()
    })
}

/// The byte offset, and its 1-based line and column, of the first byte no
/// completion can get past.
fn position(query: &str) -> (usize, usize, usize) {
    let boundaries: Vec<usize> = query
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(query.len()))
        .collect();
    // Binary search is not sound here (viability is not monotone in
    // theory), but prefixes of a viable prefix are viable in practice.
    let deadline = Instant::now() + SEARCH_BUDGET;
    let mut lo = 0usize;
    let mut hi = boundaries.len() - 1;
    if completes(&query[..boundaries[hi]]) {
        lo = hi;
    } else {
        // Past the budget the last viable prefix found is reported.
        while lo + 1 < hi && Instant::now() < deadline {
            let mid = (lo + hi) / 2;
            if completes(&query[..boundaries[mid]]) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    let offset = boundaries[lo];
    let before = &query[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (offset, line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the query fuzzer: describing this error re-parsed the
    /// prefix `sometric_total[5555…50m` closed with `]`, and the parser
    /// panicked on the duration.
    #[test]
    fn a_huge_duration_in_a_prefix_does_not_panic() {
        let q = format!("sometric_total[{}0m50=60", "5".repeat(55));
        let d = describe(&q, GENERIC);
        assert!(d.contains("parse error"), "{d}");
        let engine = crate::Engine::new(crate::EngineOptions::default());
        let store = argus_model::memstore::MemStorage::new();
        let err = engine
            .instant(&store, &q, 0, &crate::QueryContext::default())
            .err();
        assert!(err.is_some(), "a malformed query is an error");
    }

    #[test]
    fn positions_point_at_the_error() {
        let d = describe("sum(rate(x[5m])", "invalid promql query");
        assert!(d.starts_with("1:"), "{d}");
        let d = describe("foo bar", "invalid promql query");
        assert!(d.starts_with("1:5:"), "{d}");
        for (q, want) in [
            (
                "sum(node_load1) by",
                "1:19: parse error: unexpected end of input in grouping opts, expected \"(\"",
            ),
            ("up +", "1:5: parse error: unexpected end of input"),
            ("1 +* 2", "1:4: parse error: unexpected <op:*>"),
            ("x == bool", "1:10: parse error: unexpected end of input"),
            (
                "sum without",
                "1:12: parse error: unexpected end of input in grouping opts, expected \"(\"",
            ),
        ] {
            assert_eq!(describe(q, GENERIC), want, "{q}");
        }
        let d = describe("sum(foo(x))", "unknown function with name 'foo'");
        assert_eq!(d, "1:5: parse error: unknown function with name \"foo\"");
    }
}
