use super::*;
use crate::proto::WriteRequest;
use crate::receiver_router;
use crate::shards::now_ms;
use crate::test_util::{bounded, eventually, mem, samples_of, serve};
use argus_config::http::{Authorization, HttpClientConfig, Secret};
use argus_config::relabel::{Regex, RelabelAction, RelabelConfig};
use argus_config::remote::{MetadataConfig, QueueConfig};
use argus_tsdb::{Db, DbOptions};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use prometheus_client::encoding::text::encode;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn test_opts() -> QueueOptions {
    QueueOptions {
        wal_poll_interval: Duration::from_millis(10),
        reshard_interval: Duration::from_secs(10),
        flush_deadline: Duration::from_secs(2),
    }
}

fn config(name: &str, url: String) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url,
        name: name.to_string(),
        remote_timeout: Duration::from_secs(5),
        headers: BTreeMap::new(),
        write_relabel_configs: Vec::new(),
        send_exemplars: false,
        send_native_histograms: false,
        http: HttpClientConfig::default(),
        queue_config: QueueConfig {
            capacity: 100,
            max_shards: 4,
            min_shards: 1,
            max_samples_per_send: 50,
            batch_send_deadline: Duration::from_millis(50),
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            retry_on_http_429: true,
            sample_age_limit: Duration::ZERO,
        },
        metadata_config: MetadataConfig::default(),
    }
}

struct Source {
    _dir: tempfile::TempDir,
    db: Db,
}

fn source() -> Source {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = Db::open(dir.path(), DbOptions::default()).unwrap_or_else(|e| panic!("open db: {e}"));
    Source { _dir: dir, db }
}

impl Source {
    fn append(&self, labels: &Labels, samples: &[(i64, f64)]) {
        let mut app = self.db.appender();
        for (t, v) in samples {
            app.append(labels, *t, *v)
                .unwrap_or_else(|e| panic!("append: {e}"));
        }
        app.commit().unwrap_or_else(|e| panic!("commit: {e}"));
    }

    fn manager(&self, registry: &mut Registry) -> Arc<RemoteWriteManager> {
        RemoteWriteManager::with_options(self.db.wal().dir().to_path_buf(), registry, test_opts())
    }
}

/// Sum of a metric's samples whose line contains `filter`.
fn metric(registry: &Registry, name: &str, filter: &str) -> f64 {
    let mut out = String::new();
    encode(&mut out, registry).unwrap_or_else(|e| panic!("encode: {e}"));
    out.lines()
        .filter(|l| {
            (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
                && l.contains(filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_wal_samples_with_external_labels_across_rotation() {
    bounded(async {
        let store = mem();
        let addr = serve(receiver_router(store.clone(), &mut Registry::default())).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        let ext = l(&[("replica", "a"), ("env", "external")]);
        mgr.apply_config(&[config("rw", format!("http://{addr}/api/v1/write"))], &ext);
        let t = now_ms();
        let up = l(&[("__name__", "up"), ("env", "prod")]);
        src.append(&up, &[(t, 1.0), (t + 1, 2.0)]);
        let sent_up = l(&[("__name__", "up"), ("env", "prod"), ("replica", "a")]);
        eventually("first samples", || samples_of(&store, &sent_up).len() == 2).await;
        assert_eq!(samples_of(&store, &sent_up), vec![(t, 1.0), (t + 1, 2.0)]);
        // A new series in a new segment.
        src.db
            .wal()
            .rotate()
            .unwrap_or_else(|e| panic!("rotate: {e}"));
        let other = l(&[("__name__", "other")]);
        src.append(&other, &[(t + 2, 3.0)]);
        src.append(&up, &[(t + 3, 4.0)]);
        let sent_other = l(&[("__name__", "other"), ("env", "external"), ("replica", "a")]);
        eventually("samples after rotation", || {
            samples_of(&store, &sent_other).len() == 1 && samples_of(&store, &sent_up).len() == 3
        })
        .await;
        eventually("sent metric", || {
            metric(
                &registry,
                "argus_remote_storage_samples_total",
                "remote_name=\"rw\"",
            ) == 4.0
        })
        .await;
        mgr.stop().await;
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_pending", ""),
            0.0
        );
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_failed_total", ""),
            0.0
        );
        assert!(
            metric(
                &registry,
                "argus_remote_storage_queue_highest_sent_timestamp_seconds",
                ""
            ) >= (t + 3) as f64 / 1000.0 - 0.001
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_before_the_queue_started_are_not_sent() {
    bounded(async {
        let store = mem();
        let addr = serve(receiver_router(store.clone(), &mut Registry::default())).await;
        let src = source();
        let old = l(&[("__name__", "old")]);
        let t = now_ms();
        src.append(&old, &[(t - 60_000, 1.0)]);
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        mgr.apply_config(
            &[config("rw", format!("http://{addr}/api/v1/write"))],
            &Labels::empty(),
        );
        let new = l(&[("__name__", "new")]);
        src.append(&new, &[(now_ms() + 1, 2.0)]);
        eventually("new sample", || samples_of(&store, &new).len() == 1).await;
        mgr.stop().await;
        assert!(samples_of(&store, &old).is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_relabel_configs_drop_and_rewrite_series() {
    bounded(async {
        let store = mem();
        let addr = serve(receiver_router(store.clone(), &mut Registry::default())).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        let mut cfg = config("rw", format!("http://{addr}/api/v1/write"));
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("regex: {e}"));
        cfg.write_relabel_configs = vec![
            RelabelConfig {
                source_labels: vec!["__name__".into()],
                regex: re("dropme"),
                action: RelabelAction::Drop,
                ..RelabelConfig::default()
            },
            // Sees the external label: they are added before relabeling.
            RelabelConfig {
                source_labels: vec!["replica".into()],
                target_label: "origin".into(),
                replacement: "from-$1".into(),
                regex: re("(.*)"),
                action: RelabelAction::Replace,
                ..RelabelConfig::default()
            },
        ];
        mgr.apply_config(&[cfg], &l(&[("replica", "a")]));
        let t = now_ms();
        src.append(&l(&[("__name__", "dropme")]), &[(t, 1.0)]);
        src.append(&l(&[("__name__", "keep")]), &[(t, 2.0)]);
        let kept = l(&[("__name__", "keep"), ("origin", "from-a"), ("replica", "a")]);
        eventually("kept series", || samples_of(&store, &kept).len() == 1).await;
        mgr.stop().await;
        assert_eq!(store.snapshot().num_series(), 1);
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_dropped_total", ""),
            1.0
        );
    })
    .await;
}

/// A remote answering with scripted status codes, then 204, recording
/// every request.
#[derive(Default)]
struct Scripted {
    codes: Vec<u16>,
    attempts: AtomicUsize,
    requests: parking_lot::Mutex<Vec<(HeaderMap, WriteRequest)>>,
}

async fn scripted(codes: &[u16]) -> (Arc<Scripted>, String) {
    let s = Arc::new(Scripted {
        codes: codes.to_vec(),
        ..Scripted::default()
    });
    let st = s.clone();
    let router = axum::Router::new().route(
        "/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let st = st.clone();
            async move {
                let n = st.attempts.fetch_add(1, Ordering::SeqCst);
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .unwrap_or_else(|e| panic!("sender sent bad snappy: {e}"));
                let req = WriteRequest::decode(raw.as_slice())
                    .unwrap_or_else(|e| panic!("sender sent bad protobuf: {e}"));
                st.requests.lock().push((headers, req));
                let code = st.codes.get(n).copied().unwrap_or(204);
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let addr = serve(router).await;
    (s, format!("http://{addr}/write"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_delivered() {
    bounded(async {
        let (remote, url) = scripted(&[500, 503]).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        let mut cfg = config("flaky", url);
        cfg.headers
            .insert("X-Scope-OrgID".into(), "tenant-1".into());
        cfg.http.authorization = Some(Authorization {
            kind: "Bearer".into(),
            credentials: Some(Secret("s3cret".into())),
            credentials_file: None,
        });
        mgr.apply_config(&[cfg], &Labels::empty());
        let t = now_ms();
        src.append(&l(&[("__name__", "up")]), &[(t, 1.0), (t + 1, 2.0)]);
        eventually("delivery after retries", || {
            metric(&registry, "argus_remote_storage_samples_total", "") == 2.0
        })
        .await;
        assert_eq!(remote.attempts.load(Ordering::SeqCst), 3);
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_retried_total", ""),
            4.0
        );
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_failed_total", ""),
            0.0
        );
        let reqs = remote.requests.lock().clone();
        // Every attempt carries the same samples.
        for (_, r) in reqs.iter() {
            let ts: Vec<i64> = r
                .timeseries
                .iter()
                .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
                .collect();
            assert_eq!(ts, vec![t, t + 1]);
        }
        let h = &reqs[0].0;
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(get("content-encoding"), "snappy");
        assert_eq!(get("content-type"), "application/x-protobuf");
        assert_eq!(get("x-prometheus-remote-write-version"), "0.1.0");
        assert!(
            get("user-agent").starts_with("Argus/"),
            "{}",
            get("user-agent")
        );
        assert_eq!(get("x-scope-orgid"), "tenant-1");
        assert_eq!(get("authorization"), "Bearer s3cret");
        mgr.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_dropped_without_retry() {
    bounded(async {
        let (remote, url) = scripted(&[400]).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        mgr.apply_config(&[config("strict", url)], &Labels::empty());
        let t = now_ms();
        src.append(
            &l(&[("__name__", "up")]),
            &[(t, 1.0), (t + 1, 2.0), (t + 2, 3.0)],
        );
        eventually("failure counted", || {
            metric(&registry, "argus_remote_storage_samples_failed_total", "") == 3.0
        })
        .await;
        // Several backoff periods later there was still no second attempt.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(remote.attempts.load(Ordering::SeqCst), 1);
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_retried_total", ""),
            0.0
        );
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_total", ""),
            0.0
        );
        // The queue goes on: later samples are sent.
        src.append(&l(&[("__name__", "up")]), &[(t + 3, 4.0)]);
        eventually("later sample sent", || {
            metric(&registry, "argus_remote_storage_samples_total", "") == 1.0
        })
        .await;
        mgr.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_the_same_config_keeps_the_queue_and_removal_stops_it() {
    bounded(async {
        let (remote, url) = scripted(&[]).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        let cfg = config("rw", url);
        mgr.apply_config(std::slice::from_ref(&cfg), &Labels::empty());
        let t = now_ms();
        src.append(&l(&[("__name__", "up")]), &[(t, 1.0)]);
        eventually("first send", || remote.attempts.load(Ordering::SeqCst) == 1).await;
        mgr.apply_config(std::slice::from_ref(&cfg), &Labels::empty());
        // A restarted queue would start after this sample and skip it.
        src.append(&l(&[("__name__", "up")]), &[(t + 1, 2.0)]);
        eventually("second send", || {
            remote.attempts.load(Ordering::SeqCst) == 2
        })
        .await;
        mgr.apply_config(&[], &Labels::empty());
        mgr.stop().await;
        assert_eq!(
            metric(
                &registry,
                "argus_remote_storage_shards",
                "remote_name=\"rw\""
            ),
            0.0
        );
        src.append(&l(&[("__name__", "up")]), &[(t + 2, 3.0)]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(remote.attempts.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_shards_hold_the_wal_reader_back_and_stop_abandons_the_rest() {
    bounded(async {
        let (remote, url) = scripted(&[503; 10_000]).await;
        let src = source();
        let mut registry = Registry::default();
        let mgr = src.manager(&mut registry);
        let mut cfg = config("down", url);
        cfg.queue_config.capacity = 5;
        cfg.queue_config.max_samples_per_send = 5;
        mgr.apply_config(&[cfg], &Labels::empty());
        let t = now_ms();
        let samples: Vec<(i64, f64)> = (0..100).map(|i| (t + i, i as f64)).collect();
        src.append(&l(&[("__name__", "up")]), &samples);
        eventually("retries", || remote.attempts.load(Ordering::SeqCst) >= 3).await;
        // One batch in flight, a full channel and the sample waiting to
        // enter it: not the 100 read.
        let pending = metric(&registry, "argus_remote_storage_samples_pending", "");
        assert!(pending > 0.0 && pending <= 11.0, "pending {pending}");
        let started = std::time::Instant::now();
        mgr.stop().await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stop took {:?}",
            started.elapsed()
        );
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_pending", ""),
            0.0
        );
        assert_eq!(
            metric(&registry, "argus_remote_storage_samples_total", ""),
            0.0
        );
        assert!(metric(&registry, "argus_remote_storage_samples_dropped_total", "") >= 5.0);
    })
    .await;
}
