//! The handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::cancel::{CancelOnDrop, CancelToken};
use argus_model::matcher::Matcher;
use argus_model::storage::{
    LabelRequest, MergeSeries, OnEqualLabels, Queryable, ReadContext, SelectHints, SelectRequest,
    SeriesSource, SeriesStream, StorageError, merge_sorted_strings,
};
use argus_promql::{Engine, QueryContext, QueryError, QueryOutput, Value};
use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, options, post};
use prometheus_client::metrics::gauge::Gauge;

use crate::params::{
    MAX_TIME_MS, MIN_TIME_MS, Params, invalid_param, limit_param, parse_duration_ns, parse_time,
    time_param, unescape_label_name,
};
use crate::response::{
    ApiError, Notes, json_response, query_data, string_list, success, write_labels,
};
use crate::status::{RuntimeInfo, TsdbStatus, go_time};
use crate::{ApiState, ReloadError, Reloaded};

type St = State<Arc<ApiState>>;

/// Extra time the engine gets past the deadline to notice it itself (its
/// error names the stage) before the handler answers for it.
const DEADLINE_GRACE: Duration = Duration::from_millis(100);

pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query).options(preflight))
        .route(
            "/api/v1/query_range",
            get(query_range).post(query_range).options(preflight),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars)
                .post(query_exemplars)
                .options(preflight),
        )
        .route(
            "/api/v1/series",
            get(series).post(series).options(preflight),
        )
        .route(
            "/api/v1/labels",
            get(label_names).post(label_names).options(preflight),
        )
        .route(
            "/api/v1/label/{name}/values",
            get(label_values).options(preflight),
        )
        .route("/api/v1/metadata", get(metadata).options(preflight))
        .route("/api/v1/targets", get(targets).options(preflight))
        .route(
            "/api/v1/targets/metadata",
            get(targets_metadata).options(preflight),
        )
        .route(
            "/api/v1/format_query",
            get(format_query).post(format_query).options(preflight),
        )
        // Placeholders until rules exist: empty, well-shaped.
        .route("/api/v1/rules", get(rules).options(preflight))
        .route("/api/v1/alerts", get(alerts).options(preflight))
        .route(
            "/api/v1/alertmanagers",
            get(alertmanagers).options(preflight),
        )
        // CORS preflight, as upstream's `OPTIONS /*path`; any other method
        // on a path the API does not have is a JSON 404.
        .route(
            "/api/v1/{*path}",
            options(preflight).fallback(unknown_api_path),
        )
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin_delete_series).put(admin_delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin_clean_tombstones).put(admin_clean_tombstones),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(admin_snapshot).put(admin_snapshot),
        )
        .route(
            "/api/v1/status/walreplay",
            get(status_walreplay).options(preflight),
        )
        .route(
            "/api/v1/status/config",
            get(status_config).options(preflight),
        )
        .route("/api/v1/status/flags", get(status_flags).options(preflight))
        .route(
            "/api/v1/status/buildinfo",
            get(status_buildinfo).options(preflight),
        )
        .route(
            "/api/v1/status/runtimeinfo",
            get(status_runtimeinfo).options(preflight),
        )
        .route("/api/v1/status/tsdb", get(status_tsdb).options(preflight))
        .route("/", get(index_page))
        .route("/graph", get(index_page))
        .route("/query", get(index_page))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", get(lifecycle_get).post(reload).put(reload))
        .route("/-/quit", get(lifecycle_get).post(quit).put(quit))
        .route("/metrics", get(metrics))
        .route("/federate", get(federate))
        .route(crate::conn::MALFORMED_PATH, any(malformed_request))
        .route_layer(from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// The endpoints of a scraper, which answers no queries: health,
/// lifecycle, `/metrics` and targets (queries go through the StoreAPI).
pub(crate) fn scraper_router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/targets", get(targets).options(preflight))
        .route(
            "/api/v1/targets/metadata",
            get(targets_metadata).options(preflight),
        )
        .route(
            "/api/v1/status/buildinfo",
            get(status_buildinfo).options(preflight),
        )
        .route("/api/v1/status/flags", get(status_flags).options(preflight))
        .route(
            "/api/v1/status/config",
            get(status_config).options(preflight),
        )
        .route(
            "/api/v1/{*path}",
            options(preflight).fallback(unknown_api_path),
        )
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", get(lifecycle_get).post(reload).put(reload))
        .route("/-/quit", get(lifecycle_get).post(quit).put(quit))
        .route("/metrics", get(metrics))
        .route(crate::conn::MALFORMED_PATH, any(malformed_request))
        .route_layer(from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts and times requests per route; API routes answer 503 until the
/// server is ready, as upstream.
async fn track(State(st): St, matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    // Routes are named without `--web.route-prefix`, as upstream's.
    let handler = matched.map_or_else(
        || "other".to_string(),
        |m| {
            let path = m.as_str();
            match path.strip_prefix(st.route_prefix.as_str()) {
                Some(rest) if st.route_prefix != "/" && rest.starts_with('/') => rest.to_string(),
                _ => path.to_string(),
            }
        },
    );
    let started = Instant::now();
    let is_api = handler.starts_with("/api/");
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|_| is_api)
        .cloned();
    let mut resp = if is_api && !st.is_ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        // As upstream's SetCORS: `--web.cors.origin` `.*` (the default)
        // allows any origin as `*`; another pattern echoes the origins it
        // matches, in full.
        let h = resp.headers_mut();
        for (k, v) in [
            (
                "access-control-allow-headers",
                "Accept, Authorization, Content-Type, Origin",
            ),
            ("access-control-allow-methods", "GET, POST, OPTIONS"),
            ("access-control-expose-headers", "Date"),
            ("vary", "Origin"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        match &st.cors_origin {
            None => {
                h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
            }
            Some(re) if origin.to_str().is_ok_and(|o| re.is_match(o)) => {
                h.insert("access-control-allow-origin", origin);
            }
            Some(_) => {}
        }
    }
    let m = st.metrics();
    m.http_requests
        .get_or_create(&vec![
            ("handler", handler.clone()),
            ("code", resp.status().as_u16().to_string()),
        ])
        .inc();
    m.http_duration
        .get_or_create(&vec![("handler", handler)])
        .observe(started.elapsed().as_secs_f64());
    resp
}

fn respond(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

struct InFlight(Gauge);

impl InFlight {
    fn new(g: &Gauge) -> InFlight {
        g.inc();
        InFlight(g.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn timeout_param(p: &Params) -> Result<Option<Duration>, ApiError> {
    let s = p.value("timeout");
    if s.is_empty() {
        return Ok(None);
    }
    let ns = parse_duration_ns(s).map_err(|e| invalid_param("timeout", e))?;
    Ok(Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(0))))
}

/// Truncates a vector or matrix to `limit` series; true when it did.
fn truncate(v: &mut Value, limit: usize) -> bool {
    match v {
        Value::Vector(s) if s.len() > limit => {
            s.truncate(limit);
            true
        }
        Value::Matrix(s) if s.len() > limit => {
            s.truncate(limit);
            true
        }
        _ => false,
    }
}

/// Runs a query on a blocking thread under the concurrency limit and the
/// deadline, and encodes its result there too. Returns the `data` JSON.
async fn run_query<F>(
    st: &Arc<ApiState>,
    storage: Arc<dyn Queryable>,
    timeout: Option<Duration>,
    limit: usize,
    eval: F,
) -> Result<(String, Notes), ApiError>
where
    F: FnOnce(&Engine, &dyn Queryable, &QueryContext) -> Result<QueryOutput, QueryError>
        + Send
        + 'static,
{
    let started = Instant::now();
    let timeout = timeout.map_or(st.query_timeout, |t| t.min(st.query_timeout));
    let deadline = started.checked_add(timeout);
    // hyper drops the handler future when the client disconnects: the
    // guard then cancels the query on every storage it reads.
    let cancel = CancelToken::new();
    let _cancel_guard = CancelOnDrop(cancel.clone());
    let m = st.metrics().clone();
    let _in_flight = InFlight::new(&m.queries_in_flight);

    let acquire = st.semaphore.clone().acquire_owned();
    let permit = match deadline {
        Some(d) => match tokio::time::timeout_at(d.into(), acquire).await {
            Ok(p) => p,
            Err(_) => return Err(query_failed(&m, &QueryError::Timeout("query queue"))),
        },
        None => acquire.await,
    }
    .map_err(|_| ApiError::unavailable("the query engine is shutting down"))?;

    let ctx = QueryContext::new(deadline, cancel.clone());
    let engine = st.engine();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let out = eval(&engine, &*storage, &ctx)?;
        let mut notes = Notes::from_annotations(&out.annotations);
        let mut value = out.value;
        if limit > 0 && truncate(&mut value, limit) {
            notes.warn("results truncated due to limit");
        }
        Ok::<_, QueryError>((query_data(&value), notes, out.samples_loaded))
    });
    let joined = match deadline.and_then(|d| d.checked_add(DEADLINE_GRACE)) {
        Some(d) => match tokio::time::timeout_at(d.into(), task).await {
            Ok(j) => j,
            Err(_) => {
                // The engine did not notice the deadline in time; stop it
                // and answer for it.
                cancel.cancel();
                m.query_duration.observe(started.elapsed().as_secs_f64());
                return Err(query_failed(
                    &m,
                    &QueryError::Timeout("expression evaluation"),
                ));
            }
        },
        None => task.await,
    };
    m.query_duration.observe(started.elapsed().as_secs_f64());
    match joined {
        Ok(Ok((data, notes, samples))) => {
            m.query_samples.inc_by(samples);
            Ok((data, notes))
        }
        Ok(Err(e)) => Err(query_failed(&m, &e)),
        Err(e) => {
            tracing::error!(error = %e, "query evaluation panicked");
            Err(ApiError::internal(format!("query evaluation failed: {e}")))
        }
    }
}

fn query_failed(m: &crate::ApiMetrics, e: &QueryError) -> ApiError {
    m.query_errors
        .get_or_create(&vec![("type", e.error_type().to_string())])
        .inc();
    ApiError::from_query(e)
}

async fn query(State(st): St, p: Params) -> Response {
    respond(query_inner(&st, &p).await)
}

async fn query_inner(st: &Arc<ApiState>, p: &Params) -> Result<Response, ApiError> {
    let limit = limit_param(p)?;
    let t = time_param(p, "time", argus_model::time::now_ms())?;
    let timeout = timeout_param(p)?;
    let q = p.value("query").to_string();
    let (data, notes) = run_query(
        st,
        st.storage_for(p)?,
        timeout,
        limit,
        move |engine, storage, ctx| engine.instant(storage, &q, t, ctx),
    )
    .await?;
    Ok(success(&data, &notes))
}

async fn query_range(State(st): St, p: Params) -> Response {
    respond(query_range_inner(&st, &p).await)
}

async fn query_range_inner(st: &Arc<ApiState>, p: &Params) -> Result<Response, ApiError> {
    let limit = limit_param(p)?;
    let start = parse_time(p.value("start")).map_err(|e| invalid_param("start", e))?;
    let end = parse_time(p.value("end")).map_err(|e| invalid_param("end", e))?;
    if end < start {
        return Err(invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration_ns(p.value("step")).map_err(|e| invalid_param("step", e))?;
    // The engine works in milliseconds, like Prometheus's.
    let step = step_ns / 1_000_000;
    if step_ns <= 0 || step <= 0 {
        return Err(invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (i128::from(end) - i128::from(start)) * 1_000_000 / i128::from(step_ns) > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(p)?;
    let q = p.value("query").to_string();
    let (data, notes) = run_query(
        st,
        st.storage_for(p)?,
        timeout,
        limit,
        move |engine, storage, ctx| engine.range(storage, &q, start, end, step, ctx),
    )
    .await?;
    Ok(success(&data, &notes))
}

async fn query_exemplars(p: Params) -> Response {
    respond((|| {
        let start = time_param(&p, "start", MIN_TIME_MS)?;
        let end = time_param(&p, "end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start timestamp",
            ));
        }
        // Exemplars are not stored yet.
        Ok(success("[]", &Notes::default()))
    })())
}

/// How many `match[]` selectors one request may carry: each compiles its
/// regexes, so the count bounds the work and memory a request can cause
/// (the form size limit alone would allow millions).
pub const MAX_MATCH_SELECTORS: usize = 1000;

/// Parses `match[]` values; each set needs a matcher that does not match
/// the empty string. A selector given twice is parsed once.
fn matcher_sets(list: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    if list.len() > MAX_MATCH_SELECTORS {
        return Err(format!(
            "too many match[] selectors: {} exceeds the limit of {MAX_MATCH_SELECTORS}",
            list.len()
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    let mut sets = Vec::with_capacity(list.len());
    for s in list {
        if !seen.insert(*s) {
            continue;
        }
        let ms = argus_promql::parse_selector(s).map_err(|e| e.to_string())?;
        if !ms.iter().any(|m| !m.matches_empty()) {
            return Err("match[] must contain at least one non-empty matcher".to_string());
        }
        sets.push(ms);
    }
    Ok(sets)
}

/// Runs work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request failed: {e}")))?
}

/// Runs storage work on a blocking thread under a read context that ends
/// at the query timeout and is canceled when the client goes away (the
/// handler's future, holding the guard, is dropped).
async fn blocking_read<T: Send + 'static>(
    st: &ApiState,
    f: impl FnOnce(&ReadContext) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let cancel = CancelToken::new();
    let _cancel_guard = CancelOnDrop(cancel.clone());
    let ctx = ReadContext::new(Instant::now().checked_add(st.query_timeout), cancel);
    tokio::task::spawn_blocking(move || f(&ctx))
        .await
        .map_err(|e| ApiError::internal(format!("request failed: {e}")))?
}

async fn series(State(st): St, p: Params) -> Response {
    respond(series_inner(&st, &p).await)
}

async fn series_inner(st: &Arc<ApiState>, p: &Params) -> Result<Response, ApiError> {
    let matches = p.all("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(p)?;
    let start = time_param(p, "start", MIN_TIME_MS)?;
    let end = time_param(p, "end", MAX_TIME_MS)?;
    let sets = matcher_sets(&matches).map_err(|e| invalid_param("match[]", e))?;
    let storage = st.storage_for(p)?;
    blocking_read(st, move |ctx| {
        // One more than the limit tells whether the answer was cut.
        let hints = SelectHints {
            func: Some("series".to_string()),
            skip_chunks: true,
            limit: if limit > 0 { limit + 1 } else { 0 },
            ..SelectHints::default()
        };
        let requests: Vec<SelectRequest> = sets
            .into_iter()
            .map(|matchers| SelectRequest {
                matchers,
                mint: start,
                maxt: end,
                hints: hints.clone(),
            })
            .collect();
        let streams = requests
            .iter()
            .map(|r| Ok(Box::new(storage.select(r, ctx)?) as Box<dyn SeriesSource + '_>))
            .collect::<Result<Vec<_>, StorageError>>()
            .map_err(|e| ApiError::from_storage(&e))?;
        let merged = MergeSeries::new(streams, OnEqualLabels::KeepFirst);
        let found = SeriesStream::new(merged, &requests[0], ctx);
        let mut data = String::from("[");
        let mut notes = Notes::default();
        let storage_warnings = ctx.warnings.clone();
        for (n, s) in found.enumerate() {
            let s = s.map_err(|e| ApiError::from_storage(&e))?;
            if limit > 0 && n == limit {
                notes.warn("results truncated due to limit");
                break;
            }
            if n > 0 {
                data.push(',');
            }
            write_labels(&mut data, &s.labels);
        }
        data.push(']');
        for w in storage_warnings.snapshot() {
            notes.warn(w);
        }
        Ok(success(&data, &notes))
    })
    .await
}

/// A sorted list answer, cut to `limit` with the warning upstream gives;
/// `items` may hold one more than the limit to tell that it was cut.
fn string_list_response(mut items: Vec<String>, limit: usize, ctx: &ReadContext) -> Response {
    let mut notes = Notes::default();
    for w in ctx.warnings.snapshot() {
        notes.warn(w);
    }
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        notes.warn("results truncated due to limit");
    }
    success(&string_list(&items), &notes)
}

async fn label_names(State(st): St, p: Params) -> Response {
    respond(label_names_inner(&st, &p).await)
}

async fn label_names_inner(st: &Arc<ApiState>, p: &Params) -> Result<Response, ApiError> {
    let (limit, requests) = label_requests(p)?;
    let storage = st.storage_for(p)?;
    blocking_read(st, move |ctx| {
        let names = union_over(&requests, |r| storage.label_names(r, ctx))?;
        Ok(string_list_response(names, limit, ctx))
    })
    .await
}

/// The `limit` of the label endpoints and one request per `match[]` set
/// (one without matchers when there is none), each asking for one more
/// than the limit.
fn label_requests(p: &Params) -> Result<(usize, Vec<LabelRequest>), ApiError> {
    let limit = limit_param(p)?;
    let start = time_param(p, "start", MIN_TIME_MS)?;
    let end = time_param(p, "end", MAX_TIME_MS)?;
    let mut sets = matcher_sets(&p.all("match[]")).map_err(ApiError::bad_data)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let per_request = if limit > 0 { limit + 1 } else { 0 };
    let requests = sets
        .into_iter()
        .map(|ms| LabelRequest::new(ms, start, end).with_limit(per_request))
        .collect();
    Ok((limit, requests))
}

/// The sorted union of `list` over the requests.
fn union_over(
    requests: &[LabelRequest],
    list: impl Fn(&LabelRequest) -> Result<Vec<String>, StorageError>,
) -> Result<Vec<String>, ApiError> {
    let lists = requests
        .iter()
        .map(list)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::from_storage(&e))?;
    Ok(merge_sorted_strings(
        lists,
        requests.first().map_or(0, |r| r.limit),
    ))
}

async fn label_values(
    State(st): St,
    uri: axum::http::Uri,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    p: Params,
) -> Response {
    // A name that does not decode to UTF-8 is invalid, as in Prometheus 3,
    // and answered in the API's envelope rather than axum's plain text.
    let Ok(Path(name)) = name else {
        let segment = uri
            .path()
            .rsplit_once("/label/")
            .map_or("", |(_, rest)| rest.trim_end_matches("/values"));
        let raw: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        let shown = argus_promql::functions::gofmt::quote_bytes(&raw);
        return ApiError::bad_data(format!("invalid label name: {shown}")).into_response();
    };
    respond(label_values_inner(&st, name, &p).await)
}

async fn label_values_inner(
    st: &Arc<ApiState>,
    name: String,
    p: &Params,
) -> Result<Response, ApiError> {
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let (limit, requests) = label_requests(p)?;
    let storage = st.storage_for(p)?;
    blocking_read(st, move |ctx| {
        let values = union_over(&requests, |r| storage.label_values(&name, r, ctx))?;
        Ok(string_list_response(values, limit, ctx))
    })
    .await
}

async fn metadata(State(st): St, p: Params) -> Response {
    match crate::targets::metric_metadata_json(scrape_source(&st), &p) {
        Ok(data) => success(&data, &Notes::default()),
        Err(e) => e.into_response(),
    }
}

fn scrape_source(st: &ApiState) -> &dyn crate::targets::ScrapeStatusSource {
    match &st.scrape {
        Some(s) => s.as_ref(),
        None => &NoTargets,
    }
}

async fn targets_metadata(State(st): St, p: Params) -> Response {
    match crate::targets::target_metadata_json(scrape_source(&st), &p) {
        Ok(data) => success(&data, &Notes::default()),
        Err(e) => e.into_response(),
    }
}

/// The scrape status of a server that scrapes nothing.
struct NoTargets;

impl crate::targets::ScrapeStatusSource for NoTargets {
    fn active_targets(&self) -> Vec<crate::targets::TargetInfo> {
        Vec::new()
    }
    fn dropped_targets(&self) -> Vec<crate::targets::DroppedTargetInfo> {
        Vec::new()
    }
    fn target_metadata(&self) -> Vec<crate::targets::TargetMetadataInfo> {
        Vec::new()
    }
}

async fn preflight() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn targets(State(st): St, p: Params) -> Response {
    success(
        &crate::targets::targets_json(scrape_source(&st), &st.external_host, &p),
        &Notes::default(),
    )
}

async fn rules() -> Response {
    success(r#"{"groups":[]}"#, &Notes::default())
}

async fn alerts() -> Response {
    success(r#"{"alerts":[]}"#, &Notes::default())
}

async fn alertmanagers() -> Response {
    success(
        r#"{"activeAlertmanagers":[],"droppedAlertmanagers":[]}"#,
        &Notes::default(),
    )
}

async fn unknown_api_path(uri: axum::http::Uri) -> Response {
    ApiError::new(
        argus_model::error::ErrorKind::NotFound,
        format!("unknown API endpoint {}", uri.path()),
    )
    .into_response()
}

/// `/federate`; errors are plain text, as upstream's.
async fn federate(State(st): St, p: Params) -> Response {
    let plain =
        |status: StatusCode, message: String| (status, format!("{message}\n")).into_response();
    let matches = p.all("match[]");
    let sets = match matcher_sets(&matches) {
        Ok(s) => s,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e),
    };
    let storage = match st.storage_for(&p) {
        Ok(s) => s,
        Err(e) => return plain(e.status, e.message),
    };
    let lookback = st.engine().options().lookback_delta_ms;
    let external = st.external_labels();
    let now = argus_model::time::now_ms();
    let r = blocking_read(&st, move |ctx| {
        crate::federate::federate(storage.as_ref(), ctx, sets, now, lookback, &external)
            .map_err(|e| ApiError::from_storage(&e))
    })
    .await;
    match r {
        Ok(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => plain(e.status, e.message),
    }
}

/// `/api/v1/format_query`: the expression as Prometheus's `Pretty` prints
/// it.
async fn format_query(State(st): St, p: Params) -> Response {
    let query = p.value("query").to_string();
    let max_depth = st.engine().options().max_depth;
    let r = blocking(move || {
        argus_promql::format_query(&query, max_depth).map_err(|e| ApiError::from_query(&e))
    })
    .await;
    match r {
        Ok(text) => {
            let mut data = String::with_capacity(text.len() + 2);
            crate::response::write_json_str(&mut data, &text);
            success(&data, &Notes::default())
        }
        Err(e) => e.into_response(),
    }
}

fn admin(st: &ApiState) -> Result<Arc<dyn crate::TsdbAdmin>, ApiError> {
    st.admin
        .clone()
        .ok_or_else(|| ApiError::unavailable("admin APIs disabled"))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_delete_series(State(st): St, p: Params) -> Response {
    let run = async {
        let admin = admin(&st)?;
        let matches = p.all("match[]");
        if matches.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let start = time_param(&p, "start", MIN_TIME_MS)?;
        let end = time_param(&p, "end", MAX_TIME_MS)?;
        let sets = matcher_sets(&matches).map_err(|e| invalid_param("match[]", e))?;
        blocking(move || {
            for matchers in &sets {
                admin
                    .delete_series(matchers, start, end)
                    .map_err(|e| ApiError::from_storage(&e))?;
            }
            Ok(no_content())
        })
        .await
    };
    respond(run.await)
}

async fn admin_clean_tombstones(State(st): St) -> Response {
    let run = async {
        let admin = admin(&st)?;
        blocking(move || {
            admin
                .clean_tombstones()
                .map_err(|e| ApiError::from_storage(&e))?;
            Ok(no_content())
        })
        .await
    };
    respond(run.await)
}

async fn admin_snapshot(State(st): St, p: Params) -> Response {
    let run = async {
        let admin = admin(&st)?;
        let skip_head = match p.value("skip_head") {
            "" => false,
            v => go_parse_bool(v).ok_or_else(|| {
                invalid_param(
                    "skip_head",
                    format!(
                        "unable to parse boolean: strconv.ParseBool: parsing {v:?}: invalid syntax"
                    ),
                )
            })?,
        };
        blocking(move || {
            let name = admin
                .snapshot(!skip_head)
                .map_err(|e| ApiError::internal(format!("create snapshot: {}", e.message())))?;
            let mut data = String::from("{\"name\":");
            crate::response::write_json_str(&mut data, &name);
            data.push('}');
            Ok(success(&data, &Notes::default()))
        })
        .await
    };
    respond(run.await)
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `/api/v1/status/walreplay`: the WAL is replayed before the API opens,
/// so `current` is always `max`.
async fn status_walreplay(State(st): St) -> Response {
    let source = st.tsdb.clone();
    respond(
        blocking(move || {
            let (min, max) = source.and_then(|s| s.wal_segments()).unwrap_or((0, 0));
            Ok(success(
                &format!(r#"{{"min":{min},"max":{max},"current":{max}}}"#),
                &Notes::default(),
            ))
        })
        .await,
    )
}

fn json_data<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(s) => success(&s, &Notes::default()),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

async fn status_config(State(st): St) -> Response {
    let (yaml, _, _) = st.config_snapshot();
    json_data(&serde_json::json!({ "yaml": yaml }))
}

async fn status_flags(State(st): St) -> Response {
    json_data(&st.flags)
}

async fn status_buildinfo(State(st): St) -> Response {
    json_data(&st.build_info)
}

async fn status_runtimeinfo(State(st): St) -> Response {
    let (_, reload_success, last_config_time) = st.config_snapshot();
    let st2 = st.clone();
    respond(
        blocking(move || {
            let proc = crate::metrics::read_proc_stats();
            let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let info = RuntimeInfo {
                start_time: go_time(st2.start_time_ms),
                cwd: std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
                hostname,
                server_time: go_time(argus_model::time::now_ms()),
                reload_config_success: reload_success,
                last_config_time: go_time(last_config_time),
                corruption_count: 0,
                goroutine_count: proc.threads.map_or(0, |t| t as i64),
                gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
                gomemlimit: i64::MAX,
                gogc: String::new(),
                godebug: String::new(),
                storage_retention: st2.storage_retention.clone(),
            };
            Ok(json_data(&info))
        })
        .await,
    )
}

async fn status_tsdb(State(st): St, p: Params) -> Response {
    const MAX_LIMIT: usize = 10_000;
    let mut limit = 10;
    let s = p.value("limit");
    if !s.is_empty() {
        match s.parse::<i64>() {
            Ok(n) if n >= 1 => limit = usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return ApiError::bad_data("limit must be a positive number").into_response();
            }
        }
        if limit > MAX_LIMIT {
            return ApiError::bad_data(format!("limit must not exceed {MAX_LIMIT}"))
                .into_response();
        }
    }
    let source = st.tsdb.clone();
    respond(
        blocking(move || {
            let status = match source {
                Some(s) => s.tsdb_status(limit),
                None => TsdbStatus::from_series(&[], 0, i64::MAX, i64::MIN, limit),
            };
            Ok(json_data(&status))
        })
        .await,
    )
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A request the connection layer found malformed (see [`crate::conn`]):
/// Prometheus's error envelope with the reason, instead of hyper's empty
/// 400. Without the layer's header, the path is just unknown.
async fn malformed_request(headers: axum::http::HeaderMap) -> Response {
    let Some(reason) = headers
        .get(crate::conn::MALFORMED_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return ApiError::new(argus_model::error::ErrorKind::NotFound, "not found").into_response();
    };
    let (code, message) = reason.split_once(' ').unwrap_or(("400", reason));
    let status = code
        .parse()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(status, ApiError::bad_data(message).to_json());
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn index_page(State(st): St) -> Response {
    let html = crate::page::index_html(&st.page_title, &st.build_info.version, &st.route_prefix);
    let mut r = (StatusCode::OK, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

async fn healthy() -> Response {
    text(StatusCode::OK, "Argus Server is Healthy.\n")
}

async fn ready(State(st): St) -> Response {
    if st.is_ready() {
        text(StatusCode::OK, "Argus Server is Ready.\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    }
}

async fn lifecycle_get() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "Only POST or PUT requests allowed",
    )
}

fn lifecycle_disabled() -> Response {
    text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.")
}

async fn reload(State(st): St) -> Response {
    let Some(lc) = st.lifecycle.clone() else {
        return lifecycle_disabled();
    };
    let outcome: Result<Reloaded, ReloadError> = tokio::task::spawn_blocking(move || lc.reload())
        .await
        .unwrap_or_else(|e| Err(ReloadError::Task(e.to_string())));
    st.apply_reload(&outcome);
    match outcome {
        Ok(_) => text(StatusCode::OK, ""),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
    }
}

async fn quit(State(st): St) -> Response {
    let Some(lc) = st.lifecycle.clone() else {
        return lifecycle_disabled();
    };
    if lc.quit() {
        text(StatusCode::OK, "Requesting termination... Goodbye!")
    } else {
        text(StatusCode::OK, "Termination already in progress.")
    }
}

async fn metrics(State(st): St, headers: axum::http::HeaderMap) -> Response {
    let format = crate::metrics::ExpositionFormat::negotiate(
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    );
    let r = blocking(move || {
        crate::metrics::encode_registry_as(&st.registry, format)
            .map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))
    })
    .await;
    match r {
        Ok(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            r
        }
        Err(e) => json_response(e.status, e.to_json()),
    }
}
