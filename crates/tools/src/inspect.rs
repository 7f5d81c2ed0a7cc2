//! `argus tools bucket inspect`: one row per block.

use std::fmt::Write;
use std::path::Path;

use argus_block::meta::BlockMeta;
use argus_model::time::format_rfc3339;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub resolution: i64,
    pub level: u32,
    pub source: String,
}

impl BlockRow {
    pub fn from_meta(m: &BlockMeta) -> BlockRow {
        BlockRow {
            ulid: m.ulid.to_string(),
            min_time: m.min_time,
            max_time: m.max_time,
            series: m.stats.num_series,
            samples: m.stats.num_samples,
            chunks: m.stats.num_chunks,
            bytes: m.thanos.files.iter().map(|f| f.size_bytes).sum(),
            resolution: m.thanos.downsample.resolution,
            level: m.compaction.level,
            source: m.thanos.source.clone(),
        }
    }
}

/// Rows for the blocks in a local storage directory.
pub fn local_rows(dir: &Path) -> Result<Vec<BlockRow>, argus_block::BlockError> {
    // A path that is not a directory is a typo, not an empty storage.
    let io = |source| argus_block::BlockError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(io)?;
    if !meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(argus_block::reader::list_local_blocks(dir)?
        .iter()
        .map(BlockRow::from_meta)
        .collect())
}

/// Rows for the complete blocks in a bucket.
pub async fn bucket_rows(
    bucket: &argus_block::objstore::Bucket,
) -> Result<Vec<BlockRow>, argus_block::BlockError> {
    let mut metas = bucket.list_blocks().await?;
    metas.sort_by_key(|m| (m.min_time, m.ulid));
    Ok(metas.iter().map(BlockRow::from_meta).collect())
}

/// Renders rows as an aligned text table.
pub fn render_table(rows: &[BlockRow]) -> String {
    let header = [
        "ULID",
        "FROM",
        "UNTIL",
        "SERIES",
        "SAMPLES",
        "CHUNKS",
        "BYTES",
        "RESOLUTION",
        "LEVEL",
        "SOURCE",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        cells.push(vec![
            r.ulid.clone(),
            format_rfc3339(r.min_time),
            format_rfc3339(r.max_time),
            r.series.to_string(),
            r.samples.to_string(),
            r.chunks.to_string(),
            r.bytes.to_string(),
            r.resolution.to_string(),
            r.level.to_string(),
            r.source.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}
