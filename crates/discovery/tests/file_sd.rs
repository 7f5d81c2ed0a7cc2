//! File service discovery against real files in a temporary directory.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use argus_config::discovery::FileSdConfig;
use argus_discovery::file::{FILEPATH_LABEL, FileDiscoverer};
use common::{Collector, addresses};

const WAIT: Duration = Duration::from_secs(10);

/// Writes through a rename, so the discoverer never reads half a file.
fn write(path: &Path, text: &str) {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, text).unwrap_or_else(|e| panic!("write {}: {e}", staging.display()));
    std::fs::rename(&staging, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// A discoverer for `patterns` under `base`, polling every 20ms.
fn discoverer(base: &Path, patterns: &[&str], refresh: Duration) -> Box<FileDiscoverer> {
    let cfg = FileSdConfig {
        files: patterns.iter().map(PathBuf::from).collect(),
        refresh_interval: refresh,
    };
    Box::new(FileDiscoverer::new(&cfg, base).with_poll_interval(Duration::from_millis(20)))
}

fn source(path: &Path, index: usize) -> String {
    format!("{}:{index}", path.display())
}

#[tokio::test]
async fn reads_yaml_and_json_through_globs_relative_to_base_dir() {
    let dir = temp_dir();
    let sd = dir.path().join("sd");
    std::fs::create_dir(&sd).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let yaml = sd.join("a.yml");
    let json = sd.join("b.json");
    write(
        &yaml,
        "- targets: ['127.0.0.1:9100', '127.0.0.1:9101']\n  labels: {env: prod}\n- targets: ['127.0.0.1:9102']\n",
    );
    write(
        &json,
        r#"[{"targets": ["127.0.0.1:9200"], "labels": {"team": "db"}}]"#,
    );
    // Matched by no pattern.
    write(&sd.join("c.yaml"), "- targets: ['127.0.0.1:9300']\n");

    let mut sd_groups = Collector::start(discoverer(
        dir.path(),
        &["sd/*.yml", "sd/*.json"],
        Duration::from_secs(300),
    ));
    let first = sd_groups.next_update(WAIT).await;
    assert_eq!(first.len(), 3, "{first:#?}");
    let groups = &sd_groups.groups;
    let yaml0 = &groups[&source(&yaml, 0)];
    assert_eq!(addresses(yaml0), ["127.0.0.1:9100", "127.0.0.1:9101"]);
    assert_eq!(yaml0.labels["env"], "prod");
    assert_eq!(yaml0.labels[FILEPATH_LABEL], yaml.display().to_string());
    assert_eq!(addresses(&groups[&source(&yaml, 1)]), ["127.0.0.1:9102"]);
    let json0 = &groups[&source(&json, 0)];
    assert_eq!(addresses(json0), ["127.0.0.1:9200"]);
    assert_eq!(json0.labels["team"], "db");
    assert_eq!(json0.labels[FILEPATH_LABEL], json.display().to_string());
}

#[tokio::test]
async fn picks_up_changed_and_new_files() {
    let dir = temp_dir();
    let a = dir.path().join("a.json");
    write(&a, r#"[{"targets": ["127.0.0.1:1"]}]"#);
    let pattern = dir.path().join("*.json");
    let pattern = pattern
        .to_str()
        .unwrap_or_else(|| panic!("non-utf-8 temp dir"));
    let mut sd_groups = Collector::start(discoverer(
        Path::new("/unused"),
        &[pattern],
        Duration::from_secs(300),
    ));
    sd_groups.until(WAIT, |g| g.len() == 1).await;

    write(&a, r#"[{"targets": ["127.0.0.1:2", "127.0.0.1:3"]}]"#);
    let a0 = source(&a, 0);
    sd_groups
        .until(WAIT, |g| g.get(&a0).is_some_and(|g| g.targets.len() == 2))
        .await;

    let b = dir.path().join("b.json");
    write(&b, r#"[{"targets": ["127.0.0.1:4"]}]"#);
    let b0 = source(&b, 0);
    sd_groups.until(WAIT, |g| g.contains_key(&b0)).await;
    assert_eq!(
        addresses(&sd_groups.groups[&a0]),
        ["127.0.0.1:2", "127.0.0.1:3"]
    );
}

#[tokio::test]
async fn bad_file_keeps_previous_groups_until_fixed() {
    let dir = temp_dir();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    write(&a, "- targets: ['127.0.0.1:1']\n");
    write(&b, "- targets: ['127.0.0.1:2']\n");
    let mut sd_groups = Collector::start(discoverer(
        dir.path(),
        &["*.yaml"],
        Duration::from_secs(300),
    ));
    sd_groups.until(WAIT, |g| g.len() == 2).await;

    write(&a, "- targets: [unterminated\n");
    write(&b, "- targets: ['127.0.0.1:3']\n");
    let b0 = source(&b, 0);
    sd_groups
        .until(WAIT, |g| {
            g.get(&b0).is_some_and(|g| addresses(g) == ["127.0.0.1:3"])
        })
        .await;
    assert_eq!(
        addresses(&sd_groups.groups[&source(&a, 0)]),
        ["127.0.0.1:1"]
    );

    write(&a, "- targets: ['127.0.0.1:4']\n");
    let a0 = source(&a, 0);
    sd_groups
        .until(WAIT, |g| {
            g.get(&a0).is_some_and(|g| addresses(g) == ["127.0.0.1:4"])
        })
        .await;
}

#[tokio::test]
async fn deleted_file_and_dropped_entries_are_cleared() {
    let dir = temp_dir();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    write(
        &a,
        r#"[{"targets": ["127.0.0.1:1"]}, {"targets": ["127.0.0.1:2"]}]"#,
    );
    write(&b, r#"[{"targets": ["127.0.0.1:3"]}]"#);
    let mut sd_groups = Collector::start(discoverer(
        dir.path(),
        &["*.json"],
        Duration::from_secs(300),
    ));
    sd_groups.until(WAIT, |g| g.len() == 3).await;

    write(&a, r#"[{"targets": ["127.0.0.1:1"]}]"#);
    let update = tokio::time::timeout(WAIT, async {
        loop {
            let update = sd_groups.next_update(WAIT).await;
            if update.iter().any(|g| g.source == source(&a, 1)) {
                break update;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a.json:1 never cleared"));
    assert!(
        update
            .iter()
            .any(|g| g.source == source(&a, 1) && g.targets.is_empty())
    );
    assert_eq!(sd_groups.groups.len(), 2);

    std::fs::remove_file(&b).unwrap_or_else(|e| panic!("remove: {e}"));
    let b0 = source(&b, 0);
    sd_groups.until(WAIT, |g| !g.contains_key(&b0)).await;
    assert_eq!(
        sd_groups.groups.keys().cloned().collect::<Vec<_>>(),
        [source(&a, 0)]
    );
}

#[tokio::test]
async fn rereads_every_refresh_interval() {
    let dir = temp_dir();
    write(
        &dir.path().join("a.json"),
        r#"[{"targets": ["127.0.0.1:1"]}]"#,
    );
    let cfg = FileSdConfig {
        files: vec![PathBuf::from("*.json")],
        refresh_interval: Duration::from_millis(100),
    };
    // Polling never fires within the test: only the refresh interval can
    // cause the later updates.
    let discoverer =
        FileDiscoverer::new(&cfg, dir.path()).with_poll_interval(Duration::from_secs(3600));
    let mut sd_groups = Collector::start(Box::new(discoverer));
    for _ in 0..3 {
        let update = sd_groups.next_update(Duration::from_secs(5)).await;
        assert_eq!(update.len(), 1);
    }
}
