//! The OpenMetrics parser conformance cases and the realistic scrape bodies
//! of the upstream conformance corpus (read in place, never copied into the
//! repo; located by `argus-testdata`: `$ARGUS_CONFORMANCE_DIR`, default
//! `../shared/conformance` beside the repository).

use std::fs;
use std::path::{Path, PathBuf};

use argus_exposition::{Entry, Format, ParseError, Parser, Validation};

/// Correct verdicts out of the 211 cases. Raise it when more pass; never lower
/// it.
const CONFORMANCE_FLOOR: usize = 211;

/// Parses a whole body, returning the number of samples.
fn parse_all(body: &[u8], format: Format, validation: Validation) -> Result<usize, ParseError> {
    let mut parser = Parser::new(body, format).with_validation(validation);
    let mut samples = 0;
    while let Some(entry) = parser.next_entry()? {
        if let Entry::Sample(s) = entry {
            s.labels()?;
            if let Some(e) = s.exemplar {
                e.labels()?;
            }
            samples += 1;
        }
    }
    Ok(samples)
}

#[test]
fn openmetrics_parser_conformance() {
    let Some(root) =
        argus_testdata::require("openmetrics_parser_conformance", "openmetrics-parsers")
    else {
        return;
    };
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", root.display());

    let mut passed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spec_text = fs::read_to_string(case.join("test.json"))
            .unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
        let spec: serde_json::Value =
            serde_json::from_str(&spec_text).unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
        // "text" is the OpenMetrics text format (the suite's other kind is
        // protobuf).
        let format = match spec["type"].as_str() {
            Some("text" | "openmetrics") => Format::OpenMetrics,
            Some("prometheus" | "prometheus-text") => Format::PrometheusText,
            other => panic!("{name}: unknown type {other:?}"),
        };
        let should_parse = spec["shouldParse"]
            .as_bool()
            .unwrap_or_else(|| panic!("{name}: no shouldParse"));
        let file = spec["file"].as_str().unwrap_or("metrics");
        let body = fs::read(case.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"));

        let result = parse_all(&body, format, Validation::Full);
        if result.is_ok() == should_parse {
            passed += 1;
        } else {
            failures.push(match result {
                Ok(_) => format!("{name}: parsed but must be rejected"),
                Err(e) => format!("{name}: rejected but must parse: {e}"),
            });
        }
    }
    println!(
        "openmetrics conformance: {passed}/{} verdicts correct",
        cases.len()
    );
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(
        passed >= CONFORMANCE_FLOOR,
        "{passed}/{} correct, below the floor of {CONFORMANCE_FLOOR}:\n{}",
        cases.len(),
        failures.join("\n")
    );
}

/// The realistic scrape bodies, or `None` when the test is skipped.
fn samples_dir(test: &str) -> Option<PathBuf> {
    argus_testdata::require(test, "exposition-samples")
}

fn sample_body(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Sample and metadata lines counted without the parser: every line that is
/// neither blank nor a comment is a sample; `# HELP`, `# TYPE` and `# UNIT`
/// lines are metadata.
fn count_lines(body: &[u8]) -> (usize, usize) {
    let (mut samples, mut metadata) = (0, 0);
    for line in body.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(b"#") {
            let words: Vec<&[u8]> = line.split(|&b| b == b' ').take(2).collect();
            if matches!(words.get(1), Some(&(b"HELP" | b"TYPE" | b"UNIT"))) {
                metadata += 1;
            }
        } else {
            samples += 1;
        }
    }
    (samples, metadata)
}

/// The format a sample body is served with, from its name (the folder has
/// no Content-Type records): `*.om.txt` is OpenMetrics, `*.prom.txt` text.
fn format_from_name(name: &str) -> Option<Format> {
    if name.ends_with(".om.txt") {
        Some(Format::OpenMetrics)
    } else if name.ends_with(".prom.txt") {
        Some(Format::PrometheusText)
    } else {
        None
    }
}

#[test]
fn realistic_bodies_parse() {
    let Some(dir) = samples_dir("realistic_bodies_parse") else {
        return;
    };
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(format) = format_from_name(&name) else {
            continue;
        };
        let body = sample_body(&dir, &name);
        // Syntax is what a scraper checks; every real body must pass it.
        let mut parser = Parser::new(&body, format).with_validation(Validation::Syntax);
        let (mut samples, mut metadata) = (0, 0);
        while let Some(entry) = parser
            .next_entry()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        {
            match entry {
                Entry::Sample(s) => {
                    s.labels().unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(
                        s.series.starts_with(s.name.as_bytes()),
                        "{name}: line {}",
                        s.line
                    );
                    samples += 1;
                }
                Entry::Help { family, .. }
                | Entry::Type { family, .. }
                | Entry::Unit { family, .. } => {
                    assert!(!family.is_empty(), "{name}: metadata without a family");
                    metadata += 1;
                }
                Entry::Eof => {}
            }
        }
        let (want_samples, want_metadata) = count_lines(&body);
        assert!(samples > 0, "{name}: no samples");
        assert_eq!(samples, want_samples, "{name}: samples");
        assert_eq!(metadata, want_metadata, "{name}: metadata entries");
        seen += 1;
    }
    assert!(
        seen >= 4,
        "expected at least 4 sample bodies in {}",
        dir.display()
    );
}

#[test]
fn realistic_bodies_under_full_validation() {
    let Some(dir) = samples_dir("realistic_bodies_under_full_validation") else {
        return;
    };
    for name in [
        "1histogram.om.txt",
        "alltypes.237mfs.prom.txt",
        "alltypes.237mfs.nometa.prom.txt",
    ] {
        let format = if name.ends_with(".om.txt") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        };
        parse_all(&sample_body(&dir, name), format, Validation::Full)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // client_golang writes a _sum next to negative buckets and negative
    // quantiles, which OpenMetrics 1.0 forbids: only Syntax accepts this body.
    let err = parse_all(
        &sample_body(&dir, "alltypes.5mfs.om.txt"),
        Format::OpenMetrics,
        Validation::Full,
    )
    .err()
    .unwrap_or_else(|| panic!("alltypes.5mfs.om.txt passed full validation"));
    assert!(err.message.contains("_sum"), "{err}");
}

#[test]
fn realistic_prometheus_text_details() {
    let Some(dir) = samples_dir("realistic_prometheus_text_details") else {
        return;
    };
    let body = sample_body(&dir, "alltypes.237mfs.prom.txt");
    let mut parser = Parser::new(&body, Format::PrometheusText);
    let (mut helps, mut types, mut samples) = (0, 0, 0);
    let mut series = std::collections::HashSet::new();
    while let Some(entry) = parser.next_entry().unwrap_or_else(|e| panic!("{e}")) {
        match entry {
            Entry::Help { .. } => helps += 1,
            Entry::Type { .. } => types += 1,
            Entry::Sample(s) => {
                samples += 1;
                let labels = s.labels().unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(labels.metric_name(), Some(s.name));
                series.insert(s.series);
            }
            Entry::Unit { .. } | Entry::Eof => panic!("unexpected {entry:?}"),
        }
    }
    assert_eq!(helps, 237);
    assert_eq!(types, 237);
    assert_eq!(samples, series.len(), "every sample is its own series");
    assert!(samples > 1500, "{samples}");
}
