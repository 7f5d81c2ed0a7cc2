//! The HTTP side of a queue: one POST per batch, with the remote-write
//! headers, the configured headers and auth, and the error classified as
//! Prometheus does (5xx, 429 and connection errors are worth retrying).

use std::time::Duration;

use argus_config::http::HttpClientConfig;
use argus_config::remote::RemoteWriteConfig;
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
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    retry_on_429: bool,
}

impl RemoteClient {
    pub(crate) fn new(cfg: &RemoteWriteConfig) -> Result<RemoteClient, String> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| format!("invalid url: {e}"))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.http.http_headers {
            for v in v {
                headers.append(header_name(k)?, header_value(k, v)?);
            }
        }
        for (k, v) in &cfg.headers {
            headers.insert(header_name(k)?, header_value(k, v)?);
        }
        if let Some(auth) = auth_header(&cfg.http)? {
            headers.insert(header::AUTHORIZATION, auth);
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
        let http = build_http(cfg)?;
        Ok(RemoteClient {
            http,
            url,
            headers,
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    /// Posts one snappy-compressed `WriteRequest`.
    pub(crate) async fn store(&self, body: Vec<u8>) -> Result<(), SendError> {
        let resp = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
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

fn build_http(cfg: &RemoteWriteConfig) -> Result<reqwest::Client, String> {
    let tls = &cfg.http.tls_config;
    let mut b = reqwest::Client::builder()
        .timeout(cfg.remote_timeout)
        .redirect(if cfg.http.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .tls_danger_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(pem) = read_inline_or_file(tls.ca.as_deref(), tls.ca_file.as_deref(), "ca")? {
        for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("invalid tls ca: {e}"))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    let cert = read_inline_or_file(tls.cert.as_deref(), tls.cert_file.as_deref(), "cert")?;
    let key = read_inline_or_file(
        tls.key.as_ref().map(|s| s.0.as_str()),
        tls.key_file.as_deref(),
        "key",
    )?;
    if let (Some(cert), Some(key)) = (cert, key) {
        let id = reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes())
            .map_err(|e| format!("invalid tls client certificate: {e}"))?;
        b = b.identity(id);
    }
    if let Some(proxy) = &cfg.http.proxy_url {
        b = b.proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("invalid proxy_url: {e}"))?);
    } else if !cfg.http.proxy_from_environment {
        b = b.no_proxy();
    }
    b.build()
        .map_err(|e| format!("building http client: {}", error_chain(&e)))
}

fn read_inline_or_file(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
) -> Result<Option<String>, String> {
    if let Some(s) = inline {
        return Ok(Some(s.to_string()));
    }
    match file {
        Some(p) => std::fs::read_to_string(p)
            .map(|s| Some(s.trim().to_string()))
            .map_err(|e| format!("reading {what} file {}: {e}", p.display())),
        None => Ok(None),
    }
}

/// `Authorization` from basic_auth or authorization (files read now).
fn auth_header(http: &HttpClientConfig) -> Result<Option<HeaderValue>, String> {
    if let Some(basic) = &http.basic_auth {
        let user = read_inline_or_file(
            Some(basic.username.as_str()).filter(|u| !u.is_empty()),
            basic.username_file.as_deref(),
            "username",
        )?
        .unwrap_or_default();
        let pass = read_inline_or_file(
            basic.password.as_ref().map(|s| s.0.as_str()),
            basic.password_file.as_deref(),
            "password",
        )?
        .unwrap_or_default();
        let token = base64(format!("{user}:{pass}").as_bytes());
        return header_value("authorization", &format!("Basic {token}")).map(Some);
    }
    if let Some(auth) = &http.authorization {
        let cred = read_inline_or_file(
            auth.credentials.as_ref().map(|s| s.0.as_str()),
            auth.credentials_file.as_deref(),
            "credentials",
        )?
        .unwrap_or_default();
        let kind = if auth.kind.is_empty() {
            "Bearer"
        } else {
            auth.kind.as_str()
        };
        return header_value("authorization", &format!("{kind} {cred}")).map(Some);
    }
    Ok(None)
}

fn header_name(k: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))
}

fn header_value(k: &str, v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))
}

/// Standard base64 with padding, for basic auth.
fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, want) in cases {
            assert_eq!(base64(i.as_bytes()), want, "{i}");
        }
    }
}
