//! The Gorilla XOR chunk, bit-compatible with Prometheus's `chunkenc.XORChunk`.
//!
//! Layout: a 2-byte big-endian sample count, then a bit stream written most
//! significant bit first. The first sample is a zig-zag varint timestamp and
//! the raw 64 value bits; the second a uvarint time delta and an XOR-encoded
//! value; every later one a delta-of-delta in one of five bit buckets
//! (0, 14, 17, 20 or 64 bits) and an XOR-encoded value. Unused bits of the
//! last byte are zero, so equal sample sequences give equal bytes.

use crate::sample::Sample;
use crate::varint;

/// Prometheus's target number of samples per chunk.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// The encoding byte Prometheus writes before an XOR chunk in its chunk files.
pub const ENCODING_XOR: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is shorter than its 2-byte header")]
    MissingHeader,
    #[error("chunk ends early: sample {index} of {total} is truncated")]
    Truncated { index: usize, total: usize },
}

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
struct BitWriter {
    buf: Vec<u8>,
    /// Unused low bits of the last byte.
    free: u32,
}

impl BitWriter {
    #[inline]
    fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.buf.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit && let Some(last) = self.buf.last_mut() {
            *last |= 1 << self.free;
        }
    }

    /// Writes the low `n` bits of `v` (1 <= n <= 64).
    ///
    /// As Prometheus 3.x's `bstream`, a chunk that ends on a byte boundary
    /// has no byte after it. (Up to Prometheus 2.54, before PR #14854, a
    /// whole-byte write ending on a boundary left an empty byte behind,
    /// which stayed as a trailing zero when the chunk ended there; both
    /// forms decode the same.)
    #[inline]
    fn write_bits(&mut self, v: u64, n: u32) {
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                if n >= 8 {
                    self.buf.push((v >> (n - 8)) as u8);
                    n -= 8;
                    continue;
                }
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let bits = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            self.free -= take;
            if let Some(last) = self.buf.last_mut() {
                *last |= bits << self.free;
            }
            n -= take;
        }
    }

    fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }
}

/// Encodes samples into one XOR chunk.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    num: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub fn new() -> XorAppender {
        XorAppender::with_capacity(128)
    }

    pub fn with_capacity(bytes: usize) -> XorAppender {
        let mut buf = Vec::with_capacity(bytes.max(2));
        buf.extend_from_slice(&[0, 0]);
        XorAppender {
            w: BitWriter { buf, free: 0 },
            num: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// Whether the chunk has room for another sample (the count is 16 bits).
    pub fn is_full(&self) -> bool {
        self.num == u16::MAX
    }

    /// Timestamp of the last appended sample (meaningless when empty).
    pub fn last_t(&self) -> i64 {
        self.t
    }

    pub fn last_v(&self) -> f64 {
        self.v
    }

    /// Appends a sample. The caller keeps timestamps increasing and the count
    /// below `u16::MAX`; the codec itself accepts any order.
    pub fn append(&mut self, t: i64, v: f64) {
        let mut t_delta = 0u64;
        match self.num {
            0 => {
                varint::write_varint(t, |b| self.w.write_byte(b));
                self.w.write_bits(v.to_bits(), 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                varint::write_uvarint(t_delta, |b| self.w.write_byte(b));
                self.write_value(v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.t_delta = t_delta;
        self.num = self.num.wrapping_add(1);
        let [hi, lo] = self.num.to_be_bytes();
        self.w.buf[0] = hi;
        self.w.buf[1] = lo;
    }

    #[inline]
    fn write_value(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        // Five bits hold the leading-zero count, so it is clamped to 31.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.write_bit(true);
        self.w.write_bits(u64::from(leading), 5);
        // 64 significant bits do not fit in six bits; they are written as 0
        // and read back as 64.
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        self.w.write_bits(u64::from(sig) & 0x3f, 6);
        self.w.write_bits(delta >> trailing, sig);
    }

    /// The encoded chunk, header included.
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.w.buf
    }

    /// Bytes held on the heap by this appender.
    pub fn heap_bytes(&self) -> usize {
        self.w.buf.capacity()
    }

    /// Gives back memory the chunk will not use (call when sealing it).
    pub fn shrink(&mut self) {
        self.w.buf.shrink_to_fit();
    }

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.w.buf)
    }
}

#[inline]
fn bit_range(x: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// An encoded chunk borrowed from elsewhere (a block, a WAL-free head copy).
#[derive(Debug, Clone, Copy)]
pub struct XorChunk<'a> {
    data: &'a [u8],
}

impl<'a> XorChunk<'a> {
    pub fn new(data: &'a [u8]) -> Result<XorChunk<'a>, ChunkError> {
        if data.len() < 2 {
            return Err(ChunkError::MissingHeader);
        }
        Ok(XorChunk { data })
    }

    pub fn num_samples(&self) -> usize {
        header_num_samples(self.data)
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    pub fn iter(&self) -> XorIterator<'a> {
        XorIterator::new(self.data)
    }

    /// Decodes every sample, failing on a truncated stream.
    pub fn decode(&self) -> Result<Vec<Sample>, ChunkError> {
        let mut it = self.iter();
        let mut out = Vec::with_capacity(self.num_samples());
        for s in it.by_ref() {
            out.push(s);
        }
        match it.err() {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Reads bits most significant first; reads past the end fail.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    #[inline]
    fn load_u64(&self, byte: usize) -> u64 {
        if let Some(s) = self.data.get(byte..byte + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        } else {
            let mut a = [0u8; 8];
            if byte < self.data.len() {
                let rest = &self.data[byte..];
                a[..rest.len()].copy_from_slice(rest);
            }
            u64::from_be_bytes(a)
        }
    }

    /// Reads `n` bits, 1 <= n <= 64.
    #[inline]
    fn read_bits(&mut self, n: u32) -> Option<u64> {
        let end = self.pos + n as usize;
        if end > self.data.len() * 8 {
            return None;
        }
        let byte = self.pos >> 3;
        let off = (self.pos & 7) as u32;
        let hi = u128::from(self.load_u64(byte)) << 64;
        let lo = u128::from(self.data.get(byte + 8).copied().unwrap_or(0)) << 56;
        let w = (hi | lo) << off;
        self.pos = end;
        Some((w >> (128 - n)) as u64)
    }

    #[inline]
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos >> 3)?;
        let bit = (byte >> (7 - (self.pos & 7))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads a byte, not necessarily aligned.
    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        varint::read_uvarint(|| self.read_byte()).ok()
    }

    fn read_varint(&mut self) -> Option<i64> {
        varint::read_varint(|| self.read_byte()).ok()
    }
}

/// Iterates the samples of an XOR chunk. Stops early on a truncated stream;
/// [`XorIterator::err`] then tells why.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    err: Option<ChunkError>,
}

/// Chunks whose samples were iterated, process-wide: how tests show that a
/// labels-only request never decodes a chunk.
static CHUNKS_DECODED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many chunk iterators this process has started.
pub fn chunks_decoded() -> u64 {
    CHUNKS_DECODED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The sample count in a chunk's header, without decoding it (0 when the
/// header is missing).
pub fn header_num_samples(data: &[u8]) -> usize {
    match data {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    }
}

impl<'a> XorIterator<'a> {
    pub fn new(data: &'a [u8]) -> XorIterator<'a> {
        CHUNKS_DECODED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (total, err) = if data.len() < 2 {
            (0, Some(ChunkError::MissingHeader))
        } else {
            (u16::from_be_bytes([data[0], data[1]]), None)
        };
        XorIterator {
            r: BitReader {
                data: data.get(2..).unwrap_or_default(),
                pos: 0,
            },
            total,
            read: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            err,
        }
    }

    pub fn err(&self) -> Option<ChunkError> {
        self.err.clone()
    }

    fn fail(&mut self) -> Option<Sample> {
        self.err = Some(ChunkError::Truncated {
            index: usize::from(self.read),
            total: usize::from(self.total),
        });
        None
    }

    #[inline]
    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        let (leading, sig) = if !self.r.read_bit()? {
            (
                self.leading,
                64 - u32::from(self.leading) - u32::from(self.trailing),
            )
        } else {
            let leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u32;
            if sig == 0 {
                sig = 64;
            }
            self.leading = leading;
            self.trailing = (64 - u32::from(leading)).saturating_sub(sig) as u8;
            (leading, sig)
        };
        if sig == 0 || u32::from(leading) + sig > 64 {
            return None;
        }
        let bits = self.r.read_bits(sig)?;
        let shift = 64 - u32::from(leading) - sig;
        self.v = f64::from_bits(self.v.to_bits() ^ (bits << shift));
        Some(())
    }

    #[inline]
    fn step(&mut self) -> Option<()> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
            }
            1 => {
                self.t_delta = self.r.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    prefix <<= 1;
                    if !self.r.read_bit()? {
                        break;
                    }
                    prefix |= 1;
                }
                let size = match prefix {
                    0b0 => 0,
                    0b10 => 14,
                    0b110 => 17,
                    0b1110 => 20,
                    _ => 64,
                };
                let dod = if size == 0 {
                    0
                } else {
                    let bits = self.r.read_bits(size)?;
                    if size == 64 {
                        bits as i64
                    } else if bits > 1 << (size - 1) {
                        (bits as i64) - (1i64 << size)
                    } else {
                        bits as i64
                    }
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        Some(())
    }
}

impl Iterator for XorIterator<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.err.is_some() || self.read >= self.total {
            return None;
        }
        if self.step().is_none() {
            return self.fail();
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: self.v,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.total - self.read.min(self.total));
        (0, Some(left))
    }
}

/// Encodes samples into one chunk (no limit on count beyond `u16::MAX`).
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut a = XorAppender::with_capacity(2 + samples.len() * 2);
    for s in samples {
        a.append(s.t, s.v);
    }
    a.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::stale_nan;
    use proptest::prelude::*;

    fn round_trip(samples: &[Sample]) {
        let bytes = encode(samples);
        let chunk = XorChunk::new(&bytes).expect("header");
        assert_eq!(chunk.num_samples(), samples.len());
        let got = chunk.decode().expect("decodes");
        assert_eq!(got, samples);
        assert_eq!(encode(&got), bytes);
    }

    #[test]
    fn one_sample_chunk_has_no_trailing_empty_byte() {
        // promtool 3.16 writes this 16-byte chunk for (1700005523706, 7.0)
        // (2.x wrote a 17th, empty byte).
        let b = encode(&[Sample::new(1_700_005_523_706, 7.0)]);
        let want = [
            0x00, 0x01, 0xf4, 0xc3, 0xcd, 0x83, 0xfa, 0x62, 0x40, 0x1c, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(b, want);
        // The 2.x form, with the empty byte, decodes to the same sample.
        let mut old = want.to_vec();
        old.push(0);
        let decoded = XorChunk::new(&old)
            .and_then(|c| c.decode())
            .expect("decodes");
        assert_eq!(decoded, [Sample::new(1_700_005_523_706, 7.0)]);
    }

    #[test]
    fn empty_chunk_is_just_a_header() {
        assert_eq!(encode(&[]), vec![0, 0]);
        round_trip(&[]);
    }

    #[test]
    fn known_prometheus_bytes() {
        // Produced by Prometheus's chunkenc for (1000, 1.0), (2000, 2.0), (3000, 3.0).
        let s = [
            Sample::new(1000, 1.0),
            Sample::new(2000, 2.0),
            Sample::new(3000, 3.0),
        ];
        let b = encode(&s);
        assert_eq!(&b[..2], &[0, 3]);
        // First timestamp: zig-zag varint of 1000 = 2000 = 0xd0 0x0f.
        assert_eq!(&b[2..4], &[0xd0, 0x0f]);
        // Then the raw bits of 1.0.
        assert_eq!(&b[4..12], &1.0f64.to_bits().to_be_bytes());
        // Then the uvarint delta 1000 = 0xe8 0x07.
        assert_eq!(&b[12..14], &[0xe8, 0x07]);
        round_trip(&s);
    }

    #[test]
    fn special_values_round_trip() {
        let s: Vec<Sample> = [
            0.0,
            -0.0,
            f64::NAN,
            stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            -1e300,
            1.0,
            1.0,
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| Sample::new(i as i64 * 15_000 - 7, *v))
        .collect();
        round_trip(&s);
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        let s: Vec<Sample> = (0..50)
            .map(|i| Sample::new(i * 1000, i as f64 * 1.5))
            .collect();
        let b = encode(&s);
        let cut = &b[..b.len() - 5];
        let err = XorChunk::new(cut).and_then(|c| c.decode()).err();
        assert!(matches!(err, Some(ChunkError::Truncated { .. })));
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(stale_nan()),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-1e6f64..1e6f64),
            (0u32..1000).prop_map(f64::from),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_in_order_sequence_round_trips(
            start in -1i64 << 50..1i64 << 50,
            steps in proptest::collection::vec(
                prop_oneof![Just(15_000i64), 0i64..100, 0i64..10_000_000, 0i64..1i64 << 40],
                0..300),
            values in proptest::collection::vec(value(), 300),
        ) {
            let mut t = start;
            let mut s = Vec::new();
            for (i, d) in steps.iter().enumerate() {
                t += d;
                s.push(Sample::new(t, values[i]));
            }
            round_trip(&s);
        }
    }
}
