//! Go-compatible varints (`binary.PutUvarint` / `PutVarint` with zig-zag),
//! shared by the WAL, the block cells and the Prometheus block reader.

pub fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

pub fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, ((x << 1) ^ (x >> 63)) as u64);
}

/// Decodes a uvarint at the start of `data`: the value and its length, or
/// `None` if it is cut short or overflows 64 bits.
pub fn get_uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, b) in data.iter().enumerate().take(10) {
        let b = u64::from(*b);
        if i == 9 && b > 1 {
            return None;
        }
        x |= (b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

pub fn get_varint(data: &[u8]) -> Option<(i64, usize)> {
    let (ux, n) = get_uvarint(data)?;
    Some((((ux >> 1) as i64) ^ -((ux & 1) as i64), n))
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
}
