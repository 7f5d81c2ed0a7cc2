//! The HTTP client settings shared by scrape configs, service discovery,
//! remote write/read and Alertmanager configs (Prometheus's
//! `common/config.HTTPClientConfig`).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A secret from the config file; shown as `<secret>` when printed.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`, or the legacy `bearer_token`/`bearer_token_file`
    /// folded into it (type `Bearer`).
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    /// Default true.
    pub follow_redirects: bool,
    /// Default true (Argus's client speaks HTTP/1.1 to targets either way).
    pub enable_http2: bool,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
    /// Extra request headers (`http_headers`), values as given.
    pub http_headers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicAuth {
    pub username: String,
    pub username_file: Option<PathBuf>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    /// Default `Bearer`.
    pub kind: String,
    pub credentials: Option<Secret>,
    pub credentials_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlsConfig {
    pub ca: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub cert: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key: Option<Secret>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// `TLS10` .. `TLS13`, as written.
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}
