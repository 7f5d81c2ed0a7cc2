//! Scraping end to end: `argus server` scraping itself, fixed-body targets
//! (Prometheus text 0.0.4 and OpenMetrics) and the real node exporter;
//! staleness when a target dies or its job is removed by a reload; and every
//! relabel action compared series by series with the reference Prometheus
//! 3.x.

use std::collections::BTreeSet;
use std::time::Duration;

use argus_tests::differential::free_port;
use argus_tests::e2e::{self, Daemon, LabelMap, labels, wait_for};
use argus_tests::fixed_target::{FixedTarget, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use argus_tests::http::urlencode;
use argus_tests::require_tool;
use serde_json::Value;

const TEXT_BODY: &str = "\
# HELP fixed_metric_gauge A fixed gauge.
# TYPE fixed_metric_gauge gauge
fixed_metric_gauge{color=\"red\"} 42.5
fixed_metric_gauge{color=\"blue\"} -3
# HELP fixed_metric_requests_total Requests served.
# TYPE fixed_metric_requests_total counter
fixed_metric_requests_total{code=\"200\"} 1027
";
const TEXT_SAMPLES: f64 = 3.0;

const OPENMETRICS_BODY: &str = "\
# TYPE om_requests counter
# HELP om_requests Requests handled.
om_requests_total{path=\"/a\"} 17
# TYPE om_temperature_celsius gauge
# UNIT om_temperature_celsius celsius
# HELP om_temperature_celsius Room temperature.
om_temperature_celsius{room=\"kitchen\"} 21.5
om_temperature_celsius{room=\"hall\"} 19.25
# TYPE om_latency_seconds histogram
# HELP om_latency_seconds Request latency.
om_latency_seconds_bucket{le=\"0.1\"} 3
om_latency_seconds_bucket{le=\"1.0\"} 5
om_latency_seconds_bucket{le=\"+Inf\"} 6
om_latency_seconds_sum 4.5
om_latency_seconds_count 6
# TYPE om_build info
# HELP om_build Build information.
om_build_info{version=\"1.2.3\"} 1
# EOF
";
const OPENMETRICS_SAMPLES: f64 = 9.0;

fn scrape_config(argus: &str, text: &str, om: Option<&str>, node: &str) -> String {
    let om_job = om
        .map(|addr| {
            format!("  - job_name: fixed-om\n    static_configs:\n      - targets: ['{addr}']\n")
        })
        .unwrap_or_default();
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: argus
    static_configs:
      - targets: ['{argus}']
  - job_name: fixed-text
    static_configs:
      - targets: ['{text}']
{om_job}  - job_name: node
    static_configs:
      - targets: ['{node}']
"
    )
}

fn start_node_exporter(dir: &std::path::Path) -> Daemon {
    let bin = require_tool(
        "prometheus-node-exporter",
        "apt-get install prometheus-node-exporter",
    );
    let port = free_port();
    let mut cmd = std::process::Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut d = Daemon::spawn("node-exporter", cmd, port, &dir.join("node-exporter.log"));
    d.wait_ready("/metrics", Duration::from_secs(30));
    d
}

/// The value of `query` when it returns exactly one series.
fn one_value(s: &Daemon, query: &str) -> Result<f64, String> {
    match s.instant(query, None).as_slice() {
        [(_, v)] => Ok(*v),
        other => Err(format!("{query} → {other:?}")),
    }
}

fn active_targets(s: &Daemon) -> Vec<Value> {
    s.api("/api/v1/targets")["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn scrapes_self_fixed_targets_and_node_exporter_with_staleness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_node_exporter(dir.path());
    let mut text = FixedTarget::start(TEXT_CONTENT_TYPE, TEXT_BODY);
    let om = FixedTarget::start(OPENMETRICS_CONTENT_TYPE, OPENMETRICS_BODY);

    // Argus scrapes itself, so its port is chosen before it starts.
    let port = free_port();
    let argus_addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(
        &config,
        &scrape_config(&argus_addr, &text.addr(), Some(&om.addr()), &node.addr()),
    );
    let mut argus = Daemon::spawn(
        "argus",
        e2e::argus_server(
            &dir.path().join("data"),
            &config,
            port,
            &["--web.enable-lifecycle"],
        ),
        port,
        &dir.path().join("argus.log"),
    );
    argus.wait_ready("/-/ready", Duration::from_secs(60));

    let jobs = ["argus", "fixed-text", "fixed-om", "node"];
    wait_for("up == 1 for every job", Duration::from_secs(20), || {
        let up = argus.instant("up", None);
        let healthy: BTreeSet<String> = up
            .iter()
            .filter(|(_, v)| *v == 1.0)
            .map(|(l, _)| l.get("job").cloned().unwrap_or_default())
            .collect();
        if jobs.iter().all(|j| healthy.contains(*j)) {
            Ok(())
        } else {
            Err(format!("{up:?}\n{}", argus.log_tail(20)))
        }
    });

    // The exact fixed values, with job and instance attached.
    for (query, want) in [
        ("fixed_metric_gauge{color=\"red\"}", 42.5),
        ("fixed_metric_gauge{color=\"blue\"}", -3.0),
        ("fixed_metric_requests_total", 1027.0),
        ("om_requests_total{path=\"/a\"}", 17.0),
        ("om_temperature_celsius{room=\"kitchen\"}", 21.5),
        ("om_temperature_celsius{room=\"hall\"}", 19.25),
        ("om_latency_seconds_bucket{le=\"0.1\"}", 3.0),
        ("om_latency_seconds_bucket{le=\"+Inf\"}", 6.0),
        ("om_latency_seconds_sum", 4.5),
        ("om_latency_seconds_count", 6.0),
        ("om_build_info{version=\"1.2.3\"}", 1.0),
    ] {
        assert_eq!(one_value(&argus, query), Ok(want), "{query}");
    }
    let gauge = argus.instant("fixed_metric_gauge{color=\"red\"}", None);
    assert_eq!(
        gauge[0].0,
        labels(&[
            ("__name__", "fixed_metric_gauge"),
            ("color", "red"),
            ("instance", &text.addr()),
            ("job", "fixed-text"),
        ])
    );
    assert!(
        one_value(&argus, "count({job=\"node\"})").is_ok_and(|n| n > 50.0),
        "node exporter series missing"
    );
    for (name, job, want) in [
        ("scrape_samples_scraped", "fixed-text", Some(TEXT_SAMPLES)),
        (
            "scrape_samples_scraped",
            "fixed-om",
            Some(OPENMETRICS_SAMPLES),
        ),
        (
            "scrape_samples_post_metric_relabeling",
            "fixed-text",
            Some(TEXT_SAMPLES),
        ),
        ("scrape_duration_seconds", "fixed-text", None),
        ("scrape_series_added", "fixed-text", None),
        ("scrape_samples_scraped", "argus", None),
        ("scrape_samples_scraped", "node", None),
    ] {
        let got = one_value(&argus, &format!("{name}{{job=\"{job}\"}}"));
        match want {
            Some(w) => assert_eq!(got, Ok(w), "{name} of {job}"),
            None => assert!(got.is_ok(), "{name} of {job}: {got:?}"),
        }
    }

    // /api/v1/targets: the four active targets, healthy, with their pools.
    let targets = active_targets(&argus);
    assert_eq!(targets.len(), 4, "{targets:#?}");
    for (job, addr) in [
        ("argus", argus_addr.clone()),
        ("fixed-text", text.addr()),
        ("fixed-om", om.addr()),
        ("node", node.addr()),
    ] {
        let t = targets
            .iter()
            .find(|t| t["scrapePool"] == job)
            .unwrap_or_else(|| panic!("no target in pool {job}: {targets:#?}"));
        assert_eq!(t["health"], "up", "{t}");
        assert_eq!(t["scrapeUrl"], format!("http://{addr}/metrics"), "{t}");
        assert_eq!(
            e2e::label_map(&t["labels"]),
            labels(&[("instance", &addr), ("job", job)]),
            "{t}"
        );
        assert_eq!(t["discoveredLabels"]["__address__"], addr.as_str(), "{t}");
        assert_eq!(t["lastError"], "", "{t}");
    }

    // /api/v1/metadata: HELP/TYPE (and UNIT) of the fixed targets' families.
    let metadata = argus.api("/api/v1/metadata");
    for (family, kind, help, unit) in [
        ("fixed_metric_gauge", "gauge", "A fixed gauge.", ""),
        (
            "fixed_metric_requests_total",
            "counter",
            "Requests served.",
            "",
        ),
        ("om_requests", "counter", "Requests handled.", ""),
        (
            "om_temperature_celsius",
            "gauge",
            "Room temperature.",
            "celsius",
        ),
        ("om_latency_seconds", "histogram", "Request latency.", ""),
        ("om_build", "info", "Build information.", ""),
    ] {
        let entries = metadata[family]
            .as_array()
            .unwrap_or_else(|| panic!("no metadata for {family}: {metadata}"));
        assert!(
            entries
                .iter()
                .any(|m| m["type"] == kind && m["help"] == help && m["unit"] == unit),
            "{family}: {entries:?}"
        );
    }
    let one = argus.api(&format!(
        "/api/v1/metadata?metric={}",
        urlencode("om_temperature_celsius")
    ));
    assert_eq!(
        one.as_object().map(|m| m.len()),
        Some(1),
        "metric= filter: {one}"
    );

    // /api/v1/targets/metadata for one job only.
    let target_metadata = argus.api(&format!(
        "/api/v1/targets/metadata?match_target={}",
        urlencode("{job=\"fixed-text\"}")
    ));
    let entries = target_metadata.as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|m| m["metric"] == "fixed_metric_gauge"
            && m["type"] == "gauge"
            && m["help"] == "A fixed gauge."
            && m["target"]["job"] == "fixed-text"
            && m["target"]["instance"] == text.addr().as_str()),
        "{target_metadata}"
    );
    assert!(
        entries.iter().all(|m| m["target"]["job"] == "fixed-text"),
        "match_target let other jobs through: {target_metadata}"
    );

    // A dead target: up 0 and its series stale at once (no 5m lookback).
    text.stop();
    wait_for(
        "up{job=\"fixed-text\"} == 0 after the target stopped",
        Duration::from_secs(10),
        || {
            let up = one_value(&argus, "up{job=\"fixed-text\"}");
            if up == Ok(0.0) {
                Ok(())
            } else {
                Err(format!("{up:?}"))
            }
        },
    );
    wait_for(
        "fixed-text series to go stale",
        Duration::from_secs(3),
        || {
            let left = argus.instant(
                "count({job=\"fixed-text\", __name__=~\"fixed_metric.*\"})",
                None,
            );
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    let target = active_targets(&argus)
        .into_iter()
        .find(|t| t["scrapePool"] == "fixed-text")
        .expect("fixed-text target still listed");
    assert_eq!(target["health"], "down", "{target}");
    assert_ne!(target["lastError"], "", "{target}");
    assert_eq!(one_value(&argus, "om_requests_total"), Ok(17.0));

    // A reload that removes the OpenMetrics job: its series go stale too.
    e2e::write_file(
        &config,
        &scrape_config(&argus_addr, &text.addr(), None, &node.addr()),
    );
    let r = argus.post("/-/reload");
    assert_eq!(r.status, 200, "reload: {}\n{}", r.body, argus.log_tail(20));
    wait_for(
        "fixed-om series to go stale after its job was removed",
        Duration::from_secs(10),
        || {
            let left = argus.instant("{job=\"fixed-om\"}", None);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    );
    let pools: Vec<Value> = active_targets(&argus)
        .iter()
        .map(|t| t["scrapePool"].clone())
        .collect();
    assert!(!pools.contains(&Value::from("fixed-om")), "{pools:?}");
    assert_eq!(one_value(&argus, "up{job=\"argus\"}"), Ok(1.0));
    assert!(
        argus.exited().is_none(),
        "argus died:\n{}",
        argus.log_tail(30)
    );
}

/// The body of the relabel comparison: `job`/`instance` labels that clash
/// with the target's, mixed case for lowercase/uppercase, equal and unequal
/// label pairs for keepequal/dropequal.
const RELABEL_BODY: &str = "\
# TYPE app_requests_total counter
app_requests_total{job=\"inner\",instance=\"inner:1\",Path=\"/Home\",code=\"200\",noise=\"n1\"} 10
app_requests_total{job=\"inner\",instance=\"inner:1\",Path=\"/Login\",code=\"500\",noise=\"n2\"} 3
# TYPE app_temp gauge
app_temp{sensor_a=\"x\",sensor_b=\"x\",zone=\"EU-west\"} 20
app_temp{sensor_a=\"x\",sensor_b=\"y\",zone=\"us-East\"} 21
# TYPE app_debug_info gauge
app_debug_info{level=\"3\"} 1
# TYPE app_drop_me gauge
app_drop_me 5
# TYPE other_metric gauge
other_metric 7
";

/// Every relabel action, in target and metric relabeling.
fn relabel_config(target: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: honor
    honor_labels: true
    params:
      module: [http_2xx]
    static_configs:
      - targets: ['{target}']
        labels:
          team_name: storage
          team_tier: gold
      - targets: ['127.0.0.1:1']
        labels:
          drop_me: "1"
    relabel_configs:
      - source_labels: [drop_me]
        regex: "1"
        action: drop
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:.*'
        action: keep
      - source_labels: [__address__]
        regex: '([^:]+):(\d+)'
        target_label: host_port
        replacement: '${{2}}@${{1}}'
      - source_labels: [__param_module]
        target_label: module
      - regex: 'team_(.+)'
        replacement: 'owner_$1'
        action: labelmap
      - regex: 'team_.*'
        action: labeldrop
      - source_labels: [__address__]
        modulus: 4
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        target_label: addr_shard
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'app_.*'
        action: keep
      - source_labels: [__name__]
        regex: app_drop_me
        action: drop
      - source_labels: [Path]
        target_label: path_lower
        action: lowercase
      - source_labels: [zone]
        target_label: zone_upper
        action: uppercase
      - source_labels: [Path]
        modulus: 8
        target_label: path_shard
        action: hashmod
  - job_name: plain
    honor_labels: false
    static_configs:
      - targets: ['{target}']
    relabel_configs:
      - target_label: env
        replacement: prod
    metric_relabel_configs:
      - source_labels: [sensor_a]
        target_label: sensor_b
        action: keepequal
      - regex: '__name__|job|instance|exported_job|exported_instance|Path|code|zone|sensor_a|sensor_b|level|env'
        action: labelkeep
      - source_labels: [__name__, code]
        separator: ';'
        regex: 'app_(\w+)_total;(\d)\d\d'
        target_label: class
        replacement: '${{1}}-${{2}}xx'
  - job_name: equal-drop
    static_configs:
      - targets: ['{target}']
    metric_relabel_configs:
      - source_labels: [sensor_a]
        target_label: sensor_b
        action: dropequal
      - source_labels: [zone]
        regex: '(.*)-(.*)'
        target_label: region
        replacement: '$2'
"#
    )
}

fn describe(set: &BTreeSet<LabelMap>) -> String {
    set.iter()
        .map(|l| format!("  {l:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn relabeling_matches_prometheus_series_for_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(TEXT_CONTENT_TYPE, RELABEL_BODY);
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &relabel_config(&target.addr()));

    let start = e2e::now_s() - 5.0;
    let prometheus = e2e::start_prometheus(dir.path(), "prometheus", &config, &[]);
    let argus = e2e::start_argus(dir.path(), "argus", &config, &[]);

    // Guards against both sides being equally empty or broken.
    let must_have = [
        labels(&[
            ("__name__", "app_requests_total"),
            ("job", "inner"),
            ("instance", "inner:1"),
            ("Path", "/Home"),
            ("path_lower", "/home"),
            ("code", "200"),
            ("noise", "n1"),
            ("module", "http_2xx"),
            ("owner_name", "storage"),
            ("owner_tier", "gold"),
            ("host_port", &format!("{}@127.0.0.1", target.port())),
        ]),
        labels(&[
            ("__name__", "app_requests_total"),
            ("job", "plain"),
            ("instance", &target.addr()),
            ("exported_job", "inner"),
            ("exported_instance", "inner:1"),
            ("Path", "/Login"),
            ("code", "500"),
            ("env", "prod"),
            ("class", "requests-5xx"),
        ]),
        labels(&[
            ("__name__", "app_temp"),
            ("job", "equal-drop"),
            ("instance", &target.addr()),
            ("sensor_a", "x"),
            ("sensor_b", "y"),
            ("zone", "us-East"),
            ("region", "East"),
        ]),
    ];
    let mut last = (BTreeSet::new(), BTreeSet::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let end = e2e::now_s() + 5.0;
        let from_prometheus = prometheus.series("{__name__=~\".+\"}", start, end);
        let from_argus = argus.series("{__name__=~\".+\"}", start, end);
        let complete = must_have.iter().all(|want| {
            from_prometheus
                .iter()
                .any(|l| want.iter().all(|(k, v)| l.get(k) == Some(v)))
        });
        // Identical label sets, unchanged since the previous poll (so both
        // have settled after a few scrapes).
        if complete && from_prometheus == from_argus && from_prometheus == last.0 {
            break;
        }
        last = (from_prometheus, from_argus);
        if std::time::Instant::now() > deadline {
            let (p, a) = &last;
            panic!(
                "series differ (prometheus has {}, argus {}; must-have present: {complete})\n\
                 only in prometheus:\n{}\nonly in argus:\n{}\nargus log:\n{}",
                p.len(),
                a.len(),
                describe(&p.difference(a).cloned().collect()),
                describe(&a.difference(p).cloned().collect()),
                argus.log_tail(30)
            );
        }
    }
    // The params reached the target.
    assert!(
        target
            .request_lines()
            .iter()
            .any(|l| l.contains("module=http_2xx")),
        "{:?}",
        target.request_lines()
    );
    // The dropped target never got scraped, so only one honor target is up.
    assert_eq!(
        argus.instant("up{job=\"honor\"}", None).len(),
        1,
        "{:?}",
        argus.instant("up", None)
    );
}
