//! HTTP clients built from Prometheus's `HttpClientConfig` (scrape pools,
//! remote write): TLS, redirects, proxies, fixed headers, and an
//! `Authorization` header whose credential files are read at each request
//! so rotated secrets take effect without a reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use argus_config::http::{HttpClientConfig, TlsConfig};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Why a client cannot be built or a request's credentials cannot be read.
/// Each message carries its cause.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("unable to read {what} file {}: {error}", path.display())]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("unable to use specified CA cert: {0}")]
    CaCert(reqwest::Error),
    #[error("unable to use specified client cert and key: {0}")]
    ClientCert(reqwest::Error),
    #[error("client cert and key must be configured together")]
    CertWithoutKey,
    #[error("unknown TLS version: {0}")]
    TlsVersion(String),
    #[error("invalid proxy_url: {0}")]
    ProxyUrl(reqwest::Error),
    #[error("unable to build http client: {0}")]
    Build(reqwest::Error),
    #[error("invalid http header name {name:?}: {error}")]
    HeaderName {
        name: String,
        error: reqwest::header::InvalidHeaderName,
    },
    #[error("invalid value for http header {name}: {error}")]
    HeaderValue {
        name: HeaderName,
        error: reqwest::header::InvalidHeaderValue,
    },
    #[error("invalid authorization header: {0}")]
    Authorization(reqwest::header::InvalidHeaderValue),
}

/// Redirects followed when `follow_redirects` is on, as Go's client.
const MAX_REDIRECTS: usize = 10;

/// A client and the per-request settings that go with it.
#[derive(Debug, Clone)]
pub struct HttpClient {
    pub client: reqwest::Client,
    /// `http_headers`, fixed for the pool.
    pub headers: HeaderMap,
    auth: AuthSource,
}

/// Where the Authorization header comes from; files are read at each
/// scrape so rotated credentials take effect without a reload.
#[derive(Debug, Clone)]
enum AuthSource {
    None,
    Basic {
        username: String,
        username_file: Option<PathBuf>,
        password: String,
        password_file: Option<PathBuf>,
    },
    Authorization {
        kind: String,
        credentials: String,
        credentials_file: Option<PathBuf>,
    },
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_secret(path: &Path, what: &'static str) -> Result<String, HttpClientError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|error| HttpClientError::ReadFile {
            what,
            path: path.to_path_buf(),
            error,
        })
}

fn read_pem(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    base: &Path,
    what: &'static str,
) -> Result<Option<Vec<u8>>, HttpClientError> {
    if let Some(text) = inline {
        return Ok(Some(text.as_bytes().to_vec()));
    }
    match file {
        Some(f) => {
            let path = resolve(base, f);
            std::fs::read(&path)
                .map(Some)
                .map_err(|error| HttpClientError::ReadFile { what, path, error })
        }
        None => Ok(None),
    }
}

fn tls_version(v: &str) -> Result<reqwest::tls::Version, HttpClientError> {
    Ok(match v {
        "TLS10" => reqwest::tls::Version::TLS_1_0,
        "TLS11" => reqwest::tls::Version::TLS_1_1,
        "TLS12" => reqwest::tls::Version::TLS_1_2,
        "TLS13" => reqwest::tls::Version::TLS_1_3,
        other => return Err(HttpClientError::TlsVersion(other.to_string())),
    })
}

fn apply_tls(
    mut b: reqwest::ClientBuilder,
    tls: &TlsConfig,
    base: &Path,
) -> Result<reqwest::ClientBuilder, HttpClientError> {
    if let Some(ca) = read_pem(&tls.ca, &tls.ca_file, base, "ca")? {
        let certs = reqwest::Certificate::from_pem_bundle(&ca).map_err(HttpClientError::CaCert)?;
        b = b.tls_certs_only(certs);
    }
    let cert = read_pem(&tls.cert, &tls.cert_file, base, "cert")?;
    let key_inline = tls.key.as_ref().map(|k| k.0.clone());
    let key = read_pem(&key_inline, &tls.key_file, base, "key")?;
    match (cert, key) {
        (Some(mut cert), Some(key)) => {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&cert).map_err(HttpClientError::ClientCert)?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => return Err(HttpClientError::CertWithoutKey),
    }
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(v) = &tls.min_version {
        b = b.tls_version_min(tls_version(v)?);
    }
    if let Some(v) = &tls.max_version {
        b = b.tls_version_max(tls_version(v)?);
    }
    Ok(b)
}

/// The settings that shape a `reqwest::Client` itself (not the per-request
/// headers and credentials), so configs that agree on them can share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TransportKey {
    tls: TlsConfig,
    follow_redirects: bool,
    proxy_url: Option<String>,
    proxy_from_environment: bool,
    base: PathBuf,
    timeout: Option<Duration>,
}

impl TransportKey {
    fn new(cfg: &HttpClientConfig, base: &Path, timeout: Option<Duration>) -> TransportKey {
        TransportKey {
            tls: cfg.tls_config.clone(),
            follow_redirects: cfg.follow_redirects,
            proxy_url: cfg.proxy_url.clone(),
            proxy_from_environment: cfg.proxy_from_environment,
            base: base.to_path_buf(),
            timeout,
        }
    }

    fn build(&self) -> Result<reqwest::Client, HttpClientError> {
        let mut b = reqwest::Client::builder()
            .redirect(if self.follow_redirects {
                reqwest::redirect::Policy::limited(MAX_REDIRECTS)
            } else {
                reqwest::redirect::Policy::none()
            })
            .pool_max_idle_per_host(2);
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        b = match &self.proxy_url {
            Some(url) => {
                b.proxy(reqwest::Proxy::all(url.as_str()).map_err(HttpClientError::ProxyUrl)?)
            }
            None if self.proxy_from_environment => b,
            None => b.no_proxy(),
        };
        b = apply_tls(b, &self.tls, &self.base)?;
        b.build().map_err(HttpClientError::Build)
    }
}

/// Shares one `reqwest::Client` (connection pool, TLS roots) among the
/// configs with the same transport settings. Building a client loads the
/// system's root certificates, milliseconds and ~100 KB each, which made a
/// reload with thousands of jobs take minutes and hold gigabytes. Keep a
/// cache for one configuration generation: a fresh cache at each reload
/// re-reads CA and certificate files, as Prometheus does.
#[derive(Debug, Default)]
pub struct TransportCache {
    clients: std::collections::HashMap<TransportKey, reqwest::Client>,
}

impl TransportCache {
    /// Distinct clients built so far.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

impl HttpClient {
    /// Relative credential and TLS files are resolved against `base`; a
    /// `timeout` bounds whole requests.
    pub fn new(
        cfg: &HttpClientConfig,
        base: &Path,
        timeout: Option<Duration>,
    ) -> Result<HttpClient, HttpClientError> {
        let client = TransportKey::new(cfg, base, timeout).build()?;
        HttpClient::with_transport(client, cfg, base)
    }

    /// As `new`, taking the transport from `cache` when a config with the
    /// same transport settings built one already.
    pub fn new_cached(
        cfg: &HttpClientConfig,
        base: &Path,
        timeout: Option<Duration>,
        cache: &mut TransportCache,
    ) -> Result<HttpClient, HttpClientError> {
        let key = TransportKey::new(cfg, base, timeout);
        let client = match cache.clients.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = key.build()?;
                cache.clients.insert(key, c.clone());
                c
            }
        };
        HttpClient::with_transport(client, cfg, base)
    }

    fn with_transport(
        client: reqwest::Client,
        cfg: &HttpClientConfig,
        base: &Path,
    ) -> Result<HttpClient, HttpClientError> {
        let mut headers = HeaderMap::new();
        for (name, values) in &cfg.http_headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|error| {
                HttpClientError::HeaderName {
                    name: name.clone(),
                    error,
                }
            })?;
            for v in values {
                let value =
                    HeaderValue::from_str(v).map_err(|error| HttpClientError::HeaderValue {
                        name: name.clone(),
                        error,
                    })?;
                headers.append(name.clone(), value);
            }
        }

        let auth = if let Some(a) = &cfg.authorization {
            AuthSource::Authorization {
                kind: if a.kind.is_empty() {
                    "Bearer".to_string()
                } else {
                    a.kind.clone()
                },
                credentials: a
                    .credentials
                    .as_ref()
                    .map(|s| s.0.clone())
                    .unwrap_or_default(),
                credentials_file: a.credentials_file.as_ref().map(|p| resolve(base, p)),
            }
        } else if let Some(ba) = &cfg.basic_auth {
            AuthSource::Basic {
                username: ba.username.clone(),
                username_file: ba.username_file.as_ref().map(|p| resolve(base, p)),
                password: ba
                    .password
                    .as_ref()
                    .map(|s| s.0.clone())
                    .unwrap_or_default(),
                password_file: ba.password_file.as_ref().map(|p| resolve(base, p)),
            }
        } else {
            AuthSource::None
        };
        Ok(HttpClient {
            client,
            headers,
            auth,
        })
    }

    /// The Authorization header value for the next request, reading
    /// credential files now.
    pub fn authorization(&self) -> Result<Option<HeaderValue>, HttpClientError> {
        let text = match &self.auth {
            AuthSource::None => return Ok(None),
            AuthSource::Basic {
                username,
                username_file,
                password,
                password_file,
            } => {
                let user = match username_file {
                    Some(f) => read_secret(f, "basic auth username")?,
                    None => username.clone(),
                };
                let pass = match password_file {
                    Some(f) => read_secret(f, "basic auth password")?,
                    None => password.clone(),
                };
                format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
            }
            AuthSource::Authorization {
                kind,
                credentials,
                credentials_file,
            } => {
                let creds = match credentials_file {
                    Some(f) => read_secret(f, "authorization credentials")?,
                    None => credentials.clone(),
                };
                format!("{kind} {creds}")
            }
        };
        let mut v = HeaderValue::from_str(&text).map_err(HttpClientError::Authorization)?;
        v.set_sensitive(true);
        Ok(Some(v))
    }
}

/// Standard base64 with padding (basic auth, kubeconfig `*-data` fields).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn password_file_is_read_per_request() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let file = dir.path().join("pw");
        std::fs::write(&file, "one\n").unwrap_or_else(|e| panic!("write: {e}"));
        let cfg = HttpClientConfig {
            basic_auth: Some(argus_config::http::BasicAuth {
                username: "u".to_string(),
                password_file: Some(PathBuf::from("pw")),
                ..Default::default()
            }),
            follow_redirects: true,
            ..Default::default()
        };
        let c = HttpClient::new(&cfg, dir.path(), None).unwrap_or_else(|e| panic!("client: {e}"));
        let first = c.authorization().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, Some(HeaderValue::from_static("Basic dTpvbmU=")));
        std::fs::write(&file, "two").unwrap_or_else(|e| panic!("write: {e}"));
        let second = c.authorization().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second, Some(HeaderValue::from_static("Basic dTp0d28=")));
    }
}

#[cfg(test)]
mod transport_tests {
    use super::*;

    #[test]
    fn configs_differing_only_in_credentials_share_a_transport() {
        let mut cache = TransportCache::default();
        let plain = HttpClientConfig {
            follow_redirects: true,
            ..HttpClientConfig::default()
        };
        let mut with_header = plain.clone();
        with_header
            .http_headers
            .insert("X-Team".to_string(), vec!["a".to_string()]);
        let base = Path::new("");
        let a = HttpClient::new_cached(&plain, base, None, &mut cache).expect("client");
        let b = HttpClient::new_cached(&with_header, base, None, &mut cache).expect("client");
        assert_eq!(cache.len(), 1);
        assert!(a.headers.is_empty());
        assert_eq!(b.headers.len(), 1);

        let mut insecure = plain.clone();
        insecure.tls_config.insecure_skip_verify = true;
        HttpClient::new_cached(&insecure, base, None, &mut cache).expect("client");
        HttpClient::new_cached(&plain, base, Some(Duration::from_secs(5)), &mut cache)
            .expect("client");
        assert_eq!(cache.len(), 3);
    }
}
