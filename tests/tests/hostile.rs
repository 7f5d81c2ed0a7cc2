//! `argus server` under requests a hostile client would send: the real
//! binary on loopback must answer every one with Prometheus's JSON envelope
//! and stay up, with its resident memory under a stated bound.

use std::time::Duration;

use argus_tests::e2e::{self, Daemon};
use argus_tests::http;
use serde_json::Value;

/// Resident memory the server may reach while answering the probes: they
/// are refused or evaluated over no data, so far below what a
/// `--query.max-samples` of 1M would allow (16 bytes a sample).
const RSS_BOUND_KB: u64 = 512 * 1024;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// POSTs `query` to the instant query endpoint and returns the status
/// and the parsed envelope.
fn post_query(server: &mut Daemon, query: &str) -> (u16, Value) {
    let body = format!("query={}&time=1700000000", http::urlencode(query));
    let r = http::request_with_timeout(
        &server.addr(),
        "POST",
        "/api/v1/query",
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| {
        panic!(
            "no answer to {}…: {e}; exited: {:?}\n{}",
            &query[..query.len().min(60)],
            server.exited(),
            server.log_tail(20)
        )
    });
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| {
        panic!(
            "{}…: not JSON ({e}): {} {}",
            &query[..query.len().min(60)],
            r.status,
            r.body
        )
    });
    (r.status, v)
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn deep_expressions_are_answered_and_the_server_stays_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(
        &config,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
    );
    let mut server = e2e::start_argus(
        dir.path(),
        "argus",
        &config,
        &["--query.max-samples=1000000", "--query.max-depth=2048"],
    );

    // The probes that used to overflow the stack, and one of each node
    // kind nested past the limit.
    let too_deep = [
        vec!["1"; 3000].join("+"),
        vec!["1"; 3000].join("^"),
        vec!["1"; 3000].join(" or "),
        nested("abs(", "vector(1)", ")", 3000),
        nested("sum(", "vector(1)", ")", 3000),
        nested("-(", "vector(1)", ")", 3000),
        nested("(", "1", ")", 40_000),
        nested("max_over_time((", "vector(1)", ")[5m:1m])", 5000),
        nested(
            "label_replace(",
            "vector(1)",
            ", \"a\", \"b\", \"c\", \"d\")",
            3000,
        ),
        nested("topk(1, ", "vector(1)", ")", 3000),
    ];
    for query in &too_deep {
        let (status, v) = post_query(&mut server, query);
        assert_eq!(status, 400, "{}…: {v}", &query[..40]);
        assert_eq!(v["errorType"], "bad_data", "{v}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("nested too deeply") && error.contains("limit of 2048"),
            "{error}"
        );
    }

    // Deep but within the limit: evaluated.
    let within = [
        (vec!["1"; 1500].join("+"), "1500"),
        (nested("abs(", "vector(-1)", ")", 1000), "1"),
        (nested("sum(", "vector(1)", ")", 1000), "1"),
        (nested("(", "1", ")", 2000), "1"),
        (
            nested("max_over_time((", "vector(1)", ")[5m:1m])", 100),
            "1",
        ),
    ];
    for (query, want) in &within {
        let (status, v) = post_query(&mut server, query);
        assert_eq!(status, 200, "{}…: {v}", &query[..40]);
        let result = &v["data"]["result"];
        let got = result[1].as_str().or(result[0]["value"][1].as_str());
        assert_eq!(got, Some(*want), "{}…: {v}", &query[..40]);
    }

    assert!(server.exited().is_none(), "{}", server.log_tail(30));
    let rss = rss_kb(server.pid());
    assert!(
        rss > 0 && rss < RSS_BOUND_KB,
        "rss {rss} kB over {RSS_BOUND_KB} kB"
    );
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{}", server.log_tail(30));
}
