//! Storage benchmark: prints one table of figures.
//!
//! - XOR chunk encode/decode, ns per sample;
//! - head append throughput with the WAL on (fsync every 1s);
//! - head memory per active series;
//! - `argus tools import openmetrics` samples/s next to promtool's;
//! - bytes per sample of the imported blocks next to Prometheus's blocks for
//!   the same file and VictoriaMetrics' data directory, with ratios.
//!
//! Run: `benches/run-storage.sh` (builds release binaries first). Every loop
//! is bounded in count and time; servers listen on 127.0.0.1 only.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argus_benches::{dir_bytes, rss_bytes, timed};
use argus_model::chunk::SAMPLES_PER_CHUNK;
use argus_model::{Labels, XorAppender, XorChunk};
use argus_tests::datagen::{GenSpec, generate, to_prometheus_text};
use argus_tsdb::{Db, DbOptions, FsyncPolicy, WalOptions};

fn main() {
    let series: usize = std::env::var("BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut rows: Vec<(String, String)> = Vec::new();
    xor_codec(&mut rows);
    head_append(&mut rows);
    head_memory(&mut rows);
    import_and_size(series, &mut rows);
    println!();
    println!("{:<58} value", "measure");
    println!("{}", "-".repeat(80));
    for (k, v) in rows {
        println!("{k:<58} {v}");
    }
}

fn xor_codec(rows: &mut Vec<(String, String)>) {
    // Counter-like data at 15s with jitter, full chunks.
    let n_chunks = 50_000;
    let mut chunks = Vec::with_capacity(n_chunks);
    let mut v = 0.0f64;
    let mut t = 1_700_000_000_000i64;
    let mut state = 7u64;
    let (_, enc) = timed(|| {
        for _ in 0..n_chunks {
            let mut a = XorAppender::with_capacity(192);
            for _ in 0..SAMPLES_PER_CHUNK {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t += 15_000 + ((state >> 60) as i64 - 8);
                v += ((state >> 40) % 100) as f64;
                a.append(t, v);
            }
            chunks.push(a.into_bytes());
        }
    });
    let samples = (n_chunks * SAMPLES_PER_CHUNK) as f64;
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    let (sum, dec) = timed(|| {
        let mut acc = 0.0;
        for c in &chunks {
            if let Ok(c) = XorChunk::new(c) {
                for s in c.iter() {
                    acc += s.v;
                }
            }
        }
        acc
    });
    assert!(sum > 0.0);
    rows.push((
        "xor encode, ns/sample".into(),
        format!("{:.1}", enc.as_nanos() as f64 / samples),
    ));
    rows.push((
        "xor decode, ns/sample".into(),
        format!("{:.1}", dec.as_nanos() as f64 / samples),
    ));
    rows.push((
        "xor bytes/sample (counter at 15s, jittered)".into(),
        format!("{:.3}", bytes as f64 / samples),
    ));
}

fn bench_db(dir: &Path) -> Db {
    Db::open(
        dir,
        DbOptions {
            retention_ms: None,
            retention_bytes: None,
            wal: WalOptions {
                fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("open db")
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "bench_metric_total"),
        ("job", "bench"),
        ("instance", &format!("host-{}:9100", i / 100)),
        ("id", &i.to_string()),
    ])
}

fn head_append(rows: &mut Vec<(String, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = bench_db(dir.path());
    let n = 10_000;
    let ls: Vec<Labels> = (0..n).map(labels).collect();
    let threads = 2;
    let deadline = Instant::now() + Duration::from_secs(8);
    let ((), took) = timed(|| {
        std::thread::scope(|s| {
            for w in 0..threads {
                let db = &db;
                let ls = &ls;
                s.spawn(move || {
                    // Each writer owns half of the series, one commit per scrape.
                    for step in 0..200i64 {
                        if Instant::now() > deadline {
                            break;
                        }
                        let t = 1_700_000_000_000 + step * 15_000;
                        let mut app = db.appender();
                        for (i, l) in ls.iter().enumerate().skip(w).step_by(threads) {
                            let _ = app.append(l, t, (step * i as i64) as f64);
                        }
                        app.commit().expect("commit");
                    }
                });
            }
        });
    });
    let appended = db
        .head()
        .stats
        .samples_appended
        .load(std::sync::atomic::Ordering::Relaxed);
    rows.push((
        format!("head append, samples/s ({threads} writers, WAL fsync 1s)"),
        format!("{:.0}", appended as f64 / took.as_secs_f64()),
    ));
}

fn head_memory(rows: &mut Vec<(String, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = rss_bytes();
    let db = bench_db(dir.path());
    let n = 200_000;
    let ls: Vec<Labels> = (0..n).map(labels).collect();
    let label_bytes: usize = ls.iter().map(Labels::heap_bytes).sum();
    // 30 samples each: a realistic open chunk at 15s after 7.5 minutes.
    for step in 0..30i64 {
        let mut app = db.appender();
        for (i, l) in ls.iter().enumerate() {
            let _ = app.append(l, step * 15_000, (step + i as i64) as f64);
        }
        app.commit().expect("commit");
    }
    let after = rss_bytes();
    drop(ls);
    rows.push((
        "head bytes per active series (accounted, 30 samples)".into(),
        format!("{:.0}", db.head().heap_bytes() as f64 / n as f64),
    ));
    rows.push((
        "head bytes per active series (RSS growth, incl. WAL bufs)".into(),
        format!(
            "{:.0}",
            (after.saturating_sub(before) as f64 - label_bytes as f64) / n as f64
        ),
    ));
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("exe dir")
}

fn import_and_size(series: usize, rows: &mut Vec<(String, String)>) {
    let per = series / 9;
    let spec = GenSpec {
        counters: per * 4,
        gauges: per * 4,
        // Each histogram is 12 series.
        histograms: (per / 12).max(1),
        ..GenSpec::default()
    };
    let (text, expected) = generate(&spec);
    let samples: usize = expected.iter().map(|(_, s)| s.len()).sum();
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("data.om.txt");
    std::fs::write(&file, &text).expect("write input");
    rows.push((
        "input: series / samples / MiB".into(),
        format!(
            "{} / {} / {:.1}",
            expected.len(),
            samples,
            text.len() as f64 / (1 << 20) as f64
        ),
    ));
    drop(text);

    let argus = bin_dir().join("argus");
    let out = work.path().join("argus");
    let (st, took) = timed(|| {
        Command::new(&argus)
            .args(["tools", "import", "openmetrics", "--quiet"])
            .arg(&file)
            .arg(&out)
            .stdout(Stdio::null())
            .status()
    });
    assert!(
        st.is_ok_and(|s| s.success()),
        "argus import failed ({})",
        argus.display()
    );
    rows.push((
        "argus import, samples/s (wall, whole process)".into(),
        format!("{:.0}", samples as f64 / took.as_secs_f64()),
    ));
    let argus_bytes = dir_bytes(&out);
    let argus_bps = argus_bytes as f64 / samples as f64;
    rows.push((
        "argus blocks, bytes/sample".into(),
        format!("{argus_bps:.3}"),
    ));

    // The reference Prometheus 3.x's promtool, from the peer cache.
    let prom_out = work.path().join("prom");
    let promtool = argus_tests::peers::find_peer_bin("prometheus", "promtool");
    let (st, took) = timed(|| {
        let bin = promtool.clone().map_err(std::io::Error::other)?;
        Command::new(bin)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&file)
            .arg(&prom_out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    });
    if st.is_ok_and(|s| s.success()) {
        let pb = dir_bytes(&prom_out) as f64 / samples as f64;
        rows.push((
            "promtool import, samples/s".into(),
            format!("{:.0}", samples as f64 / took.as_secs_f64()),
        ));
        rows.push(("prometheus blocks, bytes/sample".into(), format!("{pb:.3}")));
        rows.push((
            "ratio argus/prometheus bytes (target <= 0.9)".into(),
            format!("{:.3}", argus_bps / pb),
        ));
    } else {
        rows.push((
            "promtool".into(),
            match promtool {
                Err(e) => format!("SKIPPED: {e}"),
                Ok(_) => "SKIPPED: promtool failed".into(),
            },
        ));
    }

    match victoria_bytes(&expected, work.path()) {
        Ok((b, rate)) => {
            let vb = b as f64 / samples as f64;
            rows.push((
                "victoria-metrics ingest, samples/s (HTTP import)".into(),
                format!("{rate:.0}"),
            ));
            rows.push((
                "victoria-metrics data, bytes/sample".into(),
                format!("{vb:.3}"),
            ));
            rows.push((
                "ratio argus/victoria-metrics bytes".into(),
                format!("{:.3}", argus_bps / vb),
            ));
        }
        Err(e) => rows.push(("victoria-metrics".into(), format!("SKIPPED: {e}"))),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(18428, |a| a.port())
}

/// Minimal HTTP/1.1 request on loopback; returns the status code.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut s, &mut resp)?;
    Ok(resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

fn victoria_bytes(
    expected: &[(Labels, Vec<argus_model::Sample>)],
    work: &Path,
) -> Result<(u64, f64), String> {
    let bin = "victoria-metrics";
    if Command::new(bin).arg("-version").output().is_err() {
        return Err("victoria-metrics not installed (apt-get install victoria-metrics)".into());
    }
    let data = work.join("vm");
    let port = free_port();
    let mut child = Command::new(bin)
        .arg(format!("-storageDataPath={}", data.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = (|| {
        let up = Instant::now();
        while http(port, "GET", "/health", b"").unwrap_or(0) != 200 {
            if up.elapsed() > Duration::from_secs(20) {
                return Err("victoria-metrics did not start".to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = to_prometheus_text(expected);
        let start = Instant::now();
        // Send in slices of whole lines to keep requests moderate.
        let bytes = text.as_bytes();
        let mut pos = 0;
        while pos < bytes.len() {
            let mut end = (pos + (32 << 20)).min(bytes.len());
            while end < bytes.len() && bytes[end - 1] != b'\n' {
                end += 1;
            }
            let code = http(port, "POST", "/api/v1/import/prometheus", &bytes[pos..end])
                .map_err(|e| e.to_string())?;
            if code / 100 != 2 {
                return Err(format!("import answered {code}"));
            }
            pos = end;
        }
        let _ = http(port, "GET", "/internal/force_flush", b"");
        let rate = expected.iter().map(|(_, s)| s.len()).sum::<usize>() as f64
            / start.elapsed().as_secs_f64();
        // Give background merges a moment, bounded.
        std::thread::sleep(Duration::from_secs(5));
        let _ = http(port, "GET", "/internal/force_merge", b"");
        std::thread::sleep(Duration::from_secs(5));
        Ok((dir_bytes(&data.join("data")), rate))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
