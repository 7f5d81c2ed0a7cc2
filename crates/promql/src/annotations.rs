//! Warnings and infos collected while a query runs, reported next to the
//! result (`warnings` / `infos` in the HTTP API), each distinct text once.

use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct Annotations {
    warnings: BTreeSet<String>,
    infos: BTreeSet<String>,
}

impl Annotations {
    /// These annotations plus the warnings storages reported on `read`
    /// (stores that did not answer under partial response).
    pub fn with_storage_warnings(mut self, read: &argus_model::storage::ReadContext) -> Self {
        self.warnings.extend(read.warnings.snapshot());
        self
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.warnings.insert(text.into());
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.infos.insert(text.into());
    }

    pub fn merge(&mut self, other: Annotations) {
        self.warnings.extend(other.warnings);
        self.infos.extend(other.infos);
    }

    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.warnings.iter().map(String::as_str)
    }

    pub fn infos(&self) -> impl Iterator<Item = &str> {
        self.infos.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.infos.is_empty()
    }
}
