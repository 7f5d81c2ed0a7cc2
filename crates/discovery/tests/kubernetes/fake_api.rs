//! A small fake Kubernetes API server on 127.0.0.1: list and watch for
//! core/v1 and discovery.k8s.io/v1 resources, backed by an event log so a
//! watch started at a resourceVersion replays what it missed.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::watch;

/// One request the fake served, for asserting namespaces and selectors.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: HashMap<String, String>,
}

impl Request {
    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|v| v == "true" || v == "1")
    }
}

struct LoggedEvent {
    rv: u64,
    resource: String,
    event_type: &'static str,
    object: Value,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    /// (resource, namespace, name) to the current object.
    objects: BTreeMap<(String, String, String), Value>,
    log: Vec<LoggedEvent>,
    requests: Vec<Request>,
}

struct Shared {
    inner: Mutex<Inner>,
    latest: watch::Sender<u64>,
}

pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            latest: watch::channel(0).0,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind fake api: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake api address: {e}"));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                panic!("fake api server failed: {e}");
            }
        });
        FakeApi {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `resource` is the plural (`pods`, `endpointslices`).
    pub fn add(&self, resource: &str, object: Value) {
        self.record(resource, "ADDED", object);
    }

    pub fn modify(&self, resource: &str, object: Value) {
        self.record(resource, "MODIFIED", object);
    }

    pub fn delete(&self, resource: &str, object: Value) {
        self.record(resource, "DELETED", object);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|e| panic!("fake api state poisoned: {e}"))
    }

    fn record(&self, resource: &str, event_type: &'static str, mut object: Value) {
        let rv = {
            let mut inner = self.lock();
            inner.rv += 1;
            let rv = inner.rv;
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let key = (resource.to_string(), namespace(&object), name(&object));
            if event_type == "DELETED" {
                inner.objects.remove(&key);
            } else {
                inner.objects.insert(key, object.clone());
            }
            inner.log.push(LoggedEvent {
                rv,
                resource: resource.to_string(),
                event_type,
                object,
            });
            rv
        };
        self.shared.latest.send_replace(rv);
    }
}

fn namespace(obj: &Value) -> String {
    obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `/api/v1/[namespaces/<ns>/]<resource>` or the same under
/// `/apis/<group>/<version>/`: the resource and the namespace (None: all).
fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/apis/discovery.k8s.io/v1/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [resource] => Some((resource.to_string(), None)),
        ["namespaces", ns, resource] => Some((resource.to_string(), Some(ns.to_string()))),
        _ => None,
    }
}

fn list_kind(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "pods" => ("v1", "PodList"),
        "nodes" => ("v1", "NodeList"),
        "services" => ("v1", "ServiceList"),
        "endpoints" => ("v1", "EndpointsList"),
        "namespaces" => ("v1", "NamespaceList"),
        "endpointslices" => ("discovery.k8s.io/v1", "EndpointSliceList"),
        other => panic!("fake api does not serve {other}"),
    }
}

/// Equality-only label selectors (`a=b,c==d`), enough for the tests.
fn selector_matches(selector: Option<&String>, obj: &Value) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| {
        let (k, v) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .unwrap_or_else(|| panic!("fake api supports only equality selectors, got {term}"));
        obj["metadata"]["labels"][k.trim()].as_str() == Some(v.trim())
    })
}

fn in_scope(ns: &Option<String>, selector: Option<&String>, obj: &Value) -> bool {
    ns.as_ref().is_none_or(|ns| *ns == namespace(obj)) && selector_matches(selector, obj)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let request = Request {
        path: uri.path().to_string(),
        query,
    };
    let Some((resource, ns)) = parse_path(&request.path) else {
        return status(StatusCode::NOT_FOUND);
    };
    let watch = request.is_watch();
    let selector = request.query.get("labelSelector").cloned();
    let mut inner = shared
        .inner
        .lock()
        .unwrap_or_else(|e| panic!("fake api state poisoned: {e}"));
    inner.requests.push(request.clone());
    let (api_version, kind) = list_kind(&resource);

    if !watch {
        let items: Vec<Value> = inner
            .objects
            .iter()
            .filter(|((r, _, _), obj)| *r == resource && in_scope(&ns, selector.as_ref(), obj))
            .map(|(_, obj)| obj.clone())
            .collect();
        let body = json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": inner.rv.to_string()},
            "items": items,
        });
        return json_response(body.to_string());
    }

    let start: u64 = request
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(inner.rv);
    let item_kind = kind.trim_end_matches("List").to_string();
    let bookmark = json!({
        "type": "BOOKMARK",
        "object": {"kind": item_kind, "apiVersion": api_version, "metadata": {"resourceVersion": start.to_string()}},
    });
    drop(inner);
    let latest = shared.latest.subscribe();
    let stream = futures::stream::unfold(
        (shared, latest, start, Some(bookmark)),
        move |(shared, mut latest, cursor, bookmark)| {
            let resource = resource.clone();
            let ns = ns.clone();
            let selector = selector.clone();
            async move {
                if let Some(b) = bookmark {
                    let line = format!("{b}\n");
                    return Some((Ok::<_, Infallible>(line), (shared, latest, cursor, None)));
                }
                loop {
                    latest.borrow_and_update();
                    let next = {
                        let inner = shared
                            .inner
                            .lock()
                            .unwrap_or_else(|e| panic!("poisoned: {e}"));
                        inner
                            .log
                            .iter()
                            .find(|e| {
                                e.rv > cursor
                                    && e.resource == resource
                                    && in_scope(&ns, selector.as_ref(), &e.object)
                            })
                            .map(|e| (e.rv, json!({"type": e.event_type, "object": e.object})))
                    };
                    if let Some((rv, event)) = next {
                        let line = format!("{event}\n");
                        return Some((Ok(line), (shared, latest, rv, None)));
                    }
                    // Nothing new for this watch: wait for the next event.
                    if latest.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| panic!("building watch response: {e}"))
}

fn json_response(body: String) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("building list response: {e}"))
}

fn status(code: StatusCode) -> Response {
    Response::builder()
        .status(code)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("building response: {e}"))
}
