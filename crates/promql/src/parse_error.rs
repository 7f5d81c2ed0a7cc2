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
    ":]", ":])", "\")", "\"})", "}[1m])", "} ", " (x)", "x}", "x\"}", "=\"\"}",
];

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
    let (line, col) = position(query);
    format!("{line}:{col}: parse error: {message}")
}

fn completes(prefix: &str) -> bool {
    COMPLETIONS
        .iter()
        .any(|c| parse(&format!("{prefix}{c}")).is_ok())
}

/// 1-based line and column of the first byte no completion can get past.
fn position(query: &str) -> (usize, usize) {
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
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_the_error() {
        let d = describe("sum(rate(x[5m])", "invalid promql query");
        assert!(d.starts_with("1:"), "{d}");
        let d = describe("foo bar", "invalid promql query");
        assert!(d.starts_with("1:5:"), "{d}");
        let d = describe("sum(foo(x))", "unknown function with name 'foo'");
        assert_eq!(d, "1:5: parse error: unknown function with name \"foo\"");
    }
}
