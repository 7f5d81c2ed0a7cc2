//! What the router tests share: an API state over a storage, requests and
//! response bodies.

use std::sync::Arc;
use std::time::Duration;

use argus_http_api::{ApiOptions, ApiState};
use argus_model::storage::Queryable;
use argus_promql::{Engine, EngineOptions};
use axum::body::Body;
use axum::http::Request;

/// A ready API over `storage` allowing `max_concurrency` queries at once.
pub fn state(storage: Arc<dyn Queryable>, max_concurrency: usize) -> Arc<ApiState> {
    let s = ApiState::new(ApiOptions {
        query_timeout: Duration::from_secs(60),
        max_concurrency,
        ..ApiOptions::new(storage, Engine::new(EngineOptions::default()))
    });
    s.set_ready(true);
    s
}

pub fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_default()
}

pub async fn body_string(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&b).into_owned()
}
