//! `remote_write`, `remote_read` and `alerting` sections.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::discovery::SdConfig;
use crate::http::HttpClientConfig;
use crate::relabel::RelabelConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    pub url: String,
    /// Unique among remote_write entries; default: the first six hex
    /// digits of an MD5 of the entry (like Prometheus, not byte-identical).
    pub name: String,
    /// Default 30s.
    pub remote_timeout: Duration,
    pub headers: BTreeMap<String, String>,
    pub write_relabel_configs: Vec<RelabelConfig>,
    pub send_exemplars: bool,
    pub send_native_histograms: bool,
    pub http: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
}

/// Prometheus's queue defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Samples buffered per shard; default 10000.
    pub capacity: usize,
    /// Default 50.
    pub max_shards: usize,
    /// Default 1.
    pub min_shards: usize,
    /// Default 2000.
    pub max_samples_per_send: usize,
    /// Default 5s.
    pub batch_send_deadline: Duration,
    /// Default 30ms.
    pub min_backoff: Duration,
    /// Default 5s.
    pub max_backoff: Duration,
    /// Default true: a receiver that asks us to slow down gets the batch
    /// again later instead of losing it (Prometheus defaults to false).
    pub retry_on_http_429: bool,
    /// 0 = no limit.
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            sample_age_limit: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetadataConfig {
    /// Default true.
    pub send: bool,
    /// Default 1m.
    pub send_interval: Duration,
    /// Default 2000, as Prometheus.
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReadConfig {
    pub url: String,
    pub name: String,
    /// Default 1m.
    pub remote_timeout: Duration,
    pub headers: BTreeMap<String, String>,
    pub read_recent: bool,
    pub required_matchers: BTreeMap<String, String>,
    /// Default true.
    pub filter_external_labels: bool,
    pub http: HttpClientConfig,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    pub alert_relabel_configs: Vec<RelabelConfig>,
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// Default `http`.
    pub scheme: String,
    /// Default `/`.
    pub path_prefix: String,
    /// Default 10s.
    pub timeout: Duration,
    /// Default `v2`.
    pub api_version: String,
    pub http: HttpClientConfig,
    pub service_discovery: Vec<SdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub alert_relabel_configs: Vec<RelabelConfig>,
}
