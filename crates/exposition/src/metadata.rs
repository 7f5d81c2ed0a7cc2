//! Helpers on metadata entries (`# HELP`, `# TYPE`, `# UNIT`).

use crate::Entry;

impl<'a> Entry<'a> {
    /// The metric family a metadata entry describes; `None` for samples and
    /// `# EOF`.
    pub fn family(&self) -> Option<&'a str> {
        match self {
            Entry::Help { family, .. }
            | Entry::Type { family, .. }
            | Entry::Unit { family, .. } => Some(family),
            Entry::Sample(_) | Entry::Eof => None,
        }
    }

    /// Whether this is a `# HELP`, `# TYPE` or `# UNIT` entry.
    pub fn is_metadata(&self) -> bool {
        self.family().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Parser};

    #[test]
    fn family_of_entries() {
        let mut p = Parser::new(b"# TYPE a gauge\na 1\n", Format::PrometheusText);
        let first = p.next_entry().ok().flatten();
        assert_eq!(first.as_ref().and_then(Entry::family), Some("a"));
        let second = p.next_entry().ok().flatten();
        assert!(second.is_some_and(|e| !e.is_metadata()));
    }
}
