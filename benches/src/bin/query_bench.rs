//! Query benchmark: the same data in Argus, the reference Prometheus 3.x
//! (pinned in `scripts/peers.versions`, built by `scripts/peers prometheus`)
//! and VictoriaMetrics 1.79 (Debian), the same PromQL through each HTTP API,
//! a markdown table of median latencies and the Argus/Prometheus ratio.
//!
//! Data (`argus_benches::dataset`, default 40 instances): `bench_requests_total` counters (instances ×
//! 100 handlers), a `bench_inflight` gauge with the same label sets (one-to-one
//! join), a classic histogram `bench_latency_seconds` (instances × 5
//! handlers × 11 buckets, plus `_sum`/`_count`) and an info-like
//! `bench_instance_info` (group_left) — 10,640 series × 6h at 15s, 15.3M
//! samples, on the 15s grid as scraped data is, counters starting at zero.
//! The `same` column compares Argus's answers with Prometheus's (tolerance
//! 1e-9, as the differential test).
//!
//! Each query runs as an instant query at the end of the data and as a 6h
//! range query at 60s steps: one warm-up, then the median wall time of
//! `BENCH_RUNS` (default 5) requests, body read in full. Systems run one at a
//! time (no background load from the others). Prometheus gets
//! `--storage.tsdb.max-block-duration=2h` so that no compaction of the
//! backfilled blocks runs during the measurements (Argus serves the same 2h
//! blocks). VictoriaMetrics runs with `-search.disableCache` and
//! `-search.latencyOffset=0s`; its `rate` does not extrapolate, so its
//! numbers are comparable work, not the same values.
//!
//! Environment: `BENCH_INSTANCES` (default 40), `BENCH_RUNS` (default 5),
//! `BENCH_ARGUS_BASELINE` (path to another `argus` binary, e.g. a build of
//! the commit before a change: it serves a copy of the same blocks and is
//! queried in turns with this build, adding a before/after column).
//! Run: `benches/run-query.sh`. Every wait is bounded; servers listen on
//! 127.0.0.1 only and are killed on exit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use argus_benches::dataset::{
    END, HOURS, QUERY_TIMEOUT, STEP, Sink, generate, measure, measure_interleaved, requests, short,
    write_openmetrics,
};
use argus_tests::differential::{
    MINIMAL_CONFIG, argus_command, compare, free_port, http_get, http_post, prometheus_command,
    run_backfill, urlencode,
};
use argus_tests::e2e::Daemon;
use argus_tests::peers::find_peer_bin;
use serde_json::Value;

/// Buffers Prometheus text and posts it to VictoriaMetrics in slices.
struct VmSink {
    port: u16,
    buf: String,
    error: Option<String>,
}

impl VmSink {
    fn flush(&mut self) {
        if self.buf.is_empty() || self.error.is_some() {
            self.buf.clear();
            return;
        }
        match http_post(
            self.port,
            "/api/v1/import/prometheus",
            "text/plain",
            self.buf.as_bytes(),
            QUERY_TIMEOUT,
        ) {
            Ok(r) if r.status / 100 == 2 => {}
            Ok(r) => self.error = Some(format!("import answered {}: {}", r.status, r.body)),
            Err(e) => self.error = Some(format!("import: {e}")),
        }
        self.buf.clear();
    }
}

impl Sink for VmSink {
    fn family(&mut self, _: &str, _: &str) {}
    fn sample(&mut self, series: &str, v: f64, t_s: i64) {
        let _ = writeln!(self.buf, "{series} {v} {}", t_s * 1000);
        if self.buf.len() > 16 << 20 {
            self.flush();
        }
    }
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("exe dir")
}

type Column = Vec<Result<(f64, String), String>>;

fn run_all(port: u16, runs: usize) -> Column {
    requests()
        .iter()
        .map(|(_, _, path)| measure(port, path, runs))
        .collect()
}

fn err_column(e: &str) -> Column {
    requests().iter().map(|_| Err(e.to_string())).collect()
}

fn main() {
    let instances: usize = std::env::var("BENCH_INSTANCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let config = w.join("prometheus.yml");
    std::fs::write(&config, MINIMAL_CONFIG).expect("write config");
    let file = w.join("data.om.txt");
    let (series, samples) = write_openmetrics(&file, instances).expect("write data file");
    eprintln!("data: {series} series, {samples} samples");
    let mut notes = Vec::new();

    // The reference Prometheus 3.x.
    let prom_dir = w.join("prom");
    let prom_bins = find_peer_bin("prometheus", "prometheus")
        .and_then(|p| Ok((p, find_peer_bin("prometheus", "promtool")?)));
    let backfill = prom_bins.clone().and_then(|(_, promtool)| {
        let mut c = Command::new(promtool);
        c.args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&file)
            .arg(&prom_dir);
        run_backfill(c, "promtool backfill")
    });
    if let Ok(v) = argus_tests::peers::peer_version("prometheus") {
        notes.push(format!("prometheus {v}"));
    }
    let prom_col = match prom_bins.and_then(|(bin, _)| Ok((bin, backfill?))) {
        Ok((prometheus, took)) => {
            notes.push(format!("promtool backfill: {:.1}s", took.as_secs_f64()));
            let port = free_port();
            let mut cmd = prometheus_command(&prometheus, &prom_dir, &config, port);
            cmd.arg("--storage.tsdb.max-block-duration=2h");
            match Daemon::start("prometheus", cmd, port, &w.join("prom.log")).and_then(|mut s| {
                s.ready("/-/ready", Duration::from_secs(120))?;
                Ok(s)
            }) {
                Ok(s) => {
                    eprintln!("measuring prometheus");
                    let col = run_all(s.port, runs);
                    drop(s);
                    col
                }
                Err(e) => err_column(&e),
            }
        }
        Err(e) => err_column(&e),
    };

    // Argus.
    let argus = bin_dir().join("argus");
    let argus_dir = w.join("argus");
    let mut c = Command::new(&argus);
    c.args(["tools", "import", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(&argus_dir);
    let baseline = std::env::var_os("BENCH_ARGUS_BASELINE").map(PathBuf::from);
    let (argus_col, baseline_col) = match run_backfill(c, "argus import") {
        Ok(took) => {
            notes.push(format!("argus import: {:.1}s", took.as_secs_f64()));
            match &baseline {
                None => (measure_argus(&argus, &argus_dir, &config, w, runs), None),
                Some(base) => {
                    notes.push(format!("baseline: {}", base.display()));
                    let (a, b) =
                        measure_against_baseline(&argus, base, &argus_dir, &config, w, runs);
                    (a, Some(b))
                }
            }
        }
        Err(e) => (err_column(&e), baseline.as_ref().map(|_| err_column(&e))),
    };
    let _ = std::fs::remove_file(&file);

    // VictoriaMetrics 1.79.
    let vm_col = match victoria(w, instances, runs, series) {
        Ok((col, took)) => {
            notes.push(format!("victoria-metrics import (HTTP): {:.1}s", took));
            col
        }
        Err(e) => {
            notes.push(format!("victoria-metrics: {e}"));
            err_column(&e)
        }
    };

    // The table.
    let mut ratios = Vec::new();
    println!();
    println!(
        "{series} series × {HOURS}h at {STEP}s = {samples} samples; median of {runs} runs after 1 warm-up; {}",
        notes.join("; ")
    );
    println!();
    match &baseline_col {
        None => {
            println!(
                "| query | kind | argus ms | prometheus ms | ratio | vm ms | same as prometheus |"
            );
            println!("|---|---|---:|---:|---:|---:|---|");
        }
        Some(_) => {
            println!(
                "| query | kind | argus ms | baseline ms | argus/baseline | prometheus ms | ratio | vm ms | same as prometheus |"
            );
            println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
        }
    }
    let mut baseline_ratios = Vec::new();
    for (i, (q, kind, _)) in requests().iter().enumerate() {
        let cell = |c: &Column| match &c[i] {
            Ok((ms, _)) => format!("{ms:.1}"),
            Err(e) => short(e),
        };
        let (ratio, same) = match (&argus_col[i], &prom_col[i]) {
            (Ok((a, ab)), Ok((p, pb))) => {
                let r = a / p;
                ratios.push(r);
                let same = match (
                    serde_json::from_str::<Value>(ab),
                    serde_json::from_str::<Value>(pb),
                ) {
                    (Ok(av), Ok(pv)) => {
                        let d = compare(&pv, &av, false);
                        if d.is_empty() {
                            "yes".to_string()
                        } else {
                            format!("NO: {}", short(&d[0]).trim_start_matches("ERR "))
                        }
                    }
                    _ => "unparsable".to_string(),
                };
                (format!("{r:.2}"), same)
            }
            _ => ("-".to_string(), "-".to_string()),
        };
        let base = match &baseline_col {
            None => String::new(),
            Some(b) => {
                let r = match (&argus_col[i], &b[i]) {
                    (Ok((a, _)), Ok((b, _))) => {
                        baseline_ratios.push(a / b);
                        format!("{:.2}", a / b)
                    }
                    _ => "-".to_string(),
                };
                format!(" {} | {r} |", cell(b))
            }
        };
        println!(
            "| `{q}` | {kind} | {} |{base} {} | {ratio} | {} | {same} |",
            cell(&argus_col),
            cell(&prom_col),
            cell(&vm_col)
        );
    }
    println!();
    if !baseline_ratios.is_empty() {
        baseline_ratios.sort_by(f64::total_cmp);
        println!(
            "argus/baseline: median ratio {:.2}, min {:.2}, max {:.2} over {} queries",
            baseline_ratios[baseline_ratios.len() / 2],
            baseline_ratios[0],
            baseline_ratios[baseline_ratios.len() - 1],
            baseline_ratios.len()
        );
    }
    if ratios.is_empty() {
        println!("no argus/prometheus ratio (argus answered no query)");
    } else {
        ratios.sort_by(f64::total_cmp);
        println!(
            "argus/prometheus: median ratio {:.2}, max {:.2} over {} queries (target: max <= 1.0, median <= 0.5)",
            ratios[ratios.len() / 2],
            ratios[ratios.len() - 1],
            ratios.len()
        );
    }
}

/// Starts `argus server` over `data`, ready to answer.
fn start_argus(
    argus: &Path,
    data: &Path,
    config: &Path,
    w: &Path,
    name: &str,
) -> Result<Daemon, String> {
    let port = free_port();
    let cmd = argus_command(argus, data, config, port);
    let mut s = Daemon::start(name, cmd, port, &w.join(format!("{name}.log")))?;
    s.ready("/-/ready", Duration::from_secs(120))?;
    Ok(s)
}

fn measure_argus(argus: &Path, data: &Path, config: &Path, w: &Path, runs: usize) -> Column {
    match start_argus(argus, data, config, w, "argus") {
        Ok(s) => {
            eprintln!("measuring argus");
            run_all(s.port, runs)
        }
        Err(e) => err_column(&e),
    }
}

/// Argus and a baseline build (`BENCH_ARGUS_BASELINE`, e.g. the commit
/// before a change) over copies of the same blocks, queried in turns.
fn measure_against_baseline(
    argus: &Path,
    baseline: &Path,
    data: &Path,
    config: &Path,
    w: &Path,
    runs: usize,
) -> (Column, Column) {
    let copy = w.join("argus-baseline");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(data)
        .arg(&copy)
        .status()
        .map_err(|e| format!("cp: {e}"))
        .and_then(|st| {
            if st.success() {
                Ok(())
            } else {
                Err(format!("cp exited {st}"))
            }
        });
    let servers = copied.and_then(|()| {
        let a = start_argus(argus, data, config, w, "argus")?;
        let b = start_argus(baseline, &copy, config, w, "baseline")?;
        Ok((a, b))
    });
    match servers {
        Ok((a, b)) => {
            eprintln!("measuring argus and the baseline in turns");
            let (mut ca, mut cb) = (Column::new(), Column::new());
            for (_, _, path) in requests() {
                let mut r = measure_interleaved(&[a.port, b.port], &path, runs);
                let rb = r.pop().unwrap_or_else(|| Err("no measurement".to_string()));
                let ra = r.pop().unwrap_or_else(|| Err("no measurement".to_string()));
                ca.push(ra);
                cb.push(rb);
            }
            (ca, cb)
        }
        Err(e) => (err_column(&e), err_column(&e)),
    }
}

/// Starts VictoriaMetrics, imports the data over HTTP, waits until it is
/// searchable, measures, stops it. Returns the column and the import time.
fn victoria(
    w: &Path,
    instances: usize,
    runs: usize,
    series: usize,
) -> Result<(Column, f64), String> {
    if Command::new("victoria-metrics")
        .arg("-version")
        .output()
        .is_err()
    {
        return Err("not installed (apt-get install victoria-metrics)".into());
    }
    let port = free_port();
    let mut cmd = Command::new("victoria-metrics");
    cmd.arg(format!("-storageDataPath={}", w.join("vm").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .arg("-search.disableCache")
        .arg("-search.latencyOffset=0s");
    let mut s = Daemon::start("victoria-metrics", cmd, port, &w.join("vm.log"))?;
    s.ready("/health", Duration::from_secs(30))?;
    let start = Instant::now();
    let mut sink = VmSink {
        port,
        buf: String::with_capacity(17 << 20),
        error: None,
    };
    generate(&mut sink, instances);
    sink.flush();
    if let Some(e) = sink.error {
        return Err(e);
    }
    let _ = http_get(port, "/internal/force_flush", Duration::from_secs(60));
    let took = start.elapsed().as_secs_f64();
    // Searchable once every series is visible at the end of the data.
    let probe = format!(
        "/api/v1/query?query={}&time={END}",
        urlencode("count({__name__=~\"bench_.*\"})")
    );
    let deadline = Instant::now() + Duration::from_secs(120);
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
        if n as usize >= series {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {n} of {series} series searchable after 120s"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("measuring victoria-metrics");
    let col = run_all(port, runs);
    drop(s);
    Ok((col, took))
}
