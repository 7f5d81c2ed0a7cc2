//! The router over a fake storage: cancellation when the client goes
//! away, the concurrency limit and the readiness gate.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use argus_model::labels::Labels;
use argus_model::storage::{
    LabelRequest, Queryable, ReadContext, SelectRequest, SeriesSource, SeriesStream, StorageError,
    StorageSeries,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{body_string, get, state};
use tower::ServiceExt;

/// A storage whose selects are slow: each select sleeps `select_delay`
/// (and is counted), then streams `series` series named after the
/// selector, sleeping `series_delay` before each; it records how many it
/// produced and whether the stream was dropped.
struct FakeStorage {
    select_delay: Duration,
    series: usize,
    series_delay: Duration,
    selects: AtomicUsize,
    produced: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl FakeStorage {
    /// One series per select, after `delay`.
    fn slow(delay: Duration) -> FakeStorage {
        FakeStorage::new(delay, 1, Duration::ZERO)
    }

    /// Many series, 10ms apart.
    fn trickle() -> FakeStorage {
        FakeStorage::new(Duration::ZERO, 10_000, Duration::from_millis(10))
    }

    fn new(select_delay: Duration, series: usize, series_delay: Duration) -> FakeStorage {
        FakeStorage {
            select_delay,
            series,
            series_delay,
            selects: AtomicUsize::new(0),
            produced: Arc::new(AtomicUsize::new(0)),
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

struct FakeSeries {
    name: String,
    next: usize,
    count: usize,
    delay: Duration,
    produced: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl SeriesSource for FakeSeries {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.next >= self.count {
            return Ok(None);
        }
        std::thread::sleep(self.delay);
        self.next += 1;
        self.produced.fetch_add(1, Ordering::SeqCst);
        let mut labels = vec![("__name__", self.name.clone())];
        if self.count > 1 {
            labels.push(("i", format!("{:05}", self.next)));
        }
        Ok(Some(StorageSeries {
            labels: Labels::from_pairs(&labels),
            chunks: Vec::new(),
        }))
    }
}

impl Drop for FakeSeries {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Queryable for FakeStorage {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        self.selects.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.select_delay);
        let name = req
            .matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map_or("x", |m| m.value.as_str());
        let source = FakeSeries {
            name: name.to_string(),
            next: 0,
            count: self.series,
            delay: self.series_delay,
            produced: self.produced.clone(),
            dropped: self.dropped.clone(),
        };
        Ok(SeriesStream::new(source, req, ctx))
    }

    fn label_names(&self, _: &LabelRequest, _: &ReadContext) -> Result<Vec<String>, StorageError> {
        Ok(vec!["__name__".to_string()])
    }

    fn label_values(
        &self,
        _: &str,
        _: &LabelRequest,
        _: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_client_cancels_the_query() {
    let storage = Arc::new(FakeStorage::slow(Duration::from_millis(300)));
    let app = argus_http_api::router(state(storage.clone(), 4));
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
    let storage = Arc::new(FakeStorage::slow(Duration::from_millis(500)));
    let st = state(storage, 1);
    let app = argus_http_api::router(st.clone());
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
    let storage = Arc::new(FakeStorage::slow(Duration::ZERO));
    let st = state(storage, 1);
    st.set_ready(false);
    let app = argus_http_api::router(st.clone());
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
    let storage = Arc::new(FakeStorage::slow(Duration::ZERO));
    let app = argus_http_api::router(state(storage, 1));
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

/// A client that goes away in the middle of a select stops the storage's
/// stream there, for queries and for the series API alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_client_stops_the_stream_mid_select() {
    for uri in [
        "/api/v1/query?query=count(x)&time=100",
        "/api/v1/series?match[]=x",
    ] {
        let storage = Arc::new(FakeStorage::trickle());
        let app = argus_http_api::router(state(storage.clone(), 4));
        let r = tokio::time::timeout(Duration::from_millis(200), app.oneshot(get(uri))).await;
        assert!(r.is_err(), "{uri}: the select should still be streaming");
        let started = storage.produced.load(Ordering::SeqCst);
        assert!(started > 0, "{uri}: the stream had not started");
        // The stream notices the cancellation before its next series.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !storage.dropped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            storage.dropped.load(Ordering::SeqCst),
            "{uri}: the stream was not dropped after the client left"
        );
        let produced = storage.produced.load(Ordering::SeqCst);
        assert!(
            produced <= started + 2,
            "{uri}: {produced} series produced, {started} when the client left"
        );
    }
}
