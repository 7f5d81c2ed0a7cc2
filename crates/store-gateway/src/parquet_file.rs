//! The two Parquet files of a block as read from the bucket: footers
//! fetched with ranged GETs and validated before any typed reader touches
//! them, and column cursors that read chosen rows through pages fetched
//! ahead of time.

use std::io::Cursor;
use std::ops::Range;
use std::sync::Arc;

use argus_block::writer::{COL_MAX_TIME, COL_MIN_TIME, window_column};
use argus_model::storage::{ReadContext, StorageError};
use bytes::Bytes;
use parking_lot::Mutex;
use parquet::basic::{ColumnOrder, Encoding, SortOrder, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::DataType;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataPushDecoder};
use parquet::file::page_index::offset_index::PageLocation;
use parquet::file::properties::{ReaderProperties, ReaderPropertiesPtr};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::ColumnDescPtr;

use crate::cache::{CacheKey, CacheValue};
use crate::fetch::{FetchError, Fetcher, ObjectRef};

/// The first read of a footer: the metadata and page index of a small
/// block (a whole small file, which is then cached whole); larger footers
/// take a second GET.
const FOOTER_PREFETCH: u64 = 16 << 10;

/// Why reading a block file failed; [`ReadError::in_file`] names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("{0}")]
    Corrupt(String),
    /// Canceled, past the deadline, over a limit: reported as it is.
    #[error("{0}")]
    Interrupted(StorageError),
}

impl From<StorageError> for ReadError {
    fn from(e: StorageError) -> Self {
        ReadError::Interrupted(e)
    }
}

impl ReadError {
    pub(crate) fn corrupt(message: impl Into<String>) -> ReadError {
        ReadError::Corrupt(message.into())
    }

    /// The storage error of this failure in `what` ("block X series.parquet").
    pub(crate) fn in_file(self, what: &str) -> StorageError {
        match self {
            ReadError::Fetch(e) => e.to_storage(what),
            ReadError::Parquet(e) => StorageError::corrupt(format!("{what}: parquet: {e}")),
            ReadError::Corrupt(m) => StorageError::corrupt(format!("{what}: {m}")),
            ReadError::Interrupted(e) => e,
        }
    }
}

/// Reads the footer of `path`: one suffix GET, then whatever else the
/// decoder asks for. `expected_len` is the size `meta.json` lists.
pub(crate) async fn load_metadata(
    fetcher: &Fetcher,
    path: &object_store::path::Path,
    expected_len: Option<u64>,
) -> Result<(ObjectRef, ParquetMetaData), ReadError> {
    let (range, data, len) = fetcher.get_suffix(path, FOOTER_PREFETCH).await?;
    if let Some(want) = expected_len
        && want != len
    {
        return Err(ReadError::corrupt(format!(
            "the object has {len} bytes, meta.json lists {want}: truncated or replaced"
        )));
    }
    let obj = ObjectRef {
        path: path.clone(),
        key: Arc::from(path.as_ref()),
        len,
    };
    let mut decoder =
        ParquetMetaDataPushDecoder::try_new(len)?.with_page_index_policy(PageIndexPolicy::Optional);
    decoder.push_range(range.clone(), data.clone())?;
    // The footer, then the metadata, then the page index: a few rounds at
    // most. The decoder parses untrusted bytes; a panic in it is a corrupt
    // file, not a crash.
    for _ in 0..8 {
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.try_decode()))
            .map_err(|_| ReadError::corrupt("the footer does not decode"))?;
        match step? {
            parquet::DecodeResult::Data(md) => {
                keep_tail(fetcher, &obj, &md, range, &data);
                return Ok((obj, md));
            }
            parquet::DecodeResult::NeedsData(ranges) => {
                let mut bufs = Vec::with_capacity(ranges.len());
                for r in &ranges {
                    bufs.push(fetcher.get_range(&obj, r.clone()).await?);
                }
                decoder.push_ranges(ranges, bufs)?;
            }
            parquet::DecodeResult::Finished => break,
        }
    }
    Err(ReadError::corrupt("the footer does not decode"))
}

/// Caches the data pages that came with the footer read (`data` at
/// `range`), so reading them costs no second GET: all of a small file,
/// the last pages of a large one.
fn keep_tail(
    fetcher: &Fetcher,
    obj: &ObjectRef,
    md: &ParquetMetaData,
    range: Range<u64>,
    data: &Bytes,
) {
    let data_end = md
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .filter_map(|c| {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            u64::try_from(start.checked_add(c.compressed_size())?).ok()
        })
        .max()
        .unwrap_or(0)
        .min(range.end);
    if data_end <= range.start {
        return;
    }
    let pages = data.slice(..(data_end - range.start) as usize);
    // Copied, so the footer bytes after them are not kept alive.
    let pages = Bytes::copy_from_slice(&pages);
    let size = pages.len();
    fetcher.cache.insert(
        CacheKey::Tail {
            object: obj.key.clone(),
        },
        CacheValue::At(range.start, pages),
        size,
    );
}

/// Checks what the readers would otherwise trust: column chunk offsets and
/// sizes within the file, and page locations within their column chunk,
/// starting at row 0 and increasing (the page reader subtracts them
/// unchecked). Returns each column chunk's byte range, by row group.
fn check_layout(md: &ParquetMetaData, file_len: u64) -> Result<Vec<Vec<Range<u64>>>, String> {
    let ncols = md.file_metadata().schema_descr().num_columns();
    let mut out = Vec::with_capacity(md.num_row_groups());
    for (g, rg) in md.row_groups().iter().enumerate() {
        if rg.num_columns() != ncols {
            return Err(format!(
                "row group {g} has {} columns, the schema {ncols}",
                rg.num_columns()
            ));
        }
        let rows = u64::try_from(rg.num_rows())
            .map_err(|_| format!("row group {g}: negative row count"))?;
        let index = md.page_index_for_row_group(g);
        let mut ranges = Vec::with_capacity(ncols);
        for (c, cm) in rg.columns().iter().enumerate() {
            let start = cm.dictionary_page_offset().unwrap_or(cm.data_page_offset());
            let size = cm.compressed_size();
            let bad = || format!("row group {g} column {c}: column chunk outside the file");
            let (start, size) = match (u64::try_from(start), u64::try_from(size)) {
                (Ok(s), Ok(n)) => (s, n),
                _ => return Err(bad()),
            };
            let end = start.checked_add(size).ok_or_else(bad)?;
            if end > file_len || (rows > 0 && size == 0) {
                return Err(bad());
            }
            if let Some(locs) = index.page_locations(c) {
                check_pages(locs, start..end, rows)
                    .map_err(|m| format!("row group {g} column {c}: offset index: {m}"))?;
            }
            ranges.push(start..end);
        }
        out.push(ranges);
    }
    Ok(out)
}

fn check_pages(locs: &[PageLocation], chunk: Range<u64>, rows: u64) -> Result<(), String> {
    if rows == 0 {
        return Ok(());
    }
    if locs.first().map(|p| p.first_row_index) != Some(0) {
        return Err("the first page does not start at row 0".to_string());
    }
    let mut prev: Option<i64> = None;
    for p in locs {
        let first = u64::try_from(p.first_row_index).map_err(|_| "negative row index")?;
        if first >= rows || prev.is_some_and(|q| q >= p.first_row_index) {
            return Err("page rows are not increasing within the row group".to_string());
        }
        prev = Some(p.first_row_index);
        let (off, size) = match (
            u64::try_from(p.offset),
            u64::try_from(p.compressed_page_size),
        ) {
            (Ok(o), Ok(s)) if s > 0 => (o, s),
            _ => return Err("bad page offset or size".to_string()),
        };
        if off < chunk.start || off.checked_add(size).is_none_or(|e| e > chunk.end) {
            return Err("a page lies outside its column chunk".to_string());
        }
    }
    Ok(())
}

/// Whether column `c` is a flat column of `ty` (optional or required as
/// `optional` says): what the typed readers need.
fn is_flat(md: &ParquetMetaData, c: usize, ty: PhysicalType, optional: bool) -> bool {
    let d = md.file_metadata().schema_descr().column(c);
    d.physical_type() == ty
        && d.max_rep_level() == 0
        && d.max_def_level() == i16::from(optional)
        && d.path().parts().len() == 1
}

/// A validated `series.parquet`: one optional string column per label name.
pub(crate) struct SeriesFile {
    pub obj: ObjectRef,
    pub md: Arc<ParquetMetaData>,
    /// Label name of each column.
    pub names: Vec<String>,
    /// Column indexes sorted by label name.
    pub by_name: Vec<usize>,
    /// Whether the column's statistics order values as byte strings, so
    /// they can prune.
    pub prunable: Vec<bool>,
    pub group_rows: Vec<usize>,
    /// Byte range of each column chunk, by row group.
    pub chunk_ranges: Vec<Vec<Range<u64>>>,
}

impl SeriesFile {
    pub(crate) fn new(obj: ObjectRef, md: ParquetMetaData) -> Result<SeriesFile, String> {
        let schema = md.file_metadata().schema_descr_ptr();
        let mut names = Vec::with_capacity(schema.num_columns());
        for c in 0..schema.num_columns() {
            if !is_flat(&md, c, PhysicalType::BYTE_ARRAY, true) {
                return Err(format!(
                    "column {:?} is not an optional string column",
                    schema.column(c).name()
                ));
            }
            names.push(schema.column(c).name().to_string());
        }
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
        if by_name.windows(2).any(|w| names[w[0]] == names[w[1]]) {
            return Err("duplicate label column".to_string());
        }
        let orders = md.file_metadata().column_orders();
        let prunable = (0..names.len())
            .map(|c| {
                orders.and_then(|o| o.get(c)).is_some_and(|o| {
                    matches!(o, ColumnOrder::TYPE_DEFINED_ORDER(SortOrder::UNSIGNED))
                })
            })
            .collect();
        let chunk_ranges = check_layout(&md, obj.len)?;
        let group_rows = md
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        Ok(SeriesFile {
            obj,
            md: Arc::new(md),
            names,
            by_name,
            prunable,
            group_rows,
            chunk_ranges,
        })
    }

    /// The column holding label `name`.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.by_name
            .binary_search_by(|&c| self.names[c].as_str().cmp(name))
            .ok()
            .map(|i| self.by_name[i])
    }

    pub(crate) fn num_rows(&self) -> usize {
        self.group_rows.iter().sum()
    }

    /// What the footer costs in the cache.
    pub(crate) fn size(&self) -> usize {
        self.md.memory_size()
            + self.names.iter().map(|n| n.len() + 48).sum::<usize>()
            + self.chunk_ranges.len() * self.names.len() * 16
    }
}

/// A validated `chunks.parquet`: the time columns and one binary column
/// per window.
pub(crate) struct ChunksFile {
    pub obj: ObjectRef,
    pub md: Arc<ParquetMetaData>,
    pub min_col: usize,
    pub max_col: usize,
    /// Column of each window.
    pub window_cols: Vec<usize>,
    pub group_rows: Vec<usize>,
    pub chunk_ranges: Vec<Vec<Range<u64>>>,
}

impl ChunksFile {
    pub(crate) fn new(
        obj: ObjectRef,
        md: ParquetMetaData,
        num_windows: usize,
    ) -> Result<ChunksFile, String> {
        let schema = md.file_metadata().schema_descr_ptr();
        let find = |name: &str, ty: PhysicalType, optional: bool| {
            let c = (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == name)
                .ok_or_else(|| format!("missing column {name:?}"))?;
            if !is_flat(&md, c, ty, optional) {
                return Err(format!("column {name:?} is not a flat {ty} column"));
            }
            Ok(c)
        };
        let min_col = find(COL_MIN_TIME, PhysicalType::INT64, false)?;
        let max_col = find(COL_MAX_TIME, PhysicalType::INT64, false)?;
        let window_cols = (0..num_windows)
            .map(|w| find(&window_column(w), PhysicalType::BYTE_ARRAY, true))
            .collect::<Result<Vec<_>, _>>()?;
        let chunk_ranges = check_layout(&md, obj.len)?;
        let group_rows = md
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        Ok(ChunksFile {
            obj,
            md: Arc::new(md),
            min_col,
            max_col,
            window_cols,
            group_rows,
            chunk_ranges,
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.md.memory_size() + self.chunk_ranges.len() * self.window_cols.len() * 16 + 256
    }
}

/// The byte source of a column reader: the ranges fetched for its next
/// rows, and a fetch for anything else it asks for (which the page
/// prediction should make rare).
pub(crate) struct PinnedFile {
    obj: ObjectRef,
    pinned: Mutex<Vec<(u64, Bytes)>>,
    fetcher: Arc<Fetcher>,
    ctx: ReadContext,
    /// Why the last fallback read failed, to report it rather than the
    /// parquet error wrapping it.
    failure: Mutex<Option<ReadError>>,
}

impl PinnedFile {
    pub(crate) fn new(obj: ObjectRef, fetcher: Arc<Fetcher>, ctx: ReadContext) -> Arc<PinnedFile> {
        Arc::new(PinnedFile {
            obj,
            pinned: Mutex::new(Vec::new()),
            fetcher,
            ctx,
            failure: Mutex::new(None),
        })
    }

    /// Replaces the pinned ranges (or adds to them with `keep`).
    pub(crate) fn pin(&self, ranges: Vec<(u64, Bytes)>, keep: bool) {
        let mut p = self.pinned.lock();
        if !keep {
            p.clear();
        }
        p.extend(ranges);
    }

    fn find(&self, start: u64, len: u64) -> Option<Bytes> {
        let p = self.pinned.lock();
        p.iter().find_map(|(s, b)| {
            let end = s + b.len() as u64;
            (start >= *s && start + len <= end)
                .then(|| b.slice((start - s) as usize..(start + len - s) as usize))
        })
    }

    /// The rest of the pinned range holding `start`.
    fn find_from(&self, start: u64) -> Option<Bytes> {
        let p = self.pinned.lock();
        p.iter().find_map(|(s, b)| {
            let end = s + b.len() as u64;
            (start >= *s && start < end).then(|| b.slice((start - s) as usize..))
        })
    }

    fn fetch(&self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        tracing::debug!(object = %self.obj.path, start = range.start, end = range.end, "read outside the prefetched pages");
        let fetcher = &self.fetcher;
        let r = fetcher.block_on(&self.ctx, async {
            fetcher
                .ranges(&self.obj, std::slice::from_ref(&range))
                .await
                .map_err(|e| e.to_storage(self.obj.path.as_ref()))
        });
        match r {
            Ok(mut v) => Ok(v.pop().unwrap_or_default()),
            Err(e) => {
                let msg = e.to_string();
                *self.failure.lock() = Some(ReadError::Interrupted(e));
                Err(ParquetError::General(msg))
            }
        }
    }

    /// The error to report for a failed parquet call: the fetch failure
    /// behind it, if there was one.
    pub(crate) fn explain(&self, e: ParquetError) -> ReadError {
        self.failure.lock().take().unwrap_or(ReadError::Parquet(e))
    }
}

impl Length for PinnedFile {
    fn len(&self) -> u64 {
        self.obj.len
    }
}

impl ChunkReader for PinnedFile {
    type T = Cursor<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        if let Some(b) = self.find_from(start) {
            return Ok(Cursor::new(b));
        }
        let end = self.obj.len.min(start.saturating_add(64 << 10));
        if start >= end {
            return Err(ParquetError::EOF(format!("read at {start} past the end")));
        }
        Ok(Cursor::new(self.fetch(start..end)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        if let Some(b) = self.find(start, length as u64) {
            return Ok(b);
        }
        let end = start
            .checked_add(length as u64)
            .filter(|e| *e <= self.obj.len)
            .ok_or_else(|| {
                ParquetError::EOF(format!("read of {length} at {start} past the end"))
            })?;
        self.fetch(start..end)
    }
}

fn reader_props() -> ReaderPropertiesPtr {
    static PROPS: std::sync::OnceLock<ReaderPropertiesPtr> = std::sync::OnceLock::new();
    PROPS
        .get_or_init(|| Arc::new(ReaderProperties::builder().build()))
        .clone()
}

/// One data page: the rows it holds and its bytes.
#[derive(Debug, Clone)]
struct PageSpan {
    first_row: usize,
    end_row: usize,
    bytes: Range<u64>,
}

/// Reads chosen rows of one column chunk in increasing order. Before each
/// read, [`ColumnCursor::pages_for`] says which byte ranges the rows need
/// (pages not handed out before, and the dictionary with the first of
/// them); the caller fetches them and [`ColumnCursor::pin`]s them.
pub(crate) struct ColumnCursor<T: DataType> {
    src: Arc<PinnedFile>,
    reader: ColumnReaderImpl<T>,
    optional: bool,
    /// The next row (within the row group) the reader is at.
    pos: usize,
    /// From the offset index; `None` reads the whole chunk at once.
    pages: Option<Vec<PageSpan>>,
    next_page: usize,
    dict: Option<Range<u64>>,
    whole: Option<Range<u64>>,
    /// Ranges of the last `pages_for`.
    pending: Vec<Range<u64>>,
}

/// What the reader of `col` in row group `group` needs: its descriptor, its
/// chunk metadata and pages.
pub(crate) struct ChunkSpec<'a> {
    pub md: &'a ParquetMetaData,
    pub group: usize,
    pub col: usize,
    pub chunk: Range<u64>,
}

impl<T: DataType> ColumnCursor<T> {
    /// A cursor over a column whose type the file's validation checked.
    pub(crate) fn new(spec: ChunkSpec<'_>, src: Arc<PinnedFile>) -> Result<Self, ReadError> {
        let rg = spec.md.row_group(spec.group);
        let cm = rg.column(spec.col);
        let rows = rg.num_rows() as usize;
        let locs = spec
            .md
            .page_index_for_row_group(spec.group)
            .page_locations(spec.col)
            .cloned();
        let descr: ColumnDescPtr = spec.md.file_metadata().schema_descr().column(spec.col);
        let optional = descr.max_def_level() > 0;
        let (pages, dict, whole) = match &locs {
            Some(l) if !l.is_empty() => {
                let spans = l
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PageSpan {
                        first_row: p.first_row_index as usize,
                        end_row: l.get(i + 1).map_or(rows, |q| q.first_row_index as usize),
                        bytes: p.offset as u64..p.offset as u64 + p.compressed_page_size as u64,
                    })
                    .collect::<Vec<_>>();
                let first = spans[0].bytes.start;
                let dict = (first > spec.chunk.start).then_some(spec.chunk.start..first);
                (Some(spans), dict, None)
            }
            _ => (None, None, Some(spec.chunk.clone())),
        };
        let page_reader = SerializedPageReader::new_with_properties(
            src.clone(),
            cm,
            rows,
            locs.filter(|l| !l.is_empty()),
            reader_props(),
        )?;
        let page_reader: Box<dyn PageReader> = Box::new(page_reader);
        Ok(ColumnCursor {
            src,
            reader: ColumnReaderImpl::new(descr, page_reader),
            optional,
            pos: 0,
            pages,
            next_page: 0,
            dict,
            whole,
            pending: Vec::new(),
        })
    }

    /// The byte ranges reading `rows` (ascending, at or after the cursor)
    /// needs that were not handed out before, and how many of those bytes
    /// are data pages.
    pub(crate) fn pages_for(&mut self, rows: &[u32]) -> (Vec<Range<u64>>, u64) {
        let mut out = Vec::new();
        let mut data = 0u64;
        if rows.is_empty() {
            self.pending.clear();
            return (out, 0);
        }
        match &self.pages {
            None => {
                if let Some(w) = self.whole.take() {
                    data += w.end - w.start;
                    out.push(w);
                }
            }
            Some(pages) => {
                let mut k = 0;
                let mut p = self.next_page;
                while p < pages.len() && k < rows.len() {
                    let span = &pages[p];
                    let r = rows[k] as usize;
                    if r < span.first_row {
                        k += 1;
                    } else if r >= span.end_row {
                        p += 1;
                    } else {
                        data += span.bytes.end - span.bytes.start;
                        out.push(span.bytes.clone());
                        p += 1;
                        self.next_page = p;
                    }
                }
                if !out.is_empty()
                    && let Some(d) = self.dict.take()
                {
                    out.push(d);
                }
            }
        }
        self.pending = out.clone();
        (out, data)
    }

    /// Hands the fetched bytes of the last [`ColumnCursor::pages_for`] to
    /// the reader (`bytes` in the same order).
    pub(crate) fn pin(&mut self, bytes: Vec<Bytes>) {
        let ranges: Vec<(u64, Bytes)> =
            self.pending.drain(..).map(|r| r.start).zip(bytes).collect();
        // Without an offset index the whole chunk stays pinned; with one
        // the reader holds the page it is in, so older pages can go.
        let keep = self.pages.is_none();
        if !ranges.is_empty() || !keep {
            self.src.pin(ranges, keep);
        }
    }

    /// Reads `rows` (ascending, at or after the cursor), calling `f` with
    /// the index in `rows` and the value (`None` for a null).
    pub(crate) fn read(
        &mut self,
        rows: &[u32],
        mut f: impl FnMut(usize, Option<T::T>) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut defs: Vec<i16> = Vec::new();
        let mut values: Vec<T::T> = Vec::new();
        let mut k = 0;
        while k < rows.len() {
            let start = rows[k] as usize;
            if start < self.pos {
                return Err(ReadError::corrupt("rows out of order"));
            }
            let mut end = start + 1;
            let mut m = k + 1;
            while m < rows.len() && rows[m] as usize == end {
                end += 1;
                m += 1;
            }
            let skip = start - self.pos;
            if skip > 0 {
                let got = self
                    .reader
                    .skip_records(skip)
                    .map_err(|e| self.src.explain(e))?;
                if got != skip {
                    return Err(ReadError::corrupt("column is shorter than its row group"));
                }
            }
            defs.clear();
            values.clear();
            let want = end - start;
            let (got, nvalues, _) = self
                .reader
                .read_records(want, self.optional.then_some(&mut defs), None, &mut values)
                .map_err(|e| self.src.explain(e))?;
            if got != want || (self.optional && defs.len() != want) || nvalues > want {
                return Err(ReadError::corrupt("column is shorter than its row group"));
            }
            let mut vals = values.drain(..);
            let mut levels = defs.iter();
            for i in 0..want {
                let present = !self.optional || levels.next().is_some_and(|d| *d > 0);
                let v = if present {
                    Some(
                        vals.next()
                            .ok_or_else(|| ReadError::corrupt("missing value"))?,
                    )
                } else {
                    None
                };
                f(k + i, v)?;
            }
            self.pos = end;
            k = m;
        }
        Ok(())
    }
}

/// Fetches what `cursors` need for their next rows with one batch of GETs
/// and pins it. `charge` is told the data page bytes about to be read
/// (from the bucket or the cache) first, and may refuse them.
pub(crate) fn prefetch<T: DataType>(
    fetcher: &Fetcher,
    ctx: &ReadContext,
    obj: &ObjectRef,
    cursors: &mut [&mut ColumnCursor<T>],
    rows: &[u32],
    charge: impl FnOnce(u64) -> Result<(), StorageError>,
) -> Result<(), ReadError> {
    let mut all: Vec<Range<u64>> = Vec::new();
    let mut counts = Vec::with_capacity(cursors.len());
    let mut data = 0;
    for c in cursors.iter_mut() {
        let (r, d) = c.pages_for(rows);
        counts.push(r.len());
        all.extend(r);
        data += d;
    }
    charge(data)?;
    if all.is_empty() {
        return Ok(());
    }
    let mut got = fetcher
        .block_on(ctx, async {
            fetcher
                .ranges(obj, &all)
                .await
                .map_err(|e| e.to_storage(obj.path.as_ref()))
        })
        .map_err(ReadError::Interrupted)?
        .into_iter();
    for (c, n) in cursors.iter_mut().zip(counts) {
        c.pin(got.by_ref().take(n).collect());
    }
    Ok(())
}

/// The byte range of a column chunk's dictionary page, or `None` when the
/// chunk is not all dictionary-encoded (its dictionary would miss values).
pub(crate) fn dictionary_range(
    md: &ParquetMetaData,
    group: usize,
    col: usize,
    chunk: &Range<u64>,
) -> Option<Range<u64>> {
    let cm = md.row_group(group).column(col);
    cm.dictionary_page_offset()?;
    let all_dict = cm.page_encoding_stats_mask().is_some_and(|m| {
        m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
    });
    if !all_dict {
        return None;
    }
    let first = md
        .page_index_for_row_group(group)
        .page_locations(col)
        .and_then(|l| l.first().map(|p| p.offset as u64))
        .or_else(|| u64::try_from(cm.data_page_offset()).ok())?;
    (first > chunk.start && first <= chunk.end).then_some(chunk.start..first)
}

/// Decodes the dictionary page in `src` (pinned at its range) into values.
pub(crate) fn dictionary_values(
    md: &ParquetMetaData,
    group: usize,
    col: usize,
    range: Range<u64>,
    src: Arc<PinnedFile>,
) -> Result<Vec<Bytes>, ReadError> {
    let rg = md.row_group(group);
    let cm = rg.column(col);
    let loc = PageLocation {
        offset: range.end as i64,
        compressed_page_size: 1,
        first_row_index: 0,
    };
    // A page list starting after the chunk start: the reader takes the
    // space before it as the dictionary page and reads that first.
    let mut reader = SerializedPageReader::new_with_properties(
        src.clone(),
        cm,
        rg.num_rows() as usize,
        Some(vec![loc]),
        reader_props(),
    )?;
    let page = reader.get_next_page().map_err(|e| src.explain(e))?;
    let Some(Page::DictionaryPage {
        buf, num_values, ..
    }) = page
    else {
        return Err(ReadError::corrupt("no dictionary page where expected"));
    };
    let mut out = Vec::with_capacity(num_values as usize);
    let mut pos = 0usize;
    for _ in 0..num_values {
        let len = buf
            .get(pos..pos + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| ReadError::corrupt("dictionary page is truncated"))?;
        pos += 4;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= buf.len())
            .ok_or_else(|| ReadError::corrupt("dictionary page is truncated"))?;
        out.push(buf.slice(pos..end));
        pos = end;
    }
    Ok(out)
}
