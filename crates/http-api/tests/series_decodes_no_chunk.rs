//! The series and label endpoints over a large block answer from labels
//! alone: not one chunk is decoded (the process-wide count of chunk
//! iterators stays put) and none is even read from `chunks.parquet`, while
//! a query over the same block does both.
//! Alone in its test binary, so no other test decodes meanwhile.

mod common;

use std::sync::Arc;

use argus_block::{BlockReader, BlockSeries, NewBlock, write_block};
use argus_model::Labels;
use argus_model::chunk::chunks_decoded;
use argus_model::sample::Sample;
use axum::http::StatusCode;
use common::{body_string, get, state};
use tower::ServiceExt;

const T0: i64 = 1_700_006_400_000;
const SERIES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_and_label_endpoints_decode_no_chunk() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let samples: Vec<Sample> = (0..240)
        .map(|i| Sample::new(T0 + i * 30_000, i as f64))
        .collect();
    let series: Vec<BlockSeries> = (0..SERIES)
        .map(|i| {
            let labels = Labels::from_pairs(&[
                ("__name__", "big_total"),
                ("instance", &format!("host-{i:05}")),
                ("job", if i % 2 == 0 { "even" } else { "odd" }),
            ]);
            BlockSeries::from_samples(labels, &samples)
        })
        .collect();
    let meta = write_block(
        dir.path(),
        &NewBlock::new(T0, T0 + 7_200_000, "test"),
        &series,
    )
    .unwrap_or_else(|e| panic!("write block: {e}"));
    assert_eq!(meta.stats.num_chunks, 2 * SERIES as u64);
    let block = Arc::new(
        BlockReader::open(&dir.path().join(meta.ulid.to_string()))
            .unwrap_or_else(|e| panic!("open block: {e}")),
    );
    let app = argus_http_api::router(state(block.clone(), 2));
    let range = format!("start={}&end={}", T0 / 1000, T0 / 1000 + 7200);

    let before = chunks_decoded();
    for (uri, expect) in [
        (
            format!("/api/v1/series?match[]=big_total&{range}"),
            "host-09999",
        ),
        (
            format!("/api/v1/series?match[]=%7Bjob=%22odd%22%7D&{range}&limit=5"),
            "host-00009",
        ),
        (
            format!("/api/v1/labels?match[]=big_total&{range}"),
            "instance",
        ),
        (
            format!("/api/v1/label/instance/values?{range}"),
            "host-04242",
        ),
    ] {
        let r = app
            .clone()
            .oneshot(get(&uri))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        let body = body_string(r).await;
        assert!(body.contains(expect), "{uri}: {expect} not in the answer");
    }
    let decoded = chunks_decoded() - before;
    assert_eq!(
        decoded, 0,
        "the labels-only endpoints decoded {decoded} chunks"
    );
    assert_eq!(
        block.chunks_read(),
        0,
        "the labels-only endpoints read chunks"
    );

    // The counter does count: a query decodes the chunks it reads.
    let uri = format!(
        "/api/v1/query?query=count(big_total)&time={}",
        T0 / 1000 + 3600
    );
    let r = app
        .oneshot(get(&uri))
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body_string(r).await.contains(&format!("\"{SERIES}\"")));
    assert!(
        chunks_decoded() - before >= SERIES as u64,
        "the query decoded no chunk"
    );
    assert!(
        block.chunks_read() >= SERIES as u64,
        "the query read no chunk"
    );
}
