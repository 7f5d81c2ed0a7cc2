//! Wire compatibility with Thanos v0.39 (built by scripts/peers), both
//! ways, on loopback with a real MinIO:
//! - `thanos query` over `argus store` and `argus scraper` answers as
//!   `argus query` over the same endpoints;
//! - `argus query` over `thanos store` (Prometheus blocks written by
//!   promtool, uploaded through the S3 API) answers as `thanos query`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use argus_tests::cluster::{
    demo_target, metric_sum, scrape_config, start_query, start_scraper, start_store,
    start_thanos_query, start_thanos_store, stores_healthy,
};
use argus_tests::differential::{self, compare, get_json, instant_times, queries, range_windows};
use argus_tests::e2e::{Daemon, now_s, wait_for, write_file};
use argus_tests::http::urlencode;
use argus_tests::minio::Minio;
use serde_json::Value;

fn objstore_file(dir: &Path, minio: &Minio, bucket: &str) -> std::path::PathBuf {
    minio.create_bucket(bucket);
    let path = dir.join(format!("{bucket}-objstore.yml"));
    write_file(&path, &minio.objstore_yaml(bucket));
    path
}

/// An answer without its annotations: Thanos's engine (a Prometheus fork
/// older than 3.16) words and places warnings differently.
fn without_annotations(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("warnings");
        o.remove("infos");
    }
    v
}

/// The differences between two answers to `path`: query results compared
/// point by point, series lists as sets.
fn differences(path: &str, reference: &Value, got: &Value, ordered: bool) -> Vec<String> {
    if path.starts_with("/api/v1/series") {
        let set = |v: &Value| -> std::collections::BTreeSet<String> {
            v["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.to_string())
                .collect()
        };
        return if set(reference) == set(got) && got["status"] == "success" {
            Vec::new()
        } else {
            vec![format!("series differ: {reference} vs {got}")]
        };
    }
    compare(
        &without_annotations(reference.clone()),
        &without_annotations(got.clone()),
        ordered,
    )
}

/// Runs every path on both queriers; returns the mismatches, how many
/// evaluations the reference answered with data, and the differences
/// settled by `arbiter` (Prometheus 3.16 over the same data): where the
/// candidate answers as it does, the difference is the reference engine's.
fn compare_all(
    reference: &Daemon,
    candidate: &Daemon,
    arbiter: Option<&Daemon>,
    paths: &[(String, bool)],
) -> (Vec<String>, usize, Vec<String>) {
    let mut mismatches = Vec::new();
    let mut engine_differences = Vec::new();
    let mut with_data = 0;
    for (path, ordered) in paths {
        let r: Value = get_json(reference.port, path);
        if r["status"] != "success" {
            // Functions Thanos's engine lacks: nothing to compare.
            continue;
        }
        let has_data = match &r["data"]["result"] {
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        };
        with_data += usize::from(has_data);
        let g = get_json(candidate.port, path);
        let d = differences(path, &r, &g, *ordered);
        if d.is_empty() {
            continue;
        }
        let settled = arbiter.is_some_and(|a| {
            let truth = get_json(a.port, path);
            differences(path, &truth, &g, *ordered).is_empty()
        });
        if settled {
            engine_differences.push(path.clone());
        } else {
            mismatches.push(format!("{path}: {}", d.join("; ")));
        }
    }
    (mismatches, with_data, engine_differences)
}

#[test]
fn thanos_query_over_argus_endpoints_answers_as_argus_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let minio = Minio::start(dir);
    let objstore = objstore_file(dir, &minio, "argus");
    let target = demo_target();
    let cfg = scrape_config(
        dir,
        "a",
        &target.addr(),
        &[("cluster", "c1"), ("replica", "a")],
    );
    // Short blocks so some are in the bucket within seconds.
    let scraper = start_scraper(
        dir,
        "scraper",
        &cfg,
        Some(&objstore),
        &["--storage.tsdb.block-duration=10s"],
    );
    let store = start_store(dir, "store", &objstore, &[]);
    let started = now_s();
    wait_for(
        "two shipped blocks served by the store",
        Duration::from_secs(90),
        || {
            let n = metric_sum(&store.daemon, "argus_store_blocks_loaded");
            if n >= 2.0 {
                Ok(())
            } else {
                Err(format!("{n} blocks"))
            }
        },
    );
    let endpoints = [store.endpoint(), scraper.endpoint()];
    let dedup = ["--query.replica-label=replica"];
    let thanos = start_thanos_query(dir, "thanos-query", &endpoints, &dedup);
    let argus = start_query(dir, "argus-query", &endpoints, &dedup);
    wait_for(
        "thanos to know both endpoints",
        Duration::from_secs(30),
        || stores_healthy(&thanos.daemon, 2),
    );

    // Past times only, so both see the same data: inside shipped blocks
    // (overlapping the scraper's local copies) and in the head.
    let now = now_s().floor() - 2.0;
    let times: Vec<f64> = [started + 8.0, started + 15.0, now - 10.0, now].to_vec();
    let exprs = [
        "demo_requests_total",
        r#"demo_requests_total{path=~"/p[0-4]"}"#,
        "sum(rate(demo_requests_total[10s]))",
        "rate(demo_requests_total[15s])",
        r#"increase(demo_requests_total{path="/p3"}[20s])"#,
        "count by (path) (demo_requests_total)",
        "max_over_time(demo_temperature[30s])",
        "demo_requests_total[10s]",
        "up",
        "sum by (job, cluster) (scrape_samples_scraped)",
        r#"{__name__=~"demo_.*", cluster="c1"}"#,
        r#"demo_requests_total{replica="a"}"#,
    ];
    let mut paths = Vec::new();
    for e in exprs {
        for t in &times {
            paths.push((
                format!("/api/v1/query?query={}&time={t:.3}", urlencode(e)),
                false,
            ));
        }
        if !e.ends_with(']') {
            paths.push((
                format!(
                    "/api/v1/query_range?query={}&start={:.3}&end={now:.3}&step=2",
                    urlencode(e),
                    started + 5.0
                ),
                false,
            ));
        }
    }
    for m in ["demo_requests_total", "up"] {
        paths.push((
            format!("/api/v1/series?match[]={m}&start={started:.3}&end={now:.3}"),
            false,
        ));
    }
    let (mismatches, with_data, _) = compare_all(&thanos.daemon, &argus.daemon, None, &paths);
    println!(
        "thanos query vs argus query over argus endpoints: {} evaluations, {with_data} with data, {} mismatches",
        paths.len(),
        mismatches.len()
    );
    assert!(
        with_data >= paths.len() / 2,
        "too few answers with data: {with_data}"
    );
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn argus_query_over_thanos_store_answers_as_thanos_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let minio = Minio::start(dir);
    let objstore = objstore_file(dir, &minio, "prom");

    // Prometheus blocks, written by promtool and uploaded through S3.
    let data = dir.join("data.om.txt");
    write_file(&data, &differential::openmetrics_data());
    let blocks = dir.join("blocks");
    let mut c = Command::new(argus_tests::peers::promtool_bin());
    c.args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data)
        .arg(&blocks);
    differential::run_backfill(c, "promtool tsdb create-blocks-from openmetrics")
        .unwrap_or_else(|e| panic!("{e}"));
    let n_blocks = std::fs::read_dir(&blocks)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("meta.json").is_file())
                .count()
        })
        .unwrap_or(0);
    assert!(n_blocks >= 2, "promtool wrote {n_blocks} blocks");
    minio.mc(&[
        "cp",
        "--recursive",
        &format!("{}/", blocks.display()),
        "local/prom/",
    ]);

    // Prometheus 3.16 over a copy of the same blocks settles differences
    // that come from Thanos's older engine.
    let prom_data = dir.join("prometheus-data");
    copy_dir(&blocks, &prom_data);
    let prom_cfg = dir.join("prometheus.yml");
    write_file(&prom_cfg, "global: {}\nscrape_configs: []\n");
    let prometheus = {
        let port = argus_tests::differential::free_port();
        let mut d = Daemon::spawn(
            "prometheus",
            argus_tests::e2e::prometheus_server(&prom_data, &prom_cfg, port, &[]),
            port,
            &dir.join("prometheus.log"),
        );
        d.wait_ready("/-/ready", Duration::from_secs(60));
        d
    };
    let store = start_thanos_store(dir, "thanos-store", &objstore);
    let endpoints = [store.endpoint()];
    let thanos = start_thanos_query(dir, "thanos-query", &endpoints, &[]);
    let argus = start_query(dir, "argus-query", &endpoints, &[]);
    wait_for(
        "thanos query to see the store",
        Duration::from_secs(30),
        || stores_healthy(&thanos.daemon, 1),
    );
    wait_for("the blocks to be served", Duration::from_secs(60), || {
        let r = get_json(
            thanos.daemon.port,
            "/api/v1/query?query=count(http_requests_total)&time=1700006400",
        );
        match r["data"]["result"].as_array() {
            Some(a) if !a.is_empty() => Ok(()),
            _ => Err(format!("{r}")),
        }
    });

    // Every fourth query of the differential corpus, at two instant times
    // and over one range.
    let times = instant_times();
    let windows = range_windows();
    let mut paths = Vec::new();
    for q in queries().iter().step_by(4) {
        let enc = urlencode(&q.expr);
        for t in [times[1], times[3]] {
            paths.push((format!("/api/v1/query?query={enc}&time={t}"), q.ordered));
        }
        if !q.instant_only {
            let (s, e, step) = windows[0];
            paths.push((
                format!("/api/v1/query_range?query={enc}&start={s}&end={e}&step={step}"),
                false,
            ));
        }
    }
    let (mismatches, with_data, engine) =
        compare_all(&thanos.daemon, &argus.daemon, Some(&prometheus), &paths);
    println!(
        "argus query vs thanos query over thanos store ({n_blocks} promtool blocks): {} evaluations, {with_data} with data, {} mismatches, {} where argus answers as prometheus 3.16 and thanos's engine differs",
        paths.len(),
        mismatches.len(),
        engine.len()
    );
    for p in &engine {
        println!("  thanos engine differs: {p}");
    }
    assert!(
        with_data >= paths.len() / 2,
        "too few answers with data: {with_data}"
    );
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target)
                .unwrap_or_else(|err| panic!("{}: {err}", target.display()));
        }
    }
}
