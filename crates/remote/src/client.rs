//! The HTTP side of a queue: one POST per batch, with the remote-write
//! headers, the configured headers and auth, and the error classified as
//! Prometheus does (5xx, 429 and connection errors are worth retrying).

use std::path::Path;
use std::time::Duration;

use argus_config::remote::RemoteWriteConfig;
use argus_httpclient::HttpClient;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Bytes of an error response kept for the log.
const MAX_ERROR_BODY: usize = 512;
const USER_AGENT: &str = concat!("Argus/", env!("CARGO_PKG_VERSION"));

#[derive(Debug)]
pub(crate) enum SendError {
    /// Worth retrying; the server may say when.
    Recoverable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying would fail the same way.
    Fatal(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Recoverable { reason, .. } | SendError::Fatal(reason) => f.write_str(reason),
        }
    }
}

pub(crate) struct RemoteClient {
    http: HttpClient,
    url: reqwest::Url,
    headers: HeaderMap,
    retry_on_429: bool,
}

impl RemoteClient {
    pub(crate) fn new(cfg: &RemoteWriteConfig) -> Result<RemoteClient, String> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| format!("invalid url: {e}"))?;
        // The config parser already resolved relative files.
        let http = HttpClient::new(&cfg.http, Path::new(""), Some(cfg.remote_timeout))
            .map_err(|e| e.to_string())?;
        let mut headers = http.headers.clone();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
            headers.insert(name, value);
        }
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        );
        Ok(RemoteClient {
            http,
            url,
            headers,
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    /// Posts one snappy-compressed `WriteRequest`.
    pub(crate) async fn store(&self, body: Vec<u8>) -> Result<(), SendError> {
        let mut headers = self.headers.clone();
        // Credential files are read per request, as Prometheus.
        match self.http.authorization() {
            Ok(Some(auth)) => {
                headers.insert(header::AUTHORIZATION, auth);
            }
            Ok(None) => {}
            Err(e) => return Err(SendError::Fatal(e.to_string())),
        }
        let resp = self
            .http
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Recoverable {
                reason: format!("request failed: {}", error_chain(&e)),
                retry_after: None,
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.trim().chars().take(MAX_ERROR_BODY).collect();
        let reason = format!("server returned http status {status}: {text}");
        let recoverable = status.is_server_error()
            || (status == StatusCode::TOO_MANY_REQUESTS && self.retry_on_429);
        if recoverable {
            Err(SendError::Recoverable {
                reason,
                retry_after,
            })
        } else {
            Err(SendError::Fatal(reason))
        }
    }
}

/// An error with its sources, which reqwest keeps the useful part in.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
