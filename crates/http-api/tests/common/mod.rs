//! What the router tests share: an API state over a storage, requests and
//! response bodies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use argus_http_api::{ApiOptions, ApiState, BuildInfo};
use argus_model::storage::Queryable;
use argus_promql::{Engine, EngineOptions};
use axum::body::Body;
use axum::http::Request;
use prometheus_client::registry::Registry;

/// A ready API over `storage` allowing `max_concurrency` queries at once.
pub fn state(storage: Arc<dyn Queryable>, max_concurrency: usize) -> Arc<ApiState> {
    let s = ApiState::new(ApiOptions {
        storage,
        engine: Engine::new(EngineOptions::default()),
        query_timeout: Duration::from_secs(60),
        max_concurrency,
        build_info: BuildInfo::default(),
        flags: BTreeMap::new(),
        config_yaml: String::new(),
        storage_retention: "15d".to_string(),
        tsdb: None,
        lifecycle: None,
        registry: Registry::default(),
        scrape: None,
        external_host: argus_http_api::ExternalHost::default(),
        admin: None,
        external_labels: argus_model::labels::Labels::empty(),
        cors_origin: None,
        route_prefix: "/".to_string(),
        page_title: "Argus".to_string(),
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
