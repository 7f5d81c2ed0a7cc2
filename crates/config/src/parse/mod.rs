//! Typed deserialisation of `prometheus.yml` sections and their checks.
//!
//! Each section has a `Raw*` mirror deserialised straight from the text with
//! `deny_unknown_fields` (so serde_yaml reports the line of a typo or a bad
//! value), then converted into the public types with Prometheus's defaults.
//! Checks that need more than one field run during conversion and report the
//! path of the offending value; the caller turns that path into a line.

pub(crate) mod discovery;
pub(crate) mod http;
pub(crate) mod relabel;
pub(crate) mod remote;
pub(crate) mod scrape;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use crate::locate::At;

/// A problem found after deserialising, at a path in the document.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub at: At,
    pub message: String,
}

pub(crate) type Res<T> = Result<T, Invalid>;

pub(crate) fn invalid<T>(at: &At, message: impl Into<String>) -> Res<T> {
    Err(Invalid {
        at: at.clone(),
        message: message.into(),
    })
}

/// Settings that reach every section: where relative paths start and how
/// label names are validated.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub base_dir: PathBuf,
    /// `metric_name_validation_scheme: legacy`.
    pub legacy_names: bool,
}

/// Prometheus's `JoinDir`: relative, non-empty paths hang off `dir`.
pub(crate) fn join_dir(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Deserialises a scalar through `parse`. The check runs inside the scalar's
/// own deserialisation, so serde_yaml reports that scalar's line and path
/// (a check after `String::deserialize` would get the enclosing mapping's).
/// Null gives `None`.
pub(crate) fn parse_scalar<'de, D, T, E>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    E: std::fmt::Display,
{
    struct Scalar<F>(F, &'static str);
    impl<T, P: std::fmt::Display, F: FnOnce(&str) -> Result<T, P>> serde::de::Visitor<'_>
        for Scalar<F>
    {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            (self.0)(v).map(Some).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Scalar(parse, expecting))
}

/// `Option<Duration>` from a Prometheus duration string (`30s`, `1h30m`).
pub(crate) fn de_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    parse_scalar(d, "a duration such as 30s or 1h30m", crate::parse_duration)
}

/// `Option<u64>` bytes from `10MB`, `1KiB`, ... or a plain integer.
pub(crate) fn de_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    parse_scalar(d, "a size such as 10MB or 512KiB", |s| {
        match s.parse::<u64>() {
            Ok(n) => Ok(n),
            Err(_) => crate::units::parse_base2_bytes(s),
        }
    })
}

/// Accepts a field Argus knows but cannot honour only at its neutral value.
pub(crate) fn only_default<T: PartialEq + Default>(
    value: Option<T>,
    at: &At,
    field: &str,
) -> Res<()> {
    match value {
        Some(v) if v != T::default() => {
            invalid(&at.key(field), format!("{field} is not supported by argus"))
        }
        _ => Ok(()),
    }
}

/// A field present at all (any value) that Argus cannot honour.
pub(crate) fn unsupported(present: bool, at: &At, field: &str) -> Res<()> {
    if present {
        return invalid(&at.key(field), format!("{field} is not supported by argus"));
    }
    Ok(())
}

/// A `http://` or `https://` URL with a host, as remote endpoints need.
pub(crate) fn check_http_url(url: &str, at: &At) -> Res<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        return invalid(
            at,
            format!("invalid url {url:?}: scheme must be http or https"),
        );
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return invalid(at, format!("invalid url {url:?}: missing host"));
    }
    Ok(())
}

/// The label name check used by `static_configs` labels, external labels
/// and the like.
pub(crate) fn check_label_name(name: &str, ctx: &Ctx, at: &At) -> Res<()> {
    if !crate::relabel::is_valid_label_name(name, ctx.legacy_names) {
        return invalid(at, format!("{name:?} is not a valid label name"));
    }
    Ok(())
}
