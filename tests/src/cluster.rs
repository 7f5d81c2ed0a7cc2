//! Cluster roles as processes for the distributed tests: `argus scraper`,
//! `argus store`, `argus query` and their Thanos counterparts, each on
//! free loopback ports, and a scrape target whose counters grow at known
//! rates.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::differential::free_port;
use crate::e2e::{Daemon, write_file};
use crate::fixed_target::{FixedTarget, TEXT_CONTENT_TYPE};

/// A role's process: its HTTP API on `daemon.port`, its StoreAPI on `grpc`.
pub struct Role {
    pub daemon: Daemon,
    pub grpc: u16,
}

impl Role {
    /// `127.0.0.1:<grpc port>`, as `--endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.grpc)
    }
}

/// Counters `demo_requests_total{path="/p<i>"}` growing by `i + 1` per
/// second of wall-clock time since the target started (so any scraper of
/// it sees the same rates), and a gauge.
pub const DEMO_SERIES: usize = 10;

/// The sum of the demo counters' rates, per second.
pub fn demo_rate_sum() -> f64 {
    (1..=DEMO_SERIES).map(|r| r as f64).sum()
}

pub fn demo_target() -> FixedTarget {
    let start = Instant::now();
    FixedTarget::start_dynamic(
        TEXT_CONTENT_TYPE,
        Arc::new(move || {
            let secs = start.elapsed().as_secs_f64();
            let mut body = String::from("# TYPE demo_requests_total counter\n");
            for i in 0..DEMO_SERIES {
                body.push_str(&format!(
                    "demo_requests_total{{path=\"/p{i}\"}} {:.3}\n",
                    secs * (i + 1) as f64
                ));
            }
            body.push_str("# TYPE demo_temperature gauge\ndemo_temperature 21.5\n");
            body
        }),
    )
}

/// A `prometheus.yml` scraping `target` every second, with external labels.
pub fn scrape_config(
    dir: &Path,
    name: &str,
    target: &str,
    external: &[(&str, &str)],
) -> std::path::PathBuf {
    let labels: Vec<String> = external.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let path = dir.join(format!("{name}.yml"));
    write_file(
        &path,
        &format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{{}}}\nscrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: ['{target}']}}]\n",
            labels.join(", ")
        ),
    );
    path
}

/// `argus scraper` with storage in `dir/<name>-data`, shipping to the
/// bucket of `objstore` (a file) when given; waits until it is ready.
pub fn start_scraper(
    dir: &Path,
    name: &str,
    config: &Path,
    objstore: Option<&Path>,
    extra: &[&str],
) -> Role {
    let (http, grpc) = (free_port(), free_port());
    start_scraper_on(dir, name, config, objstore, extra, http, grpc)
}

/// [`start_scraper`] on given ports (a restart keeps its addresses).
pub fn start_scraper_on(
    dir: &Path,
    name: &str,
    config: &Path,
    objstore: Option<&Path>,
    extra: &[&str],
    http: u16,
    grpc: u16,
) -> Role {
    let mut cmd = Command::new(crate::argus_bin());
    cmd.arg("scraper")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join(format!("{name}-data")).display()
        ))
        .arg(format!("--http-address=127.0.0.1:{http}"))
        .arg(format!("--grpc-address=127.0.0.1:{grpc}"));
    if let Some(o) = objstore {
        cmd.arg(format!("--objstore.config-file={}", o.display()));
    }
    cmd.args(extra);
    let mut daemon = Daemon::spawn(name, cmd, http, &dir.join(format!("{name}-{http}.log")));
    daemon.wait_ready("/-/ready", Duration::from_secs(60));
    Role { daemon, grpc }
}

/// `argus query` over `endpoints`; waits until it is ready.
pub fn start_query(dir: &Path, name: &str, endpoints: &[String], extra: &[&str]) -> Role {
    let (http, grpc) = (free_port(), free_port());
    let mut cmd = Command::new(crate::argus_bin());
    cmd.arg("query")
        .arg(format!("--http-address=127.0.0.1:{http}"))
        .arg(format!("--grpc-address=127.0.0.1:{grpc}"))
        .arg("--store.info-interval=1s");
    for e in endpoints {
        cmd.arg(format!("--endpoint={e}"));
    }
    cmd.args(extra);
    let mut daemon = Daemon::spawn(name, cmd, http, &dir.join(format!("{name}-{http}.log")));
    daemon.wait_ready("/-/ready", Duration::from_secs(60));
    Role { daemon, grpc }
}

/// `argus store` over the bucket of `objstore`; waits until it is ready.
pub fn start_store(dir: &Path, name: &str, objstore: &Path, extra: &[&str]) -> Role {
    let (http, grpc) = (free_port(), free_port());
    let mut cmd = Command::new(crate::argus_bin());
    cmd.arg("store")
        .arg(format!("--objstore.config-file={}", objstore.display()))
        .arg(format!(
            "--data-dir={}",
            dir.join(format!("{name}-cache")).display()
        ))
        .arg(format!("--http-address=127.0.0.1:{http}"))
        .arg(format!("--grpc-address=127.0.0.1:{grpc}"))
        .arg("--sync-interval=2s");
    cmd.args(extra);
    let mut daemon = Daemon::spawn(name, cmd, http, &dir.join(format!("{name}-{http}.log")));
    daemon.wait_ready("/-/ready", Duration::from_secs(60));
    Role { daemon, grpc }
}

/// A Prometheus-format `/metrics` counter of a role: the sum of every
/// sample of `name` (all label sets).
pub fn metric_sum(d: &Daemon, name: &str) -> f64 {
    let body = d.get("/metrics").body;
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name)
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// `thanos query` over `endpoints` (from the peer cache); waits until it
/// is ready.
pub fn start_thanos_query(dir: &Path, name: &str, endpoints: &[String], extra: &[&str]) -> Role {
    let (http, grpc) = (free_port(), free_port());
    let mut cmd = Command::new(crate::peers::peer_bin("thanos", "thanos"));
    cmd.arg("query")
        .arg(format!("--http-address=127.0.0.1:{http}"))
        .arg(format!("--grpc-address=127.0.0.1:{grpc}"));
    for e in endpoints {
        cmd.arg(format!("--endpoint={e}"));
    }
    cmd.args(extra);
    let mut daemon = Daemon::spawn(name, cmd, http, &dir.join(format!("{name}-{http}.log")));
    daemon.wait_ready("/-/ready", Duration::from_secs(60));
    Role { daemon, grpc }
}

/// `thanos store` over the bucket of `objstore`; waits until it is ready.
pub fn start_thanos_store(dir: &Path, name: &str, objstore: &Path) -> Role {
    let (http, grpc) = (free_port(), free_port());
    let mut cmd = Command::new(crate::peers::peer_bin("thanos", "thanos"));
    cmd.arg("store")
        .arg(format!("--objstore.config-file={}", objstore.display()))
        .arg(format!(
            "--data-dir={}",
            dir.join(format!("{name}-data")).display()
        ))
        .arg(format!("--http-address=127.0.0.1:{http}"))
        .arg(format!("--grpc-address=127.0.0.1:{grpc}"))
        .arg("--sync-block-duration=2s");
    let mut daemon = Daemon::spawn(name, cmd, http, &dir.join(format!("{name}-{http}.log")));
    daemon.wait_ready("/-/ready", Duration::from_secs(90));
    Role { daemon, grpc }
}

/// Whether every endpoint of a querier (Argus or Thanos) answers its
/// `/api/v1/stores` without an error.
pub fn stores_healthy(query: &Daemon, n: usize) -> Result<(), String> {
    let data = query.api("/api/v1/stores");
    let all: Vec<&serde_json::Value> = data
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_array()).flatten().collect())
        .unwrap_or_default();
    let healthy = all.iter().filter(|e| e["lastError"].is_null()).count();
    if healthy >= n {
        Ok(())
    } else {
        Err(format!("{healthy} of {n} stores healthy: {data}"))
    }
}
