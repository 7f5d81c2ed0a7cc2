//! The reference peers come from `scripts/peers` at their pinned versions,
//! and the MinIO it builds serves the S3 API on loopback.

use std::process::Command;

use argus_block::objstore::Bucket;
use argus_tests::minio::Minio;
use argus_tests::peers::{peer_bin, peer_version};
use object_store::ObjectStoreExt;

fn version_output(name: &str, binary: &str) -> String {
    let bin = peer_bin(name, binary);
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(out.status.success(), "{binary} --version failed");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn peers_report_their_pinned_versions() {
    for (name, binary) in [
        ("prometheus", "prometheus"),
        ("prometheus", "promtool"),
        ("thanos", "thanos"),
    ] {
        let want = peer_version(name).unwrap_or_else(|e| panic!("{e}"));
        let got = version_output(name, binary);
        assert!(
            got.contains(&format!("version {want} ")),
            "{binary} --version does not say {want}: {got}"
        );
        println!("{binary}: {}", got.lines().next().unwrap_or_default());
    }
    assert!(version_output("prometheus", "prometheus").contains("version 3."));
    for (name, binary) in [("minio", "minio"), ("mc", "mc")] {
        let got = version_output(name, binary);
        println!("{binary}: {}", got.lines().next().unwrap_or_default());
    }
}

#[test]
fn minio_serves_s3_on_loopback() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let minio = Minio::start(work.path());
    minio.create_bucket("argus-peers");
    assert!(minio.mc(&["ls", "local"]).contains("argus-peers/"));
    let cfg = work.path().join("objstore.yml");
    std::fs::write(&cfg, minio.objstore_yaml("argus-peers"))
        .unwrap_or_else(|e| panic!("write config: {e}"));
    let config = argus_config::bucket::load_bucket_config(&cfg)
        .unwrap_or_else(|e| panic!("bucket config: {e}"));
    let bucket = Bucket::from_config(&config).unwrap_or_else(|e| panic!("bucket: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let path = object_store::path::Path::from("probe/object");
    rt.block_on(async {
        bucket
            .store()
            .put(&path, b"hello".to_vec().into())
            .await
            .unwrap_or_else(|e| panic!("put: {e}"));
        let got = bucket
            .store()
            .get(&path)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(&got[..], b"hello");
    });
    assert!(
        minio
            .mc(&["ls", "--recursive", "local/argus-peers"])
            .contains("probe/object")
    );
}
