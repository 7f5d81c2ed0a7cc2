//! Durability of `argus server`: remote-write batches acknowledged with 204
//! must survive a SIGKILL mid-stream, and scraping must resume after the
//! restart on the same data directory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_tests::differential::free_port;
use argus_tests::e2e::{self, Daemon, labels, now_ms, now_s, wait_for};
use argus_tests::fixed_target::{FixedTarget, TEXT_CONTENT_TYPE};
use argus_tests::remote_write::{self, Series};

const SERIES: usize = 40;
/// Batch `k` carries one sample per series at `base + k * STEP_MS`.
const STEP_MS: i64 = 10;
const MAX_BATCHES: i64 = 10_000;
/// Acknowledged batches before the kill.
const ACKED_BEFORE_KILL: usize = 200;

fn value(series: usize, batch: i64) -> f64 {
    batch as f64 * 0.25 + series as f64 * 1000.0
}

fn batch(base: i64, k: i64) -> Vec<Series> {
    (0..SERIES)
        .map(|i| {
            let name = format!("{i:03}");
            Series::new(
                &[("__name__", "durability_samples"), ("series", &name)],
                vec![(base + k * STEP_MS, value(i, k))],
            )
        })
        .collect()
}

fn start(dir: &std::path::Path, port: u16, name: &str) -> Daemon {
    let mut d = Daemon::spawn(
        name,
        e2e::argus_server(
            &dir.join("data"),
            &dir.join("prometheus.yml"),
            port,
            &["--web.enable-remote-write-receiver"],
        ),
        port,
        &dir.join(format!("{name}.log")),
    );
    d.wait_ready("/-/ready", Duration::from_secs(60));
    d
}

#[test]
fn acknowledged_remote_writes_survive_sigkill_and_scraping_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(
        TEXT_CONTENT_TYPE,
        "# TYPE durable_gauge gauge\ndurable_gauge 3\n",
    );
    e2e::write_file(
        &dir.path().join("prometheus.yml"),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: fixed\n    static_configs:\n      - targets: ['{}']\n",
            target.addr()
        ),
    );
    let port = free_port();
    let mut argus = start(dir.path(), port, "argus-before");
    wait_for(
        "the first scrape",
        Duration::from_secs(15),
        || match argus.scalar("up{job=\"fixed\"}") {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}\n{}", argus.log_tail(20))),
        },
    );

    // The writer posts batches back to back and records the acknowledged ones.
    let base = now_ms() - 120_000;
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, addr) = (acked.clone(), stop.clone(), argus.addr());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for k in 0..MAX_BATCHES {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match remote_write::send(&addr, &batch(base, k), Duration::from_secs(10)) {
                    Ok(r) if r.status == 204 => {
                        acked.lock().unwrap_or_else(|e| e.into_inner()).push(k)
                    }
                    Ok(r) => failures.push(format!("batch {k}: {} {}", r.status, r.body)),
                    // The server is gone: the kill happened.
                    Err(_) => break,
                }
            }
            failures
        })
    };
    let acked_count = || acked.lock().unwrap_or_else(|e| e.into_inner()).len();
    // Polled tightly so the kill lands while the writer is still posting.
    let kill_deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked_count() < ACKED_BEFORE_KILL {
        assert!(
            std::time::Instant::now() < kill_deadline,
            "only {} batches acknowledged in 30s\n{}",
            acked_count(),
            argus.log_tail(10)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    argus.kill();
    let killed_at = now_s();
    stop.store(true, Ordering::SeqCst);
    let failures = writer.join().expect("writer thread");
    assert!(failures.is_empty(), "rejected batches: {failures:?}");
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        acked.len() < MAX_BATCHES as usize,
        "the writer finished before the kill: not a mid-stream crash"
    );
    let before_log = argus.log_tail(20);
    drop(argus);

    let argus = start(dir.path(), port, "argus-after");
    // Every acknowledged sample, read back raw over the whole written window.
    let last = *acked.last().expect("some batches acknowledged");
    let at = (base + last * STEP_MS) as f64 / 1000.0;
    let range_s = (last + 1) * STEP_MS / 1000 + 2;
    let stored = argus.raw_samples(&format!("durability_samples[{range_s}s]"), at);
    let mut lost = Vec::new();
    for i in 0..SERIES {
        let series = labels(&[
            ("__name__", "durability_samples"),
            ("series", &format!("{i:03}")),
        ]);
        let samples = stored.get(&series).cloned().unwrap_or_default();
        for &k in &acked {
            let t = base + k * STEP_MS;
            match samples.iter().find(|(st, _)| *st == t) {
                Some(&(_, v)) if v == value(i, k) => {}
                found => lost.push(format!("series {i:03} batch {k}: {found:?}")),
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged samples lost or wrong after SIGKILL, first: {:?}\n\
         log before kill:\n{before_log}\nlog after restart:\n{}",
        lost.len(),
        acked.len() * SERIES,
        &lost[..lost.len().min(10)],
        argus.log_tail(20)
    );

    // Scraping resumes: new `up` samples of 1 after the restart.
    wait_for(
        "up samples after the restart",
        Duration::from_secs(20),
        || {
            let up = argus.raw_samples("up{job=\"fixed\"}[30s]", now_s());
            let after: Vec<(i64, f64)> = up
                .values()
                .flatten()
                .copied()
                .filter(|(t, _)| *t as f64 / 1000.0 > killed_at)
                .collect();
            if after.len() >= 2 && after.iter().all(|(_, v)| *v == 1.0) {
                Ok(())
            } else {
                Err(format!("{up:?}\n{}", argus.log_tail(20)))
            }
        },
    );
    assert_eq!(
        argus.scalar("durable_gauge{job=\"fixed\"}"),
        Some(3.0),
        "scraped value after restart"
    );
}
