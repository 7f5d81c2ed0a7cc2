//! Remote write end to end, both directions against the reference
//! Prometheus 3.x, and the receiver's protocol errors driven by a hand-written
//! encoder (`argus_tests::remote_write`), not the code under test.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_tests::differential::{MINIMAL_CONFIG, free_port};
use argus_tests::e2e::{self, Daemon, LabelMap, labels, now_ms, now_s, wait_for};
use argus_tests::fixed_target::{FixedTarget, TEXT_CONTENT_TYPE};
use argus_tests::remote_write::{self, PROTOBUF_CONTENT_TYPE, Series};

const RECEIVER_FLAG: &str = "--web.enable-remote-write-receiver";
const TIMEOUT: Duration = Duration::from_secs(20);

type Samples = BTreeMap<LabelMap, Vec<(i64, f64)>>;

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Differences between the reference's raw samples and the candidate's;
/// reference samples newer than `missing_ok_after_ms` may be absent.
fn sample_differences(reference: &Samples, got: &Samples, missing_ok_after_ms: i64) -> Vec<String> {
    let mut out = Vec::new();
    for (series, want) in reference {
        let have = got.get(series).map(Vec::as_slice).unwrap_or_default();
        for &(t, v) in want {
            match have.iter().find(|(ht, _)| *ht == t) {
                Some(&(_, hv)) if same_value(hv, v) => {}
                Some(&(_, hv)) => out.push(format!("{series:?} @{t}: want {v}, got {hv}")),
                None if t > missing_ok_after_ms => {}
                None => out.push(format!("{series:?} @{t}: missing (want {v})")),
            }
        }
        for &(t, v) in have {
            if !want.iter().any(|(wt, _)| *wt == t) {
                out.push(format!("{series:?} @{t}: unexpected sample {v}"));
            }
        }
    }
    for series in got.keys().filter(|s| !reference.contains_key(*s)) {
        out.push(format!("{series:?}: series only in argus"));
    }
    out
}

#[test]
fn prometheus_remote_writes_into_argus_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus_config = dir.path().join("argus.yml");
    e2e::write_file(&argus_config, MINIMAL_CONFIG);
    let argus = e2e::start_argus(dir.path(), "argus", &argus_config, &[RECEIVER_FLAG]);

    let prometheus_port = free_port();
    let prometheus_config = dir.path().join("prometheus.yml");
    e2e::write_file(
        &prometheus_config,
        &format!(
            "global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:{prometheus_port}']
remote_write:
  - url: http://{}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
",
            argus.addr()
        ),
    );
    let started = now_s();
    let mut prometheus = Daemon::spawn(
        "prometheus",
        e2e::prometheus_server(
            &dir.path().join("prometheus-data"),
            &prometheus_config,
            prometheus_port,
            &[],
        ),
        prometheus_port,
        &dir.path().join("prometheus.log"),
    );
    prometheus.wait_ready("/-/ready", Duration::from_secs(60));

    wait_for(
        "the first remote-written samples in argus",
        Duration::from_secs(30),
        || match argus.scalar("up{job=\"prometheus\"}") {
            Some(1.0) => Ok(()),
            other => Err(format!(
                "{other:?}\nprometheus:\n{}",
                prometheus.log_tail(10)
            )),
        },
    );

    // Compare a 20s window ending 5s ago once the window lies entirely
    // after Prometheus's start; retry while the newest batches are in flight.
    let query = "{__name__=~\"prometheus_.+|up|scrape_samples_scraped\", job=\"prometheus\"}[20s]";
    let mut compared = 0;
    wait_for(
        "argus to hold the same samples as prometheus",
        Duration::from_secs(60),
        || {
            let at = now_s() - 5.0;
            if at - 20.0 < started + 2.0 {
                return Err("window not yet after prometheus start".to_string());
            }
            let reference = prometheus.raw_samples(query, at);
            let got = argus.raw_samples(query, at);
            let samples: usize = reference.values().map(Vec::len).sum();
            if reference.len() < 50 || samples < 500 {
                return Err(format!(
                    "prometheus returned only {} series, {samples} samples",
                    reference.len()
                ));
            }
            // Only the newest 2 seconds of the window may still be in flight.
            let differences = sample_differences(&reference, &got, ((at - 2.0) * 1000.0) as i64);
            compared = samples;
            if differences.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} differences at {at:.3} (of {samples} samples), first 20:\n{}\nargus log:\n{}",
                    differences.len(),
                    differences[..differences.len().min(20)].join("\n"),
                    argus.log_tail(20)
                ))
            }
        },
    );
    assert!(compared > 0);
}

#[test]
fn argus_remote_writes_scraped_series_into_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(
        TEXT_CONTENT_TYPE,
        "# TYPE fixed_metric_gauge gauge\nfixed_metric_gauge{color=\"red\"} 42.5\nfixed_metric_gauge{color=\"blue\"} -3\n",
    );
    let prometheus_config = dir.path().join("prometheus.yml");
    e2e::write_file(&prometheus_config, MINIMAL_CONFIG);
    let prometheus = e2e::start_prometheus(
        dir.path(),
        "prometheus",
        &prometheus_config,
        &[RECEIVER_FLAG],
    );

    let argus_config = dir.path().join("argus.yml");
    e2e::write_file(
        &argus_config,
        &format!(
            "global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixed
    static_configs:
      - targets: ['{}']
remote_write:
  - url: http://{}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 100
",
            target.addr(),
            prometheus.addr()
        ),
    );
    let argus = e2e::start_argus(dir.path(), "argus", &argus_config, &[]);

    let instance = target.addr();
    let want = [
        (
            labels(&[
                ("__name__", "fixed_metric_gauge"),
                ("color", "blue"),
                ("instance", &instance),
                ("job", "fixed"),
            ]),
            -3.0,
        ),
        (
            labels(&[
                ("__name__", "fixed_metric_gauge"),
                ("color", "red"),
                ("instance", &instance),
                ("job", "fixed"),
            ]),
            42.5,
        ),
    ];
    wait_for(
        "the fixed target's series in prometheus",
        Duration::from_secs(40),
        || {
            let mut got = prometheus.instant("fixed_metric_gauge", None);
            got.sort_by(|a, b| a.0.cmp(&b.0));
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{got:?}\nargus log:\n{}\nprometheus log:\n{}",
                    argus.log_tail(20),
                    prometheus.log_tail(10)
                ))
            }
        },
    );
    wait_for(
        "up{job=\"fixed\"} in prometheus",
        Duration::from_secs(20),
        || match prometheus.scalar("up{job=\"fixed\"}") {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // Several scrapes arrive, not just one batch.
    wait_for(
        "a few scrapes' worth of samples in prometheus",
        Duration::from_secs(20),
        || {
            let samples = prometheus.raw_samples("fixed_metric_gauge{color=\"red\"}[1m]", now_s());
            let n = samples.values().map(Vec::len).sum::<usize>();
            if n >= 3 {
                Ok(())
            } else {
                Err(format!("{n} samples"))
            }
        },
    );
}

fn headers<'a>(content_type: &'a str, encoding: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Content-Type", content_type),
        ("Content-Encoding", encoding),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ]
}

#[test]
fn receiver_protocol_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("argus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let argus = e2e::start_argus(dir.path(), "argus", &config, &[RECEIVER_FLAG]);
    let addr = argus.addr();
    let base = now_ms() - 60_000;

    // Valid: 204, then every sample queryable.
    let valid = Series::new(
        &[("__name__", "rw_valid"), ("case", "valid")],
        (0..10).map(|k| (base + k * 1000, k as f64 * 1.5)).collect(),
    );
    let r = remote_write::send(&addr, std::slice::from_ref(&valid), TIMEOUT).expect("post");
    assert_eq!(r.status, 204, "valid request: {}", r.body);
    let stored = argus.raw_samples("rw_valid[2m]", now_s());
    assert_eq!(
        stored.get(&labels(&[("__name__", "rw_valid"), ("case", "valid")])),
        Some(&valid.samples),
        "{stored:?}"
    );

    // Wrong Content-Type and Content-Encoding: 415.
    let body = remote_write::write_body(std::slice::from_ref(&valid));
    for (content_type, encoding) in [
        ("text/plain", "snappy"),
        ("application/json", "snappy"),
        (PROTOBUF_CONTENT_TYPE, "gzip"),
        (PROTOBUF_CONTENT_TYPE, "identity"),
    ] {
        let r = remote_write::post(
            &addr,
            "/api/v1/write",
            &headers(content_type, encoding),
            &body,
            TIMEOUT,
        )
        .expect("post");
        assert_eq!(r.status, 415, "{content_type} / {encoding}: {}", r.body);
    }

    // Corrupt snappy, and valid snappy around a corrupt protobuf: 400.
    let corrupt_protobuf = remote_write::snappy(&[0x0a, 0xff, 0xff, 0x01, 0x02]);
    for (what, body) in [
        ("corrupt snappy", b"\xff\xff\xffnot snappy at all".to_vec()),
        ("corrupt protobuf", corrupt_protobuf),
    ] {
        let r = remote_write::post(
            &addr,
            "/api/v1/write",
            &headers(PROTOBUF_CONTENT_TYPE, "snappy"),
            &body,
            TIMEOUT,
        )
        .expect("post");
        assert_eq!(r.status, 400, "{what}: {}", r.body);
    }

    // Out of order mixed with new samples: 400 naming the count rejected;
    // the new samples are kept.
    let ordered = Series::new(
        &[("__name__", "rw_ooo")],
        (0..10).map(|k| (base + k * 1000, k as f64)).collect(),
    );
    let r = remote_write::send(&addr, std::slice::from_ref(&ordered), TIMEOUT).expect("post");
    assert_eq!(r.status, 204, "in-order request: {}", r.body);
    const OUT_OF_ORDER: i64 = 7;
    let mixed = [
        Series::new(
            &[("__name__", "rw_ooo")],
            (0..OUT_OF_ORDER)
                .map(|k| (base + 500 + k * 1000, -1.0))
                .collect(),
        ),
        Series::new(
            &[("__name__", "rw_fresh"), ("n", "1")],
            vec![(base + 1000, 11.0), (base + 2000, 12.0)],
        ),
        Series::new(
            &[("__name__", "rw_fresh"), ("n", "2")],
            vec![(base + 1000, 21.0), (base + 2000, 22.0)],
        ),
    ];
    let r = remote_write::send(&addr, &mixed, TIMEOUT).expect("post");
    assert_eq!(r.status, 400, "mixed request: {}", r.body);
    let numbers: Vec<&str> = r
        .body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    assert!(
        numbers.contains(&OUT_OF_ORDER.to_string().as_str()),
        "the 400 does not name the {OUT_OF_ORDER} rejected samples: {:?}",
        r.body
    );
    let stored = argus.raw_samples("{__name__=~\"rw_ooo|rw_fresh\"}[2m]", now_s());
    let expected: Samples = [
        (labels(&[("__name__", "rw_ooo")]), ordered.samples.clone()),
        (
            labels(&[("__name__", "rw_fresh"), ("n", "1")]),
            mixed[1].samples.clone(),
        ),
        (
            labels(&[("__name__", "rw_fresh"), ("n", "2")]),
            mixed[2].samples.clone(),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(stored, expected);

    // Without the flag the endpoint is not there, as in Prometheus.
    let closed = e2e::start_argus(dir.path(), "argus-closed", &config, &[]);
    let r =
        remote_write::send(&closed.addr(), std::slice::from_ref(&valid), TIMEOUT).expect("post");
    // Prometheus answers 404 "remote write receiver needs to be enabled".
    assert_eq!(r.status, 404, "receiver not enabled: {}", r.body);
    assert!(
        closed.raw_samples("rw_valid[2m]", now_s()).is_empty(),
        "a disabled receiver stored samples"
    );
}
