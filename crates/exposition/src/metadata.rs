//! Per-family metadata (`# HELP`, `# TYPE`, `# UNIT`) kept across scrapes for
//! `/api/v1/metadata`.

use std::collections::HashMap;

use crate::{Entry, MetricType};

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

/// What `/api/v1/metadata` reports for one family. Families seen only in a
/// HELP or UNIT line are `Unknown`, as in Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMetadata {
    pub kind: MetricType,
    /// Unescaped.
    pub help: String,
    /// Empty unless the body had a `# UNIT` line.
    pub unit: String,
}

impl Default for FamilyMetadata {
    fn default() -> Self {
        FamilyMetadata {
            kind: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    meta: FamilyMetadata,
    /// The scrape that last mentioned the family.
    seen: u64,
}

/// The metadata of one target, updated entry by entry during each scrape.
/// A scrape whose metadata did not change allocates nothing (strings are
/// only replaced when they differ); families a whole scrape no longer
/// mentions are dropped by [`MetadataTable::end_scrape`], as Prometheus's
/// scrape cache does.
#[derive(Debug, Clone, Default)]
pub struct MetadataTable {
    families: HashMap<String, Slot>,
    scrape: u64,
}

impl MetadataTable {
    pub fn new() -> MetadataTable {
        MetadataTable::default()
    }

    /// Starts a scrape: later [`record`](Self::record) calls mark families
    /// as still present.
    pub fn begin_scrape(&mut self) {
        self.scrape += 1;
    }

    /// Takes in one entry; returns whether it was metadata. Only call it for
    /// a body that parsed, so a failed scrape leaves the table as it was.
    pub fn record(&mut self, entry: &Entry<'_>) -> bool {
        let Some(family) = entry.family() else {
            return false;
        };
        let scrape = self.scrape;
        let slot = match self.families.get_mut(family) {
            Some(slot) => slot,
            None => self
                .families
                .entry(family.to_string())
                .or_insert_with(|| Slot {
                    meta: FamilyMetadata::default(),
                    seen: scrape,
                }),
        };
        if slot.seen != scrape {
            // First mention in this scrape: forget what the last scrape said
            // about the parts this body may leave out.
            slot.seen = scrape;
            slot.meta.kind = MetricType::Unknown;
            slot.meta.help.clear();
            slot.meta.unit.clear();
        }
        match entry {
            Entry::Help { text, .. } => replace(&mut slot.meta.help, text),
            Entry::Type { kind, .. } => slot.meta.kind = *kind,
            Entry::Unit { unit, .. } => replace(&mut slot.meta.unit, unit),
            Entry::Sample(_) | Entry::Eof => {}
        }
        true
    }

    /// Ends a scrape: drops the families it did not mention.
    pub fn end_scrape(&mut self) {
        let scrape = self.scrape;
        self.families.retain(|_, slot| slot.seen == scrape);
    }

    pub fn get(&self, family: &str) -> Option<&FamilyMetadata> {
        self.families.get(family).map(|s| &s.meta)
    }

    /// Every family, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FamilyMetadata)> {
        self.families
            .iter()
            .map(|(name, s)| (name.as_str(), &s.meta))
    }

    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }
}

/// Sets `dst` to `src`, keeping its buffer.
fn replace(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Parser};

    fn scrape(table: &mut MetadataTable, body: &str, format: Format) {
        table.begin_scrape();
        for entry in Parser::new(body.as_bytes(), format) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            table.record(&entry);
        }
        table.end_scrape();
    }

    #[test]
    fn keeps_help_type_unit_by_family() {
        let mut table = MetadataTable::new();
        scrape(
            &mut table,
            "# HELP rpc_seconds Latency,\\n in \\\\seconds.\n# TYPE rpc_seconds summary\n\
             # UNIT rpc_seconds seconds\nrpc_seconds_count 1\n# HELP only_help Text.\n# EOF\n",
            Format::OpenMetrics,
        );
        assert_eq!(
            table.get("rpc_seconds"),
            Some(&FamilyMetadata {
                kind: MetricType::Summary,
                help: "Latency,\n in \\seconds.".to_string(),
                unit: "seconds".to_string(),
            })
        );
        assert_eq!(
            table.get("only_help").map(|m| (m.kind, m.help.as_str())),
            Some((MetricType::Unknown, "Text."))
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn a_later_scrape_replaces_and_drops() {
        let mut table = MetadataTable::new();
        scrape(
            &mut table,
            "# HELP a First.\n# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n",
            Format::PrometheusText,
        );
        scrape(&mut table, "# TYPE a gauge\na 1\n", Format::PrometheusText);
        assert_eq!(
            table.get("a"),
            Some(&FamilyMetadata {
                kind: MetricType::Gauge,
                help: String::new(),
                unit: String::new(),
            })
        );
        assert_eq!(table.get("b"), None);
        assert_eq!(table.iter().count(), 1);
    }

    #[test]
    fn family_of_entries() {
        let mut p = Parser::new(b"# TYPE a gauge\na 1\n", Format::PrometheusText);
        let first = p.next_entry().ok().flatten();
        assert_eq!(first.as_ref().and_then(Entry::family), Some("a"));
        let second = p.next_entry().ok().flatten();
        assert!(second.is_some_and(|e| !e.is_metadata()));
    }
}
