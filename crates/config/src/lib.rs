//! Configuration files.
//!
//! - [`bucket`]: the Thanos-shaped object storage config (`objstore.yml`).
//! - [`prometheus`]: `prometheus.yml`, typed, with Prometheus's defaults
//!   and checks ([`scrape`], [`discovery`], [`http`], [`remote`]).
//! - [`relabel`]: relabel rules and [`relabel::relabel`], which applies them.
//!
//! Rule files come later.

pub mod bucket;
pub mod discovery;
pub mod http;
mod locate;
mod md5;
mod parse;
pub mod prometheus;
pub mod relabel;
pub mod remote;
pub mod scrape;
mod suggest;
pub mod units;
pub mod yaml_bounds;

pub use parse::scrape::{DEFAULT_SCRAPE_PROTOCOLS, PROTO_FIRST_SCRAPE_PROTOCOLS, SCRAPE_PROTOCOLS};

pub use bucket::{
    BucketConfig, BucketHttpConfig, BucketLookupType, S3Config, S3ConfigError, SseConfig,
    load_bucket_config, parse_bucket_config,
};

use std::path::PathBuf;

/// An error in a configuration file. Messages name the file (or "bucket
/// config" for text given directly) and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// The file name, or a description of where the text came from.
        origin: String,
        /// 1-based line, when the YAML parser reports one.
        line: Option<usize>,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl ConfigError {
    /// Wraps a `serde_yaml` error, keeping its line and dropping the
    /// position suffix from its message (the line is reported up front).
    pub(crate) fn yaml(origin: &str, e: &serde_yaml::Error) -> ConfigError {
        let mut message = e.to_string();
        let line = e.location().map(|l| l.line());
        if let Some(loc) = e.location() {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        ConfigError::Parse {
            origin: origin.to_string(),
            line,
            message,
        }
    }
}

impl ConfigError {
    /// Like [`ConfigError::yaml`], but an unknown field becomes a one-line
    /// message with a "did you mean" suggestion (or "not supported by
    /// argus" for a service discovery kind Argus lacks).
    /// Refuses `text` before parsing when it is too large or too deeply
    /// nested (see [`yaml_bounds`]).
    pub(crate) fn check_yaml(origin: &str, text: &str) -> Result<(), ConfigError> {
        yaml_bounds::check_yaml_bounds(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            line: e.line(),
            message: e.to_string(),
        })
    }

    pub(crate) fn yaml_with_hints(origin: &str, e: &serde_yaml::Error) -> ConfigError {
        match ConfigError::yaml(origin, e) {
            ConfigError::Parse {
                origin,
                line,
                message,
            } => ConfigError::Parse {
                origin,
                line,
                message: suggest::rewrite_unknown_field(&message),
            },
            other => other,
        }
    }
}

/// Why a duration in a configuration file does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDuration {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration {0:?}: expected e.g. 30s, 5m, 1h30m")]
    Syntax(String),
}

/// Parses a duration in Prometheus's format: one or more integer/unit pairs
/// from `y w d h m s ms` in decreasing order (`1h30m`, `90s`, `500ms`), or `0`.
/// Surrounding whitespace is ignored. The syntax is
/// [`argus_model::duration::parse_duration`]'s; this adds the config
/// file's messages.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, InvalidDuration> {
    let s = s.trim();
    if s.is_empty() {
        return Err(InvalidDuration::Empty);
    }
    argus_model::duration::parse_duration(s).map_err(|_| InvalidDuration::Syntax(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
