//! One HTTP scrape: request, status check, body read with gzip decoding and
//! the body size limit.

use std::io::Write;
use std::time::Duration;

use argus_httpclient::HttpClient;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT,
};

pub(crate) const BODY_SIZE_LIMIT_ERROR: &str = "body size limit exceeded";

const USER_AGENT_VALUE: &str = concat!("Argus/", env!("CARGO_PKG_VERSION"));

/// Fixed request settings of one target.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub url: String,
    pub accept: String,
    pub accept_encoding: &'static str,
    pub timeout: Duration,
    /// 0: no limit.
    pub body_size_limit: u64,
}

#[derive(Debug)]
pub(crate) enum FetchError {
    /// The body grew past `body_size_limit`.
    BodySizeLimit,
    Other(String),
}

impl FetchError {
    pub fn message(&self) -> String {
        match self {
            FetchError::BodySizeLimit => BODY_SIZE_LIMIT_ERROR.to_string(),
            FetchError::Other(m) => m.clone(),
        }
    }
}

/// Collects decoded bytes, refusing to go past the limit.
struct LimitedBuf {
    buf: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl LimitedBuf {
    fn push(&mut self, data: &[u8]) -> bool {
        // Upstream fails a body that reaches the limit, not only one past it.
        if self.limit > 0 && (self.buf.len() + data.len()) as u64 >= self.limit {
            self.exceeded = true;
            return false;
        }
        self.buf.extend_from_slice(data);
        true
    }
}

impl Write for LimitedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.push(data) {
            Ok(data.len())
        } else {
            Err(std::io::Error::other(BODY_SIZE_LIMIT_ERROR))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Go's client prefixes request errors with the method and URL.
fn request_error(url: &str, e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::ConnectionRefused
    {
        return format!("Get {url:?}: connect: connection refused");
    }
    format!("Get {url:?}: {cause}")
}

/// Fetches the body into `buf` (cleared first, capacity kept) and returns
/// the Content-Type. The caller bounds the whole call by the timeout.
pub(crate) async fn fetch(
    client: &HttpClient,
    req: &Request,
    buf: &mut Vec<u8>,
) -> Result<String, FetchError> {
    buf.clear();
    let mut rb = client
        .client
        .get(req.url.as_str())
        .headers(client.headers.clone())
        .header(ACCEPT, req.accept.as_str())
        .header(ACCEPT_ENCODING, req.accept_encoding)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            req.timeout.as_secs_f64().to_string(),
        );
    if let Some(auth) = client
        .authorization()
        .map_err(|e| FetchError::Other(e.to_string()))?
    {
        rb = rb.header(AUTHORIZATION, auth);
    }
    let mut resp = rb
        .send()
        .await
        .map_err(|e| FetchError::Other(request_error(&req.url, &e)))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Other(format!(
            "server returned HTTP status {}",
            resp.status()
        )));
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let gzip = resp
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));

    let out = LimitedBuf {
        buf: std::mem::take(buf),
        limit: req.body_size_limit,
        exceeded: false,
    };
    let read_err = |e: reqwest::Error| FetchError::Other(request_error(&req.url, &e));
    let result = if gzip {
        let mut dec = flate2::write::MultiGzDecoder::new(out);
        let mut failed = None;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = dec.write_all(&chunk) {
                        failed = Some(e);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    *buf = std::mem::take(&mut dec.get_mut().buf);
                    return Err(read_err(e));
                }
            }
        }
        if failed.is_none()
            && let Err(e) = dec.try_finish()
        {
            failed = Some(e);
        }
        let exceeded = dec.get_ref().exceeded;
        *buf = std::mem::take(&mut dec.get_mut().buf);
        match failed {
            None => Ok(()),
            Some(_) if exceeded => Err(FetchError::BodySizeLimit),
            Some(e) => Err(FetchError::Other(format!("gzip: {e}"))),
        }
    } else {
        let mut out = out;
        let mut result = Ok(());
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if !out.push(&chunk) {
                        result = Err(FetchError::BodySizeLimit);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    result = Err(read_err(e));
                    break;
                }
            }
        }
        *buf = out.buf;
        result
    };
    result.map(|()| content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_decoded_bytes() {
        let mut w = LimitedBuf {
            buf: Vec::new(),
            limit: 10,
            exceeded: false,
        };
        assert!(w.push(b"123456789"));
        assert!(!w.push(b"0"));
        assert!(w.exceeded);
        let mut unlimited = LimitedBuf {
            buf: Vec::new(),
            limit: 0,
            exceeded: false,
        };
        assert!(unlimited.push(&[0; 100]));
    }
}
