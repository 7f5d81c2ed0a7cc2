//! Bytes into the exposition parser: the Prometheus text format 0.0.4 and
//! OpenMetrics 1.0 text, each with full validation and syntax only (the
//! crate has no protobuf format). Every entry is taken apart the way the
//! scraper does (labels, label pairs, exemplar labels, metadata family).
//!
//! Input format: a scrape body, as is.
//!
//! Besides "no panic", one cross-check: syntax-only validation is a subset
//! of the full one, so a body that parses cleanly with [`Validation::Full`]
//! must parse cleanly, to the same entries, with [`Validation::Syntax`].

#![no_main]

use argus_exposition::{Entry, Format, Parser, Validation};
use libfuzzer_sys::fuzz_target;

/// What a parse produced: per entry a short fingerprint, then the error.
#[derive(Debug, PartialEq)]
struct Outcome {
    entries: Vec<String>,
    error: Option<String>,
}

fn parse(data: &[u8], format: Format, validation: Validation) -> Outcome {
    let mut p = Parser::new(data, format).with_validation(validation);
    assert_eq!(p.format(), format);
    let mut entries = Vec::new();
    // Every entry consumes at least one line, so this bounds a parser that
    // stopped advancing.
    let max_entries = data.len() + 2;
    loop {
        match p.next_entry() {
            Ok(None) => {
                return Outcome {
                    entries,
                    error: None,
                };
            }
            Ok(Some(e)) => {
                entries.push(fingerprint(&e));
                assert!(
                    entries.len() <= max_entries,
                    "{format:?}/{validation:?}: more entries than lines"
                );
            }
            Err(e) => {
                return Outcome {
                    entries,
                    error: Some(e.to_string()),
                };
            }
        }
    }
}

fn fingerprint(e: &Entry<'_>) -> String {
    let family = e.family();
    assert_eq!(e.is_metadata(), family.is_some());
    match e {
        Entry::Sample(s) => {
            let labels = s.labels().map(|l| l.to_string()).map_err(|e| e.to_string());
            let pairs: Vec<_> = s.label_pairs().collect();
            let _ = s.label_block();
            let exemplar = s.exemplar.map(|x| {
                let labels = x.labels().map(|l| l.to_string()).map_err(|e| e.to_string());
                let pairs = x.label_pairs().count();
                format!(
                    "{:?} {:?} {labels:?} {pairs}",
                    x.value.to_bits(),
                    x.timestamp_ms
                )
            });
            format!(
                "sample {:?} {} {:?} {:?} {labels:?} {pairs:?} {exemplar:?}",
                s.series,
                s.value.to_bits(),
                s.timestamp_ms,
                s.line
            )
        }
        other => format!("{other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let full = parse(data, format, Validation::Full);
        let syntax = parse(data, format, Validation::Syntax);
        if full.error.is_none() {
            assert_eq!(
                full, syntax,
                "{format:?}: accepted with full validation but not the same with syntax only"
            );
        }
    }
    // Content types pick a parser; any text must give one.
    if let Some(line) = data.split(|&b| b == b'\n').next() {
        let _ = Format::from_content_type(&String::from_utf8_lossy(line));
    }
});
