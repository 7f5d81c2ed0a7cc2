//! The command-line flags of `argus server`, named as Prometheus's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use argus_tsdb::FsyncPolicy;

use crate::ServerError;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Prometheus configuration file path.
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "prometheus.yml"
    )]
    pub config_file: PathBuf,
    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    pub storage_path: PathBuf,
    /// How long to retain samples in storage. When neither this nor
    /// --storage.tsdb.retention.size is set, 15d.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    pub retention_time: Option<String>,
    /// The old name of --storage.tsdb.retention.time (Prometheus 2.x).
    #[arg(long = "storage.tsdb.retention", value_name = "DURATION", hide = true)]
    pub retention_deprecated: Option<String>,
    /// Maximum number of bytes the blocks and the WAL may take, e.g.
    /// `512MB` (powers of 2: 1KB is 1024B); the oldest blocks go first.
    /// Unlimited when unset.
    #[arg(long = "storage.tsdb.retention.size", value_name = "BYTES")]
    pub retention_size: Option<String>,
    /// Width of the blocks sealed from the head.
    #[arg(
        long = "storage.tsdb.min-block-duration",
        value_name = "DURATION",
        default_value = "2h",
        hide = true
    )]
    pub min_block_duration: String,
    /// How often the storage directory is checked for new blocks (e.g.
    /// backfilled with `argus tools import`).
    #[arg(
        long = "storage.tsdb.block-reload-interval",
        value_name = "DURATION",
        default_value = "15s"
    )]
    pub block_reload_interval: String,
    /// When the write-ahead log is synced to disk: `always` or an interval
    /// such as `1s`.
    #[arg(
        long = "storage.tsdb.wal-fsync",
        value_name = "WHEN",
        default_value = "1s"
    )]
    pub wal_fsync: String,
    /// Address to listen on for the web interface and API.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = "0.0.0.0:9090"
    )]
    pub listen_address: String,
    /// The URL under which Argus is reachable from outside (e.g. behind a
    /// reverse proxy); its path is the default route prefix. Unset: http://
    /// this host name and the listen port.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,
    /// Prefix of every HTTP endpoint. Unset: the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub route_prefix: Option<String>,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Enable the admin endpoints (snapshot, delete_series,
    /// clean_tombstones).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,
    /// Accept remote-write requests at /api/v1/write.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,
    /// An object storage config file (Thanos objstore.yml shape): sealed
    /// blocks are shipped there, and queries read the head, the local
    /// blocks and the bucket's blocks through one fan-out. Without it the
    /// storage directory is the only store (it has a bucket's layout, so
    /// `argus store` can serve it as a FILESYSTEM bucket).
    #[arg(long = "objstore.config-file", value_name = "FILE")]
    pub objstore_config: Option<PathBuf>,
    /// Regex of the origins CORS allows, anchored at both ends; `.*`
    /// allows any (`Access-Control-Allow-Origin: *`).
    #[arg(long = "web.cors.origin", value_name = "REGEX", default_value = ".*")]
    pub cors_origin: String,
    /// Title of the page at /.
    #[arg(
        long = "web.page-title",
        value_name = "TITLE",
        default_value = "Argus Time Series Collection and Processing Server"
    )]
    pub page_title: String,
    /// A web configuration file (exporter-toolkit format). It is checked;
    /// TLS and basic auth are not served yet, so a file asking for them is
    /// refused rather than ignored.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// The maximum lookback duration for retrieving metrics during
    /// expression evaluations and federation.
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub lookback_delta: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    pub query_timeout: String,
    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub max_samples: usize,
    /// Maximum nesting depth of a query expression; deeper queries are
    /// refused (an Argus flag: Prometheus has no limit).
    #[arg(long = "query.max-depth", value_name = "N", default_value_t = argus_promql::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    pub max_concurrency: usize,
    /// Prometheus feature flags, comma separated or repeated.
    /// `promql-delayed-name-removal` is honoured and
    /// `promql-experimental-functions` is always on; the others are
    /// accepted with a warning.
    #[arg(
        long = "enable-feature",
        value_name = "NAME,...",
        value_delimiter = ','
    )]
    pub enable_feature: Vec<String>,
    #[command(flatten)]
    pub compat: crate::compat_flags::CompatFlags,
}

/// Prometheus's default time retention, used when neither retention flag
/// is given.
const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

/// The flags with their values checked and converted.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// `None` when only a size retention was given (as Prometheus: then no
    /// time retention applies).
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<u64>,
    pub block_duration_ms: i64,
    pub block_reload_interval: Duration,
    pub wal_fsync: FsyncPolicy,
    pub lookback_delta_ms: i64,
    pub query_timeout: Duration,
    pub max_samples: usize,
    pub max_depth: usize,
    pub delayed_name_removal: bool,
    /// `--web.external-url`, or the default made from the host name and
    /// the listen port; no trailing `/`.
    pub external_url: String,
    /// Always starts with `/`, no trailing `/` unless it is just `/`.
    pub route_prefix: String,
    /// Flags and features accepted but not acted on, for one warning line.
    pub ignored: Vec<String>,
    /// Deprecated spellings used, for a warning each.
    pub deprecated: Vec<String>,
    /// From `--web.config.file`.
    pub web_config: crate::web_config::WebConfig,
    /// `--web.cors.origin`, anchored; `None` for `.*`.
    pub cors_origin: Option<regex::Regex>,
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

/// Prometheus feature flags Argus acts on; any other name is accepted and
/// reported as ignored.
const HONOURED_FEATURES: &[&str] = &[
    "promql-delayed-name-removal",
    "promql-experimental-functions",
];

impl Parsed {
    pub fn from_args(a: &ServerArgs) -> Result<Parsed, ServerError> {
        let wal_fsync = FsyncPolicy::parse(&a.wal_fsync).map_err(|e| ServerError::Flag {
            flag: "storage.tsdb.wal-fsync",
            message: e.to_string(),
        })?;
        at_least_one("query.max-depth", a.max_depth)?;
        at_least_one("query.max-concurrency", a.max_concurrency)?;
        let mut deprecated = Vec::new();
        let time = match (&a.retention_time, &a.retention_deprecated) {
            (Some(t), _) => Some(positive_ms("storage.tsdb.retention.time", t)?),
            (None, Some(t)) => {
                deprecated.push(
                    "--storage.tsdb.retention is deprecated; use --storage.tsdb.retention.time"
                        .to_string(),
                );
                Some(positive_ms("storage.tsdb.retention", t)?)
            }
            (None, None) => None,
        };
        let retention_bytes =
            match &a.retention_size {
                Some(v) => Some(argus_model::bytesize::parse_byte_size(v).map_err(|e| {
                    ServerError::Flag {
                        flag: "storage.tsdb.retention.size",
                        message: e.to_string(),
                    }
                })?)
                .filter(|b| *b > 0),
                None => None,
            };
        let retention_ms = match (time, retention_bytes) {
            (None, None) => Some(DEFAULT_RETENTION_MS),
            (t, _) => t,
        };
        let mut ignored = a.compat.ignored_descriptions();
        let mut delayed_name_removal = false;
        for feature in a
            .enable_feature
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
        {
            if feature == "promql-delayed-name-removal" {
                delayed_name_removal = true;
            }
            if !HONOURED_FEATURES.contains(&feature) {
                ignored.push(format!("--enable-feature={feature}"));
            }
        }
        let (external_url, route_prefix) = external_url_and_prefix(
            a.external_url.as_deref(),
            a.route_prefix.as_deref(),
            &a.listen_address,
        )?;
        if let Some(agent) = a.compat.agent_only().first() {
            return Err(ServerError::Flag {
                flag: "agent",
                message: format!(
                    "--{agent} is a Prometheus agent-mode flag; argus server has no agent mode (run it as a server, or use remote_write)"
                ),
            });
        }
        let web_config = match &a.web_config_file {
            Some(path) => crate::web_config::check_web_config(path)?,
            None => crate::web_config::WebConfig::default(),
        };
        Ok(Parsed {
            retention_ms,
            retention_bytes,
            block_duration_ms: positive_ms(
                "storage.tsdb.min-block-duration",
                &a.min_block_duration,
            )?,
            block_reload_interval: Duration::from_millis(
                positive_ms(
                    "storage.tsdb.block-reload-interval",
                    &a.block_reload_interval,
                )?
                .unsigned_abs(),
            ),
            wal_fsync,
            lookback_delta_ms: positive_ms("query.lookback-delta", &a.lookback_delta)?,
            query_timeout: Duration::from_millis(
                positive_ms("query.timeout", &a.query_timeout)?.unsigned_abs(),
            ),
            max_samples: a.max_samples,
            max_depth: a.max_depth,
            delayed_name_removal,
            external_url,
            route_prefix,
            ignored,
            deprecated,
            web_config,
            cors_origin: cors_origin(&a.cors_origin)?,
        })
    }
}

fn cors_origin(pattern: &str) -> Result<Option<regex::Regex>, ServerError> {
    if pattern == ".*" {
        return Ok(None);
    }
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| ServerError::Flag {
            flag: "web.cors.origin",
            message: e.to_string(),
        })
}

/// The external URL (as Prometheus's computeExternalURL: the flag, or
/// `http://<hostname>:<port>`, path without trailing `/`) and the route
/// prefix (the flag, or the external URL's path; `/`-rooted).
pub(crate) fn external_url_and_prefix(
    flag: Option<&str>,
    prefix: Option<&str>,
    listen_address: &str,
) -> Result<(String, String), ServerError> {
    let bad = |message: String| ServerError::Flag {
        flag: "web.external-url",
        message,
    };
    let raw = match flag.filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => {
            let host = argus_http_api::ExternalHost::hostname();
            let port = listen_address
                .rsplit_once(':')
                .map(|(_, p)| p)
                .unwrap_or("9090");
            format!("http://{host}:{port}/")
        }
    };
    if !raw.starts_with("http://") && !raw.starts_with("https://") {
        return Err(bad(format!(
            "{raw:?}: the URL must start with http:// or https://"
        )));
    }
    let mut url = url::Url::parse(&raw).map_err(|e| bad(format!("{raw:?}: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("{raw:?}: the URL has no host")));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    let external = url.as_str().trim_end_matches('/').to_string();
    let prefix = prefix.unwrap_or(&path);
    let route_prefix = format!("/{}", prefix.trim_matches('/'));
    Ok((external, route_prefix))
}

/// Every flag as a string, for `/api/v1/status/flags`: what was given,
/// else the default, as Prometheus shows them.
pub(crate) fn flag_map(
    a: &ServerArgs,
    f: &Parsed,
    global: &crate::GlobalFlags,
) -> BTreeMap<String, String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    // Shown as upstream shows them once defaulted: the time retention in
    // force, sizes in its byte form.
    let duration = |ms: Option<i64>| {
        argus_model::duration::DisplayMs(ms.unwrap_or(0).unsigned_abs()).to_string()
    };
    let mut m: BTreeMap<String, String> = [
        ("config.file", a.config_file.display().to_string()),
        ("storage.tsdb.path", a.storage_path.display().to_string()),
        ("storage.tsdb.retention.time", duration(f.retention_ms)),
        (
            "storage.tsdb.retention.size",
            argus_model::bytesize::DisplayBytes(f.retention_bytes.unwrap_or(0)).to_string(),
        ),
        (
            "storage.tsdb.min-block-duration",
            a.min_block_duration.clone(),
        ),
        (
            "storage.tsdb.block-reload-interval",
            a.block_reload_interval.clone(),
        ),
        ("storage.tsdb.wal-fsync", a.wal_fsync.clone()),
        ("web.listen-address", a.listen_address.clone()),
        ("web.external-url", opt(&a.external_url)),
        ("web.route-prefix", f.route_prefix.clone()),
        ("web.enable-lifecycle", a.enable_lifecycle.to_string()),
        ("web.enable-admin-api", a.enable_admin_api.to_string()),
        (
            "web.enable-remote-write-receiver",
            a.enable_remote_write_receiver.to_string(),
        ),
        (
            "objstore.config-file",
            a.objstore_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("web.page-title", a.page_title.clone()),
        ("web.cors.origin", a.cors_origin.clone()),
        (
            "web.config.file",
            a.web_config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("query.lookback-delta", a.lookback_delta.clone()),
        ("query.timeout", a.query_timeout.clone()),
        ("query.max-samples", a.max_samples.to_string()),
        ("query.max-depth", a.max_depth.to_string()),
        ("query.max-concurrency", a.max_concurrency.to_string()),
        ("enable-feature", a.enable_feature.join(",")),
        ("log.level", global.log_level.clone()),
        ("log.format", global.log_format.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(old) = &a.retention_deprecated {
        m.insert("storage.tsdb.retention".to_string(), old.clone());
    }
    for (name, value) in a.compat.values() {
        m.insert(name.to_string(), value);
    }
    // Upstream's default: a tenth of the time retention, at most 31d.
    if m.get("storage.tsdb.max-block-duration")
        .is_some_and(String::is_empty)
    {
        let max = 31 * 24 * 3600 * 1000;
        let ms = f.retention_ms.map_or(max, |r| (r / 10).min(max));
        m.insert(
            "storage.tsdb.max-block-duration".to_string(),
            duration(Some(ms)),
        );
    }
    m
}

/// Go-style `:9090` means every interface.
pub(crate) fn listen_addr(s: &str) -> String {
    if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    }
}

/// runtimeinfo's `storageRetention`, as Prometheus: `15d`, `1GiB` or
/// `15d or 1GiB`.
pub(crate) fn retention_display(retention_ms: Option<i64>, retention_bytes: Option<u64>) -> String {
    let time =
        retention_ms.map(|ms| argus_model::duration::DisplayMs(ms.unsigned_abs()).to_string());
    let size = retention_bytes.map(|b| argus_model::bytesize::DisplayBytes(b).to_string());
    match (time, size) {
        (Some(t), Some(s)) => format!("{t} or {s}"),
        (Some(t), None) => t,
        (None, Some(s)) => s,
        (None, None) => String::new(),
    }
}
