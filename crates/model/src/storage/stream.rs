//! Streams of series: what a storage produces ([`SeriesSource`]), what a
//! caller consumes ([`SeriesStream`], which adds the request's limit, the
//! context's cancellation, deadline and limits), and the k-way merge of
//! sorted sources ([`MergeSeries`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::chunk::header_num_samples;
use crate::storage::read::{ReadContext, ReadLimits, SelectRequest};
use crate::storage::{StorageError, StorageSeries};

/// Produces series sorted by labels, one complete series per call: the
/// part of a select a storage implements.
pub trait SeriesSource: Send {
    /// The next series, or `None` at the end.
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError>;
}

/// A source over series already in memory (sorted by labels).
pub struct VecSource(std::vec::IntoIter<StorageSeries>);

impl VecSource {
    pub fn new(series: Vec<StorageSeries>) -> VecSource {
        VecSource(series.into_iter())
    }
}

impl SeriesSource for VecSource {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        Ok(self.0.next())
    }
}

/// A source over an iterator of series (sorted by labels).
pub struct IterSource<I>(pub I);

impl<I: Iterator<Item = StorageSeries> + Send> SeriesSource for IterSource<I> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        Ok(self.0.next())
    }
}

/// What a stream has handed out so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub series: usize,
    pub chunks: usize,
    /// From chunk headers; nothing is decoded to count them.
    pub samples: usize,
    pub chunk_bytes: usize,
}

/// The answer to a select: series pulled one at a time from a storage's
/// [`SeriesSource`]. Before each series it checks the context (canceled,
/// past the deadline); it stops after the request's `limit` series, and
/// fails when the context's limits are exceeded. After an error or the end
/// it yields nothing more. Dropping it stops the storage's work.
pub struct SeriesStream<'a> {
    source: Box<dyn SeriesSource + 'a>,
    ctx: ReadContext,
    limit: usize,
    stats: ReadStats,
    done: bool,
}

impl<'a> SeriesStream<'a> {
    pub fn new(
        source: impl SeriesSource + 'a,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> SeriesStream<'a> {
        SeriesStream {
            source: Box::new(source),
            ctx: ctx.clone(),
            limit: req.hints.limit,
            stats: ReadStats::default(),
            done: false,
        }
    }

    /// A stream with no series.
    pub fn empty() -> SeriesStream<'a> {
        SeriesStream {
            source: Box::new(VecSource::new(Vec::new())),
            ctx: ReadContext::default(),
            limit: 0,
            stats: ReadStats::default(),
            done: true,
        }
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    fn pull(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.limit > 0 && self.stats.series >= self.limit {
            return Ok(None);
        }
        self.ctx.check()?;
        let Some(series) = self.source.next_series()? else {
            return Ok(None);
        };
        self.stats.series += 1;
        self.stats.chunks += series.chunks.len();
        for c in &series.chunks {
            self.stats.samples += header_num_samples(&c.bytes);
            self.stats.chunk_bytes += c.bytes.len();
        }
        check_limits(&self.ctx.limits, &self.stats)?;
        Ok(Some(series))
    }
}

fn check_limits(limits: &ReadLimits, stats: &ReadStats) -> Result<(), StorageError> {
    let over = |limit: usize, n: usize| limit > 0 && n > limit;
    let exceeded = if over(limits.max_series, stats.series) {
        Some(("series", limits.max_series))
    } else if over(limits.max_samples, stats.samples) {
        Some(("samples", limits.max_samples))
    } else if over(limits.max_chunk_bytes, stats.chunk_bytes) {
        Some(("chunk bytes", limits.max_chunk_bytes))
    } else {
        None
    };
    match exceeded {
        None => Ok(()),
        Some((what, limit)) => Err(StorageError::resource_exhausted(format!(
            "the select would read more than the limit of {limit} {what}"
        ))),
    }
}

impl Iterator for SeriesStream<'_> {
    type Item = Result<StorageSeries, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.pull() {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl SeriesSource for SeriesStream<'_> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        self.next().transpose()
    }
}

/// How [`MergeSeries`] combines series with equal labels from different
/// sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEqualLabels {
    /// One series with the chunks of all, ordered by `min_t` (for equal
    /// `min_t`, the earlier source's chunk first, so it wins a duplicate
    /// timestamp): the head and blocks of one database, or stores holding
    /// parts of the same series.
    ConcatChunks,
    /// The series of the first source holding it: sources answering
    /// overlapping questions over the same data (a selector's `or`
    /// alternatives).
    KeepFirst,
}

/// Merges sources, each sorted by labels, into one sorted source without
/// duplicate label sets. Holds one series per source at a time.
pub struct MergeSeries<'a> {
    sources: Vec<Box<dyn SeriesSource + 'a>>,
    heap: BinaryHeap<Reverse<Head>>,
    on_equal: OnEqualLabels,
    primed: bool,
}

/// The current series of one source, ordered by labels, then source.
struct Head {
    series: StorageSeries,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.series
            .labels
            .cmp(&other.series.labels)
            .then(self.source.cmp(&other.source))
    }
}

impl<'a> MergeSeries<'a> {
    pub fn new(sources: Vec<Box<dyn SeriesSource + 'a>>, on_equal: OnEqualLabels) -> Self {
        MergeSeries {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            on_equal,
            primed: false,
        }
    }

    fn advance(&mut self, source: usize) -> Result<(), StorageError> {
        if let Some(series) = self.sources[source].next_series()? {
            self.heap.push(Reverse(Head { series, source }));
        }
        Ok(())
    }

    /// The next label set's series from every source holding it, in source
    /// order, not joined (replicas to deduplicate); `on_equal` is not used.
    pub fn next_group(&mut self) -> Result<Option<Vec<StorageSeries>>, StorageError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.advance(i)?;
            }
        }
        let Some(Reverse(first)) = self.heap.pop() else {
            return Ok(None);
        };
        let mut used = vec![first.source];
        let mut group = vec![first.series];
        while let Some(Reverse(next)) = self.heap.peek() {
            if next.series.labels != group[0].labels {
                break;
            }
            let Some(Reverse(next)) = self.heap.pop() else {
                break;
            };
            used.push(next.source);
            group.push(next.series);
        }
        for source in used {
            self.advance(source)?;
        }
        Ok(Some(group))
    }
}

impl SeriesSource for MergeSeries<'_> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        let Some(group) = self.next_group()? else {
            return Ok(None);
        };
        let mut group = group.into_iter();
        let Some(mut out) = group.next() else {
            return Ok(None);
        };
        if self.on_equal == OnEqualLabels::KeepFirst {
            return Ok(Some(out));
        }
        let mut unsorted = false;
        for next in group {
            unsorted |= match (out.chunks.last(), next.chunks.first()) {
                (Some(a), Some(b)) => b.min_t < a.min_t,
                _ => false,
            };
            out.chunks.extend(next.chunks);
        }
        if unsorted {
            // Stable: for equal start times the earlier source stays first.
            out.chunks.sort_by_key(|c| c.min_t);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::CancelToken;
    use crate::storage::read::ReadLimits;
    use crate::storage::test_support::{chunk, series};

    fn boxed(v: Vec<StorageSeries>) -> Box<dyn SeriesSource> {
        Box::new(VecSource::new(v))
    }

    fn drain(mut s: impl SeriesSource) -> Vec<StorageSeries> {
        let mut out = Vec::new();
        while let Some(x) = s.next_series().expect("series") {
            out.push(x);
        }
        out
    }

    fn names(v: &[StorageSeries]) -> Vec<String> {
        v.iter().map(|s| s.labels.to_string()).collect()
    }

    #[test]
    fn merge_concatenates_chunks_of_equal_labels_in_time_order() {
        let a = vec![series("a", vec![chunk(&[(5, 1.0)])]), series("c", vec![])];
        let b = vec![series("a", vec![chunk(&[(1, 1.0)])]), series("b", vec![])];
        let m = drain(MergeSeries::new(
            vec![boxed(a), boxed(b)],
            OnEqualLabels::ConcatChunks,
        ));
        assert_eq!(names(&m), vec!["a", "b", "c"]);
        let starts: Vec<i64> = m[0].chunks.iter().map(|c| c.min_t).collect();
        assert_eq!(starts, vec![1, 5]);
    }

    #[test]
    fn merge_keep_first_takes_the_earliest_source() {
        let a = vec![series("a", vec![chunk(&[(1, 1.0)])])];
        let b = vec![series("a", vec![chunk(&[(1, 2.0)])]), series("z", vec![])];
        let m = drain(MergeSeries::new(
            vec![boxed(a), boxed(b)],
            OnEqualLabels::KeepFirst,
        ));
        assert_eq!(names(&m), vec!["a", "z"]);
        assert_eq!(m[0].chunks.len(), 1);
        assert_eq!(m[0].samples(0, 10).next().map(|s| s.v), Some(1.0));
    }

    #[test]
    fn merge_of_nothing_is_empty() {
        assert!(drain(MergeSeries::new(Vec::new(), OnEqualLabels::KeepFirst)).is_empty());
    }

    fn stream_of(n: usize, req: &SelectRequest, ctx: &ReadContext) -> SeriesStream<'static> {
        let v = (0..n)
            .map(|i| series(&format!("s{i:03}"), vec![chunk(&[(1, 1.0), (2, 2.0)])]))
            .collect();
        SeriesStream::new(VecSource::new(v), req, ctx)
    }

    #[test]
    fn stream_stops_at_the_request_limit() {
        let req = SelectRequest::new(Vec::new(), 0, 10).with_limit(3);
        let got: Vec<_> = stream_of(10, &req, &ReadContext::default())
            .collect::<Result<_, _>>()
            .expect("stream");
        assert_eq!(names(&got), vec!["s000", "s001", "s002"]);
    }

    #[test]
    fn stream_fails_over_a_context_limit_and_then_ends() {
        let req = SelectRequest::new(Vec::new(), 0, 10);
        for (limits, what) in [
            (
                ReadLimits {
                    max_series: 4,
                    ..ReadLimits::default()
                },
                "4 series",
            ),
            (
                ReadLimits {
                    max_samples: 7,
                    ..ReadLimits::default()
                },
                "7 samples",
            ),
            (
                ReadLimits {
                    max_chunk_bytes: 1,
                    ..ReadLimits::default()
                },
                "1 chunk bytes",
            ),
        ] {
            let ctx = ReadContext::default().with_limits(limits);
            let mut s = stream_of(10, &req, &ctx);
            let results: Vec<_> = s.by_ref().collect();
            let err = results
                .last()
                .and_then(|r| r.as_ref().err())
                .unwrap_or_else(|| panic!("limit {what} not enforced"));
            assert_eq!(err.kind(), crate::error::ErrorKind::ResourceExhausted);
            assert!(err.message().contains(what), "{err}");
            assert!(s.next().is_none());
        }
    }

    #[test]
    fn stream_stops_when_canceled() {
        let req = SelectRequest::new(Vec::new(), 0, 10);
        let token = CancelToken::new();
        let ctx = ReadContext::new(None, token.clone());
        let mut s = stream_of(10, &req, &ctx);
        assert!(s.next().is_some_and(|r| r.is_ok()));
        token.cancel();
        let err = s.next().and_then(Result::err).expect("canceled");
        assert_eq!(err.kind(), crate::error::ErrorKind::Canceled);
        assert!(s.next().is_none());
        assert_eq!(s.stats().series, 1);
    }
}
