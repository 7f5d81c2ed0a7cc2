//! The distributed read path end to end, on loopback with a real MinIO:
//! two `argus scraper` replicas ship blocks, `argus store` serves the
//! bucket, `argus query` merges and deduplicates; a reference Prometheus
//! scrapes the same target for the expected answers.

use std::path::Path;
use std::time::Duration;

use argus_tests::cluster::{
    Role, demo_rate_sum, demo_target, metric_sum, scrape_config, start_query, start_scraper,
    start_scraper_on, start_store,
};
use argus_tests::e2e::{Daemon, now_s, start_prometheus, wait_for, write_file};
use argus_tests::http::urlencode;
use argus_tests::minio::Minio;

/// `sum(rate(...))` of the demo counters over `window` at `t`.
fn rate_sum(d: &Daemon, window: &str, t: f64) -> Option<f64> {
    let q = format!("sum(rate(demo_requests_total[{window}]))");
    match d.instant(&q, Some(t)).as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}

/// A range query's points `(t, v)` of a single-series result.
fn range_points(d: &Daemon, query: &str, start: f64, end: f64, step: f64) -> Vec<(f64, f64)> {
    let data = d.api(&format!(
        "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={step}",
        urlencode(query)
    ));
    let result = data["result"].as_array().cloned().unwrap_or_default();
    assert!(result.len() <= 1, "{query}: more than one series: {data}");
    result
        .first()
        .and_then(|s| s["values"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let t = p[0].as_f64().unwrap_or(f64::NAN);
            let v = p[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            (t, v)
        })
        .collect()
}

fn objstore_file(dir: &Path, minio: &Minio, bucket: &str) -> std::path::PathBuf {
    minio.create_bucket(bucket);
    let path = dir.join(format!("{bucket}-objstore.yml"));
    write_file(&path, &minio.objstore_yaml(bucket));
    path
}

/// Blocks a scraper process has uploaded.
fn shipped(scraper: &Role) -> f64 {
    metric_sum(&scraper.daemon, "thanos_shipper_uploads_total")
}

#[test]
fn ha_replicas_ship_and_answer_as_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let minio = Minio::start(dir);
    let objstore = objstore_file(dir, &minio, "argus");
    let target = demo_target();

    let reference = scrape_config(dir, "prometheus", &target.addr(), &[("cluster", "c1")]);
    let prometheus = start_prometheus(dir, "prometheus", &reference, &[]);
    let cfg_a = scrape_config(
        dir,
        "a",
        &target.addr(),
        &[("cluster", "c1"), ("replica", "a")],
    );
    let cfg_b = scrape_config(
        dir,
        "b",
        &target.addr(),
        &[("cluster", "c1"), ("replica", "b")],
    );
    let block = ["--storage.tsdb.block-duration=1m"];
    let mut a = start_scraper(dir, "scraper-a", &cfg_a, Some(&objstore), &block);
    let b = start_scraper(dir, "scraper-b", &cfg_b, Some(&objstore), &block);
    let store = start_store(dir, "store", &objstore, &[]);
    let started = now_s();
    let query = start_query(
        dir,
        "query",
        &[a.endpoint(), b.endpoint(), store.endpoint()],
        &["--query.replica-label=replica"],
    );

    // Blocks ship during the test: wait for one from each replica.
    wait_for(
        "a block shipped by each replica",
        Duration::from_secs(180),
        || {
            let (na, nb) = (shipped(&a), shipped(&b));
            if na >= 1.0 && nb >= 1.0 {
                Ok(())
            } else {
                Err(format!("a shipped {na}, b shipped {nb}"))
            }
        },
    );
    // The store gateway has synced them.
    wait_for(
        "the store gateway to load the blocks",
        Duration::from_secs(30),
        || {
            let n = metric_sum(&store.daemon, "argus_store_blocks_loaded");
            if n >= 2.0 {
                Ok(())
            } else {
                Err(format!("{n} blocks loaded"))
            }
        },
    );

    // Over a window spanning shipped blocks and heads, each series once,
    // without `replica`, with `cluster`.
    let now = now_s();
    let series = query.daemon.series("demo_requests_total", started, now);
    assert_eq!(
        series.len(),
        argus_tests::cluster::DEMO_SERIES,
        "{series:?}"
    );
    for s in &series {
        assert_eq!(s.get("cluster").map(String::as_str), Some("c1"), "{s:?}");
        assert!(!s.contains_key("replica"), "{s:?}");
    }
    let raw = query.daemon.api(&format!(
        "/api/v1/series?match[]=demo_requests_total&start={started:.3}&end={now:.3}&dedup=false"
    ));
    assert_eq!(
        raw.as_array().map(Vec::len),
        Some(2 * argus_tests::cluster::DEMO_SERIES),
        "dedup=false returns both replicas: {raw}"
    );
    // sum(rate) agrees with Prometheus scraping the same target.
    let expected = demo_rate_sum();
    let mut t = started + 30.0;
    while t < now - 2.0 {
        let got = rate_sum(&query.daemon, "20s", t).unwrap_or(f64::NAN);
        let want = rate_sum(&prometheus, "20s", t).unwrap_or(f64::NAN);
        println!("t={t:.0} argus={got:.3} prometheus={want:.3} expected={expected}");
        assert!(
            (got - want).abs() <= 0.05 * expected,
            "at {t}: argus {got} vs prometheus {want}"
        );
        t += 10.0;
    }

    // Replica loss: the answer stays complete from b.
    let killed_at = now_s();
    a.daemon.kill();
    std::thread::sleep(Duration::from_secs(8));
    let points = range_points(
        &query.daemon,
        "sum(rate(demo_requests_total[5s]))",
        killed_at - 8.0,
        killed_at + 6.0,
        1.0,
    );
    assert_eq!(
        points.len(),
        15,
        "a point every second around the kill: {points:?}"
    );
    for (t, v) in &points {
        assert!(
            (v - expected).abs() <= 0.15 * expected,
            "rate at {t} around the kill: {v}, expected {expected}: {points:?}"
        );
    }

    // Restart a: no duplicate series, no doubled values, and a ships what
    // it had not shipped.
    let a = start_scraper_on(
        dir,
        "scraper-a",
        &cfg_a,
        Some(&objstore),
        &block,
        a.daemon.port,
        a.grpc,
    );
    std::thread::sleep(Duration::from_secs(6));
    let now = now_s();
    let series = query.daemon.series("demo_requests_total", now - 5.0, now);
    assert_eq!(
        series.len(),
        argus_tests::cluster::DEMO_SERIES,
        "{series:?}"
    );
    let got = rate_sum(&query.daemon, "5s", now).unwrap_or(f64::NAN);
    assert!(
        (got - expected).abs() <= 0.15 * expected,
        "after the restart: {got}, expected {expected}"
    );
    // What a held when it was killed (its WAL) is sealed and shipped, and
    // every block it has locally is in the bucket.
    wait_for(
        "replica a to ship its backlog",
        Duration::from_secs(150),
        || {
            let uploaded = shipped(&a);
            let backlog = metric_sum(&a.daemon, "argus_shipper_backlog_blocks");
            let in_bucket = block_ids_in_bucket(&minio, "argus");
            let local = local_blocks(&dir.join("scraper-a-data"));
            let missing: Vec<_> = local.iter().filter(|b| !in_bucket.contains(*b)).collect();
            if uploaded >= 1.0 && backlog == 0.0 && missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "uploaded {uploaded}, backlog {backlog}, not in the bucket: {missing:?}"
                ))
            }
        },
    );
    drop(b);
}

/// The ids of the complete blocks (with `meta.json`) in `bucket`, listed
/// through S3.
fn block_ids_in_bucket(minio: &Minio, bucket: &str) -> Vec<String> {
    minio
        .mc(&["ls", "--recursive", &format!("local/{bucket}")])
        .lines()
        .filter_map(|l| l.trim_end().strip_suffix("/meta.json"))
        .filter_map(|l| l.rsplit(' ').next())
        .map(str::to_string)
        .collect()
}

/// The complete blocks of a storage directory.
fn local_blocks(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("meta.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `(ulid, samples)` of every block, from `argus tools bucket inspect`.
fn inspect_blocks(args: &[&str]) -> Vec<(String, u64)> {
    let out = std::process::Command::new(argus_tests::argus_bin())
        .args(["tools", "bucket", "inspect"])
        .args(args)
        .output()
        .expect("run argus tools bucket inspect");
    assert!(
        out.status.success(),
        "inspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut rows: Vec<(String, u64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(4)?.parse().ok()?))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn bucket_outage_keeps_scraping_and_ships_the_backlog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let mut minio = Minio::start(dir);
    let objstore = objstore_file(dir, &minio, "outage");
    let target = demo_target();
    let cfg = scrape_config(dir, "s", &target.addr(), &[("replica", "a")]);
    // Short blocks, so several seal while the bucket is down.
    let s = start_scraper(
        dir,
        "scraper",
        &cfg,
        Some(&objstore),
        &["--storage.tsdb.block-duration=10s"],
    );
    wait_for("a first block shipped", Duration::from_secs(60), || {
        let n = shipped(&s);
        if n >= 1.0 {
            Ok(())
        } else {
            Err(format!("{n} shipped"))
        }
    });

    minio.kill();
    let scrapes_before = target.scrapes();
    std::thread::sleep(Duration::from_secs(30));
    let scrapes_during = target.scrapes() - scrapes_before;
    assert!(
        scrapes_during >= 25,
        "scraping went on during the outage: {scrapes_during} scrapes in 30s"
    );
    let backlog = metric_sum(&s.daemon, "argus_shipper_backlog_blocks");
    assert!(
        backlog >= 1.0,
        "blocks sealed during the outage wait: backlog {backlog}"
    );
    let failures = metric_sum(&s.daemon, "thanos_shipper_upload_failures_total");
    println!(
        "outage: {scrapes_during} scrapes, backlog {backlog} blocks, {failures} failed uploads"
    );

    minio.restart();
    wait_for("the backlog to ship", Duration::from_secs(90), || {
        let backlog = metric_sum(&s.daemon, "argus_shipper_backlog_blocks");
        if backlog == 0.0 {
            Ok(())
        } else {
            Err(format!("backlog {backlog}"))
        }
    });
    // Every block sealed locally is in the bucket with the same samples.
    let storage = dir.join("scraper-data");
    let local = inspect_blocks(&[&format!("--storage.tsdb.path={}", storage.display())]);
    let in_bucket = inspect_blocks(&[&format!("--objstore.config-file={}", objstore.display())]);
    let total: u64 = in_bucket.iter().map(|(_, n)| n).sum();
    println!(
        "after the outage: {} blocks, {total} samples in the bucket",
        in_bucket.len()
    );
    assert!(local.len() >= 3, "blocks sealed: {local:?}");
    assert_eq!(in_bucket, local, "bucket and local blocks differ");
    // No block lost samples to the outage: after the first (partial)
    // one, each holds ten scrapes of the target's 11 series and the 5 a
    // scrape adds (up, scrape_duration_seconds, ...), give or take one.
    let per_scrape = argus_tests::cluster::DEMO_SERIES as u64 + 1 + 5;
    for (id, n) in &in_bucket[1..] {
        assert!(
            n.abs_diff(10 * per_scrape) <= per_scrape,
            "block {id} has {n} samples, expected about {}",
            10 * per_scrape
        );
    }
}

#[test]
fn server_ships_to_its_bucket_and_answers_past_local_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let minio = Minio::start(dir);
    let objstore = objstore_file(dir, &minio, "server");
    let target = demo_target();
    let cfg = scrape_config(dir, "server", &target.addr(), &[]);
    // The config's retention replaces the flag the helper passes.
    let text = std::fs::read_to_string(&cfg).expect("read config");
    write_file(
        &cfg,
        &format!("{text}storage:\n  tsdb:\n    retention:\n      time: 20s\n"),
    );
    let started = now_s();
    // 10s blocks and 20s of local retention: within a minute the oldest
    // data is only in the bucket.
    let server = argus_tests::e2e::start_argus(
        dir,
        "server",
        &cfg,
        &[
            &format!("--objstore.config-file={}", objstore.display()),
            "--storage.tsdb.min-block-duration=10s",
            "--storage.tsdb.block-reload-interval=1s",
        ],
    );
    let storage = dir.join("server-data");
    wait_for(
        "local retention to delete shipped blocks",
        Duration::from_secs(120),
        || {
            let in_bucket = block_ids_in_bucket(&minio, "server");
            let local = local_blocks(&storage);
            let gone = in_bucket.iter().filter(|b| !local.contains(b)).count();
            if gone >= 2 {
                Ok(())
            } else {
                Err(format!(
                    "{} blocks in the bucket, {} local",
                    in_bucket.len(),
                    local.len()
                ))
            }
        },
    );
    // Let the server's bucket sync (every 30s) see them.
    std::thread::sleep(Duration::from_secs(31));
    let now = now_s();
    let span = now - started - 5.0;
    let q = format!("count_over_time(demo_temperature[{}s])", span.floor());
    let got = server
        .instant(&q, Some(now))
        .first()
        .map(|(_, v)| *v)
        .unwrap_or(0.0);
    println!("samples of one series over {span:.0}s: {got}");
    // One sample per second over the whole span: nothing lost to the
    // local retention.
    assert!(
        got >= span - 3.0,
        "{got} samples over {span:.0}s: data past local retention is missing"
    );
    let rate = rate_sum(&server, "10s", now).unwrap_or(f64::NAN);
    assert!(
        (rate - demo_rate_sum()).abs() <= 0.05 * demo_rate_sum(),
        "rate {rate}"
    );
}
