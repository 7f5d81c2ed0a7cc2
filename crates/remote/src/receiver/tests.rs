use super::*;
use crate::test_util::{bounded, mem, samples_of, series, serve, snappy};
use argus_model::memstore::SharedMemStorage;
use prometheus_client::encoding::text::encode;

struct Receiver {
    store: Arc<SharedMemStorage>,
    url: String,
    registry: Arc<parking_lot::Mutex<Registry>>,
}

async fn receiver() -> Receiver {
    let store = mem();
    let mut registry = Registry::default();
    let router = receiver_router(store.clone(), &mut registry);
    let addr = serve(router).await;
    Receiver {
        store,
        url: format!("http://{addr}/api/v1/write"),
        registry: Arc::new(parking_lot::Mutex::new(registry)),
    }
}

impl Receiver {
    async fn post(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = reqwest::Client::new().post(&self.url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("post failed: {e}"));
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (code, text)
    }

    async fn write(&self, req: &WriteRequest) -> (u16, String) {
        self.post(snappy(req), STANDARD).await
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry.lock()).unwrap_or_else(|e| panic!("encode: {e}"));
        out
    }
}

const STANDARD: &[(&str, &str)] = &[
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn now() -> i64 {
    now_ms()
}

#[tokio::test]
async fn valid_request_is_stored_and_answered_204() {
    bounded(async {
        let r = receiver().await;
        let t = now();
        let req = WriteRequest {
            timeseries: vec![
                // Unsorted labels are sorted, as Prometheus does.
                series(
                    &[("job", "a"), ("__name__", "up")],
                    &[(t, 1.0), (t + 1, 2.0)],
                ),
                series(&[("__name__", "other")], &[(t, 5.0)]),
            ],
            metadata: Vec::new(),
        };
        let (code, body) = r.write(&req).await;
        assert_eq!(code, 204, "{body}");
        assert_eq!(
            samples_of(&r.store, &labels(&[("__name__", "up"), ("job", "a")])),
            vec![(t, 1.0), (t + 1, 2.0)]
        );
        assert_eq!(
            samples_of(&r.store, &labels(&[("__name__", "other")])),
            vec![(t, 5.0)]
        );
        let m = r.metrics();
        assert!(
            m.contains("argus_remote_write_received_samples_total 3"),
            "{m}"
        );
    })
    .await;
}

#[tokio::test]
async fn missing_content_type_and_encoding_are_taken_as_1_0_snappy() {
    bounded(async {
        let r = receiver().await;
        let req = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(now(), 1.0)])],
            metadata: Vec::new(),
        };
        let (code, body) = r.post(snappy(&req), &[]).await;
        assert_eq!(code, 204, "{body}");
        let (code, body) = r
            .post(
                snappy(&req),
                &[
                    ("Content-Encoding", "snappy"),
                    (
                        "Content-Type",
                        "application/x-protobuf;proto=prometheus.WriteRequest",
                    ),
                ],
            )
            .await;
        // Same sample again: an identical duplicate is accepted.
        assert_eq!(code, 204, "{body}");
    })
    .await;
}

#[tokio::test]
async fn wrong_content_type_or_encoding_is_415() {
    bounded(async {
        let r = receiver().await;
        let req = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(now(), 1.0)])],
            metadata: Vec::new(),
        };
        let cases: &[&[(&str, &str)]] = &[
            &[
                ("Content-Encoding", "gzip"),
                ("Content-Type", "application/x-protobuf"),
            ],
            &[
                ("Content-Encoding", "snappy"),
                ("Content-Type", "application/json"),
            ],
            &[
                ("Content-Encoding", "snappy"),
                (
                    "Content-Type",
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                ),
            ],
        ];
        for headers in cases {
            let (code, body) = r.post(snappy(&req), headers).await;
            assert_eq!(code, 415, "{headers:?}: {body}");
            assert!(!body.trim().is_empty(), "415 without a message");
        }
        assert!(r.store.snapshot().num_samples() == 0);
    })
    .await;
}

#[tokio::test]
async fn garbage_is_400() {
    bounded(async {
        let r = receiver().await;
        // Not snappy at all.
        let (code, body) = r
            .post(b"\xff\xff\xff\xff\xff garbage".to_vec(), STANDARD)
            .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("snappy"), "{body}");
        // Valid snappy around bytes that are not a WriteRequest.
        let junk = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
            .unwrap_or_else(|e| panic!("snappy: {e}"));
        let (code, body) = r.post(junk, STANDARD).await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("protobuf"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn out_of_order_samples_are_counted_and_the_rest_kept() {
    bounded(async {
        let r = receiver().await;
        let t = now();
        let first = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(t, 1.0)])],
            metadata: Vec::new(),
        };
        assert_eq!(r.write(&first).await.0, 204);
        let second = WriteRequest {
            timeseries: vec![
                series(
                    &[("__name__", "up")],
                    &[(t - 3, 0.0), (t - 2, 0.0), (t - 1, 0.0), (t + 1, 2.0)],
                ),
                series(&[("__name__", "fine")], &[(t, 7.0)]),
            ],
            metadata: Vec::new(),
        };
        let (code, body) = r.write(&second).await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body.contains("out of order sample: 3 samples rejected"),
            "{body}"
        );
        assert_eq!(
            samples_of(&r.store, &labels(&[("__name__", "up")])),
            vec![(t, 1.0), (t + 1, 2.0)]
        );
        assert_eq!(
            samples_of(&r.store, &labels(&[("__name__", "fine")])),
            vec![(t, 7.0)]
        );
        let m = r.metrics();
        assert!(
            m.contains(r#"argus_remote_write_rejected_samples_total{reason="out_of_order"} 3"#),
            "{m}"
        );
    })
    .await;
}

#[tokio::test]
async fn invalid_labels_and_future_samples_are_400() {
    bounded(async {
        let r = receiver().await;
        let t = now();
        let req = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "a"), ("x", "1"), ("x", "2")], &[(t, 1.0)]),
                series(&[("job", "no_name")], &[(t, 1.0), (t + 1, 1.0)]),
                series(&[("__name__", "b"), ("", "v")], &[(t, 1.0)]),
                series(&[("__name__", "future")], &[(t + 3_600_000, 1.0)]),
                series(&[("__name__", "ok")], &[(t, 1.0)]),
            ],
            metadata: Vec::new(),
        };
        let (code, body) = r.write(&req).await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body.contains("invalid labels: 4 samples rejected"),
            "{body}"
        );
        assert!(body.contains("duplicate label name \"x\""), "{body}");
        assert!(body.contains("out of bounds: 1 samples rejected"), "{body}");
        let snap = r.store.snapshot();
        assert_eq!(snap.num_series(), 1);
        assert_eq!(
            samples_of(&r.store, &labels(&[("__name__", "ok")])),
            vec![(t, 1.0)]
        );
    })
    .await;
}

#[test]
fn content_type_parameters_are_checked() {
    assert!(check_content_type("application/x-protobuf").is_ok());
    assert!(check_content_type("application/x-protobuf; proto=prometheus.WriteRequest").is_ok());
    assert!(check_content_type("application/x-protobuf; charset").is_err());
    assert!(check_content_type("text/plain").is_err());
}
