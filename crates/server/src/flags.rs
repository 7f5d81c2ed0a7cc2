//! The command-line flags of `argus server`, named as Prometheus's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use argus_tsdb::FsyncPolicy;

use crate::ServerError;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Prometheus configuration file path.
    #[arg(long = "config.file", default_value = "prometheus.yml")]
    pub config_file: PathBuf,
    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    pub storage_path: PathBuf,
    /// How long to retain samples in storage.
    #[arg(long = "storage.tsdb.retention.time", default_value = "15d")]
    pub retention_time: String,
    /// When the write-ahead log is synced to disk: `always` or an interval
    /// such as `1s`.
    #[arg(long = "storage.tsdb.wal-fsync", default_value = "1s")]
    pub wal_fsync: String,
    /// Address to listen on for the web interface and API.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub listen_address: String,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Accept remote-write requests at /api/v1/write.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,
    /// The maximum lookback duration for retrieving metrics during
    /// expression evaluations and federation.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub lookback_delta: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub query_timeout: String,
    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub max_samples: usize,
    /// Maximum nesting depth of a query expression; deeper queries are
    /// refused (an Argus flag: Prometheus has no limit).
    #[arg(long = "query.max-depth", default_value_t = argus_promql::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub max_concurrency: usize,
}

/// The flags with their values checked and converted.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub retention_ms: i64,
    pub wal_fsync: FsyncPolicy,
    pub lookback_delta_ms: i64,
    pub query_timeout: Duration,
    pub max_samples: usize,
    pub max_depth: usize,
}

fn duration_flag(flag: &'static str, v: &str) -> Result<u64, ServerError> {
    argus_model::duration::parse_duration_ms(v).map_err(|e| ServerError::Flag {
        flag,
        message: e.to_string(),
    })
}

fn at_least_one(flag: &'static str, v: usize) -> Result<(), ServerError> {
    if v == 0 {
        return Err(ServerError::Flag {
            flag,
            message: "must be at least 1".to_string(),
        });
    }
    Ok(())
}

fn positive_ms(flag: &'static str, v: &str) -> Result<i64, ServerError> {
    let ms = duration_flag(flag, v)?;
    match i64::try_from(ms) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(ServerError::Flag {
            flag,
            message: format!("{v:?} must be a positive duration"),
        }),
    }
}

impl Parsed {
    pub fn from_args(a: &ServerArgs) -> Result<Parsed, ServerError> {
        let wal_fsync = FsyncPolicy::parse(&a.wal_fsync).map_err(|e| ServerError::Flag {
            flag: "storage.tsdb.wal-fsync",
            message: e.to_string(),
        })?;
        at_least_one("query.max-depth", a.max_depth)?;
        at_least_one("query.max-concurrency", a.max_concurrency)?;
        Ok(Parsed {
            retention_ms: positive_ms("storage.tsdb.retention.time", &a.retention_time)?,
            wal_fsync,
            lookback_delta_ms: positive_ms("query.lookback-delta", &a.lookback_delta)?,
            query_timeout: Duration::from_millis(
                positive_ms("query.timeout", &a.query_timeout)?.unsigned_abs(),
            ),
            max_samples: a.max_samples,
            max_depth: a.max_depth,
        })
    }
}

/// Every flag as a string, for `/api/v1/status/flags`.
pub(crate) fn flag_map(a: &ServerArgs, log_level: &str) -> BTreeMap<String, String> {
    [
        ("config.file", a.config_file.display().to_string()),
        ("storage.tsdb.path", a.storage_path.display().to_string()),
        ("storage.tsdb.retention.time", a.retention_time.clone()),
        ("storage.tsdb.wal-fsync", a.wal_fsync.clone()),
        ("web.listen-address", a.listen_address.clone()),
        ("web.enable-lifecycle", a.enable_lifecycle.to_string()),
        (
            "web.enable-remote-write-receiver",
            a.enable_remote_write_receiver.to_string(),
        ),
        ("query.lookback-delta", a.lookback_delta.clone()),
        ("query.timeout", a.query_timeout.clone()),
        ("query.max-samples", a.max_samples.to_string()),
        ("query.max-depth", a.max_depth.to_string()),
        ("query.max-concurrency", a.max_concurrency.to_string()),
        ("log.level", log_level.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Go-style `:9090` means every interface.
pub(crate) fn listen_addr(s: &str) -> String {
    if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    }
}
