use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

fn args(extra: &[&str]) -> ServerArgs {
    let mut argv = vec!["argus"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv) {
        Ok(c) => c.args,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn defaults_are_prometheus_defaults() {
    let a = args(&[]);
    assert_eq!(a.listen_address, "0.0.0.0:9090");
    assert_eq!(a.config_file, PathBuf::from("prometheus.yml"));
    let p = flags::Parsed::from_args(&a).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.retention_ms, 15 * 86_400_000);
    assert_eq!(p.lookback_delta_ms, 300_000);
    assert_eq!(p.query_timeout, Duration::from_secs(120));
    assert_eq!(p.max_samples, 50_000_000);
    assert_eq!(p.max_depth, argus_promql::DEFAULT_MAX_DEPTH);
    let m = flags::flag_map(&a, "info");
    assert_eq!(
        m.get("query.max-concurrency").map(String::as_str),
        Some("20")
    );
    assert_eq!(
        m.get("web.enable-lifecycle").map(String::as_str),
        Some("false")
    );
}

#[test]
fn bad_flags_are_named() {
    for (argv, flag) in [
        (&["--query.timeout=2x"][..], "--query.timeout"),
        (&["--query.lookback-delta=0"], "--query.lookback-delta"),
        (
            &["--storage.tsdb.retention.time=-1d"],
            "--storage.tsdb.retention.time",
        ),
        (
            &["--storage.tsdb.wal-fsync=sometimes"],
            "--storage.tsdb.wal-fsync",
        ),
        (&["--query.max-concurrency=0"], "--query.max-concurrency"),
        (&["--query.max-depth=0"], "--query.max-depth"),
    ] {
        let e = flags::Parsed::from_args(&args(argv))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with(&format!("invalid flag {flag}")),
            "{argv:?}: {e}"
        );
    }
}

#[test]
fn listen_address_forms() {
    assert_eq!(flags::listen_addr(":9090"), "0.0.0.0:9090");
    assert_eq!(flags::listen_addr("127.0.0.1:1"), "127.0.0.1:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global: {}\nscrape_configs: []\n").unwrap_or_else(|e| panic!("{e}"));
    let a = args(&[
        &format!("--config.file={}", cfg.display()),
        &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        "--web.listen-address=127.0.0.1:0",
    ]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(
        ServerConfig {
            args: a,
            log_level: "info".into(),
        },
        async move {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tx.send(());
    let r = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(r, Ok(Ok(Ok(())))), "{r:?}");
    // The lock is released: the directory opens again.
    assert!(Db::open(&dir.path().join("data"), DbOptions::default()).is_ok());
}
