//! Scraping, as Prometheus's `scrape` package does it.
//!
//! The [`ScrapeManager`] owns one scrape pool per job. A pool turns the
//! target groups published by discovery into targets (labels, relabeling,
//! deduplication) and runs one scrape loop per target. A loop fetches the
//! target's body on a fixed, per-target phase, parses it in place, appends
//! every sample through a per-target cache of series references (so a
//! steady-state scrape neither parses labels nor looks series up), writes the
//! report series (`up`, `scrape_duration_seconds`, ...) and staleness markers
//! for series that disappeared, and commits once per scrape.

mod accept;
mod append;
mod cache;
mod fetch;
mod manager;
mod metrics;
mod pool;
mod report;
mod sample_labels;
mod scrape_loop;
mod target;

use std::time::Duration;

use argus_model::Labels;

pub use manager::ScrapeManager;

/// The health of a target after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetHealth {
    Up,
    Down,
    #[default]
    Unknown,
}

impl TargetHealth {
    /// The spelling of Prometheus's targets API.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
            TargetHealth::Unknown => "unknown",
        }
    }
}

/// A target being scraped, as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveTarget {
    /// The labels before relabeling (`__meta_*` and `__address__` included).
    pub discovered_labels: Labels,
    /// The labels every scraped series gets (no `__`-prefixed label).
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    /// The scrape URL; the server may rewrite a loopback host to its own.
    pub global_url: String,
    /// Empty when the last scrape succeeded.
    pub last_error: String,
    /// Millisecond timestamp of the last scrape, `None` before the first.
    pub last_scrape_ms: Option<i64>,
    pub last_scrape_duration: Duration,
    pub health: TargetHealth,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
}

/// A discovered target that relabeling dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    pub discovered_labels: Labels,
    pub scrape_pool: String,
}

/// The metric metadata a target exposed in its last scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMetadata {
    /// The target's labels.
    pub target: Labels,
    /// Sorted by metric family name.
    pub metrics: Vec<MetricMetadata>,
}

/// HELP, TYPE and UNIT of one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric: String,
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`,
    /// `stateset` or `unknown`, as Prometheus's API prints them.
    pub kind: String,
    pub help: String,
    pub unit: String,
}
