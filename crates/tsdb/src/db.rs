//! The local TSDB: a head with its WAL, sealed Parquet blocks, retention.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argus_block::meta::BlockMeta;
use argus_block::reader::BlockReader;
use argus_block::writer::{BlockSeries, NewBlock, write_block};
use argus_model::storage::{
    LabelRequest, MergeSeries, OnEqualLabels, ReadContext, SelectRequest, SeriesSource,
    SeriesStream, StorageError, merge_sorted_strings,
};
use argus_model::{Labels, Queryable, SeriesRef};
use parking_lot::{Mutex, RwLock};

use crate::head::{AppendError, Head, IdHasher, MemSeries};
use crate::wal::{self, RefSample, Wal, WalOptions};

pub const DEFAULT_BLOCK_DURATION_MS: i64 = 2 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wal write failed: {0}")]
    Wal(#[source] std::io::Error),
    #[error("storage directory {0} is locked by another process")]
    Locked(PathBuf),
    #[error(transparent)]
    Block(#[from] argus_block::BlockError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TsdbError + '_ {
    move |source| TsdbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Width of blocks sealed from the head, in ms; chunks are cut at its
    /// multiples.
    pub block_duration_ms: i64,
    /// Blocks ending this long before the newest block's end are deleted.
    pub retention_ms: Option<i64>,
    pub wal: WalOptions,
    /// Written into every sealed block's `thanos.labels`.
    pub external_labels: Labels,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            block_duration_ms: DEFAULT_BLOCK_DURATION_MS,
            retention_ms: Some(15 * 24 * 3600 * 1000),
            wal: WalOptions::default(),
            external_labels: Labels::empty(),
        }
    }
}

/// What opening the database found.
#[derive(Debug, Default, Clone)]
pub struct OpenStats {
    pub blocks: usize,
    pub wal_records: u64,
    pub wal_samples: u64,
    pub wal_series: u64,
    pub wal_truncated_segments: usize,
    pub wal_unknown_refs: u64,
    pub replay_duration: Duration,
}

pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    head: Head,
    wal: Wal,
    blocks: RwLock<Vec<Arc<BlockReader>>>,
    /// WAL series ids replayed onto a series that already had another id.
    aliases: RwLock<HashMap<u64, u64>>,
    seal_lock: Mutex<()>,
    _lock: File,
    open_stats: OpenStats,
}

impl Db {
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db, TsdbError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(TsdbError::Locked(dir.to_path_buf()));
        }
        argus_block::reader::cleanup_partial(dir)?;
        let mut blocks = Vec::new();
        for meta in argus_block::reader::list_local_blocks(dir)? {
            blocks.push(Arc::new(BlockReader::open(
                &dir.join(meta.ulid.to_string()),
            )?));
        }
        let head = Head::new(opts.block_duration_ms);
        if let Some(max) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.set_min_valid_time(max);
        }
        let started = Instant::now();
        let mut stats = OpenStats {
            blocks: blocks.len(),
            ..OpenStats::default()
        };
        let wal_dir = dir.join("wal");
        let mut by_ref: HashMap<u64, Arc<MemSeries>> = HashMap::new();
        let mut aliases = HashMap::new();
        let replay = wal::replay(&wal_dir, &mut |rec| match rec {
            wal::Record::Series(list) => {
                for (id, labels) in list {
                    stats.wal_series += 1;
                    let s = head.create_with_id(id, &labels);
                    if s.id != id {
                        aliases.insert(id, s.id);
                    }
                    by_ref.insert(id, s);
                }
            }
            wal::Record::Samples(list) => {
                for x in list {
                    match by_ref.get(&x.series) {
                        Some(s) => {
                            if head.store(s, x.t, x.v) {
                                stats.wal_samples += 1;
                            }
                        }
                        None => stats.wal_unknown_refs += 1,
                    }
                }
            }
        })
        .map_err(io_err(&wal_dir))?;
        stats.wal_records = replay.records;
        stats.wal_truncated_segments = replay.truncated_segments;
        stats.replay_duration = started.elapsed();
        // Replay refusals are not user errors.
        head.stats.out_of_order.store(0, Ordering::Relaxed);
        head.stats.duplicates.store(0, Ordering::Relaxed);
        head.stats.out_of_bounds.store(0, Ordering::Relaxed);
        head.stats.samples_appended.store(0, Ordering::Relaxed);
        if stats.wal_unknown_refs > 0 {
            tracing::warn!(
                samples = stats.wal_unknown_refs,
                "wal replay found samples of unknown series; they were skipped"
            );
        }
        tracing::info!(
            dir = %dir.display(),
            blocks = stats.blocks,
            series = head.num_series(),
            samples = stats.wal_samples,
            duration_ms = stats.replay_duration.as_millis() as u64,
            "tsdb opened"
        );
        let wal = Wal::open(&wal_dir, opts.wal.clone()).map_err(io_err(&wal_dir))?;
        Ok(Db {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal,
            blocks: RwLock::new(blocks),
            aliases: RwLock::new(aliases),
            seal_lock: Mutex::new(()),
            _lock: lock,
            open_stats: stats,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    pub fn open_stats(&self) -> &OpenStats {
        &self.open_stats
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub fn appender(&self) -> DbAppender<'_> {
        DbAppender {
            db: self,
            samples: Vec::new(),
            pending: HashMap::default(),
        }
    }

    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// Seals every head range that is ready into a block, truncates the head
    /// and checkpoints the WAL, then applies retention. Returns the new
    /// blocks. A range is ready once the head reaches 1.5 block durations
    /// past its start, as in Prometheus.
    pub fn seal_head(&self) -> Result<Vec<BlockMeta>, TsdbError> {
        self.seal_until(|start, max_t, range| max_t - start >= range / 2 * 3)
    }

    /// Seals everything in the head into blocks, including the newest range.
    pub fn seal_all(&self) -> Result<Vec<BlockMeta>, TsdbError> {
        self.seal_until(|_, _, _| true)
    }

    fn seal_until(
        &self,
        ready: impl Fn(i64, i64, i64) -> bool,
    ) -> Result<Vec<BlockMeta>, TsdbError> {
        let _g = self.seal_lock.lock();
        let range = self.opts.block_duration_ms;
        let mut made = Vec::new();
        let mut truncated = false;
        while let Some((min_t, max_t)) = self.head.time_range() {
            let from = min_t.max(self.head.min_valid_time());
            let start = from.div_euclid(range) * range;
            if !ready(start, max_t, range) || from > max_t {
                break;
            }
            let end = start + range;
            let contents = self.head.block_contents(start, end);
            if !contents.is_empty() {
                let series: Vec<BlockSeries> = contents
                    .into_iter()
                    .map(|s| BlockSeries {
                        labels: s.labels,
                        chunks: s.chunks,
                    })
                    .collect();
                let spec = NewBlock {
                    min_time: start,
                    max_time: end,
                    external_labels: self.opts.external_labels.clone(),
                    resolution: 0,
                    source: "head".to_string(),
                    compaction_level: 1,
                    sources: Vec::new(),
                    parents: Vec::new(),
                };
                let meta = write_block(&self.dir, &spec, &series)?;
                let reader = BlockReader::open(&self.dir.join(meta.ulid.to_string()))?;
                {
                    let mut blocks = self.blocks.write();
                    blocks.push(Arc::new(reader));
                    blocks.sort_by_key(|b| b.meta().min_time);
                }
                tracing::info!(
                    ulid = %meta.ulid,
                    min_time = start,
                    max_time = end,
                    series = series.len(),
                    "sealed head block"
                );
                made.push(meta);
            }
            self.head.truncate(end);
            truncated = true;
        }
        if truncated {
            let upto = self.wal.rotate().map_err(TsdbError::Wal)?;
            let aliases = self.aliases.read().clone();
            let keep = |id: u64| {
                self.head.contains_id(id)
                    || aliases
                        .get(&id)
                        .is_some_and(|real| self.head.contains_id(*real))
            };
            let cp = self
                .wal
                .checkpoint(upto, &keep, self.head.min_valid_time())
                .map_err(TsdbError::Wal)?;
            tracing::debug!(
                segments = cp.segments,
                series = cp.series,
                samples = cp.samples,
                "wal checkpoint written"
            );
        }
        self.apply_retention()?;
        Ok(made)
    }

    /// Deletes blocks that end more than the retention before the newest
    /// block's end. Returns the deleted block ids.
    pub fn apply_retention(&self) -> Result<Vec<String>, TsdbError> {
        let Some(retention) = self.opts.retention_ms else {
            return Ok(Vec::new());
        };
        let doomed: Vec<Arc<BlockReader>> = {
            let mut blocks = self.blocks.write();
            let Some(newest) = blocks.iter().map(|b| b.meta().max_time).max() else {
                return Ok(Vec::new());
            };
            let (gone, kept): (Vec<_>, Vec<_>) = blocks
                .drain(..)
                .partition(|b| newest - b.meta().max_time > retention);
            *blocks = kept;
            gone
        };
        let mut out = Vec::new();
        for b in doomed {
            let id = b.meta().ulid.to_string();
            let path = self.dir.join(&id);
            let trash = self.dir.join(format!("{id}.tmp-for-deletion"));
            fs::rename(&path, &trash).map_err(io_err(&path))?;
            fs::remove_dir_all(&trash).map_err(io_err(&trash))?;
            tracing::info!(ulid = %id, "deleted block past retention");
            out.push(id);
        }
        Ok(out)
    }

    /// Flushes the WAL to disk.
    pub fn sync(&self) -> Result<(), TsdbError> {
        self.wal.sync().map_err(TsdbError::Wal)
    }

    fn overlapping_blocks(&self, mint: i64, maxt: i64) -> Vec<Arc<BlockReader>> {
        self.blocks
            .read()
            .iter()
            .filter(|b| b.overlaps(mint, maxt))
            .cloned()
            .collect()
    }
}

impl Queryable for Db {
    /// The blocks overlapping the range and the head, merged: a series in
    /// several of them comes out once, with the chunks of all (a block's
    /// first where they overlap).
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        let mut sources: Vec<Box<dyn SeriesSource + '_>> = Vec::new();
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            sources.push(Box::new(BlockReader::series_source(b, req)));
        }
        sources.push(Box::new(self.head.series_source(req)));
        let merged = MergeSeries::new(sources, OnEqualLabels::ConcatChunks);
        Ok(SeriesStream::new(merged, req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let mut lists = vec![self.head.label_names(req, ctx)?];
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            lists.push(b.label_names(req, ctx)?);
        }
        Ok(merge_sorted_strings(lists, req.limit))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        let mut lists = vec![self.head.label_values(name, req, ctx)?];
        for b in self.overlapping_blocks(req.mint, req.maxt) {
            lists.push(b.label_values(name, req, ctx)?);
        }
        Ok(merge_sorted_strings(lists, req.limit))
    }
}

/// Counts of one commit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub stored: usize,
    /// Refused at commit because a concurrent commit got ahead.
    pub refused: usize,
}

/// Collects samples and writes them to the WAL and the head on commit.
/// Samples are visible to queries and durable (per the fsync policy) once
/// `commit` returns.
pub struct DbAppender<'a> {
    db: &'a Db,
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// Newest timestamp per series in this batch, to keep it in order.
    pending: HashMap<u64, i64, BuildHasherDefault<IdHasher>>,
}

impl DbAppender<'_> {
    /// Adds a sample, checking it against the series' last sample. Errors
    /// leave the appender usable; the sample is just not added.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let (series, _) = self.db.head.get_or_create(labels);
        self.add(series, t, v)
    }

    /// As [`DbAppender::append`] with a handle from an earlier call that
    /// skips the label lookup; a handle to a series truncation dropped (or
    /// from another storage) is replaced after looking the labels up.
    pub fn append_ref(
        &mut self,
        handle: &mut SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        let series = match handle
            .get::<MemSeries>()
            .filter(|s| !s.removed.load(Ordering::Acquire))
        {
            Some(s) => s,
            None => {
                let s = self.db.head.get_or_create(labels).0;
                *handle = SeriesRef::new(s.clone());
                s
            }
        };
        self.add(series, t, v)
    }

    fn add(&mut self, series: Arc<MemSeries>, t: i64, v: f64) -> Result<(), AppendError> {
        match self.pending.get(&series.id) {
            Some(&last) if t <= last => return Err(AppendError::OutOfOrder { t, last }),
            Some(_) => {}
            None => {
                if !self.db.head.check(&series, t, v)? {
                    return Ok(());
                }
            }
        }
        self.pending.insert(series.id, t);
        self.samples.push((series, t, v));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Logs the batch to the WAL, then applies it to the head.
    pub fn commit(self) -> Result<CommitStats, TsdbError> {
        if self.samples.is_empty() {
            return Ok(CommitStats::default());
        }
        let mut seen = HashSet::new();
        let unlogged: Vec<&Arc<MemSeries>> = self
            .samples
            .iter()
            .map(|x| &x.0)
            .filter(|s| !s.logged.load(Ordering::Acquire) && seen.insert(s.id))
            .collect();
        let mut series_body = Vec::new();
        if !unlogged.is_empty() {
            let list: Vec<(u64, &Labels)> = unlogged.iter().map(|s| (s.id, &s.labels)).collect();
            wal::encode_series(&mut series_body, &list);
        }
        let refs: Vec<RefSample> = self
            .samples
            .iter()
            .map(|(s, t, v)| RefSample {
                series: s.id,
                t: *t,
                v: *v,
            })
            .collect();
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        if !series_body.is_empty() {
            bodies.push(series_body);
        }
        // Bounded record size keeps replay memory and torn-tail loss small.
        for part in refs.chunks(16_384) {
            let mut b = Vec::with_capacity(part.len() * 14 + 16);
            wal::encode_samples(&mut b, part);
            bodies.push(b);
        }
        let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        self.db.wal.log(&slices).map_err(TsdbError::Wal)?;
        for s in unlogged {
            s.logged.store(true, Ordering::Release);
        }
        let mut stats = CommitStats::default();
        for (s, t, v) in &self.samples {
            if self.db.head.store(s, *t, *v) {
                stats.stored += 1;
            } else {
                stats.refused += 1;
            }
        }
        Ok(stats)
    }

    pub fn rollback(self) {}
}

impl argus_model::Appendable for Db {
    fn appender(&self) -> Box<dyn argus_model::Appender + '_> {
        Box::new(Db::appender(self))
    }
}

impl argus_model::Appender for DbAppender<'_> {
    fn append(
        &mut self,
        series: &mut SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        self.append_ref(series, labels, t, v)
    }

    fn len(&self) -> usize {
        self.samples.len()
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        DbAppender::commit(*self)
            .map(|_| ())
            .map_err(|e| StorageError::internal(e.to_string()))
    }

    fn rollback(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::FsyncPolicy;
    use argus_model::{QueryableExt, Sample};

    fn opts(block: i64) -> DbOptions {
        DbOptions {
            block_duration_ms: block,
            retention_ms: None,
            wal: WalOptions {
                segment_size: 1 << 16,
                fsync: FsyncPolicy::Always,
            },
            external_labels: Labels::from_pairs(&[("replica", "a")]),
        }
    }

    fn series(i: usize) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
    }

    fn all(db: &Db) -> Vec<(Labels, Vec<Sample>)> {
        db.select_all(&[], i64::MIN, i64::MAX)
            .expect("select")
            .into_iter()
            .map(|s| {
                let v = s.decode(i64::MIN, i64::MAX).expect("decode");
                (s.labels, v)
            })
            .collect()
    }

    fn write(db: &Db, series_n: usize, from: i64, to: i64, step: i64) {
        let mut t = from;
        while t < to {
            let mut app = db.appender();
            for i in 0..series_n {
                app.append(&series(i), t, (t / step) as f64 + i as f64)
                    .expect("append");
            }
            app.commit().expect("commit");
            t += step;
        }
    }

    #[test]
    fn replays_wal_after_reopen() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(1_000_000)).expect("open");
        write(&db, 5, 0, 10_000, 100);
        let before = all(&db);
        drop(db);
        let db = Db::open(d.path(), opts(1_000_000)).expect("reopen");
        assert_eq!(db.open_stats().wal_samples, 500);
        assert_eq!(all(&db), before);
    }

    #[test]
    fn sealing_writes_blocks_and_keeps_every_sample() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        write(&db, 4, 0, 47_000, 500);
        let before = all(&db);
        let made = db.seal_head().expect("seal head");
        // The head reached 46.5s: [30s, 40s) is sealed too, as 46.5 - 30 >= 15.
        assert_eq!(made.len(), 4);
        assert_eq!(made[0].min_time, 0);
        assert_eq!(made[3].max_time, 40_000);
        assert_eq!(db.head().min_valid_time(), 40_000);
        assert_eq!(all(&db), before);
        // Samples already in blocks are refused.
        let mut app = db.appender();
        assert!(matches!(
            app.append(&series(0), 39_000, 1.0),
            Err(AppendError::OutOfBounds { .. })
        ));
        drop(app);
        drop(db);
        // After reopening: blocks plus the checkpointed WAL give the same.
        let db = Db::open(d.path(), opts(10_000)).expect("reopen");
        assert_eq!(db.blocks().len(), 4);
        assert_eq!(all(&db), before);
        let names = db.label_names_all(&[], i64::MIN, i64::MAX).expect("names");
        assert_eq!(names, vec!["__name__", "i"]);
    }

    #[test]
    fn retention_deletes_old_blocks() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut o = opts(10_000);
        o.retention_ms = Some(15_000);
        let db = Db::open(d.path(), o).expect("open");
        write(&db, 1, 0, 60_000, 1000);
        db.seal_head().expect("seal head");
        let blocks = db.blocks();
        assert!(blocks.iter().all(|b| b.min_time >= 20_000), "{blocks:?}");
    }

    #[test]
    fn batch_keeps_each_series_in_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let db = Db::open(d.path(), opts(10_000)).expect("open");
        let mut app = db.appender();
        app.append(&series(0), 10, 1.0).expect("first");
        app.append(&series(1), 5, 1.0).expect("other series");
        assert_eq!(
            app.append(&series(0), 10, 2.0),
            Err(AppendError::OutOfOrder { t: 10, last: 10 })
        );
        app.append(&series(0), 11, 2.0).expect("later");
        assert_eq!(app.commit().expect("commit").stored, 3);
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let d = tempfile::tempdir().expect("tempdir");
        let _db = Db::open(d.path(), opts(10_000)).expect("open");
        assert!(matches!(
            Db::open(d.path(), opts(10_000)),
            Err(TsdbError::Locked(_))
        ));
    }
}
