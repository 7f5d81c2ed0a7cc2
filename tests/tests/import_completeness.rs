//! Backfill completeness: a 6h OpenMetrics file of counters, gauges and
//! histograms at 15s goes through `argus tools import openmetrics`, then
//! every sample reads back exactly through the `Queryable` interface, and the
//! Parquet files open with pyarrow.

use std::path::Path;
use std::process::{Command, Output};

use argus_model::QueryableExt;
use argus_tests::datagen::{GenSpec, generate};
use argus_tests::{argus_bin, require_tool};
use argus_tsdb::{Db, DbOptions};

fn import(file: &Path, out: &Path) -> Output {
    Command::new(argus_bin())
        .args(["tools", "import", "openmetrics"])
        .arg(file)
        .arg(out)
        .output()
        .expect("run argus")
}

#[test]
fn six_hours_import_and_read_back_exactly() {
    let spec = GenSpec::default();
    let (text, expected) = generate(&spec);
    assert!(expected.len() >= 100, "{} series", expected.len());
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("data.om.txt");
    std::fs::write(&file, &text).expect("write input");
    let out = work.path().join("blocks");

    let run = import(&file, &out);
    assert!(
        run.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    let db = Db::open(
        &out,
        DbOptions {
            retention_ms: None,
            retention_bytes: None,
            ..Default::default()
        },
    )
    .expect("open imported dir");
    // 6h starting 15 minutes past a 2h boundary touches four 2h blocks.
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 4, "{blocks:?}");
    for b in &blocks {
        assert_eq!(b.min_time % 7_200_000, 0);
        assert_eq!(b.max_time - b.min_time, 7_200_000);
    }
    let got = db.select_all(&[], i64::MIN, i64::MAX).expect("select");
    assert_eq!(got.len(), expected.len());
    let mut total = 0;
    for (s, (labels, samples)) in got.iter().zip(&expected) {
        assert_eq!(&s.labels, labels);
        let decoded = s.decode(i64::MIN, i64::MAX).expect("decode");
        assert_eq!(decoded.len(), samples.len(), "{labels}");
        assert_eq!(&decoded, samples, "{labels}");
        total += decoded.len();
    }
    let want: usize = expected.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(total, want);
    let stats_samples: u64 = blocks.iter().map(|b| b.stats.num_samples).sum();
    assert_eq!(stats_samples as usize, want);

    // A narrower read returns exactly the samples in range.
    let (mint, maxt) = (
        spec.start_s * 1000 + 3_600_000,
        spec.start_s * 1000 + 9_000_000,
    );
    let part = db
        .select_all(
            &[argus_model::Matcher::equal(
                "__name__",
                "http_requests_total",
            )],
            mint,
            maxt,
        )
        .expect("select range");
    assert_eq!(part.len(), spec.counters);
    for s in &part {
        let want: Vec<_> = expected
            .iter()
            .find(|(l, _)| *l == s.labels)
            .map(|(_, v)| {
                v.iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(s.decode(mint, maxt).expect("decode"), want);
    }

    // Any Parquet reader can open the blocks: pyarrow must see one row per
    // series in series.parquet and as many rows in chunks.parquet.
    let python = require_tool("python3", "apt-get install -y python3");
    for b in &blocks {
        let dir = out.join(b.ulid.to_string());
        let script = format!(
            "import pyarrow.parquet as pq\n\
             s = pq.read_table({:?})\n\
             c = pq.read_table({:?})\n\
             print(s.num_rows, c.num_rows, ','.join(s.column_names))\n",
            dir.join("series.parquet"),
            dir.join("chunks.parquet")
        );
        let r = Command::new(&python)
            .arg("-c")
            .arg(&script)
            .output()
            .expect("run python3");
        assert!(
            r.status.success(),
            "pyarrow could not read block {} (install it with `pip install pyarrow`): {}",
            b.ulid,
            String::from_utf8_lossy(&r.stderr)
        );
        let line = String::from_utf8_lossy(&r.stdout);
        let mut parts = line.split_whitespace();
        let rows: u64 = parts.next().and_then(|x| x.parse().ok()).expect("rows");
        let chunk_rows: u64 = parts.next().and_then(|x| x.parse().ok()).expect("rows");
        assert_eq!(
            rows, b.stats.num_series,
            "series.parquet rows of {}",
            b.ulid
        );
        assert_eq!(chunk_rows, rows, "chunks.parquet rows of {}", b.ulid);
        let cols = parts.next().unwrap_or_default();
        assert!(cols.starts_with("__name__"), "{cols}");
    }
}

#[test]
fn malformed_input_names_the_line_and_writes_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("bad.om.txt");
    std::fs::write(
        &file,
        "# TYPE a gauge\na{x=\"1\"} 1 1700000000\na{x=\"1\"} 2 1700000015\na{x=\"1} 3 1700000030\n# EOF\n",
    )
    .expect("write");
    let out = work.path().join("blocks");
    std::fs::create_dir_all(&out).expect("mkdir");
    let run = import(&file, &out);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains(":4:") || err.contains("line 4"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out).expect("ls").collect();
    assert!(left.is_empty(), "import left files behind: {left:?}");

    // Missing # EOF is refused too.
    std::fs::write(&file, "# TYPE a gauge\na 1 1700000000\n").expect("write");
    let run = import(&file, &out);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("EOF"));
    assert_eq!(std::fs::read_dir(&out).expect("ls").count(), 0);
}
