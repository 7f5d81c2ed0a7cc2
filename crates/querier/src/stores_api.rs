//! `/api/v1/stores`: the querier's endpoints with their health, labels
//! and time ranges, in the shape of Thanos's answer (endpoints grouped by
//! component type).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::fanout::Fanout;

pub fn router(fanout: Arc<Fanout>) -> Router {
    Router::new()
        .route("/api/v1/stores", get(stores))
        .with_state(fanout)
}

async fn stores(State(fanout): State<Arc<Fanout>>) -> impl IntoResponse {
    let mut groups: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for e in fanout.endpoints() {
        let st = e.status();
        let (component, label_sets, min_time, max_time) = match &st.info {
            Some(i) => (
                i.component.clone(),
                i.label_sets
                    .iter()
                    .map(|l| {
                        l.iter()
                            .map(|p| (p.name.to_string(), serde_json::Value::from(p.value)))
                            .collect::<serde_json::Map<_, _>>()
                    })
                    .collect::<Vec<_>>(),
                i.min_time,
                i.max_time,
            ),
            None => ("unknown".to_string(), Vec::new(), 0, 0),
        };
        let last_check = chrono::DateTime::from_timestamp_millis(st.last_check_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        groups
            .entry(component)
            .or_default()
            .push(serde_json::json!({
                "name": e.name(),
                "lastCheck": last_check,
                "lastError": st.last_error,
                "labelSets": label_sets,
                "minTime": min_time,
                "maxTime": max_time,
            }));
    }
    let body = serde_json::json!({"status": "success", "data": groups});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}
