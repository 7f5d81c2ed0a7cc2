//! The query benchmarks' data set, queries and timing, shared by
//! `query-bench` (single nodes) and `cluster-bench` (fan-out, store
//! gateways).
//!
//! Data (`instances`, default 40 in query-bench): `bench_requests_total`
//! counters (instances × 100 handlers), a `bench_inflight` gauge with the
//! same label sets (one-to-one join), a classic histogram
//! `bench_latency_seconds` (instances × 5 handlers × 11 buckets, plus
//! `_sum`/`_count`) and an info-like `bench_instance_info` (group_left) —
//! 266 series per instance × 6h at 15s, on the 15s grid as scraped data is,
//! counters starting at zero.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use argus_tests::differential::{http_get, urlencode};
use serde_json::Value;

/// 2h-aligned start of the data.
pub const START: i64 = 1_700_006_400;
pub const HOURS: i64 = 6;
pub const END: i64 = START + HOURS * 3600;
pub const STEP: i64 = 15;
pub const HANDLERS: usize = 100;
pub const HIST_HANDLERS: usize = 5;
pub const LE: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf",
];
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Where generated samples go: OpenMetrics (seconds) or Prometheus text
/// with millisecond timestamps (VictoriaMetrics' import).
pub trait Sink {
    fn family(&mut self, name: &str, kind: &str);
    fn sample(&mut self, series: &str, v: f64, t_s: i64);
}

pub struct OmSink<W: Write>(pub W);

impl<W: Write> Sink for OmSink<W> {
    fn family(&mut self, name: &str, kind: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, series: &str, v: f64, t_s: i64) {
        let _ = writeln!(self.0, "{series} {v} {t_s}");
    }
}

pub fn instance(i: usize) -> String {
    format!("host-{i:02}")
}

/// Writes the whole data set into `sink`; returns (series, samples).
pub fn generate(sink: &mut dyn Sink, instances: usize) -> (usize, usize) {
    let steps = HOURS * 3600 / STEP;
    let times = || (0..steps).map(|k| START + k * STEP);
    let mut series = 0;

    sink.family("bench_requests", "counter");
    for i in 0..instances {
        for h in 0..HANDLERS {
            let name = format!(
                "bench_requests_total{{job=\"bench\",instance=\"{}\",handler=\"/api/h{h:03}\"}}",
                instance(i)
            );
            let mut rng = Rng::new((i * HANDLERS + h) as u64 + 1);
            let mut v = 0.0;
            // Fractional increments (exact in binary) make ties in topk
            // improbable.
            let rate = 64 * (1 + rng.below(60));
            for (k, t) in times().enumerate() {
                if k > 0 {
                    v += rng.below(rate) as f64 / 64.0;
                }
                sink.sample(&name, v, t);
            }
            series += 1;
        }
    }
    sink.family("bench_inflight", "gauge");
    for i in 0..instances {
        for h in 0..HANDLERS {
            let name = format!(
                "bench_inflight{{job=\"bench\",instance=\"{}\",handler=\"/api/h{h:03}\"}}",
                instance(i)
            );
            let mut rng = Rng::new((i * HANDLERS + h) as u64 + 1_000_003);
            for t in times() {
                sink.sample(&name, rng.below(50) as f64, t);
            }
            series += 1;
        }
    }
    sink.family("bench_latency_seconds", "histogram");
    const MIDS: [f64; 11] = [0.004, 0.008, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2.0, 4.0, 8.0];
    for i in 0..instances {
        for h in 0..HIST_HANDLERS {
            let base = format!(
                "job=\"bench\",instance=\"{}\",handler=\"/api/h{h:03}\"",
                instance(i)
            );
            let names: Vec<String> = LE
                .iter()
                .map(|le| format!("bench_latency_seconds_bucket{{{base},le=\"{le}\"}}"))
                .collect();
            let count_name = format!("bench_latency_seconds_count{{{base}}}");
            let sum_name = format!("bench_latency_seconds_sum{{{base}}}");
            let mut rng = Rng::new((i * HIST_HANDLERS + h) as u64 + 2_000_003);
            let mut counts = [0u64; 11];
            let mut sum = 0.0;
            for (k, t) in times().enumerate() {
                let observed = if k == 0 { 0 } else { rng.below(50) };
                for _ in 0..observed {
                    let b = (rng.below(7) + rng.below(5)) as usize;
                    counts[b.min(10)] += 1;
                    sum += MIDS[b.min(10)];
                }
                let mut cum = 0;
                for (b, n) in names.iter().enumerate() {
                    cum += counts[b];
                    sink.sample(n, cum as f64, t);
                }
                sink.sample(&count_name, cum as f64, t);
                sink.sample(&sum_name, (sum * 1000.0f64).round() / 1000.0, t);
            }
            series += LE.len() + 2;
        }
    }
    sink.family("bench_instance_info", "gauge");
    for i in 0..instances {
        let name = format!(
            "bench_instance_info{{instance=\"{}\",version=\"v{}\",region=\"r{}\"}}",
            instance(i),
            i % 4,
            i % 3
        );
        for t in times() {
            sink.sample(&name, 1.0, t);
        }
        series += 1;
    }
    (series, series * steps as usize)
}

pub fn queries() -> Vec<(&'static str, &'static str)> {
    vec![
        ("sum", "sum(rate(bench_requests_total[5m]))"),
        (
            "sum by",
            "sum by (instance) (rate(bench_requests_total[5m]))",
        ),
        ("topk", "topk(5, rate(bench_requests_total[5m]))"),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (le) (rate(bench_latency_seconds_bucket[5m])))",
        ),
        (
            "join 1:1",
            "sum by (instance) (rate(bench_requests_total[5m]) * bench_inflight)",
        ),
        (
            "group_left",
            "sum by (version) (rate(bench_requests_total[5m]) * on(instance) group_left(version) bench_instance_info)",
        ),
        ("count", "count(bench_requests_total)"),
        ("selector", "bench_inflight"),
    ]
}

/// `(label, path)` of every measured request.
pub fn requests() -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for (_, q) in queries() {
        let e = urlencode(q);
        out.push((
            q.to_string(),
            "instant",
            format!("/api/v1/query?query={e}&time={END}"),
        ));
        out.push((
            q.to_string(),
            "range 6h/60s",
            format!(
                "/api/v1/query_range?query={e}&start={}&end={END}&step=60",
                END - HOURS * 3600
            ),
        ));
    }
    out
}

/// The median latency (ms) of `runs` requests to `path` on each port, after
/// one warm-up each, with the last body. Requests alternate between the
/// ports, so a change in the machine's load affects every server alike.
pub fn measure_interleaved(
    ports: &[u16],
    path: &str,
    runs: usize,
) -> Vec<Result<(f64, String), String>> {
    let once = |port: u16| -> Result<(Duration, String), String> {
        let start = Instant::now();
        let r = http_get(port, path, QUERY_TIMEOUT)?;
        let took = start.elapsed();
        if r.status != 200 {
            let msg = serde_json::from_str::<Value>(&r.body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| r.body.chars().take(120).collect());
            return Err(format!("HTTP {}: {msg}", r.status));
        }
        Ok((took, r.body))
    };
    let mut results: Vec<Result<(Vec<f64>, String), String>> = ports
        .iter()
        .map(|&p| once(p).map(|_| (Vec::with_capacity(runs), String::new())))
        .collect();
    for _ in 0..runs {
        for (&port, result) in ports.iter().zip(results.iter_mut()) {
            if let Ok((times, body)) = result {
                match once(port) {
                    Ok((t, b)) => {
                        times.push(t.as_secs_f64() * 1000.0);
                        *body = b;
                    }
                    Err(e) => *result = Err(e),
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.map(|(mut times, body)| {
                times.sort_by(f64::total_cmp);
                (times[times.len() / 2], body)
            })
        })
        .collect()
}

/// Median milliseconds of `runs` requests after one warm-up, and the last
/// body; or the error (HTTP status and message).
pub fn measure(port: u16, path: &str, runs: usize) -> Result<(f64, String), String> {
    measure_interleaved(&[port], path, runs)
        .pop()
        .unwrap_or_else(|| Err("no measurement".to_string()))
}

pub fn short(e: &str) -> String {
    let e = e.replace('|', "/");
    let mut s: String = e.chars().take(60).collect();
    if e.chars().count() > 60 {
        s.push('…');
    }
    format!("ERR {s}")
}

/// Writes the data set as OpenMetrics text (with `# EOF`) to `path`;
/// returns (series, samples).
pub fn write_openmetrics(path: &Path, instances: usize) -> std::io::Result<(usize, usize)> {
    let f = std::fs::File::create(path)?;
    let mut sink = OmSink(BufWriter::with_capacity(1 << 20, f));
    let r = generate(&mut sink, instances);
    writeln!(sink.0, "# EOF")?;
    sink.0.flush()?;
    Ok(r)
}
