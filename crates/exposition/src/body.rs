//! Scrape response bodies: `Content-Encoding: gzip` and the size limit
//! (`body_size_limit`), applied to the decoded body as Prometheus does.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("unsupported Content-Encoding \"{0}\"")]
    UnsupportedEncoding(String),
    #[error("body exceeds the size limit of {0} bytes")]
    TooLarge(usize),
    #[error("invalid gzip body: {0}")]
    Gzip(#[from] std::io::Error),
}

/// The body to parse: `raw` itself when it is not compressed, otherwise
/// `raw` gunzipped into `scratch` (reused from scrape to scrape, so steady
/// state does not allocate). `limit` caps the decoded size in bytes; 0
/// means no limit.
pub fn decode_body<'b>(
    raw: &'b [u8],
    content_encoding: Option<&str>,
    limit: usize,
    scratch: &'b mut Vec<u8>,
) -> Result<&'b [u8], BodyError> {
    let encoding = content_encoding.map(str::trim).unwrap_or("");
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        if limit != 0 && raw.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        return Ok(raw);
    }
    if !(encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip")) {
        return Err(BodyError::UnsupportedEncoding(encoding.to_string()));
    }
    gunzip_into(raw, limit, scratch)?;
    Ok(scratch)
}

/// Decompresses a gzip stream (several members are read one after another,
/// as Go's reader does) into `out`, replacing its contents.
pub fn gunzip_into(compressed: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), BodyError> {
    out.clear();
    let cap = if limit == 0 {
        u64::MAX
    } else {
        limit as u64 + 1
    };
    MultiGzDecoder::new(compressed).take(cap).read_to_end(out)?;
    if limit != 0 && out.len() > limit {
        out.clear();
        return Err(BodyError::TooLarge(limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        enc.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn gzip_and_identity() {
        let text = b"# TYPE up gauge\nup 1\n".repeat(100);
        let mut scratch = Vec::new();
        let raw = gzip(&text);
        let got =
            decode_body(&raw, Some("gzip"), 0, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, &text[..]);
        let got = decode_body(&text, None, 0, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, &text[..]);
    }

    #[test]
    fn limits_apply_to_the_decoded_size() {
        let text = vec![b'a'; 10_000];
        let raw = gzip(&text);
        assert!(raw.len() < 1000);
        let mut scratch = Vec::new();
        assert!(matches!(
            decode_body(&raw, Some("gzip"), 1000, &mut scratch),
            Err(BodyError::TooLarge(1000))
        ));
        assert!(decode_body(&raw, Some("gzip"), 10_000, &mut scratch).is_ok());
        assert!(matches!(
            decode_body(&text, Some("identity"), 9_999, &mut scratch),
            Err(BodyError::TooLarge(_))
        ));
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut scratch = Vec::new();
        assert!(matches!(
            decode_body(b"not gzip", Some("gzip"), 0, &mut scratch),
            Err(BodyError::Gzip(_))
        ));
        let mut truncated = gzip(b"up 1\n");
        truncated.truncate(truncated.len() - 4);
        assert!(decode_body(&truncated, Some("gzip"), 0, &mut scratch).is_err());
        assert!(matches!(
            decode_body(b"x", Some("br"), 0, &mut scratch),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
