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
    assert_eq!(p.retention_ms, Some(15 * 86_400_000));
    assert_eq!(p.retention_bytes, None);
    assert_eq!(p.block_duration_ms, 2 * 3_600_000);
    assert_eq!(p.route_prefix, "/");
    assert!(p.ignored.is_empty() && p.deprecated.is_empty());
    assert_eq!(p.lookback_delta_ms, 300_000);
    assert_eq!(p.query_timeout, Duration::from_secs(120));
    assert_eq!(p.max_samples, 50_000_000);
    assert_eq!(p.max_depth, argus_promql::DEFAULT_MAX_DEPTH);
    let m = flags::flag_map(
        &a,
        &flags::Parsed::from_args(&a).unwrap_or_else(|e| panic!("{e}")),
        &global(),
    );
    assert_eq!(
        m.get("query.max-concurrency").map(String::as_str),
        Some("20")
    );
    assert_eq!(
        m.get("web.enable-lifecycle").map(String::as_str),
        Some("false")
    );
}

fn global() -> GlobalFlags {
    GlobalFlags {
        log_level: "info".into(),
        log_format: "logfmt".into(),
    }
}

fn parsed(argv: &[&str]) -> flags::Parsed {
    flags::Parsed::from_args(&args(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

#[test]
fn retention_by_time_size_or_both_as_prometheus() {
    let p = parsed(&["--storage.tsdb.retention.size=512MB"]);
    assert_eq!((p.retention_ms, p.retention_bytes), (None, Some(512 << 20)));
    assert_eq!(
        flags::retention_display(p.retention_ms, p.retention_bytes),
        "512MiB"
    );
    let p = parsed(&[
        "--storage.tsdb.retention.size=1GB",
        "--storage.tsdb.retention.time=2d",
    ]);
    assert_eq!(
        (p.retention_ms, p.retention_bytes),
        (Some(2 * 86_400_000), Some(1 << 30))
    );
    assert_eq!(
        flags::retention_display(p.retention_ms, p.retention_bytes),
        "2d or 1GiB"
    );
    let p = parsed(&["--storage.tsdb.retention=30d"]);
    assert_eq!(p.retention_ms, Some(30 * 86_400_000));
    assert_eq!(p.deprecated.len(), 1);
    assert_eq!(
        {
            let p = parsed(&[]);
            flags::retention_display(p.retention_ms, p.retention_bytes)
        },
        "15d"
    );
}

#[test]
fn packaging_flags_are_accepted_and_named_as_ignored() {
    // The official container's default command, and a Debian unit's.
    let p = parsed(&[
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--web.console.libraries=/usr/share/prometheus/console_libraries",
        "--web.console.templates=/usr/share/prometheus/consoles",
        "--enable-feature=exemplar-storage,promql-delayed-name-removal",
        "--enable-feature=promql-experimental-functions",
        "--no-storage.tsdb.wal-compression",
        "--storage.tsdb.allow-overlapping-compaction",
        "--web.cors.origin",
        ".*",
        "--storage.tsdb.min-block-duration=1h",
    ]);
    assert!(p.delayed_name_removal);
    assert_eq!(p.block_duration_ms, 3_600_000);
    assert_eq!(
        p.ignored,
        [
            "--web.console.templates=/usr/share/prometheus/consoles",
            "--web.console.libraries=/usr/share/prometheus/console_libraries",
            "--storage.tsdb.allow-overlapping-compaction=true",
            "--storage.tsdb.wal-compression=false",
            "--enable-feature=exemplar-storage",
        ]
    );
    let a = args(&["--web.console.templates=/c"]);
    let m = flags::flag_map(&a, &parsed(&["--web.console.templates=/c"]), &global());
    assert_eq!(
        m.get("storage.tsdb.retention.time").map(String::as_str),
        Some("15d")
    );
    assert_eq!(
        m.get("storage.tsdb.retention.size").map(String::as_str),
        Some("0B")
    );
    assert_eq!(
        m.get("storage.tsdb.max-block-duration").map(String::as_str),
        Some("1d12h")
    );
    assert_eq!(m.get("web.route-prefix").map(String::as_str), Some("/"));
    assert_eq!(m.get("agent").map(String::as_str), Some("false"));
    assert_eq!(
        m.get("web.console.templates").map(String::as_str),
        Some("/c")
    );
    assert_eq!(
        m.get("web.console.libraries").map(String::as_str),
        Some("console_libraries")
    );
    assert_eq!(m.get("log.format").map(String::as_str), Some("logfmt"));
}

#[test]
fn cors_origin_is_anchored_and_dot_star_means_any() {
    assert!(parsed(&[]).cors_origin.is_none());
    let re = parsed(&[r"--web.cors.origin=https?://(a|b)\.example\.com"])
        .cors_origin
        .unwrap_or_else(|| panic!("a pattern"));
    assert!(re.is_match("https://a.example.com"));
    assert!(!re.is_match("https://a.example.com.evil.org"));
    assert!(flags::Parsed::from_args(&args(&["--web.cors.origin=("])).is_err());
}

#[test]
fn agent_mode_flags_are_refused() {
    for argv in [&["--agent"][..], &["--storage.agent.path=/x"]] {
        let e = flags::Parsed::from_args(&args(argv))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("agent")),
            "{argv:?}: {e:?}"
        );
    }
}

#[test]
fn external_url_and_route_prefix_as_prometheus() {
    let (u, p) = flags::external_url_and_prefix(Some("https://ex.com:8443/prom/"), None, ":9090")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (u.as_str(), p.as_str()),
        ("https://ex.com:8443/prom", "/prom")
    );
    let (_, p) = flags::external_url_and_prefix(Some("http://ex.com/a"), Some("b/"), ":9090")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p, "/b");
    let (u, p) = flags::external_url_and_prefix(None, None, "0.0.0.0:9091")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(u.starts_with("http://") && u.ends_with(":9091"), "{u}");
    assert_eq!(p, "/");
    for bad in ["ex.com/prom", "ftp://ex.com", "http://"] {
        assert!(
            flags::external_url_and_prefix(Some(bad), None, ":9090").is_err(),
            "{bad}"
        );
    }
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
        (
            &["--storage.tsdb.retention.size=12parsecs"],
            "--storage.tsdb.retention.size",
        ),
        (&["--web.external-url=example.com"], "--web.external-url"),
        (
            &["--storage.tsdb.min-block-duration=0s"],
            "--storage.tsdb.min-block-duration",
        ),
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
            global: global(),
            sidecar: None,
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
