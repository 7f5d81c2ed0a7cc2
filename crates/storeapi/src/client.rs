//! A StoreAPI endpoint (Argus or Thanos) as a [`Queryable`].
//!
//! The read interface is synchronous and its callers run on blocking
//! threads; a `Series` call runs as a task on the runtime, which feeds the
//! pulled stream through a bounded channel. The task stops when the stream
//! is dropped or the request's token is canceled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::cancel::CancelToken;
use argus_model::labels::Labels;
use argus_model::storage::{
    LabelRequest, Queryable, ReadContext, ReadWarnings, SelectRequest, SeriesSource, SeriesStream,
    StorageError, StorageSeries,
};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tonic::Request;
use tonic::transport::{Channel, Endpoint};

use crate::convert::{labels_from_wire, matcher_to_wire};
use crate::status::storage_from_status;
use crate::thanos::info::InfoRequest;
use crate::thanos::info::info_client::InfoClient;
use crate::thanos::store_client::StoreClient;
use crate::thanos::{
    Func, Grouping, LabelNamesRequest, LabelValuesRequest, QueryHints, Range, SeriesRequest,
    series_response,
};

/// How a client talks to one endpoint.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Upper bound of one call when the request has no earlier deadline.
    pub request_timeout: Duration,
    /// Largest response message accepted (one series), bytes.
    pub max_recv_message_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            max_recv_message_bytes: 256 << 20,
        }
    }
}

/// What an endpoint's `Info` says (see the server's `StoreDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInfo {
    pub component: String,
    pub label_sets: Vec<Labels>,
    pub min_time: i64,
    pub max_time: i64,
    pub supports_without_replica_labels: bool,
}

/// Per-select options of the StoreAPI beyond the read interface.
#[derive(Debug, Clone, Default)]
pub struct RemoteSelect {
    /// Labels the store should drop (it answers sorted without them).
    pub without_replica_labels: Vec<String>,
    /// Ask a store that fans out (a querier) to fail rather than answer
    /// without some of its stores.
    pub partial_response_disabled: bool,
}

/// One StoreAPI endpoint. Connects lazily, so an endpoint that is down
/// at start is retried at each call.
#[derive(Clone)]
pub struct RemoteStore {
    address: Arc<str>,
    store: StoreClient<Channel>,
    info: InfoClient<Channel>,
    runtime: Handle,
    opts: ClientOptions,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("address", &self.address)
            .finish()
    }
}

impl RemoteStore {
    /// A client of the endpoint at `address` (`host:port`).
    pub fn new(
        address: &str,
        runtime: Handle,
        opts: ClientOptions,
    ) -> Result<RemoteStore, StorageError> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| {
                StorageError::invalid_argument(format!("bad store address {address:?}: {e}"))
            })?
            .connect_timeout(opts.connect_timeout)
            .tcp_nodelay(true);
        let channel = {
            let _guard = runtime.enter();
            endpoint.connect_lazy()
        };
        let max = opts.max_recv_message_bytes;
        Ok(RemoteStore {
            address: address.into(),
            store: StoreClient::new(channel.clone()).max_decoding_message_size(max),
            info: InfoClient::new(channel).max_decoding_message_size(max),
            runtime,
            opts,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    fn timeout(&self, deadline: Option<Instant>) -> Duration {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        left.map_or(self.opts.request_timeout, |l| {
            l.min(self.opts.request_timeout)
        })
    }

    /// The endpoint's `Info`.
    pub async fn info(&self, timeout: Duration) -> Result<RemoteInfo, StorageError> {
        let mut client = self.info.clone();
        let mut req = Request::new(InfoRequest {});
        req.set_timeout(timeout);
        let call = tokio::time::timeout(timeout, client.info(req));
        let resp = match call.await {
            Ok(r) => r.map_err(|s| storage_from_status(&self.address, &s))?,
            Err(_) => {
                return Err(StorageError::unavailable(format!(
                    "store {}: info timed out after {timeout:?}",
                    self.address
                )));
            }
        }
        .into_inner();
        let store = resp.store.unwrap_or_default();
        Ok(RemoteInfo {
            component: resp.component_type,
            label_sets: resp
                .label_sets
                .iter()
                .map(|s| labels_from_wire(&s.labels))
                .collect(),
            min_time: store.min_time,
            max_time: store.max_time,
            supports_without_replica_labels: store.supports_without_replica_labels,
        })
    }

    /// A select with the StoreAPI's extra options.
    pub fn select_with(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        extra: &RemoteSelect,
    ) -> Result<SeriesStream<'static>, StorageError> {
        ctx.check()?;
        let wire = series_request(req, extra);
        let (tx, rx) = mpsc::channel(2);
        let mut client = self.store.clone();
        let address = self.address.clone();
        let cancel = ctx.cancel.clone();
        let warnings = ctx.warnings.clone();
        let timeout = self.timeout(ctx.deadline);
        let task = self.runtime.spawn(async move {
            let work = pump_series(&mut client, &address, wire, timeout, &tx, &warnings);
            tokio::select! {
                r = work => if let Err(e) = r {
                    let _ = tx.send(Err(e)).await;
                },
                _ = cancel.canceled() => {}
            }
        });
        let source = RemoteSource {
            rx,
            received: std::collections::VecDeque::new(),
            pending: None,
            ctx: ctx.clone(),
            task,
        };
        Ok(SeriesStream::new(source, req, ctx))
    }

    /// A unary label call: the strings it answers, its warnings recorded
    /// on `ctx`.
    fn label_call<Req, Fut>(
        &self,
        ctx: &ReadContext,
        wire: Req,
        call: impl FnOnce(StoreClient<Channel>, Request<Req>) -> Fut,
    ) -> Result<Vec<String>, StorageError>
    where
        Fut: std::future::Future<Output = Result<(Vec<String>, Vec<String>), tonic::Status>>,
    {
        let mut request = Request::new(wire);
        request.set_timeout(self.timeout(ctx.deadline));
        let fut = call(self.store.clone(), request);
        let (list, warnings) = self.block_on(ctx, async {
            fut.await
                .map_err(|s| storage_from_status(&self.address, &s))
        })?;
        for w in warnings {
            ctx.warnings.add(format!("store {}: {w}", self.address));
        }
        Ok(list)
    }

    fn block_on<T>(
        &self,
        ctx: &ReadContext,
        fut: impl std::future::Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        ctx.check()?;
        let cancel: &CancelToken = &ctx.cancel;
        self.runtime.block_on(async {
            tokio::select! {
                r = fut => r,
                _ = cancel.canceled() => Err(StorageError::new(
                    argus_model::ErrorKind::Canceled,
                    "read was canceled",
                )),
            }
        })
    }
}

fn series_request(req: &SelectRequest, extra: &RemoteSelect) -> SeriesRequest {
    let h = &req.hints;
    SeriesRequest {
        min_time: req.mint,
        max_time: req.maxt,
        matchers: req.matchers.iter().map(matcher_to_wire).collect(),
        skip_chunks: h.skip_chunks,
        step: h.step_ms,
        range: h.range_ms,
        limit: i64::try_from(h.limit).unwrap_or(i64::MAX),
        query_hints: Some(QueryHints {
            step_millis: h.step_ms,
            func: h.func.as_ref().map(|f| Func { name: f.clone() }),
            grouping: h.grouping.as_ref().map(|g| Grouping {
                by: g.by,
                labels: g.labels.clone(),
            }),
            range: (h.range_ms > 0).then_some(Range { millis: h.range_ms }),
        }),
        without_replica_labels: extra.without_replica_labels.clone(),
        partial_response_disabled: extra.partial_response_disabled,
        partial_response_strategy: if extra.partial_response_disabled {
            crate::thanos::PartialResponseStrategy::Abort as i32
        } else {
            crate::thanos::PartialResponseStrategy::Warn as i32
        },
        ..SeriesRequest::default()
    }
}

/// Runs one `Series` call, sending each series down `tx`.
async fn pump_series(
    client: &mut StoreClient<Channel>,
    address: &str,
    wire: SeriesRequest,
    timeout: Duration,
    tx: &mpsc::Sender<Batch>,
    warnings: &ReadWarnings,
) -> Result<(), StorageError> {
    let mut request = Request::new(wire);
    request.set_timeout(timeout);
    let status = |s: tonic::Status| storage_from_status(address, &s);
    let mut stream = client.series(request).await.map_err(status)?.into_inner();
    let mut batch = Vec::with_capacity(BATCH);
    let mut batch_bytes = 0usize;
    while let Some(msg) = stream.message().await.map_err(status)? {
        match msg.result {
            Some(series_response::Result::Series(s)) => {
                let series = s.into_storage().map_err(|e| {
                    StorageError::internal(format!("store {address}: bad series: {e}"))
                })?;
                batch_bytes += series.chunks.iter().map(|c| c.bytes.len()).sum::<usize>();
                batch.push(series);
                // One wake-up of the reading thread per batch, not per
                // series.
                if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(Ok(full)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Some(series_response::Result::Warning(w)) => {
                warnings.add(format!("store {address}: {w}"))
            }
            Some(series_response::Result::Hints(_)) | None => {}
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    Ok(())
}

/// Series handed from the call's task to the reading thread together.
type Batch = Result<Vec<StorageSeries>, StorageError>;

/// Series per batch, and chunk bytes: one thread wake-up for this many.
const BATCH: usize = 512;
const BATCH_BYTES: usize = 256 << 10;

/// The pulled end of a `Series` call. Adjacent series with equal labels
/// (a store sending one per block) are joined.
struct RemoteSource {
    rx: mpsc::Receiver<Batch>,
    received: std::collections::VecDeque<StorageSeries>,
    pending: Option<StorageSeries>,
    ctx: ReadContext,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RemoteSource {
    fn recv(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        loop {
            if let Some(s) = self.received.pop_front() {
                return Ok(Some(s));
            }
            match self.rx.blocking_recv() {
                Some(batch) => self.received.extend(batch?),
                None => break,
            }
        }
        // The task ended without an error: the end of the stream, unless
        // it stopped because the request was interrupted.
        self.ctx.check()?;
        Ok(None)
    }
}

impl SeriesSource for RemoteSource {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        let mut cur = match self.pending.take() {
            Some(s) => s,
            None => match self.recv()? {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        loop {
            match self.recv()? {
                Some(next) if next.labels == cur.labels => {
                    cur.chunks.extend(next.chunks);
                    cur.chunks.sort_by_key(|c| c.min_t);
                }
                Some(next) => {
                    self.pending = Some(next);
                    return Ok(Some(cur));
                }
                None => return Ok(Some(cur)),
            }
        }
    }
}

impl Queryable for RemoteStore {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        self.select_with(req, ctx, &RemoteSelect::default())
    }

    /// Asks the store to leave `names` out (`without_replica_labels`); a
    /// store that cannot (see [`RemoteInfo`]) needs
    /// [`drop_labels_sorted`](argus_model::storage::drop_labels_sorted)
    /// over a plain select instead.
    fn select_without(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        names: &[String],
    ) -> Result<SeriesStream<'_>, StorageError> {
        self.select_with(
            req,
            ctx,
            &RemoteSelect {
                without_replica_labels: names.to_vec(),
                ..RemoteSelect::default()
            },
        )
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let wire = LabelNamesRequest {
            start: req.mint,
            end: req.maxt,
            matchers: req.matchers.iter().map(matcher_to_wire).collect(),
            limit: i64::try_from(req.limit).unwrap_or(i64::MAX),
            ..LabelNamesRequest::default()
        };
        let names = self.label_call(ctx, wire, |mut c, r| async move {
            c.label_names(r).await.map(|resp| {
                let resp = resp.into_inner();
                (resp.names, resp.warnings)
            })
        })?;
        Ok(req.limited(names))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let wire = LabelValuesRequest {
            label: name.to_string(),
            start: req.mint,
            end: req.maxt,
            matchers: req.matchers.iter().map(matcher_to_wire).collect(),
            limit: i64::try_from(req.limit).unwrap_or(i64::MAX),
            ..LabelValuesRequest::default()
        };
        let mut values = self.label_call(ctx, wire, |mut c, r| async move {
            c.label_values(r).await.map(|resp| {
                let resp = resp.into_inner();
                (resp.values, resp.warnings)
            })
        })?;
        values.retain(|v| !v.is_empty());
        Ok(req.limited(values))
    }
}
