//! PromQL and API parameters through the real HTTP API (`argus-http-api`'s
//! router, in-process via `tower::ServiceExt::oneshot`) over a small
//! in-memory store.
//!
//! Input format (line based, so seeds are readable and mutations stay
//! meaningful):
//!
//! ```text
//! [GET|POST] <endpoint>        line 1: query | query_range | series | labels | label_values
//! <text>                       line 2: the `query` (query, query_range), a `match[]`
//!                              (series, labels; skipped when empty) or the label name
//!                              in the path (label_values)
//! key=value                    further lines (empty ones skipped): more parameters, e.g. time=300,
//! ...                          start=0, end=3600, step=15s, match[]=up, limit=5, timeout=1s
//! ```
//!
//! An unknown endpoint is picked from the line's bytes, a missing method
//! from its length. Values are sent byte for byte (percent-encoded), in the
//! URL for GET and as a form body for POST. A panic anywhere is a crash
//! (libFuzzer's panic hook aborts, also for panics on the API's blocking
//! threads); so is a 5xx answer that mentions a panic, in case a panic is
//! ever caught and turned into a response.
//!
//! `ARGUS_FUZZ_VERBOSE=1` prints each request and its answer, to check
//! seeds or look at a saved input.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argus_fuzz::{send, verbose};
use argus_http_api::{ApiOptions, ApiState};
use argus_model::labels::Labels;
use argus_model::memstore::MemStorage;
use argus_promql::{Engine, EngineOptions};
use axum::body::Body;
use axum::http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;

/// At most this many parameter lines are used.
const MAX_PARAMS: usize = 64;

struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let engine = Engine::new(EngineOptions {
            max_samples: 50_000,
            ..EngineOptions::default()
        });
        let state = ApiState::new(ApiOptions {
            query_timeout: Duration::from_secs(2),
            max_concurrency: 4,
            ..ApiOptions::new(Arc::new(store()), engine)
        });
        state.set_ready(true);
        Harness {
            rt,
            router: argus_http_api::router(state),
        }
    })
}

/// One hour (0s to 3600s) of data every 15 s: `up`, a counter with a reset,
/// the `http_requests` series the upstream PromQL tests use, a classic
/// histogram with `le` buckets, and a gauge with NaN, infinities and a
/// staleness marker.
fn store() -> MemStorage {
    const STEP_MS: i64 = 15_000;
    const POINTS: i64 = 241;
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let mut s = MemStorage::new();
    let mut add = |pairs: &[(&str, &str)], f: &dyn Fn(i64) -> Option<f64>| {
        let labels = Labels::from_pairs(pairs);
        for i in 0..POINTS {
            if let Some(v) = f(i) {
                s.append(labels.clone(), i * STEP_MS, v);
            }
        }
    };
    for (job, inst, down_every) in [
        ("api", "a:9090", 7),
        ("api", "b:9090", 11),
        ("node", "c:9100", 0),
    ] {
        add(
            &[("__name__", "up"), ("job", job), ("instance", inst)],
            &|i| {
                Some(if down_every > 0 && i % down_every == 0 {
                    0.0
                } else {
                    1.0
                })
            },
        );
    }
    for (inst, code, rate) in [
        ("a:9090", "200", 10.0),
        ("a:9090", "500", 0.5),
        ("b:9090", "200", 7.0),
    ] {
        add(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("instance", inst),
                ("code", code),
            ],
            // A counter reset half way.
            &|i| Some(rate * (i % 120) as f64),
        );
    }
    for (inst, group, by) in [
        ("0", "production", 10.0),
        ("1", "production", 20.0),
        ("0", "canary", 30.0),
        ("1", "canary", 40.0),
    ] {
        add(
            &[
                ("__name__", "http_requests"),
                ("job", "api-server"),
                ("instance", inst),
                ("group", group),
            ],
            &|i| Some(by * i as f64),
        );
    }
    for inst in ["a:9090", "b:9090"] {
        let base = [("job", "api"), ("instance", inst)];
        for (le, share) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
            let mut l = vec![("__name__", "request_duration_seconds_bucket"), ("le", le)];
            l.extend_from_slice(&base);
            add(&l, &|i| Some((share * 4.0 * i as f64).floor()));
        }
        let mut l = vec![("__name__", "request_duration_seconds_sum")];
        l.extend_from_slice(&base);
        add(&l, &|i| Some(0.37 * i as f64));
        let mut l = vec![("__name__", "request_duration_seconds_count")];
        l.extend_from_slice(&base);
        add(&l, &|i| Some(4.0 * i as f64));
    }
    add(&[("__name__", "temperature"), ("room", "a")], &|i| {
        Some(match i % 17 {
            3 => f64::NAN,
            5 => f64::INFINITY,
            7 => f64::NEG_INFINITY,
            11 => stale,
            13 => -0.0,
            _ => 20.0 + (i as f64 / 10.0).sin(),
        })
    });
    // Sparse: a sample every 5 minutes, then gone.
    add(&[("__name__", "sparse"), ("kind", "x")], &|i| {
        (i % 20 == 0 && i < 150).then_some(i as f64)
    });
    s
}

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Query,
    QueryRange,
    Series,
    Labels,
    LabelValues,
}

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint::Query,
    Endpoint::QueryRange,
    Endpoint::Series,
    Endpoint::Labels,
    Endpoint::LabelValues,
];

fn endpoint_line(line: &[u8]) -> (Method, Endpoint) {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace();
    let mut first = words.next().unwrap_or("");
    let method = if first.eq_ignore_ascii_case("get") {
        first = words.next().unwrap_or("");
        Method::GET
    } else if first.eq_ignore_ascii_case("post") {
        first = words.next().unwrap_or("");
        Method::POST
    } else if line.len() % 2 == 0 {
        Method::GET
    } else {
        Method::POST
    };
    let endpoint = match first {
        "query" => Endpoint::Query,
        "query_range" => Endpoint::QueryRange,
        "series" => Endpoint::Series,
        "labels" => Endpoint::Labels,
        "label_values" | "label" => Endpoint::LabelValues,
        _ => {
            let sum = line.iter().map(|&b| usize::from(b)).sum::<usize>();
            ENDPOINTS[sum % ENDPOINTS.len()]
        }
    };
    (method, endpoint)
}

/// Percent-encodes every byte but the unreserved ones, for a path segment.
fn encode_segment(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 3);
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn form(pairs: &[(&[u8], &[u8])]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(form_urlencoded::byte_serialize(k));
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(v));
    }
    out
}

fn build_request(data: &[u8]) -> Request<Body> {
    let mut lines = data.split(|&b| b == b'\n');
    let (method, endpoint) = endpoint_line(lines.next().unwrap_or_default());
    let text = lines.next().unwrap_or_default();
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    let mut path = match endpoint {
        Endpoint::Query => "/api/v1/query".to_string(),
        Endpoint::QueryRange => "/api/v1/query_range".to_string(),
        Endpoint::Series => "/api/v1/series".to_string(),
        Endpoint::Labels => "/api/v1/labels".to_string(),
        Endpoint::LabelValues => format!("/api/v1/label/{}/values", encode_segment(text)),
    };
    match endpoint {
        Endpoint::Query | Endpoint::QueryRange => pairs.push((b"query", text)),
        Endpoint::Series | Endpoint::Labels if !text.is_empty() => pairs.push((b"match[]", text)),
        _ => {}
    }
    for line in lines.take(MAX_PARAMS) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match line.iter().position(|&b| b == b'=') {
            Some(i) => pairs.push((&line[..i], &line[i + 1..])),
            None => pairs.push((line, b"")),
        }
    }
    let encoded = form(&pairs);
    if method == Method::POST {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(encoded))
            .expect("request")
    } else {
        if !encoded.is_empty() {
            path.push('?');
            path.push_str(&encoded);
        }
        Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(Body::empty())
            .expect("request")
    }
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let req = build_request(data);
    let shown = format!("{} {}", req.method(), req.uri());
    h.rt.block_on(async move {
        let (status, body) = send(&h.router, req).await;
        if verbose() {
            let text = String::from_utf8_lossy(&body);
            let cut = text.char_indices().nth(300).map_or(text.len(), |(i, _)| i);
            eprintln!("{shown}\n  -> {status} {}", &text[..cut]);
        }
        if status.is_server_error() {
            let text = String::from_utf8_lossy(&body);
            if text.contains("panic") {
                panic!("{shown}: {status} {text}");
            }
        }
    });
});
