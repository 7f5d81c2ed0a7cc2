//! Plumbing the fuzz targets share: sending a request to an in-process
//! router and the verbose switch.

use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

/// `ARGUS_FUZZ_VERBOSE=1` prints each request and its answer.
pub fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("ARGUS_FUZZ_VERBOSE").is_some_and(|v| v != "0"))
}

/// Sends `req` to `router` and reads the whole answer.
pub async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, Bytes) {
    let resp = match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (status, body)
}
