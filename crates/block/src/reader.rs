//! Reads Argus blocks from a local directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_model::matcher::matches_all;
use argus_model::storage::{
    ChunkData, LabelRequest, ReadContext, SelectRequest, SeriesSource, SeriesStream, StorageError,
    StorageSeries, label_names_of, label_values_of,
};
use argus_model::{Labels, MatchType, Matcher, Queryable};
use bytes::Bytes;
use parquet::column::reader::{ColumnReaderImpl, get_typed_column_reader};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::reader::{ChunkReader, FileReader, Length, RowGroupReader};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use ulid::Ulid;

use crate::cell::cell_chunks;
use crate::meta::BlockMeta;
use crate::writer::{COL_MAX_TIME, COL_MIN_TIME, WindowLayout, window_column};
use crate::{BlockError, CHUNKS_FILE, META_FILE, SERIES_FILE};

/// A file read with positional reads, so concurrent queries never share a
/// file offset (`std::fs::File`'s `ChunkReader` seeks a shared descriptor).
#[derive(Clone)]
struct PosFile {
    file: Arc<File>,
    len: u64,
}

impl PosFile {
    fn open(path: &Path) -> Result<PosFile, BlockError> {
        let file = File::open(path).map_err(|e| BlockError::io(path, e))?;
        let len = file.metadata().map_err(|e| BlockError::io(path, e))?.len();
        Ok(PosFile {
            file: Arc::new(file),
            len,
        })
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&*self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&*self.file, buf, offset)
        }
    }
}

impl Length for PosFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// A `Read` over a [`PosFile`] from an offset.
struct PosRead {
    file: PosFile,
    pos: u64,
}

impl Read for PosRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl ChunkReader for PosFile {
    type T = std::io::BufReader<PosRead>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::with_capacity(
            64 << 10,
            PosRead {
                file: self.clone(),
                pos: start,
            },
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buf = vec![0u8; length];
        let mut done = 0;
        while done < length {
            let n = self.read_at(&mut buf[done..], start + done as u64)?;
            if n == 0 {
                return Err(parquet::errors::ParquetError::EOF(format!(
                    "expected {length} bytes at offset {start}, file ends after {done}"
                )));
            }
            done += n;
        }
        Ok(buf.into())
    }
}

/// An open Argus block: labels, postings and per-series time ranges in
/// memory, chunk bytes read from `chunks.parquet` on demand.
pub struct BlockReader {
    dir: PathBuf,
    meta: BlockMeta,
    layout: WindowLayout,
    overhang: i64,
    /// Labels by row.
    labels: Vec<Labels>,
    row_min: Vec<i64>,
    row_max: Vec<i64>,
    /// Label name → value → rows (ascending).
    postings: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
    /// First row of each row group, then the row count.
    group_starts: Vec<usize>,
    chunks: SerializedFileReader<PosFile>,
    chunks_path: PathBuf,
    /// Column index of each window in `chunks.parquet`.
    window_cols: Vec<usize>,
    /// Chunks read from `chunks.parquet` so far.
    chunks_read: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("dir", &self.dir)
            .field("ulid", &self.meta.ulid)
            .field("series", &self.labels.len())
            .finish()
    }
}

fn read_column_all<T: parquet::data_type::DataType>(
    rg: &dyn RowGroupReader,
    col: usize,
    rows: usize,
    defs: Option<&mut Vec<i16>>,
    values: &mut Vec<T::T>,
) -> parquet::errors::Result<usize> {
    let mut reader: ColumnReaderImpl<T> = get_typed_column_reader(rg.get_column_reader(col)?);
    let (records, _, _) = reader.read_records(rows, defs, None, values)?;
    Ok(records)
}

impl BlockReader {
    /// Whether the block's `[min_time, max_time)` meets `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.max_time > mint && self.meta.min_time <= maxt
    }

    /// Opens the block in `dir`: reads `meta.json`, loads `series.parquet`
    /// and the time columns of `chunks.parquet`.
    pub fn open(dir: &Path) -> Result<BlockReader, BlockError> {
        let meta = BlockMeta::read(dir)?;
        let meta_path = dir.join(META_FILE);
        let argus = meta.argus.ok_or_else(|| {
            BlockError::corrupt(
                &meta_path,
                "not an argus block: meta.json has no `argus` section",
            )
        })?;
        let layout = WindowLayout {
            min_time: meta.min_time,
            window_ms: argus.chunk_window_ms,
            num_windows: argus.num_windows as usize,
        };

        let series_path = dir.join(SERIES_FILE);
        let (labels, postings, series_groups) = load_series(&series_path)?;

        let chunks_path = dir.join(CHUNKS_FILE);
        let pq = |e| BlockError::parquet(&chunks_path, e);
        let chunks = SerializedFileReader::new_with_options(
            PosFile::open(&chunks_path)?,
            ReadOptionsBuilder::new().with_page_index().build(),
        )
        .map_err(pq)?;
        let schema = chunks.metadata().file_metadata().schema_descr_ptr();
        // Column index by name, checking its type (typed readers panic on a
        // mismatch, so a foreign file must be rejected here).
        let find = |name: &str, ty: parquet::basic::Type| {
            let i = (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == name)
                .ok_or_else(|| {
                    BlockError::corrupt(&chunks_path, format!("missing column {name:?}"))
                })?;
            let c = schema.column(i);
            if c.physical_type() != ty || c.max_rep_level() != 0 {
                return Err(BlockError::corrupt(
                    &chunks_path,
                    format!("column {name:?} is not a flat {ty} column"),
                ));
            }
            Ok(i)
        };
        let min_col = find(COL_MIN_TIME, parquet::basic::Type::INT64)?;
        let max_col = find(COL_MAX_TIME, parquet::basic::Type::INT64)?;
        let window_cols = (0..layout.num_windows)
            .map(|i| find(&window_column(i), parquet::basic::Type::BYTE_ARRAY))
            .collect::<Result<Vec<_>, _>>()?;

        let chunk_groups: Vec<usize> = chunks
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        if chunk_groups != series_groups {
            return Err(BlockError::corrupt(
                &chunks_path,
                format!(
                    "row groups {chunk_groups:?} are not aligned with series.parquet's {series_groups:?}"
                ),
            ));
        }
        let mut group_starts = Vec::with_capacity(chunk_groups.len() + 1);
        let mut row_min = Vec::with_capacity(labels.len());
        let mut row_max = Vec::with_capacity(labels.len());
        let mut start = 0;
        for (g, &n) in chunk_groups.iter().enumerate() {
            group_starts.push(start);
            start += n;
            let rg = chunks.get_row_group(g).map_err(pq)?;
            let a =
                read_column_all::<Int64Type>(&*rg, min_col, n, None, &mut row_min).map_err(pq)?;
            let b =
                read_column_all::<Int64Type>(&*rg, max_col, n, None, &mut row_max).map_err(pq)?;
            if a != n || b != n {
                return Err(BlockError::corrupt(
                    &chunks_path,
                    format!("row group {g}: time columns are short"),
                ));
            }
        }
        group_starts.push(start);

        tracing::debug!(block = %meta.ulid, series = labels.len(), "opened block");
        Ok(BlockReader {
            dir: dir.to_path_buf(),
            meta,
            layout,
            overhang: argus.chunk_overhang_ms.max(0),
            labels,
            row_min,
            row_max,
            postings,
            group_starts,
            chunks,
            chunks_path,
            window_cols,
            chunks_read: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ulid(&self) -> Ulid {
        self.meta.ulid
    }

    pub fn num_series(&self) -> usize {
        self.labels.len()
    }

    /// Chunks this reader has read from `chunks.parquet` (labels-only
    /// selects read none).
    pub fn chunks_read(&self) -> u64 {
        self.chunks_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The labels of every series, by row (sorted).
    pub fn series_labels(&self) -> &[Labels] {
        &self.labels
    }

    /// The row of the series with exactly these labels.
    pub fn find_series(&self, labels: &Labels) -> Option<usize> {
        self.labels.binary_search(labels).ok()
    }

    /// The first and last sample time of the series in `row`.
    pub fn series_time_range(&self, row: usize) -> Option<(i64, i64)> {
        Some((*self.row_min.get(row)?, *self.row_max.get(row)?))
    }

    /// Rows of the series matching every matcher with samples in
    /// `[mint, maxt]`, ascending.
    pub fn matching_series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        self.matching_rows(matchers, mint, maxt)
    }

    /// Rows of series that may match (a superset; `matches_all` decides).
    fn candidates(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut ordered: Vec<&Matcher> = matchers.iter().filter(|m| !m.matches_empty()).collect();
        ordered.sort_by_key(|m| m.kind != MatchType::Equal);
        let mut acc: Option<Vec<u32>> = None;
        for m in ordered {
            let Some(values) = self.postings.get(&m.name) else {
                return Vec::new();
            };
            let list: Vec<u32> = if m.kind == MatchType::Equal {
                values.get(&m.value).cloned().unwrap_or_default()
            } else {
                let mut l: Vec<u32> = values
                    .iter()
                    .filter(|(v, _)| m.matches(v))
                    .flat_map(|(_, rows)| rows.iter().copied())
                    .collect();
                l.sort_unstable();
                l
            };
            let next = match acc {
                None => list,
                Some(a) => argus_model::storage::intersect_sorted(&a, &list),
            };
            if next.is_empty() {
                return next;
            }
            acc = Some(next);
        }
        acc.unwrap_or_else(|| (0..self.labels.len() as u32).collect())
    }

    /// Rows matching every matcher with data in `[mint, maxt]`, ascending.
    fn matching_rows(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        if !self.overlaps(mint, maxt) {
            return Vec::new();
        }
        self.candidates(matchers)
            .into_iter()
            .filter(|&r| {
                let r = r as usize;
                self.row_min[r] <= maxt
                    && self.row_max[r] >= mint
                    && matches_all(matchers, &self.labels[r])
            })
            .collect()
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

    /// Readers of the window columns of row group `group`, positioned at
    /// its first row.
    fn group_cursor(&self, group: usize, windows: &[usize]) -> Result<GroupCursor, BlockError> {
        let pq = |e| BlockError::parquet(&self.chunks_path, e);
        let rg = self.chunks.get_row_group(group).map_err(pq)?;
        let mut readers = Vec::with_capacity(windows.len());
        for &w in windows {
            let reader: ColumnReaderImpl<ByteArrayType> =
                get_typed_column_reader(rg.get_column_reader(self.window_cols[w]).map_err(pq)?);
            readers.push((w, reader));
        }
        Ok(GroupCursor {
            group,
            readers,
            pos: self.group_starts[group],
        })
    }

    /// Chunks overlapping `[mint, maxt]` of each row in `rows` (ascending,
    /// all in the cursor's row group at or after its position).
    fn read_batch(
        &self,
        cursor: &mut GroupCursor,
        rows: &[u32],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Vec<ChunkData>>, BlockError> {
        let path = &self.chunks_path;
        let pq = |e| BlockError::parquet(path, e);
        let g = cursor.group;
        let short = || BlockError::corrupt(path, format!("row group {g}: short column"));
        let mut out: Vec<Vec<ChunkData>> = vec![Vec::new(); rows.len()];
        let mut defs: Vec<i16> = Vec::new();
        let mut values: Vec<ByteArray> = Vec::new();
        let mut end = cursor.pos;
        for (w, reader) in &mut cursor.readers {
            let (w, ws) = (*w, self.layout.window_start(*w));
            let mut pos = cursor.pos;
            let mut k = 0;
            while k < rows.len() {
                // A run of consecutive rows.
                let run_start = rows[k] as usize;
                let mut run_end = run_start + 1;
                let mut m = k + 1;
                while m < rows.len() && rows[m] as usize == run_end {
                    run_end += 1;
                    m += 1;
                }
                let skip = run_start - pos;
                if skip > 0 && reader.skip_records(skip).map_err(pq)? != skip {
                    return Err(short());
                }
                defs.clear();
                values.clear();
                let want = run_end - run_start;
                let (got, _, _) = reader
                    .read_records(want, Some(&mut defs), None, &mut values)
                    .map_err(pq)?;
                if got != want || defs.len() != want {
                    return Err(short());
                }
                let mut vi = 0;
                for (d, &def) in defs.iter().enumerate() {
                    if def == 0 {
                        continue;
                    }
                    let cell = values.get(vi).ok_or_else(|| {
                        BlockError::corrupt(path, format!("row group {g}: missing value"))
                    })?;
                    vi += 1;
                    let slot = &mut out[k + d];
                    for c in cell_chunks(cell.data(), ws) {
                        let c = c.map_err(|m| {
                            BlockError::corrupt(
                                path,
                                format!("series {}: window {w}: {m}", self.labels[run_start + d]),
                            )
                        })?;
                        if c.max_t >= mint && c.min_t <= maxt {
                            slot.push(c.to_chunk_data());
                        }
                    }
                }
                pos = run_end;
                k = m;
            }
            end = pos;
        }
        cursor.pos = end;
        let n: usize = out.iter().map(Vec::len).sum();
        self.chunks_read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(out)
    }

    /// The select of [`Queryable::select`] as a source over any handle to
    /// the block (a reference, or an `Arc` a database keeps alive while the
    /// stream is read).
    pub fn series_source<B>(block: B, req: &SelectRequest) -> BlockSeriesSource<B>
    where
        B: std::borrow::Borrow<BlockReader> + Send,
    {
        let b: &BlockReader = block.borrow();
        let rows = if req.is_empty_range() {
            Vec::new()
        } else {
            b.matching_rows(&req.matchers, req.mint, req.maxt)
        };
        let windows = if req.hints.skip_chunks {
            Vec::new()
        } else {
            b.windows_for(req.mint, req.maxt)
        };
        BlockSeriesSource {
            block,
            rows,
            next: 0,
            mint: req.mint,
            maxt: req.maxt,
            skip_chunks: req.hints.skip_chunks,
            windows,
            cursor: None,
            ready: std::collections::VecDeque::new(),
        }
    }
}

/// Matching rows read per batch: enough for runs of consecutive rows to
/// pay off, few enough that a stream holds little at a time.
const BATCH_ROWS: usize = 64;

/// Column readers walking one row group of `chunks.parquet` in row order.
struct GroupCursor {
    group: usize,
    readers: Vec<(usize, ColumnReaderImpl<ByteArrayType>)>,
    /// The next row (block-wide) every reader is at.
    pos: usize,
}

/// The series of one block for a select, read a batch of rows at a time:
/// memory is bounded by the batch, not by the answer.
pub struct BlockSeriesSource<B> {
    block: B,
    /// Matching rows, ascending (so in label order).
    rows: Vec<u32>,
    /// Index in `rows` of the next row to read.
    next: usize,
    mint: i64,
    maxt: i64,
    skip_chunks: bool,
    windows: Vec<usize>,
    cursor: Option<GroupCursor>,
    ready: std::collections::VecDeque<StorageSeries>,
}

impl<B: std::borrow::Borrow<BlockReader>> BlockSeriesSource<B> {
    /// Reads the next batch of rows, all from one row group.
    fn fill(&mut self) -> Result<(), BlockError> {
        let b: &BlockReader = self.block.borrow();
        while self.ready.is_empty() && self.next < self.rows.len() {
            let first = self.rows[self.next] as usize;
            if self.skip_chunks {
                let end = (self.next + BATCH_ROWS).min(self.rows.len());
                self.ready
                    .extend(self.rows[self.next..end].iter().map(|&r| StorageSeries {
                        labels: b.labels[r as usize].clone(),
                        chunks: Vec::new(),
                    }));
                self.next = end;
                break;
            }
            let group = b.group_starts.partition_point(|&s| s <= first) - 1;
            let group_end = b.group_starts[group + 1];
            let mut end = self.next;
            while end < self.rows.len()
                && end - self.next < BATCH_ROWS
                && (self.rows[end] as usize) < group_end
            {
                end += 1;
            }
            let cursor = match self.cursor.take() {
                Some(c) if c.group == group => c,
                _ => b.group_cursor(group, &self.windows)?,
            };
            let cursor = self.cursor.insert(cursor);
            let batch = &self.rows[self.next..end];
            let chunks = b.read_batch(cursor, batch, self.mint, self.maxt)?;
            for (&r, chunks) in batch.iter().zip(chunks) {
                if !chunks.is_empty() {
                    self.ready.push_back(StorageSeries {
                        labels: b.labels[r as usize].clone(),
                        chunks,
                    });
                }
            }
            self.next = end;
        }
        Ok(())
    }
}

impl<B: std::borrow::Borrow<BlockReader> + Send> SeriesSource for BlockSeriesSource<B> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        if self.ready.is_empty() {
            self.fill()?;
        }
        Ok(self.ready.pop_front())
    }
}

type Postings = BTreeMap<String, BTreeMap<String, Vec<u32>>>;

/// Reads every row of `series.parquet`: labels, postings, row group sizes.
fn load_series(path: &Path) -> Result<(Vec<Labels>, Postings, Vec<usize>), BlockError> {
    let pq = |e| BlockError::parquet(path, e);
    let reader = SerializedFileReader::new(PosFile::open(path)?).map_err(pq)?;
    let md = reader.metadata();
    let schema = md.file_metadata().schema_descr_ptr();
    let mut names = Vec::with_capacity(schema.num_columns());
    for i in 0..schema.num_columns() {
        let c = schema.column(i);
        if c.physical_type() != parquet::basic::Type::BYTE_ARRAY || c.max_rep_level() != 0 {
            return Err(BlockError::corrupt(
                path,
                format!("column {:?} is not an optional string column", c.name()),
            ));
        }
        names.push(c.name().to_string());
    }
    // Columns in label-name order, to build sorted label sets.
    let mut by_name: Vec<usize> = (0..names.len()).collect();
    by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
    if by_name.windows(2).any(|w| names[w[0]] == names[w[1]]) {
        return Err(BlockError::corrupt(path, "duplicate label column"));
    }

    let total = md.file_metadata().num_rows().max(0) as usize;
    let mut labels = Vec::with_capacity(total);
    let mut postings: Postings = BTreeMap::new();
    let mut groups = Vec::with_capacity(md.num_row_groups());
    let mut cols: Vec<Vec<Option<ByteArray>>> = vec![Vec::new(); names.len()];
    for g in 0..md.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(pq)?;
        let n = rg.metadata().num_rows().max(0) as usize;
        groups.push(n);
        for (c, col) in cols.iter_mut().enumerate() {
            let mut defs = Vec::with_capacity(n);
            let mut values = Vec::with_capacity(n);
            let got = read_column_all::<ByteArrayType>(&*rg, c, n, Some(&mut defs), &mut values)
                .map_err(pq)?;
            if got != n || defs.len() != n {
                return Err(BlockError::corrupt(
                    path,
                    format!("row group {g}: column {:?} is short", names[c]),
                ));
            }
            col.clear();
            let mut vals = values.into_iter();
            for d in defs {
                col.push(if d > 0 { vals.next() } else { None });
            }
        }
        #[allow(clippy::needless_range_loop)] // `r` indexes every column
        for r in 0..n {
            let row = labels.len() as u32;
            let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(names.len());
            for &c in &by_name {
                if let Some(v) = &cols[c][r] {
                    let v = std::str::from_utf8(v.data()).map_err(|_| {
                        BlockError::corrupt(path, format!("column {:?}: invalid utf-8", names[c]))
                    })?;
                    if !v.is_empty() {
                        pairs.push((names[c].as_str(), v));
                    }
                }
            }
            for &(n, v) in &pairs {
                // Look up before allocating: most names and values repeat.
                let values = match postings.get_mut(n) {
                    Some(m) => m,
                    None => postings.entry(n.to_string()).or_default(),
                };
                match values.get_mut(v) {
                    Some(rows) => rows.push(row),
                    None => {
                        values.insert(v.to_string(), vec![row]);
                    }
                }
            }
            let l = Labels::from_sorted(pairs)
                .ok_or_else(|| BlockError::corrupt(path, "label names out of order"))?;
            if let Some(prev) = labels.last()
                && *prev >= l
            {
                return Err(BlockError::corrupt(
                    path,
                    format!("series {l} is out of order or duplicated"),
                ));
            }
            labels.push(l);
        }
    }
    Ok((labels, postings, groups))
}

impl Queryable for BlockReader {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        Ok(SeriesStream::new(
            BlockReader::series_source(self, req),
            req,
            ctx,
        ))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        if !self.overlaps(req.mint, req.maxt) {
            return Ok(Vec::new());
        }
        let names: Vec<String> = if req.matchers.is_empty() {
            self.postings.keys().cloned().collect()
        } else {
            let rows = self.matching_rows(&req.matchers, req.mint, req.maxt);
            label_names_of(rows.iter().map(|&r| &self.labels[r as usize]))
        };
        Ok(req.limited(names))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        if !self.overlaps(req.mint, req.maxt) {
            return Ok(Vec::new());
        }
        let Some(values) = self.postings.get(name) else {
            return Ok(Vec::new());
        };
        let values: Vec<String> = if req.matchers.is_empty() {
            values.keys().cloned().collect()
        } else {
            let rows = self.matching_rows(&req.matchers, req.mint, req.maxt);
            label_values_of(name, rows.iter().map(|&r| &self.labels[r as usize]))
        };
        Ok(req.limited(values))
    }
}

/// What a directory entry under a blocks directory is.
enum Entry {
    Block(Ulid),
    Temporary,
    Other,
}

fn classify(name: &str) -> Entry {
    if let Some((id, rest)) = name.split_once('.') {
        if rest.starts_with("tmp") && Ulid::from_string(id).is_ok() {
            return Entry::Temporary;
        }
        return Entry::Other;
    }
    match Ulid::from_string(name) {
        Ok(u) => Entry::Block(u),
        Err(_) => Entry::Other,
    }
}

/// The subdirectories of `dir` with what their names say they are; a
/// missing `dir` has none.
fn subdirs(dir: &Path) -> Result<Vec<(PathBuf, Entry)>, BlockError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BlockError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| BlockError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            out.push((path, classify(&entry.file_name().to_string_lossy())));
        }
    }
    Ok(out)
}

/// Metas of the complete blocks in `dir`, sorted by `min_time` (then ULID).
/// Directories that are not named by a ULID, temporary directories and
/// directories without `meta.json` are skipped. A missing `dir` has none.
pub fn list_local_blocks(dir: &Path) -> Result<Vec<BlockMeta>, BlockError> {
    let mut out = Vec::new();
    for (path, kind) in subdirs(dir)? {
        let Entry::Block(id) = kind else { continue };
        if !path.join(META_FILE).exists() {
            continue;
        }
        let meta = BlockMeta::read(&path)?;
        if meta.ulid != id {
            tracing::warn!(dir = %path.display(), ulid = %meta.ulid, "block directory name differs from its meta.json ulid");
        }
        out.push(meta);
    }
    out.sort_by(|a, b| a.min_time.cmp(&b.min_time).then(a.ulid.cmp(&b.ulid)));
    Ok(out)
}

/// Removes what interrupted writes leave in `dir`: `<ULID>.tmp-*`
/// directories and `<ULID>` directories without `meta.json`. Returns the
/// removed paths. Entries not named by a ULID are never touched.
pub fn cleanup_partial(dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let mut removed = Vec::new();
    for (path, kind) in subdirs(dir)? {
        let remove = match kind {
            Entry::Temporary => true,
            Entry::Block(_) => !path.join(META_FILE).exists(),
            Entry::Other => false,
        };
        if remove {
            std::fs::remove_dir_all(&path).map_err(|e| BlockError::io(&path, e))?;
            tracing::info!(dir = %path.display(), "removed partial block");
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        crate::fsync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{counters, spec};
    use crate::writer::{BlockSeries, write_block};
    use argus_model::QueryableExt;
    use argus_model::Sample;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (2 * H);

    fn m(kind: MatchType, n: &str, v: &str) -> Matcher {
        Matcher::new(kind, n, v).expect("matcher")
    }

    fn open(dir: &Path, series: &[BlockSeries], min: i64, max: i64) -> BlockReader {
        let meta = write_block(dir, &spec(min, max), series).expect("write");
        BlockReader::open(&dir.join(meta.ulid.to_string())).expect("open")
    }

    fn samples_in(s: &[Sample], mint: i64, maxt: i64) -> Vec<Sample> {
        s.iter()
            .filter(|x| x.t >= mint && x.t <= maxt)
            .copied()
            .collect()
    }

    #[test]
    fn select_all_returns_identical_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (series, _) = counters(50, T0, T0 + 2 * H, 15_000, 3, 1);
        let r = open(dir.path(), &series, T0, T0 + 2 * H);
        assert_eq!(r.num_series(), 50);
        assert_eq!(r.meta().stats.num_series, 50);
        let chunks: usize = series.iter().map(|s| s.chunks.len()).sum();
        assert_eq!(r.meta().stats.num_chunks, chunks as u64);
        let got = r.select_all(&[], i64::MIN, i64::MAX).expect("select");
        assert_eq!(got.len(), series.len());
        for (g, w) in got.iter().zip(&series) {
            assert_eq!(g.labels, w.labels);
            assert_eq!(g.chunks.len(), w.chunks.len());
            for (a, b) in g.chunks.iter().zip(&w.chunks) {
                assert_eq!((a.min_t, a.max_t), (b.min_t, b.max_t));
                assert_eq!(&a.bytes[..], &b.bytes[..]);
            }
        }
    }

    #[test]
    fn time_ranges_and_matchers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (series, samples) = counters(60, T0, T0 + 6 * H, 15_000, 0, 2);
        let r = open(dir.path(), &series, T0, T0 + 6 * H);
        for (mint, maxt) in [
            (T0, T0 + 6 * H),
            (T0 + H + 7, T0 + H + 60_000),
            (T0 + 3 * H, T0 + 3 * H),
            (T0 + 5 * H + 59 * 60_000, T0 + 9 * H),
            (T0 - H, T0 + 10_000),
        ] {
            let got = r.select_all(&[], mint, maxt).expect("select");
            let want: Vec<(Labels, Vec<Sample>)> = series
                .iter()
                .zip(&samples)
                .map(|(s, x)| (s.labels.clone(), samples_in(x, mint, maxt)))
                .filter(|(_, x)| !x.is_empty())
                .collect();
            assert_eq!(got.len(), want.len(), "range {mint}..{maxt}");
            for (g, (l, x)) in got.iter().zip(&want) {
                assert_eq!(&g.labels, l);
                assert_eq!(&g.decode(mint, maxt).expect("decode"), x);
                assert!(g.chunks.iter().all(|c| c.max_t >= mint && c.min_t <= maxt));
            }
        }
        assert!(
            r.select_all(&[], T0 + 6 * H, T0 + 7 * H)
                .expect("select")
                .is_empty()
        );

        let name = m(MatchType::Equal, "__name__", "metric_3_total");
        let got = r
            .select_all(std::slice::from_ref(&name), T0, T0 + 6 * H)
            .expect("select");
        assert!(!got.is_empty());
        assert!(
            got.iter()
                .all(|s| s.labels.metric_name() == Some("metric_3_total"))
        );
        let want = series
            .iter()
            .filter(|s| s.labels.metric_name() == Some("metric_3_total"))
            .count();
        assert_eq!(got.len(), want);

        let cases = vec![
            vec![
                m(MatchType::Regex, "job", "job[01]"),
                m(MatchType::NotEqual, "code", "404"),
            ],
            vec![m(MatchType::NotRegex, "instance", "host-1.*")],
            vec![m(MatchType::Equal, "missing", "")],
            vec![m(MatchType::Equal, "missing", "x")],
            vec![m(MatchType::Regex, "code", "")],
            vec![name.clone(), m(MatchType::Equal, "job", "job0")],
        ];
        for ms in cases {
            let got: Vec<Labels> = r
                .select_all(&ms, T0, T0 + 6 * H)
                .expect("select")
                .into_iter()
                .map(|s| s.labels)
                .collect();
            let want: Vec<Labels> = series
                .iter()
                .filter(|s| matches_all(&ms, &s.labels))
                .map(|s| s.labels.clone())
                .collect();
            assert_eq!(got, want, "{ms:?}");
        }

        let names = r.label_names_all(&[], T0, T0 + H).expect("names");
        assert_eq!(names, vec!["__name__", "code", "instance", "job"]);
        let names = r
            .label_names_all(std::slice::from_ref(&name), T0, T0 + H)
            .expect("names");
        assert_eq!(names.len(), 4);
        assert!(
            r.label_names_all(&[], T0 + 7 * H, T0 + 8 * H)
                .expect("names")
                .is_empty()
        );
        let codes = r.label_values_all("code", &[], T0, T0 + H).expect("values");
        assert_eq!(codes, vec!["200", "404", "500"]);
        let jobs = r
            .label_values_all("job", &[m(MatchType::Equal, "code", "404")], T0, T0 + H)
            .expect("values");
        assert_eq!(jobs, vec!["job1"]);
        assert!(
            r.label_values_all("nope", &[], T0, T0 + H)
                .expect("values")
                .is_empty()
        );
    }

    #[test]
    fn many_row_groups_stay_aligned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = crate::writer::ROW_GROUP_MAX_ROWS + 300;
        let (series, _) = counters(n, T0, T0 + 10 * 60_000, 60_000, 0, 3);
        let r = open(dir.path(), &series, T0, T0 + 2 * H);
        assert_eq!(r.group_starts.len(), 3);
        // A few rows from each group, not contiguous.
        let pick = [0usize, 5, 6, 8191, 8192, 8200, n - 1];
        let re = pick
            .iter()
            .map(|&i| regex_escape(series[i].labels.get_or_empty("instance")))
            .collect::<Vec<_>>()
            .join("|");
        let ms = [m(MatchType::Regex, "instance", &re)];
        let got = r.select_all(&ms, T0, T0 + 2 * H).expect("select");
        let want: Vec<&BlockSeries> = series
            .iter()
            .filter(|s| matches_all(&ms, &s.labels))
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.labels, w.labels);
            assert_eq!(&g.chunks[0].bytes[..], &w.chunks[0].bytes[..]);
        }
    }

    fn regex_escape(s: &str) -> String {
        s.chars()
            .flat_map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    vec![c]
                } else {
                    vec!['\\', c]
                }
            })
            .collect()
    }

    #[test]
    fn rejects_unsorted_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut series, _) = counters(5, T0, T0 + H, 15_000, 0, 4);
        series.swap(1, 2);
        let e = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).err();
        assert!(e.is_some_and(|e| e.to_string().contains("sorts after")));
        series.swap(1, 2);
        series[2] = series[1].clone();
        let e = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).err();
        assert!(e.is_some_and(|e| e.to_string().contains("duplicate series")));
        let (series, _) = counters(5, T0, T0 + 3 * H, 15_000, 0, 4);
        let e = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).err();
        assert!(e.is_some_and(|e| e.to_string().contains("outside the block")));
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read_dir").collect();
        assert!(left.is_empty());
    }

    #[test]
    fn empty_block_and_series_without_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = open(dir.path(), &[], T0, T0 + 2 * H);
        assert_eq!(r.num_series(), 0);
        assert!(
            r.select_all(&[], T0, T0 + 2 * H)
                .expect("select")
                .is_empty()
        );
        let (mut series, _) = counters(3, T0, T0 + H, 15_000, 0, 5);
        series[1].chunks.clear();
        let r = open(dir.path(), &series, T0, T0 + 2 * H);
        assert_eq!(r.num_series(), 2);
    }

    #[test]
    fn local_listing_and_cleanup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (series, _) = counters(3, T0, T0 + H, 15_000, 0, 6);
        let b = write_block(dir.path(), &spec(T0 + 2 * H, T0 + 4 * H), &[]).expect("write");
        let a = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).expect("write");
        let partial = dir.path().join(Ulid::new().to_string());
        std::fs::create_dir(&partial).expect("mkdir");
        let tmp = dir.path().join(format!("{}.tmp-for-creation", Ulid::new()));
        std::fs::create_dir(&tmp).expect("mkdir");
        std::fs::create_dir(dir.path().join("wal")).expect("mkdir");
        let metas = list_local_blocks(dir.path()).expect("list");
        let ids: Vec<Ulid> = metas.iter().map(|m| m.ulid).collect();
        assert_eq!(ids, vec![a.ulid, b.ulid]);
        let mut removed = cleanup_partial(dir.path()).expect("cleanup");
        removed.sort();
        let mut want = vec![partial, tmp];
        want.sort();
        assert_eq!(removed, want);
        assert!(dir.path().join("wal").exists());
        assert_eq!(list_local_blocks(dir.path()).expect("list").len(), 2);
        assert!(
            list_local_blocks(&dir.path().join("none"))
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (series, _) = counters(30, T0, T0 + 2 * H, 15_000, 3, 8);
        let meta = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).expect("write");
        let bdir = dir.path().join(meta.ulid.to_string());
        let path = bdir.join(CHUNKS_FILE);
        let good = std::fs::read(&path).expect("read");
        // Truncated: the footer is gone.
        std::fs::write(&path, &good[..good.len() / 2]).expect("write");
        let e = BlockReader::open(&bdir).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("chunks.parquet")));
        // Garbage in the data pages: open may work, reads fail cleanly.
        let mut bad = good.clone();
        for b in bad.iter_mut().skip(200).take(good.len() / 2) {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bad).expect("write");
        if let Ok(r) = BlockReader::open(&bdir) {
            let _ = r.select_all(&[], i64::MIN, i64::MAX);
        }
        // A missing file.
        std::fs::remove_file(&path).expect("rm");
        let e = BlockReader::open(&bdir).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("chunks.parquet")));
        // A meta.json that is not JSON.
        std::fs::write(bdir.join(META_FILE), b"{").expect("write");
        let e = BlockReader::open(&bdir).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("invalid meta.json")));
    }

    #[test]
    fn files_are_plain_parquet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (series, _) = counters(10, T0, T0 + 2 * H, 15_000, 0, 7);
        let meta = write_block(dir.path(), &spec(T0, T0 + 2 * H), &series).expect("write");
        let bdir = dir.path().join(meta.ulid.to_string());
        // The generic record reader sees string columns and binary cells.
        let f = File::open(bdir.join(SERIES_FILE)).expect("open");
        let r = SerializedFileReader::new(f).expect("parquet");
        let rows: Vec<String> = r
            .get_row_iter(None)
            .expect("rows")
            .map(|row| row.expect("row").to_string())
            .collect();
        assert_eq!(rows.len(), 10);
        assert!(
            rows[0].starts_with("{__name__: \"metric_0_total\""),
            "{}",
            rows[0]
        );
        let f = File::open(bdir.join(CHUNKS_FILE)).expect("open");
        let r = SerializedFileReader::new(f).expect("parquet");
        let kv = r
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        assert!(
            kv.iter()
                .any(|k| k.key == "argus.chunk_window_ms" && k.value.as_deref() == Some("1800000"))
        );
        assert_eq!(r.metadata().file_metadata().schema_descr().num_columns(), 6);
        // Every column has an offset index, so readers can skip pages.
        for rg in r.metadata().row_groups() {
            assert!(
                rg.columns()
                    .iter()
                    .all(|c| c.offset_index_range().is_some())
            );
        }
        assert_eq!(r.get_row_iter(None).expect("rows").count(), 10);
        let sizes: Vec<(String, u64)> = meta
            .thanos
            .files
            .iter()
            .map(|f| (f.rel_path.clone(), f.size_bytes))
            .collect();
        for (p, s) in sizes {
            if p != META_FILE {
                assert_eq!(std::fs::metadata(bdir.join(&p)).expect("stat").len(), s);
            }
        }
    }
}
