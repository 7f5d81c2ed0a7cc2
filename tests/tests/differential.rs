//! Differential test against the real Prometheus 3.x (the version pinned in
//! `scripts/peers.versions`, built by `scripts/peers prometheus`): the same
//! OpenMetrics data backfilled into Prometheus (its promtool) and Argus
//! (`argus tools import openmetrics`), both servers started on loopback, and
//! a corpus of PromQL queries across every function family compared value by
//! value through both HTTP APIs, as instant queries at several times and as
//! range queries.
//!
//! The data and the corpus are described in `argus_tests::differential`.
//!
//! `ARGUS_DIFF_SELF_CHECK=1` compares Prometheus with a second Prometheus
//! instead, to validate the corpus and the harness.

use argus_tests::argus_bin;
use argus_tests::differential::{Candidate, run};

#[test]
fn promql_answers_match_prometheus_3() {
    // Fails here, naming `scripts/peers prometheus`, when the peer is missing.
    argus_tests::peers::prometheus_bin();
    argus_tests::peers::promtool_bin();
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
        "{} of {} evaluations differ from Prometheus {} (see the report above)",
        report.mismatches.len(),
        report.evaluations,
        argus_tests::peers::peer_version("prometheus").unwrap_or_default()
    );
}
