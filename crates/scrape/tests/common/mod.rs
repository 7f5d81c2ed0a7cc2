//! Test harness: a configurable HTTP target on 127.0.0.1, a manager over
//! in-memory storage, and bounded polling.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argus_config::prometheus::PrometheusConfig;
use argus_config::scrape::ScrapeConfig;
use argus_discovery::TargetGroup;
use argus_model::memstore::SharedMemStorage;
use argus_model::{Labels, QueryableExt, Sample};
use argus_scrape::ScrapeManager;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the test target answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub gzip: bool,
    pub delay: Duration,
}

impl Reply {
    pub fn text(body: &str) -> Reply {
        Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4".to_string(),
            body: body.as_bytes().to_vec(),
            gzip: false,
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
pub struct ServerState {
    pub reply: Option<Reply>,
    pub last_headers: Option<HeaderMap>,
    pub requests: usize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    pub async fn start(reply: Reply) -> TestServer {
        let state = Arc::new(Mutex::new(ServerState {
            reply: Some(reply),
            ..Default::default()
        }));
        let st = state.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |headers: HeaderMap| {
                let st = st.clone();
                async move {
                    let reply = {
                        let mut s = st.lock();
                        s.last_headers = Some(headers);
                        s.requests += 1;
                        s.reply.clone()
                    };
                    let Some(r) = reply else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    if !r.delay.is_zero() {
                        tokio::time::sleep(r.delay).await;
                    }
                    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                    let mut body = r.body.clone();
                    let mut h = vec![(header::CONTENT_TYPE, r.content_type.clone())];
                    if r.gzip {
                        use std::io::Write;
                        let mut enc = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        enc.write_all(&body).unwrap_or_else(|e| panic!("gzip: {e}"));
                        body = enc.finish().unwrap_or_else(|e| panic!("gzip: {e}"));
                        h.push((header::CONTENT_ENCODING, "gzip".to_string()));
                    }
                    let mut resp = (status, body).into_response();
                    for (k, v) in h {
                        if let Ok(v) = v.parse() {
                            resp.headers_mut().insert(k, v);
                        }
                    }
                    resp
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { addr, state }
    }

    pub fn set(&self, reply: Reply) {
        self.state.lock().reply = Some(reply);
    }

    pub fn requests(&self) -> usize {
        self.state.lock().requests
    }
}

pub fn job(name: &str, interval_ms: u64) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.to_string(),
        scrape_interval: Duration::from_millis(interval_ms),
        scrape_timeout: Duration::from_millis(interval_ms),
        ..ScrapeConfig::default()
    }
}

pub fn config(jobs: Vec<ScrapeConfig>) -> PrometheusConfig {
    PrometheusConfig {
        scrape_configs: jobs,
        ..Default::default()
    }
}

pub fn group(addrs: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
    TargetGroup {
        source: "test".to_string(),
        targets: addrs
            .iter()
            .map(|a| BTreeMap::from([("__address__".to_string(), a.to_string())]))
            .collect(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

pub type Sets = Arc<BTreeMap<String, Vec<TargetGroup>>>;

pub struct Harness {
    pub storage: Arc<SharedMemStorage>,
    pub manager: Arc<ScrapeManager>,
    pub targets: watch::Sender<Sets>,
    pub shutdown: CancellationToken,
    pub run: tokio::task::JoinHandle<()>,
    pub registry: prometheus_client::registry::Registry,
}

impl Harness {
    pub async fn start(cfg: PrometheusConfig, sets: Vec<(&str, Vec<TargetGroup>)>) -> Harness {
        let storage = Arc::new(SharedMemStorage::new());
        let mut registry = prometheus_client::registry::Registry::default();
        let manager = ScrapeManager::new(storage.clone(), &mut registry);
        manager.apply_config(&cfg);
        let (tx, rx) = watch::channel(to_sets(sets));
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(manager.clone().run(rx, shutdown.clone()));
        Harness {
            storage,
            manager,
            targets: tx,
            shutdown,
            run,
            registry,
        }
    }

    pub fn publish(&self, sets: Vec<(&str, Vec<TargetGroup>)>) {
        self.targets.send_replace(to_sets(sets));
    }

    /// Every series named `name` with its samples, sorted by labels.
    pub fn series(&self, name: &str) -> Vec<(Labels, Vec<Sample>)> {
        let m = argus_model::Matcher::new(argus_model::MatchType::Equal, "__name__", name)
            .unwrap_or_else(|e| panic!("matcher: {e}"));
        let set = self
            .storage
            .select_all(&[m], i64::MIN, i64::MAX)
            .unwrap_or_else(|e| panic!("select: {e}"));
        set.into_iter()
            .map(|s| {
                let samples = s.samples(i64::MIN, i64::MAX).collect();
                (s.labels, samples)
            })
            .collect()
    }

    /// Values of the single series named `name`.
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.series(name)
            .into_iter()
            .next()
            .map(|(_, s)| s.into_iter().map(|s| s.v).collect())
            .unwrap_or_default()
    }

    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        out
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.run).await;
    }
}

fn to_sets(sets: Vec<(&str, Vec<TargetGroup>)>) -> Sets {
    Arc::new(sets.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Polls `f` every 20ms until it holds, failing after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn is_stale(v: f64) -> bool {
    argus_model::is_stale_nan(v)
}
