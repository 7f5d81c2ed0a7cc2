//! Argus's own metrics for `/metrics`: HTTP requests, the query engine and
//! the process (read cheaply from `/proc/self` on each scrape).

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub type LabelPairs = Vec<(&'static str, String)>;

fn request_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

/// Metrics updated by the API handlers.
#[derive(Clone)]
pub struct ApiMetrics {
    pub http_requests: Family<LabelPairs, Counter>,
    pub http_duration: Family<LabelPairs, Histogram, fn() -> Histogram>,
    pub queries_in_flight: Gauge,
    pub query_duration: Histogram,
    pub query_samples: Counter,
    pub query_errors: Family<LabelPairs, Counter>,
    pub max_concurrency: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub config_reload_success: Gauge,
    pub config_reload_time: Gauge<f64, AtomicU64>,
}

impl ApiMetrics {
    /// Creates the metrics and registers them, with the process collector.
    pub fn register(registry: &mut Registry) -> ApiMetrics {
        let m = ApiMetrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(request_histogram),
            queries_in_flight: Gauge::default(),
            query_duration: Histogram::new(exponential_buckets(0.001, 4.0, 9)),
            query_samples: Counter::default(),
            query_errors: Family::default(),
            max_concurrency: Gauge::default(),
            config_reload_success: Gauge::default(),
            config_reload_time: Gauge::default(),
        };
        registry.register(
            "argus_http_requests",
            "HTTP requests by handler and status code",
            m.http_requests.clone(),
        );
        registry.register(
            "argus_http_request_duration_seconds",
            "HTTP request latency by handler",
            m.http_duration.clone(),
        );
        registry.register(
            "argus_engine_queries",
            "PromQL queries being evaluated or waiting for a slot",
            m.queries_in_flight.clone(),
        );
        registry.register(
            "argus_engine_queries_concurrent_max",
            "The most queries evaluated at once (--query.max-concurrency)",
            m.max_concurrency.clone(),
        );
        registry.register(
            "argus_engine_query_duration_seconds",
            "Time to evaluate a query, waiting for a slot included",
            m.query_duration.clone(),
        );
        registry.register(
            "argus_engine_query_samples",
            "Samples loaded from storage by queries",
            m.query_samples.clone(),
        );
        registry.register(
            "argus_engine_query_errors",
            "Failed queries by error type",
            m.query_errors.clone(),
        );
        registry.register(
            "argus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.config_reload_success.clone(),
        );
        registry.register(
            "argus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.config_reload_time.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector::new()));
        m
    }
}

/// `process_*` metrics from `/proc/self`.
#[derive(Debug)]
pub struct ProcessCollector {
    fallback_start: f64,
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        ProcessCollector {
            fallback_start: argus_model::time::now_ms() as f64 / 1000.0,
        }
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

/// What `/proc/self` tells about the process; `None` where unreadable.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub threads: Option<f64>,
}

/// Clock ticks per second of `/proc/<pid>/stat` times; 100 on every Linux
/// platform Argus targets.
const TICKS: f64 = 100.0;

pub fn read_proc_stats() -> ProcStats {
    let mut s = ProcStats::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // f[0] is field 3 (state); utime is field 14, stime 15,
            // num_threads 20, starttime 22, vsize 23.
            let num = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
            if let (Some(u), Some(st)) = (num(11), num(12)) {
                s.cpu_seconds = Some((u + st) / TICKS);
            }
            s.threads = num(17);
            s.virtual_bytes = num(20);
            if let Some(start) = num(19)
                && let Some(btime) = boot_time()
            {
                s.start_time_seconds = Some(btime + start / TICKS);
            }
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        s.resident_bytes = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb * 1024.0);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        s.open_fds = Some(dir.count() as f64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        s.max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
    }
    s
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = read_proc_stats();
        if let Some(v) = s.cpu_seconds {
            let c = ConstCounter::new(v);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                c.metric_type(),
            )?;
            c.encode(m)?;
        }
        if let Some(v) = s.resident_bytes {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                v,
            )?;
        }
        if let Some(v) = s.virtual_bytes {
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                v,
            )?;
        }
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            s.start_time_seconds.unwrap_or(self.fallback_start),
        )?;
        if let Some(v) = s.open_fds {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                v,
            )?;
        }
        if let Some(v) = s.max_fds {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                v,
            )?;
        }
        if let Some(v) = s.threads {
            gauge(
                &mut encoder,
                "process_threads",
                "Number of OS threads in the process.",
                v,
            )?;
        }
        Ok(())
    }
}

/// The registry as OpenMetrics text.
pub fn encode_registry(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// The exposition format a `/metrics` client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`, the default (as client_golang's).
    Text,
}

impl ExpositionFormat {
    /// As client_golang's `expfmt.Negotiate`: the acceptable type with the
    /// highest quality that can be served; protobuf is not, so it falls
    /// through to the next, and to text.
    pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
        let Some(accept) = accept else {
            return ExpositionFormat::Text;
        };
        let mut offers: Vec<(f64, usize, ExpositionFormat)> = Vec::new();
        for (i, part) in accept.split(',').enumerate() {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0;
            for p in params {
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            let format = match media.as_str() {
                "application/openmetrics-text" => ExpositionFormat::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => ExpositionFormat::Text,
                _ => continue,
            };
            if q > 0.0 {
                offers.push((q, i, format));
            }
        }
        offers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offers
            .first()
            .map_or(ExpositionFormat::Text, |(_, _, f)| *f)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The registry in `format`.
pub fn encode_registry_as(
    registry: &Registry,
    format: ExpositionFormat,
) -> Result<String, std::fmt::Error> {
    let om = encode_registry(registry)?;
    Ok(match format {
        ExpositionFormat::OpenMetrics => om,
        ExpositionFormat::Text => openmetrics_to_text(&om),
    })
}

/// Rewrites OpenMetrics text as written by our encoder into the Prometheus
/// text format 0.0.4, as client_golang writes it: counters are named with
/// their `_total` sample name, `_created` samples, `# UNIT`, exemplars and
/// `# EOF` go, info and stateset families become gauges, HELP text keeps
/// only the `\\` and `\n` escapes.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    // The current family: its name and OpenMetrics type.
    let mut family = String::new();
    let mut kind = String::new();
    let mut help: Option<String> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            family = name.to_string();
            kind.clear();
            help = Some(text.replace("\\\"", "\""));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            if name != family {
                help = None;
            }
            family = name.to_string();
            kind = t.to_string();
            let (text_name, text_type) = match t {
                "counter" if !name.ends_with("_total") => (format!("{name}_total"), "counter"),
                "counter" => (name.to_string(), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "stateset" | "gauge" => (name.to_string(), "gauge"),
                "histogram" | "gaugehistogram" => (name.to_string(), "histogram"),
                "summary" => (name.to_string(), "summary"),
                _ => (name.to_string(), "untyped"),
            };
            if let Some(h) = help.take() {
                out.push_str("# HELP ");
                out.push_str(&text_name);
                out.push(' ');
                out.push_str(&h);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&text_name);
            out.push(' ');
            out.push_str(text_type);
            out.push('\n');
            continue;
        }
        if line.starts_with('#') {
            // `# UNIT`, `# EOF` and comments.
            continue;
        }
        let sample = strip_exemplar(line);
        let name_end = sample.find(['{', ' ']).unwrap_or(sample.len());
        let name = &sample[..name_end];
        if name.ends_with("_created")
            && matches!(
                kind.as_str(),
                "counter" | "histogram" | "summary" | "gaugehistogram"
            )
        {
            continue;
        }
        out.push_str(sample);
        out.push('\n');
    }
    out
}

/// A sample line without its ` # {...} value` exemplar.
fn strip_exemplar(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_quotes = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'#' if !in_quotes && i > 0 && bytes[i - 1] == b' ' => {
                return line[..i].trim_end();
            }
            _ => {}
        }
        i += 1;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_becomes_text_0_0_4() {
        let om = "# HELP reqs Requests \\\"all\\\".\n# TYPE reqs counter\nreqs_total{code=\"200\"} 3 # {trace=\"a\"} 1\nreqs_created{code=\"200\"} 1.7e9\n# HELP build Build.\n# TYPE build info\nbuild_info{v=\"1 # 2\"} 1\n# HELP up Up.\n# TYPE up gauge\n# UNIT up seconds\nup 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP reqs_total Requests \"all\".\n# TYPE reqs_total counter\nreqs_total{code=\"200\"} 3\n# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{v=\"1 # 2\"} 1\n# HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }

    #[test]
    fn negotiation_as_client_golang() {
        use ExpositionFormat::*;
        for (accept, want) in [
            (None, Text),
            (Some("text/plain;version=0.0.4"), Text),
            (Some("*/*"), Text),
            (
                Some("application/openmetrics-text;version=1.0.0"),
                OpenMetrics,
            ),
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9",
                ),
                Text,
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;q=0.1",
                ),
                OpenMetrics,
            ),
            (Some("application/json"), Text),
        ] {
            assert_eq!(ExpositionFormat::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn encodes_own_and_process_metrics() {
        let mut r = Registry::default();
        let m = ApiMetrics::register(&mut r);
        m.http_requests
            .get_or_create(&vec![
                ("handler", "/api/v1/query".to_string()),
                ("code", "200".to_string()),
            ])
            .inc();
        let text = encode_registry(&r).unwrap_or_default();
        assert!(
            text.contains("argus_http_requests_total{handler=\"/api/v1/query\",code=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
