//! The interfaces between storage and its users.
//!
//! - Reading: [`Queryable`] answers a [`SelectRequest`] under a
//!   [`ReadContext`] with a [`SeriesStream`]: series sorted by labels, each
//!   complete (labels and XOR chunks) before the next, pulled one at a time
//!   so memory is bounded by the series in flight. Samples are decoded
//!   lazily by [`StorageSeries::samples`]. Time bounds are inclusive
//!   milliseconds, as in Prometheus. See [`read`] and [`stream`].
//! - Writing: [`Appendable`] hands out [`Appender`]s that collect samples
//!   and commit them together.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::chunk::{XorChunk, XorIterator};
use crate::error::ErrorKind;
use crate::labels::Labels;
use crate::sample::Sample;

pub mod read;
pub mod relabel;
pub mod stream;

pub use read::{
    Grouping, LabelRequest, Queryable, QueryableExt, ReadContext, ReadLimits, ReadWarnings,
    SelectHints, SelectRequest, drop_labels_sorted,
};
pub use stream::{
    IterSource, MergeSeries, OnEqualLabels, ReadStats, SeriesSource, SeriesStream, VecSource,
};

/// A storage failure with its [`ErrorKind`], which decides how APIs report
/// it and whether a retry may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    kind: ErrorKind,
    message: String,
}

impl StorageError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StorageError {
        StorageError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> StorageError {
        StorageError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> StorageError {
        StorageError::new(ErrorKind::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> StorageError {
        StorageError::new(ErrorKind::Unavailable, message)
    }

    pub fn resource_exhausted(message: impl Into<String>) -> StorageError {
        StorageError::new(ErrorKind::ResourceExhausted, message)
    }

    pub fn internal(message: impl Into<String>) -> StorageError {
        StorageError::new(ErrorKind::Internal, message)
    }

    /// Stored data that does not decode: an internal error naming it.
    pub fn corrupt(message: impl std::fmt::Display) -> StorageError {
        StorageError::internal(format!("corrupt data: {message}"))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> StorageError {
        StorageError::internal(format!("i/o error: {e}"))
    }
}

/// Why a sample was refused by an [`Appender`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample: timestamp {t} is before the series' last sample at {last}")]
    OutOfOrder { t: i64, last: i64 },
    #[error("duplicate sample for timestamp {t} with a different value")]
    Duplicate { t: i64 },
    #[error("out of bounds: timestamp {t} is older than the head's minimum valid time {min_valid}")]
    OutOfBounds { t: i64, min_valid: i64 },
}

/// The write interface of storage: scrapes, remote write and rules append
/// through it. An appender collects samples; they become visible and durable
/// (under the storage's fsync policy) together when [`Appender::commit`]
/// returns.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// A caller-held handle to a storage series. An [`Appender`] fills it on
/// the first append of a series; a caller that sees the same series again
/// and again (a scrape loop) keeps it and hands it back, so the storage
/// skips both the label lookup and any id lookup. The default handle is
/// empty ("unknown"). Handles are only meaningful to the storage that made
/// them; a foreign or outdated one is detected and replaced.
#[derive(Clone, Default)]
pub struct SeriesRef(Option<Arc<dyn std::any::Any + Send + Sync>>);

impl SeriesRef {
    pub fn new<T: std::any::Any + Send + Sync>(series: Arc<T>) -> SeriesRef {
        SeriesRef(Some(series))
    }

    /// The series, when this handle holds one of type `T`.
    pub fn get<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.as_ref().and_then(|a| Arc::downcast(a.clone()).ok())
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for SeriesRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "SeriesRef(set)"
        } else {
            "SeriesRef(empty)"
        })
    }
}

/// A batch of samples being written. See [`Appendable`].
pub trait Appender {
    /// Adds a sample. `series` is the handle an earlier `append` filled for
    /// the same labels (empty when unknown); it is updated in place.
    fn append(
        &mut self,
        series: &mut SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError>;

    /// Number of samples added so far.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the batch durable and visible.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Drops the batch.
    fn rollback(self: Box<Self>);
}

/// One encoded chunk of a series with the time range it covers.
#[derive(Debug, Clone)]
pub struct ChunkData {
    pub min_t: i64,
    pub max_t: i64,
    pub bytes: Arc<[u8]>,
}

/// A selected series: its labels and its chunks ordered by `min_t`.
#[derive(Debug, Clone)]
pub struct StorageSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkData>,
}

/// Sorted, distinct label names of `series`.
pub fn label_names_of<'a>(series: impl IntoIterator<Item = &'a Labels>) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for labels in series {
        for l in labels.iter() {
            if !names.contains(l.name) {
                names.insert(l.name.to_string());
            }
        }
    }
    names.into_iter().collect()
}

/// Sorted, distinct values of label `name` in `series`.
pub fn label_values_of<'a>(
    name: &str,
    series: impl IntoIterator<Item = &'a Labels>,
) -> Vec<String> {
    let mut values = std::collections::BTreeSet::new();
    for labels in series {
        if let Some(v) = labels.get(name)
            && !values.contains(v)
        {
            values.insert(v.to_string());
        }
    }
    values.into_iter().collect()
}

impl StorageSeries {
    /// Samples in `[mint, maxt]` in time order, one per timestamp. Where
    /// chunks overlap (a block and the head both holding a range), the chunk
    /// listed first wins for an equal timestamp.
    pub fn samples(&self, mint: i64, maxt: i64) -> SeriesSamples<'_> {
        let relevant: Vec<&ChunkData> = self
            .chunks
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .collect();
        let overlapping = relevant.windows(2).any(|w| w[1].min_t <= w[0].max_t);
        if overlapping {
            SeriesSamples::Merged(merge_chunks(&relevant, mint, maxt).into_iter())
        } else {
            SeriesSamples::Chained {
                chunks: relevant,
                next_chunk: 0,
                cur: None,
                mint,
                maxt,
            }
        }
    }

    /// Decodes every sample in `[mint, maxt]`, or reports a corrupt chunk.
    pub fn decode(&self, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError> {
        for c in &self.chunks {
            if c.max_t >= mint && c.min_t <= maxt {
                XorChunk::new(&c.bytes)
                    .and_then(|x| x.decode())
                    .map_err(|e| StorageError::corrupt(format!("series {}: {e}", self.labels)))?;
            }
        }
        Ok(self.samples(mint, maxt).collect())
    }
}

fn merge_chunks(chunks: &[&ChunkData], mint: i64, maxt: i64) -> Vec<Sample> {
    let mut all: Vec<(usize, Sample)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        all.extend(
            XorIterator::new(&c.bytes)
                .filter(|s| s.t >= mint && s.t <= maxt)
                .map(|s| (i, s)),
        );
    }
    all.sort_by(|a, b| a.1.t.cmp(&b.1.t).then(a.0.cmp(&b.0)));
    all.dedup_by(|b, a| a.1.t == b.1.t);
    all.into_iter().map(|(_, s)| s).collect()
}

pub enum SeriesSamples<'a> {
    Chained {
        chunks: Vec<&'a ChunkData>,
        next_chunk: usize,
        cur: Option<XorIterator<'a>>,
        mint: i64,
        maxt: i64,
    },
    Merged(std::vec::IntoIter<Sample>),
}

impl Iterator for SeriesSamples<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        match self {
            SeriesSamples::Merged(it) => it.next(),
            SeriesSamples::Chained {
                chunks,
                next_chunk,
                cur,
                mint,
                maxt,
            } => loop {
                if let Some(it) = cur {
                    for s in it.by_ref() {
                        if s.t < *mint {
                            continue;
                        }
                        if s.t > *maxt {
                            break;
                        }
                        return Some(s);
                    }
                }
                let c = chunks.get(*next_chunk)?;
                *next_chunk += 1;
                *cur = Some(XorIterator::new(&c.bytes));
            },
        }
    }
}

/// Encodes samples (in time order) into XOR chunks of at most
/// [`SAMPLES_PER_CHUNK`](crate::chunk::SAMPLES_PER_CHUNK) samples each, as
/// Prometheus's head cuts them.
pub fn chunks_from_samples(samples: impl IntoIterator<Item = Sample>) -> Vec<ChunkData> {
    let mut chunks = Vec::new();
    let mut app = crate::chunk::XorAppender::new();
    let mut min_t = 0;
    let mut flush = |app: &mut crate::chunk::XorAppender, min_t: i64| {
        if app.num_samples() > 0 {
            let done = std::mem::take(app);
            chunks.push(ChunkData {
                min_t,
                max_t: done.last_t(),
                bytes: Arc::from(done.into_bytes()),
            });
        }
    };
    for s in samples {
        if app.num_samples() >= crate::chunk::SAMPLES_PER_CHUNK {
            flush(&mut app, min_t);
        }
        if app.num_samples() == 0 {
            min_t = s.t;
        }
        app.append(s.t, s.v);
    }
    flush(&mut app, min_t);
    chunks
}

/// The elements common to two ascending lists.
pub fn intersect_sorted<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Merges sorted string lists into one sorted list without duplicates,
/// keeping the first `limit` (all when 0).
pub fn merge_sorted_strings(lists: Vec<Vec<String>>, limit: usize) -> Vec<String> {
    let mut lists: Vec<Vec<String>> = lists.into_iter().filter(|l| !l.is_empty()).collect();
    let mut all = match lists.len() {
        0 => Vec::new(),
        1 => lists.pop().unwrap_or_default(),
        _ => {
            let mut all: Vec<String> = lists.into_iter().flatten().collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    };
    if limit > 0 {
        all.truncate(limit);
    }
    all
}

/// Chunks and series for the unit tests of this module and its children.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::chunk::encode;

    /// One chunk holding `samples`.
    pub fn chunk(samples: &[(i64, f64)]) -> ChunkData {
        let s: Vec<Sample> = samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect();
        ChunkData {
            min_t: s.first().map_or(0, |s| s.t),
            max_t: s.last().map_or(0, |s| s.t),
            bytes: encode(&s).into(),
        }
    }

    /// A series named `name` with `chunks`.
    pub fn series(name: &str, chunks: Vec<ChunkData>) -> StorageSeries {
        StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name)]),
            chunks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{chunk, series};

    #[test]
    fn chained_samples_respect_bounds() {
        let s = series(
            "a",
            vec![chunk(&[(1, 1.0), (2, 2.0)]), chunk(&[(3, 3.0), (4, 4.0)])],
        );
        let got: Vec<i64> = s.samples(2, 3).map(|s| s.t).collect();
        assert_eq!(got, vec![2, 3]);
    }

    #[test]
    fn overlapping_chunks_merge_without_duplicates() {
        let s = series(
            "a",
            vec![
                chunk(&[(1, 1.0), (3, 3.0)]),
                chunk(&[(2, 2.0), (3, 9.0), (5, 5.0)]),
            ],
        );
        let got: Vec<(i64, f64)> = s.samples(0, 10).map(|s| (s.t, s.v)).collect();
        assert_eq!(got, vec![(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0)]);
    }
}
