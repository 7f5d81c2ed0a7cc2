//! The record format of one `chunks_<i>` cell of `chunks.parquet`.
//!
//! A cell holds every chunk of one series whose `min_t` falls in window `i`,
//! in `min_t` order, each as a record:
//!
//! ```text
//! uvarint  min_t - window_start
//! uvarint  max_t - min_t
//! uvarint  len << 1 | stripped
//! [len]    payload
//! ```
//!
//! The payload is the Prometheus XOR chunk (2-byte sample count, bit
//! stream). When `stripped` is 1 the chunk's first timestamp, a zig-zag
//! varint right after the count that always equals `min_t`, is left out and
//! restored on read: it is the only absolute number in a chunk and costs
//! 6 bytes for present-day timestamps, against the ~3 of the window offset.

use argus_model::varint::{get_uvarint, get_varint, put_uvarint, put_varint};
use std::sync::Arc;

use argus_model::storage::ChunkData;

/// One record borrowed from a cell.
#[derive(Debug, Clone, Copy)]
pub struct CellChunk<'a> {
    pub min_t: i64,
    pub max_t: i64,
    payload: &'a [u8],
    stripped: bool,
}

impl CellChunk<'_> {
    /// The Prometheus XOR chunk bytes.
    pub fn to_chunk_data(&self) -> ChunkData {
        let bytes: Arc<[u8]> = if self.stripped {
            let mut v = Vec::with_capacity(self.payload.len() + 10);
            v.extend_from_slice(&self.payload[..2]);
            put_varint(&mut v, self.min_t);
            v.extend_from_slice(&self.payload[2..]);
            v.into()
        } else {
            Arc::from(self.payload)
        };
        ChunkData {
            min_t: self.min_t,
            max_t: self.max_t,
            bytes,
        }
    }

    /// The sample count from the chunk header.
    pub fn num_samples(&self) -> u16 {
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }
}

/// What is wrong with a chunk being written or a record being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error("chunk is shorter than its 2-byte header")]
    ShortChunk,
    #[error("chunk min_t {min_t} before its window")]
    BeforeWindow { min_t: i64 },
    #[error("chunk max_t {max_t} before min_t {min_t}")]
    EndsBeforeStart { min_t: i64, max_t: i64 },
    #[error("truncated chunk record")]
    Truncated,
    #[error("chunk record shorter than a chunk header")]
    ShortRecord,
    #[error("chunk record time out of range")]
    TimeOutOfRange,
}

/// Appends one chunk's record. `c.min_t` must be `>= window_start` and
/// `c.max_t >= c.min_t`; the chunk must have its 2-byte header.
pub fn put_chunk(out: &mut Vec<u8>, window_start: i64, c: &ChunkData) -> Result<(), CellError> {
    if c.bytes.len() < 2 {
        return Err(CellError::ShortChunk);
    }
    let off = c
        .min_t
        .checked_sub(window_start)
        .filter(|d| *d >= 0)
        .ok_or(CellError::BeforeWindow { min_t: c.min_t })?;
    let dur =
        c.max_t
            .checked_sub(c.min_t)
            .filter(|d| *d >= 0)
            .ok_or(CellError::EndsBeforeStart {
                min_t: c.min_t,
                max_t: c.max_t,
            })?;
    let count = u16::from_be_bytes([c.bytes[0], c.bytes[1]]);
    let strip = if count > 0 {
        match get_varint(&c.bytes[2..]) {
            Some((t0, n)) if t0 == c.min_t => Some(n),
            _ => None,
        }
    } else {
        None
    };
    put_uvarint(out, off as u64);
    put_uvarint(out, dur as u64);
    match strip {
        Some(n) => {
            let len = c.bytes.len() - n;
            put_uvarint(out, ((len as u64) << 1) | 1);
            out.extend_from_slice(&c.bytes[..2]);
            out.extend_from_slice(&c.bytes[2 + n..]);
        }
        None => {
            put_uvarint(out, (c.bytes.len() as u64) << 1);
            out.extend_from_slice(&c.bytes);
        }
    }
    Ok(())
}

/// Iterates the records of a cell.
pub struct CellIter<'a> {
    data: &'a [u8],
    window_start: i64,
    failed: bool,
}

pub fn cell_chunks(data: &[u8], window_start: i64) -> CellIter<'_> {
    CellIter {
        data,
        window_start,
        failed: false,
    }
}

impl<'a> Iterator for CellIter<'a> {
    type Item = Result<CellChunk<'a>, CellError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.is_empty() {
            return None;
        }
        let r = self.read_one();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> CellIter<'a> {
    fn read_one(&mut self) -> Result<CellChunk<'a>, CellError> {
        let mut pos = 0;
        let mut next = |data: &[u8]| -> Result<u64, CellError> {
            let (v, n) = get_uvarint(&data[pos..]).ok_or(CellError::Truncated)?;
            pos += n;
            Ok(v)
        };
        let off = next(self.data)?;
        let dur = next(self.data)?;
        let tag = next(self.data)?;
        let len = usize::try_from(tag >> 1).map_err(|_| CellError::Truncated)?;
        let stripped = tag & 1 == 1;
        let end = pos.checked_add(len).ok_or(CellError::Truncated)?;
        let payload = self.data.get(pos..end).ok_or(CellError::Truncated)?;
        if payload.len() < 2 {
            return Err(CellError::ShortRecord);
        }
        let min_t = i64::try_from(off)
            .ok()
            .and_then(|o| self.window_start.checked_add(o))
            .ok_or(CellError::TimeOutOfRange)?;
        let max_t = i64::try_from(dur)
            .ok()
            .and_then(|d| min_t.checked_add(d))
            .ok_or(CellError::TimeOutOfRange)?;
        self.data = &self.data[end..];
        Ok(CellChunk {
            min_t,
            max_t,
            payload,
            stripped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::Sample;
    use argus_model::chunk::encode;

    fn chunk(ts: &[i64]) -> ChunkData {
        let s: Vec<Sample> = ts
            .iter()
            .map(|t| Sample::new(*t, *t as f64 * 0.5))
            .collect();
        ChunkData {
            min_t: ts.first().copied().unwrap_or(0),
            max_t: ts.last().copied().unwrap_or(0),
            bytes: encode(&s).into(),
        }
    }

    #[test]
    fn varints() {
        for x in [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX] {
            let mut v = Vec::new();
            put_varint(&mut v, x);
            assert_eq!(get_varint(&v), Some((x, v.len())));
        }
        assert_eq!(get_uvarint(&[0x80]), None);
    }

    #[test]
    fn records_round_trip_and_strip_the_first_timestamp() {
        let ws = 1_700_000_000_000;
        let a = chunk(&[ws + 5, ws + 15_005, ws + 30_005]);
        let b = chunk(&[ws + 1_000_000, ws + 1_900_000]);
        // A chunk whose min_t is not its first sample keeps its bytes.
        let mut c = chunk(&[ws + 2_000_000]);
        c.min_t = ws + 1_999_999;
        let empty = ChunkData {
            min_t: ws + 3_000_000,
            max_t: ws + 3_000_000,
            bytes: encode(&[]).into(),
        };
        let mut cell = Vec::new();
        for x in [&a, &b, &c, &empty] {
            put_chunk(&mut cell, ws, x).expect("put");
        }
        let raw: usize = [&a, &b, &c, &empty].iter().map(|x| x.bytes.len()).sum();
        assert!(cell.len() < raw + 4 * 6, "{} vs {raw}", cell.len());
        let got: Vec<ChunkData> = cell_chunks(&cell, ws)
            .map(|r| r.expect("record").to_chunk_data())
            .collect();
        assert_eq!(got.len(), 4);
        for (g, w) in got.iter().zip([&a, &b, &c, &empty]) {
            assert_eq!((g.min_t, g.max_t), (w.min_t, w.max_t));
            assert_eq!(&g.bytes[..], &w.bytes[..]);
        }
    }

    #[test]
    fn rejects_bad_input() {
        let ws = 1000;
        let mut out = Vec::new();
        assert!(put_chunk(&mut out, ws, &chunk(&[999])).is_err());
        let mut bad = chunk(&[1000, 2000]);
        bad.max_t = 0;
        assert!(put_chunk(&mut out, ws, &bad).is_err());
        let mut cell = Vec::new();
        put_chunk(&mut cell, ws, &chunk(&[1000, 2000])).expect("put");
        cell.truncate(cell.len() - 1);
        let r: Vec<_> = cell_chunks(&cell, ws).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
    }
}
