//! Parser tests that need no engine.

use argus_model::labels::Labels;
use argus_model::sample::is_stale_nan;

use super::script::{Command, EvalCmd, LoadCmd, go_unquote, parse_expect};
use super::*;

fn vals(s: &str) -> Vec<Option<f64>> {
    parse_values(s)
        .expect("values parse")
        .into_iter()
        .map(|v| (!v.omitted).then_some(v.value))
        .collect()
}

fn eval_of(script: &str) -> EvalCmd {
    match parse_script(script).into_iter().next() {
        Some(Command::Eval(e)) => *e,
        other => panic!("expected an eval, got {other:?}"),
    }
}

fn load_of(script: &str) -> LoadCmd {
    match parse_script(script).into_iter().next() {
        Some(Command::Load(l)) => l,
        other => panic!("expected a load, got {other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

#[test]
fn value_shorthand_expands() {
    assert_eq!(
        vals("0+10x3"),
        vec![Some(0.0), Some(10.0), Some(20.0), Some(30.0)]
    );
    assert_eq!(vals("10-2x2"), vec![Some(10.0), Some(8.0), Some(6.0)]);
    assert_eq!(vals("-1-1x2"), vec![Some(-1.0), Some(-2.0), Some(-3.0)]);
    assert_eq!(vals("5x2"), vec![Some(5.0), Some(5.0), Some(5.0)]);
    assert_eq!(vals("1 _ 2"), vec![Some(1.0), None, Some(2.0)]);
    assert_eq!(vals("_x3 1"), vec![None, None, None, Some(1.0)]);
    assert_eq!(
        vals("1.5e3 -.5 +2"),
        vec![Some(1500.0), Some(-0.5), Some(2.0)]
    );
    assert_eq!(vals("1e+2x1"), vec![Some(100.0), Some(100.0)]);
    assert_eq!(vals("0.5+0.25x2"), vec![Some(0.5), Some(0.75), Some(1.0)]);
    assert_eq!(vals(""), vec![]);
}

#[test]
fn special_values() {
    let v = parse_values("stale Inf -Inf NaN inf +Inf staleX1").map(|v| v.len());
    assert!(v.is_err(), "staleX1 is not a value");
    let v = parse_values("stale Inf -Inf NaN inf +Inf").expect("parses");
    assert!(is_stale_nan(v[0].value));
    assert_eq!(v[1].value, f64::INFINITY);
    assert_eq!(v[2].value, f64::NEG_INFINITY);
    assert!(v[3].value.is_nan() && !is_stale_nan(v[3].value));
    assert_eq!(v[4].value, f64::INFINITY);
    assert_eq!(v[5].value, f64::INFINITY);
    let v = parse_values("stalex2 Infx1").expect("parses");
    assert_eq!(v.len(), 5);
    assert!(v[..3].iter().all(|s| is_stale_nan(s.value)));
}

#[test]
fn bad_values_are_errors() {
    // As upstream, `0x10` is 0 repeated: hex is not lexed in series values.
    assert_eq!(parse_values("0x10").map(|v| v.len()), Ok(11));
    for bad in ["abc", "1+2", "1x", "1xa", "_y2", "1+stale x2", "1m"] {
        assert!(parse_values(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn go_numbers() {
    assert_eq!(parse_go_number("42"), Some(42.0));
    assert_eq!(parse_go_number("-3"), Some(-3.0));
    assert_eq!(parse_go_number("0x10"), Some(16.0));
    assert_eq!(parse_go_number("010"), Some(8.0));
    assert_eq!(parse_go_number("08"), Some(8.0));
    assert_eq!(parse_go_number("1e3"), Some(1000.0));
    assert_eq!(parse_go_number("0x1p-2"), Some(0.25));
    assert_eq!(parse_go_number("-Inf"), Some(f64::NEG_INFINITY));
    assert!(parse_go_number("NaN").is_some_and(f64::is_nan));
    assert_eq!(parse_go_number("1_000"), Some(1000.0));
    assert_eq!(parse_go_number("{} 1"), None);
    assert_eq!(parse_go_number("foo"), None);
    assert_eq!(parse_go_number("1 2"), None);
}

#[test]
fn series_lines() {
    let s = parse_series(r#"http_requests{job="api", instance="0"} 0+10x2"#).expect("parses");
    assert_eq!(
        s.labels,
        labels(&[
            ("__name__", "http_requests"),
            ("job", "api"),
            ("instance", "0")
        ])
    );
    assert_eq!(s.values.len(), 3);

    let s = parse_series(r#"{__name__="a", b="c\"d\n"}	1"#).expect("parses");
    assert_eq!(s.labels, labels(&[("__name__", "a"), ("b", "c\"d\n")]));

    let s = parse_series(r#"{"my.metric", "label.x"='v',} 1"#).expect("parses");
    assert_eq!(
        s.labels,
        labels(&[("__name__", "my.metric"), ("label.x", "v")])
    );

    let s = parse_series("up 1").expect("parses");
    assert_eq!(s.labels, labels(&[("__name__", "up")]));

    let s = parse_series("{} 1").expect("parses");
    assert!(s.labels.is_empty());

    let s = parse_series("hist {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2").expect("parses");
    assert!(s.histogram);

    assert!(parse_series(r#"foo{a="b" 1"#).is_err());
    assert!(parse_series("foo{a=b} 1").is_err());
}

#[test]
fn unquoting() {
    assert_eq!(go_unquote(r#""a\tb""#).as_deref(), Some("a\tb"));
    assert_eq!(go_unquote(r#""\u00e9\x41""#).as_deref(), Some("éA"));
    assert_eq!(go_unquote(r"'it''").as_deref(), None);
    assert_eq!(go_unquote("`raw\\n`").as_deref(), Some("raw\\n"));
    assert_eq!(go_unquote(r#""\q""#), None);
}

#[test]
fn load_command() {
    let l =
        load_of("load 5m\n  a{x=\"1\"} 1 2 3\n  b 0+1x2\n  a{x=\"1\"} 9\n\neval instant at 0 a\n");
    assert_eq!(l.interval_ms, 300_000);
    assert!(!l.with_nhcb);
    // A repeated series replaces the earlier line.
    assert_eq!(l.series.len(), 2);
    assert_eq!(l.series[1].labels, labels(&[("__name__", "a"), ("x", "1")]));
    assert_eq!(l.series[1].values.len(), 1);

    let l = load_of("load_with_nhcb 1m\n  h_bucket{le=\"1\"} 1\n");
    assert!(l.with_nhcb);
    assert_eq!(l.interval_ms, 60_000);

    let l = load_of("load 1m\n  c{t=\"a\"}@st _ -30s-1mx2\n  c{t=\"a\"} _ 0+60x2\n");
    assert_eq!(l.st_series, vec![labels(&[("__name__", "c"), ("t", "a")])]);
}

#[test]
fn eval_instant_lines() {
    let e = eval_of("eval instant at 50m sum by (job) (foo)\n  {job=\"a\"} 1\n  {job=\"b\"} 2\n");
    assert!(!e.is_range);
    assert_eq!(e.eval, 3_000_000);
    assert_eq!(e.expr, "sum by (job) (foo)");
    assert_eq!(e.metrics.len(), 2);
    assert_eq!(e.metric_order[1], labels(&[("job", "b")]));
    assert_eq!(e.metrics[&labels(&[("job", "b")])].pos, 2);
    assert!(!e.expect_scalar);
    assert_eq!(e.end, i64::MIN);

    let e = eval_of("eval instant at 1m 1 + 1\n  2\n");
    assert!(e.expect_scalar);
    assert_eq!(e.scalar.as_ref().map(|s| s.vals[0].value), Some(2.0));

    let e = eval_of("eval_ordered instant at 0 sort(x)\n  x{a=\"1\"} 1\n");
    assert!(e.is_ordered());

    let e = eval_of("eval_fail instant at 0 foo(\n  expected_fail_message boom\n");
    assert!(e.is_fail());
    assert_eq!(e.expected_fail_message, "boom");

    // More than one value needs `expect range vector`.
    assert!(matches!(
        parse_script("eval instant at 0 x\n  x 1 2\n").first(),
        Some(Command::Invalid { .. })
    ));
}

#[test]
fn eval_range_lines() {
    let e = eval_of("eval range from 0 to 10m step 5m rate(x[5m])\n  {} 1 _ 3\n");
    assert!(e.is_range);
    assert_eq!((e.start, e.end, e.step), (0, 600_000, 300_000));
    let vals = &e.metrics[&Labels::empty()].vals;
    assert_eq!(vals.len(), 3);
    assert!(vals[1].omitted);

    assert!(matches!(
        parse_script("eval range from 10m to 0 step 5m x\n").first(),
        Some(Command::Invalid { .. })
    ));
}

#[test]
fn expectation_lines() {
    let e = eval_of(concat!(
        "eval instant at 1m foo\n",
        "  expect fail msg: something bad\n",
        "  expect warn regex: PromQL warning: .* \\(1:1\\)\n",
        "  expect no_info\n",
        "  expect ordered\n",
    ));
    assert!(e.is_fail());
    assert!(e.is_ordered());
    assert!(e.expect.fail[0].check("something bad"));
    assert!(!e.expect.fail[0].check("something bad!"));
    assert!(e.expect.warn[0].check("PromQL warning: x (1:1)"));
    assert_eq!(e.expect.no_info.len(), 1);

    let (_, any) = parse_expect("expect warn").expect("parses");
    assert!(any.check("whatever"));
    assert!(parse_expect("expect bogus").is_err());
    assert!(parse_expect("expect fail foo: x").is_err());

    // warn and no_warn together are rejected.
    assert!(matches!(
        parse_script("eval instant at 0 x\n  expect warn\n  expect no_warn\n").first(),
        Some(Command::Invalid { .. })
    ));

    let e = eval_of("eval instant at 0 \"a\"\n  expect string \"a\\tb\"\n");
    assert_eq!(e.expected_string, "a\tb");
    assert!(e.exclude_from_range_query);

    let e = eval_of(
        "eval instant at 1m foo[1m]\n  expect range vector from 0 to 1m step 30s\n  foo 1 2 3\n",
    );
    assert_eq!(
        (e.start, e.end, e.step, e.eval),
        (0, 60_000, 30_000, 60_000)
    );
    assert!(e.exclude_from_range_query);
    assert_eq!(e.metrics[&labels(&[("__name__", "foo")])].vals.len(), 3);
    // Position counting: the range line counts, expect lines do not.
    assert_eq!(e.metrics[&labels(&[("__name__", "foo")])].pos, 2);

    let e = eval_of("eval instant at 0 x\n  {} {{schema:0 count:1}}\n");
    assert!(e.expects_histogram);
}

#[test]
fn comments_blank_lines_and_invalid_commands() {
    let cmds = parse_script(
        "# comment\nload 1m\n  a 1\n# ends the block\n  b 2\nclear\nbogus\n  more\n\neval instant at 0 a\n",
    );
    assert!(matches!(cmds[0], Command::Load(_)));
    // "b 2" after the comment is not part of the load: an invalid command.
    assert!(matches!(&cmds[1], Command::Invalid { error, .. } if error.line == 5));
    assert!(matches!(cmds[2], Command::Clear { line: 6 }));
    assert!(matches!(&cmds[3], Command::Invalid { error, .. } if error.line == 7));
    assert!(matches!(&cmds[4], Command::Invalid { error, .. } if error.line == 8));
    assert!(matches!(cmds[5], Command::Eval(_)));
    assert_eq!(cmds.len(), 6);
}

#[test]
fn cli_reports_unreadable_files_and_totals() {
    let mut out = Vec::new();
    let files = vec![std::path::PathBuf::from("/nonexistent/dir/x.test")];
    let (passed, failed) = run_cli(&files, true, &mut out).expect("writes");
    assert_eq!((passed, failed), (0, 1));
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.starts_with("/nonexistent/dir/x.test: 0 passed, 1 failed, 0 skipped\n"),
        "{text}"
    );
    assert!(
        text.contains("  FAIL /nonexistent/dir/x.test:0: cannot read"),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

#[test]
fn script_parse_errors_are_failures_and_poison_the_data() {
    // A bad load fails, and so does every eval that depends on it until
    // the next clear; no engine call is made for either.
    let r = run_script("load 1m\n  a{ 1\n\neval instant at 0 a\n  a 1\n\nbogus\n");
    assert_eq!(r.passed, 0);
    let lines: Vec<usize> = r.failed.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![2, 4, 7]);
    assert!(r.failed[1].1.contains("load at line 2"), "{:?}", r.failed);
}

#[test]
fn histogram_cases_are_skipped_with_reasons() {
    let r = run_script(concat!(
        "load 1m\n  h {{schema:0 sum:1 count:1}}x2\n  f 1 2 3\n\n",
        "eval instant at 1m h\n  {} 1\n\n",
        "eval instant at 1m sum({__name__=~\"h|f\"})\n  {} 1\n\n",
        "eval instant at 1m f\n  f {{schema:0 sum:1 count:1}}\n\n",
    ));
    assert_eq!(r.skipped.len(), 3, "{r:?}");
    assert!(r.skipped[0].1.contains("native histogram"), "{r:?}");
}
