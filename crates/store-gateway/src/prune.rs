//! What a matcher says about the values of its column, in a form that
//! Parquet statistics (min/max of a row group or a page) can refute.

use argus_model::{MatchType, Matcher};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// A matcher that cannot match the empty value, as the set of values it
/// may match: exactly one of `exact`, or starting with one of `prefixes`.
/// Both empty: it matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Constraint {
    exact: Vec<Vec<u8>>,
    prefixes: Vec<Vec<u8>>,
}

impl Constraint {
    /// The constraint of `m`, or `None` when statistics cannot refute it:
    /// it matches the empty value (absent labels), it is a negation, or its
    /// regex has no literal prefix.
    pub(crate) fn of(m: &Matcher) -> Option<Constraint> {
        if m.matches_empty() {
            return None;
        }
        match m.kind {
            MatchType::Equal => Some(Constraint {
                exact: vec![m.value.as_bytes().to_vec()],
                prefixes: Vec::new(),
            }),
            MatchType::Regex => {
                // The matcher's own pattern, anchored as it compiles it.
                let hir = regex_syntax::ParserBuilder::new()
                    .build()
                    .parse(&format!("^(?s:{})$", m.value))
                    .ok()?;
                let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
                let lits = seq.literals()?;
                let mut c = Constraint {
                    exact: Vec::new(),
                    prefixes: Vec::new(),
                };
                for l in lits {
                    if l.is_exact() {
                        c.exact.push(l.as_bytes().to_vec());
                    } else if l.as_bytes().is_empty() {
                        // Any value may follow an empty prefix.
                        return None;
                    } else {
                        c.prefixes.push(l.as_bytes().to_vec());
                    }
                }
                Some(c)
            }
            MatchType::NotEqual | MatchType::NotRegex => None,
        }
    }

    /// Whether some value in `[lo, hi]` (bounds of a row group or page,
    /// compared as byte strings) may satisfy the constraint.
    pub(crate) fn may_match(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.exact
            .iter()
            .any(|v| lo <= v.as_slice() && v.as_slice() <= hi)
            || self.prefixes.iter().any(|p| {
                // Values starting with p are [p, next(p)): the range meets
                // them unless it ends before p or starts past all of them.
                p.as_slice() <= hi && (lo <= p.as_slice() || lo.starts_with(p))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: MatchType, v: &str) -> Option<Constraint> {
        Constraint::of(&Matcher::new(kind, "l", v).expect("matcher"))
    }

    #[test]
    fn constraints_of_matchers() {
        let eq = c(MatchType::Equal, "api").expect("eq");
        assert!(eq.may_match(b"a", b"b"));
        assert!(eq.may_match(b"api", b"api"));
        assert!(!eq.may_match(b"apix", b"z"));
        assert!(!eq.may_match(b"a", b"ap"));
        // Matchers that match the empty value, and negations, say nothing.
        assert!(c(MatchType::Equal, "").is_none());
        assert!(c(MatchType::NotEqual, "x").is_none());
        assert!(c(MatchType::NotRegex, "x").is_none());
        assert!(c(MatchType::Regex, ".*").is_none());
        assert!(c(MatchType::Regex, "|api").is_none());
        assert!(c(MatchType::Regex, ".+").is_none());

        let alt = c(MatchType::Regex, "api|db").expect("alternation");
        assert!(alt.may_match(b"db", b"dz"));
        assert!(alt.may_match(b"a", b"b"));
        assert!(!alt.may_match(b"apix", b"d"));
        assert!(!alt.may_match(b"dc", b"z"));

        let pre = c(MatchType::Regex, "node_.*").expect("prefix");
        assert!(pre.may_match(b"node_a", b"node_b"));
        assert!(pre.may_match(b"a", b"node_"));
        assert!(pre.may_match(b"node_x", b"zzz"));
        assert!(pre.may_match(b"a", b"z"));
        assert!(!pre.may_match(b"a", b"node"));
        assert!(!pre.may_match(b"node`", b"z"));
        assert!(!pre.may_match(b"nodf", b"z"));

        // Case-insensitive: every case variant is a candidate.
        let ci = c(MatchType::Regex, "(?i)api").expect("case-insensitive");
        assert!(ci.may_match(b"API", b"API"));
        assert!(ci.may_match(b"api", b"api"));
        assert!(!ci.may_match(b"b", b"z"));
        // Metacharacters escaped in the regex are literals.
        let lit = c(MatchType::Regex, "/a\\|b").expect("escaped");
        assert!(lit.may_match(b"/a|b", b"/a|b"));
        assert!(!lit.may_match(b"/b", b"/c"));
        // A regex matching nothing has no candidates at all.
        let none = c(MatchType::Regex, "[^\\s\\S]").expect("empty class");
        assert!(!none.may_match(b"", b"\xff"));
    }

    /// For random values, a range the constraint refutes never holds a
    /// value the matcher accepts.
    #[test]
    fn refuted_ranges_hold_no_match() {
        let words = [
            "", "a", "ab", "abc", "api", "apix", "b", "db", "dba", "node", "node_", "node_cpu",
            "nodf", "z", "API", "Api", "ü", "üx",
        ];
        let patterns = [
            "api",
            "api|db",
            "ap.*",
            "node_.*",
            "(?i)api",
            "ü.*",
            "a(b|c)d?",
            "db|node_.+",
        ];
        for p in patterns {
            let m = Matcher::new(MatchType::Regex, "l", p).expect("matcher");
            let Some(con) = Constraint::of(&m) else {
                continue;
            };
            for lo in words {
                for hi in words {
                    if lo > hi || con.may_match(lo.as_bytes(), hi.as_bytes()) {
                        continue;
                    }
                    for v in words {
                        if lo <= v && v <= hi {
                            assert!(
                                !m.matches(v),
                                "{p}: [{lo:?}, {hi:?}] refuted but {v:?} matches"
                            );
                        }
                    }
                }
            }
        }
    }
}
