use std::borrow::Cow;

use crate::{Entry, Format, MetricType, ParseError, Parser, SampleRef, Validation};

fn entries(body: &str, format: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    Parser::new(body.as_bytes(), format).collect()
}

fn samples(body: &str, format: Format) -> Result<Vec<SampleRef<'_>>, ParseError> {
    Ok(entries(body, format)?
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect())
}

fn error(body: &str, format: Format) -> String {
    match entries(body, format) {
        Ok(e) => panic!("parsed: {e:?}"),
        Err(e) => e.to_string(),
    }
}

fn om(body: &str) -> Vec<SampleRef<'_>> {
    samples(body, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"))
}

fn text(body: &str) -> Vec<SampleRef<'_>> {
    samples(body, Format::PrometheusText).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn openmetrics_entries_in_order() {
    let body = "# HELP http_requests Requests served.\n\
                # TYPE http_requests counter\n\
                # UNIT http_requests \n\
                http_requests_total{code=\"200\",path=\"/\"} 1027 1395066363.5\n\
                http_requests_created{code=\"200\",path=\"/\"} 1395066000 1395066363.5\n\
                # EOF\n";
    let got = entries(body, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.len(), 6);
    assert!(matches!(
        &got[0],
        Entry::Help { family: "http_requests", text } if text == "Requests served."
    ));
    assert!(matches!(
        got[1],
        Entry::Type {
            family: "http_requests",
            kind: MetricType::Counter
        }
    ));
    assert!(matches!(
        got[2],
        Entry::Unit {
            family: "http_requests",
            unit: ""
        }
    ));
    let Entry::Sample(s) = &got[3] else {
        panic!("{:?}", got[3])
    };
    assert_eq!(s.series, br#"http_requests_total{code="200",path="/"}"#);
    assert_eq!(s.name, "http_requests_total");
    assert_eq!(s.value, 1027.0);
    assert_eq!(s.timestamp_ms, Some(1_395_066_363_500));
    assert_eq!(s.line, 4);
    assert_eq!(s.label_block(), r#"code="200",path="/""#);
    let labels = s.labels().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        labels.to_string(),
        r#"http_requests_total{code="200", path="/"}"#
    );
    assert!(matches!(got[5], Entry::Eof));
}

#[test]
fn prometheus_text_entries() {
    let body = "# HELP go_goroutines Number of goroutines.\n\
                # TYPE go_goroutines gauge\n\
                go_goroutines 42\n\
                \n\
                # a plain comment\n\
                #TYPE not metadata either\n\
                # TYPE rpc untyped\n\
                rpc{a=\"1\"} 7 1395066363000\n";
    let got = entries(body, Format::PrometheusText).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(matches!(
        got[3],
        Entry::Type {
            family: "rpc",
            kind: MetricType::Unknown
        }
    ));
    let Entry::Sample(s) = &got[4] else {
        panic!("{:?}", got[4])
    };
    assert_eq!(
        (s.line, s.value, s.timestamp_ms),
        (8, 7.0, Some(1_395_066_363_000))
    );
}

#[test]
fn prometheus_text_is_lenient_about_layout() {
    let body = "  metric_a  {  a = \"1\" , b=\"2\", }\t3  -5 \r\n\
                metric_b{} 1\r\n\
                # HELP metric_c\n\
                \t\n\
                metric_c 2";
    let s = text(body);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].series, br#"metric_a  {  a = "1" , b="2", }"#);
    assert_eq!((s[0].value, s[0].timestamp_ms), (3.0, Some(-5)));
    let labels = s[0].labels().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels.to_string(), r#"metric_a{a="1", b="2"}"#);
    assert_eq!(s[1].labels().map(|l| l.len()).ok(), Some(1));
    assert_eq!((s[2].line, s[2].value), (5, 2.0));
    // No "# EOF" needed, but allowed as a comment.
    assert_eq!(text("a 1\n# EOF\n").len(), 1);
}

#[test]
fn escapes() {
    let body = "# HELP a he\\n\\\\l\\\"p \\z\n\
                # TYPE a gauge\n\
                a{x=\"q\\\"uo\\\\te\\nnl \\z\"} 1\n\
                # EOF\n";
    let got = entries(body, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&got[0], Entry::Help { text, .. } if text == "he\n\\l\"p \\z"));
    let Entry::Sample(s) = &got[2] else {
        panic!("{:?}", got[2])
    };
    let labels = s.labels().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels.get("x"), Some("q\"uo\\te\nnl \\z"));
    let pairs: Vec<_> = s.label_pairs().collect();
    assert_eq!(pairs.len(), 1);
    assert!(matches!(pairs[0].1, Cow::Owned(_)));

    // The text format's HELP knows only \\ and \n.
    let got = entries("# HELP a x\\\"y\\\\z\\n\n", Format::PrometheusText)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&got[0], Entry::Help { text, .. } if text == "x\\\"y\\z\n"));

    // Hash signs and braces inside label values are just characters.
    let s = om("# TYPE a counter\na_total{x=\"} # {y=\\\"1\\\"} 2\"} 1 # {t=\"#\"} 2\n# EOF\n");
    assert_eq!(s[0].value, 1.0);
    assert_eq!(
        s[0].labels()
            .ok()
            .and_then(|l| l.get("x").map(str::to_string)),
        Some("} # {y=\"1\"} 2".to_string())
    );
}

#[test]
fn special_values() {
    let s = om(
        "a{x=\"1\"} NaN\na{x=\"2\"} +Inf\na{x=\"3\"} -Inf\na{x=\"4\"} Inf\na{x=\"5\"} 1.5e-3\n# EOF\n",
    );
    assert!(s[0].value.is_nan());
    assert_eq!(s[1].value, f64::INFINITY);
    assert_eq!(s[2].value, f64::NEG_INFINITY);
    assert_eq!(s[3].value, f64::INFINITY);
    assert_eq!(s[4].value, 0.0015);
    let s = text("a NaN\nb +Inf\nc -inf\nd 1e3\ne .5\nf -0\n");
    assert!(s[0].value.is_nan());
    assert_eq!(s[1].value, f64::INFINITY);
    assert_eq!(s[2].value, f64::NEG_INFINITY);
    assert_eq!(s[3].value, 1000.0);
    assert_eq!(s[4].value, 0.5);
    assert!(s[5].value == 0.0 && s[5].value.is_sign_negative());
    assert_eq!(
        error("a 0x1p-3\n", Format::PrometheusText),
        "line 1: invalid value \"0x1p-3\""
    );
}

#[test]
fn timestamps() {
    let s = om("a 1 1.5\nb 1 1520430000.123\nc 1 -1.5\nd 1 0\ne 1 -0.0005\n# EOF\n");
    let ts: Vec<_> = s.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(
        ts,
        [
            Some(1500),
            Some(1_520_430_000_123),
            Some(-1500),
            Some(0),
            Some(0)
        ]
    );
    let s = text("a 1 -1500\nb 1\n");
    assert_eq!(s[0].timestamp_ms, Some(-1500));
    assert_eq!(s[1].timestamp_ms, None);
    assert_eq!(
        error("a 1\nb 1 1.5\n", Format::PrometheusText),
        "line 2: invalid timestamp \"1.5\""
    );
}

#[test]
fn errors_name_their_line() {
    assert_eq!(
        error(
            "# TYPE a gauge\na 1\nb{x=\"1\" 2\n# EOF\n",
            Format::OpenMetrics
        ),
        "line 3: expected ',' or '}' after a label value, found ' '"
    );
    assert_eq!(
        error("a 1\n\n# EOF\n", Format::OpenMetrics),
        "line 2: empty line"
    );
    assert_eq!(
        error("a 1\n", Format::OpenMetrics),
        "line 2: unexpected end of input: missing \"# EOF\" line"
    );
    assert_eq!(
        error("a 1\n# EOF\n\n", Format::OpenMetrics),
        "line 3: unexpected content after \"# EOF\""
    );
    assert_eq!(
        error("a 1\n\nb 2\nc{a=\"1\",a=\"2\"} 3\n", Format::PrometheusText),
        "line 4: duplicate label name \"a\""
    );
    assert_eq!(
        error(
            "# TYPE a gauge\na 1\n# TYPE a counter\n",
            Format::PrometheusText
        ),
        "line 3: second TYPE line for metric family \"a\""
    );
    assert_eq!(
        error("# TYPE a gaugehistogram\n", Format::PrometheusText),
        "line 1: invalid metric type \"gaugehistogram\""
    );
    assert_eq!(
        error("a.b 1\n# EOF\n", Format::OpenMetrics),
        "line 1: invalid character '.' in metric name"
    );
}

#[test]
fn parser_stops_after_an_error() {
    let mut p = Parser::new(b"a 1\nb x\nc 3\n", Format::PrometheusText);
    assert!(matches!(p.next_entry(), Ok(Some(Entry::Sample(_)))));
    let first = p.next_entry().err();
    assert_eq!(first.as_ref().map(|e| e.line), Some(2));
    assert_eq!(p.next_entry().err(), first);

    let mut p = Parser::new(b"a x\n", Format::PrometheusText);
    assert!(matches!(p.next(), Some(Err(_))));
    assert!(p.next().is_none());

    let mut p = Parser::new(b"# EOF\n", Format::OpenMetrics);
    assert!(matches!(p.next_entry(), Ok(Some(Entry::Eof))));
    assert!(matches!(p.next_entry(), Ok(None)));
    assert!(matches!(p.next_entry(), Ok(None)));
}

#[test]
fn labels_checks_name_clash_and_drops_empty_values() {
    let s = text("a{__name__=\"b\"} 1\nc{x=\"\",y=\"1\"} 2\n");
    let err = s[0].labels().err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("line 1: duplicate label name \"__name__\"")
    );
    let labels = s[1].labels().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels.to_string(), r#"c{y="1"}"#);
}

#[test]
fn exemplars_are_exposed() {
    let body = "# TYPE a counter\n\
                a_total 3 # {trace_id=\"abc\"} 0.5 1.25\n\
                a_total{b=\"1\"} 4 100 # {} 1\n\
                # EOF\n";
    let s = om(body);
    let e = s[0].exemplar.unwrap_or_else(|| panic!("no exemplar"));
    assert_eq!((e.value, e.timestamp_ms), (0.5, Some(1250)));
    assert_eq!(
        e.labels()
            .ok()
            .and_then(|l| l.get("trace_id").map(str::to_string)),
        Some("abc".to_string())
    );
    assert_eq!(s[0].timestamp_ms, None);
    let e = s[1].exemplar.unwrap_or_else(|| panic!("no exemplar"));
    assert_eq!((e.value, e.timestamp_ms), (1.0, None));
    assert_eq!(s[1].timestamp_ms, Some(100_000));
    // Exemplars are an OpenMetrics feature.
    assert!(error("a_total 3 # {a=\"b\"} 1\n", Format::PrometheusText).starts_with("line 1:"));
}

#[test]
fn backfill_with_many_timestamps() {
    // One family holding several scrapes, as an import file does.
    let body = "# TYPE h histogram\n\
                h_bucket{le=\"1\"} 0 10\n\
                h_bucket{le=\"+Inf\"} 2 10\n\
                h_count 2 10\n\
                h_sum 3 10\n\
                h_bucket{le=\"1\"} 1 20\n\
                h_bucket{le=\"+Inf\"} 3 20\n\
                h_count 3 20\n\
                h_sum 3.5 20\n\
                # TYPE g gauge\n\
                g{i=\"1\"} 1 10\n\
                g{i=\"1\"} 2 20\n\
                g{i=\"2\"} 1 5\n\
                # EOF\n";
    assert_eq!(om(body).len(), 11);
    let bad = body.replace("h_count 3 20", "h_count 4 20");
    assert_eq!(
        error(&bad, Format::OpenMetrics),
        "line 9: histogram \"h\": count 4 does not match the +Inf bucket 3"
    );
}

#[test]
fn family_rules() {
    let err = |b: &str| error(b, Format::OpenMetrics);
    assert_eq!(
        err("a 1\nb 1\na 2\n# EOF\n"),
        "line 3: metric family \"a\" repeats or clashes with an earlier family"
    );
    assert_eq!(
        err("# TYPE a counter\na_total 1\na 2\n# EOF\n"),
        "line 3: metric family \"a\" repeats or clashes with an earlier family"
    );
    assert_eq!(
        err("# TYPE a counter\na 1\n# EOF\n"),
        "line 2: metric family \"a\" repeats or clashes with an earlier family"
    );
    assert_eq!(
        err("# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n"),
        "line 2: unit \"bytes\" is not a suffix of metric family name \"a_seconds\""
    );
    assert_eq!(
        err("# TYPE s stateset\ns{s=\"x\"} 1\ns{s=\"y\"} 0.5\n# EOF\n"),
        "line 3: stateset value 0.5 is neither 0 nor 1"
    );
    // Label order does not make a different group.
    assert_eq!(
        err("a{x=\"1\",y=\"2\"} 1 5\na{y=\"2\",x=\"1\"} 1 4\n# EOF\n"),
        "line 2: timestamp 4 goes back from 5"
    );
}

#[test]
fn syntax_validation_is_lenient_about_semantics() {
    let body = "# TYPE a counter\na_total -1\nb 1\na_total 2\n# EOF\n";
    assert!(entries(body, Format::OpenMetrics).is_err());
    let n = Parser::new(body.as_bytes(), Format::OpenMetrics)
        .with_validation(Validation::Syntax)
        .filter(|e| matches!(e, Ok(Entry::Sample(_))))
        .count();
    assert_eq!(n, 3);
    // Syntax is still checked, including the final "# EOF".
    let parse = |b: &'static str| {
        Parser::new(b.as_bytes(), Format::OpenMetrics)
            .with_validation(Validation::Syntax)
            .collect::<Result<Vec<_>, _>>()
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        parse("a 1\n"),
        Some("line 2: unexpected end of input: missing \"# EOF\" line".to_string())
    );
    assert_eq!(
        parse("a  1\n# EOF\n"),
        Some("line 1: missing value (exactly one space must precede it)".to_string())
    );
    // Prometheus's text parser takes a repeated TYPE line; so does Syntax.
    let repeated = "# TYPE a gauge\na 1\n# TYPE a counter\na 2\n";
    let types = Parser::new(repeated.as_bytes(), Format::PrometheusText)
        .with_validation(Validation::Syntax)
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")))
        .filter(|e| matches!(e, Entry::Type { .. }))
        .count();
    assert_eq!(types, 2);
}

#[test]
fn invalid_utf8_is_an_error_not_a_panic() {
    let body = b"a{x=\"\xff\"} 1\n";
    let err = Parser::new(body, Format::PrometheusText)
        .next_entry()
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("line 1: label values are not valid utf-8")
    );
    let mut p = Parser::new(b"# HELP a \xc3\n", Format::PrometheusText);
    assert!(p.next_entry().is_err());
}

#[test]
fn format_from_content_type() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4"),
        Format::PrometheusText
    );
    assert_eq!(Format::from_content_type(""), Format::PrometheusText);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: mutate a valid body byte by byte.
    let base = b"# HELP a x\n# TYPE a histogram\na_bucket{le=\"1\",b=\"\\\"\"} 1 1.5 # {t=\"1\"} 2 3\na_bucket{le=\"+Inf\"} 2\na_count 2\na_sum 1\n# EOF\n";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut body = base.to_vec();
        let at = (state % body.len() as u64) as usize;
        body[at] = (state >> 32) as u8;
        if state & 1 == 0 {
            body.truncate((state >> 40) as usize % body.len());
        }
        for format in [Format::OpenMetrics, Format::PrometheusText] {
            for entry in Parser::new(&body, format).flatten() {
                if let Entry::Sample(s) = entry {
                    let _ = s.labels();
                    if let Some(e) = s.exemplar {
                        let _ = e.labels();
                    }
                }
            }
        }
    }
}

#[test]
fn non_ascii_values_with_and_without_a_valid_body() {
    // The second body is not UTF-8 as a whole (a comment), which takes the
    // parser off its whole-body fast path; both must give the same sample.
    for body in [
        &b"# a comment\nm{v=\"\xc3\xa9\\\"\"} 1\n"[..],
        &b"# \xff comment\nm{v=\"\xc3\xa9\\\"\"} 1\n"[..],
    ] {
        let mut p = Parser::new(body, Format::PrometheusText);
        let Ok(Some(Entry::Sample(s))) = p.next_entry() else {
            panic!("no sample in {body:?}");
        };
        assert_eq!(s.name, "m");
        assert_eq!(s.label_block(), "v=\"\u{e9}\\\"\"");
        let labels = s.labels().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(labels.get("v"), Some("\u{e9}\""));
    }
}
