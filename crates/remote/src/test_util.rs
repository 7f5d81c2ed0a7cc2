//! Helpers shared by the tests: a loopback server, request builders, polling.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::memstore::SharedMemStorage;
use argus_model::{Labels, Matcher, QueryableExt};
use prost::Message;

use crate::proto::{Label, Sample, TimeSeries, WriteRequest};

/// Serves `router` on an ephemeral 127.0.0.1 port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

pub fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: pairs
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                value: *v,
                timestamp: *t,
            })
            .collect(),
    }
}

pub fn snappy(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_else(|e| panic!("snappy: {e}"))
}

/// Every sample of the series with exactly `labels`.
pub fn samples_of(store: &SharedMemStorage, labels: &Labels) -> Vec<(i64, f64)> {
    let matchers: Vec<Matcher> = labels
        .iter()
        .map(|l| Matcher::equal(l.name, l.value))
        .collect();
    let set = store
        .select_all(&matchers, i64::MIN, i64::MAX)
        .unwrap_or_else(|e| panic!("select: {e}"));
    set.iter()
        .filter(|s| s.labels == *labels)
        .flat_map(|s| {
            s.decode(i64::MIN, i64::MAX)
                .unwrap_or_else(|e| panic!("decode: {e}"))
        })
        .map(|s| (s.t, s.v))
        .collect()
}

/// Polls `cond` every 20ms for up to 10s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `f` with a 30s ceiling.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("test took longer than 30s"))
}

pub fn mem() -> Arc<SharedMemStorage> {
    Arc::new(SharedMemStorage::new())
}
