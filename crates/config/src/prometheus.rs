//! `prometheus.yml`: `global`, `scrape_configs` (and the files named by
//! `scrape_config_files`), `rule_files`, `alerting`, `remote_write` and
//! `remote_read` are typed, checked and filled with Prometheus's defaults;
//! `storage`, `tracing`, `runtime` and `otlp` are kept as raw YAML until the
//! components that use them exist.
//!
//! Every error is one line naming the file, the line and the field; an
//! unknown field close to a known one gets a "did you mean". The original
//! text is kept for `/api/v1/status/config`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::parse::remote::{
    RawAlertingConfig, RawRemoteReadConfig, RawRemoteWriteConfig, alerting, remote_reads,
    remote_writes,
};
use crate::parse::scrape::{
    JobDefaults, RawScrapeConfig, check_escaping_scheme, check_scrape_protocols, scrape_config,
    validation_scheme,
};
use crate::parse::{At, Ctx, Invalid, Res, de_bytes, de_duration, invalid, join_dir};
use crate::relabel::is_valid_label_name;
use crate::remote::{AlertingConfig, RemoteReadConfig, RemoteWriteConfig};
use crate::scrape::ScrapeConfig;
use crate::{ConfigError, locate, yaml_bounds};

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
    /// `storage.tsdb.retention` (Prometheus 3.x): when present it replaces
    /// the retention flags, and a reload applies it.
    pub tsdb_retention: Option<TsdbRetention>,
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
    alerting: Option<RawAlertingConfig>,
    rule_files: Option<Vec<String>>,
    scrape_config_files: Option<Vec<String>>,
    scrape_configs: Option<Vec<RawScrapeConfig>>,
    storage: Option<Value>,
    tracing: Option<Value>,
    remote_write: Option<Vec<RawRemoteWriteConfig>>,
    remote_read: Option<Vec<RawRemoteReadConfig>>,
    otlp: Option<Value>,
}

/// A file named by `scrape_config_files`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawScrapeConfigFile {
    scrape_configs: Option<Vec<RawScrapeConfig>>,
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
    scrape_protocols: Option<Vec<String>>,
    #[serde(deserialize_with = "de_bytes")]
    body_size_limit: Option<u64>,
    metric_name_validation_scheme: Option<String>,
    metric_name_escaping_scheme: Option<String>,
    scrape_native_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<bool>,
    always_scrape_classic_histograms: Option<bool>,
    extra_scrape_metrics: Option<bool>,
}

/// Prometheus's pattern for `rule_files` and `scrape_config_files`: a `*`
/// only in the last path element.
fn valid_file_pattern(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(star) => !p[star + 1..].contains(['*', '/']),
    }
}

/// The `global` section, and what jobs inherit from it.
fn global_config(g: RawGlobal) -> Res<(GlobalConfig, JobDefaults)> {
    let at = At::default().key("global");
    let mut global = GlobalConfig::default();
    if let Some(d) = g.scrape_interval.filter(|d| !d.is_zero()) {
        global.scrape_interval = d;
    }
    match g.scrape_timeout.filter(|d| !d.is_zero()) {
        Some(d) => global.scrape_timeout = d,
        None => global.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(global.scrape_interval),
    }
    if global.scrape_timeout > global.scrape_interval {
        return invalid(
            &at.key("scrape_timeout"),
            "global scrape timeout greater than scrape interval",
        );
    }
    if let Some(d) = g.evaluation_interval.filter(|d| !d.is_zero()) {
        global.evaluation_interval = d;
    }
    global.rule_query_offset = g.rule_query_offset.unwrap_or_default();
    let legacy = validation_scheme(
        g.metric_name_validation_scheme.as_deref(),
        &at.key("metric_name_validation_scheme"),
    )?;
    let legacy_names = legacy.unwrap_or(false);
    check_escaping_scheme(
        g.metric_name_escaping_scheme.as_deref(),
        &at.key("metric_name_escaping_scheme"),
    )?;
    if let Some(labels) = g.external_labels {
        for (name, value) in &labels {
            let label_at = at.key("external_labels").key(name);
            if name.starts_with("__") || !is_valid_label_name(name, legacy_names) {
                return invalid(
                    &label_at,
                    format!("{name:?} is not a valid label name for external_labels"),
                );
            }
            if value.is_empty() {
                return invalid(
                    &label_at,
                    format!("empty value for external label {name:?}"),
                );
            }
        }
        global.external_labels = labels;
    }
    if let Some(p) = &g.scrape_protocols {
        check_scrape_protocols(p, &at.key("scrape_protocols"))?;
    }
    global.query_log_file = g.query_log_file.unwrap_or_default();
    global.scrape_failure_log_file = g.scrape_failure_log_file.unwrap_or_default();
    global.sample_limit = g.sample_limit.unwrap_or_default();
    global.target_limit = g.target_limit.unwrap_or_default();
    global.label_limit = g.label_limit.unwrap_or_default();
    global.label_name_length_limit = g.label_name_length_limit.unwrap_or_default();
    global.label_value_length_limit = g.label_value_length_limit.unwrap_or_default();
    global.keep_dropped_targets = g.keep_dropped_targets.unwrap_or_default();
    let defaults = JobDefaults {
        scrape_interval: global.scrape_interval,
        scrape_timeout: global.scrape_timeout,
        body_size_limit: g.body_size_limit.unwrap_or(0),
        sample_limit: global.sample_limit,
        target_limit: global.target_limit,
        label_limit: global.label_limit,
        label_name_length_limit: global.label_name_length_limit,
        label_value_length_limit: global.label_value_length_limit,
        keep_dropped_targets: global.keep_dropped_targets,
        scrape_protocols: g.scrape_protocols.clone(),
        scrape_native_histograms: g.scrape_native_histograms.unwrap_or(false),
        legacy_names,
        escaping_scheme: g
            .metric_name_escaping_scheme
            .clone()
            .filter(|s| !s.is_empty()),
    };
    let strings = |v: Vec<String>| Value::Sequence(v.into_iter().map(Value::String).collect());
    let other = [
        ("scrape_protocols", g.scrape_protocols.map(strings)),
        ("body_size_limit", g.body_size_limit.map(Value::from)),
        (
            "metric_name_validation_scheme",
            g.metric_name_validation_scheme.map(Value::String),
        ),
        (
            "metric_name_escaping_scheme",
            g.metric_name_escaping_scheme.map(Value::String),
        ),
        (
            "scrape_native_histograms",
            g.scrape_native_histograms.map(Value::Bool),
        ),
        (
            "convert_classic_histograms_to_nhcb",
            g.convert_classic_histograms_to_nhcb.map(Value::Bool),
        ),
        (
            "always_scrape_classic_histograms",
            g.always_scrape_classic_histograms.map(Value::Bool),
        ),
        (
            "extra_scrape_metrics",
            g.extra_scrape_metrics.map(Value::Bool),
        ),
    ];
    for (name, v) in other {
        if let Some(v) = v {
            global.other.insert(name.to_string(), v);
        }
    }
    Ok((global, defaults))
}

/// Text being parsed and the name errors give it.
struct Source<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn located(&self, e: Invalid) -> ConfigError {
        let message = if e.at.0.is_empty() {
            e.message
        } else {
            format!("{}: {}", e.at, e.message)
        };
        ConfigError::Parse {
            origin: self.origin.to_string(),
            line: locate::line_of(self.text, &e.at),
            message,
        }
    }

    fn yaml(&self, e: &serde_yaml::Error) -> ConfigError {
        match ConfigError::yaml_with_hints(self.origin, e) {
            ConfigError::Parse {
                origin,
                line: Some(line),
                message,
            } => ConfigError::Parse {
                origin,
                line: Some(line),
                message: locate::name_field(self.text, line, &message),
            },
            other => other,
        }
    }
}

/// Parses `prometheus.yml` text; `origin` names it in errors. Relative
/// paths (and `scrape_config_files`) are taken from the working directory.
pub fn parse_prometheus_config(text: &str, origin: &str) -> Result<PrometheusConfig, ConfigError> {
    parse_prometheus_config_in(text, origin, Path::new(""))
}

/// Parses `prometheus.yml` text whose relative paths start at `base_dir`.
pub fn parse_prometheus_config_in(
    text: &str,
    origin: &str,
    base_dir: &Path,
) -> Result<PrometheusConfig, ConfigError> {
    let src = Source { origin, text };
    ConfigError::check_yaml(origin, text)?;
    // An empty file (or one of only comments) is a valid, default config.
    let raw: RawConfig = serde_yaml::from_str::<Option<RawConfig>>(text)
        .map_err(|e| src.yaml(&e))?
        .unwrap_or_default();
    let (global, defaults) =
        global_config(raw.global.unwrap_or_default()).map_err(|e| src.located(e))?;
    let ctx = Ctx {
        base_dir: base_dir.to_path_buf(),
        legacy_names: defaults.legacy_names,
    };
    let root = At::default();
    let rule_files = raw.rule_files.unwrap_or_default();
    for (i, rf) in rule_files.iter().enumerate() {
        if !valid_file_pattern(rf) {
            let e = Invalid {
                at: root.key("rule_files").index(i),
                message: format!("invalid rule file path {rf:?}"),
            };
            return Err(src.located(e));
        }
    }
    let scrape_config_files = raw.scrape_config_files.unwrap_or_default();
    for (i, sf) in scrape_config_files.iter().enumerate() {
        if !valid_file_pattern(sf) {
            let e = Invalid {
                at: root.key("scrape_config_files").index(i),
                message: format!("invalid scrape config file path {sf:?}"),
            };
            return Err(src.located(e));
        }
    }

    let mut jobs = Jobs::default();
    jobs.begin_source(&src);
    let scrape_at = root.key("scrape_configs");
    for (i, sc) in raw
        .scrape_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = scrape_at.index(i);
        let job = scrape_config(sc, &at, &defaults, &ctx).map_err(|e| src.located(e))?;
        jobs.add(job, &src, &at)?;
    }
    for pattern in &scrape_config_files {
        for file in glob_files(&join_dir(base_dir, pattern), origin)? {
            jobs.add_file(&file, &defaults, &ctx)?;
        }
    }

    let alerting = alerting(
        raw.alerting.unwrap_or_default(),
        &root.key("alerting"),
        &ctx,
    )
    .map_err(|e| src.located(e))?;
    let remote_write = remote_writes(
        raw.remote_write.unwrap_or_default(),
        &root.key("remote_write"),
        &ctx,
    )
    .map_err(|e| src.located(e))?;
    let remote_read = remote_reads(
        raw.remote_read.unwrap_or_default(),
        &root.key("remote_read"),
        &ctx,
    )
    .map_err(|e| src.located(e))?;
    let tsdb_retention = tsdb_retention(raw.storage.as_ref(), &root).map_err(|e| src.located(e))?;
    Ok(PrometheusConfig {
        global,
        tsdb_retention,
        scrape_configs: jobs.list,
        scrape_config_files,
        rule_files,
        alerting,
        remote_write,
        remote_read,
        storage: raw.storage,
        tracing: raw.tracing,
        runtime: raw.runtime,
        otlp: raw.otlp,
        base_dir: base_dir.to_path_buf(),
        original: text.to_string(),
    })
}

/// `storage.tsdb.retention`: omitted fields are unlimited, as upstream
/// resets the section before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TsdbRetention {
    pub time_ms: Option<u64>,
    pub size_bytes: Option<u64>,
    /// Accepted and checked; not applied yet.
    pub percentage: Option<f64>,
}

fn tsdb_retention(storage: Option<&Value>, root: &At) -> Result<Option<TsdbRetention>, Invalid> {
    let at = root.key("storage").key("tsdb").key("retention");
    let Some(section) = storage
        .and_then(|s| s.get("tsdb"))
        .and_then(|t| t.get("retention"))
    else {
        return Ok(None);
    };
    let bad = |at: At, message: String| Invalid { at, message };
    let Some(map) = section.as_mapping() else {
        if section.is_null() {
            return Ok(Some(TsdbRetention::default()));
        }
        return Err(bad(
            at,
            "must be a mapping of time, size and percentage".to_string(),
        ));
    };
    let mut r = TsdbRetention::default();
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        let here = at.key(key);
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            _ => return Err(bad(here, format!("invalid value for {key}"))),
        };
        match key {
            "time" => {
                let ms = argus_model::duration::parse_duration_ms(&text)
                    .map_err(|e| bad(here, format!("'storage.tsdb.retention.time': {e}")))?;
                r.time_ms = Some(ms).filter(|&t| t > 0);
            }
            "size" => {
                let b = argus_model::bytesize::parse_byte_size(&text).map_err(|e| {
                    bad(
                        here,
                        format!("'storage.tsdb.retention.size' must be greater than or equal to 0, got {text:?}: {e}"),
                    )
                })?;
                r.size_bytes = Some(b).filter(|&b| b > 0);
            }
            "percentage" => {
                let p: f64 = text.parse().unwrap_or(f64::NAN);
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad(
                        here,
                        format!(
                            "'storage.tsdb.retention.percentage' must be in the range [0, 100], got {text}"
                        ),
                    ));
                }
                r.percentage = Some(p).filter(|&p| p > 0.0);
            }
            other => {
                return Err(bad(
                    here,
                    format!("field {other} not found in type config.TSDBRetentionConfig"),
                ));
            }
        }
    }
    Ok(Some(r))
}

/// The jobs read so far and where each name was first seen.
#[derive(Default)]
struct Jobs {
    list: Vec<ScrapeConfig>,
    /// Job name -> where it was first defined: the index of its source
    /// in `sources` and its path there. The line is only looked up for a
    /// duplicate, so loading thousands of jobs stays linear.
    first_seen: HashMap<String, (usize, At)>,
    /// (origin, text) of each file jobs came from.
    sources: Vec<(String, String)>,
}

impl Jobs {
    /// Registers the file whose jobs are added next.
    fn begin_source(&mut self, src: &Source<'_>) {
        self.sources
            .push((src.origin.to_string(), src.text.to_string()));
    }

    fn add(&mut self, job: ScrapeConfig, src: &Source<'_>, at: &At) -> Result<(), ConfigError> {
        if let Some((i, first_at)) = self.first_seen.get(&job.job_name) {
            let (origin, text) = &self.sources[*i];
            let place = match locate::line_of(text, &first_at.key("job_name")) {
                Some(l) => format!("{origin}:{l}"),
                None => origin.clone(),
            };
            let e = Invalid {
                at: at.key("job_name"),
                message: format!(
                    "found multiple scrape configs with job name {:?}, first found at {place}",
                    job.job_name
                ),
            };
            return Err(src.located(e));
        }
        // `begin_source` registered the text this job comes from.
        let index = self.sources.len().saturating_sub(1);
        self.first_seen
            .insert(job.job_name.clone(), (index, at.clone()));
        self.list.push(job);
        Ok(())
    }

    /// Appends the jobs of one `scrape_config_files` file; its relative
    /// paths start at its own directory, as in Prometheus.
    fn add_file(
        &mut self,
        file: &Path,
        defaults: &JobDefaults,
        ctx: &Ctx,
    ) -> Result<(), ConfigError> {
        let text =
            yaml_bounds::read_bounded_to_string(file).map_err(|source| ConfigError::Read {
                path: file.to_path_buf(),
                source,
            })?;
        let origin = file.display().to_string();
        ConfigError::check_yaml(&origin, &text)?;
        let src = Source {
            origin: &origin,
            text: &text,
        };
        let raw: RawScrapeConfigFile = serde_yaml::from_str::<Option<RawScrapeConfigFile>>(&text)
            .map_err(|e| src.yaml(&e))?
            .unwrap_or_default();
        self.begin_source(&src);
        let file_ctx = Ctx {
            base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            ..ctx.clone()
        };
        let root = At::default().key("scrape_configs");
        for (i, sc) in raw
            .scrape_configs
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let at = root.index(i);
            let job = scrape_config(sc, &at, defaults, &file_ctx).map_err(|e| src.located(e))?;
            self.add(job, &src, &at)?;
        }
        Ok(())
    }
}

/// Files matching a `scrape_config_files` pattern, sorted.
fn glob_files(pattern: &Path, origin: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let text = pattern.to_string_lossy();
    let bad = |message: String| ConfigError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let paths = glob::glob(&text).map_err(|e| {
        bad(format!(
            "error retrieving scrape config files for {text:?}: {e}"
        ))
    })?;
    let mut files = Vec::new();
    for p in paths {
        files.push(
            p.map_err(|e| bad(format!("cannot read scrape config files for {text:?}: {e}")))?,
        );
    }
    files.sort();
    Ok(files)
}

/// Reads and parses a `prometheus.yml`; relative paths start at its
/// directory. Errors name the file and line.
pub fn load_prometheus_config(path: impl AsRef<Path>) -> Result<PrometheusConfig, ConfigError> {
    let path = path.as_ref();
    let text = yaml_bounds::read_bounded_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_prometheus_config_in(&text, &path.display().to_string(), &base_dir)
}

#[cfg(test)]
mod tests;

/// A list of relabel rules on its own, as Thanos's
/// `--selector.relabel-config` takes it (the YAML of a `relabel_configs`
/// section); checked as in `prometheus.yml`. `origin` names the text in
/// errors.
pub fn parse_relabel_configs(
    text: &str,
    origin: &str,
) -> Result<Vec<crate::relabel::RelabelConfig>, ConfigError> {
    let src = Source { origin, text };
    ConfigError::check_yaml(origin, text)?;
    let raw: Option<Vec<crate::parse::relabel::RawRelabelConfig>> =
        serde_yaml::from_str(text).map_err(|e| src.yaml(&e))?;
    let ctx = Ctx {
        base_dir: PathBuf::new(),
        legacy_names: false,
    };
    crate::parse::relabel::relabel_configs(raw, &At::default(), &ctx).map_err(|e| src.located(e))
}
