//! Differential testing of `argus server` against the real Prometheus 3.x,
//! the version pinned in `scripts/peers.versions` (found through
//! [`crate::peers`]): deterministic OpenMetrics data backfilled into both
//! (Prometheus's `promtool tsdb create-blocks-from openmetrics`, `argus tools
//! import openmetrics`), the same PromQL queries sent to both HTTP APIs,
//! answers compared value by value.
//!
//! Also the plumbing the query benchmark shares: commands that start both
//! servers, a backfill, a tiny blocking HTTP/1.1 client (server processes
//! are [`crate::e2e::Daemon`]s).
//!
//! # Data
//!
//! Three hours at a 15s scrape interval, shaped like scraped data: counters
//! (request counts, fractional CPU seconds) that start at zero when their
//! series starts and go back to zero at a reset; gauges that wander below
//! zero; classic histograms whose buckets, `_count` and `_sum` also start
//! at and reset to zero; info-like series for joins; series that start late,
//! stop early, or have a gap longer than the lookback delta. Two of the three
//! targets are scraped exactly on the 15s grid, so their samples sit on the
//! (excluded) lower boundary and the (included) upper boundary of every
//! window; the third is scraped 4.5s into each slot with a few hundred ms of
//! lateness, so windows also start and end between samples.
//!
//! # Queries
//!
//! Every function family (selectors, `offset` and `@`, the rate family,
//! `*_over_time`, aggregations, binary operators with vector matching, math,
//! labels, classic histograms, time functions, sorting, subqueries), plus
//! what Prometheus 3.x added: `mad_over_time`, `sort_by_label(_desc)`,
//! `limitk`, `limit_ratio`, `double_exponential_smoothing`,
//! `histogram_fraction` on classic buckets, `histogram_quantiles`,
//! `first_over_time`, `ts_of_*_over_time`, `max_of`/`min_of`,
//! `step()`/`start()`/`end()`/`range()`. Prometheus runs with
//! `--enable-feature=promql-experimental-functions` for the experimental
//! ones; Argus needs no flag. Query times, ranges, offsets, `@` times and
//! range-query steps are multiples of the scrape interval, and subquery
//! ranges are multiples of their step, so an inner step lands exactly on
//! the excluded lower boundary.
//!
//! # Comparison
//!
//! `status`, `errorType` and `data` are compared; for sorting functions the
//! order of an instant vector too. Values are equal within a relative
//! tolerance of 1e-9 plus an absolute floor of 1e-11 for results that cancel
//! to about zero (summation order); the data values are small dyadic
//! rationals (integers, multiples of 1/64) so that sums are exact in any
//! order. The info and warning annotations (`infos`, `warnings`) are
//! compared as sets of texts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::e2e::Daemon;

pub use crate::http::{HttpResponse, urlencode};

// ---------------------------------------------------------------------------
// HTTP and processes
// ---------------------------------------------------------------------------

/// `GET path` on `127.0.0.1:port` through [`crate::http`], bounded by
/// `timeout` for each read and write.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Result<HttpResponse, String> {
    crate::http::request_with_timeout(
        &format!("127.0.0.1:{port}"),
        "GET",
        path,
        None,
        b"",
        timeout,
    )
    .map_err(|e| e.to_string())
}

/// `POST path` with a raw body on `127.0.0.1:port`.
pub fn http_post(
    port: u16,
    path: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, String> {
    crate::http::request_with_timeout(
        &format!("127.0.0.1:{port}"),
        "POST",
        path,
        Some(content_type),
        body,
        timeout,
    )
    .map_err(|e| e.to_string())
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The config both servers get: no scraping, a 1m evaluation interval (the
/// default step of subqueries).
pub const MINIMAL_CONFIG: &str =
    "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\nscrape_configs: []\n";

/// The Prometheus feature flag that enables the experimental PromQL
/// functions and aggregations (`mad_over_time`, `sort_by_label`, `limitk`,
/// `double_exponential_smoothing`...). Argus has them without a flag.
pub const EXPERIMENTAL_FUNCTIONS: &str = "--enable-feature=promql-experimental-functions";

/// The reference Prometheus (`bin`, from [`crate::peers::prometheus_bin`])
/// serving `data` on `port`, with the experimental PromQL functions enabled.
pub fn prometheus_command(bin: &Path, data: &Path, config: &Path, port: u16) -> Command {
    let mut c = Command::new(bin);
    c.arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--config.file={}", config.display()))
        .arg(EXPERIMENTAL_FUNCTIONS);
    c
}

/// `argus server` serving `data` on `port`.
pub fn argus_command(argus: &Path, data: &Path, config: &Path, port: u16) -> Command {
    let mut c = Command::new(argus);
    c.arg("server")
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--config.file={}", config.display()));
    c
}

/// Runs a backfill command to completion, with its output in the error.
pub fn run_backfill(mut cmd: Command, what: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(start.elapsed())
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// First scrape slot of the data (whole minute, 1h past a 2h boundary).
pub const START: i64 = 1_700_002_800;
/// Number of 15s slots: 3 hours.
pub const STEPS: i64 = 720;
/// End of the last slot.
pub const END: i64 = START + STEPS * 15;

use crate::datagen::Rng;

/// Sample time of slot `step` of target `target` (1..=3), in ms. Targets 1
/// and 2 are scraped exactly on the 15s grid, as a Prometheus scrape loop
/// does, so their samples lie on the boundaries of every grid-aligned window
/// of the corpus; target 3 is scraped at a phase of 4.5s within the slot plus
/// up to 250ms of lateness, so its samples never do.
fn sample_ms(step: i64, target: u64) -> i64 {
    let slot = (START + step * 15) * 1000;
    if target != 3 {
        return slot;
    }
    let mut h =
        (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ target.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    slot + 4500 + (h % 250) as i64
}

fn ts_text(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64, ms: i64) {
    crate::datagen::write_sample(out, name, labels.iter().copied(), v, &ts_text(ms));
}

const INSTANCES: [&str; 3] = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];
const JOBS: [&str; 2] = ["api", "web"];
/// Bucket bounds as Prometheus 3.x stores them when it scrapes (`1.0`, not `1`).
const LE: [&str; 9] = [
    "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
];

/// The OpenMetrics text of the differential test: counters with resets,
/// gauges with negative values, classic histograms, info-like metrics, and
/// series that start late, stop early or have a gap longer than the lookback.
pub fn openmetrics_data() -> String {
    let mut rng = Rng(0x5eed_1234);
    let mut out = String::with_capacity(8 << 20);
    let target = |inst: usize| inst as u64 + 1;

    // http_requests_total: 2 jobs × 3 instances × 2 methods × 2 codes.
    out.push_str("# HELP http_requests Requests.\n# TYPE http_requests counter\n");
    let mut idx = 0u64;
    for job in JOBS {
        for (ii, inst) in INSTANCES.iter().enumerate() {
            for method in ["get", "post"] {
                for code in ["200", "500"] {
                    let labels = [
                        ("job", job),
                        ("instance", *inst),
                        ("method", method),
                        ("code", code),
                    ];
                    let first = if job == "web" && ii == 2 { 160 } else { 0 };
                    let last = if job == "api" && ii == 1 && method == "post" && code == "500" {
                        480
                    } else {
                        STEPS
                    };
                    let gap = job == "web" && ii == 0 && method == "get" && code == "200";
                    let reset_at = if idx.is_multiple_of(5) {
                        (200 + idx as i64 * 13) % 700
                    } else {
                        -1
                    };
                    // A counter starts at zero when its process starts,
                    // and goes back to zero when it restarts.
                    let mut v = 0.0;
                    for step in first..last {
                        if step == reset_at {
                            v = 0.0;
                        } else if step > first {
                            let inc = if code == "500" {
                                rng.below(4)
                            } else {
                                rng.below(40)
                            };
                            v += inc as f64;
                        }
                        if gap && (300..=360).contains(&step) {
                            continue;
                        }
                        line(
                            &mut out,
                            "http_requests_total",
                            &labels,
                            v,
                            sample_ms(step, target(ii)),
                        );
                    }
                    idx += 1;
                }
            }
        }
    }

    // node_cpu_seconds_total: 3 instances × 2 cpus × 3 modes, fractional.
    out.push_str("# HELP node_cpu_seconds CPU time.\n# TYPE node_cpu_seconds counter\n");
    let mut idx = 0;
    for (ii, inst) in INSTANCES.iter().enumerate() {
        for cpu in ["0", "1"] {
            for mode in ["idle", "system", "user"] {
                let labels = [("instance", *inst), ("cpu", cpu), ("mode", mode)];
                let mut v = 0.0;
                for step in 0..STEPS {
                    if idx == 4 && step == 333 {
                        v = 0.0;
                    } else if step > 0 {
                        v += rng.below(15 * 64) as f64 / 64.0;
                    }
                    line(
                        &mut out,
                        "node_cpu_seconds_total",
                        &labels,
                        v,
                        sample_ms(step, target(ii)),
                    );
                }
                idx += 1;
            }
        }
    }

    // temperature_celsius: a random walk around zero, distinct per series.
    out.push_str("# HELP temperature_celsius Temperature.\n# TYPE temperature_celsius gauge\n");
    let mut idx = 0;
    for (ii, inst) in INSTANCES.iter().enumerate() {
        for sensor in ["a", "b"] {
            let labels = [("instance", *inst), ("sensor", sensor)];
            let (first, last) = match (ii, sensor) {
                (0, "a") => (20, STEPS),
                (2, "b") => (0, 500),
                _ => (0, STEPS),
            };
            let mut walk = rng.below(40 * 16) as f64 / 16.0 - 10.0;
            for step in first..last {
                walk += (rng.below(33) as f64 - 16.0) / 16.0;
                walk = walk.clamp(-25.0, 45.0);
                if ii == 1 && sensor == "b" && (200..=260).contains(&step) {
                    continue;
                }
                line(
                    &mut out,
                    "temperature_celsius",
                    &labels,
                    walk + idx as f64 / 256.0,
                    sample_ms(step, target(ii)),
                );
            }
            idx += 1;
        }
    }

    // queue_depth: integer-ish, distinct per series, some low values.
    out.push_str("# HELP queue_depth Queue depth.\n# TYPE queue_depth gauge\n");
    let mut idx = 0;
    for job in JOBS {
        for (ii, inst) in INSTANCES.iter().enumerate() {
            let labels = [("job", job), ("instance", *inst)];
            for step in 0..STEPS {
                let base = if rng.below(10) == 0 {
                    0
                } else {
                    rng.below(100)
                };
                line(
                    &mut out,
                    "queue_depth",
                    &labels,
                    base as f64 + (idx as f64 + 1.0) / 64.0,
                    sample_ms(step, target(ii)),
                );
            }
            idx += 1;
        }
    }

    // request_duration_seconds: 2 jobs × 2 instances of 9 buckets.
    out.push_str(
        "# HELP request_duration_seconds Latency.\n# TYPE request_duration_seconds histogram\n",
    );
    const MIDS: [f64; 9] = [0.03125, 0.0625, 0.1875, 0.375, 0.75, 2.0, 4.0, 8.0, 16.0];
    for job in JOBS {
        for (ii, inst) in INSTANCES.iter().take(2).enumerate() {
            let first = if job == "web" && ii == 1 { 100 } else { 0 };
            let reset = job == "api" && ii == 0;
            // Every bucket, the count and the sum start at zero, and go
            // back to zero at the reset.
            let mut counts = [0u64; 9];
            let mut sum = 0.0;
            for step in first..STEPS {
                if reset && step == 400 {
                    counts = [0; 9];
                    sum = 0.0;
                }
                // Skewed towards the low buckets, with a job-dependent tail;
                // nothing observed yet at the first scrape or at the reset.
                let n = if step == first || (reset && step == 400) {
                    0
                } else {
                    rng.below(40)
                };
                for _ in 0..n {
                    let b = (rng.below(6) + rng.below(if job == "api" { 3 } else { 5 })) as usize;
                    let b = b.min(8);
                    counts[b] += 1;
                    sum += MIDS[b];
                }
                let ms = sample_ms(step, target(ii));
                let mut cum = 0;
                for (b, le) in LE.iter().enumerate() {
                    cum += counts[b];
                    line(
                        &mut out,
                        "request_duration_seconds_bucket",
                        &[("job", job), ("instance", *inst), ("le", le)],
                        cum as f64,
                        ms,
                    );
                }
                line(
                    &mut out,
                    "request_duration_seconds_count",
                    &[("job", job), ("instance", *inst)],
                    cum as f64,
                    ms,
                );
                line(
                    &mut out,
                    "request_duration_seconds_sum",
                    &[("job", job), ("instance", *inst)],
                    sum,
                    ms,
                );
            }
        }
    }

    // Info-like metrics for group_left / group_right.
    out.push_str("# HELP build_info Build.\n# TYPE build_info gauge\n");
    for (ii, inst) in INSTANCES.iter().enumerate() {
        let version = ["1.2.3", "1.2.3", "2.0.0"][ii];
        for step in 0..STEPS {
            line(
                &mut out,
                "build_info",
                &[("instance", *inst), ("version", version)],
                1.0,
                sample_ms(step, target(ii)),
            );
        }
    }
    out.push_str("# HELP node_role Role.\n# TYPE node_role gauge\n");
    for (ii, inst) in INSTANCES.iter().enumerate() {
        let role = ["primary", "replica", "replica"][ii];
        for step in 0..STEPS {
            line(
                &mut out,
                "node_role",
                &[("instance", *inst), ("role", role)],
                1.0,
                sample_ms(step, target(ii)),
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// One query of the differential corpus.
#[derive(Debug, Clone)]
pub struct Query {
    pub expr: String,
    /// Only as an instant query (range vectors cannot be range-queried).
    pub instant_only: bool,
    /// The result order matters (`sort`, `sort_desc`) for instant queries.
    pub ordered: bool,
}

fn q(expr: &str) -> Query {
    Query {
        expr: expr.to_string(),
        instant_only: false,
        ordered: false,
    }
}

fn qi(expr: &str) -> Query {
    Query {
        instant_only: true,
        ..q(expr)
    }
}

fn qs(expr: &str) -> Query {
    Query {
        ordered: true,
        ..q(expr)
    }
}

/// Instant-query times: early (windows reaching before the data), in the
/// late-start window, inside a gap, late, just after the end (within the
/// lookback) and well after it (everything stale).
pub fn instant_times() -> Vec<i64> {
    vec![
        START + 240,
        START + 1800,
        START + 85 * 60,
        START + 150 * 60,
        END + 120,
        END + 600,
    ]
}

/// Range queries: (start, end, step), every one 1h-ish at 60s steps.
pub fn range_windows() -> Vec<(i64, i64, i64)> {
    vec![
        (START + 20 * 60, START + 110 * 60, 60),
        (START + 160 * 60, END + 15 * 60, 60),
    ]
}

/// The query corpus, across every function family of Prometheus 3.x. All
/// durations, offsets and `@` times are multiples of the 15s scrape
/// interval; subquery ranges are multiples of their step but one.
pub fn queries() -> Vec<Query> {
    let at = START + 3600; // 1700006400
    let at2 = START + 7200;
    let mut v = vec![
        // Selectors.
        q("http_requests_total"),
        q(r#"http_requests_total{job="api"}"#),
        q(r#"http_requests_total{job=~"a.*", code!="200"}"#),
        q(r#"http_requests_total{instance!~"10\\.0\\.0\\.[12]:8080"}"#),
        q(r#"{__name__=~"temperature_celsius|queue_depth", instance="10.0.0.2:8080"}"#),
        q(r#"{__name__=~"request_duration_seconds_(count|sum)"}"#),
        q("temperature_celsius offset 10m"),
        q("temperature_celsius offset -5m"),
        q(&format!("queue_depth @ {at}")),
        q("queue_depth @ end()"),
        q("queue_depth @ start() offset 1m"),
        qi(r#"http_requests_total{job="web", method="get"}[2m]"#),
        qi("temperature_celsius[1m] offset 3m"),
        qi(&format!("queue_depth[1m] @ {at}")),
        // Rate family.
        q("rate(http_requests_total[5m])"),
        q("rate(http_requests_total[1m])"),
        q(r#"rate(node_cpu_seconds_total{mode!="idle"}[10m])"#),
        q("irate(http_requests_total[5m])"),
        q("irate(node_cpu_seconds_total[1m])"),
        q("increase(http_requests_total[15m])"),
        q("increase(node_cpu_seconds_total[1h])"),
        q("delta(temperature_celsius[10m])"),
        q("idelta(temperature_celsius[5m])"),
        q("deriv(temperature_celsius[15m])"),
        q("predict_linear(temperature_celsius[30m], 600)"),
        q("predict_linear(node_cpu_seconds_total[10m], -300)"),
        q("resets(http_requests_total[1h])"),
        q("resets(node_cpu_seconds_total[3h])"),
        q("changes(queue_depth[30m])"),
        q("changes(build_info[10m])"),
        q("rate(http_requests_total[5m] offset 30m)"),
        q(&format!("rate(http_requests_total[5m] @ {at2})")),
        q("increase(request_duration_seconds_count[10m] offset -10m)"),
        // *_over_time.
        q("avg_over_time(temperature_celsius[10m])"),
        q("sum_over_time(queue_depth[5m])"),
        q("min_over_time(temperature_celsius[30m])"),
        q("max_over_time(temperature_celsius[30m])"),
        q("count_over_time(http_requests_total[10m])"),
        q("quantile_over_time(0.9, temperature_celsius[20m])"),
        q("quantile_over_time(0.25, queue_depth[1h])"),
        q("quantile_over_time(0, queue_depth[5m])"),
        q("quantile_over_time(1.5, queue_depth[5m])"),
        q("stddev_over_time(temperature_celsius[15m])"),
        q("stdvar_over_time(queue_depth[15m])"),
        q("last_over_time(temperature_celsius[10m])"),
        q(r#"present_over_time(http_requests_total{job="web"}[5m])"#),
        q(r#"absent_over_time(http_requests_total{job="web", instance="10.0.0.3:8080"}[5m])"#),
        q(r#"absent_over_time(nonexistent_metric{job="x", a=~"b"}[5m])"#),
        // Aggregations.
        q("sum(rate(http_requests_total[5m]))"),
        q("sum by (job) (rate(http_requests_total[5m]))"),
        q("sum without (instance, method) (rate(http_requests_total[5m]))"),
        q("avg by (instance) (temperature_celsius)"),
        q("avg(queue_depth)"),
        q("min by (job) (queue_depth)"),
        q("max without (sensor) (temperature_celsius)"),
        q("count by (code) (http_requests_total)"),
        q("count(temperature_celsius)"),
        q("group by (job, instance) (http_requests_total)"),
        q("stddev by (job) (queue_depth)"),
        q("stdvar(temperature_celsius)"),
        q("topk(3, node_cpu_seconds_total)"),
        q("topk(2, rate(node_cpu_seconds_total[5m]))"),
        q("bottomk(2, queue_depth)"),
        q("topk by (job) (1, queue_depth)"),
        q("bottomk without (sensor) (1, temperature_celsius)"),
        q("quantile(0.5, temperature_celsius)"),
        q("quantile by (job) (0.9, rate(http_requests_total[5m]))"),
        q(r#"count_values("bucket", floor(queue_depth / 25))"#),
        q(r#"count_values by (job) ("v", round(queue_depth / 20))"#),
        // Binary operators.
        q("rate(http_requests_total[5m]) * 60"),
        q("2 ^ (queue_depth / 50)"),
        q("queue_depth % 7"),
        q("-temperature_celsius"),
        q("temperature_celsius > 20"),
        q("temperature_celsius > bool 20"),
        q("floor(queue_depth) < bool 30"),
        q("temperature_celsius <= 0"),
        q("queue_depth > queue_depth offset 5m"),
        q("30 > queue_depth"),
        q("sum by (instance) (rate(http_requests_total[5m])) / sum by (instance) (queue_depth)"),
        q(
            "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
        ),
        q("queue_depth * on(instance) group_left(version) build_info"),
        q("build_info * on(instance) group_right(version) queue_depth"),
        q("queue_depth + on(instance) group_left(role) (node_role * 1000)"),
        q("http_requests_total and on(instance) (temperature_celsius > 25)"),
        q("temperature_celsius or queue_depth"),
        q(r#"queue_depth{job="api"} or on(instance) temperature_celsius"#),
        q("http_requests_total unless on(job) (queue_depth < 20)"),
        q(r#"1 - rate(node_cpu_seconds_total{mode="idle"}[5m])"#),
        q("scalar(sum(queue_depth)) / queue_depth"),
        q("(queue_depth > 30) + 1 < 80"),
        q("2 * 3 + 4 ^ 2 ^ 0.5 - 10 % 3"),
        q("vector(1) + sum(queue_depth)"),
        q("temperature_celsius == bool on(instance, sensor) temperature_celsius"),
        // Math.
        q("abs(temperature_celsius)"),
        q("ceil(temperature_celsius / 3)"),
        q("floor(temperature_celsius / 3)"),
        q("round(temperature_celsius)"),
        q("round(temperature_celsius, 0.5)"),
        q("sqrt(queue_depth)"),
        q("exp(queue_depth / 50)"),
        q("ln(queue_depth)"),
        q("log2(queue_depth + 1)"),
        q("log10(abs(temperature_celsius))"),
        q("sgn(temperature_celsius)"),
        q("clamp(temperature_celsius, -2, 20)"),
        // Empty by definition (min > max).
        q("clamp(temperature_celsius, 5, 1)"),
        q("clamp_min(temperature_celsius, 0)"),
        q("clamp_max(queue_depth, 50)"),
        // Trigonometry.
        q("sin(temperature_celsius)"),
        q("cos(temperature_celsius) + tan(temperature_celsius / 100)"),
        q("asin(clamp(temperature_celsius / 40, -1, 1))"),
        q("acos(clamp(temperature_celsius / 40, -1, 1))"),
        q("atan(temperature_celsius)"),
        q("sinh(temperature_celsius / 10) - cosh(temperature_celsius / 10)"),
        q("tanh(temperature_celsius / 10)"),
        q("asinh(temperature_celsius)"),
        q("acosh(queue_depth + 1)"),
        q("atanh(clamp(temperature_celsius / 50, -0.99, 0.99))"),
        q("deg(temperature_celsius)"),
        q("rad(queue_depth) * pi()"),
        // Labels.
        q(r#"label_replace(http_requests_total, "host", "$1", "instance", "(.*):.*")"#),
        q(r#"label_replace(queue_depth, "job", "new-$1", "job", "a(.*)")"#),
        q(r#"label_replace(queue_depth, "nothing", "x", "job", "nomatch")"#),
        q(r#"label_join(queue_depth, "combo", "/", "job", "instance")"#),
        q(r#"label_join(temperature_celsius, "sensor", "", "sensor", "sensor")"#),
        // Histograms.
        q("histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))"),
        q("histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[10m])))"),
        q(
            "histogram_quantile(0.99, sum by (job, le) (increase(request_duration_seconds_bucket[30m])))",
        ),
        q("histogram_quantile(1.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))"),
        q("histogram_quantile(0, sum by (le) (rate(request_duration_seconds_bucket[5m])))"),
        q("rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])"),
        // Time and date.
        q("time()"),
        q("day_of_year(vector(1709251199))"),
        q("timestamp(queue_depth)"),
        q("time() - timestamp(temperature_celsius)"),
        q("timestamp(rate(http_requests_total[5m]))"),
        q("minute(timestamp(queue_depth))"),
        q("hour()"),
        q("day_of_week()"),
        q("day_of_week(vector(1700000000))"),
        q("day_of_month(vector(1709251199))"),
        q("days_in_month(vector(1709251199))"),
        q("month(vector(1709251199)) + year(vector(1709251199))"),
        q("hour(timestamp(build_info))"),
        // vector / scalar.
        q("vector(3)"),
        q("vector(time())"),
        q(r#"scalar(queue_depth{job="api", instance="10.0.0.1:8080"})"#),
        q("scalar(queue_depth)"),
        // Sorting (order compared for instant queries).
        qs("sort(queue_depth)"),
        qs("sort_desc(rate(node_cpu_seconds_total[5m]))"),
        qs("sort(temperature_celsius offset 2m)"),
        // absent.
        q(r#"absent(nonexistent{job="x"})"#),
        q("absent(queue_depth)"),
        q(r#"absent(http_requests_total{instance="10.0.0.3:8080", job="web"})"#),
        // Subqueries: every range a multiple of its step, so the inner step
        // at the (excluded) lower boundary exists; one that is not.
        q("max_over_time(rate(http_requests_total[5m])[10m:1m])"),
        q("avg_over_time(queue_depth[20m:2m])"),
        q("min_over_time(sum(temperature_celsius)[30m:])"),
        q("rate(http_requests_total[10m:1m])"),
        q("increase(node_cpu_seconds_total[15m:15s])"),
        q("max_over_time(deriv(temperature_celsius[5m])[15m:1m] offset 5m)"),
        q(&format!("sum_over_time(queue_depth[10m:1m] @ {at})")),
        q("max_over_time(avg_over_time(queue_depth[5m:1m])[10m:2m])"),
        qi("sum(rate(http_requests_total[5m]))[5m:1m]"),
        q("avg_over_time(rate(http_requests_total[1m])[5m:30s])"),
        q("count_over_time(queue_depth[10m:1m])"),
        q("rate(http_requests_total[10m30s:1m])"),
        // More shapes.
        q("1 > bool 2"),
        q("-(2 ^ 3) + scalar(vector(4))"),
        q("sum(rate(http_requests_total[5m])) by (job, code)"),
        q(r#"http_requests_total{code="500"} / ignoring(code) http_requests_total{code="200"}"#),
        q("count(count by (instance) (http_requests_total))"),
        q("sum by (job) (queue_depth) > bool 100"),
        q("sum by (le) (request_duration_seconds_bucket)"),
        q(r#"{__name__=~"node_.*", mode="idle"}"#),
        q("last_over_time(queue_depth[5m] offset 1m30s)"),
        q(r#"label_replace(queue_depth, "__name__", "renamed", "", "")"#),
        q(r#"timestamp(queue_depth @ 1700006400)"#),
        q(
            "avg without (cpu) (rate(node_cpu_seconds_total[5m])) * on(instance) group_left(version) build_info",
        ),
        // Counters from zero and resets to zero: extrapolation stops at the
        // zero point; ranges exactly one and two scrape intervals long.
        q("increase(http_requests_total[30s])"),
        q("rate(http_requests_total[15s])"),
        q("increase(node_cpu_seconds_total[2m])"),
        q("increase(request_duration_seconds_bucket[1m])"),
        q("delta(http_requests_total[45s])"),
        q("irate(request_duration_seconds_count[30s])"),
        q("resets(request_duration_seconds_sum[2h])"),
        // Functions and aggregations Prometheus 2.x lacked; in Prometheus
        // most are behind --enable-feature=promql-experimental-functions.
        q("mad_over_time(temperature_celsius[10m])"),
        q("mad_over_time(queue_depth[30m])"),
        qs(r#"sort_by_label(queue_depth, "instance")"#),
        qs(r#"sort_by_label(temperature_celsius, "sensor", "instance")"#),
        qs(r#"sort_by_label_desc(http_requests_total, "instance", "method", "code")"#),
        qs(r#"sort_by_label_desc(rate(node_cpu_seconds_total[5m]), "mode")"#),
        q("limitk(2, queue_depth)"),
        q("limitk by (job) (1, http_requests_total)"),
        q("limitk(100, temperature_celsius)"),
        q("limit_ratio(0.5, http_requests_total)"),
        q("limit_ratio(-0.3, queue_depth)"),
        q("limit_ratio by (instance) (1, temperature_celsius)"),
        q("double_exponential_smoothing(temperature_celsius[10m], 0.5, 0.5)"),
        q("double_exponential_smoothing(queue_depth[15m], 0.2, 0.8)"),
        q("histogram_fraction(0, 0.25, rate(request_duration_seconds_bucket[5m]))"),
        q("histogram_fraction(0.1, 2, sum by (le) (rate(request_duration_seconds_bucket[10m])))"),
        q(
            "histogram_fraction(-Inf, 1, sum by (job, le) (increase(request_duration_seconds_bucket[30m])))",
        ),
        q("histogram_fraction(3, 1, rate(request_duration_seconds_bucket[5m]))"),
        q(
            r#"histogram_quantiles(sum by (le) (rate(request_duration_seconds_bucket[5m])), "q", 0.5, 0.9, 0.99)"#,
        ),
        q("first_over_time(temperature_celsius[10m])"),
        q("ts_of_first_over_time(http_requests_total[5m])"),
        q("ts_of_last_over_time(queue_depth[5m])"),
        q("ts_of_max_over_time(temperature_celsius[30m])"),
        q("ts_of_min_over_time(queue_depth[10m])"),
        q("max_of(scalar(sum(queue_depth)), 100)"),
        q("min_of(time(), 1700005000)"),
        q("vector(step())"),
        q("vector(start() - end() + range())"),
    ];
    v.sort_by(|a, b| a.expr.cmp(&b.expr));
    v.dedup_by(|a, b| a.expr == b.expr);
    v
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// Values are equal within a relative tolerance, with an absolute floor for
/// results that cancel to about zero; NaN equals NaN.
pub fn values_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    let d = (a - b).abs();
    d <= 1e-9 * a.abs().max(b.abs()) || d <= 1e-11
}

fn parse_float(v: &Value) -> Option<f64> {
    argus_model::strconv::parse_float(v.as_str()?).ok()
}

fn parse_point(v: &Value) -> Option<(i64, f64)> {
    let a = v.as_array()?;
    let t = a.first()?.as_f64()?;
    Some(((t * 1000.0).round() as i64, parse_float(a.get(1)?)?))
}

fn label_key(metric: Option<&Value>) -> String {
    let mut m: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(Value::Object(o)) = metric {
        for (k, v) in o {
            m.insert(k, v.as_str().unwrap_or("?"));
        }
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn fmt_point(p: (i64, f64)) -> String {
    format!("{}@{}", p.1, ts_text(p.0))
}

/// What `data` holds, in a comparable shape.
#[derive(Debug)]
enum Shaped {
    Vector(Vec<(String, (i64, f64))>),
    Matrix(Vec<(String, Vec<(i64, f64)>)>),
    Scalar((i64, f64)),
    String(String),
}

fn shape(data: &Value) -> Result<Shaped, String> {
    let rt = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or("no resultType")?;
    let res = data.get("result").ok_or("no result")?;
    match rt {
        "vector" => {
            let mut out = Vec::new();
            for e in res.as_array().ok_or("vector result not an array")? {
                let p = e
                    .get("value")
                    .and_then(parse_point)
                    .ok_or("bad vector sample")?;
                out.push((label_key(e.get("metric")), p));
            }
            Ok(Shaped::Vector(out))
        }
        "matrix" => {
            let mut out = Vec::new();
            for e in res.as_array().ok_or("matrix result not an array")? {
                let pts = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(parse_point).collect::<Option<Vec<_>>>())
                    .unwrap_or(Some(Vec::new()))
                    .ok_or("bad matrix point")?;
                out.push((label_key(e.get("metric")), pts));
            }
            Ok(Shaped::Matrix(out))
        }
        "scalar" => Ok(Shaped::Scalar(parse_point(res).ok_or("bad scalar")?)),
        "string" => Ok(Shaped::String(res.to_string())),
        other => Err(format!("unknown resultType {other}")),
    }
}

fn type_name(s: &Shaped) -> &'static str {
    match s {
        Shaped::Vector(_) => "vector",
        Shaped::Matrix(_) => "matrix",
        Shaped::Scalar(_) => "scalar",
        Shaped::String(_) => "string",
    }
}

fn points_equal(a: (i64, f64), b: (i64, f64)) -> bool {
    a.0 == b.0 && values_equal(a.1, b.1)
}

/// Compares the parsed JSON answers; returns the differences (empty when
/// equal). `reference` is Prometheus, `got` is Argus.
pub fn compare(reference: &Value, got: &Value, ordered: bool) -> Vec<String> {
    let mut diffs = Vec::new();
    let st_r = reference.get("status").and_then(Value::as_str);
    let st_g = got.get("status").and_then(Value::as_str);
    if st_r != Some("success") || st_g != Some("success") {
        if st_r == st_g {
            let et_r = reference.get("errorType");
            let et_g = got.get("errorType");
            if et_r != et_g {
                diffs.push(format!(
                    "errorType: prometheus {et_r:?} ({}), argus {et_g:?} ({})",
                    reference.get("error").unwrap_or(&Value::Null),
                    got.get("error").unwrap_or(&Value::Null)
                ));
            }
        } else {
            diffs.push(format!(
                "status: prometheus {st_r:?} {}, argus {st_g:?} {}",
                reference.get("error").unwrap_or(&Value::Null),
                got.get("error").unwrap_or(&Value::Null)
            ));
        }
        return diffs;
    }
    diffs.extend(compare_annotations(reference, got));
    let (r, g) = match (reference.get("data").map(shape), got.get("data").map(shape)) {
        (Some(Ok(r)), Some(Ok(g))) => (r, g),
        (r, g) => {
            diffs.push(format!("unreadable data: prometheus {r:?}, argus {g:?}"));
            return diffs;
        }
    };
    if type_name(&r) != type_name(&g) {
        diffs.push(format!(
            "resultType: prometheus {}, argus {}",
            type_name(&r),
            type_name(&g)
        ));
        return diffs;
    }
    match (r, g) {
        (Shaped::Scalar(a), Shaped::Scalar(b)) if !points_equal(a, b) => {
            diffs.push(format!(
                "scalar: prometheus {}, argus {}",
                fmt_point(a),
                fmt_point(b)
            ));
        }
        (Shaped::String(a), Shaped::String(b)) if a != b => {
            diffs.push(format!("string: prometheus {a}, argus {b}"));
        }
        (Shaped::Vector(a), Shaped::Vector(b)) => {
            if ordered {
                let ka: Vec<&String> = a.iter().map(|x| &x.0).collect();
                let kb: Vec<&String> = b.iter().map(|x| &x.0).collect();
                if ka != kb && ka.len() == kb.len() {
                    diffs.push(format!("order: prometheus {ka:?}, argus {kb:?}"));
                }
            }
            let ma: BTreeMap<_, _> = a.into_iter().collect();
            let mb: BTreeMap<_, _> = b.into_iter().collect();
            diff_keys(&ma, &mb, &mut diffs);
            for (k, pa) in &ma {
                if let Some(pb) = mb.get(k)
                    && !points_equal(*pa, *pb)
                {
                    diffs.push(format!(
                        "{k}: prometheus {}, argus {}",
                        fmt_point(*pa),
                        fmt_point(*pb)
                    ));
                }
            }
        }
        (Shaped::Matrix(a), Shaped::Matrix(b)) => {
            let ma: BTreeMap<_, _> = a.into_iter().collect();
            let mb: BTreeMap<_, _> = b.into_iter().collect();
            diff_keys(&ma, &mb, &mut diffs);
            for (k, pa) in &ma {
                let Some(pb) = mb.get(k) else { continue };
                let n = pa.len().max(pb.len());
                let mut bad = 0;
                let mut first = None;
                for i in 0..n {
                    match (pa.get(i), pb.get(i)) {
                        (Some(x), Some(y)) if points_equal(*x, *y) => {}
                        (x, y) => {
                            bad += 1;
                            if first.is_none() {
                                first = Some(format!(
                                    "point {i}: prometheus {}, argus {}",
                                    x.map_or("none".into(), |p| fmt_point(*p)),
                                    y.map_or("none".into(), |p| fmt_point(*p))
                                ));
                            }
                        }
                    }
                }
                if bad > 0 {
                    diffs.push(format!(
                        "{k}: {bad} of {n} points differ ({} vs {} points); first {}",
                        pa.len(),
                        pb.len(),
                        first.unwrap_or_default()
                    ));
                }
            }
        }
        _ => {}
    }
    diffs
}

/// The `warnings` and `infos` of both answers, compared as sets of texts.
pub fn compare_annotations(reference: &Value, got: &Value) -> Vec<String> {
    let texts = |v: &Value, key: &str| -> std::collections::BTreeSet<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut diffs = Vec::new();
    for key in ["warnings", "infos"] {
        let (a, b) = (texts(reference, key), texts(got, key));
        for t in a.difference(&b) {
            diffs.push(format!("{key}: only in prometheus: {t}"));
        }
        for t in b.difference(&a) {
            diffs.push(format!("{key}: only in argus: {t}"));
        }
    }
    diffs
}

fn diff_keys<V>(a: &BTreeMap<String, V>, b: &BTreeMap<String, V>, diffs: &mut Vec<String>) {
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    if !only_a.is_empty() {
        diffs.push(format!(
            "{} series only in prometheus, e.g. {}",
            only_a.len(),
            only_a
                .iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if !only_b.is_empty() {
        diffs.push(format!(
            "{} series only in argus, e.g. {}",
            only_b.len(),
            only_b
                .iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
}

fn result_is_empty(v: &Value) -> bool {
    v.pointer("/data/result")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// One query evaluation that differed.
#[derive(Debug)]
pub struct Mismatch {
    pub query: String,
    /// `instant t=...` or `range start..end step`.
    pub at: String,
    pub details: Vec<String>,
}

/// The outcome of a differential run.
#[derive(Debug, Default)]
pub struct Report {
    pub queries: usize,
    pub evaluations: usize,
    /// Evaluations where Prometheus answered an empty result.
    pub empty_reference: usize,
    /// Queries Prometheus refused (a bug in the corpus, not in Argus).
    pub reference_errors: Vec<String>,
    /// Queries whose every evaluation was empty in Prometheus.
    pub always_empty: Vec<String>,
    pub mismatches: Vec<Mismatch>,
    pub elapsed: Duration,
}

impl Report {
    /// A human-readable summary with every mismatch (details capped).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for m in &self.mismatches {
            let _ = writeln!(s, "MISMATCH {}  [{}]", m.query, m.at);
            for d in m.details.iter().take(6) {
                let _ = writeln!(s, "    {d}");
            }
            if m.details.len() > 6 {
                let _ = writeln!(s, "    ... {} more", m.details.len() - 6);
            }
        }
        for e in &self.always_empty {
            let _ = writeln!(s, "note: always empty in prometheus: {e}");
        }
        for e in &self.reference_errors {
            let _ = writeln!(s, "REFERENCE ERROR {e}");
        }
        let _ = writeln!(
            s,
            "differential: {} queries, {} evaluations ({} empty in prometheus), {} mismatches, {} reference errors, {:.1}s",
            self.queries,
            self.evaluations,
            self.empty_reference,
            self.mismatches.len(),
            self.reference_errors.len(),
            self.elapsed.as_secs_f64()
        );
        s
    }
}

/// What to compare Prometheus with.
pub enum Candidate<'a> {
    /// `argus server` from this binary.
    Argus(&'a Path),
    /// A second Prometheus on a copy of the data: checks the harness and the
    /// corpus themselves (every query must agree with itself).
    Prometheus,
}

pub fn get_json(port: u16, path: &str) -> Value {
    match http_get(port, path, Duration::from_secs(30)) {
        Ok(r) => serde_json::from_str(&r.body).unwrap_or_else(|e| {
            serde_json::json!({
                "status": "error",
                "errorType": "harness",
                "error": format!("HTTP {}: unparsable body ({e}): {}", r.status,
                    r.body.chars().take(300).collect::<String>()),
            })
        }),
        Err(e) => serde_json::json!({
            "status": "error", "errorType": "harness", "error": format!("request failed: {e}")
        }),
    }
}

/// Backfills the data into the reference Prometheus and the candidate,
/// starts both on loopback, runs the corpus as instant and range queries,
/// and compares.
pub fn run(candidate: Candidate<'_>) -> Result<Report, String> {
    let started = Instant::now();
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let w = work.path();
    let file = w.join("data.om.txt");
    std::fs::write(&file, openmetrics_data()).map_err(|e| e.to_string())?;
    let config = w.join("prometheus.yml");
    std::fs::write(&config, MINIMAL_CONFIG).map_err(|e| e.to_string())?;

    let prometheus = crate::peers::prometheus_bin();
    let promtool = crate::peers::promtool_bin();
    let prom_dir = w.join("prom");
    let mut c = Command::new(&promtool);
    c.args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&prom_dir);
    run_backfill(c, "promtool tsdb create-blocks-from openmetrics")?;

    let cand_dir = w.join("candidate");
    let (cand_cmd, cand_name) = match candidate {
        Candidate::Argus(bin) => {
            let mut c = Command::new(bin);
            c.args(["tools", "import", "openmetrics", "--quiet"])
                .arg(&file)
                .arg(&cand_dir);
            run_backfill(c, "argus tools import openmetrics")?;
            let port = free_port();
            (argus_command(bin, &cand_dir, &config, port), "argus")
        }
        Candidate::Prometheus => {
            let mut c = Command::new(&promtool);
            c.args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&file)
                .arg(&cand_dir);
            run_backfill(c, "promtool (second copy)")?;
            let port = free_port();
            (
                prometheus_command(&prometheus, &cand_dir, &config, port),
                "prometheus-2",
            )
        }
    };
    let cand_port = cand_cmd
        .get_args()
        .filter_map(|a| a.to_str())
        .find_map(|a| a.strip_prefix("--web.listen-address=127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .ok_or("no port")?;

    let prom_port = free_port();
    let mut prom = Daemon::start(
        "prometheus",
        prometheus_command(&prometheus, &prom_dir, &config, prom_port),
        prom_port,
        &w.join("prometheus.log"),
    )?;
    let mut cand = Daemon::start(cand_name, cand_cmd, cand_port, &w.join("candidate.log"))?;
    prom.ready("/-/ready", Duration::from_secs(60))?;
    cand.ready("/-/ready", Duration::from_secs(60))?;

    let mut report = Report::default();
    let corpus = queries();
    report.queries = corpus.len();
    let deadline = Instant::now() + Duration::from_secs(90);
    for qy in &corpus {
        if Instant::now() > deadline {
            return Err(format!(
                "the run exceeded its time budget after {} evaluations",
                report.evaluations
            ));
        }
        let enc = urlencode(&qy.expr);
        let mut evals: Vec<(String, String, bool)> = instant_times()
            .into_iter()
            .map(|t| {
                (
                    format!("instant t={t}"),
                    format!("/api/v1/query?query={enc}&time={t}"),
                    qy.ordered,
                )
            })
            .collect();
        if !qy.instant_only {
            for (s, e, step) in range_windows() {
                evals.push((
                    format!("range {s}..{e} step {step}s"),
                    format!("/api/v1/query_range?query={enc}&start={s}&end={e}&step={step}"),
                    false,
                ));
            }
        }
        let mut non_empty = 0;
        for (at, path, ordered) in evals {
            report.evaluations += 1;
            let r = get_json(prom.port, &path);
            if r.get("status").and_then(Value::as_str) != Some("success") {
                report.reference_errors.push(format!(
                    "{} [{at}]: {}",
                    qy.expr,
                    r.get("error").unwrap_or(&Value::Null)
                ));
                continue;
            }
            if result_is_empty(&r) {
                report.empty_reference += 1;
            } else {
                non_empty += 1;
            }
            let g = get_json(cand.port, &path);
            let details = compare(&r, &g, ordered);
            if !details.is_empty() {
                report.mismatches.push(Mismatch {
                    query: qy.expr.clone(),
                    at,
                    details,
                });
            }
        }
        if non_empty == 0 {
            report.always_empty.push(qy.expr.clone());
        }
    }
    drop(cand);
    drop(prom);
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_on_the_grid_except_the_late_target() {
        for step in 0..STEPS {
            for target in 1..=2 {
                assert_eq!(sample_ms(step, target), (START + step * 15) * 1000);
            }
            let off = sample_ms(step, 3) - (START + step * 15) * 1000;
            assert!((4500..4750).contains(&off), "{off}");
        }
        // Every query time is on the grid, so windows start and end on samples.
        for t in instant_times() {
            assert_eq!((t - START) % 15, 0, "{t}");
        }
    }

    #[test]
    fn tolerance() {
        assert!(values_equal(f64::NAN, f64::NAN));
        assert!(values_equal(1.0, 1.0 + 1e-12));
        assert!(!values_equal(1.0, 1.0001));
        assert!(!values_equal(f64::INFINITY, 1e308));
        assert!(values_equal(f64::NEG_INFINITY, f64::NEG_INFINITY));
    }

    #[test]
    fn compare_finds_differences() {
        let a = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1.5,"1"]},{"metric":{"a":"2"},"value":[1.5,"NaN"]}]}});
        let same = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"2"},"value":[1.5,"NaN"]},{"metric":{"a":"1"},"value":[1.5,"1.0000000000001"]}]}});
        assert!(compare(&a, &same, false).is_empty());
        assert_eq!(compare(&a, &same, true).len(), 1);
        let other = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1.5,"2"]},{"metric":{"a":"3"},"value":[1.5,"NaN"]}]}});
        assert_eq!(compare(&a, &other, false).len(), 3);
        let m1 = serde_json::json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"+Inf"]]}]}});
        let m2 = serde_json::json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"1e308"]]}]}});
        assert!(compare(&m1, &m1, false).is_empty());
        assert_eq!(compare(&m1, &m2, false).len(), 1);
        let e = serde_json::json!({"status":"error","errorType":"bad_data","error":"x"});
        assert!(compare(&e, &e, false).is_empty());
        assert_eq!(compare(&e, &m1, false).len(), 1);
    }

    #[test]
    fn corpus_is_large_enough() {
        assert!(queries().len() >= 80, "{}", queries().len());
    }
}
