//! `--log.format`: Prometheus's log line shapes, so the log pipelines users
//! built for `prometheus` read Argus too. `logfmt` (the default):
//! `time=… level=INFO source=lib.rs:42 msg="…" key=value`; `json`: one
//! object per line with the same keys.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        }
    }
}

/// Installs the global subscriber: `level` as an env-filter directive.
pub fn init(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(PrometheusFormat(format))
        .init();
}

struct PrometheusFormat(LogFormat);

/// A field value as it will be written: strings are quoted as needed,
/// numbers and booleans are bare.
enum FieldValue {
    Text(String),
    Bare(String),
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(&'static str, FieldValue)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.fields
                .push((field.name(), FieldValue::Text(value.to_string())));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields.push((field.name(), FieldValue::Text(text)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .push((field.name(), FieldValue::Bare(value.to_string())));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .push((field.name(), FieldValue::Bare(value.to_string())));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let text = if value.is_finite() {
            value.to_string()
        } else {
            // JSON has no NaN or Inf: quote them, as slog does.
            return self
                .fields
                .push((field.name(), FieldValue::Text(value.to_string())));
        };
        self.fields.push((field.name(), FieldValue::Bare(text)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .push((field.name(), FieldValue::Bare(value.to_string())));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .push((field.name(), FieldValue::Text(value.to_string())));
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        // slog has no trace level; both are debug output.
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// A logfmt value: bare when it can be, else quoted with Go's escapes.
fn logfmt_value(out: &mut String, v: &str) {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c > ' ' && c != '"' && c != '=' && c != '\\' && !c.is_control());
    if bare {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_string(out: &mut String, v: &str) {
    out.push_str(&serde_json::Value::String(v.to_string()).to_string());
}

/// One log line, without the newline.
fn render(
    format: LogFormat,
    time: &str,
    level: &str,
    source: &str,
    message: &str,
    fields: &[(&str, FieldValue)],
) -> String {
    let mut out = String::with_capacity(128);
    match format {
        LogFormat::Logfmt => {
            let _ = write!(out, "time={time} level={level} source=");
            logfmt_value(&mut out, source);
            out.push_str(" msg=");
            logfmt_value(&mut out, message);
            for (k, v) in fields {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                match v {
                    FieldValue::Text(t) | FieldValue::Bare(t) => logfmt_value(&mut out, t),
                }
            }
        }
        LogFormat::Json => {
            out.push_str("{\"time\":");
            json_string(&mut out, time);
            out.push_str(",\"level\":");
            json_string(&mut out, level);
            out.push_str(",\"source\":");
            json_string(&mut out, source);
            out.push_str(",\"msg\":");
            json_string(&mut out, message);
            for (k, v) in fields {
                out.push(',');
                json_string(&mut out, k);
                out.push(':');
                match v {
                    FieldValue::Text(t) => json_string(&mut out, t),
                    FieldValue::Bare(t) => out.push_str(t),
                }
            }
            out.push('}');
        }
    }
    out
}

impl<S, N> FormatEvent<S, N> for PrometheusFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let file = meta
            .file()
            .map_or("", |f| f.rsplit('/').next().unwrap_or(f));
        let source = match meta.line() {
            Some(line) => format!("{file}:{line}"),
            None => meta.target().to_string(),
        };
        let line = render(
            self.0,
            &time,
            level_name(meta.level()),
            &source,
            fields.message.as_deref().unwrap_or(""),
            &fields.fields,
        );
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(format: LogFormat) -> String {
        render(
            format,
            "2026-12-03T10:00:00.000Z",
            "WARN",
            "lib.rs:7",
            "ignoring \"flags\"",
            &[
                ("flags", FieldValue::Text("--a=1 --b".to_string())),
                ("n", FieldValue::Bare("3".to_string())),
                ("addr", FieldValue::Text("127.0.0.1:9090".to_string())),
            ],
        )
    }

    #[test]
    fn logfmt_quotes_only_what_needs_it() {
        assert_eq!(
            sample(LogFormat::Logfmt),
            r#"time=2026-12-03T10:00:00.000Z level=WARN source=lib.rs:7 msg="ignoring \"flags\"" flags="--a=1 --b" n=3 addr=127.0.0.1:9090"#
        );
    }

    #[test]
    fn json_lines_are_objects_with_typed_values() {
        let v: serde_json::Value =
            serde_json::from_str(&sample(LogFormat::Json)).expect("one json object");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["msg"], "ignoring \"flags\"");
        assert_eq!(v["flags"], "--a=1 --b");
        assert_eq!(v["n"], 3);
        assert_eq!(v["source"], "lib.rs:7");
    }
}
