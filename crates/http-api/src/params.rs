//! Request parameters, parsed the way Prometheus's API parses them: form
//! values from the URL query and, for POST/PUT with a form body, from the
//! body (body values first, as Go's `Request.FormValue` sees them); times
//! as RFC 3339 or Unix seconds; durations as Prometheus durations or float
//! seconds.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};

use crate::response::ApiError;

/// The earliest time the series and label APIs look at when `start` is
/// missing: Prometheus's `MinTime`, in ms.
pub const MIN_TIME_MS: i64 = -9_223_309_901_258_974_000;
/// The latest time when `end` is missing: Prometheus's `MaxTime`, in ms.
pub const MAX_TIME_MS: i64 = 9_223_309_901_258_974_999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Largest accepted form body.
const MAX_BODY: usize = 32 << 20;

/// All form values of a request, in Go's `Request.Form` order.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of `name`, or "" (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A boolean parameter as Go's `strconv.ParseBool` reads it; `None` when
/// absent or empty.
pub fn bool_param(p: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match p.value(name) {
        "" => Ok(None),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        v => Err(ApiError::bad_data(format!(
            "invalid parameter {name:?}: cannot parse {v:?} to a boolean"
        ))),
    }
}

fn parse_pairs(bytes: &[u8], out: &mut Vec<(String, String)>) {
    out.extend(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())));
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut pairs = Vec::new();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim() == "application/x-www-form-urlencoded")
            });
        let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
        let query = req.uri().query().map(str::to_owned);
        if has_body && is_form {
            let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
                .await
                .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?;
            parse_pairs(&body, &mut pairs);
        }
        if let Some(q) = query {
            parse_pairs(q.as_bytes(), &mut pairs);
        }
        Ok(Params { pairs })
    }
}

/// `invalid parameter "name": message`, as a 400 `bad_data`.
pub fn invalid_param(name: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {name:?}: {message}"))
}

/// A time parameter that is neither Unix seconds nor RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {0:?} to a valid timestamp")]
pub struct TimeParamError(pub String);

/// A duration parameter that is neither float seconds nor a Prometheus
/// duration, or does not fit Go's `time.Duration`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParamError {
    #[error("cannot parse {0:?} to a valid duration. It overflows int64")]
    Overflow(String),
    #[error("cannot parse {0:?} to a valid duration")]
    Syntax(String),
}

/// Parses a timestamp: Unix seconds (fractions rounded to ms) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, TimeParamError> {
    if let Ok(t) = argus_model::strconv::parse_float(s) {
        // Refuse values that do not make a timestamp.
        if t.is_finite() && t.abs() < 9.2e15 {
            let secs = t.trunc();
            let ms = ((t - secs) * 1000.0).round();
            return Ok(secs as i64 * 1000 + ms as i64);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(TimeParamError(s.to_string())),
    }
}

/// A time parameter with a default for a missing (empty) value, with
/// Prometheus's `parseTimeParam` message.
pub fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = p.value(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(v)
        .map_err(|e| invalid_param(name, format_args!("invalid time value for '{name}': {e}")))
}

/// Parses a duration parameter (float seconds or a Prometheus duration)
/// into nanoseconds, as Go's `time.Duration`: the float part is the API's
/// (Prometheus's `parseDuration`), the duration syntax the model's.
pub fn parse_duration_ns(s: &str) -> Result<i64, DurationParamError> {
    if let Ok(d) = argus_model::strconv::parse_float(s) {
        let ns = d * 1e9;
        if ns.is_nan() || ns >= i64::MAX as f64 || ns <= i64::MIN as f64 {
            return Err(DurationParamError::Overflow(s.to_string()));
        }
        return Ok(ns as i64);
    }
    if let Ok(ms) = argus_model::duration::parse_duration_ms(s)
        && let Some(ns) = i64::try_from(ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1_000_000))
    {
        return Ok(ns);
    }
    Err(DurationParamError::Syntax(s.to_string()))
}

/// The `limit` parameter: 0 (no limit) when missing.
pub fn limit_param(p: &Params) -> Result<usize, ApiError> {
    let s = p.value("limit");
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = s.parse().map_err(|_| {
        invalid_param(
            "limit",
            format_args!("strconv.Atoi: parsing {s:?}: invalid syntax"),
        )
    })?;
    if n < 0 {
        return Err(invalid_param("limit", "limit must be non-negative"));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Undoes Prometheus's `U__` label name escaping (`U__a_2e_b` → `a.b`,
/// `__` → `_`); other names are returned unchanged.
pub fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return name.to_string(),
            }
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return name.to_string(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00"),
            Ok(1_435_781_451_000)
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME_MS));
        assert_eq!(
            parse_time("x").map_err(|e| e.to_string()),
            Err("cannot parse \"x\" to a valid timestamp".to_string())
        );
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration_ns("-1"), Ok(-1_000_000_000));
        assert!(parse_duration_ns("1x").is_err());
        assert!(parse_duration_ns("1e300").is_err());
    }

    #[test]
    fn label_name_unescaping() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
        assert_eq!(unescape_label_name("U__a_zz_b"), "U__a_zz_b");
    }

    #[test]
    fn limits() {
        let p = |v: &str| Params::from_pairs([("limit", v)]);
        assert_eq!(limit_param(&Params::default()).ok(), Some(0));
        assert_eq!(limit_param(&p("5")).ok(), Some(5));
        assert!(limit_param(&p("-1")).is_err());
        assert!(limit_param(&p("x")).is_err());
    }
}
