//! `POST /api/v1/write`: the remote-write 1.0 receiver, as Prometheus's
//! write handler.
//!
//! Samples refused by storage (out of order, duplicate, out of bounds) and
//! series with invalid labels are skipped; the rest is committed, then the
//! request is answered 400 naming how many were rejected, so the sender does
//! not retry. A commit failure is a 500: the sender retries.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argus_model::labels::METRIC_NAME;
use argus_model::{AppendError, Appendable, Labels, SeriesRef};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use prost::Message;

use crate::proto::{TimeSeries, WriteRequest};

/// Compressed request bodies above this are refused by axum (413).
const MAX_BODY_BYTES: usize = 64 << 20;
/// Decompressed size limit, checked from the snappy header before decoding.
const MAX_DECODED_BYTES: usize = 256 << 20;
/// Samples further ahead of the wall clock are out of bounds (Prometheus).
const MAX_AHEAD: Duration = Duration::from_secs(10 * 60);
const PROTO_V1: &str = "prometheus.WriteRequest";

#[derive(Clone)]
struct ReceiverMetrics {
    received: Counter,
    rejected: Family<Vec<(String, String)>, Counter>,
    requests: Family<Vec<(String, String)>, Counter>,
}

impl ReceiverMetrics {
    fn register(registry: &mut Registry) -> ReceiverMetrics {
        let m = ReceiverMetrics {
            received: Counter::default(),
            rejected: Family::default(),
            requests: Family::default(),
        };
        registry.register(
            "argus_remote_write_received_samples",
            "Samples received over remote write and appended to storage.",
            m.received.clone(),
        );
        registry.register(
            "argus_remote_write_rejected_samples",
            "Samples received over remote write and rejected, by reason.",
            m.rejected.clone(),
        );
        registry.register(
            "argus_remote_write_requests",
            "Remote write requests received, by response code.",
            m.requests.clone(),
        );
        m
    }

    fn reject(&self, reason: Reason, n: u64) {
        if n > 0 {
            self.rejected
                .get_or_create(&vec![("reason".to_string(), reason.label().to_string())])
                .inc_by(n);
        }
    }
}

struct ReceiverState {
    storage: Arc<dyn Appendable>,
    metrics: ReceiverMetrics,
}

/// `POST /api/v1/write` (remote-write 1.0) into `storage`.
pub fn receiver_router(storage: Arc<dyn Appendable>, registry: &mut Registry) -> Router {
    let state = Arc::new(ReceiverState {
        storage,
        metrics: ReceiverMetrics::register(registry),
    });
    Router::new()
        .route("/api/v1/write", post(handle_write))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn handle_write(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (code, msg) = match decode_request(&headers, &body) {
        Err(e) => e,
        Ok(req) => {
            let st = state.clone();
            match tokio::task::spawn_blocking(move || ingest(&*st.storage, &st.metrics, req)).await
            {
                Ok(r) => r,
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("remote write ingestion failed: {e}"),
                ),
            }
        }
    };
    state
        .metrics
        .requests
        .get_or_create(&vec![("code".to_string(), code.as_u16().to_string())])
        .inc();
    if code == StatusCode::NO_CONTENT {
        return code.into_response();
    }
    tracing::warn!(status = code.as_u16(), error = %msg, "remote write request refused");
    (code, format!("{msg}\n")).into_response()
}

type Refusal = (StatusCode, String);

/// Checks the headers as Prometheus does, then decompresses and decodes.
fn decode_request(headers: &HeaderMap, body: &[u8]) -> Result<WriteRequest, Refusal> {
    let unsupported = |m: String| (StatusCode::UNSUPPORTED_MEDIA_TYPE, m);
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    // Like Prometheus, a missing Content-Type means a 1.0 request.
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .map_err(|_| unsupported("content-type is not valid text".into()))?;
        check_content_type(ct).map_err(unsupported)?;
    }
    // A missing Content-Encoding is taken as snappy, as Prometheus does.
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("<invalid>");
        if enc != "snappy" {
            return Err(unsupported(format!(
                "{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"
            )));
        }
    }
    let len = snap::raw::decompress_len(body).map_err(|e| bad(format!("snappy decode: {e}")))?;
    if len > MAX_DECODED_BYTES {
        return Err(bad(format!(
            "decompressed request of {len} bytes exceeds the limit of {MAX_DECODED_BYTES}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| bad(format!("snappy decode: {e}")))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| bad(format!("protobuf decode: {e}")))
}

fn check_content_type(ct: &str) -> Result<(), String> {
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(format!(
            "expected application/x-protobuf as the first (media) part, got {ct} content-type"
        ));
    }
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!(
                "expected parameters to be key-values, got {p} in {ct} content-type"
            ));
        };
        if k.trim() == "proto" {
            let v = v.trim().trim_matches('"');
            if v != PROTO_V1 {
                return Err(format!(
                    "{v} protobuf message is not accepted by this server; accepted [{PROTO_V1}]"
                ));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    OutOfOrder,
    Duplicate,
    OutOfBounds,
    InvalidLabels,
}

impl Reason {
    const ALL: [Reason; 4] = [
        Reason::OutOfOrder,
        Reason::Duplicate,
        Reason::OutOfBounds,
        Reason::InvalidLabels,
    ];

    fn label(self) -> &'static str {
        match self {
            Reason::OutOfOrder => "out_of_order",
            Reason::Duplicate => "duplicate",
            Reason::OutOfBounds => "out_of_bounds",
            Reason::InvalidLabels => "invalid_labels",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Reason::OutOfOrder => "out of order sample",
            Reason::Duplicate => "duplicate sample for timestamp",
            Reason::OutOfBounds => "out of bounds",
            Reason::InvalidLabels => "invalid labels",
        }
    }

    fn of(e: &AppendError) -> Reason {
        match e {
            AppendError::OutOfOrder { .. } => Reason::OutOfOrder,
            AppendError::Duplicate { .. } => Reason::Duplicate,
            AppendError::OutOfBounds { .. } => Reason::OutOfBounds,
        }
    }
}

/// Rejections of one request: a count and the first example per reason.
#[derive(Default)]
struct Rejections {
    counts: [u64; 4],
    first: [Option<String>; 4],
}

impl Rejections {
    fn add(&mut self, r: Reason, n: u64, example: impl FnOnce() -> String) {
        let i = r as usize;
        self.counts[i] += n;
        if self.first[i].is_none() {
            self.first[i] = Some(example());
        }
    }

    fn message(&self) -> Option<String> {
        let mut out = String::new();
        for r in Reason::ALL {
            let n = self.counts[r as usize];
            if n == 0 {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            let _ = write!(out, "{}: {n} samples rejected", r.message());
            if let Some(ex) = &self.first[r as usize] {
                let _ = write!(out, " (first: {ex})");
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Appends every valid sample, commits, and says how to answer.
fn ingest(storage: &dyn Appendable, metrics: &ReceiverMetrics, req: WriteRequest) -> Refusal {
    let max_t = now_ms().saturating_add(MAX_AHEAD.as_millis() as i64);
    let mut app = storage.appender();
    let mut rejected = Rejections::default();
    for ts in &req.timeseries {
        let labels = match series_labels(ts) {
            Ok(l) => l,
            Err(why) => {
                rejected.add(Reason::InvalidLabels, ts.samples.len() as u64, || why);
                continue;
            }
        };
        let mut series_ref = SeriesRef::default();
        for s in &ts.samples {
            if s.timestamp > max_t {
                rejected.add(Reason::OutOfBounds, 1, || {
                    format!("{labels} at {} is too far in the future", s.timestamp)
                });
                continue;
            }
            match app.append(&mut series_ref, &labels, s.timestamp, s.value) {
                Ok(()) => {}
                Err(e) => rejected.add(Reason::of(&e), 1, || format!("{labels}: {e}")),
            }
        }
    }
    let appended = app.len() as u64;
    if let Err(e) = app.commit() {
        tracing::error!(error = %e, samples = appended, "remote write commit failed");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("commit failed: {e}"),
        );
    }
    metrics.received.inc_by(appended);
    for r in Reason::ALL {
        metrics.reject(r, rejected.counts[r as usize]);
    }
    match rejected.message() {
        Some(msg) => (StatusCode::BAD_REQUEST, msg),
        None => (StatusCode::NO_CONTENT, String::new()),
    }
}

/// The series' labels, sorted; refused when a name is empty or repeated or
/// the metric name is missing (Prometheus's UTF-8 validation).
fn series_labels(ts: &TimeSeries) -> Result<Labels, String> {
    let mut pairs: Vec<(&str, &str)> = ts
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let shown = || {
        let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
        format!("{{{}}}", inner.join(", "))
    };
    if pairs.iter().any(|(n, _)| n.is_empty()) {
        return Err(format!("empty label name in {}", shown()));
    }
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("duplicate label name {:?} in {}", w[0].0, shown()));
    }
    if !pairs
        .iter()
        .any(|(n, v)| *n == METRIC_NAME && !v.is_empty())
    {
        return Err(format!("missing metric name in {}", shown()));
    }
    Labels::from_sorted(pairs.iter().copied()).ok_or_else(|| format!("invalid labels {}", shown()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
