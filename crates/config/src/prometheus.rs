//! `prometheus.yml`, as far as `argus server` needs it today: the `global`
//! section is typed and checked; `scrape_configs`, `alerting`,
//! `remote_write`, `remote_read`, `storage` and the other top-level sections
//! Prometheus knows are accepted and kept as raw YAML until the components
//! that use them exist.
//!
//! Unknown fields at the top level and in `global` are errors naming the
//! file, the line and the field, so a typo does not silently fall back to a
//! default. The original text is kept for `/api/v1/status/config`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::ConfigError;
use crate::remote::{AlertingConfig, RemoteReadConfig, RemoteWriteConfig};
use crate::scrape::ScrapeConfig;

/// The parsed `prometheus.yml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrometheusConfig {
    pub global: GlobalConfig,
    /// Every job, with defaults from `global` filled in; job names unique.
    pub scrape_configs: Vec<ScrapeConfig>,
    pub scrape_config_files: Vec<String>,
    /// As written (globs); resolved against `base_dir` by the rules component.
    pub rule_files: Vec<String>,
    pub alerting: AlertingConfig,
    pub remote_write: Vec<RemoteWriteConfig>,
    pub remote_read: Vec<RemoteReadConfig>,
    pub storage: Option<Value>,
    pub tracing: Option<Value>,
    pub runtime: Option<Value>,
    pub otlp: Option<Value>,
    /// The directory of the config file: relative paths (file SD, rule
    /// files, credentials files) are resolved against it.
    pub base_dir: std::path::PathBuf,
    /// The file's text as read, served by `/api/v1/status/config`.
    pub original: String,
}

/// The `global` section with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Duration,
    /// Default 10s, or the scrape interval when that is shorter.
    pub scrape_timeout: Duration,
    /// Default 1m; also the default step of subqueries.
    pub evaluation_interval: Duration,
    pub rule_query_offset: Duration,
    /// Sorted by name.
    pub external_labels: BTreeMap<String, String>,
    /// Accepted; queries are not logged to a file yet.
    pub query_log_file: String,
    pub scrape_failure_log_file: String,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    /// Global fields Argus accepts for compatibility but does not use yet,
    /// kept raw (`scrape_protocols`, `body_size_limit`, ...).
    pub other: BTreeMap<String, Value>,
}

pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            rule_query_offset: Duration::ZERO,
            external_labels: BTreeMap::new(),
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            other: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    global: Option<RawGlobal>,
    runtime: Option<Value>,
    alerting: Option<Value>,
    rule_files: Option<Vec<String>>,
    scrape_config_files: Option<Vec<String>>,
    scrape_configs: Option<Vec<Value>>,
    storage: Option<Value>,
    tracing: Option<Value>,
    remote_write: Option<Vec<Value>>,
    remote_read: Option<Vec<Value>>,
    otlp: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawGlobal {
    #[serde(deserialize_with = "de_duration")]
    scrape_interval: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    scrape_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    evaluation_interval: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    rule_query_offset: Option<Duration>,
    external_labels: Option<BTreeMap<String, String>>,
    query_log_file: Option<String>,
    scrape_failure_log_file: Option<String>,
    sample_limit: Option<u64>,
    target_limit: Option<u64>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    keep_dropped_targets: Option<u64>,
    scrape_protocols: Option<Value>,
    body_size_limit: Option<Value>,
    metric_name_validation_scheme: Option<Value>,
    metric_name_escaping_scheme: Option<Value>,
    scrape_native_histograms: Option<Value>,
    convert_classic_histograms_to_nhcb: Option<Value>,
    always_scrape_classic_histograms: Option<Value>,
    extra_scrape_metrics: Option<Value>,
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => crate::parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Parses `prometheus.yml` text; `origin` names it in errors.
pub fn parse_prometheus_config(text: &str, origin: &str) -> Result<PrometheusConfig, ConfigError> {
    // An empty file (or one of only comments) is a valid, default config.
    let doc: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::yaml(origin, &e))?;
    let raw: RawConfig = if doc.is_null() {
        RawConfig::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::yaml(origin, &e))?
    };
    let invalid = |message: String| ConfigError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let g = raw.global.unwrap_or_default();
    let mut global = GlobalConfig::default();
    if let Some(d) = g.scrape_interval.filter(|d| !d.is_zero()) {
        global.scrape_interval = d;
    }
    match g.scrape_timeout.filter(|d| !d.is_zero()) {
        Some(d) => global.scrape_timeout = d,
        None => global.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(global.scrape_interval),
    }
    if global.scrape_timeout > global.scrape_interval {
        return Err(invalid(
            "global scrape timeout greater than scrape interval".to_string(),
        ));
    }
    if let Some(d) = g.evaluation_interval.filter(|d| !d.is_zero()) {
        global.evaluation_interval = d;
    }
    global.rule_query_offset = g.rule_query_offset.unwrap_or_default();
    if let Some(labels) = g.external_labels {
        for (name, value) in &labels {
            if name.is_empty() || name.starts_with("__") {
                return Err(invalid(format!(
                    "{name:?} is not a valid label name for external_labels"
                )));
            }
            if value.is_empty() {
                return Err(invalid(format!("empty value for external label {name:?}")));
            }
        }
        global.external_labels = labels;
    }
    global.query_log_file = g.query_log_file.unwrap_or_default();
    global.scrape_failure_log_file = g.scrape_failure_log_file.unwrap_or_default();
    global.sample_limit = g.sample_limit.unwrap_or_default();
    global.target_limit = g.target_limit.unwrap_or_default();
    global.label_limit = g.label_limit.unwrap_or_default();
    global.label_name_length_limit = g.label_name_length_limit.unwrap_or_default();
    global.label_value_length_limit = g.label_value_length_limit.unwrap_or_default();
    global.keep_dropped_targets = g.keep_dropped_targets.unwrap_or_default();
    for (name, v) in [
        ("scrape_protocols", g.scrape_protocols),
        ("body_size_limit", g.body_size_limit),
        (
            "metric_name_validation_scheme",
            g.metric_name_validation_scheme,
        ),
        ("metric_name_escaping_scheme", g.metric_name_escaping_scheme),
        ("scrape_native_histograms", g.scrape_native_histograms),
        (
            "convert_classic_histograms_to_nhcb",
            g.convert_classic_histograms_to_nhcb,
        ),
        (
            "always_scrape_classic_histograms",
            g.always_scrape_classic_histograms,
        ),
        ("extra_scrape_metrics", g.extra_scrape_metrics),
    ] {
        if let Some(v) = v {
            global.other.insert(name.to_string(), v);
        }
    }
    // Typed by the config work in progress; kept raw until then.
    let _ = (raw.scrape_configs, raw.alerting, raw.remote_write, raw.remote_read);
    Ok(PrometheusConfig {
        global,
        scrape_configs: Vec::new(),
        scrape_config_files: raw.scrape_config_files.unwrap_or_default(),
        rule_files: raw.rule_files.unwrap_or_default(),
        alerting: AlertingConfig::default(),
        remote_write: Vec::new(),
        remote_read: Vec::new(),
        storage: raw.storage,
        tracing: raw.tracing,
        runtime: raw.runtime,
        otlp: raw.otlp,
        base_dir: std::path::PathBuf::new(),
        original: text.to_string(),
    })
}

/// Reads and parses a `prometheus.yml`. Errors name the file and line.
pub fn load_prometheus_config(path: impl AsRef<Path>) -> Result<PrometheusConfig, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_prometheus_config(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PrometheusConfig, String> {
        parse_prometheus_config(text, "prometheus.yml").map_err(|e| e.to_string())
    }

    #[test]
    fn empty_and_minimal_configs_are_accepted() {
        for text in ["", "# only a comment\n", "global: {}\nscrape_configs: []\n"] {
            let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(c.global, GlobalConfig::default());
            assert!(c.scrape_configs.is_empty());
            assert_eq!(c.original, text);
        }
        let c = parse("global:\nscrape_configs:\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
    }

    #[test]
    fn global_fields_and_defaults() {
        let text = r#"
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  query_log_file: /tmp/q.log
  external_labels:
    replica: a
    cluster: eu
  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
rule_files: ["rules/*.yml"]
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
alerting:
  alertmanagers: []
remote_write:
  - url: http://x/api/v1/write
storage:
  tsdb:
    out_of_order_time_window: 0s
"#;
        let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
        assert_eq!(c.global.evaluation_interval, Duration::from_secs(30));
        assert_eq!(c.global.external_labels.len(), 2);
        assert_eq!(c.global.query_log_file, "/tmp/q.log");
        assert!(c.global.other.contains_key("scrape_protocols"));
        assert_eq!(c.scrape_configs.len(), 1);
        assert_eq!(c.rule_files, vec!["rules/*.yml"]);
        assert_eq!(c.remote_write.len(), 1);
        assert!(c.alerting.is_some() && c.storage.is_some());
        // A short scrape interval caps the default timeout.
        let c = parse("global: {scrape_interval: 5s}\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
    }

    #[test]
    fn unknown_fields_are_named_with_line() {
        let e = parse("global:\n  scrape_interval: 15s\n  evaluation_intervall: 1m\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("prometheus.yml:3:"), "{e}");
        assert!(e.contains("evaluation_intervall"), "{e}");
        let e = parse("global: {}\nscrape_config: []\n")
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("prometheus.yml:2:"), "{e}");
        assert!(e.contains("unknown field `scrape_config`"), "{e}");
    }

    #[test]
    fn invalid_values() {
        let e = parse("global:\n  scrape_interval: 15x\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("invalid duration"), "{e}");
        assert!(e.starts_with("prometheus.yml:2"), "{e}");
        let e = parse("global: {scrape_interval: 5s, scrape_timeout: 10s}\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("scrape timeout greater than scrape interval"),
            "{e}"
        );
        assert!(parse("scrape_configs: [1]\n").is_err());
        assert!(parse("global: [\n").is_err());
        assert!(parse("global: {external_labels: {__x: y}}\n").is_err());
    }
}
