//! `argus tools bucket inspect` over a storage directory, a FILESYSTEM
//! bucket and a real MinIO on loopback: one row per complete block, partial
//! uploads left out.

use std::path::Path;
use std::process::Command;

use argus_block::objstore::Bucket;
use argus_tests::argus_bin;
use argus_tests::datagen::{GenSpec, generate};
use argus_tests::minio::Minio;
use object_store::ObjectStoreExt;

fn inspect(args: &[&str]) -> String {
    let out = Command::new(argus_bin())
        .args(["tools", "bucket", "inspect"])
        .args(args)
        .output()
        .expect("run argus");
    assert!(
        out.status.success(),
        "inspect {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (ulid, from, until, series, samples) of each data row.
fn rows(table: &str) -> Vec<(String, String, String, u64, u64)> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("ULID"), "{table}");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse().expect("series"),
                f[4].parse().expect("samples"),
            )
        })
        .collect()
}

fn import(dir: &Path) {
    let spec = GenSpec {
        counters: 8,
        gauges: 8,
        histograms: 1,
        duration_s: 3 * 3600,
        ..GenSpec::default()
    };
    let (text, _) = generate(&spec);
    let file = dir.join("in.om.txt");
    std::fs::write(&file, text).expect("write");
    let st = Command::new(argus_bin())
        .args(["tools", "import", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(dir.join("data"))
        .status()
        .expect("import");
    assert!(st.success());
}

#[test]
fn inspect_local_filesystem_and_s3() {
    let work = tempfile::tempdir().expect("tempdir");
    import(work.path());
    let data = work.path().join("data");
    let local = rows(&inspect(&[
        "--storage.tsdb.path",
        data.to_str().expect("utf-8"),
    ]));
    assert_eq!(
        local.len(),
        2,
        "3h from 15 past a 2h boundary spans two blocks"
    );
    let metas = argus_block::reader::list_local_blocks(&data).expect("list");
    for (row, meta) in local.iter().zip(&metas) {
        assert_eq!(row.0, meta.ulid.to_string());
        assert_eq!(row.1, argus_model::time::format_rfc3339(meta.min_time));
        assert!(row.1.ends_with('Z') && row.1.contains('T'));
        assert_eq!(row.3, meta.stats.num_series);
        assert_eq!(row.4, meta.stats.num_samples);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // FILESYSTEM bucket.
    let fs_dir = work.path().join("fs-bucket");
    let fs_cfg = work.path().join("fs.yml");
    std::fs::write(
        &fs_cfg,
        format!(
            "type: FILESYSTEM\nconfig:\n  directory: {}\n",
            fs_dir.display()
        ),
    )
    .expect("write config");
    // S3 bucket on a real MinIO.
    let minio = Minio::start(work.path());
    minio.create_bucket("metrics");
    let s3_cfg = work.path().join("s3.yml");
    std::fs::write(&s3_cfg, minio.objstore_yaml("metrics")).expect("write config");

    for cfg in [&fs_cfg, &s3_cfg] {
        let config = argus_config::bucket::load_bucket_config(cfg).expect("config");
        let bucket = Bucket::from_config(&config).expect("bucket");
        rt.block_on(async {
            for m in &metas {
                bucket
                    .upload_block(&data.join(m.ulid.to_string()))
                    .await
                    .expect("upload");
            }
        });
        // A partial upload: a block without meta.json.
        let partial =
            object_store::path::Path::from(format!("{}/series.parquet", ulid::Ulid::new()));
        rt.block_on(bucket.store().put(&partial, b"x".to_vec().into()))
            .expect("put partial");
        let remote = rows(&inspect(&[
            "--objstore.config-file",
            cfg.to_str().expect("utf-8"),
        ]));
        assert_eq!(remote, local, "bucket {}", cfg.display());
    }
}

#[test]
fn bad_bucket_config_is_a_clear_error() {
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("bad.yml");
    std::fs::write(
        &cfg,
        "type: S3\nconfig:\n  bucket: x\n  endpiont: 127.0.0.1:1\n",
    )
    .expect("w");
    let out = Command::new(argus_bin())
        .args(["tools", "bucket", "inspect", "--objstore.config-file"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("endpiont") && err.contains("bad.yml"), "{err}");
}
