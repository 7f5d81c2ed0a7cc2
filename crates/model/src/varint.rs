//! Go-compatible varints (`binary.PutUvarint` / `PutVarint` with zig-zag):
//! the one encoder and decoder shared by the XOR chunk codec, label sets,
//! the WAL, the block cells and the Prometheus block reader.

/// The most bytes a 64-bit uvarint takes (Go's `binary.MaxVarintLen64`).
pub const MAX_VARINT_LEN: usize = 10;

/// Why a uvarint does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended inside the varint.
    #[error("truncated varint")]
    Truncated,
    /// More than 64 bits, as Go's `binary.Uvarint` refuses.
    #[error("varint overflows 64 bits")]
    Overflow,
}

/// Zig-zag: small magnitudes of either sign become small unsigned values.
#[inline]
pub fn zigzag_encode(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

#[inline]
pub fn zigzag_decode(ux: u64) -> i64 {
    ((ux >> 1) as i64) ^ -((ux & 1) as i64)
}

/// Writes `x` as a uvarint to a byte sink, low 7-bit group first: the one
/// encoder, for a `Vec` ([`put_uvarint`]) or the XOR chunk's bit stream.
#[inline]
pub fn write_uvarint(mut x: u64, mut sink: impl FnMut(u8)) {
    while x >= 0x80 {
        sink((x as u8) | 0x80);
        x >>= 7;
    }
    sink(x as u8);
}

/// Writes the zig-zag varint of `x` to a byte sink.
#[inline]
pub fn write_varint(x: i64, sink: impl FnMut(u8)) {
    write_uvarint(zigzag_encode(x), sink);
}

#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, x: u64) {
    write_uvarint(x, |b| out.push(b));
}

#[inline]
pub fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, zigzag_encode(x));
}

/// Reads a uvarint from a byte source, as Go's `binary.ReadUvarint`: for
/// inputs that are not a byte slice (the XOR chunk's bit stream).
#[inline]
pub fn read_uvarint(mut next: impl FnMut() -> Option<u8>) -> Result<u64, VarintError> {
    let mut x = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let b = next().ok_or(VarintError::Truncated)?;
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(VarintError::Overflow);
        }
        x |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(x);
        }
    }
    // Not reached: the tenth byte either overflows or ends the varint.
    Err(VarintError::Overflow)
}

/// Reads a zig-zag varint from a byte source.
#[inline]
pub fn read_varint(next: impl FnMut() -> Option<u8>) -> Result<i64, VarintError> {
    read_uvarint(next).map(zigzag_decode)
}

/// Decodes a uvarint at the start of `data`: the value and its length.
#[inline]
pub fn decode_uvarint(data: &[u8]) -> Result<(u64, usize), VarintError> {
    // One byte is the common case (label lengths, small deltas).
    if let Some(&b) = data.first()
        && b < 0x80
    {
        return Ok((u64::from(b), 1));
    }
    decode_uvarint_long(data)
}

/// The multi-byte case of [`decode_uvarint`], kept out of line so the
/// one-byte case inlines into its callers.
#[inline(never)]
fn decode_uvarint_long(data: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut i = 0;
    let x = read_uvarint(|| {
        let b = data.get(i).copied();
        i += 1;
        b
    })?;
    Ok((x, i))
}

/// Decodes a zig-zag varint at the start of `data`.
#[inline]
pub fn decode_varint(data: &[u8]) -> Result<(i64, usize), VarintError> {
    decode_uvarint(data).map(|(ux, n)| (zigzag_decode(ux), n))
}

/// [`decode_uvarint`] for callers that only need to know it failed.
#[inline]
pub fn get_uvarint(data: &[u8]) -> Option<(u64, usize)> {
    decode_uvarint(data).ok()
}

/// [`decode_varint`] for callers that only need to know it failed.
#[inline]
pub fn get_varint(data: &[u8]) -> Option<(i64, usize)> {
    decode_varint(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_input() {
        for x in [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX] {
            let mut v = Vec::new();
            put_varint(&mut v, x);
            assert_eq!(get_varint(&v), Some((x, v.len())));
        }
        let mut v = Vec::new();
        put_uvarint(&mut v, u64::MAX);
        assert_eq!(get_uvarint(&v), Some((u64::MAX, 10)));
        assert_eq!(get_uvarint(&[0x80]), None);
        assert_eq!(get_uvarint(&[0xff; 11]), None);
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(decode_uvarint(&[]), Err(VarintError::Truncated));
        assert_eq!(decode_uvarint(&[0x80, 0x80]), Err(VarintError::Truncated));
        let mut over = [0xffu8; 10];
        over[9] = 0x02;
        assert_eq!(decode_uvarint(&over), Err(VarintError::Overflow));
        assert_eq!(decode_uvarint(&[0xff; 11]), Err(VarintError::Overflow));
        over[9] = 0x01;
        assert_eq!(decode_uvarint(&over), Ok((u64::MAX, 10)));
    }

    #[test]
    fn zigzag_matches_go() {
        for (x, ux) in [
            (0i64, 0u64),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
        ] {
            assert_eq!(zigzag_encode(x), ux);
            assert_eq!(zigzag_decode(ux), x);
        }
        assert_eq!(zigzag_decode(u64::MAX), i64::MIN);
    }

    #[test]
    fn byte_sources_read_like_slices() {
        let mut v = Vec::new();
        put_uvarint(&mut v, 300);
        let mut it = v.iter().copied();
        assert_eq!(read_uvarint(|| it.next()), Ok(300));
        let mut it = [0x80u8].into_iter();
        assert_eq!(read_uvarint(|| it.next()), Err(VarintError::Truncated));
    }
}
