//! Tombstones: time ranges of series deleted by `Db::delete_series` that
//! reads must not return until the data is rewritten without them.
//!
//! The head keeps a series' deleted intervals with the series (and logs them
//! to the WAL as tombstones records); a block keeps them in its `tombstones`
//! file, keyed by row of `series.parquet`. Both use the WAL's framing and
//! record encoding ([`crate::wal::encode_tombstones`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use argus_block::reader::BlockReader;
use argus_model::storage::{ChunkData, SeriesSource, StorageError, StorageSeries};
use argus_model::{Sample, XorChunk};

use crate::db::TsdbError;
use crate::wal::{self, Frame, Record, Stone};

/// The file in a block directory holding its tombstones.
pub const TOMBSTONES_FILE: &str = "tombstones";

/// A closed time range `[min_t, max_t]` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub min_t: i64,
    pub max_t: i64,
}

/// Disjoint, non-adjacent intervals in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Interval>);

impl Intervals {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Interval> {
        self.0.iter()
    }

    /// Adds `[min_t, max_t]`, merging it with the intervals it overlaps or
    /// touches. Returns false if it was already covered (or empty).
    pub fn add(&mut self, min_t: i64, max_t: i64) -> bool {
        if min_t > max_t || self.covers(min_t, max_t) {
            return false;
        }
        let mut lo = min_t;
        let mut hi = max_t;
        // Intervals ending before `lo - 1` stay; those starting after
        // `hi + 1` stay; everything in between merges.
        let first = self.0.partition_point(|iv| iv.max_t < lo.saturating_sub(1));
        let mut last = first;
        while last < self.0.len() && self.0[last].min_t <= hi.saturating_add(1) {
            lo = lo.min(self.0[last].min_t);
            hi = hi.max(self.0[last].max_t);
            last += 1;
        }
        self.0.splice(
            first..last,
            [Interval {
                min_t: lo,
                max_t: hi,
            }],
        );
        true
    }

    /// Whether `t` is deleted.
    pub fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|iv| iv.max_t < t);
        self.0.get(i).is_some_and(|iv| iv.min_t <= t)
    }

    /// Whether all of `[min_t, max_t]` is deleted.
    pub fn covers(&self, min_t: i64, max_t: i64) -> bool {
        let i = self.0.partition_point(|iv| iv.max_t < min_t);
        self.0
            .get(i)
            .is_some_and(|iv| iv.min_t <= min_t && iv.max_t >= max_t)
    }

    /// Whether any of `[min_t, max_t]` is deleted.
    pub fn overlaps(&self, min_t: i64, max_t: i64) -> bool {
        let i = self.0.partition_point(|iv| iv.max_t < min_t);
        self.0.get(i).is_some_and(|iv| iv.min_t <= max_t)
    }

    /// Drops the intervals ending before `t`.
    pub fn trim_before(&mut self, t: i64) {
        let n = self.0.partition_point(|iv| iv.max_t < t);
        self.0.drain(..n);
    }
}

/// The chunks without the samples in `deleted`, keeping only chunks that
/// still overlap `[mint, maxt]`. Chunks untouched by `deleted` are passed
/// through; a partly deleted chunk is decoded and re-encoded. A chunk that
/// does not decode is passed through for the reader to report.
pub(crate) fn filter_chunks(
    chunks: Vec<ChunkData>,
    deleted: &Intervals,
    mint: i64,
    maxt: i64,
) -> Vec<ChunkData> {
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        if !deleted.overlaps(c.min_t, c.max_t) {
            out.push(c);
            continue;
        }
        if deleted.covers(c.min_t, c.max_t) {
            continue;
        }
        let Ok(samples) = XorChunk::new(&c.bytes).and_then(|x| x.decode()) else {
            out.push(c);
            continue;
        };
        let kept: Vec<Sample> = samples
            .into_iter()
            .filter(|s| !deleted.contains(s.t))
            .collect();
        out.extend(
            argus_model::storage::chunks_from_samples(kept)
                .into_iter()
                .filter(|c| c.max_t >= mint && c.min_t <= maxt),
        );
    }
    out
}

/// A block's tombstones: deleted intervals by row of `series.parquet`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockTombstones {
    rows: BTreeMap<u32, Intervals>,
}

impl BlockTombstones {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The number of intervals.
    pub fn num_intervals(&self) -> usize {
        self.rows.values().map(Intervals::len).sum()
    }

    pub fn get(&self, row: u32) -> Option<&Intervals> {
        self.rows.get(&row)
    }

    /// Adds a deleted interval to a row; false if it was already covered.
    pub fn add(&mut self, row: u32, min_t: i64, max_t: i64) -> bool {
        self.rows.entry(row).or_default().add(min_t, max_t)
    }

    /// Reads `<block>/tombstones`; none when the file does not exist.
    /// Rows past the block's series are corrupt.
    pub fn read(block: &BlockReader) -> Result<BlockTombstones, TsdbError> {
        let path = block.dir().join(TOMBSTONES_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BlockTombstones::default());
            }
            Err(source) => return Err(TsdbError::Io { path, source }),
        };
        let corrupt = |message: String| TsdbError::CorruptTombstones {
            path: path.clone(),
            message,
        };
        let rows = block.num_series();
        let mut out = BlockTombstones::default();
        let mut pos = 0;
        while pos < data.len() {
            match wal::next_frame(&data[pos..]) {
                Frame::Record(Record::Tombstones(stones), len) => {
                    for s in stones {
                        let row = u32::try_from(s.series)
                            .ok()
                            .filter(|&r| (r as usize) < rows)
                            .ok_or_else(|| {
                                corrupt(format!(
                                    "row {} is past the block's {rows} series",
                                    s.series
                                ))
                            })?;
                        out.add(row, s.min_t, s.max_t);
                    }
                    pos += len;
                }
                Frame::Record(_, _) => return Err(corrupt("not a tombstones record".to_string())),
                Frame::Torn(why) | Frame::Corrupt(why) => {
                    return Err(corrupt(format!("{why} at offset {pos}")));
                }
            }
        }
        Ok(out)
    }

    /// Writes `<dir>/tombstones` atomically (temporary file, fsync, rename,
    /// fsync of the directory), or removes it when there are none. The file
    /// is replaced, never changed in place, so hard links to it (snapshots)
    /// keep what they linked.
    pub fn write(&self, dir: &Path) -> Result<(), TsdbError> {
        let path = dir.join(TOMBSTONES_FILE);
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| TsdbError::Io { path: p, source }
        };
        if self.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
                _ => Ok(()),
            };
        }
        let stones: Vec<Stone> = self
            .rows
            .iter()
            .flat_map(|(&row, ivs)| {
                ivs.iter().map(move |iv| Stone {
                    series: u64::from(row),
                    min_t: iv.min_t,
                    max_t: iv.max_t,
                })
            })
            .collect();
        let mut buf = Vec::new();
        // One frame per 16k stones keeps each record well under the limit.
        for part in stones.chunks(16_384) {
            let mut body = Vec::with_capacity(part.len() * 12 + 1);
            wal::encode_tombstones(&mut body, part);
            wal::frame(&mut buf, &body);
        }
        let tmp = dir.join(format!("{TOMBSTONES_FILE}.tmp"));
        let res = (|| {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&buf)
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
            drop(f);
            fs::rename(&tmp, &path).map_err(io(&path))?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }
}

/// A block's series for a select, without what its tombstones delete: a
/// partly deleted chunk is re-encoded, a series left without chunks in the
/// range is skipped. Labels-only selects read no chunks, so there a series
/// is skipped when the deleted intervals cover its samples in the range.
pub(crate) struct BlockStoneFilter<S> {
    pub(crate) inner: S,
    pub(crate) block: Arc<BlockReader>,
    pub(crate) stones: Arc<BlockTombstones>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) skip_chunks: bool,
}

impl<S: SeriesSource> SeriesSource for BlockStoneFilter<S> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        while let Some(mut s) = self.inner.next_series()? {
            let Some(row) = self.block.find_series(&s.labels) else {
                return Ok(Some(s));
            };
            let Some(deleted) = self.stones.get(row as u32) else {
                return Ok(Some(s));
            };
            if self.skip_chunks {
                let (first, last) = self
                    .block
                    .series_time_range(row)
                    .unwrap_or((self.mint, self.maxt));
                if deleted.covers(first.max(self.mint), last.min(self.maxt)) {
                    continue;
                }
                return Ok(Some(s));
            }
            s.chunks = filter_chunks(std::mem::take(&mut s.chunks), deleted, self.mint, self.maxt);
            if !s.chunks.is_empty() {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivs(list: &[(i64, i64)]) -> Intervals {
        let mut out = Intervals::default();
        for &(a, b) in list {
            out.add(a, b);
        }
        out
    }

    #[test]
    fn intervals_merge_and_answer() {
        let iv = ivs(&[(10, 20), (30, 40), (21, 25), (100, 200), (35, 50)]);
        let got: Vec<(i64, i64)> = iv.iter().map(|i| (i.min_t, i.max_t)).collect();
        assert_eq!(got, vec![(10, 25), (30, 50), (100, 200)]);
        assert!(iv.contains(10) && iv.contains(25) && !iv.contains(26) && !iv.contains(9));
        assert!(iv.covers(30, 50) && !iv.covers(25, 30));
        assert!(iv.overlaps(0, 10) && !iv.overlaps(51, 99) && iv.overlaps(51, 100));
        let mut all = ivs(&[(i64::MIN, 0), (1, i64::MAX)]);
        assert!(all.covers(i64::MIN, i64::MAX));
        assert!(!all.add(5, 6));
        all.trim_before(i64::MAX);
        assert_eq!(all.len(), 1);
        let mut two = ivs(&[(0, 10), (20, 30)]);
        two.trim_before(15);
        assert_eq!(two, ivs(&[(20, 30)]));
        two.trim_before(31);
        assert!(two.is_empty());
    }

    #[test]
    fn filter_chunks_drops_deleted_samples_only() {
        let samples: Vec<Sample> = (0..200).map(|t| Sample { t, v: t as f64 }).collect();
        let chunks = argus_model::storage::chunks_from_samples(samples);
        assert_eq!(chunks.len(), 2);
        let out = filter_chunks(chunks.clone(), &ivs(&[(0, 119)]), 0, 1000);
        assert_eq!(out.len(), 1);
        assert!(std::sync::Arc::ptr_eq(&out[0].bytes, &chunks[1].bytes));
        let out = filter_chunks(chunks, &ivs(&[(10, 150)]), 0, 1000);
        let ts: Vec<i64> = out
            .iter()
            .flat_map(|c| {
                XorChunk::new(&c.bytes)
                    .expect("chunk")
                    .decode()
                    .expect("decode")
            })
            .map(|s| s.t)
            .collect();
        let want: Vec<i64> = (0..10).chain(151..200).collect();
        assert_eq!(ts, want);
    }
}
