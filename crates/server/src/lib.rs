//! `argus server`: the single-process server, a drop-in for `prometheus`.
//! It serves the TSDB in `--storage.tsdb.path` (imported blocks and the
//! head) through the PromQL engine and the Prometheus HTTP API, with
//! Prometheus's flags, lifecycle endpoints and graceful shutdown.

mod compat_flags;
mod flags;
pub mod memory;
mod scrape_status;
mod starting;
mod tsdb;
mod web_config;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_config::ConfigError;
use argus_config::prometheus::{PrometheusConfig, load_prometheus_config};
use argus_http_api::{
    ApiOptions, ApiState, BuildInfo, ExternalHost, Lifecycle, ReloadError, Reloaded,
};
use argus_model::Appendable;
use argus_model::labels::Labels;
use argus_promql::{Engine, EngineOptions};
use argus_remote::RemoteWriteManager;
use argus_scrape::ScrapeManager;
use argus_tsdb::{Db, DbOptions, TsdbError, WalOptions};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use flags::ServerArgs;

/// How often the head is checked for ranges ready to be sealed into blocks.
const HEAD_SEAL_INTERVAL: Duration = Duration::from_secs(60);
/// How often a scraper looks for sealed blocks to ship (it also ships
/// right after sealing).
const SHIP_INTERVAL: Duration = Duration::from_secs(30);
/// How often `argus server` lists its bucket (with --objstore.config-file).
const BUCKET_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// How long in-flight requests get to finish after a shutdown request.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything `run` needs: the server's flags and the global ones.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub args: ServerArgs,
    pub global: GlobalFlags,
    /// `Some` runs the pipeline as `argus scraper`: no query API, the
    /// StoreAPI over the TSDB, sealed blocks shipped to a bucket.
    pub sidecar: Option<SidecarOptions>,
}

/// What `argus scraper` adds to the server's pipeline.
#[derive(Debug, Clone)]
pub struct SidecarOptions {
    /// `--grpc-address`: the StoreAPI over the head and local blocks.
    pub grpc_address: String,
    /// Limits and message sizes of the StoreAPI.
    pub serve: argus_storeapi::server::ServeOptions,
    /// `--objstore.config-file`: where sealed blocks are shipped; `None`
    /// ships nothing.
    pub objstore_config: Option<PathBuf>,
}

/// Flags of the binary every role takes, shown in `/api/v1/status/flags`.
#[derive(Debug, Clone)]
pub struct GlobalFlags {
    /// `--log.level`.
    pub log_level: String,
    /// `--log.format`: `logfmt` or `json`.
    pub log_format: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid flag --{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    // Messages carry their cause, so no `#[source]`: `{:#}` would repeat it.
    #[error("error loading config (--config.file={file}): {error}")]
    Config { file: String, error: ConfigError },
    /// The config's rule files do not load; each failing file is named
    /// with all its problems.
    #[error("error loading rule file patterns from config (--config.file={config:?}): {error}")]
    Rules {
        config: String,
        error: argus_rules::RuleError,
    },
    #[error("opening storage: {0}")]
    Tsdb(TsdbError),
    #[error("listening on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("serving http: {0}")]
    Serve(std::io::Error),
    #[error("serving grpc: {0}")]
    Grpc(String),
    #[error("object storage (--objstore.config-file={file}): {message}")]
    Bucket { file: String, message: String },
    #[error("{0}")]
    Internal(String),
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!(signal = "SIGINT", "received shutdown signal"),
        _ = term => tracing::info!(signal = "SIGTERM", "received shutdown signal"),
    }
}

/// Engine options from the flags and the config.
fn engine_options(f: &flags::Parsed, cfg: &PrometheusConfig) -> EngineOptions {
    EngineOptions {
        lookback_delta_ms: f.lookback_delta_ms,
        default_subquery_step_ms: i64::try_from(cfg.global.evaluation_interval.as_millis())
            .unwrap_or(60_000)
            .max(1),
        max_samples: f.max_samples,
        delayed_name_removal: f.delayed_name_removal,
        max_depth: f.max_depth,
    }
}

/// The time and size retention in force: the config's
/// `storage.tsdb.retention` when it has one (omitted fields unlimited, as
/// Prometheus 3.x reads it), else the flags.
fn retention(f: &flags::Parsed, cfg: &PrometheusConfig) -> (Option<i64>, Option<u64>) {
    match &cfg.tsdb_retention {
        Some(r) => {
            if r.percentage.is_some() {
                tracing::warn!(
                    "storage.tsdb.retention.percentage is not supported by argus yet; ignoring it"
                );
            }
            (r.time_ms.and_then(|t| i64::try_from(t).ok()), r.size_bytes)
        }
        None => (f.retention_ms, f.retention_bytes),
    }
}

fn external_labels(cfg: &PrometheusConfig) -> Labels {
    let pairs: Vec<(&str, &str)> = cfg
        .global
        .external_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Labels::from_pairs(&pairs)
}

/// Loads and validates the rule files of `cfg`, as Prometheus does at
/// start and on reload; rules are not evaluated yet, which one warning
/// says when there are any (or Alertmanagers to send alerts to).
fn check_rule_files(config_file: &Path, cfg: &PrometheusConfig) -> Result<(), ServerError> {
    let legacy = cfg
        .global
        .other
        .get("metric_name_validation_scheme")
        .and_then(|v| v.as_str())
        == Some("legacy");
    let names = if legacy {
        argus_rules::NameValidation::Legacy
    } else {
        argus_rules::NameValidation::Utf8
    };
    let files = argus_rules::load_rule_files_with(&cfg.rule_files, &cfg.base_dir, names).map_err(
        |error| ServerError::Rules {
            config: config_file.display().to_string(),
            error,
        },
    )?;
    let groups: usize = files.iter().map(|f| f.groups.len()).sum();
    let rules: usize = files
        .iter()
        .flat_map(|f| &f.groups)
        .map(|g| g.rules.len())
        .sum();
    let alertmanagers = cfg.alerting.alertmanagers.len();
    if groups > 0 || alertmanagers > 0 {
        tracing::warn!(
            files = files.len(),
            groups,
            rules,
            alertmanagers,
            "rule evaluation and alert sending are not available yet in argus: the rule files were only loaded and validated"
        );
    }
    Ok(())
}

/// The parts that follow the configuration file: service discovery,
/// scraping and remote write.
struct Pipeline {
    discovery: Mutex<argus_discovery::Manager>,
    scrape: Arc<ScrapeManager>,
    remote: Arc<RemoteWriteManager>,
}

impl Pipeline {
    /// Points every part at `cfg`. Scrape pools change first so that the
    /// target groups discovery publishes next find their pool.
    fn apply(&self, cfg: &PrometheusConfig) {
        self.scrape.apply_config(cfg);
        let jobs = cfg
            .scrape_configs
            .iter()
            .map(|sc| (sc.job_name.clone(), sc.service_discovery.clone()))
            .collect();
        match self.discovery.lock() {
            Ok(mut d) => d.apply_config(jobs, &cfg.base_dir),
            Err(p) => p.into_inner().apply_config(jobs, &cfg.base_dir),
        }
        self.remote
            .apply_config(&cfg.remote_write, &external_labels(cfg));
    }
}

/// `/-/reload`, SIGHUP and `/-/quit`.
struct ServerLifecycle {
    config_file: PathBuf,
    flags: flags::Parsed,
    db: Arc<Db>,
    current: Mutex<PrometheusConfig>,
    pipeline: Arc<Pipeline>,
    quit: watch::Sender<bool>,
}

impl Lifecycle for ServerLifecycle {
    fn reload(&self) -> Result<Reloaded, ReloadError> {
        let file = self.config_file.display().to_string();
        let loaded = load_prometheus_config(&self.config_file)
            .map_err(|error| ServerError::config(&self.config_file, error))
            .and_then(|cfg| check_rule_files(&self.config_file, &cfg).map(|()| cfg));
        match loaded {
            Ok(cfg) => {
                let mut cur = match self.current.lock() {
                    Ok(c) => c,
                    Err(p) => p.into_inner(),
                };
                if cur.global.external_labels != cfg.global.external_labels {
                    tracing::warn!(
                        file = %file,
                        "external labels changed; new blocks use them after a restart"
                    );
                }
                self.pipeline.apply(&cfg);
                let retention = retention(&self.flags, &cfg);
                if self.db.retention() != retention {
                    self.db.set_retention(retention.0, retention.1);
                    tracing::info!(
                        retention = %flags::retention_display(retention.0, retention.1),
                        "tsdb retention updated"
                    );
                }
                memory::trim_after_reload();
                let engine = Engine::new(engine_options(&self.flags, &cfg));
                let yaml = cfg.original.clone();
                *cur = cfg;
                tracing::info!(file = %file, "completed loading of configuration file");
                Ok(Reloaded {
                    config_yaml: yaml,
                    engine: Some(engine),
                    external_labels: external_labels(&cur),
                })
            }
            Err(e) => {
                tracing::error!(file = %file, error = %e, "failed to reload configuration; keeping the old one");
                Err(ReloadError::Config(Box::new(e)))
            }
        }
    }

    fn quit(&self) -> bool {
        let first = !*self.quit.borrow();
        if first {
            tracing::info!("termination requested via the web api");
            let _ = self.quit.send(true);
        }
        first
    }
}

impl ServerError {
    fn config(file: &std::path::Path, error: ConfigError) -> ServerError {
        ServerError::Config {
            file: file.display().to_string(),
            error,
        }
    }
}

impl From<TsdbError> for ServerError {
    fn from(e: TsdbError) -> Self {
        ServerError::Tsdb(e)
    }
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs the server until `shutdown` resolves, `/-/quit` is called or an
/// error occurs; then drains requests and syncs the WAL.
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let f = flags::Parsed::from_args(&cfg.args)?;
    let args = &cfg.args;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting argus server");
    for d in &f.deprecated {
        tracing::warn!("{d}");
    }
    if !f.ignored.is_empty() {
        tracing::warn!(
            flags = %f.ignored.join(" "),
            "ignoring prometheus flags and features argus does not use"
        );
    }

    let config_file = args.config_file.clone();
    let config = {
        let p = config_file.clone();
        tokio::task::spawn_blocking(move || {
            let cfg = load_prometheus_config(&p).map_err(|e| ServerError::config(&p, e))?;
            check_rule_files(&p, &cfg)?;
            Ok::<_, ServerError>(cfg)
        })
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))??
    };
    tracing::info!(file = %config_file.display(), "completed loading of configuration file");

    // The address is taken before the storage directory is touched, so a
    // port in use fails the start without creating or locking anything.
    // Until the API serves, probes get Prometheus's start-up answers.
    let addr = flags::listen_addr(&args.listen_address);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|error| ServerError::Listen {
            addr: args.listen_address.clone(),
            error,
        })?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    let grpc_listener = match &cfg.sidecar {
        Some(sc) => Some(
            argus_storeapi::server::bind(&sc.grpc_address)
                .await
                .map_err(|error| ServerError::Listen {
                    addr: sc.grpc_address.clone(),
                    error,
                })?,
        ),
        None => None,
    };
    let objstore = cfg
        .sidecar
        .as_ref()
        .and_then(|s| s.objstore_config.clone())
        .or_else(|| args.objstore_config.clone());
    let bucket = match objstore {
        Some(file) => Some(open_bucket(&file).await?),
        None => None,
    };
    let starting = starting::StartupResponder::start(listener, f.route_prefix.clone());

    let start_retention = retention(&f, &config);
    let db_opts = DbOptions {
        block_duration_ms: f.block_duration_ms,
        retention_ms: start_retention.0,
        wal: WalOptions {
            fsync: f.wal_fsync,
            ..WalOptions::default()
        },
        external_labels: external_labels(&config),
        retention_bytes: start_retention.1,
    };
    let dir = args.storage_path.clone();
    let db = Arc::new(
        tokio::task::spawn_blocking(move || Db::open(&dir, db_opts))
            .await
            .map_err(|e| ServerError::Internal(e.to_string()))??,
    );

    let engine = Engine::new(engine_options(&f, &config));
    let (quit_tx, quit_rx) = watch::channel(false);

    let mut registry = Registry::default();
    registry.register_collector(Box::new(tsdb::TsdbCollector::new(db.clone())));
    let storage: Arc<dyn Appendable> = db.clone();
    let receiver = args
        .enable_remote_write_receiver
        .then(|| argus_remote::receiver_router(storage.clone(), &mut registry));

    // Discovery feeds scraping; both stop with `background`.
    let background = CancellationToken::new();
    let scrape = ScrapeManager::new(storage, &mut registry);
    let (discovery, target_sets) = argus_discovery::Manager::new(background.clone());
    let remote = RemoteWriteManager::new(db.wal().dir().to_path_buf(), &mut registry);
    let pipeline = Arc::new(Pipeline {
        discovery: Mutex::new(discovery),
        scrape: scrape.clone(),
        remote: remote.clone(),
    });
    pipeline.apply(&config);
    let scraping = tokio::spawn(scrape.clone().run(target_sets, background.clone()));

    // A scraper serves its TSDB over the StoreAPI with its external
    // labels attached, and ships sealed blocks.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sidecar_tasks = Vec::new();
    if let (Some(sc), Some(listener)) = (&cfg.sidecar, grpc_listener) {
        let labels = external_labels(&config);
        let served = Arc::new(argus_model::storage::relabel::WithExternalLabels::new(
            db.clone(),
            labels.clone(),
        ));
        let describe = Arc::new(tsdb::DescribeDb {
            db: db.clone(),
            external_labels: labels,
        });
        let service = argus_storeapi::server::StoreService::new(served, describe, sc.serve);
        let stop = stop_rx.clone();
        sidecar_tasks.push(tokio::spawn(async move {
            if let Err(e) = service.serve(listener, wait_true(stop)).await {
                tracing::error!(error = %e, "store api server failed");
            }
        }));
    }
    // With a bucket, `argus server` also reads it: its blocks the TSDB no
    // longer holds (past local retention) come from there.
    let bucket_store = match (&bucket, &cfg.sidecar) {
        (Some(bucket), None) => {
            let local = db.clone();
            let store = argus_store_gateway::BucketStore::new(
                bucket.clone(),
                argus_store_gateway::BucketStoreOptions {
                    skip_block: Some(argus_store_gateway::BlockFilter(Arc::new(move |m| {
                        local.has_block(m.ulid)
                    }))),
                    ..argus_store_gateway::BucketStoreOptions::default()
                },
                tokio::runtime::Handle::current(),
            );
            // Before serving, so that a restart answers for the bucket's
            // blocks at once.
            if let Err(e) = store.sync().await {
                tracing::warn!(error = %e, "first sync of the bucket failed; retrying in the background");
            }
            sidecar_tasks.push(tokio::spawn(store.clone().sync_loop(
                BUCKET_SYNC_INTERVAL,
                stop_rx.clone(),
                |_| {},
            )));
            Some(store)
        }
        _ => None,
    };
    let shipper = match bucket {
        Some(bucket) => {
            let shipper = Arc::new(argus_shipper::Shipper::new(
                db.clone(),
                bucket,
                argus_shipper::ShipperOptions::default(),
            ));
            shipper.register(&mut registry);
            sidecar_tasks.push(tokio::spawn(
                shipper.clone().run(SHIP_INTERVAL, stop_rx.clone()),
            ));
            Some(shipper)
        }
        None => None,
    };

    let lifecycle = Arc::new(ServerLifecycle {
        config_file: config_file.clone(),
        flags: f.clone(),
        db: db.clone(),
        current: Mutex::new(config.clone()),
        pipeline: pipeline.clone(),
        quit: quit_tx.clone(),
    });

    let state = ApiState::new(ApiOptions {
        storage: query_storage(&db, bucket_store),
        store_choice: None,
        engine,
        query_timeout: f.query_timeout,
        max_concurrency: args.max_concurrency,
        build_info: BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..BuildInfo::default()
        },
        flags: flags::flag_map(args, &f, &cfg.global),
        config_yaml: config.original.clone(),
        storage_retention: flags::retention_display(start_retention.0, start_retention.1),
        tsdb: Some(Arc::new(tsdb::DbStatus::new(db.clone()))),
        lifecycle: args
            .enable_lifecycle
            .then(|| lifecycle.clone() as Arc<dyn Lifecycle>),
        registry,
        scrape: Some(Arc::new(scrape_status::ScrapeStatus(scrape.clone()))),
        external_host: ExternalHost::new(&f.external_url, &args.listen_address),
        route_prefix: f.route_prefix.clone(),
        page_title: args.page_title.clone(),
        external_labels: external_labels(&config),
        cors_origin: f.cors_origin.clone(),
        admin: args
            .enable_admin_api
            .then(|| Arc::new(tsdb::DbAdmin(db.clone())) as Arc<dyn argus_http_api::TsdbAdmin>),
    });

    // Background work: sealing the head into blocks and SIGHUP reloads.
    let seal_every = HEAD_SEAL_INTERVAL.min(Duration::from_millis(
        u64::try_from(f.block_duration_ms / 4)
            .unwrap_or(1)
            .max(1000),
    ));
    let sealer = tokio::spawn(head_seal_loop(
        db.clone(),
        seal_every,
        shipper,
        stop_rx.clone(),
    ));
    let reloader = tokio::spawn(block_reload_loop(
        db.clone(),
        f.block_reload_interval,
        stop_rx.clone(),
    ));
    let hup = tokio::spawn(sighup_loop(state.clone(), lifecycle.clone(), stop_rx));

    // Shutdown: the caller's signal or /-/quit.
    {
        let quit_tx = quit_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = quit_tx.send(true);
        });
    }
    let mut app = if cfg.sidecar.is_some() {
        argus_http_api::scraper_router(state.clone())
    } else {
        argus_http_api::router(state.clone())
    };
    app = app.merge(receiver.unwrap_or_else(receiver_disabled));
    let app = with_route_prefix(app, &f.route_prefix);
    let app = with_response_headers(app, &f.web_config.headers);
    state.set_ready(true);
    tracing::info!(address = %local, "server is ready to receive web requests");

    let graceful = {
        let state = state.clone();
        let rx = quit_rx.clone();
        async move {
            wait_true(rx).await;
            state.set_ready(false);
            tracing::info!("stopping: draining http requests");
        }
    };
    let listener = starting.finish().await.map_err(ServerError::Serve)?;
    let serve = axum::serve(argus_http_api::conn::LenientListener(listener), app)
        .with_graceful_shutdown(graceful);
    let drain_deadline = async {
        wait_true(quit_rx).await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let served = tokio::select! {
        r = serve => r.map_err(ServerError::Serve),
        _ = drain_deadline => {
            tracing::warn!(seconds = DRAIN_TIMEOUT.as_secs(), "requests still running after the drain timeout; stopping anyway");
            Ok(())
        }
    };

    // Scraping stops before the last WAL sync so every appended sample is
    // in it; queues get a short time to send what they hold.
    background.cancel();
    let _ = scraping.await;
    remote.stop().await;
    let _ = stop_tx.send(true);
    let _ = hup.await;
    let _ = sealer.await;
    let _ = reloader.await;
    for t in sidecar_tasks {
        let _ = t.await;
    }
    let db2 = db.clone();
    let synced = tokio::task::spawn_blocking(move || db2.sync())
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    if let Err(e) = synced {
        tracing::error!(error = %e, "syncing the wal at shutdown failed");
    }
    tracing::info!("tsdb closed; see you next time");
    served
}

/// Serves `app` under `prefix` (`--web.route-prefix`); `/` redirects
/// there, as Prometheus.
fn with_route_prefix(app: axum::Router, prefix: &str) -> axum::Router {
    if prefix == "/" {
        return app;
    }
    let redirect = |target: String| {
        axum::routing::get(move || {
            let target = target.clone();
            async move {
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, target)],
                )
            }
        })
    };
    // The nested router answers `{prefix}` itself but not `{prefix}/`.
    axum::Router::new()
        .route("/", redirect(prefix.to_string()))
        .route(&format!("{prefix}/"), redirect(prefix.to_string()))
        .nest(prefix, app)
}

/// Adds the `--web.config.file` response headers to every response.
fn with_response_headers(app: axum::Router, headers: &[(String, String)]) -> axum::Router {
    let headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
        .collect();
    if headers.is_empty() {
        return app;
    }
    let headers = Arc::new(headers);
    app.layer(axum::middleware::map_response(
        move |mut resp: axum::response::Response| {
            let headers = headers.clone();
            async move {
                for (k, v) in headers.iter() {
                    resp.headers_mut().insert(k.clone(), v.clone());
                }
                resp
            }
        },
    ))
}

/// `/api/v1/write` without `--web.enable-remote-write-receiver`: 404 with
/// the reason, as Prometheus.
fn receiver_disabled() -> axum::Router {
    axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n",
            )
        }),
    )
}

/// What queries read: the TSDB (head and local blocks) and, with a bucket,
/// its blocks, through the fan-out `argus query` uses. Errors stay errors
/// (no partial response), as in Prometheus.
fn query_storage(
    db: &Arc<Db>,
    bucket: Option<argus_store_gateway::BucketStore>,
) -> Arc<dyn argus_model::Queryable> {
    let everything = argus_storeapi::client::RemoteInfo {
        component: "local".to_string(),
        label_sets: Vec::new(),
        min_time: i64::MIN,
        max_time: i64::MAX,
        supports_without_replica_labels: false,
    };
    let mut endpoints = vec![Arc::new(argus_querier::Endpoint::local(
        "tsdb",
        db.clone(),
        everything.clone(),
    ))];
    if let Some(b) = bucket {
        endpoints.push(Arc::new(argus_querier::Endpoint::local(
            "bucket",
            Arc::new(b),
            everything,
        )));
    }
    let fanout = argus_querier::Fanout::new(
        endpoints,
        argus_querier::FanoutOptions {
            replica_labels: Vec::new(),
            partial_response: false,
        },
    );
    Arc::new(fanout.view(false, false))
}

/// Opens the bucket a scraper ships to, checking that it answers.
async fn open_bucket(file: &Path) -> Result<argus_block::objstore::Bucket, ServerError> {
    let err = |message: String| ServerError::Bucket {
        file: file.display().to_string(),
        message,
    };
    let cfg = argus_config::bucket::load_bucket_config(file).map_err(|e| err(e.to_string()))?;
    argus_block::objstore::Bucket::from_config(&cfg).map_err(|e| err(e.to_string()))
}

async fn head_seal_loop(
    db: Arc<Db>,
    every: Duration,
    shipper: Option<Arc<argus_shipper::Shipper>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.seal_head()).await {
            Ok(Ok(made)) if !made.is_empty() => {
                tracing::info!(blocks = made.len(), "sealed head blocks");
                if let Some(s) = &shipper {
                    s.notify();
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "sealing the head failed"),
            Err(e) => tracing::error!(error = %e, "head sealing task failed"),
        }
    }
}

/// Picks up blocks that appear in the storage directory (a backfill with
/// `argus tools import`) and applies retention, as Prometheus's periodic
/// block reload. The first pass runs at start.
async fn block_reload_loop(db: Arc<Db>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let db = db.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let loaded = db.reload_blocks()?;
            db.apply_retention()?;
            Ok::<_, TsdbError>(loaded)
        });
        match pass.await {
            Ok(Ok(loaded)) if !loaded.is_empty() => {
                tracing::info!(blocks = loaded.len(), ulids = %loaded.join(","), "loaded new blocks from the storage directory");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "reloading blocks failed"),
            Err(e) => tracing::error!(error = %e, "block reload task failed"),
        }
    }
}

#[cfg(unix)]
async fn sighup_loop(
    state: Arc<ApiState>,
    lifecycle: Arc<ServerLifecycle>,
    mut stop: watch::Receiver<bool>,
) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for sighup; reload with /-/reload");
            return;
        }
    };
    loop {
        tokio::select! {
            r = hup.recv() => if r.is_none() { return },
            _ = stop.wait_for(|v| *v) => return,
        }
        tracing::info!("received sighup; reloading configuration");
        let lc = lifecycle.clone();
        let outcome = tokio::task::spawn_blocking(move || lc.reload())
            .await
            .unwrap_or_else(|e| Err(ReloadError::Task(e.to_string())));
        state.apply_reload(&outcome);
    }
}

#[cfg(not(unix))]
async fn sighup_loop(
    _state: Arc<ApiState>,
    _lifecycle: Arc<ServerLifecycle>,
    _stop: watch::Receiver<bool>,
) {
}

#[cfg(test)]
mod tests;
