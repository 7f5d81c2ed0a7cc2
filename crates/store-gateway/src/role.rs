//! `argus store`: the store gateway role. The StoreAPI over every complete
//! block of a bucket ([`BucketStore`]), synced every `--sync-interval`,
//! with `/metrics`, `/-/healthy` and `/-/ready` over HTTP.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use argus_model::storage::ReadLimits;
use argus_storeapi::server::{
    Component, DescribeStore, ServeOptions, StoreDescription, StoreService,
};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::{BucketStore, BucketStoreOptions, TimeBound};

/// The flags of `argus store` (Thanos's names where it has them).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Object storage config file (Thanos objstore.yml shape).
    #[arg(long = "objstore.config-file", value_name = "FILE")]
    pub objstore_config: PathBuf,
    /// Listen address of the StoreAPI (gRPC).
    #[arg(
        long = "grpc-address",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:10901"
    )]
    pub grpc_address: String,
    /// Listen address of /metrics, /-/healthy and /-/ready.
    #[arg(
        long = "http-address",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:10902"
    )]
    pub http_address: String,
    /// Local directory of the store (created if missing). The cache is in
    /// memory today; the directory is reserved for an on-disk one.
    #[arg(long = "data-dir", value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// How often the bucket is listed for new and removed blocks.
    #[arg(long = "sync-interval", value_name = "DURATION", default_value = "3m")]
    pub sync_interval: String,
    /// Bound of the cache of Parquet footers and pages, e.g. 256MB.
    #[arg(long = "cache.size", value_name = "BYTES", default_value = "256MB")]
    pub cache_size: String,
    /// Serve only blocks ending after this: RFC 3339 or a duration
    /// relative to now (-2w).
    #[arg(
        long = "min-time",
        value_name = "TIME",
        default_value = "0000-01-01T00:00:00Z"
    )]
    pub min_time: String,
    /// Serve only blocks starting before this: RFC 3339 or a duration
    /// relative to now.
    #[arg(
        long = "max-time",
        value_name = "TIME",
        default_value = "9999-12-31T23:59:59Z"
    )]
    pub max_time: String,
    /// Relabel rules (YAML list, Prometheus's `relabel_configs` shape)
    /// applied to each block's external labels; blocks they drop are not
    /// served, so stores can be sharded by external labels.
    #[arg(
        long = "selector.relabel-config",
        value_name = "YAML",
        conflicts_with = "selector_relabel_config_file"
    )]
    pub selector_relabel_config: Option<String>,
    /// A file holding the rules of --selector.relabel-config.
    #[arg(long = "selector.relabel-config-file", value_name = "FILE")]
    pub selector_relabel_config_file: Option<PathBuf>,
    /// How long a block marked for deletion is still served (the
    /// compactor's replacement may not be visible to every querier yet).
    #[arg(
        long = "ignore-deletion-marks-delay",
        value_name = "DURATION",
        default_value = "24h"
    )]
    pub ignore_deletion_marks_delay: String,
    /// Series one Series call may touch (0: no limit).
    #[arg(
        long = "store.limits.request-series",
        value_name = "N",
        default_value_t = 0
    )]
    pub max_series: usize,
    /// Chunk bytes one Series call may fetch (0: no limit).
    #[arg(
        long = "store.limits.request-chunk-bytes",
        value_name = "BYTES",
        default_value_t = 0
    )]
    pub max_chunk_bytes: usize,
    /// Largest StoreAPI request accepted, bytes.
    #[arg(long = "grpc.max-recv-message-size", value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_recv_message_bytes: usize,
    /// Largest StoreAPI response message (one series), bytes.
    #[arg(long = "grpc.max-send-message-size", value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_send_message_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreRoleError {
    #[error("invalid flag --{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("object storage (--objstore.config-file={file}): {message}")]
    Bucket { file: String, message: String },
    #[error("listening on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("serving http: {0}")]
    Serve(std::io::Error),
}

/// A `--min-time`/`--max-time` value: RFC 3339 or a (signed) duration
/// from now, as Thanos's `model.TimeOrDurationValue`.
pub fn parse_time_bound(s: &str) -> Result<TimeBound, String> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1i64, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    if let Ok(d) = argus_model::duration::parse_duration_ms(rest) {
        let ms = i64::try_from(d).map_err(|_| format!("duration {s:?} is too long"))?;
        return Ok(TimeBound::Relative(sign * ms));
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?} is neither RFC 3339 nor a duration: {e}"))?;
    Ok(TimeBound::Absolute(t.timestamp_millis()))
}

struct Describe(BucketStore);

impl DescribeStore for Describe {
    fn describe(&self) -> StoreDescription {
        let info = self.0.info();
        StoreDescription {
            component: Component::Store,
            label_sets: info.label_sets,
            min_time: info.min_time,
            max_time: info.max_time,
        }
    }
}

/// The store's counters as metrics.
#[derive(Debug)]
struct StoreCollector(BucketStore);

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

impl Collector for StoreCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        gauge(
            &mut e,
            "argus_store_blocks_loaded",
            "Blocks served.",
            s.blocks_loaded() as f64,
        )?;
        gauge(
            &mut e,
            "argus_store_blocks_failed",
            "Blocks left out because they do not read.",
            s.blocks_failed() as f64,
        )?;
        counter(
            &mut e,
            "argus_store_bucket_fetched_bytes",
            "Bytes read from the bucket.",
            s.fetched_bytes(),
        )?;
        counter(
            &mut e,
            "argus_store_bucket_get_requests",
            "Ranged GETs sent to the bucket.",
            s.get_requests(),
        )?;
        counter(
            &mut e,
            "argus_store_cache_hits",
            "Reads answered by the cache.",
            s.cache_hits(),
        )?;
        counter(
            &mut e,
            "argus_store_cache_misses",
            "Reads that went to the bucket.",
            s.cache_misses(),
        )?;
        counter(
            &mut e,
            "argus_store_cache_evictions",
            "Cache entries evicted to stay in bounds.",
            s.cache_evictions(),
        )?;
        gauge(
            &mut e,
            "argus_store_cache_bytes",
            "Bytes held by the cache.",
            s.cache_bytes() as f64,
        )?;
        counter(&mut e, "argus_store_syncs", "Bucket syncs.", s.syncs())?;
        counter(
            &mut e,
            "argus_store_sync_failures",
            "Bucket syncs that failed.",
            s.sync_failures(),
        )?;
        Ok(())
    }
}

struct Http {
    registry: Registry,
    ready: std::sync::atomic::AtomicBool,
}

fn router(state: Arc<Http>) -> Router {
    Router::new()
        .route("/-/healthy", get(|| async { "Argus Store is Healthy.\n" }))
        .route(
            "/-/ready",
            get(|State(st): State<Arc<Http>>| async move {
                if st.ready.load(std::sync::atomic::Ordering::Acquire) {
                    (StatusCode::OK, "Argus Store is Ready.\n")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Argus Store is not ready.\n",
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(st): State<Arc<Http>>| async move {
                let mut out = String::new();
                match prometheus_client::encoding::text::encode(&mut out, &st.registry) {
                    Ok(()) => (
                        StatusCode::OK,
                        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                        out,
                    ),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [("content-type", "text/plain; charset=utf-8")],
                        e.to_string(),
                    ),
                }
            }),
        )
        .with_state(state)
}

async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// Runs the store gateway until `shutdown` resolves.
pub async fn run(
    args: StoreArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StoreRoleError> {
    let flag = |flag: &'static str| move |message: String| StoreRoleError::Flag { flag, message };
    let sync_every = argus_model::duration::parse_duration(&args.sync_interval)
        .map_err(|e| flag("sync-interval")(e.to_string()))?
        .max(Duration::from_millis(100));
    let cache_bytes = argus_model::bytesize::parse_byte_size(&args.cache_size)
        .map_err(|e| flag("cache.size")(e.to_string()))?;
    let selector_relabel = match (
        &args.selector_relabel_config,
        &args.selector_relabel_config_file,
    ) {
        (Some(text), _) => {
            argus_config::prometheus::parse_relabel_configs(text, "--selector.relabel-config")
                .map_err(|e| flag("selector.relabel-config")(e.to_string()))?
        }
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                flag("selector.relabel-config-file")(format!("{}: {e}", file.display()))
            })?;
            argus_config::prometheus::parse_relabel_configs(&text, &file.display().to_string())
                .map_err(|e| flag("selector.relabel-config-file")(e.to_string()))?
        }
        (None, None) => Vec::new(),
    };
    let ignore_deletion_marks_delay =
        argus_model::duration::parse_duration(&args.ignore_deletion_marks_delay)
            .map_err(|e| flag("ignore-deletion-marks-delay")(e.to_string()))?;
    let opts = BucketStoreOptions {
        selector_relabel,
        ignore_deletion_marks_delay,
        cache_bytes: usize::try_from(cache_bytes).unwrap_or(usize::MAX),
        min_time: parse_time_bound(&args.min_time).map_err(flag("min-time"))?,
        max_time: parse_time_bound(&args.max_time).map_err(flag("max-time"))?,
        max_series: args.max_series,
        max_chunk_bytes: args.max_chunk_bytes,
        ..BucketStoreOptions::default()
    };
    let file = args.objstore_config.display().to_string();
    let bucket_err = |message: String| StoreRoleError::Bucket {
        file: file.clone(),
        message,
    };
    let cfg = argus_config::bucket::load_bucket_config(&args.objstore_config)
        .map_err(|e| bucket_err(e.to_string()))?;
    let bucket = argus_block::Bucket::from_config(&cfg).map_err(|e| bucket_err(e.to_string()))?;
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| flag("data-dir")(format!("{}: {e}", args.data_dir.display())))?;

    let http = tokio::net::TcpListener::bind(&args.http_address)
        .await
        .map_err(|error| StoreRoleError::Listen {
            addr: args.http_address.clone(),
            error,
        })?;
    let grpc = argus_storeapi::server::bind(&args.grpc_address)
        .await
        .map_err(|error| StoreRoleError::Listen {
            addr: args.grpc_address.clone(),
            error,
        })?;

    let store = BucketStore::new(bucket, opts, tokio::runtime::Handle::current());
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StoreCollector(store.clone())));
    let state = Arc::new(Http {
        registry,
        ready: std::sync::atomic::AtomicBool::new(false),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
    }
    let syncer = {
        let (store, state) = (store.clone(), state.clone());
        tokio::spawn(
            store
                .clone()
                .sync_loop(sync_every, stop_rx.clone(), move |_| {
                    state
                        .ready
                        .store(true, std::sync::atomic::Ordering::Release)
                }),
        )
    };
    let service = StoreService::new(
        Arc::new(store.clone()),
        Arc::new(Describe(store.clone())),
        ServeOptions {
            limits: ReadLimits::default(),
            max_recv_message_bytes: args.max_recv_message_bytes,
            max_send_message_bytes: args.max_send_message_bytes,
        },
    );
    let grpc_task = {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = service
                .serve(grpc, async move { stopped(&mut stop).await })
                .await
            {
                tracing::error!(error = %e, "store api server failed");
            }
        })
    };
    tracing::info!(http = %args.http_address, grpc = %args.grpc_address, "store gateway started");
    let mut stop = stop_rx.clone();
    let served = axum::serve(http, router(state))
        .with_graceful_shutdown(async move { stopped(&mut stop).await })
        .await
        .map_err(StoreRoleError::Serve);
    let _ = stop_tx.send(true);
    let _ = syncer.await;
    let _ = grpc_task.await;
    served
}
