//! Crash safety: a child process appends at full speed with WAL fsync
//! `always` and is SIGKILLed at random moments. After every kill the
//! database must open cleanly and hold every sample whose commit returned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use argus_model::QueryableExt;
use argus_tests::{crash_series, crash_value};
use argus_tsdb::{Db, DbOptions};
use rand::Rng;

const SERIES: usize = 20;
/// Short blocks so sealing, head truncation and WAL checkpoints all happen
/// between kills.
const BLOCK_MS: i64 = 60_000;
const KILLS: usize = 24;

#[test]
fn sigkill_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rng();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut acked_total = i64::MIN;
    let mut kills = 0;
    while kills < KILLS && Instant::now() < deadline {
        let mut child = Command::new(env!("CARGO_BIN_EXE_argus-crash-writer"))
            .arg(dir.path())
            .arg(SERIES.to_string())
            .arg(BLOCK_MS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crash writer");
        let acked = Arc::new(AtomicI64::new(i64::MIN));
        let stdout = child.stdout.take().expect("child stdout");
        let reader = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(t) = line.strip_prefix("ack ").and_then(|t| t.parse().ok()) {
                        acked.store(t, Ordering::SeqCst);
                    }
                }
            })
        };
        // Let it open and replay, then kill at a random moment of writing.
        let wait_start = Instant::now();
        while acked.load(Ordering::SeqCst) == i64::MIN
            && wait_start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(10..600)));
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        reader.join().expect("reader thread");
        let last = acked.load(Ordering::SeqCst);
        assert!(
            last != i64::MIN,
            "the writer acknowledged nothing in round {kills}"
        );
        acked_total = acked_total.max(last);
        kills += 1;

        let db = Db::open(
            dir.path(),
            DbOptions {
                block_duration_ms: BLOCK_MS,
                retention_ms: None,
                retention_bytes: None,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("reopen after kill {kills} failed: {e}"));
        let set = db.select_all(&[], i64::MIN, i64::MAX).expect("select");
        assert_eq!(set.len(), SERIES, "series after kill {kills}");
        for (i, s) in set.iter().enumerate() {
            assert_eq!(s.labels, crash_series(i));
            let samples = s
                .decode(i64::MIN, i64::MAX)
                .unwrap_or_else(|e| panic!("corrupt chunk after kill {kills}: {e}"));
            let mut want_t = 0;
            for x in &samples {
                assert_eq!(
                    x.t, want_t,
                    "series {i}: gap or duplicate after kill {kills}"
                );
                assert_eq!(x.v, crash_value(i, x.t), "series {i} value at {}", x.t);
                want_t += 1000;
            }
            let newest = samples.last().map_or(-1, |x| x.t);
            assert!(
                newest >= acked_total,
                "series {i}: acknowledged sample at {acked_total} lost after kill {kills} (newest {newest})"
            );
        }
        eprintln!(
            "kill {kills}: acked up to t={last}, {} blocks, head {} series",
            db.blocks().len(),
            db.head().num_series()
        );
    }
    assert!(
        kills >= 20,
        "only {kills} kill rounds fit in the time bound"
    );
}
