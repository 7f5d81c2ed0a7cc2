//! The read interface between storage and the query engine.
//!
//! A [`Queryable`] answers `select(matchers, mint, maxt)` with series sorted
//! by labels, each carrying its XOR chunks; samples are decoded lazily by
//! [`StorageSeries::samples`], so a selection costs compressed bytes until it
//! is iterated. Time bounds are inclusive milliseconds, as in Prometheus.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::chunk::{XorChunk, XorIterator};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::sample::Sample;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Other(String),
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

pub type SeriesSet = Vec<StorageSeries>;

pub trait Queryable: Send + Sync {
    /// Series matching every matcher that may have samples in `[mint, maxt]`,
    /// sorted by labels, each label set once.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64)
    -> Result<SeriesSet, StorageError>;

    /// Sorted label names of the series matching `matchers` (all series when
    /// empty) in `[mint, maxt]`.
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError>;

    /// Sorted values of label `name` over the matching series.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError>;
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
                    .map_err(|e| StorageError::Corrupt(format!("series {}: {e}", self.labels)))?;
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

/// Merges several series sets, each sorted by labels, into one: series
/// with equal labels become one series whose chunks are ordered by time.
pub fn merge_series_sets(sets: Vec<SeriesSet>) -> SeriesSet {
    let mut sets: Vec<SeriesSet> = sets.into_iter().filter(|s| !s.is_empty()).collect();
    match sets.len() {
        0 => return Vec::new(),
        1 => return sets.pop().unwrap_or_default(),
        _ => {}
    }
    let mut all: Vec<(usize, StorageSeries)> = sets
        .into_iter()
        .enumerate()
        .flat_map(|(i, s)| s.into_iter().map(move |x| (i, x)))
        .collect();
    all.sort_by(|a, b| a.1.labels.cmp(&b.1.labels).then(a.0.cmp(&b.0)));
    let mut out: SeriesSet = Vec::with_capacity(all.len());
    for (_, s) in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => last.chunks.extend(s.chunks),
            _ => out.push(s),
        }
    }
    for s in &mut out {
        // Stable: for equal start times the earlier source stays first.
        s.chunks
            .sort_by(|a, b| a.min_t.cmp(&b.min_t).then(Ordering::Equal));
    }
    out
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

/// Merges sorted string lists into one sorted list without duplicates.
pub fn merge_sorted_strings(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::encode;

    fn chunk(samples: &[(i64, f64)]) -> ChunkData {
        let s: Vec<Sample> = samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect();
        ChunkData {
            min_t: s.first().map_or(0, |s| s.t),
            max_t: s.last().map_or(0, |s| s.t),
            bytes: encode(&s).into(),
        }
    }

    fn series(name: &str, chunks: Vec<ChunkData>) -> StorageSeries {
        StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name)]),
            chunks,
        }
    }

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

    #[test]
    fn merge_sets_joins_equal_labels() {
        let a = vec![series("a", vec![chunk(&[(5, 1.0)])]), series("c", vec![])];
        let b = vec![series("a", vec![chunk(&[(1, 1.0)])]), series("b", vec![])];
        let m = merge_series_sets(vec![a, b]);
        let names: Vec<String> = m.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(m[0].chunks[0].min_t, 1);
    }
}
