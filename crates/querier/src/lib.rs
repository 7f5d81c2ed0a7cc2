//! `argus query`: the global query endpoint. The Prometheus HTTP API and
//! PromQL engine of `argus server` over every StoreAPI endpoint it is
//! given, merged and deduplicated ([`fanout`], [`dedup`]); it serves the
//! StoreAPI itself, so queriers stack.

pub mod dedup;
pub mod fanout;
mod stores_api;

use std::sync::Arc;
use std::time::Duration;

use argus_http_api::{ApiOptions, ApiState, BuildInfo, ChooseStorage, StoreChoice};
use argus_model::duration::parse_duration;
use argus_model::storage::Queryable;
use argus_promql::{Engine, EngineOptions};
use argus_storeapi::client::ClientOptions;
use argus_storeapi::server::{
    Component, DescribeStore, ServeOptions, StoreDescription, StoreService,
};

pub use fanout::{Endpoint, EndpointStatus, Fanout, FanoutOptions, FanoutView};

/// The flags of `argus query` (Thanos's names where it has them).
#[derive(Debug, Clone, clap::Args)]
pub struct QuerierArgs {
    /// Listen address of the HTTP API.
    #[arg(
        long = "http-address",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:10902"
    )]
    pub http_address: String,
    /// Listen address of the StoreAPI this querier serves (unset: none).
    #[arg(long = "grpc-address", value_name = "HOST:PORT")]
    pub grpc_address: Option<String>,
    /// A StoreAPI endpoint to query (repeatable).
    #[arg(long = "endpoint", value_name = "HOST:PORT")]
    pub endpoints: Vec<String>,
    /// A label telling HA replicas apart; series that differ only in
    /// these are merged (repeatable).
    #[arg(long = "query.replica-label", value_name = "NAME")]
    pub replica_labels: Vec<String>,
    /// Answer with a warning when some stores fail (a request can turn
    /// it off with partial_response=false).
    #[arg(long = "query.partial-response", default_value_t = true, action = clap::ArgAction::Set)]
    pub partial_response: bool,
    /// Longest a query may run.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    pub query_timeout: String,
    /// How far back an instant selector looks for a sample.
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub lookback_delta: String,
    /// Samples one query may hold in memory at once.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub max_samples: usize,
    /// Queries evaluated at once.
    #[arg(long = "query.max-concurrent", value_name = "N", default_value_t = 20)]
    pub max_concurrency: usize,
    /// Longest one store may take to answer; past it the store is left
    /// out (a warning under partial response). 0: the query timeout.
    #[arg(
        long = "store.response-timeout",
        value_name = "DURATION",
        default_value = "0s"
    )]
    pub store_response_timeout: String,
    /// How often the endpoints' Info is asked.
    #[arg(
        long = "store.info-interval",
        value_name = "DURATION",
        default_value = "5s"
    )]
    pub info_interval: String,
    /// Largest message accepted from a store (one series), bytes.
    #[arg(long = "store.grpc.max-recv-message-size", value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_recv_message_bytes: usize,
    /// Largest request accepted by the served StoreAPI, bytes.
    #[arg(long = "grpc.max-recv-message-size", value_name = "BYTES", default_value_t = 4 << 20)]
    pub grpc_max_recv_message_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum QuerierError {
    #[error("invalid flag --{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("listening on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("serving http: {0}")]
    Serve(std::io::Error),
    #[error("serving grpc: {0}")]
    Grpc(tonic::transport::Error),
    #[error("endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
}

fn duration_flag(flag: &'static str, value: &str) -> Result<Duration, QuerierError> {
    parse_duration(value).map_err(|e| QuerierError::Flag {
        flag,
        message: e.to_string(),
    })
}

/// Picks the fan-out view of each request.
struct Chooser {
    fanout: Arc<Fanout>,
}

impl ChooseStorage for Chooser {
    fn storage(&self, choice: &StoreChoice) -> Arc<dyn Queryable> {
        let partial = choice
            .partial_response
            .unwrap_or(self.fanout.options().partial_response);
        Arc::new(self.fanout.view(choice.dedup, partial))
    }
}

/// The querier's own `Info`: everything its stores hold.
struct DescribeFanout(Arc<Fanout>);

impl DescribeStore for DescribeFanout {
    fn describe(&self) -> StoreDescription {
        let (label_sets, min_time, max_time) = self.0.describe();
        StoreDescription {
            component: Component::Query,
            label_sets,
            min_time,
            max_time,
        }
    }
}

/// Completes once `stop` turns true (the guard it returns is not held).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// Runs the querier until `shutdown` resolves.
pub async fn run(
    args: QuerierArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), QuerierError> {
    let query_timeout = duration_flag("query.timeout", &args.query_timeout)?;
    let lookback = duration_flag("query.lookback-delta", &args.lookback_delta)?;
    let store_timeout = match duration_flag("store.response-timeout", &args.store_response_timeout)?
    {
        d if d.is_zero() => query_timeout,
        d => d,
    };
    let info_interval =
        duration_flag("store.info-interval", &args.info_interval)?.max(Duration::from_millis(100));
    let runtime = tokio::runtime::Handle::current();
    let client = ClientOptions {
        request_timeout: store_timeout,
        max_recv_message_bytes: args.max_recv_message_bytes,
        ..ClientOptions::default()
    };
    let mut endpoints = Vec::new();
    for addr in &args.endpoints {
        let e = Endpoint::remote(addr, runtime.clone(), client.clone()).map_err(|e| {
            QuerierError::Endpoint {
                endpoint: addr.clone(),
                message: e.to_string(),
            }
        })?;
        endpoints.push(Arc::new(e));
    }
    let fanout = Fanout::new(
        endpoints,
        FanoutOptions {
            replica_labels: args.replica_labels.clone(),
            partial_response: args.partial_response,
        },
    );
    tracing::info!(
        endpoints = args.endpoints.len(),
        replica_labels = %args.replica_labels.join(","),
        "starting argus query"
    );
    // The first answers before serving, so the first queries are pruned.
    fanout.refresh(Duration::from_secs(2)).await;

    let http = tokio::net::TcpListener::bind(&args.http_address)
        .await
        .map_err(|error| QuerierError::Listen {
            addr: args.http_address.clone(),
            error,
        })?;
    let grpc =
        match &args.grpc_address {
            Some(a) => Some(argus_storeapi::server::bind(a).await.map_err(|error| {
                QuerierError::Listen {
                    addr: a.clone(),
                    error,
                }
            })?),
            None => None,
        };

    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX),
        max_samples: args.max_samples,
        ..EngineOptions::default()
    });
    let default_view: Arc<dyn Queryable> = Arc::new(fanout.view(true, args.partial_response));
    let mut opts = ApiOptions::new(default_view, engine);
    opts.store_choice = Some(Arc::new(Chooser {
        fanout: fanout.clone(),
    }));
    opts.query_timeout = query_timeout;
    opts.max_concurrency = args.max_concurrency;
    opts.build_info = BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..BuildInfo::default()
    };
    opts.storage_retention = "0s".to_string();
    let state = ApiState::new(opts);
    let app = argus_http_api::router(state.clone()).merge(stores_api::router(fanout.clone()));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
    }
    let refresher = {
        let fanout = fanout.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(info_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => fanout.refresh(info_interval.max(Duration::from_secs(1))).await,
                    _ = stopped(&mut stop) => return,
                }
            }
        })
    };
    let grpc_task = grpc.map(|listener| {
        let service = StoreService::new(
            Arc::new(fanout.view(false, args.partial_response)),
            Arc::new(DescribeFanout(fanout.clone())),
            ServeOptions {
                max_recv_message_bytes: args.grpc_max_recv_message_bytes,
                ..ServeOptions::default()
            },
        )
        .with_strict(Arc::new(fanout.view(false, false)));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            service
                .serve(listener, async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await
        })
    });

    state.set_ready(true);
    tracing::info!(address = %args.http_address, "querier is ready to receive web requests");
    let mut stop = stop_rx.clone();
    let served = axum::serve(argus_http_api::conn::LenientListener(http), app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .await
        .map_err(QuerierError::Serve);
    let _ = stop_tx.send(true);
    let _ = refresher.await;
    if let Some(t) = grpc_task
        && let Ok(Err(e)) = t.await
    {
        return Err(QuerierError::Grpc(e));
    }
    served
}
