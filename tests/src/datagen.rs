//! Deterministic OpenMetrics test data: counters, gauges and classic
//! histograms at a fixed interval, with the samples they must read back as.

use std::collections::BTreeMap;
use std::fmt::Write;

use argus_model::strconv::{format_float, parse_decimal_float};
use argus_model::{Labels, Sample};

#[derive(Debug, Clone)]
pub struct GenSpec {
    pub counters: usize,
    pub gauges: usize,
    pub histograms: usize,
    pub start_s: i64,
    pub duration_s: i64,
    pub interval_s: i64,
    pub seed: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            counters: 40,
            gauges: 40,
            histograms: 10,
            start_s: 1_700_000_100,
            duration_s: 6 * 3600,
            interval_s: 15,
            seed: 42,
        }
    }
}

/// A tiny deterministic generator (xorshift64*), enough for test data.
/// The seed must not be zero.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const BUCKETS: [&str; 9] = [
    "0.005", "0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
];

/// Writes one OpenMetrics sample line: `name{k="v",...} value timestamp`.
pub fn write_sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    v: f64,
    timestamp: &str,
) {
    out.push_str(name);
    out.push('{');
    for (i, (k, val)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{val}\"");
    }
    let _ = writeln!(out, "}} {} {timestamp}", format_float(v));
}

/// The OpenMetrics text and, per series, the samples it holds, sorted by
/// labels. Timestamps are whole seconds with a millisecond jitter on some
/// samples, written as decimal seconds.
pub fn generate(spec: &GenSpec) -> (String, Vec<(Labels, Vec<Sample>)>) {
    let mut rng = Rng(spec.seed.max(1));
    let mut out = String::with_capacity(64 << 20);
    let mut expected: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    let steps = spec.duration_s / spec.interval_s;
    // Timestamps shared by every series: some carry a millisecond offset.
    let times: Vec<(String, i64)> = (0..steps)
        .map(|i| {
            let s = spec.start_s + i * spec.interval_s;
            let text = if i % 7 == 3 {
                format!("{s}.{:03}", 1 + (i % 500))
            } else {
                s.to_string()
            };
            // The conversion Prometheus applies: int64(seconds * 1000).
            let ms = (parse_decimal_float(text.as_bytes()).unwrap_or(0.0) * 1000.0) as i64;
            (text, ms)
        })
        .collect();
    let mut emit =
        |out: &mut String, name: &str, labels: &[(&str, String)], ts: &(String, i64), v: f64| {
            write_sample(
                out,
                name,
                labels.iter().map(|(k, v)| (*k, v.as_str())),
                v,
                &ts.0,
            );
            let mut pairs: Vec<(&str, &str)> =
                labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pairs.push(("__name__", name));
            expected
                .entry(Labels::from_pairs(&pairs))
                .or_default()
                .push(Sample::new(ts.1, v));
        };

    out.push_str("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
    for c in 0..spec.counters {
        let labels = [
            ("job", "api".to_string()),
            ("instance", format!("host-{:03}:9100", c / 4)),
            ("code", ["200", "404", "500", "503"][c % 4].to_string()),
        ];
        let mut v = rng.below(1000) as f64;
        for ts in &times {
            v += match rng.below(10) {
                0 => 0.0,
                1 => rng.unit() * 3.0,
                _ => rng.below(50) as f64,
            };
            emit(&mut out, "http_requests_total", &labels, ts, v);
        }
    }
    out.push_str("# HELP node_temperature_celsius A gauge that wanders.\n# TYPE node_temperature_celsius gauge\n");
    for g in 0..spec.gauges {
        let labels = [
            ("instance", format!("host-{:03}:9100", g / 2)),
            ("sensor", format!("s{}", g % 2)),
        ];
        let mut v = 40.0 + rng.below(20) as f64;
        for (i, ts) in times.iter().enumerate() {
            v = match g % 4 {
                // A constant stretch, then steps.
                0 => {
                    if i % 200 == 0 {
                        v + 1.0
                    } else {
                        v
                    }
                }
                1 => ((v + (rng.unit() - 0.5) * 2.0) * 100.0).round() / 100.0,
                2 => -(rng.unit() * 1e6).floor() / 8.0,
                _ => v + rng.unit() - 0.5,
            };
            emit(&mut out, "node_temperature_celsius", &labels, ts, v);
        }
    }
    out.push_str(
        "# HELP rpc_duration_seconds RPC latency.\n# TYPE rpc_duration_seconds histogram\n",
    );
    for h in 0..spec.histograms {
        let base = [
            ("service", format!("svc-{h}")),
            ("instance", format!("host-{:03}:9100", h)),
        ];
        let mut counts = [0u64; 10];
        let mut sum = 0.0f64;
        for ts in &times {
            let n = rng.below(30);
            for _ in 0..n {
                let b = rng.below(10) as usize;
                counts[b] += 1;
                sum += [0.003, 0.008, 0.03, 0.07, 0.2, 0.4, 0.8, 2.0, 4.0, 9.0][b];
            }
            let mut cum = 0;
            for (i, le) in BUCKETS.iter().chain(std::iter::once(&"+Inf")).enumerate() {
                cum += counts[i];
                let mut l = base.to_vec();
                l.push(("le", le.to_string()));
                emit(&mut out, "rpc_duration_seconds_bucket", &l, ts, cum as f64);
            }
            emit(
                &mut out,
                "rpc_duration_seconds_count",
                &base,
                ts,
                cum as f64,
            );
            sum = (sum * 1000.0).round() / 1000.0;
            emit(&mut out, "rpc_duration_seconds_sum", &base, ts, sum);
        }
    }
    out.push_str("# EOF\n");
    (out, expected.into_iter().collect())
}

/// The same data as Prometheus text with millisecond timestamps, for
/// systems that ingest that (VictoriaMetrics' `/api/v1/import/prometheus`).
pub fn to_prometheus_text(expected: &[(Labels, Vec<Sample>)]) -> String {
    let mut out = String::new();
    for (labels, samples) in expected {
        let mut series = labels.metric_name().unwrap_or_default().to_string();
        series.push('{');
        let rest: Vec<String> = labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| format!("{}=\"{}\"", l.name, l.value))
            .collect();
        series.push_str(&rest.join(","));
        series.push('}');
        for s in samples {
            let _ = writeln!(out, "{series} {} {}", format_float(s.v), s.t);
        }
    }
    out
}
