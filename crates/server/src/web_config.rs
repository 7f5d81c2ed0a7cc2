//! `--web.config.file`: the exporter-toolkit web configuration Prometheus
//! takes (`tls_server_config`, `http_server_config`, `basic_auth_users`,
//! `rate_limit`), checked strictly as upstream does. Response headers are
//! served; TLS, basic auth and rate limits are not built yet, so a file
//! asking for them stops the start instead of serving plain, open HTTP.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::ServerError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTlsConfig>,
    #[serde(default)]
    http_server_config: Option<RawHttpConfig>,
    #[serde(default)]
    rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

// Every field exporter-toolkit knows is listed so that the strict check
// refuses only unknown ones; the TLS details are read when TLS is served.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsConfig {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

impl RawTlsConfig {
    /// As exporter-toolkit's `IsEnabled`.
    fn enabled(&self) -> bool {
        [
            &self.cert,
            &self.key,
            &self.client_ca,
            &self.cert_file,
            &self.key_file,
            &self.client_auth_type,
            &self.client_ca_file,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpConfig {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    burst: Option<i64>,
    interval: Option<String>,
}

/// The parts of a web configuration the server applies.
#[derive(Debug, Default, Clone)]
pub(crate) struct WebConfig {
    /// Added to every response.
    pub headers: Vec<(String, String)>,
}

/// Headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

fn invalid(path: &Path, message: impl std::fmt::Display) -> ServerError {
    ServerError::Flag {
        flag: "web.config.file",
        message: format!("{}: {message}", path.display()),
    }
}

/// Reads and checks the file; an error names the file and the problem.
pub(crate) fn check_web_config(path: &Path) -> Result<WebConfig, ServerError> {
    let text =
        argus_config::yaml_bounds::read_bounded_to_string(path).map_err(|e| invalid(path, e))?;
    parse_web_config(path, &text)
}

fn parse_web_config(path: &Path, text: &str) -> Result<WebConfig, ServerError> {
    argus_config::yaml_bounds::check_yaml_bounds(text).map_err(|e| invalid(path, e))?;
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| invalid(path, e))?
    };
    let mut unsupported = Vec::new();
    if raw
        .tls_server_config
        .as_ref()
        .is_some_and(RawTlsConfig::enabled)
    {
        unsupported.push("tls_server_config");
    }
    if raw.basic_auth_users.as_ref().is_some_and(|u| !u.is_empty()) {
        unsupported.push("basic_auth_users");
    }
    if raw
        .rate_limit
        .as_ref()
        .is_some_and(|r| r.burst.unwrap_or(0) > 0 || r.interval.is_some())
    {
        unsupported.push("rate_limit");
    }
    if !unsupported.is_empty() {
        return Err(invalid(
            path,
            format!(
                "{} not supported by argus yet; refusing to serve without them (put a TLS-terminating, authenticating proxy in front instead)",
                unsupported.join(", ")
            ),
        ));
    }
    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        for (name, value) in http.headers.unwrap_or_default() {
            let Some(allowed) = ALLOWED_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(&name))
            else {
                return Err(invalid(
                    path,
                    format!(
                        "http_server_config.headers: header {name:?} cannot be set (allowed: {})",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            };
            if value.contains(['\r', '\n']) {
                return Err(invalid(
                    path,
                    format!("http_server_config.headers: {name:?} holds a line break"),
                ));
            }
            headers.push((allowed.to_string(), value));
        }
    }
    Ok(WebConfig { headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        parse_web_config(Path::new("web.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_and_header_only_files_are_served() {
        assert!(parse("").is_ok_and(|c| c.headers.is_empty()));
        assert!(parse("tls_server_config: {}\n").is_ok());
        let c =
            parse("http_server_config:\n  http2: true\n  headers:\n    x-frame-options: deny\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.headers,
            vec![("X-Frame-Options".to_string(), "deny".to_string())]
        );
    }

    #[test]
    fn tls_auth_and_rate_limits_are_refused_by_name() {
        for (text, name) in [
            (
                "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
                "tls_server_config",
            ),
            (
                "basic_auth_users:\n  alice: $2y$10$xyz\n",
                "basic_auth_users",
            ),
            ("rate_limit:\n  burst: 10\n  interval: 1s\n", "rate_limit"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(name) && e.contains("not supported"), "{e}");
            assert!(e.contains("web.yml"), "{e}");
        }
    }

    #[test]
    fn unknown_fields_and_headers_are_errors() {
        let e = parse("tls_config:\n  cert_file: x\n").expect_err("unknown field");
        assert!(e.contains("tls_config"), "{e}");
        let e = parse("http_server_config:\n  headers:\n    Set-Cookie: a\n").expect_err("header");
        assert!(e.contains("Set-Cookie"), "{e}");
    }
}
