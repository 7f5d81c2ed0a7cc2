//! Turning an already validated label block into label pairs or [`Labels`].

use std::borrow::Cow;

use argus_model::Labels;
use argus_model::labels::METRIC_NAME;

use crate::ParseError;
use crate::scan::{is_blank, label_name_end, unescape};

/// The pairs of a label block, in written order, values unescaped (borrowed
/// unless they contained an escape). Created by
/// [`SampleRef::label_pairs`](crate::SampleRef::label_pairs).
#[derive(Debug, Clone)]
pub struct LabelPairs<'a> {
    block: &'a str,
    pos: usize,
}

impl<'a> LabelPairs<'a> {
    pub(crate) fn new(block: &'a str) -> LabelPairs<'a> {
        LabelPairs { block, pos: 0 }
    }
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The parser validated the block, so this walk only needs to find the
        // pieces again; it stops quietly if it meets anything else.
        let b = self.block.as_bytes();
        let mut i = self.pos;
        while i < b.len() && (is_blank(b[i]) || b[i] == b',') {
            i += 1;
        }
        let name_end = label_name_end(b, i);
        if name_end == i {
            self.pos = b.len();
            return None;
        }
        let name = self.block.get(i..name_end)?;
        i = name_end;
        while i < b.len() && (is_blank(b[i]) || b[i] == b'=') {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            self.pos = b.len();
            return None;
        }
        let start = i + 1;
        i = start;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let raw = self.block.get(start..i.min(b.len()))?;
        self.pos = i + 1;
        Some((name, unescape(raw, true)))
    }
}

/// Builds the label set of `block`, adding `__name__` when `name` is given.
pub(crate) fn build(name: Option<&str>, block: &str, line: usize) -> Result<Labels, ParseError> {
    let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(8);
    if let Some(n) = name {
        pairs.push((METRIC_NAME, Cow::Borrowed(n)));
    }
    pairs.extend(LabelPairs::new(block));
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ParseError::new(
            line,
            format!("duplicate label name \"{}\"", w[0].0),
        ));
    }
    Labels::from_sorted(pairs.iter().map(|(n, v)| (*n, v.as_ref())))
        .ok_or_else(|| ParseError::new(line, "label names are not unique"))
}
