//! The store gateway's bucket reader: [`BucketStore`], a [`Queryable`] over
//! every complete Argus block of an object-storage bucket.
//!
//! Memory follows the cache size and the queries in flight, not the size
//! of the bucket: a sync reads only `meta.json` files; a select reads, per
//! block it touches, the two Parquet footers (cached), then a row group at
//! a time the pages its matchers need, pruned with column statistics and
//! the page index, then the chunk pages of the matching rows in batches.
//! Every read is a ranged GET through one byte-bounded LRU cache shared by
//! all blocks ([`BucketStoreOptions::cache_bytes`]).
//!
//! Blocks are merged with [`MergeSeries`] after each block's external
//! labels (`meta.thanos.labels`) are attached with [`RelabeledSource`], so
//! series come sorted, and a series held by several blocks comes once with
//! the chunks of all.
//!
//! The read path is synchronous ([`Queryable`]): callers run it on a
//! blocking thread (`spawn_blocking`), and it waits there for the fetches,
//! which run on the runtime handed to [`BucketStore::new`]. (On a worker of
//! a multi-thread runtime it blocks in place; on a current-thread runtime's
//! own thread it cannot wait and panics.)
//!
//! A select holds the footers of every block it touches until it ends
//! (shared with the cache while they are cached): the k-way merge needs all
//! of them at once.

mod block;
mod cache;
mod fetch;
mod parquet_file;
mod prune;
pub mod role;
mod stats;
mod sync;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use argus_block::Bucket;
use argus_block::meta::BlockMeta;
use argus_config::relabel::RelabelConfig;
use argus_model::storage::relabel::{DropLabels, RelabeledSource, SetLabels, without_names};
use argus_model::storage::{
    LabelRequest, MergeSeries, OnEqualLabels, ReadContext, SelectRequest, SeriesSource,
    SeriesStream, StorageError,
};
use argus_model::{Labels, Matcher, Queryable};
use futures::StreamExt;

use crate::block::{Block, BlockScan, Limiter, ScanRequest, column_values};
use crate::cache::Cache;
use crate::fetch::Fetcher;
use crate::parquet_file::{ChunksFile, SeriesFile};

pub use crate::stats::BucketStoreStats;
pub use crate::sync::{DELETION_MARK_FILE, SyncError, SyncStats};

/// A bound of the time range a store serves, as Thanos's `--min-time` and
/// `--max-time` take it: a time, or a duration from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// Milliseconds since the epoch.
    Absolute(i64),
    /// Milliseconds from the moment it is applied (negative: the past),
    /// so `-2w` keeps moving with the clock.
    Relative(i64),
}

impl TimeBound {
    /// The bound as milliseconds since the epoch, at `now_ms`.
    pub fn resolve(self, now_ms: i64) -> i64 {
        match self {
            TimeBound::Absolute(t) => t,
            TimeBound::Relative(d) => now_ms.saturating_add(d),
        }
    }
}

/// How a [`BucketStore`] reads and what it serves.
#[derive(Debug, Clone)]
pub struct BucketStoreOptions {
    /// Bound of the cache of footers and pages, in bytes; 0 caches nothing.
    pub cache_bytes: usize,
    /// Blocks ending before this are not served, and no sample before it
    /// is returned.
    pub min_time: TimeBound,
    /// Blocks starting after this are not served, and no sample after it
    /// is returned.
    pub max_time: TimeBound,
    /// Applied to each block's external labels; a block whose labels are
    /// dropped is not served (Thanos's `--selector.relabel-config`).
    pub selector_relabel: Vec<RelabelConfig>,
    /// Series one select (or label query with matchers) may touch, counted
    /// once per block holding them, before their labels and chunks are
    /// read, as Thanos's `--store.limits.request-series`; 0 for no limit.
    pub max_series: usize,
    /// Compressed bytes of chunk pages one select may read, counted before
    /// they are fetched (a page holds the chunks of many series); 0 for no
    /// limit.
    pub max_chunk_bytes: usize,
    /// How long a block with a deletion mark stays served (Thanos's
    /// `--ignore-deletion-marks-delay`, 24h there): queriers and stores may
    /// not see the compactor's replacement at once. Zero stops at once.
    pub ignore_deletion_marks_delay: Duration,
    /// `meta.json` reads in flight during a sync.
    pub meta_fetch_concurrency: usize,
    /// Blocks whose footers are read at once when a select starts.
    pub footer_fetch_concurrency: usize,
    /// Blocks left out of each read while it says so: `argus server`
    /// leaves out the blocks its TSDB still holds, which it serves itself.
    pub skip_block: Option<BlockFilter>,
}

/// A predicate over block metas, asked at every read (true: skip it).
#[derive(Clone)]
pub struct BlockFilter(pub Arc<dyn Fn(&BlockMeta) -> bool + Send + Sync>);

impl std::fmt::Debug for BlockFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockFilter")
    }
}

impl Default for BucketStoreOptions {
    fn default() -> Self {
        BucketStoreOptions {
            cache_bytes: 256 << 20,
            min_time: TimeBound::Absolute(i64::MIN),
            max_time: TimeBound::Absolute(i64::MAX),
            selector_relabel: Vec::new(),
            max_series: 0,
            max_chunk_bytes: 0,
            ignore_deletion_marks_delay: Duration::ZERO,
            meta_fetch_concurrency: 16,
            footer_fetch_concurrency: 16,
            skip_block: None,
        }
    }
}

/// What the StoreAPI `Info` call reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The distinct external label sets of the served blocks, sorted.
    pub label_sets: Vec<Labels>,
    /// The earliest time served: the first block's start, at least the
    /// store's `min_time`; `i64::MAX` with no block (as Thanos).
    pub min_time: i64,
    /// The latest time served: the last block's (exclusive) end, at most
    /// the store's `max_time`; `i64::MIN` with no block.
    pub max_time: i64,
}

pub(crate) struct Inner {
    pub bucket: String,
    pub fetcher: Arc<Fetcher>,
    pub opts: BucketStoreOptions,
    pub stats: Arc<BucketStoreStats>,
    pub served: parking_lot::RwLock<Arc<Vec<Arc<Block>>>>,
    pub sync_state: tokio::sync::Mutex<sync::SyncState>,
}

/// A [`Queryable`] over the complete Argus blocks of a bucket. Cheap to
/// clone: clones share the blocks, the cache and the counters.
#[derive(Clone)]
pub struct BucketStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BucketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketStore")
            .field("bucket", &self.inner.bucket)
            .field("blocks", &self.inner.served.read().len())
            .finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The blocks of one select with the matchers left for their series.
type Selected = Vec<(Arc<Block>, Vec<Matcher>)>;
/// The footers of each selected block.
type Footers = Vec<(Arc<SeriesFile>, Option<Arc<ChunksFile>>)>;

impl BucketStore {
    /// A store over `bucket`, serving nothing until the first [`sync`]. Its
    /// reads run on `runtime`.
    ///
    /// [`sync`]: BucketStore::sync
    pub fn new(
        bucket: Bucket,
        opts: BucketStoreOptions,
        runtime: tokio::runtime::Handle,
    ) -> BucketStore {
        let stats = Arc::new(BucketStoreStats::default());
        let fetcher = Arc::new(Fetcher {
            store: bucket.store().clone(),
            cache: Cache::new(opts.cache_bytes, stats.clone()),
            stats: stats.clone(),
            runtime,
        });
        BucketStore {
            inner: Arc::new(Inner {
                bucket: bucket.name().to_string(),
                fetcher,
                opts,
                stats,
                served: parking_lot::RwLock::new(Arc::new(Vec::new())),
                sync_state: tokio::sync::Mutex::new(sync::SyncState::default()),
            }),
        }
    }

    /// Lists the bucket and updates the served blocks: complete blocks
    /// (with `meta.json`) that are Argus blocks, not marked for deletion
    /// and within the store's filters. On error the served blocks stay.
    pub async fn sync(&self) -> Result<SyncStats, SyncError> {
        let s = &self.inner.stats;
        s.syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self.sync_inner().await;
        if let Err(e) = &r {
            s.sync_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(bucket = %self.inner.bucket, error = %e, "block sync failed; serving the blocks of the last sync");
        }
        r
    }

    /// Syncs now and then every `every` until `stop` turns true, calling
    /// `synced` after each sync that succeeds. A failed sync is logged and
    /// the blocks of the last one stay served.
    pub async fn sync_loop(
        self,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
        synced: impl Fn(&SyncStats) + Send,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            if let Ok(s) = self.sync().await {
                if s.added > 0 || s.removed > 0 {
                    tracing::info!(
                        bucket = %self.inner.bucket,
                        served = s.served,
                        added = s.added,
                        removed = s.removed,
                        failed = s.failed,
                        "synced blocks from the bucket"
                    );
                }
                synced(&s);
            }
        }
    }

    pub fn stats(&self) -> &BucketStoreStats {
        &self.inner.stats
    }

    /// The metas of the served blocks, by start time.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.served().iter().map(|b| b.meta.clone()).collect()
    }

    /// External label sets and time range of the served blocks.
    pub fn info(&self) -> StoreInfo {
        let served = self.served();
        let mut sets: BTreeSet<Labels> = BTreeSet::new();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for b in served.iter() {
            sets.insert(b.ext().clone());
            min = min.min(b.meta.min_time);
            max = max.max(b.meta.max_time);
        }
        if !served.is_empty() {
            let (lo, hi) = self.bounds();
            min = min.max(lo);
            max = max.min(hi);
        }
        StoreInfo {
            label_sets: sets.into_iter().collect(),
            min_time: min,
            max_time: max,
        }
    }

    fn served(&self) -> Arc<Vec<Arc<Block>>> {
        self.inner.served.read().clone()
    }

    fn bounds(&self) -> (i64, i64) {
        let now = now_ms();
        (
            self.inner.opts.min_time.resolve(now),
            self.inner.opts.max_time.resolve(now),
        )
    }

    /// `[mint, maxt]` cut to the store's time bounds.
    fn clamp(&self, mint: i64, maxt: i64) -> (i64, i64) {
        let (lo, hi) = self.bounds();
        (mint.max(lo), maxt.min(hi))
    }

    fn select_blocks(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Selected {
        if mint > maxt {
            return Vec::new();
        }
        let skip = self.inner.opts.skip_block.as_ref();
        self.served()
            .iter()
            .filter(|b| b.overlaps(mint, maxt))
            .filter(|b| !skip.is_some_and(|f| (f.0)(&b.meta)))
            .filter_map(|b| b.own_matchers(matchers).map(|ms| (b.clone(), ms)))
            .collect()
    }

    /// Loads the footers of `blocks` concurrently (from the cache where
    /// they are). `scan` is the `skip_chunks` of the scan they are for,
    /// which decides whether `chunks.parquet`'s is needed; `None` loads
    /// only `series.parquet`'s.
    fn footers(
        &self,
        blocks: &Selected,
        mint: i64,
        maxt: i64,
        scan: Option<bool>,
        ctx: &ReadContext,
    ) -> Result<Footers, StorageError> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let fetcher = &self.inner.fetcher;
        let concurrency = self.inner.opts.footer_fetch_concurrency.max(1);
        fetcher.block_on(ctx, async {
            let loaded: Vec<Result<_, StorageError>> = futures::stream::iter(blocks)
                .map(|(b, _)| async move {
                    let series = b.series_file(fetcher).await?;
                    let needed = scan.is_some_and(|skip| b.needs_chunks_file(mint, maxt, skip));
                    let chunks = if needed {
                        Some(b.chunks_file(fetcher).await?)
                    } else {
                        None
                    };
                    Ok((series, chunks))
                })
                .buffered(concurrency)
                .collect()
                .await;
            loaded.into_iter().collect()
        })
    }

    /// The scans of a select or label query, one per block, unmerged.
    fn scans(
        &self,
        blocks: &Selected,
        footers: Footers,
        req: &ScanRequest<'_>,
        ctx: &ReadContext,
    ) -> Vec<BlockScan> {
        let limiter = Arc::new(Limiter::new(
            self.inner.opts.max_series,
            self.inner.opts.max_chunk_bytes,
        ));
        blocks
            .iter()
            .zip(footers)
            .map(|((b, ms), files)| {
                BlockScan::new(
                    self.inner.fetcher.clone(),
                    b.clone(),
                    files,
                    ms,
                    req,
                    limiter.clone(),
                    ctx.clone(),
                )
            })
            .collect()
    }
}

impl Queryable for BucketStore {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        self.select_without(req, ctx, &[])
    }

    /// `names` are left out of the blocks' external labels, as Thanos's
    /// store gateway does (a label constant over a block's series keeps
    /// them sorted when removed, so no block is re-sorted); only a block
    /// whose series file has a column of one of `names` is relabeled and
    /// re-sorted.
    fn select_without(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
        names: &[String],
    ) -> Result<SeriesStream<'_>, StorageError> {
        ctx.check()?;
        let (mint, maxt) = self.clamp(req.mint, req.maxt);
        let blocks = self.select_blocks(&req.matchers, mint, maxt);
        let skip_chunks = req.hints.skip_chunks;
        let footers = self.footers(&blocks, mint, maxt, Some(skip_chunks), ctx)?;
        let scan_req = ScanRequest {
            mint,
            maxt,
            skip_chunks,
            only_label: None,
        };
        // Blocks with the same external labels are merged first and
        // relabeled once.
        let in_series: Vec<Vec<String>> = footers
            .iter()
            .map(|(series, _)| {
                names
                    .iter()
                    .filter(|n| series.column(n).is_some())
                    .cloned()
                    .collect()
            })
            .collect();
        let mut by_ext: BTreeMap<Labels, Vec<Box<dyn SeriesSource>>> = BTreeMap::new();
        for ((scan, (b, _)), drop) in self
            .scans(&blocks, footers, &scan_req, ctx)
            .into_iter()
            .zip(&blocks)
            .zip(in_series)
        {
            let scan: Box<dyn SeriesSource> = if drop.is_empty() {
                Box::new(scan)
            } else {
                Box::new(RelabeledSource::new(
                    scan,
                    DropLabels::new(drop),
                    Some(OnEqualLabels::ConcatChunks),
                ))
            };
            by_ext
                .entry(without_names(b.ext(), names))
                .or_default()
                .push(scan);
        }
        let mut sources: Vec<Box<dyn SeriesSource>> = Vec::with_capacity(by_ext.len());
        for (ext, scans) in by_ext {
            let merged = MergeSeries::new(scans, OnEqualLabels::ConcatChunks);
            if ext.is_empty() {
                sources.push(Box::new(merged));
            } else {
                sources.push(Box::new(RelabeledSource::new(
                    merged,
                    SetLabels(ext),
                    Some(OnEqualLabels::ConcatChunks),
                )));
            }
        }
        let source = MergeSeries::new(sources, OnEqualLabels::ConcatChunks);
        Ok(SeriesStream::new(source, req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut add = |n: &str| {
            if !names.contains(n) {
                names.insert(n.to_string());
            }
        };
        let (mint, maxt) = self.clamp(req.mint, req.maxt);
        let blocks = self.select_blocks(&req.matchers, mint, maxt);
        let (plain, scanned): (Selected, Selected) =
            blocks.into_iter().partition(|(_, ms)| ms.is_empty());
        let footers = self.footers(&plain, mint, maxt, None, ctx)?;
        for ((b, _), (series, _)) in plain.iter().zip(&footers) {
            if series.num_rows() == 0 {
                continue;
            }
            for c in &series.by_name {
                add(&series.names[*c]);
            }
            for l in b.ext().iter() {
                add(l.name);
            }
        }
        self.scan_each(
            &scanned,
            mint,
            maxt,
            ctx,
            None,
            |_, _| true,
            |b, labels| {
                for l in labels.iter().chain(b.ext().iter()) {
                    add(l.name);
                }
                true
            },
        )?;
        Ok(req.limited(names.into_iter().collect()))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        let mut values: BTreeSet<String> = BTreeSet::new();
        let (mint, maxt) = self.clamp(req.mint, req.maxt);
        let blocks = self.select_blocks(&req.matchers, mint, maxt);
        let (plain, scanned): (Selected, Selected) =
            blocks.into_iter().partition(|(_, ms)| ms.is_empty());
        let footers = self.footers(&plain, mint, maxt, None, ctx)?;
        for ((b, _), (series, _)) in plain.iter().zip(&footers) {
            ctx.check()?;
            if series.num_rows() == 0 {
                continue;
            }
            if let Some(v) = b.ext().get(name) {
                values.insert(v.to_string());
            } else if let Some(col) = series.column(name) {
                column_values(&self.inner.fetcher, ctx, b, series, col, &mut values)?;
            }
        }
        // A block whose series lack the label has no value to give.
        let has_label =
            |b: &Block, f: &SeriesFile| b.ext().get(name).is_some() || f.column(name).is_some();
        self.scan_each(
            &scanned,
            mint,
            maxt,
            ctx,
            Some(name),
            has_label,
            |b, labels| {
                match b.ext().get(name) {
                    // Any matching series gives the block's value.
                    Some(v) => {
                        values.insert(v.to_string());
                        false
                    }
                    None => {
                        if let Some(v) = labels.get(name)
                            && !values.contains(v)
                        {
                            values.insert(v.to_string());
                        }
                        true
                    }
                }
            },
        )?;
        Ok(req.limited(values.into_iter().collect()))
    }
}

impl BucketStore {
    /// Runs a labels-only scan of each of `blocks` that `wanted` accepts
    /// (reading only the label `only_label` of each series when given),
    /// calling `each` with every matching series' labels until it returns
    /// false for that block.
    #[allow(clippy::too_many_arguments)] // the parts of one label query
    fn scan_each(
        &self,
        blocks: &Selected,
        mint: i64,
        maxt: i64,
        ctx: &ReadContext,
        only_label: Option<&str>,
        wanted: impl Fn(&Block, &SeriesFile) -> bool,
        mut each: impl FnMut(&Block, &Labels) -> bool,
    ) -> Result<(), StorageError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let footers = self.footers(blocks, mint, maxt, Some(true), ctx)?;
        let scan_req = ScanRequest {
            mint,
            maxt,
            skip_chunks: true,
            only_label,
        };
        let (picked, footers): (Selected, Footers) = blocks
            .iter()
            .cloned()
            .zip(footers)
            .filter(|((b, _), (f, _))| wanted(b, f))
            .unzip();
        for (mut scan, (b, _)) in self
            .scans(&picked, footers, &scan_req, ctx)
            .into_iter()
            .zip(&picked)
        {
            while let Some(s) = scan.next_series()? {
                if !each(b, &s.labels) {
                    break;
                }
            }
        }
        Ok(())
    }
}
