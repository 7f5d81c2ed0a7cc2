//! Backfill from OpenMetrics text into blocks, like
//! `promtool tsdb create-blocks-from openmetrics`.
//!
//! The whole file is parsed before anything is written, so malformed input
//! leaves the output directory untouched. Each series' samples are encoded
//! into XOR chunks as they stream by (the format keeps a series' samples
//! together and in time order), so memory is the compressed size of the data.
//! Blocks are written into a staging directory and moved into place at the
//! end, each by one rename of a complete block directory, so importing into
//! the storage directory of a running server is safe: the server loads the
//! new blocks on its next reload (every 15 s), and never sees a partial one.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_block::meta::BlockMeta;
use argus_block::writer::{BlockSeries, NewBlock, write_block};
use argus_exposition::{Entry, Format, Parser, Validation};
use argus_model::chunk::SAMPLES_PER_CHUNK;
use argus_model::storage::ChunkData;
use argus_model::{Labels, XorAppender};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("writing blocks into {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// 5000-01-01T00:00:00Z in milliseconds: a timestamp this late is a unit
/// mistake, not data (a millisecond timestamp read as seconds lands around
/// the year 55000).
const MAX_TIMESTAMP_MS: i64 = 95_617_584_000_000;

/// Why a sample timestamp cannot be meant: the hint for the refusal.
fn implausible_timestamp(t_ms: i64) -> Option<String> {
    if t_ms == i64::MIN {
        // What the parser gives for seconds too large for milliseconds.
        return Some(
            "timestamp is out of range: OpenMetrics timestamps are in seconds since the epoch \
             (is it in nanoseconds? divide it by 1000000000)"
                .to_string(),
        );
    }
    if t_ms < MAX_TIMESTAMP_MS {
        return None;
    }
    let secs = t_ms / 1000;
    let shown = match t_ms % 1000 {
        0 => secs.to_string(),
        ms => format!("{secs}.{ms:03}").trim_end_matches('0').to_string(),
    };
    let stamp = argus_model::time::format_rfc3339(t_ms);
    let year = stamp.split('-').next().unwrap_or(&stamp);
    let (unit, by) = if secs >= 100_000_000_000_000_000 {
        ("nanoseconds", "1000000000")
    } else if secs >= 100_000_000_000_000 {
        ("microseconds", "1000000")
    } else {
        ("milliseconds", "1000")
    };
    Some(format!(
        "timestamp {shown} is in the year {year}: OpenMetrics timestamps are in seconds, \
         and this looks like {unit}; divide it by {by}"
    ))
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Block width in ms; blocks are aligned to multiples of it.
    pub block_duration_ms: i64,
    /// Print progress to stderr about once a second.
    pub progress: bool,
    pub external_labels: Labels,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            block_duration_ms: 2 * 3600 * 1000,
            progress: false,
            external_labels: Labels::empty(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ImportSummary {
    pub series: usize,
    pub samples: u64,
    pub blocks: Vec<BlockMeta>,
    pub parse_time: Duration,
    pub write_time: Duration,
}

/// One series' chunks, grouped by the block they fall in.
struct SeriesBuf {
    labels: Labels,
    chunks: Vec<(i64, ChunkData)>,
    open: Option<(i64, i64, XorAppender)>,
    last_t: i64,
    line: usize,
}

impl SeriesBuf {
    fn close_open(&mut self) {
        if let Some((block, min_t, mut app)) = self.open.take() {
            app.shrink();
            let max_t = app.last_t();
            self.chunks.push((
                block,
                ChunkData {
                    min_t,
                    max_t,
                    bytes: Arc::from(app.into_bytes()),
                },
            ));
        }
    }
}

/// Parses `input` and writes its blocks into `out_dir`.
pub fn import_openmetrics(
    input: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let data = fs::read(input).map_err(|source| ImportError::Read {
        path: input.to_path_buf(),
        source,
    })?;
    let started = Instant::now();
    let series = parse(&data, input, opts)?;
    let parse_time = started.elapsed();
    let samples = series
        .iter()
        .flat_map(|s| s.chunks.iter())
        .map(|(_, c)| {
            c.bytes
                .get(..2)
                .map_or(0, |h| u64::from(u16::from_be_bytes([h[0], h[1]])))
        })
        .sum();
    let started = Instant::now();
    let blocks = write_blocks(series.as_slice(), out_dir, opts)?;
    Ok(ImportSummary {
        series: series.len(),
        samples,
        blocks,
        parse_time,
        write_time: started.elapsed(),
    })
}

fn parse(data: &[u8], path: &Path, opts: &ImportOptions) -> Result<Vec<SeriesBuf>, ImportError> {
    let range = opts.block_duration_ms.max(1);
    // Syntax checks only, as promtool's parser: real client output breaks
    // some OpenMetrics semantic rules (e.g. negative histogram buckets).
    let mut parser = Parser::new(data, Format::OpenMetrics).with_validation(Validation::Syntax);
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut series: Vec<SeriesBuf> = Vec::new();
    let mut saw_eof = false;
    let mut progress = Progress::new(opts.progress, data.len());
    let mut count: u64 = 0;
    let perr = |line: usize, message: String| ImportError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    loop {
        let entry = parser
            .next_entry()
            .map_err(|e| perr(e.line, e.message.clone()))?;
        let Some(entry) = entry else { break };
        let s = match entry {
            Entry::Sample(s) => s,
            Entry::Eof => {
                saw_eof = true;
                continue;
            }
            _ => continue,
        };
        let Some(t) = s.timestamp_ms else {
            return Err(perr(
                s.line,
                "sample has no timestamp; backfilled samples need one".to_string(),
            ));
        };
        if let Some(why) = implausible_timestamp(t) {
            return Err(perr(s.line, why));
        }
        let idx = match index.get(s.series) {
            Some(&i) => i,
            None => {
                let labels = s.labels().map_err(|e| perr(e.line, e.message.clone()))?;
                // The same series may be spelt differently (label order).
                let i = *by_labels.entry(labels.clone()).or_insert_with(|| {
                    series.push(SeriesBuf {
                        labels,
                        chunks: Vec::new(),
                        open: None,
                        last_t: i64::MIN,
                        line: s.line,
                    });
                    series.len() - 1
                });
                index.insert(s.series, i);
                i
            }
        };
        let buf = &mut series[idx];
        if t <= buf.last_t {
            return Err(perr(
                s.line,
                format!(
                    "out of order sample for series {}: timestamp {} is not after {} (first seen on line {})",
                    buf.labels, t, buf.last_t, buf.line
                ),
            ));
        }
        buf.last_t = t;
        let block = t.div_euclid(range);
        let cut = match &buf.open {
            None => true,
            Some((b, _, app)) => *b != block || app.num_samples() >= SAMPLES_PER_CHUNK,
        };
        if cut {
            buf.close_open();
            buf.open = Some((block, t, XorAppender::with_capacity(160)));
        }
        if let Some((_, _, app)) = &mut buf.open {
            app.append(t, s.value);
        }
        count += 1;
        if count.is_multiple_of(65_536) {
            progress.update(s_offset(data, s.series), count);
        }
    }
    if !saw_eof {
        return Err(ImportError::Input {
            path: path.to_path_buf(),
            message: "missing \"# EOF\" at the end of the OpenMetrics input".to_string(),
        });
    }
    progress.finish(count);
    for s in &mut series {
        s.close_open();
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(series)
}

/// Byte offset of a slice inside the input, for progress.
fn s_offset(data: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

fn write_blocks(
    series: &[SeriesBuf],
    out_dir: &Path,
    opts: &ImportOptions,
) -> Result<Vec<BlockMeta>, ImportError> {
    let werr = |message: String| ImportError::Write {
        path: out_dir.to_path_buf(),
        message,
    };
    let range = opts.block_duration_ms.max(1);
    let mut block_ids: Vec<i64> = series
        .iter()
        .flat_map(|s| s.chunks.iter().map(|(b, _)| *b))
        .collect();
    block_ids.sort_unstable();
    block_ids.dedup();
    if block_ids.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(out_dir).map_err(|e| werr(e.to_string()))?;
    let staging = out_dir.join(format!(".import-{}.tmp", ulid::Ulid::new()));
    fs::create_dir_all(&staging).map_err(|e| werr(e.to_string()))?;
    let result = write_staged(series, &block_ids, range, &staging, opts)
        .and_then(|metas| {
            for m in &metas {
                let id = m.ulid.to_string();
                fs::rename(staging.join(&id), out_dir.join(&id))
                    .map_err(|e| format!("moving block {id}: {e}"))?;
            }
            // The renames are durable before we say the blocks exist.
            fs::File::open(out_dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("syncing the directory: {e}"))?;
            Ok(metas)
        })
        .map_err(werr);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn write_staged(
    series: &[SeriesBuf],
    block_ids: &[i64],
    range: i64,
    staging: &Path,
    opts: &ImportOptions,
) -> Result<Vec<BlockMeta>, String> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(block_ids.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = parking_lot::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&block) = block_ids.get(i) else {
                        break;
                    };
                    let r = write_one(series, block, range, staging, opts);
                    let failed = r.is_err();
                    results.lock().push(r);
                    if failed {
                        break;
                    }
                }
            });
        }
    });
    let mut metas = Vec::new();
    for r in results.into_inner() {
        metas.push(r?);
    }
    metas.sort_by_key(|m| m.min_time);
    Ok(metas)
}

fn write_one(
    series: &[SeriesBuf],
    block: i64,
    range: i64,
    staging: &Path,
    opts: &ImportOptions,
) -> Result<BlockMeta, String> {
    let content: Vec<BlockSeries> = series
        .iter()
        .filter_map(|s| {
            let chunks: Vec<ChunkData> = s
                .chunks
                .iter()
                .filter(|(b, _)| *b == block)
                .map(|(_, c)| c.clone())
                .collect();
            (!chunks.is_empty()).then(|| BlockSeries {
                labels: s.labels.clone(),
                chunks,
            })
        })
        .collect();
    let spec = NewBlock {
        min_time: block * range,
        max_time: (block + 1) * range,
        external_labels: opts.external_labels.clone(),
        resolution: 0,
        source: "import".to_string(),
        compaction_level: 1,
        sources: Vec::new(),
        parents: Vec::new(),
    };
    write_block(staging, &spec, &content).map_err(|e| e.to_string())
}

struct Progress {
    on: bool,
    total: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(on: bool, total: usize) -> Progress {
        let now = Instant::now();
        Progress {
            on,
            total,
            started: now,
            last: now,
        }
    }

    fn update(&mut self, offset: usize, samples: u64) {
        if !self.on || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let pct = offset as f64 * 100.0 / self.total.max(1) as f64;
        let rate = samples as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "import: {pct:5.1}% of input parsed, {samples} samples ({rate:.0} samples/s)"
        );
    }

    fn finish(&mut self, samples: u64) {
        if self.on {
            let _ = writeln!(
                std::io::stderr().lock(),
                "import: parsed {samples} samples in {:.2}s; writing blocks",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> (tempfile::TempDir, Result<ImportSummary, ImportError>) {
        let d = tempfile::tempdir().expect("tempdir");
        let input = d.path().join("in.om");
        fs::write(&input, text).expect("write input");
        let out = d.path().join("data");
        let r = import_openmetrics(&input, &out, &ImportOptions::default());
        (d, r)
    }

    #[test]
    fn refuses_millisecond_timestamps_with_a_hint() {
        let (d, r) = import("# TYPE up gauge\nup 1 1700000000\nup 1 1700000000000\n# EOF\n");
        let msg = r.expect_err("refused").to_string();
        assert!(
            msg.ends_with(
                ":3: timestamp 1700000000000 is in the year 55840: OpenMetrics timestamps are in \
             seconds, and this looks like milliseconds; divide it by 1000"
            ),
            "{msg}"
        );
        assert!(!d.path().join("data").exists());
        let (_d, r) = import("up 1 1700000000000000.5\n# EOF\n");
        let msg = r.expect_err("refused").to_string();
        assert!(msg.contains("microseconds; divide it by 1000000"), "{msg}");
        let (_d, r) = import("up 1 1700000000000000000000\n# EOF\n");
        let msg = r.expect_err("refused").to_string();
        assert!(msg.contains(":1: timestamp is out of range"), "{msg}");
    }

    #[test]
    fn writes_complete_blocks_only_into_the_output_directory() {
        let (d, r) = import("up 1 1700000000\nup 2 1700007300.5\n# EOF\n");
        let summary = r.expect("import");
        assert_eq!(summary.blocks.len(), 2);
        let out = d.path().join("data");
        let mut names: Vec<String> = fs::read_dir(&out)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = summary.blocks.iter().map(|b| b.ulid.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
        for id in &want {
            assert!(out.join(id).join(argus_block::META_FILE).exists());
        }
    }
}
