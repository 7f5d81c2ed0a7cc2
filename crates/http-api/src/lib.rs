//! The Prometheus HTTP API v1 as an axum [`Router`]: PromQL queries over a
//! [`Queryable`] with limits (timeout, concurrency, cancellation when the
//! client goes away), the series and label APIs, status endpoints, the
//! lifecycle endpoints and `/metrics`.
//!
//! JSON follows Prometheus byte for byte in shape; see [`response`].

mod api;
pub mod conn;
pub mod federate;
pub mod metrics;
pub mod page;
pub mod params;
pub mod response;
pub mod status;
pub mod targets;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use argus_model::storage::Queryable;
use argus_promql::Engine;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

pub use metrics::ApiMetrics;
pub use status::{BuildInfo, HeadStats, TsdbStat, TsdbStatus, TsdbStatusSource};
pub use targets::{
    DroppedTargetInfo, ExternalHost, MetricMetadataInfo, ScrapeStatusSource, TargetInfo,
    TargetMetadataInfo,
};

/// What a successful configuration reload produces.
pub struct Reloaded {
    /// The new configuration text for `/api/v1/status/config`.
    pub config_yaml: String,
    /// A new engine when its options changed (e.g. `evaluation_interval`).
    pub engine: Option<Engine>,
    /// `global.external_labels`, added by `/federate`.
    pub external_labels: argus_model::labels::Labels,
}

/// Why a configuration reload failed; `/-/reload` answers
/// `failed to reload config: <this>`.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration was refused; the old one stays.
    #[error(transparent)]
    Config(Box<dyn std::error::Error + Send + Sync>),
    /// The reload did not run to the end (its task panicked).
    #[error("{0}")]
    Task(String),
}

/// The server behind `/-/reload` and `/-/quit`.
pub trait Lifecycle: Send + Sync {
    /// Re-reads the configuration; called on a blocking thread. An error
    /// keeps the old configuration.
    fn reload(&self) -> Result<Reloaded, ReloadError>;
    /// Starts a graceful shutdown; false when one is already under way.
    fn quit(&self) -> bool;
}

/// The storage behind the admin API (`--web.enable-admin-api`). Called on
/// a blocking thread.
pub trait TsdbAdmin: Send + Sync {
    /// Deletes the samples of matching series in `[min_t, max_t]`.
    fn delete_series(
        &self,
        matchers: &[argus_model::matcher::Matcher],
        min_t: i64,
        max_t: i64,
    ) -> Result<(), argus_model::storage::StorageError>;
    /// Removes deleted samples from disk.
    fn clean_tombstones(&self) -> Result<(), argus_model::storage::StorageError>;
    /// Writes a snapshot; returns its name under `<storage>/snapshots/`.
    fn snapshot(&self, with_head: bool) -> Result<String, argus_model::storage::StorageError>;
}

/// Settings of [`ApiState::new`].
pub struct ApiOptions {
    pub storage: Arc<dyn Queryable>,
    /// A querier over many stores: the storage of each request, by its
    /// `dedup` and `partial_response` parameters (Thanos's). `None`
    /// serves `storage` to every request.
    pub store_choice: Option<Arc<dyn ChooseStorage>>,
    pub engine: Engine,
    /// `--query.timeout`.
    pub query_timeout: Duration,
    /// `--query.max-concurrency`.
    pub max_concurrency: usize,
    pub build_info: BuildInfo,
    /// Every command-line flag, as strings (`/api/v1/status/flags`).
    pub flags: BTreeMap<String, String>,
    pub config_yaml: String,
    /// `--storage.tsdb.retention.time` as shown by runtimeinfo.
    pub storage_retention: String,
    pub tsdb: Option<Arc<dyn TsdbStatusSource>>,
    /// `Some` when `--web.enable-lifecycle` is set.
    pub lifecycle: Option<Arc<dyn Lifecycle>>,
    /// Registry served at `/metrics`; the API adds its own metrics to it.
    pub registry: Registry,
    /// Targets and metadata; `None` answers empty lists.
    pub scrape: Option<Arc<dyn ScrapeStatusSource>>,
    /// How `globalUrl` names local targets.
    pub external_host: ExternalHost,
    /// `--web.route-prefix`, for links on the page at `/`.
    pub route_prefix: String,
    /// `--web.page-title`.
    pub page_title: String,
    /// `Some` when `--web.enable-admin-api` is set.
    pub admin: Option<Arc<dyn TsdbAdmin>>,
    /// `global.external_labels`, added by `/federate`.
    pub external_labels: argus_model::labels::Labels,
    /// `--web.cors.origin`, anchored; `None` for `.*` (any origin, `*`).
    pub cors_origin: Option<regex::Regex>,
}

impl ApiOptions {
    /// An API over `storage` with `engine` and Prometheus's defaults for
    /// the rest (2m timeout, 20 queries at once, no lifecycle, admin API or
    /// scrape status, route prefix `/`); change fields as needed.
    pub fn new(storage: Arc<dyn Queryable>, engine: Engine) -> ApiOptions {
        ApiOptions {
            storage,
            store_choice: None,
            engine,
            query_timeout: Duration::from_secs(120),
            max_concurrency: 20,
            build_info: BuildInfo::default(),
            flags: BTreeMap::new(),
            config_yaml: String::new(),
            storage_retention: "15d".to_string(),
            tsdb: None,
            lifecycle: None,
            registry: Registry::default(),
            scrape: None,
            external_host: ExternalHost::default(),
            route_prefix: "/".to_string(),
            page_title: "Argus".to_string(),
            admin: None,
            external_labels: argus_model::labels::Labels::empty(),
            cors_origin: None,
        }
    }
}

struct ConfigState {
    yaml: String,
    reload_success: bool,
    last_config_time_ms: i64,
}

/// What a request asks of a querier over many stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreChoice {
    /// Merge HA replicas (`dedup`, default true).
    pub dedup: bool,
    /// Answer with warnings when some stores fail (`partial_response`);
    /// `None` leaves it to the querier's default.
    pub partial_response: Option<bool>,
}

/// Picks the storage of a request (see [`ApiOptions::store_choice`]).
pub trait ChooseStorage: Send + Sync {
    fn storage(&self, choice: &StoreChoice) -> Arc<dyn Queryable>;
}

/// Shared state of every handler.
pub struct ApiState {
    storage: Arc<dyn Queryable>,
    store_choice: Option<Arc<dyn ChooseStorage>>,
    engine: RwLock<Arc<Engine>>,
    query_timeout: Duration,
    semaphore: Arc<Semaphore>,
    build_info: BuildInfo,
    flags: BTreeMap<String, String>,
    config: RwLock<ConfigState>,
    storage_retention: String,
    tsdb: Option<Arc<dyn TsdbStatusSource>>,
    lifecycle: Option<Arc<dyn Lifecycle>>,
    registry: Registry,
    scrape: Option<Arc<dyn ScrapeStatusSource>>,
    external_host: ExternalHost,
    route_prefix: String,
    page_title: String,
    admin: Option<Arc<dyn TsdbAdmin>>,
    external_labels: RwLock<argus_model::labels::Labels>,
    cors_origin: Option<regex::Regex>,
    metrics: ApiMetrics,
    start_time_ms: i64,
    ready: AtomicBool,
}

impl ApiState {
    pub fn new(opts: ApiOptions) -> Arc<ApiState> {
        let mut registry = opts.registry;
        let metrics = ApiMetrics::register(&mut registry);
        let max_concurrency = opts.max_concurrency.max(1);
        metrics.max_concurrency.set(max_concurrency as i64);
        let now = argus_model::time::now_ms();
        metrics.config_reload_success.set(1);
        metrics.config_reload_time.set(now as f64 / 1000.0);
        Arc::new(ApiState {
            storage: opts.storage,
            store_choice: opts.store_choice,
            engine: RwLock::new(Arc::new(opts.engine)),
            query_timeout: opts.query_timeout,
            semaphore: Arc::new(Semaphore::new(max_concurrency)),
            build_info: opts.build_info,
            flags: opts.flags,
            config: RwLock::new(ConfigState {
                yaml: opts.config_yaml,
                reload_success: true,
                last_config_time_ms: now,
            }),
            storage_retention: opts.storage_retention,
            tsdb: opts.tsdb,
            lifecycle: opts.lifecycle,
            registry,
            scrape: opts.scrape,
            external_host: opts.external_host,
            route_prefix: opts.route_prefix,
            page_title: opts.page_title,
            admin: opts.admin,
            external_labels: RwLock::new(opts.external_labels),
            cors_origin: opts.cors_origin,
            metrics,
            start_time_ms: now,
            ready: AtomicBool::new(false),
        })
    }

    /// The storage a request reads: the querier's choice for its `dedup`
    /// and `partial_response` parameters, or the one storage.
    fn storage_for(&self, p: &params::Params) -> Result<Arc<dyn Queryable>, response::ApiError> {
        let Some(choose) = &self.store_choice else {
            return Ok(self.storage.clone());
        };
        let choice = StoreChoice {
            dedup: params::bool_param(p, "dedup")?.unwrap_or(true),
            partial_response: params::bool_param(p, "partial_response")?,
        };
        Ok(choose.storage(&choice))
    }

    pub fn engine(&self) -> Arc<Engine> {
        match self.engine.read() {
            Ok(e) => e.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn metrics(&self) -> &ApiMetrics {
        &self.metrics
    }

    /// Marks the server ready (or not, when stopping): `/-/ready` and the
    /// API answer 503 until then.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records the outcome of a configuration reload (HTTP or SIGHUP).
    pub fn apply_reload(&self, outcome: &Result<Reloaded, ReloadError>) {
        let now = argus_model::time::now_ms();
        let mut c = match self.config.write() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        match outcome {
            Ok(r) => {
                c.yaml = r.config_yaml.clone();
                c.reload_success = true;
                c.last_config_time_ms = now;
                match self.external_labels.write() {
                    Ok(mut l) => *l = r.external_labels.clone(),
                    Err(p) => *p.into_inner() = r.external_labels.clone(),
                }
                if let Some(e) = &r.engine {
                    let mut g = match self.engine.write() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *g = Arc::new(e.clone());
                }
                self.metrics.config_reload_success.set(1);
                self.metrics.config_reload_time.set(now as f64 / 1000.0);
            }
            Err(_) => {
                c.reload_success = false;
                self.metrics.config_reload_success.set(0);
            }
        }
    }

    fn external_labels(&self) -> argus_model::labels::Labels {
        match self.external_labels.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn config_snapshot(&self) -> (String, bool, i64) {
        let c = match self.config.read() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        (c.yaml.clone(), c.reload_success, c.last_config_time_ms)
    }
}

/// The HTTP API, lifecycle endpoints and `/metrics`.
pub fn router(state: Arc<ApiState>) -> Router {
    api::router(state)
}

/// What a scraper serves over HTTP: health, lifecycle, `/metrics` and
/// targets; no query API.
pub fn scraper_router(state: Arc<ApiState>) -> Router {
    api::scraper_router(state)
}
