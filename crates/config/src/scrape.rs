//! `scrape_configs` entries.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::discovery::SdConfig;
use crate::http::HttpClientConfig;
use crate::prometheus::{DEFAULT_SCRAPE_INTERVAL, DEFAULT_SCRAPE_TIMEOUT};
use crate::relabel::RelabelConfig;

/// A scrape job with every default filled in from Prometheus and the
/// `global` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub honor_labels: bool,
    /// Default true.
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    /// URL parameters; also exposed to relabeling as `__param_<name>` (first value).
    pub params: BTreeMap<String, Vec<String>>,
    /// Default: the global scrape interval.
    pub scrape_interval: Duration,
    /// Default: the global scrape timeout, capped at the interval.
    pub scrape_timeout: Duration,
    /// Accept-header preference, as written (`OpenMetricsText1.0.0`,
    /// `PrometheusText0.0.4`, ...). Default: Prometheus's order.
    pub scrape_protocols: Vec<String>,
    /// Default `/metrics`.
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// Default true: ask for gzip.
    pub enable_compression: bool,
    /// Bytes; 0 = no limit. Written in config as `10MB`, `1KiB`, ...
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub http: HttpClientConfig,
    /// Every SD entry of the job (static ones included), in file order.
    pub service_discovery: Vec<SdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

/// Prometheus's defaults for a job under an empty `global` section, with
/// an empty job name and no targets. The parser starts from these.
impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            scrape_protocols: Vec::new(),
            metrics_path: "/metrics".to_string(),
            scheme: "http".to_string(),
            enable_compression: true,
            body_size_limit: 0,
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            http: HttpClientConfig {
                follow_redirects: true,
                enable_http2: true,
                ..HttpClientConfig::default()
            },
            service_discovery: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}
