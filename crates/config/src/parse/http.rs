//! The HTTP client fields Prometheus inlines into scrape, SD, remote and
//! Alertmanager configs (`common/config.HTTPClientConfig`), with its
//! mutual-exclusion rules.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{At, Res, invalid, unsupported};
use crate::http::{Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    username: Option<String>,
    username_file: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawTlsConfig {
    ca: Option<String>,
    ca_file: Option<String>,
    cert: Option<String>,
    cert_file: Option<String>,
    key: Option<String>,
    key_file: Option<String>,
    server_name: Option<String>,
    insecure_skip_verify: Option<bool>,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawHeader {
    values: Option<Vec<String>>,
    secrets: Option<Vec<String>>,
    files: Option<Vec<String>>,
}

/// The inlined HTTP client fields, moved out of a section's raw struct.
#[derive(Default)]
pub(crate) struct RawHttp {
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<IgnoredAny>,
    pub http_headers: Option<BTreeMap<String, RawHeader>>,
    pub oauth2: Option<IgnoredAny>,
}

/// Declares a raw section struct with the HTTP client fields appended
/// (serde's `flatten` cannot be combined with `deny_unknown_fields`), and a
/// `take_http` that moves them out.
macro_rules! with_http_client_fields {
    (
        $(#[$attr:meta])*
        pub(crate) struct $name:ident {
            $($(#[$fattr:meta])* $field:ident : $ty:ty,)*
        }
    ) => {
        $(#[$attr])*
        pub(crate) struct $name {
            $($(#[$fattr])* $field: $ty,)*
            basic_auth: Option<$crate::parse::http::RawBasicAuth>,
            authorization: Option<$crate::parse::http::RawAuthorization>,
            bearer_token: Option<String>,
            bearer_token_file: Option<String>,
            tls_config: Option<$crate::parse::http::RawTlsConfig>,
            follow_redirects: Option<bool>,
            enable_http2: Option<bool>,
            proxy_url: Option<String>,
            no_proxy: Option<String>,
            proxy_from_environment: Option<bool>,
            proxy_connect_header: Option<serde::de::IgnoredAny>,
            http_headers: Option<std::collections::BTreeMap<String, $crate::parse::http::RawHeader>>,
            oauth2: Option<serde::de::IgnoredAny>,
        }

        impl $name {
            fn take_http(&mut self) -> $crate::parse::http::RawHttp {
                $crate::parse::http::RawHttp {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    bearer_token: self.bearer_token.take(),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: self.tls_config.take(),
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment.take(),
                    proxy_connect_header: self.proxy_connect_header.take(),
                    http_headers: self.http_headers.take(),
                    oauth2: self.oauth2.take(),
                }
            }
        }
    };
}
pub(crate) use with_http_client_fields;

/// Prometheus's default client: follow redirects, HTTP/2 allowed.
pub(crate) fn default_client() -> HttpClientConfig {
    HttpClientConfig {
        follow_redirects: true,
        enable_http2: true,
        ..HttpClientConfig::default()
    }
}

fn set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Headers Prometheus's client sets itself.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Converts and validates the client fields; `defaults` differ per section
/// (remote write turns HTTP/2 off).
pub(crate) fn http_client(
    raw: RawHttp,
    at: &At,
    base_dir: &Path,
    defaults: HttpClientConfig,
) -> Res<HttpClientConfig> {
    let join = |p: Option<String>| non_empty(p).map(|p| super::join_dir(base_dir, &p));
    unsupported(raw.oauth2.is_some(), at, "oauth2")?;
    unsupported(
        raw.proxy_connect_header.is_some(),
        at,
        "proxy_connect_header",
    )?;
    if set(&raw.bearer_token) && set(&raw.bearer_token_file) {
        return invalid(
            &at.key("bearer_token_file"),
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    let bearer_set = set(&raw.bearer_token) || set(&raw.bearer_token_file);
    if raw.basic_auth.is_some() && bearer_set {
        return invalid(
            &at.key("basic_auth"),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    let basic_auth = match raw.basic_auth {
        None => None,
        Some(b) => {
            let at = at.key("basic_auth");
            if set(&b.username) && set(&b.username_file) {
                return invalid(
                    &at,
                    "at most one of basic_auth username, username_file & username_ref must be configured",
                );
            }
            if set(&b.password) && set(&b.password_file) {
                return invalid(
                    &at,
                    "at most one of basic_auth password, password_file & password_ref must be configured",
                );
            }
            Some(BasicAuth {
                username: b.username.unwrap_or_default(),
                username_file: join(b.username_file),
                password: non_empty(b.password).map(Secret),
                password_file: join(b.password_file),
            })
        }
    };
    let authorization = match raw.authorization {
        Some(a) => {
            let at = at.key("authorization");
            if bearer_set {
                return invalid(
                    &at,
                    "authorization is not compatible with bearer_token & bearer_token_file",
                );
            }
            if set(&a.credentials) && set(&a.credentials_file) {
                return invalid(
                    &at,
                    "at most one of authorization credentials & credentials_file must be configured",
                );
            }
            let kind = a.kind.unwrap_or_default().trim().to_string();
            let kind = if kind.is_empty() {
                "Bearer".to_string()
            } else {
                kind
            };
            if kind.eq_ignore_ascii_case("basic") {
                return invalid(
                    &at.key("type"),
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
                );
            }
            if basic_auth.is_some() {
                return invalid(
                    &at,
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                );
            }
            Some(Authorization {
                kind,
                credentials: non_empty(a.credentials).map(Secret),
                credentials_file: join(a.credentials_file),
            })
        }
        // The legacy fields become a Bearer authorization.
        None if bearer_set => Some(Authorization {
            kind: "Bearer".to_string(),
            credentials: non_empty(raw.bearer_token).map(Secret),
            credentials_file: join(raw.bearer_token_file),
        }),
        None => None,
    };
    let tls_config = tls_config(
        raw.tls_config.unwrap_or_default(),
        &at.key("tls_config"),
        base_dir,
    )?;
    let proxy_url = non_empty(raw.proxy_url);
    let no_proxy = non_empty(raw.no_proxy);
    let proxy_from_environment = raw.proxy_from_environment.unwrap_or(false);
    if let Some(url) = &proxy_url {
        let scheme_ok = ["http://", "https://", "socks5://"]
            .iter()
            .any(|s| url.starts_with(s));
        if !scheme_ok || url.chars().any(char::is_whitespace) {
            return invalid(&at.key("proxy_url"), format!("invalid proxy_url {url:?}"));
        }
        if proxy_from_environment {
            return invalid(
                &at.key("proxy_from_environment"),
                "if proxy_from_environment is configured, proxy_url must not be configured",
            );
        }
    }
    if proxy_from_environment && no_proxy.is_some() {
        return invalid(
            &at.key("no_proxy"),
            "if proxy_from_environment is configured, no_proxy must not be configured",
        );
    }
    if proxy_url.is_none() && no_proxy.is_some() {
        return invalid(
            &at.key("no_proxy"),
            "if no_proxy is configured, proxy_url must also be configured",
        );
    }
    let mut http_headers = BTreeMap::new();
    for (name, header) in raw.http_headers.unwrap_or_default() {
        let at = at.key("http_headers").key(&name);
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return invalid(&at, format!("setting header {name:?} is not allowed"));
        }
        unsupported(header.files.is_some_and(|f| !f.is_empty()), &at, "files")?;
        let mut values = header.values.unwrap_or_default();
        values.extend(header.secrets.unwrap_or_default());
        http_headers.insert(name, values);
    }
    Ok(HttpClientConfig {
        basic_auth,
        authorization,
        tls_config,
        follow_redirects: raw.follow_redirects.unwrap_or(defaults.follow_redirects),
        enable_http2: raw.enable_http2.unwrap_or(defaults.enable_http2),
        proxy_url,
        no_proxy,
        proxy_from_environment,
        http_headers,
    })
}

fn tls_version(v: Option<String>, at: &At) -> Res<Option<String>> {
    match v.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if ["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => invalid(at, format!("unknown TLS version: {v}")),
    }
}

fn tls_config(raw: RawTlsConfig, at: &At, base_dir: &Path) -> Res<TlsConfig> {
    let join = |p: Option<String>| non_empty(p).map(|p| super::join_dir(base_dir, &p));
    if set(&raw.ca) && set(&raw.ca_file) {
        return invalid(at, "at most one of ca, ca_file & ca_ref must be configured");
    }
    if set(&raw.cert) && set(&raw.cert_file) {
        return invalid(
            at,
            "at most one of cert, cert_file & cert_ref must be configured",
        );
    }
    if set(&raw.key) && set(&raw.key_file) {
        return invalid(at, "at most one of key and key_file must be configured");
    }
    let has_cert = set(&raw.cert) || set(&raw.cert_file);
    let has_key = set(&raw.key) || set(&raw.key_file);
    if has_cert && !has_key {
        return invalid(
            at,
            "exactly one of key or key_file must be configured when a client certificate is configured",
        );
    }
    if has_key && !has_cert {
        return invalid(
            at,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        );
    }
    Ok(TlsConfig {
        min_version: tls_version(raw.min_version, &at.key("min_version"))?,
        max_version: tls_version(raw.max_version, &at.key("max_version"))?,
        ca: non_empty(raw.ca),
        ca_file: join(raw.ca_file),
        cert: non_empty(raw.cert),
        cert_file: join(raw.cert_file),
        key: non_empty(raw.key).map(Secret),
        key_file: join(raw.key_file),
        server_name: non_empty(raw.server_name),
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
    })
}
