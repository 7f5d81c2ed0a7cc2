//! An in-memory [`Queryable`] for tests and tools (the promqltest runner).
//!
//! Samples are kept per series in time order (the last write for a
//! timestamp wins) and encoded into XOR chunks of at most
//! [`SAMPLES_PER_CHUNK`](crate::chunk::SAMPLES_PER_CHUNK) samples when selected, so the engine reads
//! exactly the representation real storage hands it. Staleness markers are
//! ordinary values here.

use std::collections::BTreeMap;

use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};
use crate::storage::{
    ChunkData, IterSource, LabelRequest, Queryable, ReadContext, SelectRequest, SeriesStream,
    StorageError, StorageSeries, VecSource, chunks_from_samples, label_names_of, label_values_of,
};

#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    series: BTreeMap<Labels, BTreeMap<i64, f64>>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Adds a sample; any order is accepted, and a second write for the
    /// same series and timestamp replaces the first.
    pub fn append(&mut self, labels: Labels, t: i64, v: f64) {
        self.series.entry(labels).or_default().insert(t, v);
    }

    /// Drops all data.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series held.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of samples held over all series.
    pub fn num_samples(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// Series matching every matcher with at least one sample in `[mint, maxt]`.
    fn matching(
        &self,
        matchers: Vec<Matcher>,
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = (&Labels, &BTreeMap<i64, f64>)> + '_ {
        self.series.iter().filter(move |(l, samples)| {
            mint <= maxt && matches_all(&matchers, l) && samples.range(mint..=maxt).next().is_some()
        })
    }
}

fn encode_chunks(samples: &BTreeMap<i64, f64>, mint: i64, maxt: i64) -> Vec<ChunkData> {
    chunks_from_samples(
        samples
            .range(mint..=maxt)
            .map(|(&t, &v)| crate::sample::Sample::new(t, v)),
    )
}

impl Queryable for MemStorage {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        let (mint, maxt, skip_chunks) = (req.mint, req.maxt, req.hints.skip_chunks);
        let series =
            self.matching(req.matchers.clone(), mint, maxt)
                .map(move |(labels, samples)| StorageSeries {
                    labels: labels.clone(),
                    chunks: if skip_chunks {
                        Vec::new()
                    } else {
                        encode_chunks(samples, mint, maxt)
                    },
                });
        Ok(SeriesStream::new(IterSource(series), req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        let names = label_names_of(
            self.matching(req.matchers.clone(), req.mint, req.maxt)
                .map(|(labels, _)| labels),
        );
        Ok(req.limited(names))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        let values = label_values_of(
            name,
            self.matching(req.matchers.clone(), req.mint, req.maxt)
                .map(|(labels, _)| labels),
        );
        Ok(req.limited(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorChunk;
    use crate::matcher::MatchType;
    use crate::sample::{is_stale_nan, stale_nan};
    use crate::storage::QueryableExt;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn all(s: &StorageSeries) -> Vec<(i64, f64)> {
        s.decode(i64::MIN, i64::MAX)
            .expect("chunks decode")
            .into_iter()
            .map(|s| (s.t, s.v))
            .collect()
    }

    #[test]
    fn samples_are_sorted_and_last_write_wins() {
        let mut m = MemStorage::new();
        let a = l(&[("__name__", "a")]);
        m.append(a.clone(), 30, 3.0);
        m.append(a.clone(), 10, 1.0);
        m.append(a.clone(), 20, 2.0);
        m.append(a.clone(), 20, 9.0);
        let got = m.select_all(&[], 0, 100).expect("select");
        assert_eq!(got.len(), 1);
        assert_eq!(all(&got[0]), vec![(10, 1.0), (20, 9.0), (30, 3.0)]);
        assert_eq!(m.num_samples(), 3);
    }

    #[test]
    fn series_sorted_by_labels_and_filtered_by_matchers() {
        let mut m = MemStorage::new();
        m.append(l(&[("__name__", "b"), ("job", "x")]), 0, 1.0);
        m.append(l(&[("__name__", "a"), ("job", "y")]), 0, 1.0);
        m.append(l(&[("__name__", "a"), ("job", "x")]), 0, 1.0);
        let got = m.select_all(&[], 0, 0).expect("select");
        let names: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(
            names,
            vec![r#"a{job="x"}"#, r#"a{job="y"}"#, r#"b{job="x"}"#]
        );
        let re = Matcher::new(MatchType::Regex, "job", "x|z").expect("regex");
        let got = m.select_all(&[re], 0, 0).expect("select");
        assert_eq!(got.len(), 2);
        let got = m
            .select_all(&[Matcher::equal("__name__", "a")], 0, 0)
            .expect("select");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn time_range_limits_series_and_samples() {
        let mut m = MemStorage::new();
        let a = l(&[("__name__", "a")]);
        for t in 0..10 {
            m.append(a.clone(), t * 10, t as f64);
        }
        m.append(l(&[("__name__", "late")]), 1000, 1.0);
        let got = m.select_all(&[], 20, 45).expect("select");
        assert_eq!(got.len(), 1);
        assert_eq!(all(&got[0]), vec![(20, 2.0), (30, 3.0), (40, 4.0)]);
        assert_eq!(got[0].chunks[0].min_t, 20);
        assert_eq!(got[0].chunks[0].max_t, 40);
        assert!(m.select_all(&[], 50, 40).expect("select").is_empty());
    }

    #[test]
    fn chunks_hold_at_most_120_samples() {
        let mut m = MemStorage::new();
        let a = l(&[("__name__", "a")]);
        for t in 0..250 {
            m.append(a.clone(), t, t as f64);
        }
        let got = m.select_all(&[], 0, 1000).expect("select");
        let counts: Vec<usize> = got[0]
            .chunks
            .iter()
            .map(|c| XorChunk::new(&c.bytes).expect("chunk").num_samples())
            .collect();
        assert_eq!(counts, vec![120, 120, 10]);
        assert_eq!(got[0].chunks[1].min_t, 120);
        assert_eq!(got[0].chunks[1].max_t, 239);
        assert_eq!(all(&got[0]).len(), 250);
    }

    #[test]
    fn stale_markers_are_kept() {
        let mut m = MemStorage::new();
        let a = l(&[("__name__", "a")]);
        m.append(a.clone(), 0, 1.0);
        m.append(a.clone(), 10, stale_nan());
        let got = m.select_all(&[], 0, 10).expect("select");
        let s = all(&got[0]);
        assert!(is_stale_nan(s[1].1));
    }

    #[test]
    fn label_names_and_values() {
        let mut m = MemStorage::new();
        m.append(l(&[("__name__", "a"), ("job", "x")]), 0, 1.0);
        m.append(l(&[("__name__", "b"), ("instance", "i")]), 0, 1.0);
        m.append(l(&[("__name__", "c"), ("zone", "z")]), 500, 1.0);
        assert_eq!(
            m.label_names_all(&[], 0, 10).expect("names"),
            vec!["__name__", "instance", "job"]
        );
        assert_eq!(
            m.label_names_all(&[Matcher::equal("__name__", "a")], 0, 1000)
                .expect("names"),
            vec!["__name__", "job"]
        );
        assert_eq!(
            m.label_values_all("__name__", &[], 0, 1000)
                .expect("values"),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            m.label_values_all("job", &[], 0, 1000).expect("values"),
            vec!["x"]
        );
        m.clear();
        assert!(m.label_names_all(&[], 0, 1000).expect("names").is_empty());
        assert_eq!(m.num_series(), 0);
    }
}

/// A [`MemStorage`] shared between writers and readers, for tests of the
/// components that append (scraping, remote write): an [`Appendable`] and a
/// [`Queryable`] at once. Samples are checked for order per series as real
/// storage does; committed batches become visible together.
#[derive(Debug, Default)]
pub struct SharedMemStorage {
    inner: std::sync::RwLock<MemStorage>,
}

impl SharedMemStorage {
    pub fn new() -> SharedMemStorage {
        SharedMemStorage::default()
    }

    /// A copy of the data as of now.
    pub fn snapshot(&self) -> MemStorage {
        self.read().clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemStorage> {
        match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn last_sample(&self, labels: &Labels) -> Option<(i64, f64)> {
        self.read()
            .series
            .get(labels)
            .and_then(|s| s.iter().next_back().map(|(t, v)| (*t, *v)))
    }
}

struct SharedMemAppender<'a> {
    store: &'a SharedMemStorage,
    batch: Vec<(Labels, i64, f64)>,
}

impl crate::storage::Appendable for SharedMemStorage {
    fn appender(&self) -> Box<dyn crate::storage::Appender + '_> {
        Box::new(SharedMemAppender {
            store: self,
            batch: Vec::new(),
        })
    }
}

impl crate::storage::Appender for SharedMemAppender<'_> {
    fn append(
        &mut self,
        _series: &mut crate::storage::SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), crate::storage::AppendError> {
        use crate::storage::AppendError;
        let pending = self
            .batch
            .iter()
            .rev()
            .find(|(l, _, _)| l == labels)
            .map(|(_, t, v)| (*t, *v));
        if let Some((last, last_v)) = pending.or_else(|| self.store.last_sample(labels)) {
            if t < last {
                return Err(AppendError::OutOfOrder { t, last });
            }
            if t == last && v.to_bits() != last_v.to_bits() {
                return Err(AppendError::Duplicate { t });
            }
        }
        self.batch.push((labels.clone(), t, v));
        Ok(())
    }

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut g = match self.store.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (l, t, v) in self.batch {
            g.append(l, t, v);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

impl Queryable for SharedMemStorage {
    /// Collects the answer under the read lock, so writers are not held up
    /// by a slow reader.
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        let series = self
            .read()
            .select(req, ctx)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SeriesStream::new(VecSource::new(series), req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        self.read().label_names(req, ctx)
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        self.read().label_values(name, req, ctx)
    }
}
