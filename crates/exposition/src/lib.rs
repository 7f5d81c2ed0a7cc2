//! Parsers for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! [`Parser`] walks a whole body held in memory and yields one [`Entry`] per
//! meaningful line. Samples come out as [`SampleRef`]s that borrow from the
//! body, so the per-sample path does not allocate; only [`SampleRef::labels`]
//! builds an owned label set, which a caller does once per new series (the raw
//! [`SampleRef::series`] bytes serve as a cache key in between).
//!
//! OpenMetrics bodies are checked against the whole specification by default
//! ([`Validation::Full`]: family grouping, suffixes, histogram and counter
//! rules, timestamp order, ...). Real exporters break some of those rules
//! (client_golang writes negative `_sum`s next to negative buckets, for
//! example), so a scraper that wants Prometheus's leniency uses
//! [`Validation::Syntax`].
//!
//! Metadata lines come out as [`Entry::Help`], [`Entry::Type`] and
//! [`Entry::Unit`] with the family name (the scraper keeps them per target
//! for `/api/v1/metadata`), and [`Format::from_content_type`] picks the
//! parser for a response.
//!
//! ```
//! use argus_exposition::{Entry, Format, Parser};
//!
//! let body = b"# TYPE up gauge\nup{job=\"a\"} 1 1.5\n# EOF\n";
//! let mut p = Parser::new(body, Format::OpenMetrics);
//! let mut samples = 0;
//! while let Some(entry) = p.next_entry()? {
//!     if let Entry::Sample(s) = entry {
//!         assert_eq!(s.timestamp_ms, Some(1500));
//!         assert_eq!(s.labels()?.get("job"), Some("a"));
//!         samples += 1;
//!     }
//! }
//! assert_eq!(samples, 1);
//! # Ok::<(), argus_exposition::ParseError>(())
//! ```

mod labels;
mod metadata;
mod number;
mod parser;
mod scan;
mod validate;

#[cfg(test)]
mod tests;

pub use labels::LabelPairs;
pub use parser::{Entry, Exemplar, Parser, SampleRef};

/// The text format of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
}

impl Format {
    /// The format a scrape response declares in its `Content-Type`; anything
    /// that is not OpenMetrics is read as the Prometheus text format, as
    /// Prometheus does.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// How much of the OpenMetrics specification the parser enforces. For the
/// Prometheus text format the only semantic rule is one `# TYPE` line per
/// family, which [`Validation::Syntax`] does not check (Prometheus's scrape
/// parser does not either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Syntax plus every semantic rule of OpenMetrics 1.0, as its reference
    /// parser checks them.
    #[default]
    Full,
    /// Syntax only (including the mandatory `# EOF`), about what Prometheus's
    /// own OpenMetrics parser accepts.
    Syntax,
}

/// The type a `# TYPE` line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`, Prometheus text `untyped`.
    Unknown,
}

impl MetricType {
    /// The OpenMetrics spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    fn from_openmetrics(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    fn from_prometheus_text(s: &[u8]) -> Option<MetricType> {
        let is = |w: &[u8]| s.eq_ignore_ascii_case(w);
        Some(if is(b"counter") {
            MetricType::Counter
        } else if is(b"gauge") {
            MetricType::Gauge
        } else if is(b"histogram") {
            MetricType::Histogram
        } else if is(b"summary") {
            MetricType::Summary
        } else if is(b"untyped") {
            MetricType::Unknown
        } else {
            return None;
        })
    }
}

impl std::fmt::Display for MetricType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem in the input, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }
}
