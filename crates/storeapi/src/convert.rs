//! Between the wire types and the model's: labels and matchers (series
//! and chunks: [`crate::wire`]).
//! Pure, so the server and the client share one mapping.

use argus_model::labels::Labels;
use argus_model::matcher::{MatchType, Matcher, MatcherError};

use crate::thanos::{Label, LabelMatcher, label_matcher};

/// A wire value the model cannot take.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("unknown label matcher type {0}")]
    MatcherType(i32),
    #[error(transparent)]
    Matcher(#[from] MatcherError),
    #[error("chunk encoding {0} is not supported (only XOR)")]
    ChunkEncoding(i32),
    #[error(
        "aggregated chunk {min_time}..{max_time} has no raw chunk (downsampled data is not read yet)"
    )]
    NoRawChunk { min_time: i64, max_time: i64 },
    #[error("bad labels: {0}")]
    Labels(String),
}

pub fn labels_to_wire(labels: &Labels) -> Vec<Label> {
    labels
        .iter()
        .map(|l| Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

/// Labels from the wire; Thanos sends them sorted, the model sorts anyway.
pub fn labels_from_wire(labels: &[Label]) -> Labels {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    Labels::from_pairs(&pairs)
}

pub fn matcher_to_wire(m: &Matcher) -> LabelMatcher {
    let kind = match m.kind {
        MatchType::Equal => label_matcher::Type::Eq,
        MatchType::NotEqual => label_matcher::Type::Neq,
        MatchType::Regex => label_matcher::Type::Re,
        MatchType::NotRegex => label_matcher::Type::Nre,
    };
    LabelMatcher {
        r#type: kind as i32,
        name: m.name.clone(),
        value: m.value.clone(),
    }
}

/// A wire matcher as the model's; its regex is compiled here, so a bad
/// one is refused before any data is read.
pub fn matcher_from_wire(m: &LabelMatcher) -> Result<Matcher, ConvertError> {
    let kind = match label_matcher::Type::try_from(m.r#type) {
        Ok(label_matcher::Type::Eq) => MatchType::Equal,
        Ok(label_matcher::Type::Neq) => MatchType::NotEqual,
        Ok(label_matcher::Type::Re) => MatchType::Regex,
        Ok(label_matcher::Type::Nre) => MatchType::NotRegex,
        Err(_) => return Err(ConvertError::MatcherType(m.r#type)),
    };
    Ok(Matcher::new(kind, &m.name, &m.value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_matchers_round_trip() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
        assert_eq!(labels_from_wire(&labels_to_wire(&l)), l);
        for kind in [
            MatchType::Equal,
            MatchType::NotEqual,
            MatchType::Regex,
            MatchType::NotRegex,
        ] {
            let m = Matcher::new(kind, "job", "a|b").unwrap_or_else(|e| panic!("{e}"));
            let back = matcher_from_wire(&matcher_to_wire(&m)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((back.kind, back.name, back.value), (kind, m.name, m.value));
        }
    }

    #[test]
    fn bad_wire_values_are_refused() {
        let bad_type = LabelMatcher {
            r#type: 9,
            name: "a".into(),
            value: "b".into(),
        };
        assert!(matches!(
            matcher_from_wire(&bad_type),
            Err(ConvertError::MatcherType(9))
        ));
        let bad_regex = LabelMatcher {
            r#type: label_matcher::Type::Re as i32,
            name: "a".into(),
            value: "(".into(),
        };
        assert!(matches!(
            matcher_from_wire(&bad_regex),
            Err(ConvertError::Matcher(_))
        ));
    }
}
