//! Bytes into the remote-write receiver (`argus-remote`): the prompb
//! `WriteRequest` decoder, and the whole `POST /api/v1/write` handler
//! (header checks, snappy, protobuf decode, label validation, ingestion)
//! in-process over an in-memory store. The crate implements remote-write
//! 1.0 only (v2 requests are refused by content type, which is fuzzed
//! here too) and has no remote-read endpoint.
//!
//! Input format: an uncompressed, encoded `prometheus.WriteRequest` (see
//! `fuzz/gen_seeds.py`), so mutations work on the protobuf. Each input is
//!
//! 1. decoded with `WriteRequest::decode`; what decodes must re-encode to
//!    bytes that decode and re-encode to the same bytes;
//! 2. snappy-compressed and posted to the receiver;
//! 3. posted as is, as a (mostly invalid) snappy body.
//!
//! The request headers (standard, none, odd content types) are chosen by
//! the input's length. A panic, or any 5xx answer, is a crash: the store
//! cannot fail a commit, so a 5xx means the handler failed.
//!
//! `ARGUS_FUZZ_VERBOSE=1` prints each answer, to check seeds or look at a
//! saved input.

#![no_main]

use std::sync::{Arc, OnceLock};

use argus_fuzz::{send, verbose};
use argus_model::memstore::SharedMemStorage;
use argus_remote::proto::WriteRequest;
use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use prost::Message;

const HEADER_SETS: [&[(&str, &str)]; 5] = [
    &[
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ],
    &[],
    &[(
        "content-type",
        "application/x-protobuf; proto=prometheus.WriteRequest",
    )],
    &[(
        "content-type",
        "Application/X-Protobuf ; proto=\"prometheus.WriteRequest\"",
    )],
    &[
        ("content-encoding", "snappy"),
        (
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        ),
        ("x-prometheus-remote-write-version", "2.0.0"),
    ],
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

async fn post(router: &axum::Router, headers: &[(&str, &str)], body: Vec<u8>, what: &str) {
    let mut req = Request::builder().method(Method::POST).uri("/api/v1/write");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body)).expect("request");
    let (status, body) = send(router, req).await;
    if verbose() {
        eprintln!(
            "{what} {headers:?}\n  -> {status} {}",
            String::from_utf8_lossy(&body).trim_end()
        );
    }
    if status.is_server_error() {
        panic!(
            "{what}: receiver answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = WriteRequest::decode(data) {
        let once = req.encode_to_vec();
        let again = WriteRequest::decode(once.as_slice())
            .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e}"));
        assert_eq!(again.encode_to_vec(), once, "re-encoding is not stable");
    }

    let headers = HEADER_SETS[data.len() % HEADER_SETS.len()];
    let compressed = snap::raw::Encoder::new()
        .compress_vec(data)
        .expect("snappy compress");
    // A fresh store and receiver per input keeps runs independent.
    let store = Arc::new(SharedMemStorage::new());
    let mut registry = prometheus_client::registry::Registry::default();
    let router = argus_remote::receiver_router(store, &mut registry);
    runtime().block_on(async {
        post(&router, headers, compressed, "snappy(input)").await;
        post(&router, headers, data.to_vec(), "input as body").await;
    });
});
