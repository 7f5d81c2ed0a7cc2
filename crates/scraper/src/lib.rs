//! `argus scraper`: the scraping, remote-write receiving and TSDB of
//! `argus server` without its query API, plus what makes it a cluster
//! member (Thanos's sidecar): the StoreAPI over the head and the local
//! blocks, with `global.external_labels` attached, and shipping of sealed
//! blocks to object storage. It runs `argus server`'s pipeline, so both
//! scrape and store alike.

use std::future::Future;
use std::path::PathBuf;

use argus_model::storage::ReadLimits;
use argus_server::{GlobalFlags, ServerArgs, ServerConfig, ServerError, SidecarOptions};
use argus_storeapi::server::ServeOptions;
use clap::Parser;

/// The flags of `argus scraper`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScraperArgs {
    /// Prometheus configuration file (scrape configs, external labels).
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "prometheus.yml"
    )]
    pub config_file: PathBuf,
    /// Directory of the local TSDB (WAL, head, blocks not yet past
    /// retention).
    #[arg(
        long = "storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    pub storage_path: PathBuf,
    /// Object storage config file (Thanos objstore.yml shape) sealed
    /// blocks are shipped to; without it nothing is shipped.
    #[arg(long = "objstore.config-file", value_name = "FILE")]
    pub objstore_config: Option<PathBuf>,
    /// Listen address of the StoreAPI (gRPC).
    #[arg(
        long = "grpc-address",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:10901"
    )]
    pub grpc_address: String,
    /// Listen address of /metrics, /-/healthy, /-/ready, /-/reload and
    /// /api/v1/targets.
    #[arg(
        long = "http-address",
        value_name = "HOST:PORT",
        default_value = "0.0.0.0:10902"
    )]
    pub http_address: String,
    /// Width of the blocks sealed from the head.
    #[arg(
        long = "storage.tsdb.block-duration",
        value_name = "DURATION",
        default_value = "2h"
    )]
    pub block_duration: String,
    /// How long local blocks are kept; a block not yet shipped is kept
    /// until it is.
    #[arg(
        long = "storage.tsdb.retention.time",
        value_name = "DURATION",
        default_value = "6h"
    )]
    pub retention_time: String,
    /// When the WAL is synced: `always` or an interval such as `1s`.
    #[arg(
        long = "storage.tsdb.wal-fsync",
        value_name = "WHEN",
        default_value = "1s"
    )]
    pub wal_fsync: String,
    /// Accept remote write at /api/v1/write.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,
    /// Series one StoreAPI Series call may return (0: no limit).
    #[arg(
        long = "store.limits.request-series",
        value_name = "N",
        default_value_t = 0
    )]
    pub max_series: usize,
    /// Samples one StoreAPI Series call may return (0: no limit).
    #[arg(
        long = "store.limits.request-samples",
        value_name = "N",
        default_value_t = 0
    )]
    pub max_samples: usize,
    /// Largest StoreAPI request accepted, bytes.
    #[arg(long = "grpc.max-recv-message-size", value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_recv_message_bytes: usize,
    /// Largest StoreAPI response message (one series), bytes.
    #[arg(long = "grpc.max-send-message-size", value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_send_message_bytes: usize,
}

/// The server's flags with their defaults, to start from.
#[derive(clap::Parser)]
struct ServerDefaults {
    #[command(flatten)]
    args: ServerArgs,
}

/// The server pipeline's configuration for these flags.
pub fn server_config(args: &ScraperArgs, global: GlobalFlags) -> Result<ServerConfig, ServerError> {
    let mut server = ServerDefaults::try_parse_from(["argus-scraper"])
        .map_err(|e| ServerError::Internal(format!("server defaults: {e}")))?
        .args;
    server.config_file = args.config_file.clone();
    server.storage_path = args.storage_path.clone();
    server.retention_time = Some(args.retention_time.clone());
    server.min_block_duration = args.block_duration.clone();
    server.wal_fsync = args.wal_fsync.clone();
    server.listen_address = args.http_address.clone();
    server.enable_remote_write_receiver = args.enable_remote_write_receiver;
    // `/-/reload` is part of a scraper's API.
    server.enable_lifecycle = true;
    Ok(ServerConfig {
        args: server,
        global,
        sidecar: Some(SidecarOptions {
            grpc_address: args.grpc_address.clone(),
            serve: ServeOptions {
                limits: ReadLimits {
                    max_series: args.max_series,
                    max_samples: args.max_samples,
                    max_chunk_bytes: 0,
                },
                max_recv_message_bytes: args.max_recv_message_bytes,
                max_send_message_bytes: args.max_send_message_bytes,
            },
            objstore_config: args.objstore_config.clone(),
        }),
    })
}

/// Runs the scraper until `shutdown` resolves.
pub async fn run(
    args: ScraperArgs,
    global: GlobalFlags,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    argus_server::run(server_config(&args, global)?, shutdown).await
}
