//! Operator tools behind `argus tools`: backfill and bucket inspection.

pub mod import;
pub mod inspect;
pub mod promqltest;

pub use import::{ImportError, ImportOptions, ImportSummary, import_openmetrics};
