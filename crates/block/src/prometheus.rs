//! Reads Prometheus TSDB blocks (index v2 and chunk segment files).
//!
//! A block written by Prometheus 2.x or `promtool tsdb create-blocks-from`
//! is a directory holding:
//!
//! - `meta.json`: the ULID, the time range `[minTime, maxTime)` and stats;
//! - `index`: magic `0xBAAAD700`, version byte 2, then the symbol table, the
//!   series (each 16-byte aligned, its id being offset / 16), label indices,
//!   postings, the label offset table, the postings offset table and a
//!   52-byte table of contents (six big-endian `u64` offsets and a CRC32);
//! - `chunks/000001...`: segment files with an 8-byte header (magic
//!   `0x85BD40DD`, version 1, three padding bytes) followed by chunks, each a
//!   uvarint data length, an encoding byte, the data and a CRC32 over the
//!   encoding byte and the data. A chunk reference is
//!   `(segment index << 32) | byte offset`.
//!
//! Every checksum is CRC32 Castagnoli, stored big-endian, and is verified.
//! The reader walks the series section in file order (which is label order)
//! and checks it against the all-postings list when the index has one.

use std::fmt;
use std::path::{Path, PathBuf};

use argus_model::Labels;
use argus_model::varint;

const INDEX_MAGIC: u32 = 0xBAAA_D700;
const INDEX_VERSION_2: u8 = 2;
const TOC_LEN: usize = 6 * 8 + 4;
const INDEX_HEADER_LEN: usize = 5;

const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
const CHUNKS_VERSION_1: u8 = 1;
const CHUNKS_HEADER_LEN: usize = 8;

const META_VERSION_1: u32 = 1;

/// One chunk of a series as stored in the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromChunk {
    /// Timestamp of the first sample (inclusive, milliseconds).
    pub min_t: i64,
    /// Timestamp of the last sample (inclusive, milliseconds).
    pub max_t: i64,
    /// The encoding byte (1 = XOR).
    pub encoding: u8,
    /// The encoded chunk, without the length, encoding byte or checksum.
    pub data: Vec<u8>,
}

/// A series of the block: its labels and its chunks in time order.
#[derive(Debug, Clone)]
pub struct PromSeries {
    pub labels: Labels,
    pub chunks: Vec<PromChunk>,
}

/// The parts of `meta.json` Argus uses. `max_time` is exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromBlockMeta {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PromBlockError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid meta.json {}: {source}", path.display())]
    Meta {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("bad magic in {} at offset 0: found {found:#010x}, expected {expected:#010x}", path.display())]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("unsupported format version {version} in {} at offset {offset}", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        offset: u64,
        version: u32,
    },
    #[error(
        "crc32c mismatch in {} for the {what} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        what: &'static str,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("corrupt {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

fn corrupt(path: &Path, offset: usize, reason: impl fmt::Display) -> PromBlockError {
    PromBlockError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_string(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, PromBlockError> {
    std::fs::read(path).map_err(|source| PromBlockError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a block: its `meta.json` and every series with its chunks, in
/// index order (sorted by labels).
pub fn read_block(dir: &Path) -> Result<(PromBlockMeta, Vec<PromSeries>), PromBlockError> {
    let meta = read_meta(dir)?;
    let index_path = dir.join("index");
    let index_bytes = read_file(&index_path)?;
    let index = Index::parse(&index_path, &index_bytes)?;
    let segments = Segments::open(&dir.join("chunks"))?;

    let mut out = Vec::new();
    for entry in index.series()? {
        let chunks = entry
            .chunks
            .iter()
            .map(|m| segments.chunk(m, &index_path))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(PromSeries {
            labels: entry.labels,
            chunks,
        });
    }
    Ok((meta, out))
}

#[derive(serde::Deserialize)]
struct RawMeta {
    ulid: String,
    #[serde(rename = "minTime")]
    min_time: i64,
    #[serde(rename = "maxTime")]
    max_time: i64,
    #[serde(default)]
    stats: RawStats,
    version: u32,
}

#[derive(serde::Deserialize, Default)]
struct RawStats {
    #[serde(default, rename = "numSamples")]
    num_samples: u64,
    #[serde(default, rename = "numSeries")]
    num_series: u64,
    #[serde(default, rename = "numChunks")]
    num_chunks: u64,
}

/// Reads `<dir>/meta.json`.
pub fn read_meta(dir: &Path) -> Result<PromBlockMeta, PromBlockError> {
    let path = dir.join("meta.json");
    let bytes = read_file(&path)?;
    let raw: RawMeta = serde_json::from_slice(&bytes).map_err(|source| PromBlockError::Meta {
        path: path.clone(),
        source,
    })?;
    if raw.version != META_VERSION_1 {
        return Err(PromBlockError::UnsupportedVersion {
            path,
            offset: 0,
            version: raw.version,
        });
    }
    Ok(PromBlockMeta {
        ulid: raw.ulid,
        min_time: raw.min_time,
        max_time: raw.max_time,
        num_samples: raw.stats.num_samples,
        num_series: raw.stats.num_series,
        num_chunks: raw.stats.num_chunks,
    })
}

/// A cursor over a byte range of a file; offsets in errors are absolute.
struct Cursor<'a> {
    path: &'a Path,
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(path: &'a Path, data: &'a [u8], pos: usize, end: usize) -> Cursor<'a> {
        Cursor {
            path,
            data,
            pos,
            end: end.min(data.len()),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PromBlockError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.end => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(corrupt(
                self.path,
                self.pos,
                format_args!(
                    "{what}: need {n} bytes, {} left",
                    self.end.saturating_sub(self.pos)
                ),
            )),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, PromBlockError> {
        Ok(self.take(1, what)?[0])
    }

    fn be_u32(&mut self, what: &str) -> Result<u32, PromBlockError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn be_u64(&mut self, what: &str) -> Result<u64, PromBlockError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    fn uvarint(&mut self, what: &str) -> Result<u64, PromBlockError> {
        let start = self.pos;
        let rest = self.data[..self.end].get(self.pos..).unwrap_or_default();
        let (x, n) = varint::decode_uvarint(rest)
            .map_err(|e| corrupt(self.path, start, format_args!("{what}: {e}")))?;
        self.pos += n;
        Ok(x)
    }

    fn varint(&mut self, what: &str) -> Result<i64, PromBlockError> {
        self.uvarint(what).map(varint::zigzag_decode)
    }

    fn usize_uvarint(&mut self, what: &str) -> Result<usize, PromBlockError> {
        let start = self.pos;
        let v = self.uvarint(what)?;
        usize::try_from(v)
            .map_err(|_| corrupt(self.path, start, format_args!("{what}: {v} is too large")))
    }

    fn uvarint_str(&mut self, what: &str) -> Result<&'a str, PromBlockError> {
        let n = self.usize_uvarint(what)?;
        let start = self.pos;
        let s = self.take(n, what)?;
        std::str::from_utf8(s)
            .map_err(|_| corrupt(self.path, start, format_args!("{what}: not utf-8")))
    }
}

fn crc32c_check(
    path: &Path,
    data: &[u8],
    what: &'static str,
    start: usize,
    end: usize,
) -> Result<(), PromBlockError> {
    let Some(stored) = data.get(end..end + 4) else {
        return Err(corrupt(
            path,
            end,
            format_args!("{what}: checksum is missing"),
        ));
    };
    let stored = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = crc32c::crc32c(&data[start..end]);
    if stored != computed {
        return Err(PromBlockError::Checksum {
            path: path.to_path_buf(),
            what,
            offset: start as u64,
            stored,
            computed,
        });
    }
    Ok(())
}

/// A section laid out as `len <4b>`, `len` bytes of content, `CRC32 <4b>`.
/// Returns a cursor over the content after verifying its checksum.
fn framed_section<'a>(
    path: &'a Path,
    data: &'a [u8],
    offset: usize,
    what: &'static str,
) -> Result<Cursor<'a>, PromBlockError> {
    let mut c = Cursor::new(path, data, offset, data.len());
    let len = c.be_u32(what)? as usize;
    let start = c.pos;
    let end = start
        .checked_add(len)
        .filter(|e| e.checked_add(4).is_some_and(|e4| e4 <= data.len()))
        .ok_or_else(|| {
            corrupt(
                path,
                offset,
                format_args!("{what}: length {len} runs past the end of the file"),
            )
        })?;
    crc32c_check(path, data, what, start, end)?;
    Ok(Cursor::new(path, data, start, end))
}

struct Toc {
    symbols: u64,
    series: u64,
    label_indices: u64,
    label_offset_table: u64,
    postings: u64,
    postings_offset_table: u64,
}

struct ChunkMeta {
    min_t: i64,
    max_t: i64,
    chunk_ref: u64,
    /// Where the reference was read, for error messages.
    index_offset: usize,
}

struct SeriesEntry {
    labels: Labels,
    chunks: Vec<ChunkMeta>,
}

struct Index<'a> {
    path: &'a Path,
    data: &'a [u8],
    toc: Toc,
    symbols: Vec<&'a str>,
}

impl<'a> Index<'a> {
    fn parse(path: &'a Path, data: &'a [u8]) -> Result<Index<'a>, PromBlockError> {
        if data.len() < 4 {
            return Err(corrupt(
                path,
                0,
                format_args!("index is {} bytes, too short for its header", data.len()),
            ));
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if magic != INDEX_MAGIC {
            return Err(PromBlockError::BadMagic {
                path: path.to_path_buf(),
                found: magic,
                expected: INDEX_MAGIC,
            });
        }
        let Some(&version) = data.get(4) else {
            return Err(corrupt(path, 4, "index version byte is missing"));
        };
        if version != INDEX_VERSION_2 {
            return Err(PromBlockError::UnsupportedVersion {
                path: path.to_path_buf(),
                offset: 4,
                version: u32::from(version),
            });
        }
        if data.len() < INDEX_HEADER_LEN + TOC_LEN {
            return Err(corrupt(
                path,
                INDEX_HEADER_LEN,
                format_args!(
                    "index is {} bytes, too short for its table of contents",
                    data.len()
                ),
            ));
        }
        let toc_start = data.len() - TOC_LEN;
        crc32c_check(path, data, "table of contents", toc_start, data.len() - 4)?;
        let mut c = Cursor::new(path, data, toc_start, data.len() - 4);
        let toc = Toc {
            symbols: c.be_u64("toc")?,
            series: c.be_u64("toc")?,
            label_indices: c.be_u64("toc")?,
            label_offset_table: c.be_u64("toc")?,
            postings: c.be_u64("toc")?,
            postings_offset_table: c.be_u64("toc")?,
        };
        for (name, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("label indices", toc.label_indices),
            ("label offset table", toc.label_offset_table),
            ("postings", toc.postings),
            ("postings offset table", toc.postings_offset_table),
        ] {
            if off > toc_start as u64 || (off != 0 && off < INDEX_HEADER_LEN as u64) {
                return Err(corrupt(
                    path,
                    toc_start,
                    format_args!("toc: {name} offset {off} is outside the index"),
                ));
            }
        }

        let mut c = framed_section(path, data, toc.symbols as usize, "symbol table")?;
        let count = c.be_u32("symbol table")? as usize;
        let mut symbols = Vec::with_capacity(count.min(data.len()));
        for _ in 0..count {
            symbols.push(c.uvarint_str("symbol")?);
        }
        if !c.at_end() {
            return Err(corrupt(
                path,
                c.pos,
                format_args!("symbol table: bytes left after {count} symbols"),
            ));
        }
        Ok(Index {
            path,
            data,
            toc,
            symbols,
        })
    }

    /// Offset where the series section ends: the next section's start.
    fn series_end(&self) -> usize {
        let t = &self.toc;
        [
            t.label_indices,
            t.label_offset_table,
            t.postings,
            t.postings_offset_table,
        ]
        .into_iter()
        .filter(|&o| o > t.series)
        .min()
        .map_or(self.data.len() - TOC_LEN, |o| o as usize)
    }

    /// Every series in file order, checked against the all-postings list.
    fn series(&self) -> Result<Vec<SeriesEntry>, PromBlockError> {
        let end = self.series_end();
        let mut pos = self.toc.series as usize;
        let mut refs = Vec::new();
        let mut out: Vec<SeriesEntry> = Vec::new();
        loop {
            pos = pos.next_multiple_of(16);
            if pos >= end {
                break;
            }
            let (entry, next) = self.series_at(pos, end)?;
            if let Some(prev) = out.last()
                && prev.labels >= entry.labels
            {
                return Err(corrupt(
                    self.path,
                    pos,
                    format_args!(
                        "series {} is not after {} in label order",
                        entry.labels, prev.labels
                    ),
                ));
            }
            refs.push((pos / 16) as u64);
            out.push(entry);
            pos = next;
        }
        if let Some(all) = self.all_postings()?
            && all != refs
        {
            return Err(corrupt(
                self.path,
                self.toc.postings_offset_table as usize,
                format_args!(
                    "the all-postings list has {} series, the series section {} (or their ids differ)",
                    all.len(),
                    refs.len()
                ),
            ));
        }
        Ok(out)
    }

    fn symbol(&self, c: &mut Cursor<'_>) -> Result<&'a str, PromBlockError> {
        let at = c.pos;
        let r = c.uvarint("label reference")?;
        usize::try_from(r)
            .ok()
            .and_then(|i| self.symbols.get(i).copied())
            .ok_or_else(|| {
                corrupt(
                    self.path,
                    at,
                    format_args!(
                        "label reference {r} is not in the symbol table ({} symbols)",
                        self.symbols.len()
                    ),
                )
            })
    }

    /// Parses the series entry at `pos`; returns it and the offset after it.
    fn series_at(&self, pos: usize, end: usize) -> Result<(SeriesEntry, usize), PromBlockError> {
        let mut c = Cursor::new(self.path, self.data, pos, end);
        let len = c.usize_uvarint("series length")?;
        let start = c.pos;
        let content_end = start
            .checked_add(len)
            .filter(|e| e.checked_add(4).is_some_and(|e4| e4 <= end))
            .ok_or_else(|| {
                corrupt(
                    self.path,
                    pos,
                    format_args!("series: length {len} runs past the series section"),
                )
            })?;
        crc32c_check(self.path, self.data, "series", start, content_end)?;
        let mut c = Cursor::new(self.path, self.data, start, content_end);

        let n_labels = c.usize_uvarint("label count")?;
        let mut pairs = Vec::with_capacity(n_labels.min(len));
        for _ in 0..n_labels {
            let name = self.symbol(&mut c)?;
            let value = self.symbol(&mut c)?;
            pairs.push((name, value));
        }
        let labels = Labels::from_sorted(pairs.iter().copied()).ok_or_else(|| {
            corrupt(
                self.path,
                pos,
                "series labels are not sorted by unique name",
            )
        })?;

        let n_chunks = c.usize_uvarint("chunk count")?;
        let mut chunks: Vec<ChunkMeta> = Vec::with_capacity(n_chunks.min(len));
        for i in 0..n_chunks {
            let index_offset = c.pos;
            let (min_t, max_t, chunk_ref) = match chunks.last() {
                None => {
                    let min_t = c.varint("chunk min time")?;
                    let max_t = min_t.wrapping_add(c.uvarint("chunk max time")? as i64);
                    (min_t, max_t, c.uvarint("chunk reference")?)
                }
                Some(prev) => {
                    let min_t = prev.max_t.wrapping_add(c.uvarint("chunk min time")? as i64);
                    let max_t = min_t.wrapping_add(c.uvarint("chunk max time")? as i64);
                    let chunk_ref = prev
                        .chunk_ref
                        .wrapping_add(c.varint("chunk reference")? as u64);
                    (min_t, max_t, chunk_ref)
                }
            };
            if max_t < min_t || chunks.last().is_some_and(|p| min_t < p.max_t) {
                return Err(corrupt(
                    self.path,
                    index_offset,
                    format_args!("chunk {i} of {labels} has a bad time range [{min_t}, {max_t}]"),
                ));
            }
            chunks.push(ChunkMeta {
                min_t,
                max_t,
                chunk_ref,
                index_offset,
            });
        }
        if !c.at_end() {
            return Err(corrupt(
                self.path,
                c.pos,
                format_args!("series {labels}: bytes left after {n_chunks} chunks"),
            ));
        }
        Ok((SeriesEntry { labels, chunks }, content_end + 4))
    }

    /// The series ids of the all-postings list (label `""=""`), if the
    /// index has a postings offset table with that entry.
    fn all_postings(&self) -> Result<Option<Vec<u64>>, PromBlockError> {
        if self.toc.postings_offset_table == 0 {
            return Ok(None);
        }
        let mut c = framed_section(
            self.path,
            self.data,
            self.toc.postings_offset_table as usize,
            "postings offset table",
        )?;
        let count = c.be_u32("postings offset table")?;
        let mut offset = None;
        for _ in 0..count {
            let at = c.pos;
            let n = c.uvarint("postings offset entry")?;
            if n != 2 {
                return Err(corrupt(
                    self.path,
                    at,
                    format_args!("postings offset entry has {n} keys, expected 2"),
                ));
            }
            let name = c.uvarint_str("label name")?;
            let value = c.uvarint_str("label value")?;
            let off = c.uvarint("postings offset")?;
            if name.is_empty() && value.is_empty() && offset.is_none() {
                offset = Some(off);
            }
        }
        if !c.at_end() {
            return Err(corrupt(
                self.path,
                c.pos,
                format_args!("postings offset table: bytes left after {count} entries"),
            ));
        }
        let Some(off) = offset else {
            return Ok(None);
        };
        let off = usize::try_from(off)
            .ok()
            .filter(|&o| o < self.data.len())
            .ok_or_else(|| {
                corrupt(
                    self.path,
                    self.toc.postings_offset_table as usize,
                    format_args!("all-postings offset {off} is outside the index"),
                )
            })?;
        let mut c = framed_section(self.path, self.data, off, "postings list")?;
        let n = c.be_u32("postings list")?;
        let mut refs = Vec::with_capacity((n as usize).min(self.data.len() / 4));
        for _ in 0..n {
            refs.push(u64::from(c.be_u32("postings list")?));
        }
        if !c.at_end() {
            return Err(corrupt(
                self.path,
                c.pos,
                format_args!("postings list: bytes left after {n} entries"),
            ));
        }
        Ok(Some(refs))
    }
}

/// The chunk segment files of a block, in sequence order.
struct Segments {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Segments {
    fn open(dir: &Path) -> Result<Segments, PromBlockError> {
        let io_err = |source| PromBlockError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(seq) = name.parse::<u64>() {
                names.push((seq, entry.path()));
            }
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for (_, path) in names {
            let data = read_file(&path)?;
            if data.len() < CHUNKS_HEADER_LEN {
                return Err(corrupt(
                    &path,
                    0,
                    format_args!("segment is {} bytes, too short for its header", data.len()),
                ));
            }
            let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            if magic != CHUNKS_MAGIC {
                return Err(PromBlockError::BadMagic {
                    path,
                    found: magic,
                    expected: CHUNKS_MAGIC,
                });
            }
            if data[4] != CHUNKS_VERSION_1 {
                return Err(PromBlockError::UnsupportedVersion {
                    path,
                    offset: 4,
                    version: u32::from(data[4]),
                });
            }
            files.push((path, data));
        }
        Ok(Segments { files })
    }

    /// Reads the chunk `meta` refers to; `index_path` names the file the
    /// reference came from, for errors about the reference itself.
    fn chunk(&self, meta: &ChunkMeta, index_path: &Path) -> Result<PromChunk, PromBlockError> {
        let seg = (meta.chunk_ref >> 32) as usize;
        let off = (meta.chunk_ref & 0xffff_ffff) as usize;
        let Some((path, data)) = self.files.get(seg) else {
            return Err(PromBlockError::Corrupt {
                path: index_path.to_path_buf(),
                offset: meta.index_offset as u64,
                reason: format!(
                    "chunk reference {:#x} names segment {seg}, but there are {} segment files",
                    meta.chunk_ref,
                    self.files.len()
                ),
            });
        };
        if off < CHUNKS_HEADER_LEN || off >= data.len() {
            return Err(corrupt(
                path,
                off,
                format_args!(
                    "chunk reference {:#x} points outside the segment ({} bytes)",
                    meta.chunk_ref,
                    data.len()
                ),
            ));
        }
        let mut c = Cursor::new(path, data, off, data.len());
        let len = c.usize_uvarint("chunk length")?;
        let start = c.pos;
        let encoding = c.u8("chunk encoding")?;
        let chunk_data = c.take(len, "chunk data")?;
        crc32c_check(path, data, "chunk", start, c.pos)?;
        Ok(PromChunk {
            min_t: meta.min_t,
            max_t: meta.max_t,
            encoding,
            data: chunk_data.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::chunk::ENCODING_XOR;
    use argus_model::varint::{put_uvarint, put_varint};
    use argus_model::{Sample, XorAppender, XorChunk};

    fn put_str(buf: &mut Vec<u8>, s: &str) {
        put_uvarint(buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }

    fn crc(buf: &mut Vec<u8>, from: usize) {
        let c = crc32c::crc32c(&buf[from..]);
        buf.extend_from_slice(&c.to_be_bytes());
    }

    /// A `len <4b>` framed section with its CRC.
    fn framed(buf: &mut Vec<u8>, content: &[u8]) {
        buf.extend_from_slice(&(content.len() as u32).to_be_bytes());
        let from = buf.len();
        buf.extend_from_slice(content);
        crc(buf, from);
    }

    fn pad(buf: &mut Vec<u8>, align: usize) {
        while !buf.len().is_multiple_of(align) {
            buf.push(0);
        }
    }

    struct TestSeries {
        labels: Vec<(&'static str, &'static str)>,
        chunks: Vec<Vec<Sample>>,
    }

    fn encode(samples: &[Sample]) -> Vec<u8> {
        let mut a = XorAppender::new();
        for s in samples {
            a.append(s.t, s.v);
        }
        a.into_bytes()
    }

    /// Writes a block the way Prometheus lays it out; returns the byte
    /// offsets of the first series entry and of the first chunk.
    fn write_block(dir: &Path, series: &[TestSeries]) -> (usize, usize) {
        // Chunks.
        let mut seg = Vec::new();
        seg.extend_from_slice(&CHUNKS_MAGIC.to_be_bytes());
        seg.extend_from_slice(&[CHUNKS_VERSION_1, 0, 0, 0]);
        let mut refs: Vec<Vec<u64>> = Vec::new();
        for s in series {
            let mut r = Vec::new();
            for c in &s.chunks {
                r.push(seg.len() as u64);
                let data = encode(c);
                put_uvarint(&mut seg, data.len() as u64);
                let from = seg.len();
                seg.push(ENCODING_XOR);
                seg.extend_from_slice(&data);
                crc(&mut seg, from);
            }
            refs.push(r);
        }
        let first_chunk = CHUNKS_HEADER_LEN;
        std::fs::create_dir_all(dir.join("chunks")).expect("mkdir");
        std::fs::write(dir.join("chunks/000001"), &seg).expect("write segment");

        // Symbols.
        let mut syms: Vec<&str> = series
            .iter()
            .flat_map(|s| s.labels.iter().flat_map(|(n, v)| [*n, *v]))
            .chain([""])
            .collect();
        syms.sort();
        syms.dedup();
        let sym_ref = |s: &str| syms.binary_search(&s).expect("symbol") as u64;

        let mut idx = Vec::new();
        idx.extend_from_slice(&INDEX_MAGIC.to_be_bytes());
        idx.push(INDEX_VERSION_2);
        let toc_symbols = idx.len();
        let mut content = (syms.len() as u32).to_be_bytes().to_vec();
        for s in &syms {
            put_str(&mut content, s);
        }
        framed(&mut idx, &content);

        // Series.
        let toc_series = idx.len();
        let mut ids = Vec::new();
        let mut first_series = 0;
        for (s, r) in series.iter().zip(&refs) {
            pad(&mut idx, 16);
            if ids.is_empty() {
                first_series = idx.len();
            }
            ids.push((idx.len() / 16) as u32);
            let mut e = Vec::new();
            put_uvarint(&mut e, s.labels.len() as u64);
            for (n, v) in &s.labels {
                put_uvarint(&mut e, sym_ref(n));
                put_uvarint(&mut e, sym_ref(v));
            }
            put_uvarint(&mut e, s.chunks.len() as u64);
            let mut prev: Option<(i64, u64)> = None;
            for (c, &cref) in s.chunks.iter().zip(r) {
                let (mint, maxt) = (c[0].t, c[c.len() - 1].t);
                match prev {
                    None => {
                        put_varint(&mut e, mint);
                        put_uvarint(&mut e, (maxt - mint) as u64);
                        put_uvarint(&mut e, cref);
                    }
                    Some((pmaxt, pref)) => {
                        put_uvarint(&mut e, (mint - pmaxt) as u64);
                        put_uvarint(&mut e, (maxt - mint) as u64);
                        put_varint(&mut e, cref as i64 - pref as i64);
                    }
                }
                prev = Some((maxt, cref));
            }
            put_uvarint(&mut idx, e.len() as u64);
            let from = idx.len();
            idx.extend_from_slice(&e);
            crc(&mut idx, from);
        }

        // No label indices; postings: only the all-postings list.
        let toc_label_indices = idx.len();
        pad(&mut idx, 4);
        let toc_postings = idx.len();
        let mut content = (ids.len() as u32).to_be_bytes().to_vec();
        for id in &ids {
            content.extend_from_slice(&id.to_be_bytes());
        }
        framed(&mut idx, &content);
        let toc_label_offset_table = idx.len();
        framed(&mut idx, &0u32.to_be_bytes());
        let toc_postings_offset_table = idx.len();
        let mut content = 1u32.to_be_bytes().to_vec();
        put_uvarint(&mut content, 2);
        put_str(&mut content, "");
        put_str(&mut content, "");
        put_uvarint(&mut content, toc_postings as u64);
        framed(&mut idx, &content);

        let toc = idx.len();
        for off in [
            toc_symbols,
            toc_series,
            toc_label_indices,
            toc_label_offset_table,
            toc_postings,
            toc_postings_offset_table,
        ] {
            idx.extend_from_slice(&(off as u64).to_be_bytes());
        }
        crc(&mut idx, toc);
        std::fs::write(dir.join("index"), &idx).expect("write index");

        let meta = r#"{"ulid":"01ARZ3NDEKTSV4RRFFQ69G5FAV","minTime":1000,"maxTime":900001,
            "stats":{"numSamples":7,"numSeries":2,"numChunks":3},
            "compaction":{"level":1,"sources":["01ARZ3NDEKTSV4RRFFQ69G5FAV"]},"version":1}"#;
        std::fs::write(dir.join("meta.json"), meta).expect("write meta");
        (first_series, first_chunk)
    }

    fn sample_series() -> Vec<TestSeries> {
        vec![
            TestSeries {
                labels: vec![("__name__", "up"), ("job", "a")],
                chunks: vec![
                    vec![Sample::new(1000, 1.0), Sample::new(16_000, 0.0)],
                    vec![Sample::new(31_000, f64::NAN), Sample::new(900_000, -2.5)],
                ],
            },
            TestSeries {
                labels: vec![("__name__", "up"), ("job", "b")],
                chunks: vec![vec![
                    Sample::new(-5, f64::INFINITY),
                    Sample::new(7, 1e300),
                    Sample::new(9, -0.0),
                ]],
            },
        ]
    }

    #[test]
    fn reads_a_hand_built_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = sample_series();
        write_block(dir.path(), &input);
        let (meta, series) = read_block(dir.path()).expect("reads");
        assert_eq!(
            meta,
            PromBlockMeta {
                ulid: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
                min_time: 1000,
                max_time: 900_001,
                num_samples: 7,
                num_series: 2,
                num_chunks: 3,
            }
        );
        assert_eq!(series.len(), 2);
        for (got, want) in series.iter().zip(&input) {
            assert_eq!(got.labels, Labels::from_pairs(&want.labels));
            assert_eq!(got.chunks.len(), want.chunks.len());
            for (gc, wc) in got.chunks.iter().zip(&want.chunks) {
                assert_eq!(gc.encoding, ENCODING_XOR);
                assert_eq!(gc.min_t, wc[0].t);
                assert_eq!(gc.max_t, wc[wc.len() - 1].t);
                let decoded = XorChunk::new(&gc.data)
                    .expect("chunk")
                    .decode()
                    .expect("decodes");
                assert_eq!(&decoded, wc);
            }
        }
    }

    #[test]
    fn detects_series_checksum_mismatch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first_series, _) = write_block(dir.path(), &sample_series());
        let path = dir.path().join("index");
        let mut idx = std::fs::read(&path).expect("read");
        // Flip a bit in the first series' label count.
        idx[first_series + 1] ^= 0x01;
        std::fs::write(&path, &idx).expect("write");
        let err = read_block(dir.path()).expect_err("must fail");
        match &err {
            PromBlockError::Checksum { what, offset, .. } => {
                assert_eq!(*what, "series");
                assert_eq!(*offset, first_series as u64 + 1);
            }
            other => panic!("unexpected error {other}"),
        }
        let msg = err.to_string();
        assert!(msg.starts_with("crc32c mismatch in "), "{msg}");
        assert!(
            msg.contains("index") && msg.contains(&format!("offset {}", first_series + 1)),
            "{msg}"
        );
    }

    #[test]
    fn detects_chunk_checksum_mismatch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, first_chunk) = write_block(dir.path(), &sample_series());
        let path = dir.path().join("chunks/000001");
        let mut seg = std::fs::read(&path).expect("read");
        let last = seg.len() - 5;
        seg[last] ^= 0x80;
        std::fs::write(&path, &seg).expect("write");
        let err = read_block(dir.path()).expect_err("must fail");
        assert!(
            matches!(err, PromBlockError::Checksum { what: "chunk", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("000001"), "{err}");

        // A flipped encoding byte is covered by the checksum too.
        let dir = tempfile::tempdir().expect("tempdir");
        write_block(dir.path(), &sample_series());
        let mut seg = std::fs::read(path_in(dir.path())).expect("read");
        seg[first_chunk + 1] = 2;
        std::fs::write(path_in(dir.path()), &seg).expect("write");
        let err = read_block(dir.path()).expect_err("must fail");
        assert!(
            matches!(err, PromBlockError::Checksum { what: "chunk", offset, .. } if offset == first_chunk as u64 + 1),
            "{err}"
        );
    }

    fn path_in(dir: &Path) -> PathBuf {
        dir.join("chunks/000001")
    }

    #[test]
    fn detects_toc_and_symbol_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_block(dir.path(), &sample_series());
        let path = dir.path().join("index");
        let orig = std::fs::read(&path).expect("read");

        let mut idx = orig.clone();
        let n = idx.len();
        idx[n - 10] ^= 0xff;
        std::fs::write(&path, &idx).expect("write");
        let err = read_block(dir.path()).expect_err("toc");
        assert!(
            matches!(
                err,
                PromBlockError::Checksum {
                    what: "table of contents",
                    ..
                }
            ),
            "{err}"
        );

        let mut idx = orig.clone();
        idx[12] ^= 0x20; // inside the symbol table's strings
        std::fs::write(&path, &idx).expect("write");
        let err = read_block(dir.path()).expect_err("symbols");
        assert!(
            matches!(
                err,
                PromBlockError::Checksum {
                    what: "symbol table",
                    offset: 9,
                    ..
                }
            ),
            "{err}"
        );

        let mut idx = orig.clone();
        idx[0] = 0;
        std::fs::write(&path, &idx).expect("write");
        let err = read_block(dir.path()).expect_err("magic");
        assert!(matches!(err, PromBlockError::BadMagic { .. }), "{err}");

        let mut idx = orig;
        idx[4] = 1;
        std::fs::write(&path, &idx).expect("write");
        let err = read_block(dir.path()).expect_err("version");
        assert!(
            matches!(
                err,
                PromBlockError::UnsupportedVersion {
                    version: 1,
                    offset: 4,
                    ..
                }
            ),
            "{err}"
        );

        std::fs::write(&path, [0xba, 0xaa, 0xd7, 0x00, 2, 0, 0]).expect("write");
        let err = read_block(dir.path()).expect_err("short");
        assert!(matches!(err, PromBlockError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn detects_missing_segment_and_bad_meta() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_block(dir.path(), &sample_series());
        std::fs::remove_file(path_in(dir.path())).expect("rm");
        let err = read_block(dir.path()).expect_err("no segment");
        assert!(err.to_string().contains("segment 0"), "{err}");

        std::fs::write(dir.path().join("meta.json"), "{").expect("write");
        let err = read_block(dir.path()).expect_err("meta");
        assert!(matches!(err, PromBlockError::Meta { .. }), "{err}");
        assert!(err.to_string().starts_with("invalid meta.json "), "{err}");
    }

    #[test]
    fn cursor_varints() {
        let p = Path::new("x");
        let mut buf = Vec::new();
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_123] {
            put_varint(&mut buf, v);
        }
        let mut c = Cursor::new(p, &buf, 0, buf.len());
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_700_000_000_123] {
            assert_eq!(c.varint("v").expect("varint"), v);
        }
        assert!(c.at_end());
        let bad = [0xffu8; 11];
        let mut c = Cursor::new(p, &bad, 0, bad.len());
        assert!(c.uvarint("v").is_err());
        let short = [0x80u8];
        let mut c = Cursor::new(p, &short, 0, short.len());
        assert!(c.uvarint("v").is_err());
    }
}
