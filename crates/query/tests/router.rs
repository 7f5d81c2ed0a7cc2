//! The router over a fake storage: cancellation when the client goes
//! away, the concurrency limit and the readiness gate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argus_model::labels::Labels;
use argus_model::matcher::Matcher;
use argus_model::storage::{Queryable, SeriesSet, StorageError, StorageSeries};
use argus_promql::{Engine, EngineOptions};
use argus_query::{ApiOptions, ApiState, BuildInfo};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use tower::ServiceExt;

/// Every select sleeps, and is counted.
struct SlowStorage {
    delay: Duration,
    selects: AtomicUsize,
}

impl Queryable for SlowStorage {
    fn select(&self, matchers: &[Matcher], _: i64, _: i64) -> Result<SeriesSet, StorageError> {
        self.selects.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        let name = matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map_or("x", |m| m.value.as_str());
        Ok(vec![StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name)]),
            chunks: Vec::new(),
        }])
    }

    fn label_names(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<String>, StorageError> {
        Ok(vec!["__name__".to_string()])
    }

    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

fn state(storage: Arc<SlowStorage>, max_concurrency: usize) -> Arc<ApiState> {
    let s = ApiState::new(ApiOptions {
        storage,
        engine: Engine::new(EngineOptions::default()),
        query_timeout: Duration::from_secs(60),
        max_concurrency,
        build_info: BuildInfo::default(),
        flags: BTreeMap::new(),
        config_yaml: String::new(),
        storage_retention: "15d".to_string(),
        tsdb: None,
        lifecycle: None,
        registry: Registry::default(),
        scrape: None,
        external_host: argus_query::ExternalHost::default(),
    });
    s.set_ready(true);
    s
}

fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_default()
}

async fn body_string(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_client_cancels_the_query() {
    let storage = Arc::new(SlowStorage {
        delay: Duration::from_millis(300),
        selects: AtomicUsize::new(0),
    });
    let app = argus_query::router(state(storage.clone(), 4));
    // The client gives up while the first selector is being read.
    let r = tokio::time::timeout(
        Duration::from_millis(100),
        app.oneshot(get("/api/v1/query?query=a%2Bb%2Bc&time=100")),
    )
    .await;
    assert!(r.is_err(), "the query should still be running");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        storage.selects.load(Ordering::SeqCst),
        1,
        "the engine went on selecting after the client left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_wait_counts_against_the_timeout() {
    let storage = Arc::new(SlowStorage {
        delay: Duration::from_millis(500),
        selects: AtomicUsize::new(0),
    });
    let st = state(storage, 1);
    let app = argus_query::router(st.clone());
    let slow = tokio::spawn(app.clone().oneshot(get("/api/v1/query?query=a&time=100")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app
        .oneshot(get("/api/v1/query?query=b&time=100&timeout=0.05"))
        .await
        .unwrap_or_default();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_string(r).await;
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"timeout","error":"query timed out in query queue"}"#
    );
    let first = slow.await.ok().and_then(Result::ok);
    assert_eq!(first.map(|r| r.status()), Some(StatusCode::OK));
}

#[tokio::test]
async fn api_waits_for_readiness() {
    let storage = Arc::new(SlowStorage {
        delay: Duration::ZERO,
        selects: AtomicUsize::new(0),
    });
    let st = state(storage, 1);
    st.set_ready(false);
    let app = argus_query::router(st.clone());
    let r = app
        .clone()
        .oneshot(get("/api/v1/labels"))
        .await
        .unwrap_or_default();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = app
        .clone()
        .oneshot(get("/-/healthy"))
        .await
        .unwrap_or_default();
    assert_eq!(r.status(), StatusCode::OK);
    st.set_ready(true);
    let r = app.oneshot(get("/api/v1/labels")).await.unwrap_or_default();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        body_string(r).await,
        r#"{"status":"success","data":["__name__"]}"#
    );
}

#[tokio::test]
async fn cors_and_preflight() {
    let storage = Arc::new(SlowStorage {
        delay: Duration::ZERO,
        selects: AtomicUsize::new(0),
    });
    let app = argus_query::router(state(storage, 1));
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/api/v1/query")
        .header("origin", "http://grafana")
        .body(Body::empty())
        .unwrap_or_default();
    let r = app.clone().oneshot(req).await.unwrap_or_default();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    let r = app
        .clone()
        .oneshot(get("/api/v1/labels"))
        .await
        .unwrap_or_default();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .oneshot(get("/api/v1/targets"))
        .await
        .unwrap_or_default();
    assert_eq!(
        body_string(r).await,
        r#"{"status":"success","data":{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}}"#
    );
}
