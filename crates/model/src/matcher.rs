//! Label matchers with Prometheus semantics.

use std::fmt;

use regex::Regex;

use crate::labels::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?} for label {name:?}: {source}")]
    Regex {
        name: String,
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
}

/// Matches one label. A missing label matches as the empty string, so
/// `foo=""` selects series without `foo`. Regexes are fully anchored and
/// `.` matches newlines, as in Prometheus.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub kind: MatchType,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(kind: MatchType, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError::Regex {
                    name: name.to_string(),
                    pattern: value.to_string(),
                    source: Box::new(e),
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            value: value.to_string(),
            kind,
            re,
        })
    }

    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_string(),
            value: value.to_string(),
            kind: MatchType::Equal,
            re: None,
        }
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether a series without this label would match.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    pub fn matches_labels(&self, l: &Labels) -> bool {
        self.matches(l.get_or_empty(&self.name))
    }
}

/// True if every matcher accepts the label set.
pub fn matches_all(matchers: &[Matcher], l: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(l))
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.value == o.value && self.kind == o.kind
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind.as_str(), self.value)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(k: MatchType, n: &str, v: &str) -> Matcher {
        Matcher::new(k, n, v).expect("valid matcher")
    }

    #[test]
    fn regex_is_anchored_and_dotall() {
        let r = m(MatchType::Regex, "a", "fo.");
        assert!(r.matches("foo"));
        assert!(!r.matches("xfoo"));
        assert!(!r.matches("fooo"));
        assert!(r.matches("fo\n"));
        let alt = m(MatchType::Regex, "a", "x|y");
        assert!(alt.matches("y"));
        assert!(!alt.matches("xy"));
    }

    #[test]
    fn empty_value_matches_missing_label() {
        let l = Labels::from_pairs(&[("job", "a")]);
        assert!(m(MatchType::Equal, "foo", "").matches_labels(&l));
        assert!(!m(MatchType::NotEqual, "foo", "").matches_labels(&l));
        assert!(m(MatchType::NotEqual, "job", "").matches_labels(&l));
        assert!(m(MatchType::Regex, "foo", ".*").matches_labels(&l));
        assert!(!m(MatchType::Regex, "foo", ".+").matches_labels(&l));
        assert!(m(MatchType::NotRegex, "foo", ".+").matches_labels(&l));
        assert!(!m(MatchType::NotRegex, "job", "a|b").matches_labels(&l));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = Matcher::new(MatchType::Regex, "a", "(").err();
        assert!(e.is_some_and(|e| e.to_string().contains("invalid regular expression")));
    }
}
