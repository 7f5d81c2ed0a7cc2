//! Prometheus's JSON envelope and value encoding, written by hand so large
//! results are one pass over the data:
//!
//! - success: `{"status":"success","data":...}` plus `"warnings"` and
//!   `"infos"` only when non-empty;
//! - error: `{"status":"error","errorType":"...","error":"..."}`;
//! - sample values as strings in Go's `strconv.FormatFloat(v, 'f', -1, 64)`
//!   form (`"NaN"`, `"+Inf"`, `"-Inf"`), timestamps as float seconds.

use std::fmt::Write;

use argus_model::error::ErrorKind;
use argus_model::labels::Labels;
use argus_model::storage::StorageError;
use argus_model::strconv::format_float;
use argus_promql::{Annotations, QueryError, Value};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// At most this many warnings and infos are reported, as upstream.
const MAX_ANNOTATIONS: usize = 10;

/// An API error with Prometheus's `errorType` and status code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub error_type: &'static str,
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// An error of `kind`, with the `errorType` and status the kind maps to.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            error_type: kind.prometheus_error_type(),
            status: StatusCode::from_u16(kind.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, message)
    }

    pub fn execution(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Execution, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    /// A storage error, reported by its kind.
    pub fn from_storage(e: &StorageError) -> ApiError {
        ApiError::new(e.kind(), e.message())
    }

    /// An engine error; parse and type errors name the `query` parameter as
    /// upstream does.
    pub fn from_query(e: &QueryError) -> ApiError {
        let message = match e {
            QueryError::BadData(m) => format!("invalid parameter \"query\": {m}"),
            other => other.to_string(),
        };
        ApiError::new(e.kind(), message)
    }

    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str("{\"status\":\"error\",\"errorType\":");
        write_json_str(&mut out, self.error_type);
        out.push_str(",\"error\":");
        write_json_str(&mut out, &self.message);
        out.push('}');
        out
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, self.to_json())
    }
}

pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Warnings and infos of a response, each capped at ten like upstream.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Notes {
    pub fn from_annotations(a: &Annotations) -> Notes {
        Notes {
            warnings: a.warnings().map(str::to_string).collect(),
            infos: a.infos().map(str::to_string).collect(),
        }
    }

    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }
}

fn write_notes(out: &mut String, key: &str, list: &[String], kind: &str) {
    if list.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, w) in list.iter().take(MAX_ANNOTATIONS).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, w);
    }
    if list.len() > MAX_ANNOTATIONS {
        out.push(',');
        write_json_str(
            out,
            &format!(
                "{} more {kind} annotations omitted",
                list.len() - MAX_ANNOTATIONS
            ),
        );
    }
    out.push(']');
}

/// The success envelope around already-encoded `data` JSON.
pub fn success_body(data: &str, notes: &Notes) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    write_notes(&mut out, "warnings", &notes.warnings, "warning");
    write_notes(&mut out, "infos", &notes.infos, "info");
    out.push('}');
    out
}

pub fn success(data: &str, notes: &Notes) -> Response {
    json_response(StatusCode::OK, success_body(data, notes))
}

/// A JSON string literal, escaped as Go's `encoding/json` does (HTML
/// characters as `\u003c` etc.).
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A millisecond timestamp as float seconds (`1435781451.781`), written
/// like Prometheus's `jsonutil.MarshalTimestamp`.
pub fn write_timestamp(out: &mut String, t: i64) {
    let mut t = t as i128;
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    out.push_str(&format_float(v));
    out.push_str("\"]");
}

pub fn write_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, lb) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, lb.name);
        out.push(':');
        write_json_str(out, lb.value);
    }
    out.push('}');
}

/// `{"resultType":...,"result":...}` for a query result.
pub fn query_data(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"resultType\":\"");
    out.push_str(v.result_type());
    out.push_str("\",\"result\":");
    match v {
        Value::Scalar { t, v } => write_point(&mut out, *t, *v),
        Value::String { t, s } => {
            out.push('[');
            write_timestamp(&mut out, *t);
            out.push(',');
            write_json_str(&mut out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// A JSON array of strings.
pub fn string_list(items: &[String]) -> String {
    let mut out = String::with_capacity(items.len() * 16 + 2);
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(&mut out, s);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::sample::Sample;
    use argus_promql::{MatrixSeries, VectorSample};

    #[test]
    fn timestamps_as_seconds() {
        let ts = |t| {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            s
        };
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_435_781_451_780), "1435781451.780");
        assert_eq!(ts(1_000), "1");
        assert_eq!(ts(5), "0.005");
        assert_eq!(ts(-1_500), "-1.500");
    }

    #[test]
    fn values() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a<b")]);
        let v = Value::Vector(vec![VectorSample {
            labels: l.clone(),
            t: 1000,
            v: 1.0,
        }]);
        assert_eq!(
            query_data(&v),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1,"1"]}]}"#
        );
        let m = Value::Matrix(vec![MatrixSeries {
            labels: l,
            samples: vec![Sample::new(1000, 1.0), Sample::new(2500, f64::NAN)],
        }]);
        assert_eq!(
            query_data(&m),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"values":[[1,"1"],[2.500,"NaN"]]}]}"#
        );
        assert_eq!(
            query_data(&Value::Scalar { t: 1, v: 2.0 }),
            r#"{"resultType":"scalar","result":[0.001,"2"]}"#
        );
        assert_eq!(
            query_data(&Value::String {
                t: 0,
                s: "a\"b".into()
            }),
            r#"{"resultType":"string","result":[0,"a\"b"]}"#
        );
        assert_eq!(
            query_data(&Value::Vector(vec![])),
            r#"{"resultType":"vector","result":[]}"#
        );
    }

    #[test]
    fn envelope() {
        let mut n = Notes::default();
        assert_eq!(success_body("[]", &n), r#"{"status":"success","data":[]}"#);
        n.warn("w");
        assert_eq!(
            success_body("[]", &n),
            r#"{"status":"success","data":[],"warnings":["w"]}"#
        );
        for i in 0..12 {
            n.infos.push(format!("i{i}"));
        }
        assert!(success_body("[]", &n).contains("\"2 more info annotations omitted\"]"));
        let e = ApiError::bad_data("x\ny");
        assert_eq!(
            e.to_json(),
            r#"{"status":"error","errorType":"bad_data","error":"x\ny"}"#
        );
        let e = ApiError::from_query(&QueryError::BadData("1:5: parse error".into()));
        assert_eq!(e.message, "invalid parameter \"query\": 1:5: parse error");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = ApiError::from_query(&QueryError::TooManySamples("query execution"));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
