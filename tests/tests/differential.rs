//! Differential test against the real Prometheus 2.42: the same OpenMetrics
//! data backfilled into Prometheus (promtool) and Argus (`argus tools import
//! openmetrics`), both servers started on loopback, and a corpus of PromQL
//! queries across every function family compared value by value through both
//! HTTP APIs, as instant queries at several times and as range queries.
//!
//! The data and query design that steers around the known 2.x-vs-3.x
//! differences is documented in `argus_tests::differential`.
//!
//! `ARGUS_DIFF_SELF_CHECK=1` compares Prometheus with a second Prometheus
//! instead, to validate the corpus and the harness.

use argus_tests::differential::{Candidate, run};
use argus_tests::{argus_bin, require_tool};

#[test]
fn promql_answers_match_prometheus_2_42() {
    require_tool("prometheus", "apt-get install -y prometheus (2.42)");
    require_tool("promtool", "apt-get install -y prometheus (2.42)");
    let self_check = std::env::var_os("ARGUS_DIFF_SELF_CHECK").is_some();
    let argus = if self_check { None } else { Some(argus_bin()) };
    let candidate = match &argus {
        Some(bin) => Candidate::Argus(bin),
        None => Candidate::Prometheus,
    };
    let report = run(candidate).unwrap_or_else(|e| panic!("differential run failed: {e}"));
    let text = report.render();
    println!("{text}");
    assert!(
        report.queries >= 80,
        "only {} queries in the corpus",
        report.queries
    );
    assert!(
        report.reference_errors.is_empty(),
        "{} evaluations failed in Prometheus itself (corpus bug)",
        report.reference_errors.len()
    );
    assert!(
        report.mismatches.is_empty(),
        "{} of {} evaluations differ from Prometheus 2.42 (see the report above)",
        report.mismatches.len(),
        report.evaluations
    );
}
