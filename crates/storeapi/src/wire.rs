//! `thanos.Series` written straight from the model's labels and chunks and
//! read straight into them. It is the message a `Series` call is made of,
//! and the generated type costs two strings per label and a vector per
//! chunk each way; this one costs a buffer per series and one per chunk.
//! Same fields, numbers and wire types as `proto/store/storepb/types.proto`
//! (`Series`, `AggrChunk`, `Chunk`, `labelpb.Label`), checked against the
//! generated types in the tests.

use std::sync::Arc;

use argus_model::labels::Labels;
use argus_model::storage::{ChunkData, StorageSeries};
use prost::DecodeError;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_key, decode_varint, encode_key, encode_varint,
    encoded_len_varint, key_len, merge_loop, skip_field,
};

use crate::convert::ConvertError;

/// `Chunk.Encoding.XOR`.
const XOR: u64 = 0;

/// A `thanos.Series`: labels and raw XOR chunks.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Labels to encode. Decoding leaves them empty and keeps what it
    /// reads aside: see [`Series::into_storage`].
    pub labels: Labels,
    pub chunks: Vec<ChunkData>,
    /// Labels as received, in the model's encoding (sorted or not).
    received: Vec<u8>,
    /// The first chunk received that is not a raw XOR chunk.
    unsupported: Option<Unreadable>,
}

/// Equal when they encode alike.
impl PartialEq for Series {
    fn eq(&self, other: &Self) -> bool {
        let chunk = |c: &ChunkData| (c.min_t, c.max_t, c.bytes.clone());
        self.label_pairs().eq(other.label_pairs())
            && self
                .chunks
                .iter()
                .map(chunk)
                .eq(other.chunks.iter().map(chunk))
    }
}

impl Series {
    pub fn new(series: StorageSeries) -> Series {
        Series {
            labels: series.labels,
            chunks: series.chunks,
            ..Series::default()
        }
    }

    /// The labels to encode: those set, or those received.
    fn label_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let set = self
            .labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes()));
        let mut rest = &self.received[..];
        let received = std::iter::from_fn(move || {
            let name = take_bytes(&mut rest)?;
            let value = take_bytes(&mut rest)?;
            Some((name, value))
        });
        set.chain(received)
    }

    /// The series received: labels sorted (a sender may send them in any
    /// order; a repeated name keeps its last value, an empty value is
    /// dropped), chunks as sent; an error for a chunk this store cannot
    /// read (downsampled, native histograms) or labels that are not UTF-8.
    pub fn into_storage(self) -> Result<StorageSeries, ConvertError> {
        match self.unsupported {
            Some(Unreadable::Encoding(kind)) => return Err(ConvertError::ChunkEncoding(kind)),
            Some(Unreadable::NoRaw { min_t, max_t }) => {
                return Err(ConvertError::NoRawChunk {
                    min_time: min_t,
                    max_time: max_t,
                });
            }
            None => {}
        }
        let labels = if self.received.is_empty() {
            self.labels
        } else {
            match Labels::from_bytes(&self.received) {
                Some(l) => l,
                None => unsorted_labels(&self.received)?,
            }
        };
        Ok(StorageSeries {
            labels,
            chunks: self.chunks,
        })
    }
}

/// A chunk received that this store cannot read.
#[derive(Clone, Copy, Debug)]
enum Unreadable {
    /// Not XOR (native histograms).
    Encoding(i32),
    /// No raw chunk: downsampled aggregates only.
    NoRaw { min_t: i64, max_t: i64 },
}

/// Labels from a buffer in the model's encoding that
/// [`Labels::from_bytes`] refused: out of order, repeated or empty.
fn unsorted_labels(mut buf: &[u8]) -> Result<Labels, ConvertError> {
    let mut pairs = Vec::new();
    while !buf.is_empty() {
        let name = take_str(&mut buf)?;
        let value = take_str(&mut buf)?;
        pairs.push((name, value));
    }
    Ok(Labels::from_pairs(&pairs))
}

/// The next length-prefixed string of a buffer in the model's encoding.
fn take_bytes<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    if buf.is_empty() {
        return None;
    }
    let n = usize::try_from(decode_varint(buf).ok()?).ok()?;
    let (s, rest) = buf.split_at_checked(n)?;
    *buf = rest;
    Some(s)
}

fn take_str<'a>(buf: &mut &'a [u8]) -> Result<&'a str, ConvertError> {
    let s = take_bytes(buf).ok_or_else(|| ConvertError::Labels("malformed label".to_string()))?;
    std::str::from_utf8(s).map_err(|_| ConvertError::Labels("label is not UTF-8".to_string()))
}

/// A length-delimited field of `len` bytes: its key, length and bytes.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn label_len(name: &[u8], value: &[u8]) -> usize {
    let field = |s: &[u8]| {
        if s.is_empty() {
            0
        } else {
            delimited_len(1, s.len())
        }
    };
    field(name) + field(value)
}

fn raw_chunk_len(c: &ChunkData) -> usize {
    if c.bytes.is_empty() {
        0
    } else {
        delimited_len(2, c.bytes.len())
    }
}

fn aggr_chunk_len(c: &ChunkData) -> usize {
    let varint = |v: i64| {
        if v == 0 {
            0
        } else {
            key_len(1) + encoded_len_varint(v as u64)
        }
    };
    varint(c.min_t) + varint(c.max_t) + delimited_len(3, raw_chunk_len(c))
}

fn put_str(tag: u32, s: &[u8], buf: &mut impl BufMut) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.put_slice(s);
    }
}

fn put_int(tag: u32, v: i64, buf: &mut impl BufMut) {
    if v != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(v as u64, buf);
    }
}

impl prost::Message for Series {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for (name, value) in self.label_pairs() {
            encode_key(1, WireType::LengthDelimited, buf);
            encode_varint(label_len(name, value) as u64, buf);
            put_str(1, name, buf);
            put_str(2, value, buf);
        }
        for c in &self.chunks {
            encode_key(2, WireType::LengthDelimited, buf);
            encode_varint(aggr_chunk_len(c) as u64, buf);
            put_int(1, c.min_t, buf);
            put_int(2, c.max_t, buf);
            encode_key(3, WireType::LengthDelimited, buf);
            encode_varint(raw_chunk_len(c) as u64, buf);
            // type XOR is 0: not written.
            if !c.bytes.is_empty() {
                encode_key(2, WireType::LengthDelimited, buf);
                encode_varint(c.bytes.len() as u64, buf);
                buf.put_slice(&c.bytes);
            }
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                let mut label = ReceivedLabel::new(&mut self.received);
                merge_loop(&mut label, buf, ctx, |l, buf, ctx| l.merge(buf, ctx))?;
                label.finish();
                Ok(())
            }
            2 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                let mut chunk = ReceivedChunk::default();
                merge_loop(&mut chunk, buf, ctx, |c, buf, ctx| c.merge(buf, ctx))?;
                match chunk.into_chunk() {
                    Ok(c) => self.chunks.push(c),
                    Err(e) => {
                        self.unsupported.get_or_insert(e);
                    }
                }
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let labels: usize = self
            .label_pairs()
            .map(|(name, value)| delimited_len(1, label_len(name, value)))
            .sum();
        let chunks: usize = self
            .chunks
            .iter()
            .map(|c| delimited_len(2, aggr_chunk_len(c)))
            .sum();
        labels + chunks
    }

    fn clear(&mut self) {
        *self = Series::default();
    }
}

/// The length of a length-delimited field, checked against what is left.
fn field_len(wire_type: WireType, buf: &mut impl Buf) -> Result<usize, DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        // prost 0.14 makes its own error kinds private; its constructor
        // for descriptions is what hand-written messages have.
        #[allow(deprecated)]
        return Err(DecodeError::new("buffer underflow"));
    }
    Ok(len as usize)
}

/// One `labelpb.Label`, read into the end of the series' label buffer
/// in the model's encoding: name, then value, each a uvarint length and
/// the bytes (UTF-8 is checked once per series, by the model).
struct ReceivedLabel<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    /// Where the name and the value were put, if they came.
    name: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
}

impl<'a> ReceivedLabel<'a> {
    fn new(out: &'a mut Vec<u8>) -> ReceivedLabel<'a> {
        if out.capacity() == 0 {
            // Most label sets fit: one allocation per series, not several.
            out.reserve(256);
        }
        ReceivedLabel {
            start: out.len(),
            out,
            name: None,
            value: None,
        }
    }

    fn merge(&mut self, buf: &mut impl Buf, ctx: DecodeContext) -> Result<(), DecodeError> {
        let (tag, wire_type) = decode_key(buf)?;
        match tag {
            1 | 2 => {
                let len = field_len(wire_type, buf)?;
                let at = self.out.len();
                encode_varint(len as u64, self.out);
                let bytes = self.out.len();
                self.out.resize(bytes + len, 0);
                buf.copy_to_slice(&mut self.out[bytes..]);
                let put = Some((at, self.out.len()));
                if tag == 1 {
                    self.name = put;
                } else {
                    self.value = put;
                }
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    /// Leaves exactly the name and the value at the end of the buffer:
    /// they already are, unless the fields came out of order, repeated or
    /// missing (an empty string is not sent).
    fn finish(self) {
        let end = self.out.len();
        if let (Some(name), Some(value)) = (self.name, self.value)
            && name.0 == self.start
            && value.0 == name.1
            && value.1 == end
        {
            return;
        }
        let field = |at: Option<(usize, usize)>, out: &[u8]| -> Vec<u8> {
            let Some((a, b)) = at else {
                return Vec::new();
            };
            let mut f = &out[a..b];
            take_bytes(&mut f).map(<[u8]>::to_vec).unwrap_or_default()
        };
        let (n, v) = (field(self.name, self.out), field(self.value, self.out));
        self.out.truncate(self.start);
        for s in [n, v] {
            encode_varint(s.len() as u64, self.out);
            self.out.extend_from_slice(&s);
        }
    }
}

/// `len` bytes of `buf` in one allocation: straight from the received
/// message when it is contiguous there.
fn read_chunk_bytes(buf: &mut impl Buf, len: usize) -> Arc<[u8]> {
    let data: Arc<[u8]> = match buf.chunk().get(..len) {
        Some(contiguous) => Arc::from(contiguous),
        None => {
            let mut v = vec![0; len];
            buf.copy_to_slice(&mut v);
            return Arc::from(v);
        }
    };
    buf.advance(len);
    data
}

/// One `AggrChunk` as received: its range and raw chunk, and whether it
/// had aggregates.
#[derive(Default)]
struct ReceivedChunk {
    min_t: i64,
    max_t: i64,
    raw: Option<(u64, Arc<[u8]>)>,
}

impl ReceivedChunk {
    fn merge(&mut self, buf: &mut impl Buf, ctx: DecodeContext) -> Result<(), DecodeError> {
        let (tag, wire_type) = decode_key(buf)?;
        match tag {
            1 | 2 => {
                check_wire_type(WireType::Varint, wire_type)?;
                let v = decode_varint(buf)? as i64;
                if tag == 1 {
                    self.min_t = v;
                } else {
                    self.max_t = v;
                }
                Ok(())
            }
            3 => {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                let mut raw = self.raw.take().unwrap_or_default();
                merge_loop(&mut raw, buf, ctx, |(kind, data), buf, ctx| {
                    let (tag, wire_type) = decode_key(buf)?;
                    match tag {
                        1 => {
                            check_wire_type(WireType::Varint, wire_type)?;
                            *kind = decode_varint(buf)?;
                            Ok(())
                        }
                        2 => {
                            let len = field_len(wire_type, buf)?;
                            *data = read_chunk_bytes(buf, len);
                            Ok(())
                        }
                        _ => skip_field(wire_type, tag, buf, ctx),
                    }
                })?;
                self.raw = Some(raw);
                Ok(())
            }
            // count, sum, min, max, counter: aggregates of downsampled
            // data, skipped; without a raw chunk the chunk is refused.
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn into_chunk(self) -> Result<ChunkData, Unreadable> {
        match self.raw {
            Some((XOR, data)) => Ok(ChunkData {
                min_t: self.min_t,
                max_t: self.max_t,
                bytes: data,
            }),
            Some((kind, _)) => Err(Unreadable::Encoding(
                i32::try_from(kind).unwrap_or(i32::MAX),
            )),
            None => Err(Unreadable::NoRaw {
                min_t: self.min_t,
                max_t: self.max_t,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::thanos::{AggrChunk, Chunk, Label, chunk};

    /// `thanos.Series` as prost generates it, to check the wire format.
    #[derive(Clone, PartialEq, prost::Message)]
    struct GeneratedSeries {
        #[prost(message, repeated, tag = "1")]
        labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        chunks: Vec<AggrChunk>,
    }

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn raw(min_time: i64, max_time: i64, data: Vec<u8>) -> AggrChunk {
        AggrChunk {
            min_time,
            max_time,
            raw: Some(Chunk {
                r#type: chunk::Encoding::Xor as i32,
                data,
                hash: 0,
            }),
            ..AggrChunk::default()
        }
    }

    fn decode(bytes: &[u8]) -> Result<StorageSeries, ConvertError> {
        Series::decode(bytes)
            .unwrap_or_else(|e| panic!("decode: {e}"))
            .into_storage()
    }

    #[test]
    fn encodes_as_the_generated_type() {
        let labels = Labels::from_pairs(&[("__name__", "up"), ("job", "node"), ("zone", "ü")]);
        let chunks = vec![
            ChunkData {
                min_t: -5,
                max_t: 0,
                bytes: vec![1u8, 2, 3].into(),
            },
            ChunkData {
                min_t: 10,
                max_t: 1 << 40,
                bytes: Vec::new().into(),
            },
        ];
        let ours = Series::new(StorageSeries {
            labels: labels.clone(),
            chunks,
        });
        let bytes = ours.encode_to_vec();
        assert_eq!(bytes.len(), ours.encoded_len());
        let generated = GeneratedSeries {
            labels: vec![
                label("__name__", "up"),
                label("job", "node"),
                label("zone", "ü"),
            ],
            chunks: vec![raw(-5, 0, vec![1, 2, 3]), raw(10, 1 << 40, Vec::new())],
        };
        assert_eq!(bytes, generated.encode_to_vec());
        let received = Series::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            Labels::from_bytes(&received.received).is_some(),
            "sorted labels are read as they come"
        );
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.labels, labels);
        let ranges: Vec<_> = back
            .chunks
            .iter()
            .map(|c| (c.min_t, c.max_t, c.bytes.to_vec()))
            .collect();
        assert_eq!(ranges, vec![(-5, 0, vec![1, 2, 3]), (10, 1 << 40, vec![])]);
    }

    #[test]
    fn labels_in_any_order_are_sorted_and_empty_values_dropped() {
        let generated = GeneratedSeries {
            labels: vec![
                label("job", "node"),
                label("__name__", "up"),
                label("x", ""),
            ],
            chunks: Vec::new(),
        };
        let back = decode(&generated.encode_to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back.labels,
            Labels::from_pairs(&[("__name__", "up"), ("job", "node")])
        );
        // Fields of a label in any order, and repeated: the last wins.
        let mut label = vec![0x12, 2, b'u', b'p', 0x0a, 1, b'x', 0x0a, 8];
        label.extend_from_slice(b"__name__");
        let mut bytes = vec![0x0a, label.len() as u8];
        bytes.extend(label);
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.labels, Labels::from_pairs(&[("__name__", "up")]));
    }

    #[test]
    fn chunks_it_cannot_read_are_refused_and_garbage_is_an_error() {
        let downsampled = GeneratedSeries {
            labels: vec![label("__name__", "up")],
            chunks: vec![AggrChunk {
                min_time: 1,
                max_time: 2,
                count: Some(Chunk::default()),
                ..AggrChunk::default()
            }],
        };
        assert!(matches!(
            decode(&downsampled.encode_to_vec()),
            Err(ConvertError::NoRawChunk { .. })
        ));
        let mut histogram = raw(1, 2, vec![9]);
        if let Some(c) = histogram.raw.as_mut() {
            c.r#type = chunk::Encoding::Histogram as i32;
        }
        let histogram = GeneratedSeries {
            labels: Vec::new(),
            chunks: vec![histogram],
        };
        assert!(matches!(
            decode(&histogram.encode_to_vec()),
            Err(ConvertError::ChunkEncoding(1))
        ));
        let mut bytes = GeneratedSeries {
            labels: vec![label("__name__", "up")],
            chunks: vec![raw(1, 2, vec![1, 2, 3])],
        }
        .encode_to_vec();
        bytes.truncate(bytes.len() - 2);
        assert!(Series::decode(bytes.as_slice()).is_err());
        let not_utf8 = [0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert!(matches!(
            Series::decode(&not_utf8[..]).map(Series::into_storage),
            Ok(Err(ConvertError::Labels(_)))
        ));
    }
}
