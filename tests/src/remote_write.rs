//! A remote-write 1.0 client written by hand for the tests, independent of
//! the code under test: the `prompb.WriteRequest` protobuf encoded field by
//! field, snappy block compression, and a raw HTTP POST with the headers
//! Prometheus sends.
//!
//! ```text
//! WriteRequest { 1: repeated TimeSeries }
//! TimeSeries   { 1: repeated Label, 2: repeated Sample }
//! Label        { 1: string name, 2: string value }
//! Sample       { 1: double value, 2: int64 timestamp (ms) }
//! ```

use std::io;
use std::time::Duration;

use argus_model::varint::put_uvarint;

use crate::http::HttpResponse;

pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Including `__name__`; sorted by name when encoded.
    pub labels: Vec<(String, String)>,
    /// `(timestamp ms, value)`.
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    pub fn new(labels: &[(&str, &str)], samples: Vec<(i64, f64)>) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            samples,
        }
    }
}

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;

fn put_key(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_uvarint(out, (field << 3) | wire);
}

fn put_len_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The uncompressed protobuf `WriteRequest`.
pub fn encode_write_request(series: &[Series]) -> Vec<u8> {
    let mut request = Vec::new();
    for s in series {
        let mut labels = s.labels.clone();
        // Receivers expect labels sorted by name, as Prometheus sends them.
        labels.sort();
        let mut ts = Vec::new();
        for (name, value) in &labels {
            let mut label = Vec::new();
            put_len_delimited(&mut label, 1, name.as_bytes());
            put_len_delimited(&mut label, 2, value.as_bytes());
            put_len_delimited(&mut ts, 1, &label);
        }
        for &(t, v) in &s.samples {
            let mut sample = Vec::new();
            put_key(&mut sample, 1, WIRE_FIXED64);
            sample.extend_from_slice(&v.to_bits().to_le_bytes());
            put_key(&mut sample, 2, WIRE_VARINT);
            // int64 as a varint: negative values as their 64-bit two's complement.
            put_uvarint(&mut sample, t as u64);
            put_len_delimited(&mut ts, 2, &sample);
        }
        put_len_delimited(&mut request, 1, &ts);
    }
    request
}

/// Snappy block format (not the framed stream format), as remote write uses.
pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compress")
}

/// The body of a valid remote-write request for `series`.
pub fn write_body(series: &[Series]) -> Vec<u8> {
    snappy(&encode_write_request(series))
}

/// POSTs a valid remote-write request to `/api/v1/write`.
pub fn send(addr: &str, series: &[Series], timeout: Duration) -> io::Result<HttpResponse> {
    post(
        addr,
        "/api/v1/write",
        &[
            ("Content-Type", PROTOBUF_CONTENT_TYPE),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ("User-Agent", "argus-tests"),
        ],
        &write_body(series),
        timeout,
    )
}

/// A raw HTTP/1.1 POST with exactly the given headers (plus Host,
/// Content-Length and Connection: close), for sending wrong ones on purpose.
pub fn post(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    crate::http::request_with_headers(addr, "POST", path, headers, body, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_prompb_by_hand() {
        let body = encode_write_request(&[Series::new(&[("__name__", "a")], vec![(1, 1.0)])]);
        let want: Vec<u8> = vec![
            0x0a, 0x1c, // timeseries, 28 bytes
            0x0a, 0x0d, // label, 13 bytes
            0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // name
            0x12, 0x01, b'a', // value
            0x12, 0x0b, // sample, 11 bytes
            0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // value 1.0
            0x10, 0x01, // timestamp 1
        ];
        assert_eq!(body, want);
        let decoded = snap::raw::Decoder::new()
            .decompress_vec(&snappy(&body))
            .expect("snappy round trip");
        assert_eq!(decoded, want);
        let mut v = Vec::new();
        put_uvarint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }
}
