//! Writes a block directory from series sorted by labels.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use argus_model::labels::METRIC_NAME;
use argus_model::storage::ChunkData;
use argus_model::{Labels, Sample};
use parquet::basic::{Compression, ConvertedType, Encoding, LogicalType, Repetition, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};
use ulid::Ulid;

use crate::meta::{
    ARGUS_FORMAT, ArgusMeta, BlockDesc, BlockMeta, BlockStats, Compaction, Downsample, FileMeta,
    META_VERSION, ThanosMeta,
};
use crate::{
    BlockError, CHUNKS_FILE, META_FILE, SERIES_FILE, TMP_CREATION_SUFFIX, cell, fsync_dir,
};

/// Chunk windows aim at this width: about one 120-sample chunk at a 15s
/// scrape interval, so a cell usually holds one chunk.
pub const TARGET_WINDOW_MS: i64 = 30 * 60 * 1000;
/// Long (compacted) blocks get wider windows rather than more columns.
pub const MAX_WINDOWS: i64 = 48;
/// Rows per row group, the same in both Parquet files.
pub const ROW_GROUP_MAX_ROWS: usize = 8192;
/// A row group is also cut when its chunk bytes reach this size, so that a
/// row group of a long block stays a bounded read.
pub const ROW_GROUP_MAX_CHUNK_BYTES: usize = 64 << 20;

/// Parquet key-value metadata keys in `chunks.parquet` (the same values as
/// `meta.json`'s `argus` section, for readers of the file alone).
pub const KV_FORMAT: &str = "argus.format";
pub const KV_MIN_TIME: &str = "argus.min_time";
pub const KV_MAX_TIME: &str = "argus.max_time";
pub const KV_WINDOW_MS: &str = "argus.chunk_window_ms";
pub const KV_NUM_WINDOWS: &str = "argus.num_windows";
pub const KV_OVERHANG_MS: &str = "argus.chunk_overhang_ms";

/// Column names of `chunks.parquet`.
pub const COL_MIN_TIME: &str = "min_time";
pub const COL_MAX_TIME: &str = "max_time";

/// The name of the column for window `i`.
pub fn window_column(i: usize) -> String {
    format!("chunks_{i}")
}

const ZSTD_LEVEL: i32 = 9;
const CHUNK_PAGE_BYTES: usize = 256 << 10;

/// One series of a new block.
#[derive(Debug, Clone)]
pub struct BlockSeries {
    pub labels: Labels,
    /// Ordered by `min_t`; every sample within the block's
    /// `[min_time, max_time)`.
    pub chunks: Vec<ChunkData>,
}

/// What a new block is: its range and its `meta.json` fields.
#[derive(Debug, Clone)]
pub struct NewBlock {
    pub min_time: i64,
    /// Exclusive.
    pub max_time: i64,
    pub external_labels: Labels,
    /// Downsampling resolution in milliseconds; 0 for raw data.
    pub resolution: i64,
    /// `sidecar`, `compactor`, `import`, ...
    pub source: String,
    /// 1 for a block cut from the head.
    pub compaction_level: u32,
    /// Blocks this one was compacted from; empty means the block itself.
    pub sources: Vec<Ulid>,
    pub parents: Vec<BlockDesc>,
}

impl NewBlock {
    /// A raw, level-1 block of `[min_time, max_time)` without external
    /// labels or parents.
    pub fn new(min_time: i64, max_time: i64, source: &str) -> NewBlock {
        NewBlock {
            min_time,
            max_time,
            external_labels: Labels::empty(),
            resolution: 0,
            source: source.to_string(),
            compaction_level: 1,
            sources: Vec::new(),
            parents: Vec::new(),
        }
    }
}

impl BlockSeries {
    /// A series from its samples in time order, cut into chunks as the
    /// head cuts them.
    pub fn from_samples(labels: Labels, samples: &[Sample]) -> BlockSeries {
        BlockSeries {
            labels,
            chunks: argus_model::storage::chunks_from_samples(samples.iter().copied()),
        }
    }
}

/// The window layout of a block's `chunks.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLayout {
    pub min_time: i64,
    pub window_ms: i64,
    pub num_windows: usize,
}

impl WindowLayout {
    /// About 30 minute windows, at most [`MAX_WINDOWS`] of them.
    pub fn for_range(min_time: i64, max_time: i64) -> WindowLayout {
        let dur = (max_time - min_time).max(1);
        let n = ceil_div(dur, TARGET_WINDOW_MS).clamp(1, MAX_WINDOWS);
        let window_ms = ceil_div(dur, n);
        WindowLayout {
            min_time,
            window_ms,
            num_windows: ceil_div(dur, window_ms) as usize,
        }
    }

    pub fn window_start(&self, i: usize) -> i64 {
        self.min_time + i as i64 * self.window_ms
    }

    /// The window holding time `t` (clamped to the layout).
    pub fn window_of(&self, t: i64) -> usize {
        let i = (t - self.min_time).div_euclid(self.window_ms);
        i.clamp(0, self.num_windows as i64 - 1) as usize
    }
}

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Writes a block into `parent/<ULID>/` and returns its meta.
///
/// `series` must be sorted by labels without duplicates; series without
/// chunks are left out (as Prometheus's compactor does). The block is built
/// in `parent/<ULID>.tmp-for-creation/`, every file fsynced, `meta.json`
/// written last, and the directory renamed into place; on error the
/// temporary directory is removed.
pub fn write_block(
    parent: &Path,
    spec: &NewBlock,
    series: &[BlockSeries],
) -> Result<BlockMeta, BlockError> {
    let start = Instant::now();
    validate(spec, series)?;
    std::fs::create_dir_all(parent).map_err(|e| BlockError::io(parent, e))?;
    let id = Ulid::new();
    let tmp = parent.join(format!("{id}{TMP_CREATION_SUFFIX}"));
    let dst = parent.join(id.to_string());
    std::fs::create_dir(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
    let res = write_into(&tmp, id, spec, series).and_then(|meta| {
        std::fs::rename(&tmp, &dst).map_err(|e| BlockError::io(&dst, e))?;
        fsync_dir(parent)?;
        Ok(meta)
    });
    match res {
        Ok(meta) => {
            let bytes: u64 = meta.thanos.files.iter().map(|f| f.size_bytes).sum();
            tracing::info!(
                block = %id,
                min_time = meta.min_time,
                max_time = meta.max_time,
                series = meta.stats.num_series,
                chunks = meta.stats.num_chunks,
                samples = meta.stats.num_samples,
                bytes,
                elapsed_ms = start.elapsed().as_millis() as u64,
                "wrote block"
            );
            Ok(meta)
        }
        Err(e) => {
            if let Err(re) = std::fs::remove_dir_all(&tmp)
                && re.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %tmp.display(), error = %re, "cannot remove partial block");
            }
            Err(e)
        }
    }
}

fn validate(spec: &NewBlock, series: &[BlockSeries]) -> Result<(), BlockError> {
    let bad = |m: String| Err(BlockError::InvalidInput(m));
    if spec.min_time >= spec.max_time {
        return bad(format!(
            "block min_time {} is not before max_time {}",
            spec.min_time, spec.max_time
        ));
    }
    if spec.compaction_level == 0 {
        return bad("compaction level must be at least 1".to_string());
    }
    for (i, s) in series.iter().enumerate() {
        if s.labels.is_empty() {
            return bad(format!("series {i} has no labels"));
        }
        if i > 0 {
            let prev = &series[i - 1].labels;
            match prev.cmp(&s.labels) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return bad(format!("duplicate series {}", s.labels)),
                std::cmp::Ordering::Greater => {
                    return bad(format!("series {} sorts after {}", prev, s.labels));
                }
            }
        }
        let mut prev_min = i64::MIN;
        for c in &s.chunks {
            if c.min_t < spec.min_time || c.max_t >= spec.max_time || c.min_t > c.max_t {
                return bad(format!(
                    "series {}: chunk [{}, {}] is outside the block [{}, {})",
                    s.labels, c.min_t, c.max_t, spec.min_time, spec.max_time
                ));
            }
            if c.min_t < prev_min {
                return bad(format!(
                    "series {}: chunks are not ordered by min_t",
                    s.labels
                ));
            }
            if c.bytes.len() < 2 {
                return bad(format!("series {}: chunk without a header", s.labels));
            }
            prev_min = c.min_t;
        }
    }
    Ok(())
}

fn write_into(
    dir: &Path,
    id: Ulid,
    spec: &NewBlock,
    series: &[BlockSeries],
) -> Result<BlockMeta, BlockError> {
    let rows: Vec<&BlockSeries> = series.iter().filter(|s| !s.chunks.is_empty()).collect();
    let layout = WindowLayout::for_range(spec.min_time, spec.max_time);
    let groups = row_groups(&rows);

    let series_path = dir.join(SERIES_FILE);
    let series_size = write_series_file(&series_path, &rows, &groups)?;
    let chunks_path = dir.join(CHUNKS_FILE);
    let (chunks_size, stats, overhang) =
        write_chunks_file(&chunks_path, &rows, &groups, &layout, spec.max_time)?;

    let sources = if spec.sources.is_empty() {
        vec![id]
    } else {
        let mut s = spec.sources.clone();
        s.sort();
        s.dedup();
        s
    };
    let meta = BlockMeta {
        ulid: id,
        min_time: spec.min_time,
        max_time: spec.max_time,
        stats,
        compaction: Compaction {
            level: spec.compaction_level,
            sources,
            parents: spec.parents.clone(),
            deletable: false,
            failed: false,
        },
        version: META_VERSION,
        thanos: ThanosMeta {
            labels: spec.external_labels.clone(),
            downsample: Downsample {
                resolution: spec.resolution,
            },
            source: spec.source.clone(),
            segment_files: Vec::new(),
            files: vec![
                FileMeta {
                    rel_path: CHUNKS_FILE.to_string(),
                    size_bytes: chunks_size,
                },
                FileMeta {
                    rel_path: META_FILE.to_string(),
                    size_bytes: 0,
                },
                FileMeta {
                    rel_path: SERIES_FILE.to_string(),
                    size_bytes: series_size,
                },
            ],
        },
        argus: Some(ArgusMeta {
            format: ARGUS_FORMAT,
            chunk_window_ms: layout.window_ms,
            num_windows: layout.num_windows as u32,
            chunk_overhang_ms: overhang,
        }),
    };
    meta.write(dir)?;
    Ok(meta)
}

/// Row ranges of the row groups, shared by both files.
fn row_groups(rows: &[&BlockSeries]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, s) in rows.iter().enumerate() {
        let b: usize = s.chunks.iter().map(|c| c.bytes.len()).sum();
        if i > start && (i - start >= ROW_GROUP_MAX_ROWS || bytes + b > ROW_GROUP_MAX_CHUNK_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

fn string_column(name: &str) -> Result<Arc<Type>, parquet::errors::ParquetError> {
    Ok(Arc::new(
        Type::primitive_type_builder(name, parquet::basic::Type::BYTE_ARRAY)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(Some(LogicalType::String))
            .with_converted_type(ConvertedType::UTF8)
            .build()?,
    ))
}

fn zstd() -> Compression {
    // Level 9 is valid for zstd; the fallback never happens.
    Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default())
}

/// Label names in column order: `__name__` first, then sorted.
fn label_names(rows: &[&BlockSeries]) -> Vec<String> {
    let mut set: BTreeSet<&str> = BTreeSet::new();
    for s in rows {
        for l in s.labels.iter() {
            set.insert(l.name);
        }
    }
    set.remove(METRIC_NAME);
    let mut names = vec![METRIC_NAME.to_string()];
    names.extend(set.into_iter().map(str::to_string));
    names
}

fn finish_file(path: &Path, writer: SerializedFileWriter<File>) -> Result<u64, BlockError> {
    let file = writer
        .into_inner()
        .map_err(|e| BlockError::parquet(path, e))?;
    file.sync_all().map_err(|e| BlockError::io(path, e))?;
    let len = file.metadata().map_err(|e| BlockError::io(path, e))?.len();
    Ok(len)
}

fn write_series_file(
    path: &PathBuf,
    rows: &[&BlockSeries],
    groups: &[std::ops::Range<usize>],
) -> Result<u64, BlockError> {
    let pq = |e| BlockError::parquet(path, e);
    let names = label_names(rows);
    let fields = names
        .iter()
        .map(|n| string_column(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pq)?;
    let schema = Arc::new(
        Type::group_type_builder("series")
            .with_fields(fields)
            .build()
            .map_err(pq)?,
    );
    let props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd())
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(1024)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            KV_FORMAT.to_string(),
            ARGUS_FORMAT.to_string(),
        )]))
        .build();
    let file = File::create(path).map_err(|e| BlockError::io(path, e))?;
    let mut w = SerializedFileWriter::new(file, schema, Arc::new(props)).map_err(pq)?;
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    for g in groups {
        let n = g.len();
        let mut cols: Vec<(Vec<ByteArray>, Vec<i16>)> =
            names.iter().map(|_| (Vec::new(), vec![0i16; n])).collect();
        for (r, s) in rows[g.clone()].iter().enumerate() {
            for l in s.labels.iter() {
                // Every name was collected from these rows.
                if let Some(&c) = index.get(l.name) {
                    cols[c].0.push(ByteArray::from(l.value));
                    cols[c].1[r] = 1;
                }
            }
        }
        let mut rg = w.next_row_group().map_err(pq)?;
        for (values, defs) in &cols {
            let mut col = rg
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| BlockError::corrupt(path, "schema has fewer columns than labels"))?;
            col.typed::<ByteArrayType>()
                .write_batch(values, Some(defs), None)
                .map_err(pq)?;
            col.close().map_err(pq)?;
        }
        rg.close().map_err(pq)?;
    }
    finish_file(path, w)
}

fn write_chunks_file(
    path: &PathBuf,
    rows: &[&BlockSeries],
    groups: &[std::ops::Range<usize>],
    layout: &WindowLayout,
    max_time: i64,
) -> Result<(u64, BlockStats, i64), BlockError> {
    let pq = |e| BlockError::parquet(path, e);
    let mut fields = Vec::with_capacity(2 + layout.num_windows);
    for name in [COL_MIN_TIME, COL_MAX_TIME] {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, parquet::basic::Type::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .map_err(pq)?,
        ));
    }
    for i in 0..layout.num_windows {
        fields.push(Arc::new(
            Type::primitive_type_builder(&window_column(i), parquet::basic::Type::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .build()
                .map_err(pq)?,
        ));
    }
    let schema = Arc::new(
        Type::group_type_builder("chunks")
            .with_fields(fields)
            .build()
            .map_err(pq)?,
    );
    let mut props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd())
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_write_batch_size(64)
        .set_data_page_row_count_limit(1024);
    for i in 0..layout.num_windows {
        let c = ColumnPath::from(window_column(i));
        props = props
            .set_column_dictionary_enabled(c.clone(), false)
            .set_column_statistics_enabled(c.clone(), EnabledStatistics::None)
            .set_column_encoding(c.clone(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .set_column_data_page_size_limit(c, CHUNK_PAGE_BYTES);
    }
    let file = File::create(path).map_err(|e| BlockError::io(path, e))?;
    let mut w = SerializedFileWriter::new(file, schema, Arc::new(props.build())).map_err(pq)?;

    let mut stats = BlockStats::default();
    let mut overhang = 0i64;
    for g in groups {
        let rg_rows = &rows[g.clone()];
        let mut rg = w.next_row_group().map_err(pq)?;
        let mins: Vec<i64> = rg_rows.iter().map(|s| s.chunks[0].min_t).collect();
        let maxs: Vec<i64> = rg_rows
            .iter()
            .map(|s| s.chunks.iter().map(|c| c.max_t).max().unwrap_or(i64::MIN))
            .collect();
        for values in [&mins, &maxs] {
            let mut col = rg
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| BlockError::corrupt(path, "missing time column"))?;
            col.typed::<Int64Type>()
                .write_batch(values, None, None)
                .map_err(pq)?;
            col.close().map_err(pq)?;
        }
        let mut cursor = vec![0usize; rg_rows.len()];
        for wi in 0..layout.num_windows {
            let ws = layout.window_start(wi);
            let we = if wi + 1 == layout.num_windows {
                max_time.max(ws + layout.window_ms)
            } else {
                ws + layout.window_ms
            };
            let mut values = Vec::new();
            let mut defs = vec![0i16; rg_rows.len()];
            for (r, s) in rg_rows.iter().enumerate() {
                let mut cell = Vec::new();
                while let Some(c) = s.chunks.get(cursor[r]).filter(|c| c.min_t < we) {
                    cell::put_chunk(&mut cell, ws, c).map_err(|m| {
                        BlockError::InvalidInput(format!("series {}: {m}", s.labels))
                    })?;
                    stats.num_chunks += 1;
                    stats.num_samples += u64::from(u16::from_be_bytes([c.bytes[0], c.bytes[1]]));
                    overhang = overhang.max(c.max_t - (ws + layout.window_ms - 1));
                    cursor[r] += 1;
                }
                if !cell.is_empty() {
                    values.push(ByteArray::from(cell));
                    defs[r] = 1;
                }
            }
            let mut col = rg
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| BlockError::corrupt(path, "missing window column"))?;
            col.typed::<ByteArrayType>()
                .write_batch(&values, Some(&defs), None)
                .map_err(pq)?;
            col.close().map_err(pq)?;
        }
        rg.close().map_err(pq)?;
        stats.num_series += rg_rows.len() as u64;
    }
    for (k, v) in [
        (KV_FORMAT, ARGUS_FORMAT.to_string()),
        (KV_MIN_TIME, layout.min_time.to_string()),
        (KV_MAX_TIME, max_time.to_string()),
        (KV_WINDOW_MS, layout.window_ms.to_string()),
        (KV_NUM_WINDOWS, layout.num_windows.to_string()),
        (KV_OVERHANG_MS, overhang.to_string()),
    ] {
        w.append_key_value_metadata(KeyValue::new(k.to_string(), v));
    }
    let size = finish_file(path, w)?;
    Ok((size, stats, overhang))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{counters, spec};

    const H: i64 = 3_600_000;
    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (2 * H);

    #[test]
    fn window_layouts() {
        let l = WindowLayout::for_range(0, 2 * H);
        assert_eq!((l.window_ms, l.num_windows), (30 * 60_000, 4));
        let l = WindowLayout::for_range(0, 6 * H);
        assert_eq!((l.window_ms, l.num_windows), (30 * 60_000, 12));
        let l = WindowLayout::for_range(0, 14 * 24 * H);
        assert_eq!((l.window_ms, l.num_windows), (7 * H, 48));
        let l = WindowLayout::for_range(0, 1);
        assert_eq!((l.window_ms, l.num_windows), (1, 1));
        let l = WindowLayout::for_range(5, 5 + 45 * 60_000 + 1);
        assert_eq!(l.num_windows, 2);
        assert!(l.window_start(1) + l.window_ms > 5 + 45 * 60_000);
        assert_eq!(l.window_of(4), 0);
        assert_eq!(l.window_of(i64::MAX / 2), 1);
    }

    /// Writes a sample block for external readers (pyarrow, DuckDB):
    /// `ARGUS_SAMPLE_BLOCK_DIR=/tmp/b cargo test -p argus-block sample_block -- --ignored`
    #[test]
    #[ignore = "writes to $ARGUS_SAMPLE_BLOCK_DIR"]
    fn sample_block() {
        let Some(dir) = std::env::var_os("ARGUS_SAMPLE_BLOCK_DIR") else {
            return;
        };
        let (series, _) = counters(10_000, T0, T0 + 2 * H, 15_000, 5, 1);
        let meta = write_block(Path::new(&dir), &spec(T0, T0 + 2 * H), &series).expect("write");
        println!("{}", Path::new(&dir).join(meta.ulid.to_string()).display());
    }

    /// Bytes per sample of blocks of 100 counters at 15s, against the raw XOR
    /// chunk bytes and an estimate of a Prometheus block of the same chunks:
    /// per chunk a length varint, an encoding byte and a CRC32 in the chunk
    /// file (~7 bytes) and ~6 bytes of chunk meta in the index, plus the
    /// symbol table, series label references and postings.
    #[test]
    fn size_report() {
        for (jitter, hours_per_block) in [(0, 2), (0, 6), (5, 2), (5, 6)] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut ours = 0u64;
            let mut raw = 0u64;
            let mut samples = 0u64;
            let mut chunks = 0u64;
            let mut prom_index = 0u64;
            for b in 0..(6 / hours_per_block) {
                let min = T0 + b * hours_per_block * H;
                let max = min + hours_per_block * H;
                let (series, _) = counters(100, min, max, 15_000, jitter, 42 + b as u64);
                let meta = write_block(dir.path(), &spec(min, max), &series).expect("write");
                ours += meta.thanos.files.iter().map(|f| f.size_bytes).sum::<u64>();
                if b == 0 {
                    println!(
                        "  files: {:?}",
                        meta.thanos
                            .files
                            .iter()
                            .map(|f| (f.rel_path.as_str(), f.size_bytes))
                            .collect::<Vec<_>>()
                    );
                }
                ours += std::fs::metadata(dir.path().join(meta.ulid.to_string()).join(META_FILE))
                    .map(|m| m.len())
                    .unwrap_or(0);
                samples += meta.stats.num_samples;
                chunks += meta.stats.num_chunks;
                raw += series
                    .iter()
                    .flat_map(|s| &s.chunks)
                    .map(|c| c.bytes.len() as u64)
                    .sum::<u64>();
                // Index: ~5 bytes of label refs per label, ~20 bytes of
                // series overhead, postings 4 bytes per label, symbols and
                // TOC ~4 KB, meta.json ~500 bytes.
                prom_index += 100 * (4 * 5 + 20 + 4 * 4) + 4096 + 500;
            }
            let prom = raw + chunks * 13 + prom_index;
            println!(
                "jitter ±{jitter}ms, {hours_per_block}h blocks: {samples} samples, {chunks} chunks; raw xor {:.3} B/sample, argus {:.3} B/sample ({:.3}× raw), prometheus est. {:.3} B/sample; argus/prometheus {:.3}",
                raw as f64 / samples as f64,
                ours as f64 / samples as f64,
                ours as f64 / raw as f64,
                prom as f64 / samples as f64,
                ours as f64 / prom as f64,
            );
        }
    }
}

#[cfg(test)]
mod prometheus_comparison {
    use super::*;
    use crate::testutil::{counters, spec};
    use std::io::Write;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (2 * H);

    fn dir_size(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            dir_size(&p)
                        } else {
                            e.metadata().map(|m| m.len()).unwrap_or(0)
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Writes the same samples as OpenMetrics, lets Prometheus's `promtool`
    /// build its 2h blocks, and compares total bytes with Argus's 2h blocks.
    /// Needs `promtool` on PATH: `cargo test -p argus-block -- --ignored`.
    #[test]
    #[ignore = "needs promtool"]
    fn against_promtool() {
        for jitter in [0, 5] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (series, samples) = counters(100, T0, T0 + 6 * H, 15_000, jitter, 42);
            let om = dir.path().join("data.om");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&om).expect("create"));
            for (s, xs) in series.iter().zip(&samples) {
                let name = s.labels.metric_name().unwrap_or_default();
                let rest: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME)
                    .map(|l| format!("{}=\"{}\"", l.name, l.value))
                    .collect();
                for x in xs {
                    writeln!(
                        f,
                        "{name}{{{}}} {} {}.{:03}",
                        rest.join(","),
                        x.v,
                        x.t / 1000,
                        x.t % 1000
                    )
                    .expect("write");
                }
            }
            writeln!(f, "# EOF").expect("write");
            drop(f);
            let out = dir.path().join("prom");
            let status = std::process::Command::new("promtool")
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&om)
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run promtool");
            assert!(status.success());
            let prom = dir_size(&out);

            let ours_dir = dir.path().join("argus");
            let mut ours = 0;
            let mut n = 0;
            for b in 0..3 {
                let (min, max) = (T0 + b * 2 * H, T0 + (b + 1) * 2 * H);
                let part: Vec<BlockSeries> = series
                    .iter()
                    .zip(&samples)
                    .map(|(s, xs)| {
                        let xs: Vec<_> = xs
                            .iter()
                            .filter(|x| x.t >= min && x.t < max)
                            .copied()
                            .collect();
                        BlockSeries {
                            labels: s.labels.clone(),
                            chunks: crate::testutil::chunks_of(&xs),
                        }
                    })
                    .collect();
                let meta = write_block(&ours_dir, &spec(min, max), &part).expect("write");
                n += meta.stats.num_samples;
            }
            ours += dir_size(&ours_dir);
            println!(
                "jitter ±{jitter}ms: {n} samples; prometheus {prom} bytes ({:.3} B/sample), argus {ours} bytes ({:.3} B/sample), ratio {:.3}",
                prom as f64 / n as f64,
                ours as f64 / n as f64,
                ours as f64 / prom as f64
            );
        }
    }
}
