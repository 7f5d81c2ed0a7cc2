//! The StoreAPI server over the read interface: any [`Queryable`] served
//! as `thanos.Store` and `thanos.info.Info`, to Argus and Thanos queriers.
//!
//! Each `Series` call runs its select on a blocking thread and hands the
//! series to the response stream through a small channel, so a slow
//! client holds back the select instead of filling memory; the select is
//! canceled when the client goes away (the response stream is dropped).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use argus_model::cancel::CancelToken;
use argus_model::labels::Labels;
use argus_model::storage::{
    Grouping, LabelRequest, Queryable, ReadContext, ReadLimits, SelectHints, SelectRequest,
    SeriesSource, StorageError,
};
use tokio::sync::mpsc;

use crate::wire::Series;
use tonic::{Request, Response, Status};

use crate::convert::{labels_to_wire, matcher_from_wire};
use crate::status::{parse_grpc_timeout, status_from_convert, status_from_storage};
use crate::thanos::info::info_server::{Info, InfoServer};
use crate::thanos::info::{InfoRequest, InfoResponse, StoreInfo};
use crate::thanos::store_server::{Store, StoreServer};
use crate::thanos::{
    LabelNamesRequest, LabelNamesResponse, LabelValuesRequest, LabelValuesResponse, SeriesRequest,
    SeriesResponse, ZLabelSet, series_response,
};

/// The component types Thanos's `Info` knows (`component.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A scraper with its recent data (Thanos's sidecar).
    Sidecar,
    /// A store gateway over a bucket.
    Store,
    /// A querier serving the merged view of its endpoints.
    Query,
    Rule,
    Receive,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Sidecar => "sidecar",
            Component::Store => "store",
            Component::Query => "query",
            Component::Rule => "rule",
            Component::Receive => "receive",
        }
    }
}

/// What a store says about itself: the label sets of its series' external
/// labels and the time range it holds (ms, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDescription {
    pub component: Component,
    pub label_sets: Vec<Labels>,
    pub min_time: i64,
    pub max_time: i64,
}

/// The source of a server's [`StoreDescription`], asked at every `Info`
/// call (a store gateway's blocks change as it syncs).
pub trait DescribeStore: Send + Sync {
    fn describe(&self) -> StoreDescription;
}

impl DescribeStore for StoreDescription {
    fn describe(&self) -> StoreDescription {
        self.clone()
    }
}

/// Limits and sizes of the served API (flags of each role).
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Per-`Series` call: series, samples and chunk bytes (0: no limit).
    pub limits: ReadLimits,
    /// Largest request accepted, bytes.
    pub max_recv_message_bytes: usize,
    /// Largest response message sent (one series), bytes.
    pub max_send_message_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            limits: ReadLimits::default(),
            max_recv_message_bytes: 4 << 20,
            max_send_message_bytes: 256 << 20,
        }
    }
}

/// The StoreAPI service over a storage.
#[derive(Clone)]
pub struct StoreService {
    storage: Arc<dyn Queryable>,
    /// What requests that refuse partial answers read (a querier's
    /// fan-out without partial response); `storage` when unset.
    strict: Option<Arc<dyn Queryable>>,
    describe: Arc<dyn DescribeStore>,
    opts: ServeOptions,
}

impl StoreService {
    pub fn new(
        storage: Arc<dyn Queryable>,
        describe: Arc<dyn DescribeStore>,
        opts: ServeOptions,
    ) -> StoreService {
        StoreService {
            storage,
            strict: None,
            describe,
            opts,
        }
    }

    /// The storage for requests with `partial_response_disabled` or the
    /// `ABORT` strategy, when it differs (a querier's fan-out that fails
    /// instead of warning).
    pub fn with_strict(mut self, strict: Arc<dyn Queryable>) -> StoreService {
        self.strict = Some(strict);
        self
    }

    fn storage_for(&self, partial_disabled: bool, strategy: i32) -> Arc<dyn Queryable> {
        let abort = strategy == crate::thanos::PartialResponseStrategy::Abort as i32;
        match &self.strict {
            Some(s) if partial_disabled || abort => s.clone(),
            _ => self.storage.clone(),
        }
    }

    /// Serves `thanos.Store` and `thanos.info.Info` on `listener` until
    /// `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let addr = listener.local_addr().ok();
        tracing::info!(address = ?addr, "serving the store api over grpc");
        let store = StoreServer::new(self.clone())
            .max_decoding_message_size(self.opts.max_recv_message_bytes)
            .max_encoding_message_size(self.opts.max_send_message_bytes);
        let info = InfoServer::new(self.clone())
            .max_decoding_message_size(self.opts.max_recv_message_bytes);
        tonic::transport::Server::builder()
            .add_service(store)
            .add_service(info)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY, Nagle holds each small answer back
                // for the peer's delayed ack (about 40 ms a call).
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
    }
}

/// Binds a gRPC listen address (`host:port`).
pub async fn bind(address: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr: SocketAddr = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("no address for {address:?}")))?;
    tokio::net::TcpListener::bind(addr).await
}

fn deadline_of<T>(request: &Request<T>) -> Option<Instant> {
    let timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)?;
    Instant::now().checked_add(timeout)
}

/// The select a wire request asks for.
fn select_from_wire(req: &SeriesRequest) -> Result<SelectRequest, Status> {
    let matchers = req
        .matchers
        .iter()
        .map(matcher_from_wire)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| status_from_convert(&e))?;
    if req.limit < 0 {
        return Err(Status::invalid_argument(format!(
            "limit must not be negative, got {}",
            req.limit
        )));
    }
    let hints = req.query_hints.as_ref();
    let step_ms = hints.map_or(req.step, |h| h.step_millis);
    Ok(SelectRequest {
        matchers,
        mint: req.min_time,
        maxt: req.max_time,
        hints: SelectHints {
            step_ms,
            range_ms: hints
                .and_then(|h| h.range.as_ref())
                .map_or(req.range, |r| r.millis),
            func: hints
                .and_then(|h| h.func.as_ref())
                .map(|f| f.name.clone())
                .filter(|n| !n.is_empty()),
            grouping: hints.and_then(|h| h.grouping.as_ref()).map(|g| Grouping {
                by: g.by,
                labels: g.labels.clone(),
            }),
            skip_chunks: req.skip_chunks,
            limit: usize::try_from(req.limit).unwrap_or(usize::MAX),
        },
    })
}

fn label_request(
    start: i64,
    end: i64,
    matchers: &[crate::thanos::LabelMatcher],
    limit: i64,
) -> Result<LabelRequest, Status> {
    let matchers = matchers
        .iter()
        .map(matcher_from_wire)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| status_from_convert(&e))?;
    let limit = usize::try_from(limit).map_err(|_| {
        Status::invalid_argument(format!("limit must not be negative, got {limit}"))
    })?;
    Ok(LabelRequest::new(matchers, start, end).with_limit(limit))
}

/// Cancels the select when the response stream is dropped.
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The response stream of one `Series` call.
pub struct SeriesResponses {
    rx: mpsc::Receiver<Batch>,
    /// The rest of the batch received last.
    pending: std::collections::VecDeque<Result<SeriesResponse, Status>>,
    _cancel: CancelOnDrop,
}

/// Messages handed from the select's thread to the response stream
/// together: one channel hop (a thread wake-up) per batch, not per series.
type Batch = Vec<Result<SeriesResponse, Status>>;

/// Series per batch, and chunk bytes: enough to make the hops cheap, few
/// enough to keep the memory in flight small.
const BATCH: usize = 512;
const BATCH_BYTES: usize = 256 << 10;

impl futures::Stream for SeriesResponses {
    type Item = Result<SeriesResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Poll::Ready(Some(m));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.pending.extend(batch),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Runs one select and sends its series in batches; stops when the
/// receiver is gone.
fn send_series(
    storage: &dyn Queryable,
    req: &SelectRequest,
    without: Vec<String>,
    ctx: &ReadContext,
    tx: &mpsc::Sender<Batch>,
) {
    let send = |batch: Batch| tx.blocking_send(batch).is_ok();
    let mut source = match storage.select_without(req, ctx, &without) {
        Ok(s) => s,
        Err(e) => {
            send(vec![Err(status_from_storage(&e))]);
            return;
        }
    };
    let mut n = 0usize;
    let mut batch: Batch = Vec::with_capacity(BATCH);
    let mut batch_bytes = 0usize;
    loop {
        match source.next_series() {
            Ok(Some(s)) => {
                n += 1;
                batch_bytes += s.chunks.iter().map(|c| c.bytes.len()).sum::<usize>();
                batch.push(Ok(SeriesResponse {
                    result: Some(series_response::Result::Series(Series::new(s))),
                }));
                if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if !send(full) {
                        tracing::debug!(series = n, "store api client went away");
                        return;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                batch.push(Err(status_from_storage(&e)));
                send(batch);
                return;
            }
        }
    }
    for w in ctx.warnings.snapshot() {
        batch.push(Ok(SeriesResponse {
            result: Some(series_response::Result::Warning(w)),
        }));
    }
    if !batch.is_empty() {
        send(batch);
    }
}

/// Runs storage work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("store task failed: {e}")))?
        .map_err(|e| status_from_storage(&e))
}

#[tonic::async_trait]
impl Store for StoreService {
    type SeriesStream = SeriesResponses;

    async fn series(
        &self,
        request: Request<SeriesRequest>,
    ) -> Result<Response<SeriesResponses>, Status> {
        let deadline = deadline_of(&request);
        let wire = request.into_inner();
        let req = select_from_wire(&wire)?;
        let cancel = CancelToken::new();
        let ctx = ReadContext::new(deadline, cancel.clone()).with_limits(self.opts.limits);
        // A few batches in flight: the select runs ahead of a slow client by
        // at most that much.
        let (tx, rx) = mpsc::channel(2);
        let storage = self.storage_for(
            wire.partial_response_disabled,
            wire.partial_response_strategy,
        );
        let without = wire.without_replica_labels;
        tokio::task::spawn_blocking(move || send_series(&*storage, &req, without, &ctx, &tx));
        Ok(Response::new(SeriesResponses {
            rx,
            pending: std::collections::VecDeque::new(),
            _cancel: CancelOnDrop(cancel),
        }))
    }

    async fn label_names(
        &self,
        request: Request<LabelNamesRequest>,
    ) -> Result<Response<LabelNamesResponse>, Status> {
        let deadline = deadline_of(&request);
        let wire = request.into_inner();
        let req = label_request(wire.start, wire.end, &wire.matchers, wire.limit)?;
        let storage = self.storage_for(
            wire.partial_response_disabled,
            wire.partial_response_strategy,
        );
        let without = wire.without_replica_labels;
        let (names, warnings) = blocking(move || {
            let ctx = ReadContext::new(deadline, CancelToken::new());
            let mut names = storage.label_names(&req, &ctx)?;
            names.retain(|n| !without.contains(n));
            Ok((names, ctx.warnings.snapshot()))
        })
        .await?;
        Ok(Response::new(LabelNamesResponse {
            names,
            warnings,
            hints: None,
        }))
    }

    async fn label_values(
        &self,
        request: Request<LabelValuesRequest>,
    ) -> Result<Response<LabelValuesResponse>, Status> {
        let deadline = deadline_of(&request);
        let wire = request.into_inner();
        if wire.label.is_empty() {
            return Err(Status::invalid_argument(
                "label name parameter cannot be empty",
            ));
        }
        let req = label_request(wire.start, wire.end, &wire.matchers, wire.limit)?;
        if wire.without_replica_labels.contains(&wire.label) {
            return Ok(Response::new(LabelValuesResponse::default()));
        }
        let storage = self.storage_for(
            wire.partial_response_disabled,
            wire.partial_response_strategy,
        );
        let (values, warnings) = blocking(move || {
            let ctx = ReadContext::new(deadline, CancelToken::new());
            let values = storage.label_values(&wire.label, &req, &ctx)?;
            Ok((values, ctx.warnings.snapshot()))
        })
        .await?;
        Ok(Response::new(LabelValuesResponse {
            values,
            warnings,
            hints: None,
        }))
    }
}

#[tonic::async_trait]
impl Info for StoreService {
    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let d = self.describe.describe();
        Ok(Response::new(InfoResponse {
            label_sets: d
                .label_sets
                .iter()
                .map(|l| ZLabelSet {
                    labels: labels_to_wire(l),
                })
                .collect(),
            component_type: d.component.as_str().to_string(),
            store: Some(StoreInfo {
                min_time: d.min_time,
                max_time: d.max_time,
                supports_sharding: false,
                supports_without_replica_labels: true,
                tsdb_infos: Vec::new(),
            }),
            ..InfoResponse::default()
        }))
    }
}
