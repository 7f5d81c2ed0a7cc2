//! End-to-end scrapes against real HTTP targets on 127.0.0.1.

mod common;

use std::time::Duration;

use argus_config::relabel::{Regex, RelabelAction, RelabelConfig};
use argus_scrape::TargetHealth;
use common::*;

const WAIT: Duration = Duration::from_secs(5);

const TEXT_BODY: &str =
    "# HELP foo_total A counter.\n# TYPE foo_total counter\nfoo_total{a=\"1\"} 3\nbar 1.5\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_body_values_report_series_metadata_and_status() {
    let srv = TestServer::start(Reply::text(TEXT_BODY)).await;
    let addr = srv.addr.to_string();
    let h = Harness::start(
        config(vec![job("test", 200)]),
        vec![(
            "test",
            vec![group(&[&addr], &[("__meta_x", "y"), ("env", "e")])],
        )],
    )
    .await;
    wait_for("two scrapes", WAIT, || h.values("up").len() >= 2).await;

    let foo = h.series("foo_total");
    assert_eq!(foo.len(), 1);
    assert_eq!(
        foo[0].0.to_string(),
        format!(r#"foo_total{{a="1", env="e", instance="{addr}", job="test"}}"#)
    );
    assert!(foo[0].1.iter().all(|s| s.v == 3.0));
    assert!(h.values("bar").iter().all(|v| *v == 1.5));
    assert!(h.values("up").iter().all(|v| *v == 1.0));
    assert!(h.values("scrape_samples_scraped").iter().all(|v| *v == 2.0));
    assert!(
        h.values("scrape_samples_post_metric_relabeling")
            .iter()
            .all(|v| *v == 2.0)
    );
    let added = h.values("scrape_series_added");
    assert_eq!(added[0], 2.0);
    assert!(added[1..].iter().all(|v| *v == 0.0));
    assert!(
        h.values("scrape_duration_seconds")
            .iter()
            .all(|v| *v > 0.0 && *v < 1.0)
    );
    // Report series carry the target labels and share timestamps with samples.
    let up = h.series("up");
    assert_eq!(
        up[0].0.to_string(),
        format!(r#"up{{env="e", instance="{addr}", job="test"}}"#)
    );
    let up_times: Vec<i64> = up[0].1.iter().map(|s| s.t).collect();
    let foo_times: Vec<i64> = foo[0].1.iter().map(|s| s.t).collect();
    assert!(foo_times.iter().all(|t| up_times.contains(t)));

    let headers = srv
        .state
        .lock()
        .last_headers
        .clone()
        .unwrap_or_else(|| panic!("no request seen"));
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(get("accept").starts_with("application/openmetrics-text;version=1.0.0"));
    assert_eq!(get("accept-encoding"), "gzip");
    assert!(get("user-agent").starts_with("Argus/"));
    assert_eq!(get("x-prometheus-scrape-timeout-seconds"), "0.2");

    let targets = h.manager.active_targets();
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    assert_eq!(t.health, TargetHealth::Up);
    assert_eq!(t.health.as_str(), "up");
    assert_eq!(t.last_error, "");
    assert!(t.last_scrape_ms.is_some());
    assert_eq!(t.scrape_pool, "test");
    assert_eq!(t.scrape_url, format!("http://{addr}/metrics"));
    assert_eq!(t.scrape_interval, Duration::from_millis(200));
    assert_eq!(t.discovered_labels.get("__meta_x"), Some("y"));
    assert_eq!(t.labels.get("__meta_x"), None);
    assert_eq!(t.labels.get("__address__"), None);
    assert!(h.manager.dropped_targets().is_empty());

    let meta = h.manager.target_metadata();
    assert_eq!(meta.len(), 1);
    let foo_meta = meta[0]
        .metrics
        .iter()
        .find(|m| m.metric == "foo_total")
        .unwrap_or_else(|| panic!("no metadata for foo_total: {:?}", meta[0].metrics));
    assert_eq!(foo_meta.kind, "counter");
    assert_eq!(foo_meta.help, "A counter.");

    let text = h.metrics_text();
    assert!(text.contains("argus_target_scrape_pools 1"), "{text}");
    assert!(
        text.contains("argus_target_scrape_pool_targets{scrape_job=\"test\"} 1"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_gzip_and_timestamps_honored_or_not() {
    let body = "# TYPE foo gauge\nfoo 7 1700000000.5\nbar 2\n# EOF\n";
    let reply = Reply {
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".to_string(),
        gzip: true,
        ..Reply::text(body)
    };
    let srv = TestServer::start(reply).await;
    let addr = srv.addr.to_string();
    let mut ignore = job("ignore", 200);
    ignore.honor_timestamps = false;
    let h = Harness::start(
        config(vec![job("honor", 200), ignore]),
        vec![
            ("honor", vec![group(&[&addr], &[])]),
            ("ignore", vec![group(&[&addr], &[])]),
        ],
    )
    .await;
    wait_for("scrapes of both jobs", WAIT, || {
        h.series("up").iter().all(|(_, s)| s.len() >= 2) && h.series("up").len() == 2
    })
    .await;
    assert!(
        h.series("up")
            .iter()
            .all(|(_, s)| s.iter().all(|s| s.v == 1.0))
    );
    for (labels, samples) in h.series("foo") {
        match labels.get("job") {
            Some("honor") => {
                // One sample: the exposed timestamp, written once per scrape.
                assert!(
                    samples
                        .iter()
                        .all(|s| s.t == 1_700_000_000_500 && s.v == 7.0)
                );
                assert_eq!(samples.len(), 1);
            }
            Some("ignore") => {
                assert!(samples.len() >= 2);
                assert!(
                    samples
                        .iter()
                        .all(|s| s.t > 1_700_000_000_500 && s.v == 7.0)
                );
            }
            other => panic!("unexpected job {other:?}"),
        }
    }
    assert_eq!(h.series("bar").len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_report_down_with_upstream_errors() {
    let failing = TestServer::start(Reply {
        status: 500,
        ..Reply::text("x 1\n")
    })
    .await;
    let slow = TestServer::start(Reply {
        delay: Duration::from_secs(3),
        ..Reply::text("x 1\n")
    })
    .await;
    // A port nobody listens on: bind, read the port, close.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}")).to_string()
    };
    let mut timeout_job = job("slow", 300);
    timeout_job.scrape_timeout = Duration::from_millis(100);
    let (fa, sa) = (failing.addr.to_string(), slow.addr.to_string());
    let h = Harness::start(
        config(vec![job("fail", 200), timeout_job, job("refused", 200)]),
        vec![
            ("fail", vec![group(&[&fa], &[])]),
            ("slow", vec![group(&[&sa], &[])]),
            ("refused", vec![group(&[&refused], &[])]),
        ],
    )
    .await;
    wait_for("every target scraped", WAIT, || {
        let t = h.manager.active_targets();
        t.len() == 3 && t.iter().all(|t| t.health == TargetHealth::Down)
    })
    .await;
    let targets = h.manager.active_targets();
    let err = |pool: &str| {
        targets
            .iter()
            .find(|t| t.scrape_pool == pool)
            .map(|t| t.last_error.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        err("fail"),
        "server returned HTTP status 500 Internal Server Error"
    );
    assert!(
        err("slow").contains("context deadline exceeded"),
        "{}",
        err("slow")
    );
    assert!(
        err("refused").contains("connection refused"),
        "{}",
        err("refused")
    );
    assert!(
        h.series("up")
            .iter()
            .all(|(_, s)| s.iter().all(|s| s.v == 0.0))
    );
    assert!(h.series("x").is_empty());
    // The slow target was given up on at the timeout, not after 3s.
    let slow_t = targets
        .iter()
        .find(|t| t.scrape_pool == "slow")
        .map(|t| t.last_scrape_duration)
        .unwrap_or_default();
    assert!(slow_t < Duration::from_millis(1000), "{slow_t:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_series_and_failed_scrapes_get_staleness_markers() {
    let srv = TestServer::start(Reply::text("a 1\nb 2\nts 5 1000\n")).await;
    let addr = srv.addr.to_string();
    let h = Harness::start(
        config(vec![job("test", 200)]),
        vec![("test", vec![group(&[&addr], &[])])],
    )
    .await;
    wait_for("first scrape", WAIT, || !h.values("b").is_empty()).await;
    srv.set(Reply::text("a 1\n"));
    wait_for("b marked stale", WAIT, || {
        h.values("b").last().is_some_and(|v| is_stale(*v))
    })
    .await;
    // A series with its own timestamp is not marked stale.
    assert!(h.values("ts").iter().all(|v| *v == 5.0));
    let b = h.values("b");
    assert_eq!(b.iter().filter(|v| is_stale(**v)).count(), 1);
    assert!(!h.values("a").iter().any(|v| is_stale(*v)));

    srv.set(Reply {
        status: 503,
        ..Reply::text("")
    });
    wait_for("a marked stale", WAIT, || {
        h.values("a").last().is_some_and(|v| is_stale(*v))
    })
    .await;
    let up = h.values("up");
    assert_eq!(up.last(), Some(&0.0));
    // Report series are written, not marked stale, on failure.
    assert!(!up.iter().any(|v| is_stale(*v)));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_target_and_removed_job_get_staleness_markers() {
    let srv = TestServer::start(Reply::text("m 1\n")).await;
    let addr = srv.addr.to_string();
    let h = Harness::start(
        config(vec![job("one", 200), job("two", 200)]),
        vec![
            ("one", vec![group(&[&addr], &[])]),
            ("two", vec![group(&[&addr], &[])]),
        ],
    )
    .await;
    wait_for("both jobs scraped", WAIT, || h.series("m").len() == 2).await;
    let stale_for = |job: &str| {
        h.series("m")
            .into_iter()
            .chain(h.series("up"))
            .filter(|(l, _)| l.get("job") == Some(job))
            .all(|(_, s)| s.last().is_some_and(|s| is_stale(s.v)))
    };

    // Target gone from discovery: markers after its would-be next scrapes.
    h.publish(vec![("one", vec![]), ("two", vec![group(&[&addr], &[])])]);
    wait_for("job one marked stale", WAIT, || stale_for("one")).await;
    assert!(
        h.manager
            .active_targets()
            .iter()
            .all(|t| t.scrape_pool == "two")
    );
    assert!(!stale_for("two"));

    // Job removed by a reload: markers at once.
    h.manager.apply_config(&config(vec![job("one", 200)]));
    wait_for("job two marked stale", Duration::from_millis(1500), || {
        stale_for("two")
    })
    .await;
    assert!(h.manager.active_targets().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_limit_fails_the_scrape() {
    let srv = TestServer::start(Reply::text("a 1\nb 2\nc 3\n")).await;
    let addr = srv.addr.to_string();
    let mut j = job("test", 200);
    j.sample_limit = 2;
    let h = Harness::start(config(vec![j]), vec![("test", vec![group(&[&addr], &[])])]).await;
    wait_for("two scrapes", WAIT, || h.values("up").len() >= 2).await;
    assert!(h.values("up").iter().all(|v| *v == 0.0));
    assert!(h.series("a").is_empty() && h.series("c").is_empty());
    assert!(h.values("scrape_samples_scraped").iter().all(|v| *v == 3.0));
    let t = &h.manager.active_targets()[0];
    assert_eq!(t.last_error, "sample limit exceeded");
    assert!(
        h.metrics_text()
            .contains("argus_target_scrapes_exceeded_sample_limit_total "),
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_limits_and_body_size_limit_fail_the_scrape() {
    let srv = TestServer::start(Reply::text("a{x=\"12345678901234567\"} 1\n")).await;
    let addr = srv.addr.to_string();
    let mut labels = job("labels", 200);
    labels.label_value_length_limit = 16;
    let mut body = job("body", 200);
    body.body_size_limit = 10;
    let h = Harness::start(
        config(vec![labels, body]),
        vec![
            ("labels", vec![group(&[&addr], &[])]),
            ("body", vec![group(&[&addr], &[])]),
        ],
    )
    .await;
    wait_for("both scraped", WAIT, || {
        let t = h.manager.active_targets();
        t.len() == 2 && t.iter().all(|t| t.health == TargetHealth::Down)
    })
    .await;
    let targets = h.manager.active_targets();
    assert_eq!(targets[0].scrape_pool, "body");
    assert_eq!(targets[0].last_error, "body size limit exceeded");
    assert!(
        targets[1]
            .last_error
            .starts_with("label_value_length_limit exceeded (metric: a, label name: x"),
        "{}",
        targets[1].last_error
    );
    assert!(h.series("a").is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_both_ways() {
    let body = "m{job=\"exposed\",instance=\"x\",exported_job=\"older\"} 1\n";
    let srv = TestServer::start(Reply::text(body)).await;
    let addr = srv.addr.to_string();
    let mut honor = job("honor", 200);
    honor.honor_labels = true;
    let h = Harness::start(
        config(vec![honor, job("plain", 200)]),
        vec![
            ("honor", vec![group(&[&addr], &[])]),
            ("plain", vec![group(&[&addr], &[])]),
        ],
    )
    .await;
    wait_for("both scraped", WAIT, || h.series("m").len() == 2).await;
    let names: Vec<String> = h.series("m").iter().map(|(l, _)| l.to_string()).collect();
    assert!(
        names.contains(&r#"m{exported_job="older", instance="x", job="exposed"}"#.to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&format!(
            r#"m{{exported_exported_job="exposed", exported_instance="x", exported_job="older", instance="{addr}", job="plain"}}"#
        )),
        "{names:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_every_target_of_the_pool() {
    let a = TestServer::start(Reply::text("m 1\n")).await;
    let b = TestServer::start(Reply::text("m 1\n")).await;
    let mut j = job("test", 200);
    j.target_limit = 1;
    let (aa, ba) = (a.addr.to_string(), b.addr.to_string());
    let h = Harness::start(
        config(vec![j]),
        vec![("test", vec![group(&[&aa, &ba, &aa], &[])])],
    )
    .await;
    wait_for("both targets reported", WAIT, || {
        let t = h.manager.active_targets();
        t.len() == 2 && t.iter().all(|t| t.health == TargetHealth::Down)
    })
    .await;
    let t = h.manager.active_targets();
    assert_eq!(
        t[0].last_error,
        "target_limit exceeded (number of targets: 2, limit: 1)"
    );
    assert_eq!(a.requests() + b.requests(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_scraping_and_shutdown_writes_no_markers() {
    let srv = TestServer::start(Reply::text("m 1\n")).await;
    let addr = srv.addr.to_string();
    let h = Harness::start(
        config(vec![job("test", 200)]),
        vec![("test", vec![group(&[&addr], &[])])],
    )
    .await;
    wait_for("first scrape", WAIT, || !h.values("m").is_empty()).await;
    let mut changed = job("test", 200);
    changed.sample_limit = 100;
    h.manager.apply_config(&config(vec![changed]));
    let before = h.values("m").len();
    wait_for("scrapes after reload", WAIT, || {
        h.values("m").len() >= before + 2
    })
    .await;
    // Same target, cache kept: no marker, series not re-added.
    assert!(!h.values("m").iter().any(|v| is_stale(*v)));
    assert_eq!(h.values("scrape_series_added").iter().sum::<f64>(), 1.0);
    assert_eq!(h.manager.active_targets().len(), 1);

    let storage = h.storage.clone();
    h.stop().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let m = argus_model::Matcher::new(argus_model::MatchType::Equal, "__name__", "m")
        .unwrap_or_else(|e| panic!("{e}"));
    let set = argus_model::QueryableExt::select_all(&*storage, &[m], i64::MIN, i64::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        set.iter()
            .all(|s| s.samples(i64::MIN, i64::MAX).all(|s| !is_stale(s.v)))
    );
}

fn rule(
    action: RelabelAction,
    source: &[&str],
    regex: &str,
    target: &str,
    replacement: &str,
) -> RelabelConfig {
    RelabelConfig {
        source_labels: source.iter().map(|s| s.to_string()).collect(),
        regex: Regex::new(regex).unwrap_or_else(|e| panic!("{e}")),
        target_label: target.to_string(),
        replacement: replacement.to_string(),
        action,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_drops_targets_and_series() {
    let srv = TestServer::start(Reply::text("keep_me 1\ndrop_me 2\n")).await;
    let addr = srv.addr.to_string();
    let mut j = job("test", 200);
    j.relabel_configs = vec![
        rule(RelabelAction::Keep, &["__meta_keep"], "yes", "", "$1"),
        rule(
            RelabelAction::Replace,
            &["__meta_zone"],
            "(.+)",
            "zone",
            "z-$1",
        ),
    ];
    j.metric_relabel_configs = vec![rule(
        RelabelAction::Drop,
        &["__name__"],
        "drop_.*",
        "",
        "$1",
    )];
    let mut kept = group(&[&addr], &[("__meta_keep", "yes"), ("__meta_zone", "a")]);
    kept.source = "kept".to_string();
    let mut dropped = group(&["127.0.0.1:9"], &[("__meta_keep", "no")]);
    dropped.source = "dropped".to_string();
    let h = Harness::start(config(vec![j]), vec![("test", vec![kept, dropped])]).await;
    wait_for("two scrapes", WAIT, || h.values("up").len() >= 2).await;

    let keep = h.series("keep_me");
    assert_eq!(keep.len(), 1);
    assert_eq!(keep[0].0.get("zone"), Some("z-a"));
    assert!(h.series("drop_me").is_empty());
    assert!(h.values("scrape_samples_scraped").iter().all(|v| *v == 2.0));
    assert!(
        h.values("scrape_samples_post_metric_relabeling")
            .iter()
            .all(|v| *v == 1.0)
    );

    let dropped = h.manager.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].scrape_pool, "test");
    assert_eq!(
        dropped[0].discovered_labels.get("__address__"),
        Some("127.0.0.1:9")
    );
    assert_eq!(dropped[0].discovered_labels.get("job"), Some("test"));
    let active = h.manager.active_targets();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].labels.get("zone"), Some("z-a"));
    h.stop().await;
}
