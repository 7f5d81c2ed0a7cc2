//! The `argus` binary: one subcommand per role. Wiring only; the logic lives
//! in the library crates.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

mod logging;

#[derive(Parser)]
#[command(
    name = "argus",
    version,
    about = "A horizontally scalable, Prometheus-compatible metrics system"
)]
struct Cli {
    /// Only log messages of this level or above: debug, info, warn, error.
    #[arg(
        long = "log.level",
        global = true,
        value_name = "LEVEL",
        default_value = "info"
    )]
    log_level: String,
    /// Output format of log messages: logfmt or json.
    #[arg(
        long = "log.format",
        global = true,
        value_name = "FORMAT",
        default_value = "logfmt"
    )]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: TSDB, PromQL and the Prometheus HTTP API
    /// (a drop-in for `prometheus`).
    Server(Box<argus_server::ServerArgs>),
    /// Scraping into a local TSDB that serves the StoreAPI and ships
    /// sealed blocks to object storage (Thanos's sidecar role).
    Scraper(Box<argus_scraper::ScraperArgs>),
    /// The store gateway: the StoreAPI over every block in a bucket.
    Store(Box<argus_store_gateway::role::StoreArgs>),
    /// The global query endpoint: the Prometheus HTTP API over StoreAPI
    /// endpoints, merged and deduplicated across HA replicas.
    Query(Box<argus_querier::QuerierArgs>),
    /// Operator tools.
    Tools {
        #[command(subcommand)]
        tool: Tool,
    },
}

#[derive(Subcommand)]
enum Tool {
    /// Import data from other formats into blocks.
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
    /// Look at the blocks in a storage directory or a bucket.
    Bucket {
        #[command(subcommand)]
        cmd: BucketCmd,
    },
    /// Run PromQL test scripts (the upstream promqltest format) against
    /// the engine; exits non-zero when a case fails.
    Promqltest(PromqltestArgs),
}

#[derive(Args)]
struct PromqltestArgs {
    /// Test script files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// List every failed and skipped case with its reason.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Subcommand)]
enum ImportFormat {
    /// Backfill OpenMetrics text (timestamps in seconds, `# EOF` required)
    /// into 2h-aligned blocks in DIR, like `promtool tsdb
    /// create-blocks-from openmetrics`.
    Openmetrics(ImportArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// OpenMetrics input file.
    file: PathBuf,
    /// Output directory; `argus server --storage.tsdb.path DIR` serves it.
    dir: PathBuf,
    /// Width of the blocks written, a Prometheus duration.
    #[arg(long = "block-duration", default_value = "2h")]
    block_duration: String,
    /// Do not print progress.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum BucketCmd {
    /// One row per block: ULID, time range, series, samples, chunks, bytes.
    Inspect(InspectArgs),
}

#[derive(Args)]
struct InspectArgs {
    /// A local storage directory to inspect.
    #[arg(long = "storage.tsdb.path", conflicts_with = "objstore_config")]
    storage_path: Option<PathBuf>,
    /// An object storage config file (Thanos objstore.yml shape).
    #[arg(long = "objstore.config-file")]
    objstore_config: Option<PathBuf>,
}

fn main() -> ExitCode {
    argus_server::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    logging::init(&cli.log_level, cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server(
            args,
            argus_server::GlobalFlags {
                log_level: cli.log_level,
                log_format: cli.log_format.name().to_string(),
            },
        ),
        Command::Scraper(args) => runtime("argus-scraper")?.block_on_role(argus_scraper::run(
            *args,
            argus_server::GlobalFlags {
                log_level: cli.log_level,
                log_format: cli.log_format.name().to_string(),
            },
            argus_server::shutdown_signal(),
        )),
        Command::Store(args) => runtime("argus-store")?.block_on_role(
            argus_store_gateway::role::run(*args, argus_server::shutdown_signal()),
        ),
        Command::Query(args) => runtime("argus-query")?
            .block_on_role(argus_querier::run(*args, argus_server::shutdown_signal())),
        Command::Tools { tool } => match tool {
            Tool::Import {
                format: ImportFormat::Openmetrics(args),
            } => import(args),
            Tool::Bucket {
                cmd: BucketCmd::Inspect(args),
            } => inspect(args),
            Tool::Promqltest(args) => promqltest(args),
        },
    }
}

fn promqltest(args: PromqltestArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (_, failed) = argus_tools::promqltest::run_cli(&args.files, args.verbose, &mut out)?;
    if failed > 0 {
        anyhow::bail!("{failed} promqltest cases failed");
    }
    Ok(())
}

fn server(
    args: Box<argus_server::ServerArgs>,
    global: argus_server::GlobalFlags,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("argus-server")
        .build()?;
    let config = argus_server::ServerConfig {
        args: *args,
        global,
        sidecar: None,
    };
    let result = rt.block_on(argus_server::run(config, argus_server::shutdown_signal()));
    // Queries still running past the drain were cancelled; do not wait on
    // them forever.
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    Ok(result?)
}

/// A runtime for a role; roles stop on their own after the shutdown
/// signal, then work left over gets a bounded time.
struct RoleRuntime(tokio::runtime::Runtime);

fn runtime(name: &str) -> anyhow::Result<RoleRuntime> {
    Ok(RoleRuntime(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(name)
            .build()?,
    ))
}

impl RoleRuntime {
    fn block_on_role<E: std::error::Error + Send + Sync + 'static>(
        self,
        role: impl std::future::Future<Output = Result<(), E>>,
    ) -> anyhow::Result<()> {
        let result = self.0.block_on(role);
        self.0.shutdown_timeout(std::time::Duration::from_secs(10));
        Ok(result?)
    }
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    let block = argus_model::duration::parse_duration_ms(&args.block_duration)
        .with_context(|| format!("--block-duration {:?}", args.block_duration))?;
    anyhow::ensure!(block > 0, "--block-duration must be positive");
    let opts = argus_tools::ImportOptions {
        block_duration_ms: i64::try_from(block).context("--block-duration is too large")?,
        progress: !args.quiet,
        ..Default::default()
    };
    let s = argus_tools::import_openmetrics(&args.file, &args.dir, &opts)?;
    let secs = (s.parse_time + s.write_time).as_secs_f64();
    println!(
        "imported {} samples of {} series into {} blocks in {:.2}s ({:.0} samples/s)",
        s.samples,
        s.series,
        s.blocks.len(),
        secs,
        s.samples as f64 / secs.max(1e-9)
    );
    for b in &s.blocks {
        println!(
            "  {}  {} .. {}",
            b.ulid,
            argus_model::time::format_rfc3339(b.min_time),
            argus_model::time::format_rfc3339(b.max_time)
        );
    }
    Ok(())
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let rows = match (args.storage_path, args.objstore_config) {
        // The error names the path and says what is wrong with it; its
        // source would repeat that under `{:#}`.
        (Some(dir), None) => {
            argus_tools::inspect::local_rows(&dir).map_err(|e| anyhow::anyhow!("{e}"))?
        }
        (None, Some(cfg)) => {
            let config = argus_config::bucket::load_bucket_config(&cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let bucket = argus_block::objstore::Bucket::from_config(&config)?;
                argus_tools::inspect::bucket_rows(&bucket).await
            })?
        }
        _ => anyhow::bail!("give one of --storage.tsdb.path or --objstore.config-file"),
    };
    print!("{}", argus_tools::inspect::render_table(&rows));
    Ok(())
}
