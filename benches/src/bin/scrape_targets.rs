//! Simulated scrape targets for the scrape benchmark (`benches/run-scrape.sh`).
//!
//! Serves `--targets` targets with `--series` series each, one listener per
//! target on 127.0.0.1 at consecutive ports from `--base-port`, path
//! `/metrics`, Prometheus text 0.0.4 (uncompressed). The series look like a
//! node exporter plus an instrumented HTTP service: per-CPU counters, request
//! counters by handler/method/code, a request-duration histogram and
//! filesystem gauges, 3–4 labels each. Every `--update-seconds` (default 15,
//! the scrape interval) all bodies are re-rendered on a plain thread with new
//! values (counters grow, gauges move), so every scrape sees changed values
//! while a request only clones a pre-rendered body.
//!
//! `--write-config FILE` writes a prometheus.yml scraping all targets every
//! 15s. `--duration-seconds N` (default 3600) bounds the lifetime.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;

const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const SCRAPE_INTERVAL: &str = "15s";

struct Args {
    targets: usize,
    series: usize,
    base_port: u16,
    update_seconds: u64,
    duration_seconds: u64,
    write_config: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: scrape-targets --targets N --series M --base-port P \
         [--update-seconds 15] [--duration-seconds 3600] [--write-config FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        targets: 1000,
        series: 1000,
        base_port: 20000,
        update_seconds: 15,
        duration_seconds: 3600,
        write_config: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--targets" => args.targets = number() as usize,
            "--series" => args.series = number() as usize,
            "--base-port" => args.base_port = u16::try_from(number()).unwrap_or_else(|_| usage()),
            "--update-seconds" => args.update_seconds = number().max(1),
            "--duration-seconds" => args.duration_seconds = number(),
            "--write-config" => args.write_config = Some(value),
            _ => usage(),
        }
    }
    if args.targets == 0 || usize::from(args.base_port) + args.targets > 65536 {
        usage();
    }
    args
}

/// One metric family: its metadata and the series (name plus label block) in
/// exposition order.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    series: Vec<Series>,
}

#[derive(Clone, Copy)]
enum Growth {
    /// A counter growing by about this much per second.
    Counter(f64),
    /// A gauge wandering around this level.
    Gauge(f64),
}

struct Series {
    key: String,
    growth: Growth,
}

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [&str; 4] = ["200", "404", "500", "503"];
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// The same shape for every target (Prometheus adds `instance`): families
/// grow in rounds until there are `want` series, then the list is cut.
fn families(want: usize) -> Vec<Family> {
    let mut cpu = Vec::new();
    let mut requests = Vec::new();
    let mut durations = Vec::new();
    let mut filesystem = Vec::new();
    let mut round = 0usize;
    let total = |c: &Vec<Series>, r: &Vec<Series>, d: &Vec<Series>, f: &Vec<Series>| {
        c.len() + r.len() + d.len() + f.len()
    };
    while total(&cpu, &requests, &durations, &filesystem) < want {
        for mode in CPU_MODES {
            cpu.push(Series {
                key: format!("node_cpu_seconds_total{{cpu=\"{round}\",mode=\"{mode}\"}}"),
                growth: Growth::Counter(0.125),
            });
        }
        let handler = format!("/api/v1/resource{round}");
        for method in METHODS {
            for code in CODES {
                requests.push(Series {
                    key: format!(
                        "http_requests_total{{code=\"{code}\",handler=\"{handler}\",method=\"{method}\"}}"
                    ),
                    growth: Growth::Counter(if code == "200" { 20.0 } else { 0.5 }),
                });
            }
        }
        for le in BUCKETS {
            durations.push(Series {
                key: format!(
                    "http_request_duration_seconds_bucket{{handler=\"{handler}\",method=\"GET\",le=\"{le}\"}}"
                ),
                growth: Growth::Counter(2.0),
            });
        }
        for suffix in ["sum", "count"] {
            durations.push(Series {
                key: format!(
                    "http_request_duration_seconds_{suffix}{{handler=\"{handler}\",method=\"GET\"}}"
                ),
                growth: Growth::Counter(1.5),
            });
        }
        filesystem.push(Series {
            key: format!(
                "node_filesystem_avail_bytes{{device=\"/dev/sd{round}\",fstype=\"ext4\",mountpoint=\"/data/{round}\"}}"
            ),
            growth: Growth::Gauge(5.0e10),
        });
        round += 1;
    }
    let mut out = vec![
        Family {
            name: "node_cpu_seconds_total",
            help: "Seconds the CPUs spent in each mode.",
            kind: "counter",
            series: cpu,
        },
        Family {
            name: "http_requests_total",
            help: "Requests served, by handler, method and status code.",
            kind: "counter",
            series: requests,
        },
        Family {
            name: "http_request_duration_seconds",
            help: "Request latency.",
            kind: "histogram",
            series: durations,
        },
        Family {
            name: "node_filesystem_avail_bytes",
            help: "Filesystem space available to non-root users in bytes.",
            kind: "gauge",
            series: filesystem,
        },
    ];
    let mut left = want;
    for family in &mut out {
        family.series.truncate(left);
        left -= family.series.len();
    }
    out.retain(|f| !f.series.is_empty());
    out
}

/// Renders one target's body for update number `tick`; `seed` varies values
/// between targets.
fn render(families: &[Family], seed: u64, tick: u64, out: &mut String) {
    out.clear();
    let mut n = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for s in &family.series {
            n = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let jitter = (n >> 40) as f64 / (1u64 << 24) as f64; // [0, 1)
            match s.growth {
                Growth::Counter(rate) => {
                    let v = (rate * (1.0 + jitter) * 15.0 * (tick + 1) as f64).floor();
                    let _ = writeln!(out, "{} {v}", s.key);
                }
                Growth::Gauge(level) => {
                    let wave = ((tick as f64 * 0.1 + jitter * 6.0).sin() + 2.0) * level;
                    let _ = writeln!(out, "{} {}", s.key, wave.floor());
                }
            }
        }
    }
}

type Bodies = Arc<Vec<RwLock<Bytes>>>;

fn render_all(families: &[Family], bodies: &Bodies, tick: u64, scratch: &mut String) {
    for (i, slot) in bodies.iter().enumerate() {
        render(families, i as u64, tick, scratch);
        let body = Bytes::from(scratch.clone());
        if let Ok(mut guard) = slot.write() {
            *guard = body;
        }
    }
}

fn write_config(path: &str, args: &Args) -> std::io::Result<()> {
    let mut s = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: 10s\n\
         scrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets:\n"
    );
    for i in 0..args.targets {
        let _ = writeln!(
            s,
            "          - 127.0.0.1:{}",
            usize::from(args.base_port) + i
        );
    }
    std::fs::write(path, s)
}

async fn metrics(State(body): State<(Bodies, usize)>) -> impl IntoResponse {
    let (bodies, index) = body;
    let bytes = bodies
        .get(index)
        .and_then(|slot| slot.read().ok().map(|b| b.clone()))
        .unwrap_or_default();
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], bytes)
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let families = families(args.series);
    let series: usize = families.iter().map(|f| f.series.len()).sum();
    if let Some(path) = &args.write_config {
        write_config(path, &args)?;
    }

    let bodies: Bodies = Arc::new((0..args.targets).map(|_| RwLock::default()).collect());
    let mut scratch = String::new();
    render_all(&families, &bodies, 0, &mut scratch);
    let bytes_per_body = bodies
        .first()
        .and_then(|b| b.read().ok().map(|b| b.len()))
        .unwrap_or(0);

    let deadline = Instant::now() + Duration::from_secs(args.duration_seconds);
    let update = Duration::from_secs(args.update_seconds);
    let updater_bodies = bodies.clone();
    std::thread::spawn(move || {
        let mut tick = 1;
        while Instant::now() + update < deadline {
            std::thread::sleep(update);
            render_all(&families, &updater_bodies, tick, &mut scratch);
            tick += 1;
        }
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        for i in 0..args.targets {
            let port = args.base_port + i as u16;
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                    .await
                    .map_err(|e| std::io::Error::new(e.kind(), format!("port {port}: {e}")))?;
            let app = Router::new()
                .route("/metrics", get(metrics))
                .with_state((bodies.clone(), i));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("port {port}: {e}");
                }
            });
        }
        println!(
            "serving {} targets x {series} series ({bytes_per_body} bytes each) on 127.0.0.1:{}-{}",
            args.targets,
            args.base_port,
            usize::from(args.base_port) + args.targets - 1
        );
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        Ok(())
    })
}
