//! The read interface every storage implements, local or remote: requests,
//! their hints, the per-request context, and [`Queryable`].

use std::time::Instant;

use crate::cancel::CancelToken;
use crate::error::ErrorKind;
use crate::matcher::Matcher;
use crate::storage::StorageError;
use crate::storage::relabel::{DropLabels, RelabeledSource};
use crate::storage::stream::{OnEqualLabels, SeriesStream};

/// How the series of a select will be used, in the shape of Thanos's
/// `QueryHints` and Prometheus's `SelectHints`. A storage may use hints to
/// do less work; only `skip_chunks` and `limit` change the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Step of the enclosing range query, ms (0 for an instant query).
    pub step_ms: i64,
    /// Range of the enclosing range selector or subquery, ms (0 if none).
    pub range_ms: i64,
    /// Name of the nearest enclosing function or aggregation
    /// (`rate`, `sum`; `series` for the series API).
    pub func: Option<String>,
    /// Grouping of the directly enclosing aggregation.
    pub grouping: Option<Grouping>,
    /// Labels only: every series comes with no chunks, and no chunk is
    /// read or decoded (the series and label APIs).
    pub skip_chunks: bool,
    /// At most this many series (the first ones in label order); 0 for all.
    pub limit: usize,
}

/// `by (...)` or `without (...)` of an aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// True for `by`, false for `without`.
    pub by: bool,
    pub labels: Vec<String>,
}

/// Series matching every matcher that may have samples in `[mint, maxt]`.
#[derive(Debug, Clone)]
pub struct SelectRequest {
    pub matchers: Vec<Matcher>,
    pub mint: i64,
    pub maxt: i64,
    pub hints: SelectHints,
}

impl SelectRequest {
    pub fn new(matchers: Vec<Matcher>, mint: i64, maxt: i64) -> SelectRequest {
        SelectRequest {
            matchers,
            mint,
            maxt,
            hints: SelectHints::default(),
        }
    }

    /// The same request for labels only.
    pub fn labels_only(mut self) -> SelectRequest {
        self.hints.skip_chunks = true;
        self
    }

    /// The same request for at most `limit` series (0: all).
    pub fn with_limit(mut self, limit: usize) -> SelectRequest {
        self.hints.limit = limit;
        self
    }

    /// Whether no sample can match: an empty time range.
    pub fn is_empty_range(&self) -> bool {
        self.mint > self.maxt
    }
}

/// Label names or the values of one label over the series matching every
/// matcher (all series when there is none) in `[mint, maxt]`. A storage may
/// answer from a coarser view of time (a block or the head as a whole), as
/// Prometheus does.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    pub matchers: Vec<Matcher>,
    pub mint: i64,
    pub maxt: i64,
    /// At most this many names or values (the first in sort order); 0 for all.
    pub limit: usize,
}

impl LabelRequest {
    pub fn new(matchers: Vec<Matcher>, mint: i64, maxt: i64) -> LabelRequest {
        LabelRequest {
            matchers,
            mint,
            maxt,
            limit: 0,
        }
    }

    pub fn with_limit(mut self, limit: usize) -> LabelRequest {
        self.limit = limit;
        self
    }

    /// `list` (sorted) cut to the request's limit.
    pub fn limited(&self, mut list: Vec<String>) -> Vec<String> {
        if self.limit > 0 {
            list.truncate(self.limit);
        }
        list
    }
}

/// Per-select limits; exceeding one fails the select with
/// [`ErrorKind::ResourceExhausted`]. 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadLimits {
    pub max_series: usize,
    /// Samples in the chunks returned, counted from chunk headers.
    pub max_samples: usize,
    pub max_chunk_bytes: usize,
}

/// What a request carries to every storage it touches: when to give up and
/// how much it may read. Cheap to clone: clones share the token and the
/// warnings.
#[derive(Debug, Clone, Default)]
pub struct ReadContext {
    pub deadline: Option<Instant>,
    pub cancel: CancelToken,
    pub limits: ReadLimits,
    /// Where storages report what the answer lacks without failing it (a
    /// store that did not answer, under partial response).
    pub warnings: ReadWarnings,
}

/// Warnings collected over one request, shared by the clones of its
/// [`ReadContext`]; each distinct text is kept once.
#[derive(Debug, Clone, Default)]
pub struct ReadWarnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl ReadWarnings {
    pub fn add(&self, text: impl Into<String>) {
        let text = text.into();
        let mut w = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !w.contains(&text) {
            w.push(text);
        }
    }

    /// Every warning so far, in the order they were added.
    pub fn snapshot(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl ReadContext {
    pub fn new(deadline: Option<Instant>, cancel: CancelToken) -> ReadContext {
        ReadContext {
            deadline,
            cancel,
            limits: ReadLimits::default(),
            warnings: ReadWarnings::default(),
        }
    }

    pub fn with_limits(mut self, limits: ReadLimits) -> ReadContext {
        self.limits = limits;
        self
    }

    /// Why the request must stop now, if it must.
    pub fn interruption(&self) -> Option<ErrorKind> {
        if self.cancel.is_canceled() {
            return Some(ErrorKind::Canceled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(ErrorKind::DeadlineExceeded),
            _ => None,
        }
    }

    /// An error when the request is canceled or past its deadline.
    pub fn check(&self) -> Result<(), StorageError> {
        match self.interruption() {
            None => Ok(()),
            Some(ErrorKind::Canceled) => {
                Err(StorageError::new(ErrorKind::Canceled, "read was canceled"))
            }
            Some(kind) => Err(StorageError::new(kind, "read deadline exceeded")),
        }
    }
}

/// A storage that answers selects and label queries. Implemented by the
/// in-memory store, the head, a block, the database (head and blocks
/// merged) and, in the cluster, remote stores; each passes the one
/// conformance suite of `argus-storage-conformance`.
pub trait Queryable: Send + Sync {
    /// The series matching `req`, sorted by labels, each label set once,
    /// each with its chunks overlapping `[mint, maxt]` ordered by `min_t`
    /// (none with `skip_chunks`). Work happens as the stream is pulled; it
    /// stops when the stream is dropped, and the stream fails when `ctx` is
    /// canceled, past its deadline or over a limit.
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError>;

    /// [`select`](Queryable::select) with the labels `names` left out of
    /// every series (Thanos's `without_replica_labels`): still sorted,
    /// series made equal by it joined (their chunks may then overlap).
    /// This default asks the label index which of `names` occur at all and
    /// only then relabels, which holds the whole selection to sort it;
    /// storages that attach labels of their own (external labels) leave
    /// those out without re-sorting.
    fn select_without(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        names: &[String],
    ) -> Result<SeriesStream<'_>, StorageError> {
        let probe = LabelRequest::new(Vec::new(), req.mint, req.maxt).with_limit(1);
        let mut present = Vec::new();
        for name in names {
            if !self.label_values(name, &probe, ctx)?.is_empty() {
                present.push(name.clone());
            }
        }
        let stream = self.select(req, ctx)?;
        Ok(drop_labels_sorted(stream, present, req, ctx))
    }

    /// Sorted, distinct label names.
    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError>;

    /// Sorted, distinct values of label `name` (empty values excluded).
    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError>;
}

/// `stream` with the labels `names` removed from its series, re-sorted
/// (held whole) and with series made equal joined; `stream` itself when
/// `names` is empty.
pub fn drop_labels_sorted<'a>(
    stream: SeriesStream<'a>,
    names: Vec<String>,
    req: &SelectRequest,
    ctx: &ReadContext,
) -> SeriesStream<'a> {
    if names.is_empty() {
        return stream;
    }
    let relabeled = RelabeledSource::new(
        stream,
        DropLabels::new(names),
        Some(OnEqualLabels::ConcatChunks),
    );
    SeriesStream::new(relabeled, req, ctx)
}

/// Conveniences over [`Queryable`] for tools and tests.
pub trait QueryableExt: Queryable {
    /// Every series matching `matchers` in `[mint, maxt]`, collected.
    fn select_all(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<crate::storage::StorageSeries>, StorageError> {
        let req = SelectRequest::new(matchers.to_vec(), mint, maxt);
        self.select(&req, &ReadContext::default())?.collect()
    }

    /// Every label name of the series matching `matchers` in `[mint, maxt]`.
    fn label_names_all(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let req = LabelRequest::new(matchers.to_vec(), mint, maxt);
        self.label_names(&req, &ReadContext::default())
    }

    /// Every value of `name` over the series matching `matchers` in
    /// `[mint, maxt]`.
    fn label_values_all(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let req = LabelRequest::new(matchers.to_vec(), mint, maxt);
        self.label_values(name, &req, &ReadContext::default())
    }
}

impl<Q: Queryable + ?Sized> QueryableExt for Q {}

/// A shared storage reads as the storage itself.
impl<Q: Queryable + ?Sized> Queryable for std::sync::Arc<Q> {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        (**self).select(req, ctx)
    }

    fn select_without(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        names: &[String],
    ) -> Result<SeriesStream<'_>, StorageError> {
        (**self).select_without(req, ctx, names)
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        (**self).label_names(req, ctx)
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        (**self).label_values(name, req, ctx)
    }
}
