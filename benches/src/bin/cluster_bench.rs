//! Cluster benchmark: the distributed read path against a single node and
//! against Thanos, with query-bench's data and queries
//! (`argus_benches::dataset`), median latencies in markdown tables.
//!
//! (a) Fan-out with dedup vs single node. The blocks of one
//! `argus tools import` are served by `argus server`, then (with the server
//! stopped) by `argus query --query.replica-label=replica` over three
//! `argus scraper`s, each on its own copy of the blocks with
//! `external_labels: {replica: a|b|c}` and no scrape configs: three HA
//! replicas holding the same data, all on local disk, so the difference is
//! the StoreAPI, the fan-out and the dedup (not object storage). The `same`
//! column compares the deduplicated answer with the server's
//! (`argus_tests::differential::compare`, tolerance 1e-9).
//!
//! (b) Argus vs Thanos on a bucket. promtool's Prometheus blocks
//! (`tsdb create-blocks-from openmetrics`) and Argus's blocks are uploaded
//! to two buckets of one MinIO through the S3 API (`mc cp --recursive`);
//! `thanos store` + `thanos query` are measured, stopped, then
//! `argus store` + `argus query` (one system at a time, MinIO up
//! throughout; both store gateways on their default caches). The store
//! gateways' VmRSS is read after the queries. Answers are compared with
//! Thanos's, annotations left out (its engine is an older Prometheus fork):
//! the cell counts the differences `compare` reports (one per series whose
//! value or points differ, one per side for series missing on the other);
//! Argus's are also checked against the single node's.
//!
//! Each query runs as an instant query at the end of the data and as a 6h
//! range query at 60s steps: one warm-up, then the median wall time of
//! `BENCH_RUNS` (default 5) requests, body read in full.
//!
//! Environment: `BENCH_INSTANCES` (default 40 → 10,640 series, 15.3M
//! samples; 266 series per instance), `BENCH_RUNS` (default 5),
//! `BENCH_BREAKDOWN=1` (two more columns in (a) to see where the time goes:
//! the querier over one replica, and over three with `dedup=false`; the
//! latter fails `group_left` with HTTP 422, three copies of each info
//! series being duplicates, and that shows as ERR), `BENCH_WORK_DIR` (keep
//! the data, blocks and logs in its `cluster-bench` directory, emptied at
//! the start, instead of a temporary directory).
//! Run: `benches/run-cluster.sh`. Every wait is bounded; everything listens
//! on 127.0.0.1 and is killed on exit.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use argus_benches::dataset::{END, HOURS, STEP, measure, requests, short, write_openmetrics};
use argus_benches::{dir_bytes, pid_peak_rss_bytes, pid_rss_bytes};
use argus_tests::differential::{
    MINIMAL_CONFIG, argus_command, compare, free_port, http_get, run_backfill, urlencode,
};
use argus_tests::e2e::Daemon;
use argus_tests::minio::Minio;
use argus_tests::peers::{find_peer_bin, peer_version};
use serde_json::Value;

const REPLICAS: [&str; 3] = ["a", "b", "c"];
const READY_TIMEOUT: Duration = Duration::from_secs(120);

type Column = Vec<Result<(f64, String), String>>;

/// A role's process: HTTP on `daemon.port`, StoreAPI on `grpc`.
struct Role {
    daemon: Daemon,
    grpc: u16,
}

impl Role {
    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.grpc)
    }
}

/// Starts `cmd` (given its HTTP and gRPC ports) and waits for `/-/ready`.
fn start_role(w: &Path, name: &str, cmd: impl FnOnce(u16, u16) -> Command) -> Result<Role, String> {
    let (http, grpc) = (free_port(), free_port());
    let mut daemon = Daemon::start(name, cmd(http, grpc), http, &w.join(format!("{name}.log")))?;
    daemon.ready("/-/ready", READY_TIMEOUT)?;
    Ok(Role { daemon, grpc })
}

fn addr(port: u16) -> String {
    format!("--http-address=127.0.0.1:{port}")
}

fn grpc_addr(port: u16) -> String {
    format!("--grpc-address=127.0.0.1:{port}")
}

fn argus_scraper(argus: &Path, w: &Path, replica: &str, data: &Path) -> Result<Role, String> {
    let config = w.join(format!("scraper-{replica}.yml"));
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 15s\n  external_labels: {{replica: {replica}}}\nscrape_configs: []\n"
        ),
    )
    .map_err(|e| format!("{}: {e}", config.display()))?;
    start_role(w, &format!("scraper-{replica}"), |http, grpc| {
        let mut c = Command::new(argus);
        c.arg("scraper")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            // The data is from 2023: the default 6h would delete it.
            .arg("--storage.tsdb.retention.time=100y")
            .arg(addr(http))
            .arg(grpc_addr(grpc));
        c
    })
}

fn argus_query(
    argus: &Path,
    w: &Path,
    endpoints: &[String],
    extra: &[&str],
) -> Result<Role, String> {
    start_role(w, "argus-query", |http, grpc| {
        let mut c = Command::new(argus);
        c.arg("query")
            .arg(addr(http))
            .arg(grpc_addr(grpc))
            .arg("--store.info-interval=1s");
        for e in endpoints {
            c.arg(format!("--endpoint={e}"));
        }
        c.args(extra);
        c
    })
}

fn argus_store(argus: &Path, w: &Path, objstore: &Path) -> Result<Role, String> {
    start_role(w, "argus-store", |http, grpc| {
        let mut c = Command::new(argus);
        c.arg("store")
            .arg(format!("--objstore.config-file={}", objstore.display()))
            .arg(format!(
                "--data-dir={}",
                w.join("argus-store-cache").display()
            ))
            .arg(addr(http))
            .arg(grpc_addr(grpc));
        c
    })
}

fn thanos_store(thanos: &Path, w: &Path, objstore: &Path) -> Result<Role, String> {
    start_role(w, "thanos-store", |http, grpc| {
        let mut c = Command::new(thanos);
        c.arg("store")
            .arg(format!("--objstore.config-file={}", objstore.display()))
            .arg(format!(
                "--data-dir={}",
                w.join("thanos-store-data").display()
            ))
            .arg(addr(http))
            .arg(grpc_addr(grpc));
        c
    })
}

fn thanos_query(thanos: &Path, w: &Path, endpoints: &[String]) -> Result<Role, String> {
    start_role(w, "thanos-query", |http, grpc| {
        let mut c = Command::new(thanos);
        c.arg("query").arg(addr(http)).arg(grpc_addr(grpc));
        for e in endpoints {
            c.arg(format!("--endpoint={e}"));
        }
        c
    })
}

/// Waits until `count` of every bench series at the end of the data is
/// `want` on `port` (the querier knows its stores and they serve the
/// blocks); `extra` is appended to the query string.
fn wait_for_series(port: u16, want: usize, extra: &str) -> Result<(), String> {
    let probe = format!(
        "/api/v1/query?query={}&time={END}{extra}",
        urlencode("count({__name__=~\"bench_.*\"})")
    );
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let n = http_get(port, &probe, Duration::from_secs(30))
            .ok()
            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
            .and_then(|v| {
                v.pointer("/data/result/0/value/1")
                    .and_then(Value::as_str)
                    .and_then(|x| argus_model::strconv::parse_float(x).ok())
            })
            .unwrap_or(0.0);
        if n as usize == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{n} of {want} series visible after {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn run_all(port: u16, runs: usize) -> Column {
    run_all_with(port, runs, "")
}

/// [`run_all`] with `extra` appended to every query string.
fn run_all_with(port: u16, runs: usize, extra: &str) -> Column {
    requests()
        .iter()
        .map(|(_, _, path)| measure(port, &format!("{path}{extra}"), runs))
        .collect()
}

fn err_column(e: &str) -> Column {
    requests().iter().map(|_| Err(e.to_string())).collect()
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("exe dir")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `cp -r from to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let st = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cp -r {} exited {st}", from.display()))
    }
}

/// The block directories (those with a `meta.json`) under `dir`.
fn blocks(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("meta.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Uploads the blocks of `dir` into `bucket` through the S3 API; returns
/// the bucket's size in bytes as `mc du` reports it.
fn upload(minio: &Minio, dir: &Path, bucket: &str) -> Result<u64, String> {
    let found = blocks(dir);
    if found.is_empty() {
        return Err(format!("no blocks in {}", dir.display()));
    }
    minio.create_bucket(bucket);
    for b in &found {
        let name = b
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("block name {}", b.display()))?;
        minio.mc(&[
            "cp",
            "--recursive",
            "--quiet",
            &format!("{}/", b.display()),
            &format!("local/{bucket}/{name}/"),
        ]);
    }
    let du = minio.mc(&["du", "--json", &format!("local/{bucket}")]);
    du.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("size").and_then(Value::as_u64))
        .ok_or_else(|| format!("mc du answered {du}"))
}

fn objstore_file(w: &Path, minio: &Minio, bucket: &str) -> Result<PathBuf, String> {
    let path = w.join(format!("{bucket}-objstore.yml"));
    std::fs::write(&path, minio.objstore_yaml(bucket))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn parse(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

/// An answer without its annotations (Thanos words warnings differently).
fn without_annotations(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("warnings");
        o.remove("infos");
    }
    v
}

/// "yes", or "NO (n): first difference".
fn same_cell(reference: &str, got: &str, annotations: bool) -> String {
    match (parse(reference), parse(got)) {
        (Some(r), Some(g)) => {
            let (r, g) = if annotations {
                (r, g)
            } else {
                (without_annotations(r), without_annotations(g))
            };
            let d = compare(&r, &g, false);
            match d.first() {
                None => "yes".to_string(),
                Some(first) => format!(
                    "NO ({}): {}",
                    d.len(),
                    short(first).trim_start_matches("ERR ")
                ),
            }
        }
        _ => "unparsable".to_string(),
    }
}

fn ms_cell(c: &Column, i: usize) -> String {
    match &c[i] {
        Ok((ms, _)) => format!("{ms:.1}"),
        Err(e) => short(e),
    }
}

fn geomean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn verdict(value: Option<f64>, target: f64) -> String {
    match value {
        Some(v) if v <= target => format!("{v:.2}× (target ≤ {target}×: met)"),
        Some(v) => format!("{v:.2}× (target ≤ {target}×: MISSED)"),
        None => format!("- (target ≤ {target}×: not measured)"),
    }
}

/// Process memory after the queries: (VmRSS, VmHWM).
fn rss(d: &Daemon) -> (Option<u64>, Option<u64>) {
    (pid_rss_bytes(d.pid()), pid_peak_rss_bytes(d.pid()))
}

fn fmt_rss(r: (Option<u64>, Option<u64>)) -> String {
    match r {
        (Some(now), Some(peak)) => format!("{} (peak {})", mib(now), mib(peak)),
        (Some(now), None) => mib(now),
        _ => "-".to_string(),
    }
}

/// Part (a): the single node, then the three replicas behind the querier.
struct FanOut {
    server: Column,
    query: Column,
    /// `BENCH_BREAKDOWN`: the querier over one replica, and over the three
    /// without dedup (`dedup=false`: three times the series to the engine).
    one: Option<Column>,
    raw: Option<Column>,
    notes: Vec<String>,
}

fn fan_out(
    argus: &Path,
    imported: &Path,
    w: &Path,
    series: usize,
    runs: usize,
    breakdown: bool,
) -> FanOut {
    let mut notes = Vec::new();
    let config = w.join("server.yml");
    let server = std::fs::write(&config, MINIMAL_CONFIG)
        .map_err(|e| format!("{}: {e}", config.display()))
        .and_then(|()| copy_dir(imported, &w.join("server-data")))
        .and_then(|()| {
            let port = free_port();
            let cmd = argus_command(argus, &w.join("server-data"), &config, port);
            let mut s = Daemon::start("argus-server", cmd, port, &w.join("argus-server.log"))?;
            s.ready("/-/ready", READY_TIMEOUT)?;
            wait_for_series(port, series, "")?;
            Ok(s)
        });
    let server = match server {
        Ok(s) => {
            eprintln!("(a) measuring argus server");
            let col = run_all(s.port, runs);
            notes.push(format!("argus server RSS {}", fmt_rss(rss(&s))));
            col
        }
        Err(e) => err_column(&e),
    };

    let cluster = (|| -> Result<(Vec<Role>, Role), String> {
        let mut scrapers = Vec::new();
        for r in REPLICAS {
            let data = w.join(format!("replica-{r}"));
            copy_dir(imported, &data)?;
            scrapers.push(argus_scraper(argus, w, r, &data)?);
        }
        let endpoints: Vec<String> = scrapers.iter().map(Role::endpoint).collect();
        let q = argus_query(argus, w, &endpoints, &["--query.replica-label=replica"])?;
        // Every replica answers (raw), and the dedup leaves one of each.
        wait_for_series(q.daemon.port, series * REPLICAS.len(), "&dedup=false")?;
        wait_for_series(q.daemon.port, series, "")?;
        Ok((scrapers, q))
    })();
    let (mut one, mut raw) = (None, None);
    let query = match cluster {
        Ok((scrapers, q)) => {
            eprintln!("(a) measuring argus query over {} replicas", scrapers.len());
            let col = run_all(q.daemon.port, runs);
            notes.push(format!("argus query RSS {}", fmt_rss(rss(&q.daemon))));
            let s: Vec<String> = scrapers.iter().map(|s| fmt_rss(rss(&s.daemon))).collect();
            notes.push(format!("scrapers RSS {}", s.join(", ")));
            if breakdown {
                eprintln!("(a) measuring argus query over 3 replicas, dedup=false");
                raw = Some(run_all_with(q.daemon.port, runs, "&dedup=false"));
                drop(q);
                eprintln!("(a) measuring argus query over 1 replica");
                one = Some(
                    argus_query(argus, w, &[scrapers[0].endpoint()], &[])
                        .and_then(|q1| {
                            wait_for_series(q1.daemon.port, series, "")?;
                            Ok(run_all(q1.daemon.port, runs))
                        })
                        .unwrap_or_else(|e| err_column(&e)),
                );
            }
            col
        }
        Err(e) => err_column(&e),
    };
    FanOut {
        server,
        query,
        one,
        raw,
        notes,
    }
}

/// One store gateway + querier pair over a bucket, measured.
struct OnBucket {
    col: Column,
    store_rss: Option<u64>,
    notes: Vec<String>,
}

fn measure_bucket(
    name: &str,
    start: impl FnOnce() -> Result<(Role, Role), String>,
    series: usize,
    runs: usize,
) -> OnBucket {
    match start().and_then(|(store, query)| {
        wait_for_series(query.daemon.port, series, "")?;
        Ok((store, query))
    }) {
        Ok((store, query)) => {
            eprintln!("(b) measuring {name}");
            let col = run_all(query.daemon.port, runs);
            let store_mem = rss(&store.daemon);
            OnBucket {
                col,
                store_rss: store_mem.0,
                notes: vec![
                    format!("{name} store RSS {}", fmt_rss(store_mem)),
                    format!("{name} query RSS {}", fmt_rss(rss(&query.daemon))),
                ],
            }
        }
        Err(e) => OnBucket {
            col: err_column(&e),
            store_rss: None,
            notes: vec![format!("{name}: {}", short(&e))],
        },
    }
}

/// Part (b) results, plus the bucket sizes (Prometheus, Argus format).
struct Buckets {
    thanos: OnBucket,
    argus: OnBucket,
    prom_bytes: Result<u64, String>,
    argus_bytes: Result<u64, String>,
    notes: Vec<String>,
}

fn buckets(
    argus: &Path,
    imported: &Path,
    om: &Path,
    w: &Path,
    series: usize,
    runs: usize,
) -> Buckets {
    let mut notes = Vec::new();
    let minio = Minio::start(w);
    let prom_blocks = w.join("prom-blocks");
    let promtool = find_peer_bin("prometheus", "promtool");
    let prom_bytes = promtool.and_then(|promtool| {
        let mut c = Command::new(promtool);
        c.args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(om)
            .arg(&prom_blocks);
        let took = run_backfill(c, "promtool backfill")?;
        notes.push(format!("promtool backfill {:.1}s", took.as_secs_f64()));
        upload(&minio, &prom_blocks, "thanos")
    });
    let argus_bytes = upload(&minio, imported, "argus");
    let thanos_bin = find_peer_bin("thanos", "thanos");
    let thanos = match (&prom_bytes, &thanos_bin) {
        (Ok(_), Ok(bin)) => measure_bucket(
            "thanos",
            || {
                let objstore = objstore_file(w, &minio, "thanos")?;
                let store = thanos_store(bin, w, &objstore)?;
                let query = thanos_query(bin, w, &[store.endpoint()])?;
                Ok((store, query))
            },
            series,
            runs,
        ),
        (Err(e), _) | (_, Err(e)) => measure_bucket("thanos", || Err(e.clone()), series, runs),
    };
    let argus = match &argus_bytes {
        Ok(_) => measure_bucket(
            "argus",
            || {
                let objstore = objstore_file(w, &minio, "argus")?;
                let store = argus_store(argus, w, &objstore)?;
                let query = argus_query(argus, w, &[store.endpoint()], &[])?;
                Ok((store, query))
            },
            series,
            runs,
        ),
        Err(e) => measure_bucket("argus", || Err(e.clone()), series, runs),
    };
    Buckets {
        thanos,
        argus,
        prom_bytes,
        argus_bytes,
        notes,
    }
}

/// The 1-minute load average: other work on the machine skews the figures.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn cores() -> String {
    let n = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{n} cores ({model})")
}

fn main() -> ExitCode {
    let instances = env_usize("BENCH_INSTANCES", 40).max(1);
    let runs = env_usize("BENCH_RUNS", 5).max(1);
    let breakdown = env_usize("BENCH_BREAKDOWN", 0) > 0;
    let begun = Instant::now();
    let load_before = load();
    // BENCH_WORK_DIR keeps the data, blocks and logs (for profiling a role
    // by hand afterwards); by default they go to a temporary directory.
    // Its `cluster-bench` directory is emptied first: blocks and buckets
    // of an earlier run would add to this run's data.
    let kept = std::env::var_os("BENCH_WORK_DIR").map(|d| PathBuf::from(d).join("cluster-bench"));
    let work = tempfile::tempdir().expect("tempdir");
    let w = match &kept {
        Some(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).expect("BENCH_WORK_DIR");
            dir.as_path()
        }
        None => work.path(),
    };
    let argus = bin_dir().join("argus");

    let om = w.join("data.om.txt");
    let (series, samples) = write_openmetrics(&om, instances).expect("write data file");
    eprintln!("data: {series} series, {samples} samples");
    let imported = w.join("argus-blocks");
    let mut c = Command::new(&argus);
    c.args(["tools", "import", "openmetrics", "--quiet"])
        .arg(&om)
        .arg(&imported);
    let import = run_backfill(c, "argus import");

    if let Err(e) = &import {
        // Nothing to serve; returning (not exiting) removes the work dir.
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let a = fan_out(&argus, &imported, w, series, runs, breakdown);
    let b = buckets(&argus, &imported, &om, w, series, runs);

    let bytes = |r: &Result<u64, String>| match r {
        Ok(b) => format!("{} ({b} B)", mib(*b)),
        Err(e) => short(e),
    };
    println!();
    println!("## cluster-bench");
    println!();
    println!(
        "machine: {}, load average {load_before} at start, {} at end; thanos {}, minio {}",
        cores(),
        load(),
        peer_version("thanos").unwrap_or_else(|e| short(&e)),
        peer_version("minio").unwrap_or_else(|e| short(&e)),
    );
    println!(
        "data: {series} series × {HOURS}h at {STEP}s = {samples} samples ({instances} instances); argus blocks {} on disk, {} blocks; bucket: prometheus format {}, argus format {}",
        mib(dir_bytes(&imported)),
        blocks(&imported).len(),
        bytes(&b.prom_bytes),
        bytes(&b.argus_bytes),
    );
    println!(
        "median of {runs} runs after 1 warm-up; one system at a time; {}",
        [
            match &import {
                Ok(t) => vec![format!("argus import {:.1}s", t.as_secs_f64())],
                Err(_) => Vec::new(),
            },
            b.notes.clone(),
        ]
        .concat()
        .join("; ")
    );

    println!();
    println!(
        "### (a) argus query over 3 HA replicas (argus scraper ×3, dedup on `replica`) vs argus server"
    );
    println!();
    let extra_head = if breakdown {
        " 1 replica ms | 3 replicas dedup=false ms |"
    } else {
        ""
    };
    println!("| query | kind | server ms | query ms | query/server | same |{extra_head}");
    println!(
        "|---|---|---:|---:|---:|---|{}",
        if breakdown { "---:|---:|" } else { "" }
    );
    let mut ratios_a = Vec::new();
    let mut same_a = 0;
    for (i, (q, kind, _)) in requests().iter().enumerate() {
        let (ratio, same) = match (&a.server[i], &a.query[i]) {
            (Ok((s, sb)), Ok((q, qb))) => {
                ratios_a.push(q / s);
                let same = same_cell(sb, qb, true);
                same_a += usize::from(same == "yes");
                (format!("{:.2}", q / s), same)
            }
            _ => ("-".to_string(), "-".to_string()),
        };
        let extra: String = [&a.one, &a.raw]
            .iter()
            .filter_map(|c| c.as_ref())
            .map(|c| format!(" {} |", ms_cell(c, i)))
            .collect();
        println!(
            "| `{q}` | {kind} | {} | {} | {ratio} | {same} |{extra}",
            ms_cell(&a.server, i),
            ms_cell(&a.query, i)
        );
    }
    println!();
    println!("{}", a.notes.join("; "));

    println!();
    println!(
        "### (b) argus store + argus query vs thanos store + thanos query, each over its own MinIO bucket"
    );
    println!();
    println!(
        "| query | kind | thanos ms | argus ms | argus/thanos | differences from thanos | argus same as server |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    let mut ratios_b = Vec::new();
    for (i, (q, kind, _)) in requests().iter().enumerate() {
        let (ratio, diffs) = match (&b.thanos.col[i], &b.argus.col[i]) {
            (Ok((t, tb)), Ok((x, xb))) => {
                ratios_b.push(x / t);
                let diffs = match (parse(tb), parse(xb)) {
                    (Some(tv), Some(xv)) => {
                        compare(&without_annotations(tv), &without_annotations(xv), false)
                            .len()
                            .to_string()
                    }
                    _ => "unparsable".to_string(),
                };
                (format!("{:.2}", x / t), diffs)
            }
            _ => ("-".to_string(), "-".to_string()),
        };
        let vs_server = match (&a.server[i], &b.argus.col[i]) {
            (Ok((_, sb)), Ok((_, xb))) => same_cell(sb, xb, true),
            _ => "-".to_string(),
        };
        println!(
            "| `{q}` | {kind} | {} | {} | {ratio} | {diffs} | {vs_server} |",
            ms_cell(&b.thanos.col, i),
            ms_cell(&b.argus.col, i)
        );
    }
    let rss_ratio = match (b.argus.store_rss, b.thanos.store_rss) {
        (Some(x), Some(t)) if t > 0 => Some(x as f64 / t as f64),
        _ => None,
    };
    println!();
    println!(
        "{}",
        [b.thanos.notes.clone(), b.argus.notes.clone()]
            .concat()
            .join("; ")
    );

    println!();
    let max = |xs: &[f64]| xs.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "summary: (a) query/server geometric mean {} (max {:.2}, {same_a}/{} answers same as the server); (b) argus/thanos latency geometric mean {} (max {:.2}); store-gateway RSS argus/thanos {}; total {:.0}s",
        verdict(geomean(&ratios_a), 1.5),
        max(&ratios_a),
        requests().len(),
        verdict(geomean(&ratios_b), 0.5),
        max(&ratios_b),
        verdict(rss_ratio, 0.5),
        begun.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
