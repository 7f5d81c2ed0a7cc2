//! Bounds on how deeply a query nests, checked on the text before it is
//! parsed. The parser crate accepts any depth, but it walks binary chains
//! once per operator (`1+1+…` costs time quadratic in its length) and its
//! `Display` and `Drop` recurse once per level; the evaluator recurses too.
//! A query deeper than the limit is refused before any of that runs.

use crate::error::QueryError;
use crate::position::{is_ident, skip_string};

/// Default for [`crate::EngineOptions::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 2048;

/// An upper bound on the depth of the expression tree of `query`: within
/// each bracketed group every operator may add a level (a chain `a+b+c`
/// nests once per operator), and every group adds one for the
/// parenthesis, call, aggregation or subquery that opens it.
pub fn depth_bound(query: &str) -> usize {
    let bytes = query.as_bytes();
    // Per open group: the operators seen in it and the deepest closed
    // child group.
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                // Label matchers add no level; skip to the closing brace.
                i += 1;
                while i < bytes.len() && bytes[i] != b'}' {
                    if matches!(bytes[i], b'"' | b'\'' | b'`') {
                        i = skip_string(bytes, i);
                    } else {
                        i += 1;
                    }
                }
                i += 1;
                continue;
            }
            b'[' => {
                // A range or subquery: one level over what it applies to.
                if let Some(top) = stack.last_mut() {
                    top.0 += 1;
                }
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            b'(' => stack.push((0, 0)),
            b')' => close_group(&mut stack),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'=' | b'!' => {
                if let Some(top) = stack.last_mut() {
                    top.0 += 1;
                }
                // Two-character operators count once.
                if matches!(bytes.get(i + 1), Some(b'=') | Some(b'~')) {
                    i += 1;
                }
            }
            b if is_word(b, None) => {
                let start = i;
                while i < bytes.len() && is_word(bytes[i], bytes.get(i.wrapping_sub(1))) {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                    && let Some(top) = stack.last_mut()
                {
                    top.0 += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Unclosed groups are a parse error later; count them as closed here.
    while stack.len() > 1 {
        close_group(&mut stack);
    }
    stack.first().map_or(0, |&(ops, child)| ops + child + 1)
}

/// Refuses `query` if it may nest deeper than `max_depth`; otherwise
/// returns the bound.
pub fn check_depth(query: &str, max_depth: usize) -> Result<usize, QueryError> {
    let depth = depth_bound(query);
    if depth > max_depth {
        return Err(QueryError::BadData(format!(
            "query is nested too deeply: depth {depth} exceeds the limit of {max_depth} (--query.max-depth)"
        )));
    }
    Ok(depth)
}

fn close_group(stack: &mut Vec<(usize, usize)>) {
    if stack.len() < 2 {
        return; // an unbalanced ')' is the parser's to report
    }
    if let Some((ops, child)) = stack.pop() {
        let depth = ops + child + 1;
        if let Some(parent) = stack.last_mut() {
            parent.1 = parent.1.max(depth);
        }
    }
}

/// Identifier and number characters; a sign right after an exponent `e`
/// belongs to the number (`1e-5`).
fn is_word(b: u8, prev: Option<&u8>) -> bool {
    is_ident(b)
        || b == b'.'
        || (matches!(b, b'+' | b'-') && matches!(prev, Some(b'e') | Some(b'E')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_is_at_least_the_real_depth() {
        assert_eq!(depth_bound("up"), 1);
        assert_eq!(depth_bound("1+1+1"), 3);
        assert_eq!(depth_bound("sum(rate(x[5m]))"), 4);
        assert_eq!(depth_bound("((1))"), 3);
        assert_eq!(depth_bound("x{a=~\"((((\"} or y"), 2);
        assert_eq!(depth_bound("1e-5 + 2"), 2);
        assert_eq!(depth_bound("# (((\nup"), 1);
    }

    #[test]
    fn deep_queries_are_refused_by_name() {
        let chain = vec!["1"; 3000].join("+");
        let err = check_depth(&chain, 2048)
            .expect_err("3000 terms exceed 2048")
            .to_string();
        assert!(err.contains("limit of 2048"), "{err}");
        let parens = format!("{}1{}", "(".repeat(40_000), ")".repeat(40_000));
        assert!(check_depth(&parens, 2048).is_err());
        assert!(check_depth(&vec!["1"; 1000].join("+"), 2048).is_ok());
        // Wide but shallow: many terms in balanced groups pass.
        let pair = "((a or b) or (c or d))";
        let wide = format!("({pair} or {pair}) or ({pair} or {pair})");
        assert_eq!(depth_bound(&wide), 8);
    }
}
