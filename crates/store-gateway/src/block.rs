//! One block of the bucket as the store reads it: its meta, its files'
//! footers (through the cache), and the scan that streams its matching
//! series a row group at a time.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argus_block::cell::cell_chunks;
use argus_block::meta::BlockMeta;
use argus_block::writer::WindowLayout;
use argus_block::{CHUNKS_FILE, SERIES_FILE};
use argus_model::storage::{ChunkData, ReadContext, SeriesSource, StorageError, StorageSeries};
use argus_model::{Labels, Matcher};
use object_store::path::Path as ObjectPath;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use ulid::Ulid;

use crate::cache::{CacheKey, CacheValue};
use crate::fetch::Fetcher;
use crate::parquet_file::{
    ChunkSpec, ChunksFile, ColumnCursor, PinnedFile, ReadError, SeriesFile, dictionary_range,
    dictionary_values, load_metadata, prefetch,
};
use crate::prune::Constraint;

/// Matching rows whose chunks are read at once: enough for runs of
/// neighbouring rows to share pages, few enough that a stream holds little.
const BATCH_ROWS: usize = 64;

/// A complete Argus block of the bucket.
#[derive(Debug)]
pub(crate) struct Block {
    pub meta: BlockMeta,
    pub layout: WindowLayout,
    pub overhang: i64,
    series_path: ObjectPath,
    chunks_path: ObjectPath,
    series_len: Option<u64>,
    chunks_len: Option<u64>,
}

impl Block {
    /// The block of `meta`, or why it cannot be served.
    pub(crate) fn new(meta: BlockMeta) -> Result<Block, String> {
        let Some(argus) = meta.argus else {
            return Err("not an argus block: meta.json has no `argus` section".to_string());
        };
        let layout = WindowLayout {
            min_time: meta.min_time,
            window_ms: argus.chunk_window_ms,
            num_windows: argus.num_windows as usize,
        };
        let size = |name: &str| {
            meta.thanos
                .files
                .iter()
                .find(|f| f.rel_path == name)
                .map(|f| f.size_bytes)
                .filter(|s| *s > 0)
        };
        Ok(Block {
            series_path: ObjectPath::from(format!("{}/{SERIES_FILE}", meta.ulid)),
            chunks_path: ObjectPath::from(format!("{}/{CHUNKS_FILE}", meta.ulid)),
            series_len: size(SERIES_FILE),
            chunks_len: size(CHUNKS_FILE),
            layout,
            overhang: argus.chunk_overhang_ms.max(0),
            meta,
        })
    }

    pub(crate) fn ulid(&self) -> Ulid {
        self.meta.ulid
    }

    pub(crate) fn ext(&self) -> &Labels {
        &self.meta.thanos.labels
    }

    /// Whether the block's `[min_time, max_time)` meets `[mint, maxt]`.
    pub(crate) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.max_time > mint && self.meta.min_time <= maxt
    }

    /// Whether every sample of the block lies in `[mint, maxt]`.
    fn within(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time >= mint && self.meta.max_time.saturating_sub(1) <= maxt
    }

    /// The matchers left for the block's series, or `None` when its
    /// external labels rule out every series. External labels replace a
    /// series' own label of the same name, so a matcher on one is decided
    /// by the block alone.
    pub(crate) fn own_matchers(&self, matchers: &[Matcher]) -> Option<Vec<Matcher>> {
        let mut out = Vec::with_capacity(matchers.len());
        for m in matchers {
            match self.ext().get(&m.name) {
                Some(v) if !m.matches(v) => return None,
                Some(_) => {}
                None => out.push(m.clone()),
            }
        }
        Some(out)
    }

    fn what(&self, file: &str) -> String {
        format!("block {} {file}", self.meta.ulid)
    }

    /// Whether a select of `[mint, maxt]` needs `chunks.parquet`: for chunks,
    /// or to drop series without samples in a range narrower than the block.
    pub(crate) fn needs_chunks_file(&self, mint: i64, maxt: i64, skip_chunks: bool) -> bool {
        !skip_chunks || !self.within(mint, maxt)
    }

    /// The validated footer of `series.parquet`, from the cache or the bucket.
    pub(crate) async fn series_file(
        &self,
        fetcher: &Fetcher,
    ) -> Result<Arc<SeriesFile>, StorageError> {
        let key = CacheKey::Footer {
            object: Arc::from(self.series_path.as_ref()),
        };
        if let Some(CacheValue::Series(f)) = fetcher.cache.get(&key) {
            return Ok(f);
        }
        let what = self.what(SERIES_FILE);
        let (obj, md) = load_metadata(fetcher, &self.series_path, self.series_len)
            .await
            .map_err(|e| e.in_file(&what))?;
        let f = Arc::new(
            SeriesFile::new(obj, md).map_err(|m| StorageError::corrupt(format!("{what}: {m}")))?,
        );
        fetcher
            .cache
            .insert(key, CacheValue::Series(f.clone()), f.size());
        Ok(f)
    }

    /// The validated footer of `chunks.parquet`, from the cache or the bucket.
    pub(crate) async fn chunks_file(
        &self,
        fetcher: &Fetcher,
    ) -> Result<Arc<ChunksFile>, StorageError> {
        let key = CacheKey::Footer {
            object: Arc::from(self.chunks_path.as_ref()),
        };
        if let Some(CacheValue::Chunks(f)) = fetcher.cache.get(&key) {
            return Ok(f);
        }
        let what = self.what(CHUNKS_FILE);
        let (obj, md) = load_metadata(fetcher, &self.chunks_path, self.chunks_len)
            .await
            .map_err(|e| e.in_file(&what))?;
        let f = Arc::new(
            ChunksFile::new(obj, md, self.layout.num_windows)
                .map_err(|m| StorageError::corrupt(format!("{what}: {m}")))?,
        );
        fetcher
            .cache
            .insert(key, CacheValue::Chunks(f.clone()), f.size());
        Ok(f)
    }

    /// Windows that may hold a chunk overlapping `[mint, maxt]`.
    fn windows_for(&self, mint: i64, maxt: i64) -> Vec<usize> {
        (0..self.layout.num_windows)
            .filter(|&w| {
                let ws = self.layout.window_start(w);
                let last_end = ws
                    .saturating_add(self.layout.window_ms - 1)
                    .saturating_add(self.overhang);
                ws <= maxt && last_end >= mint
            })
            .collect()
    }
}

/// The store's per-select limits, shared by the scans of one select and
/// charged before the memory is spent.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    max_series: usize,
    max_chunk_bytes: u64,
    series: AtomicUsize,
    chunk_bytes: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(max_series: usize, max_chunk_bytes: usize) -> Limiter {
        Limiter {
            max_series,
            max_chunk_bytes: max_chunk_bytes as u64,
            ..Limiter::default()
        }
    }

    /// Series about to be read (once per block they are in).
    fn add_series(&self, n: usize) -> Result<(), StorageError> {
        let total = self.series.fetch_add(n, Ordering::Relaxed) + n;
        if self.max_series > 0 && total > self.max_series {
            return Err(StorageError::resource_exhausted(format!(
                "the select touches more than the store gateway's limit of {} series (max_series)",
                self.max_series
            )));
        }
        Ok(())
    }

    /// Compressed bytes of chunk pages about to be read.
    fn add_chunk_bytes(&self, n: u64) -> Result<(), StorageError> {
        let total = self.chunk_bytes.fetch_add(n, Ordering::Relaxed) + n;
        if self.max_chunk_bytes > 0 && total > self.max_chunk_bytes {
            return Err(StorageError::resource_exhausted(format!(
                "the select would read more than the store gateway's limit of {} chunk bytes (max_chunk_bytes)",
                self.max_chunk_bytes
            )));
        }
        Ok(())
    }
}

/// What the scans of one select or label query read, besides each block's
/// own matchers.
pub(crate) struct ScanRequest<'a> {
    pub mint: i64,
    pub maxt: i64,
    pub skip_chunks: bool,
    /// Read only this label (label values); `None` reads whole label sets.
    pub only_label: Option<&'a str>,
}

/// The rows of the row group being streamed.
struct Group {
    index: usize,
    rows: Vec<u32>,
    labels: Vec<Labels>,
    /// Index in `rows` of the next row to read chunks for.
    next: usize,
    windows: Vec<(usize, ColumnCursor<ByteArrayType>)>,
}

/// The matching series of one block, read a row group at a time: the
/// matcher columns of the rows the statistics leave, one column at a time
/// (each narrowing the rows for the next), the time columns, the other
/// label columns, then the chunks in batches. A block's external labels are
/// not added here.
pub(crate) struct BlockScan {
    fetcher: Arc<Fetcher>,
    block: Arc<Block>,
    series: Arc<SeriesFile>,
    chunks: Option<Arc<ChunksFile>>,
    /// Matchers by column, the columns with equality matchers first.
    by_column: Vec<(usize, Vec<Matcher>)>,
    constraints: Vec<(usize, Constraint)>,
    /// A matcher on a label the block lacks that needs a value.
    matches_nothing: bool,
    mint: i64,
    maxt: i64,
    time_filter: bool,
    skip_chunks: bool,
    /// Columns of the labels returned, in label-name order.
    out_cols: Vec<usize>,
    full_labels: bool,
    limiter: Arc<Limiter>,
    ctx: ReadContext,
    next_group: usize,
    group: Option<Group>,
    ready: VecDeque<StorageSeries>,
    last: Option<Labels>,
    done: bool,
}

impl BlockScan {
    /// A scan of `block` for the series matching `matchers` (those
    /// [`Block::own_matchers`] left), whose footers are loaded (`chunks.parquet`'s
    /// when [`Block::needs_chunks_file`] says so).
    pub(crate) fn new(
        fetcher: Arc<Fetcher>,
        block: Arc<Block>,
        (series, chunks): (Arc<SeriesFile>, Option<Arc<ChunksFile>>),
        matchers: &[Matcher],
        req: &ScanRequest<'_>,
        limiter: Arc<Limiter>,
        ctx: ReadContext,
    ) -> BlockScan {
        let mut matches_nothing = false;
        let mut by_column: Vec<(usize, Vec<Matcher>)> = Vec::new();
        let mut constraints = Vec::new();
        for m in matchers {
            match series.column(&m.name) {
                None => matches_nothing |= !m.matches_empty(),
                Some(c) => {
                    match by_column.iter_mut().find(|(col, _)| *col == c) {
                        Some((_, ms)) => ms.push(m.clone()),
                        None => by_column.push((c, vec![m.clone()])),
                    }
                    if series.prunable[c]
                        && let Some(con) = Constraint::of(m)
                    {
                        constraints.push((c, con));
                    }
                }
            }
        }
        by_column
            .sort_by_key(|(_, ms)| !ms.iter().any(|m| m.kind == argus_model::MatchType::Equal));
        let out_cols = match req.only_label {
            Some(name) => series.column(name).into_iter().collect(),
            None => series.by_name.clone(),
        };
        let time_filter = !block.within(req.mint, req.maxt);
        BlockScan {
            fetcher,
            block,
            series,
            chunks,
            by_column,
            constraints,
            matches_nothing,
            mint: req.mint,
            maxt: req.maxt,
            time_filter,
            skip_chunks: req.skip_chunks,
            out_cols,
            full_labels: req.only_label.is_none(),
            limiter,
            ctx,
            next_group: 0,
            group: None,
            ready: VecDeque::new(),
            last: None,
            done: false,
        }
    }

    fn series_err(&self) -> impl Fn(ReadError) -> StorageError + '_ {
        move |e| e.in_file(&self.block.what(SERIES_FILE))
    }

    fn chunks_err(&self) -> impl Fn(ReadError) -> StorageError + '_ {
        move |e| e.in_file(&self.block.what(CHUNKS_FILE))
    }

    fn chunks(&self) -> Result<&Arc<ChunksFile>, StorageError> {
        let c = self.chunks.as_ref().ok_or_else(|| {
            StorageError::internal(format!(
                "{}: footer not loaded",
                self.block.what(CHUNKS_FILE)
            ))
        })?;
        if c.group_rows != self.series.group_rows {
            return Err(StorageError::corrupt(format!(
                "{}: row groups {:?} are not aligned with series.parquet's {:?}",
                self.block.what(CHUNKS_FILE),
                c.group_rows,
                self.series.group_rows
            )));
        }
        Ok(c)
    }

    /// Whether row group `g` (or, per page, which of its rows) may hold a
    /// match, by the statistics of the constrained columns.
    fn candidate_rows(&self, g: usize) -> Vec<Range<usize>> {
        let n = self.series.group_rows[g];
        let md = &self.series.md;
        let rg = md.row_group(g);
        let index = md.page_index_for_row_group(g);
        let mut cand: Vec<Range<usize>> = std::iter::once(0..n).collect();
        for (c, con) in &self.constraints {
            if let Some(st) = rg.column(*c).statistics() {
                match (st.min_bytes_opt(), st.max_bytes_opt()) {
                    (Some(lo), Some(hi)) if !con.may_match(lo, hi) => return Vec::new(),
                    (None, None) if st.null_count_opt() == Some(n as u64) => return Vec::new(),
                    _ => {}
                }
            }
            let (Some(ColumnIndexMetaData::BYTE_ARRAY(ci)), Some(locs)) =
                (index.column_index(*c), index.page_locations(*c))
            else {
                continue;
            };
            if ci.num_pages() as usize != locs.len() {
                continue;
            }
            let mut keep: Vec<Range<usize>> = Vec::new();
            for (p, loc) in locs.iter().enumerate() {
                let may = !ci.is_null_page(p)
                    && match (ci.min_value(p), ci.max_value(p)) {
                        (Some(lo), Some(hi)) => con.may_match(lo, hi),
                        _ => true,
                    };
                if may {
                    let start = loc.first_row_index as usize;
                    let end = locs.get(p + 1).map_or(n, |q| q.first_row_index as usize);
                    match keep.last_mut() {
                        Some(r) if r.end == start => r.end = end,
                        _ => keep.push(start..end),
                    }
                }
            }
            cand = intersect(&cand, &keep);
            if cand.is_empty() {
                break;
            }
        }
        cand
    }

    /// Reads label columns `cols` of `series.parquet` at `rows` of row
    /// group `g`, fetching all their pages at once.
    fn read_labels(
        &self,
        g: usize,
        cols: &[usize],
        rows: &[u32],
    ) -> Result<Vec<Vec<Option<ByteArray>>>, ReadError> {
        let f = &self.series;
        let mut cursors = cols
            .iter()
            .map(|&c| {
                let src = PinnedFile::new(f.obj.clone(), self.fetcher.clone(), self.ctx.clone());
                let spec = ChunkSpec {
                    md: &f.md,
                    group: g,
                    col: c,
                    chunk: f.chunk_ranges[g][c].clone(),
                };
                ColumnCursor::<ByteArrayType>::new(spec, src)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut refs: Vec<&mut ColumnCursor<ByteArrayType>> = cursors.iter_mut().collect();
        prefetch(
            &self.fetcher,
            &self.ctx,
            &f.obj,
            &mut refs,
            rows,
            |_| Ok(()),
        )?;
        let mut out = Vec::with_capacity(cols.len());
        for cur in &mut cursors {
            let mut vals: Vec<Option<ByteArray>> = vec![None; rows.len()];
            cur.read(rows, |i, v| {
                vals[i] = v;
                Ok(())
            })?;
            out.push(vals);
        }
        Ok(out)
    }

    /// The rows of `rows` whose series have samples in the range, from the
    /// time columns of `chunks.parquet`.
    fn filter_time(&self, g: usize, rows: &[u32]) -> Result<Vec<u32>, ReadError> {
        let f = self.chunks().map_err(ReadError::Interrupted)?.clone();
        let cursor = |c: usize| {
            let src = PinnedFile::new(f.obj.clone(), self.fetcher.clone(), self.ctx.clone());
            let spec = ChunkSpec {
                md: &f.md,
                group: g,
                col: c,
                chunk: f.chunk_ranges[g][c].clone(),
            };
            ColumnCursor::<Int64Type>::new(spec, src)
        };
        let mut min = cursor(f.min_col)?;
        let mut max = cursor(f.max_col)?;
        prefetch(
            &self.fetcher,
            &self.ctx,
            &f.obj,
            &mut [&mut min, &mut max],
            rows,
            |_| Ok(()),
        )?;
        let mut mins = vec![i64::MAX; rows.len()];
        min.read(rows, |i, v| {
            mins[i] = v.unwrap_or(i64::MAX);
            Ok(())
        })?;
        let mut keep = vec![false; rows.len()];
        max.read(rows, |i, v| {
            keep[i] = mins[i] <= self.maxt && v.unwrap_or(i64::MIN) >= self.mint;
            Ok(())
        })?;
        Ok(rows
            .iter()
            .zip(keep)
            .filter_map(|(&r, k)| k.then_some(r))
            .collect())
    }

    /// Finds the matching rows of row group `g` and reads their labels.
    fn load_group(&mut self, g: usize) -> Result<Option<Group>, StorageError> {
        let cand = self.candidate_rows(g);
        let mut rows: Vec<u32> = cand
            .iter()
            .flat_map(|r| r.start as u32..r.end as u32)
            .collect();
        // Matcher columns, each narrowing the rows the next one reads.
        let mut known: Vec<(usize, Vec<u32>, Vec<Option<ByteArray>>)> = Vec::new();
        for (c, ms) in &self.by_column {
            if rows.is_empty() {
                return Ok(None);
            }
            let mut vals = self
                .read_labels(g, &[*c], &rows)
                .map_err(self.series_err())?;
            let vals = vals.pop().unwrap_or_default();
            let mut keep = Vec::with_capacity(rows.len());
            for (i, v) in vals.iter().enumerate() {
                let s = match v {
                    Some(b) => b.as_utf8().map_err(|_| {
                        StorageError::corrupt(format!(
                            "{}: column {:?}: invalid utf-8",
                            self.block.what(SERIES_FILE),
                            self.series.names[*c]
                        ))
                    })?,
                    None => "",
                };
                if ms.iter().all(|m| m.matches(s)) {
                    keep.push(rows[i]);
                }
            }
            known.push((*c, std::mem::replace(&mut rows, keep), vals));
        }
        if rows.is_empty() {
            return Ok(None);
        }
        if self.time_filter {
            rows = self.filter_time(g, &rows).map_err(self.chunks_err())?;
            if rows.is_empty() {
                return Ok(None);
            }
        }
        self.limiter.add_series(rows.len())?;

        let missing: Vec<usize> = self
            .out_cols
            .iter()
            .copied()
            .filter(|c| !known.iter().any(|(k, _, _)| k == c))
            .collect();
        let read = self
            .read_labels(g, &missing, &rows)
            .map_err(self.series_err())?;
        let mut columns: Vec<(usize, Vec<Option<ByteArray>>)> =
            missing.into_iter().zip(read).collect();
        for (c, at, vals) in known {
            if self.out_cols.contains(&c) {
                columns.push((c, align(&at, vals, &rows)));
            }
        }
        // In label-name order, as label sets are built.
        columns.sort_by(|a, b| self.series.names[a.0].cmp(&self.series.names[b.0]));
        let labels = self.build_labels(&columns, rows.len())?;

        let mut windows = Vec::new();
        if !self.skip_chunks {
            let f = self.chunks()?.clone();
            for w in self.block.windows_for(self.mint, self.maxt) {
                let c = f.window_cols[w];
                let src = PinnedFile::new(f.obj.clone(), self.fetcher.clone(), self.ctx.clone());
                let spec = ChunkSpec {
                    md: &f.md,
                    group: g,
                    col: c,
                    chunk: f.chunk_ranges[g][c].clone(),
                };
                let cur =
                    ColumnCursor::<ByteArrayType>::new(spec, src).map_err(self.chunks_err())?;
                windows.push((w, cur));
            }
        }
        Ok(Some(Group {
            index: g,
            rows,
            labels,
            next: 0,
            windows,
        }))
    }

    fn build_labels(
        &mut self,
        columns: &[(usize, Vec<Option<ByteArray>>)],
        n: usize,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(columns.len());
            for (c, vals) in columns {
                if let Some(v) = &vals[i] {
                    let s = v.as_utf8().map_err(|_| {
                        StorageError::corrupt(format!(
                            "{}: column {:?}: invalid utf-8",
                            self.block.what(SERIES_FILE),
                            self.series.names[*c]
                        ))
                    })?;
                    if !s.is_empty() {
                        pairs.push((self.series.names[*c].as_str(), s));
                    }
                }
            }
            let l = Labels::from_sorted(pairs).ok_or_else(|| {
                StorageError::corrupt(format!(
                    "{}: label names out of order",
                    self.block.what(SERIES_FILE)
                ))
            })?;
            if self.full_labels {
                if l.is_empty() || self.last.as_ref().is_some_and(|p| *p >= l) {
                    return Err(StorageError::corrupt(format!(
                        "{}: series {l} is out of order, duplicated or without labels",
                        self.block.what(SERIES_FILE)
                    )));
                }
                self.last = Some(l.clone());
            }
            out.push(l);
        }
        Ok(out)
    }

    /// Reads the chunks of the next batch of rows of the current group.
    fn read_batch(&mut self) -> Result<(), StorageError> {
        let Some(mut g) = self.group.take() else {
            return Ok(());
        };
        let r = self.read_batch_of(&mut g);
        self.group = Some(g);
        r
    }

    fn read_batch_of(&mut self, g: &mut Group) -> Result<(), StorageError> {
        let end = (g.next + BATCH_ROWS).min(g.rows.len());
        let start = g.next;
        g.next = end;
        if self.skip_chunks {
            for i in start..end {
                self.ready.push_back(StorageSeries {
                    labels: std::mem::take(&mut g.labels[i]),
                    chunks: Vec::new(),
                });
            }
            return Ok(());
        }
        let f = self.chunks()?.clone();
        let what = self.block.what(CHUNKS_FILE);
        let batch = &g.rows[start..end];
        let limiter = &self.limiter;
        let mut refs: Vec<&mut ColumnCursor<ByteArrayType>> =
            g.windows.iter_mut().map(|(_, c)| c).collect();
        prefetch(&self.fetcher, &self.ctx, &f.obj, &mut refs, batch, |n| {
            limiter.add_chunk_bytes(n)
        })
        .map_err(|e| e.in_file(&what))?;
        let mut out: Vec<Vec<ChunkData>> = vec![Vec::new(); batch.len()];
        let (mint, maxt) = (self.mint, self.maxt);
        let layout = self.block.layout;
        let group = g.index;
        for (w, cur) in &mut g.windows {
            let ws = layout.window_start(*w);
            let w = *w;
            cur.read(batch, |i, v| {
                let Some(cell) = v else { return Ok(()) };
                for c in cell_chunks(cell.data(), ws) {
                    let c = c.map_err(|m| {
                        ReadError::corrupt(format!("row group {group} window {w}: {m}"))
                    })?;
                    if c.max_t >= mint && c.min_t <= maxt {
                        out[i].push(c.to_chunk_data());
                    }
                }
                Ok(())
            })
            .map_err(|e| e.in_file(&what))?;
        }
        for (i, chunks) in out.into_iter().enumerate() {
            if !chunks.is_empty() {
                self.ready.push_back(StorageSeries {
                    labels: std::mem::take(&mut g.labels[start + i]),
                    chunks,
                });
            }
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.matches_nothing {
            return Ok(None);
        }
        loop {
            if let Some(s) = self.ready.pop_front() {
                return Ok(Some(s));
            }
            if let Some(g) = &self.group
                && g.next < g.rows.len()
            {
                self.read_batch()?;
                continue;
            }
            self.group = None;
            if self.next_group >= self.series.group_rows.len() {
                return Ok(None);
            }
            let g = self.next_group;
            self.next_group += 1;
            self.ctx.check()?;
            self.group = self.load_group(g)?;
        }
    }
}

impl SeriesSource for BlockScan {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.done {
            return Ok(None);
        }
        // The parquet crate may still panic on input its validation and
        // ours let through; a corrupt file must fail the select, not the
        // process.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.advance()));
        let r = r.unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StorageError::corrupt(format!(
                "block {}: the parquet reader failed: {msg}",
                self.block.ulid()
            )))
        });
        match &r {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => self.done = true,
        }
        r
    }
}

/// The values of `vals` (read at rows `at`) at `rows`, a subset of `at`.
fn align(at: &[u32], vals: Vec<Option<ByteArray>>, rows: &[u32]) -> Vec<Option<ByteArray>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut it = at.iter().zip(vals);
    for r in rows {
        for (a, v) in it.by_ref() {
            if a == r {
                out.push(v);
                break;
            }
        }
    }
    out.resize(rows.len(), None);
    out
}

/// Rows in both sorted, disjoint range lists.
fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let s = a[i].start.max(b[j].start);
        let e = a[i].end.min(b[j].end);
        if s < e {
            out.push(s..e);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Every value of label column `col` in the block's series: from the
/// dictionary pages where a column chunk is all dictionary-encoded, else
/// from its data pages. Empty values are left out.
pub(crate) fn column_values(
    fetcher: &Arc<Fetcher>,
    ctx: &ReadContext,
    block: &Block,
    series: &SeriesFile,
    col: usize,
    out: &mut BTreeSet<String>,
) -> Result<(), StorageError> {
    let what = block.what(SERIES_FILE);
    let err = |e: ReadError| e.in_file(&what);
    let mut dicts: Vec<(usize, Range<u64>)> = Vec::new();
    let mut scan: Vec<usize> = Vec::new();
    for (g, &n) in series.group_rows.iter().enumerate() {
        if n == 0 {
            continue;
        }
        match dictionary_range(&series.md, g, col, &series.chunk_ranges[g][col]) {
            Some(r) => dicts.push((g, r)),
            None => scan.push(g),
        }
    }
    let mut add = |b: &[u8]| -> Result<(), StorageError> {
        let s = std::str::from_utf8(b).map_err(|_| {
            StorageError::corrupt(format!(
                "{what}: column {:?}: invalid utf-8",
                series.names[col]
            ))
        })?;
        if !s.is_empty() && !out.contains(s) {
            out.insert(s.to_string());
        }
        Ok(())
    };
    if !dicts.is_empty() {
        let ranges: Vec<Range<u64>> = dicts.iter().map(|(_, r)| r.clone()).collect();
        let got = fetcher.block_on(ctx, async {
            fetcher
                .ranges(&series.obj, &ranges)
                .await
                .map_err(|e| e.to_storage(&what))
        })?;
        for ((g, r), bytes) in dicts.into_iter().zip(got) {
            let src = PinnedFile::new(series.obj.clone(), fetcher.clone(), ctx.clone());
            src.pin(vec![(r.start, bytes)], false);
            let values = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                dictionary_values(&series.md, g, col, r, src)
            }))
            .unwrap_or_else(|_| Err(ReadError::corrupt("the parquet reader failed")))
            .map_err(err)?;
            for v in values {
                add(&v)?;
            }
        }
    }
    for g in scan {
        ctx.check()?;
        let rows: Vec<u32> = (0..series.group_rows[g] as u32).collect();
        let src = PinnedFile::new(series.obj.clone(), fetcher.clone(), ctx.clone());
        let spec = ChunkSpec {
            md: &series.md,
            group: g,
            col,
            chunk: series.chunk_ranges[g][col].clone(),
        };
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut cur = ColumnCursor::<ByteArrayType>::new(spec, src)?;
            prefetch(
                fetcher,
                ctx,
                &series.obj,
                &mut [&mut cur],
                &rows,
                |_| Ok(()),
            )?;
            let mut vals: Vec<Vec<u8>> = Vec::new();
            cur.read(&rows, |_, v| {
                if let Some(v) = v {
                    vals.push(v.data().to_vec());
                }
                Ok(())
            })?;
            Ok(vals)
        }))
        .unwrap_or_else(|_| Err(ReadError::corrupt("the parquet reader failed")))
        .map_err(err)?;
        for v in read {
            add(&v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_intersection_and_alignment() {
        assert_eq!(
            intersect(std::slice::from_ref(&(0..10)), &[2..4, 6..12]),
            vec![2..4, 6..10]
        );
        assert_eq!(
            intersect(&[0..3, 5..8], std::slice::from_ref(&(3..5))),
            Vec::<Range<usize>>::new()
        );
        assert_eq!(
            intersect(&[0..3, 5..8], std::slice::from_ref(&(1..6))),
            vec![1..3, 5..6]
        );
        let vals: Vec<Option<ByteArray>> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| Some(ByteArray::from(*s)))
            .collect();
        let got = align(&[1, 3, 5, 7], vals, &[3, 7]);
        let got: Vec<&str> = got
            .iter()
            .map(|v| v.as_ref().and_then(|b| b.as_utf8().ok()).unwrap_or("-"))
            .collect();
        assert_eq!(got, vec!["b", "d"]);
    }
}
