//! What a Prometheus user meets in the first hour with `argus server`
//! instead of `prometheus`: raw characters in URLs, the flags packaging
//! passes, rule files, the endpoints reached for, `/metrics` formats.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use argus_tests::e2e::{self, Daemon};
use argus_tests::fixed_target::FixedTarget;
use argus_tests::http::{self, urlencode};
use serde_json::Value;

fn scrape_config(target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// Sends `raw` as it is on one connection and reads until the server
/// closes it.
fn raw_exchange(addr: &str, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(raw).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn body_of(r: &http::HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

#[test]
fn raw_characters_in_urls_are_answered_like_encoded_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(
        "text/plain; version=0.0.4",
        "# TYPE node_load1 gauge\nnode_load1{cpu=\"a|b\"} 0.5\n",
    );
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, &scrape_config(&target.addr()));
    let server = e2e::start_argus(dir.path(), "argus", &config, &[]);
    let addr = server.addr();
    e2e::wait_for("a scrape", Duration::from_secs(20), || {
        let r = server.instant("up{job=\"node\"}", None);
        (!r.is_empty())
            .then_some(())
            .ok_or_else(|| format!("{r:?}"))
    });
    let at = format!("{:.3}", e2e::now_s());
    for (endpoint, param, value) in [
        ("/api/v1/query", "query", r#"up{job="node"}"#),
        ("/api/v1/query", "query", r#"node_load1{cpu=~"a|b|c"}>0.1"#),
        (
            "/api/v1/series",
            "match[]",
            r#"{job="node",__name__=~"up|node_load1"}"#,
        ),
        (
            "/api/v1/targets/metadata",
            "match_target",
            r#"{job="node"}"#,
        ),
        ("/api/v1/labels", "match[]", r#"up{instance!~"<none>"}"#),
    ] {
        let time = if endpoint == "/api/v1/query" {
            format!("&time={at}")
        } else {
            String::new()
        };
        let raw = http::get(&addr, &format!("{endpoint}?{param}={value}{time}")).expect("raw get");
        let encoded = http::get(
            &addr,
            &format!("{endpoint}?{}={}{time}", urlencode(param), urlencode(value)),
        )
        .expect("encoded get");
        assert_eq!(raw.status, 200, "{endpoint} {value}: {}", raw.body);
        assert_eq!(encoded.status, 200, "{endpoint} {value}: {}", encoded.body);
        let (raw_v, encoded_v) = (body_of(&raw), body_of(&encoded));
        assert_eq!(raw_v, encoded_v, "{endpoint} {value}");
        assert_ne!(
            raw_v["data"],
            Value::Array(vec![]),
            "{endpoint} {value}: empty"
        );
    }

    // Keep-alive: raw characters in the second request on a connection,
    // after one with a body that looks like a request line.
    let body = "query=up{job=\"nope\"}";
    let pipelined = format!(
        "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}GET /api/v1/query?query=up{{job=\"node\"}} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(&addr, pipelined.as_bytes());
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.contains(r#""job":"node""#), "{answer}");

    // A really malformed request: the JSON envelope, not an empty 400.
    for (raw, reason) in [
        (
            &b"GET /api/v1/query?query=up\x01 HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "control character",
        ),
        (
            b"GET /api/v1/query HTTP/1.1\r\nbad header line\r\n\r\n",
            "header",
        ),
    ] {
        let answer = raw_exchange(&addr, raw);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(v["status"], "error", "{answer}");
        assert_eq!(v["errorType"], "bad_data", "{answer}");
        assert!(
            v["error"].as_str().unwrap_or("").contains(reason),
            "{answer}"
        );
    }
    assert_server_up(&server);
}

/// The first sample's value of `query` at `t` (Unix seconds).
fn value_at(server: &Daemon, query: &str, t: f64) -> Option<f64> {
    server.instant(query, Some(t)).first().map(|(_, v)| *v)
}

fn assert_server_up(server: &Daemon) {
    assert_eq!(server.get("/-/healthy").status, 200);
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_tail(20)
    );
}

const MINIMAL_CONFIG: &str = "global:\n  scrape_interval: 15s\nscrape_configs: []\n";

/// A temporary directory with [`MINIMAL_CONFIG`] and `argus server` on it
/// with `extra` flags.
fn minimal_server(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Daemon) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let server = e2e::start_argus(dir.path(), "argus", &config, extra);
    (dir, config, server)
}

#[test]
fn the_official_container_command_starts_with_one_warning_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    // The container's default argument list, with our paths for the config
    // and storage (the other two are passed as the image passes them).
    let server = e2e::start_argus(
        dir.path(),
        "argus",
        &config,
        &[
            "--web.console.libraries=/usr/share/prometheus/console_libraries",
            "--web.console.templates=/usr/share/prometheus/consoles",
        ],
    );
    let log = server.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("level=WARN") && l.contains("ignoring prometheus flags"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    for flag in ["--web.console.libraries=", "--web.console.templates="] {
        assert!(warnings[0].contains(flag), "{}", warnings[0]);
    }
    let flags = server.api("/api/v1/status/flags");
    assert_eq!(
        flags["web.console.templates"], "/usr/share/prometheus/consoles",
        "{flags}"
    );
    assert_eq!(flags["storage.tsdb.retention.time"], "100y", "{flags}");
    assert_server_up(&server);
}

#[test]
fn external_url_sets_the_route_prefix_and_logs_can_be_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let port = argus_tests::differential::free_port();
    let mut cmd = e2e::argus_server(
        &dir.path().join("data"),
        &config,
        port,
        &[
            "--web.external-url=https://metrics.example.com/prom/",
            "--web.enable-admin-api",
            "--storage.tsdb.retention.size=1GB",
            "--log.format=json",
            r"--web.cors.origin=https://grafana\.example\.com",
        ],
    );
    cmd.env_remove("RUST_LOG");
    let mut server = Daemon::spawn("argus", cmd, port, &dir.path().join("argus.log"));
    server.wait_ready("/prom/-/ready", Duration::from_secs(60));
    let flags = server.get("/prom/api/v1/status/flags");
    assert_eq!(flags.status, 200, "{}", flags.body);
    let v = body_of(&flags);
    assert_eq!(
        v["data"]["web.external-url"],
        "https://metrics.example.com/prom/"
    );
    assert_eq!(v["data"]["web.enable-admin-api"], "true");
    assert_eq!(v["data"]["log.format"], "json");
    let runtime = body_of(&server.get("/prom/api/v1/status/runtimeinfo"));
    assert_eq!(
        runtime["data"]["storageRetention"], "100y or 1GiB",
        "{runtime}"
    );
    // CORS as upstream: a matching origin is echoed, another is not.
    for (origin, allowed) in [
        (
            "https://grafana.example.com",
            Some("https://grafana.example.com"),
        ),
        ("https://evil.example.com", None),
    ] {
        let r = http::request_with_headers(
            &server.addr(),
            "GET",
            "/prom/api/v1/labels",
            &[("Origin", origin)],
            b"",
            Duration::from_secs(10),
        )
        .expect("cors request");
        assert_eq!(r.header("access-control-allow-origin"), allowed, "{origin}");
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    // Handlers are named without the prefix in the request metrics.
    let m = server.get("/prom/metrics").body;
    assert!(m.contains(r#"handler="/api/v1/status/flags""#), "{m}");
    // Nothing outside the prefix but the redirect to it.
    assert_eq!(server.get("/api/v1/status/flags").status, 404);
    let root = server.get("/");
    assert_eq!(root.status, 302);
    assert_eq!(root.header("location"), Some("/prom"));
    // Every log line is one JSON object with Prometheus's keys.
    let log = server.log_text();
    let mut lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["time", "level", "source", "msg"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        lines += 1;
    }
    assert!(lines >= 3, "{log}");
    assert!(
        log.contains(r#""msg":"server is ready to receive web requests""#),
        "{log}"
    );
}

#[test]
fn web_config_files_are_checked_and_tls_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let web = dir.path().join("web.yml");
    e2e::write_file(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    );
    let server = e2e::start_argus(
        dir.path(),
        "argus",
        &config,
        &[&format!("--web.config.file={}", web.display())],
    );
    let r = server.get("/-/healthy");
    assert_eq!(r.header("x-frame-options"), Some("deny"));
    drop(server);

    for (text, word) in [
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
            "tls_server_config",
        ),
        (
            "basic_auth_users:\n  admin: $2y$10$abc\n",
            "basic_auth_users",
        ),
        ("tls_server_confg: {}\n", "tls_server_confg"),
    ] {
        e2e::write_file(&web, text);
        let out = std::process::Command::new(argus_tests::argus_bin())
            .arg("server")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("d2").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--web.config.file={}", web.display()))
            .output()
            .expect("run argus");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}: {stderr}");
        assert!(
            stderr.contains("web.config.file") && stderr.contains(word),
            "{text}: {stderr}"
        );
    }
}

/// Start of the backfilled data (Unix seconds, a 2h boundary).
const T0: i64 = 1_699_999_200;

/// `series` gauges sampled every 15s for `hours` hours from [`T0`].
fn backfill_text(metric: &str, series: usize, hours: i64) -> String {
    let mut s = format!("# TYPE {metric} gauge\n");
    for i in 0..series {
        for k in 0..hours * 240 {
            s.push_str(&format!(
                "{metric}{{i=\"{i}\"}} {} {}\n",
                k % 97,
                T0 + k * 15
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

fn import(dir: &std::path::Path, text: &str, into: &std::path::Path) {
    let file = dir.join(format!("import-{}.om", std::process::id()));
    e2e::write_file(&file, text);
    let mut cmd = std::process::Command::new(argus_tests::argus_bin());
    cmd.args(["tools", "import", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(into);
    argus_tests::differential::run_backfill(cmd, "argus tools import")
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Block directories (named by ULID) in a storage directory, oldest first,
/// with their sizes.
fn blocks_on_disk(data: &std::path::Path) -> Vec<(String, u64)> {
    fn size(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => size(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let mut out: Vec<(String, u64)> = std::fs::read_dir(data)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("meta.json").is_file())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        size(&e.path()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // ULIDs of imported blocks sort by creation, not data time: read it.
    out.sort_by_key(|(id, _)| {
        let meta = std::fs::read_to_string(data.join(id).join("meta.json")).unwrap_or_default();
        let v: Value = serde_json::from_str(&meta).unwrap_or_default();
        v["minTime"].as_i64().unwrap_or(0)
    });
    out
}

#[test]
fn retention_size_deletes_the_oldest_blocks_over_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("argus-data");
    import(dir.path(), &backfill_text("load", 40, 12), &data);
    let before = blocks_on_disk(&data);
    assert_eq!(before.len(), 6, "{before:?}");
    // Room for the newest three blocks and half of another: the WAL of a
    // server that scrapes nothing stays empty.
    let smallest = before.iter().map(|(_, b)| *b).min().unwrap_or(0);
    let limit: u64 = before[3..].iter().map(|(_, b)| b).sum::<u64>() + smallest / 2;
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let port = argus_tests::differential::free_port();
    let mut cmd = std::process::Command::new(argus_tests::argus_bin());
    cmd.arg("server")
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.retention.size={limit}B"))
        .arg("--web.enable-lifecycle");
    let mut server = Daemon::spawn("argus", cmd, port, &dir.path().join("argus.log"));
    server.wait_ready("/-/ready", Duration::from_secs(60));
    let kept = e2e::wait_for("size retention", Duration::from_secs(30), || {
        let now = blocks_on_disk(&data);
        (now.len() == 3)
            .then_some(now.clone())
            .ok_or_else(|| format!("{now:?}"))
    });
    let kept_ids: Vec<&String> = kept.iter().map(|(id, _)| id).collect();
    let newest: Vec<&String> = before[3..].iter().map(|(id, _)| id).collect();
    assert_eq!(kept_ids, newest, "the oldest blocks go first");
    // The deleted range is gone from queries; the kept one answers.
    assert_eq!(value_at(&server, "count(load)", (T0 + 3600) as f64), None);
    assert_eq!(
        value_at(&server, "count(load)", (T0 + 11 * 3600) as f64),
        Some(40.0)
    );
    assert!(server.log_text().contains("deleted block past retention"));

    // Prometheus 3.x's storage.tsdb.retention in the config replaces the
    // flags, and a reload applies it: 3h keeps the blocks ending within 3h
    // of the newest one's end.
    e2e::write_file(
        &config,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\nstorage:\n  tsdb:\n    retention:\n      time: 3h\n",
    );
    assert_eq!(server.post("/-/reload").status, 200);
    let kept = e2e::wait_for(
        "time retention from the config",
        Duration::from_secs(30),
        || {
            let now = blocks_on_disk(&data);
            (now.len() == 2)
                .then_some(now.clone())
                .ok_or_else(|| format!("{now:?}"))
        },
    );
    assert_eq!(
        kept.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        newest[1..].to_vec()
    );
    assert!(server.log_text().contains("tsdb retention updated"));
}

#[test]
fn delete_series_hides_the_data_and_admin_endpoints_need_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    e2e::write_file(&config, MINIMAL_CONFIG);
    let data = dir.path().join("admin-data");
    import(dir.path(), &backfill_text("temp", 3, 4), &data);
    let extra = ["--web.enable-admin-api"];
    let port = argus_tests::differential::free_port();
    let mut server = Daemon::spawn(
        "admin",
        e2e::argus_server(&data, &config, port, &extra),
        port,
        &dir.path().join("admin.log"),
    );
    server.wait_ready("/-/ready", Duration::from_secs(60));
    let t = (T0 + 3 * 3600) as f64;
    assert_eq!(value_at(&server, "count(temp)", t), Some(3.0));
    let r = http::request(
        &server.addr(),
        "POST",
        &format!(
            "/api/v1/admin/tsdb/delete_series?match[]={}",
            urlencode(r#"temp{i="1"}"#)
        ),
        None,
        b"",
    )
    .expect("delete_series");
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(value_at(&server, "count(temp)", t), Some(2.0));
    assert!(server.series(r#"temp{i="1"}"#, T0 as f64, t).is_empty());
    // Deleting needs at least one selector, as upstream.
    let r = server.post("/api/v1/admin/tsdb/delete_series");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("no match[] parameter provided"),
        "{}",
        r.body
    );
    // The deletion is durable: it outlives a SIGKILL.
    drop(server);
    let port = argus_tests::differential::free_port();
    let mut server = Daemon::spawn(
        "admin2",
        e2e::argus_server(&data, &config, port, &extra),
        port,
        &dir.path().join("admin2.log"),
    );
    server.wait_ready("/-/ready", Duration::from_secs(60));
    assert_eq!(value_at(&server, "count(temp)", t), Some(2.0));
    let r = server.post("/api/v1/admin/tsdb/clean_tombstones");
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(value_at(&server, "count(temp)", t), Some(2.0));
    let r = server.post("/api/v1/admin/tsdb/snapshot");
    assert_eq!(r.status, 200, "{}", r.body);
    let name = body_of(&r)["data"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!name.is_empty(), "{}", r.body);
    assert!(!blocks_on_disk(&data.join("snapshots").join(&name)).is_empty());
    drop(server);
    let no_admin = e2e::start_argus(dir.path(), "plain", &config, &[]);
    let r = no_admin.post("/api/v1/admin/tsdb/snapshot");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(body_of(&r)["error"], "admin APIs disabled");
}

#[test]
fn a_block_backfilled_into_a_running_server_is_queried_within_a_minute() {
    let (dir, _config, server) = minimal_server(&[]);
    let data = dir.path().join("argus-data");
    let t = (T0 + 3600) as f64;
    assert_eq!(value_at(&server, "count(backfilled)", t), None);
    import(dir.path(), &backfill_text("backfilled", 2, 2), &data);
    let started = std::time::Instant::now();
    e2e::wait_for("the backfilled block", Duration::from_secs(60), || {
        let v = value_at(&server, "count(backfilled)", t);
        (v == Some(2.0))
            .then_some(())
            .ok_or_else(|| format!("{v:?}"))
    });
    eprintln!("backfilled block queryable after {:?}", started.elapsed());
    // Milliseconds where seconds belong are refused with a hint, and
    // nothing is written.
    let ms = dir.path().join("ms.om");
    e2e::write_file(&ms, "# TYPE m gauge\nm 1 1700000000000\n# EOF\n");
    let before = blocks_on_disk(&data).len();
    let out = std::process::Command::new(argus_tests::argus_bin())
        .args(["tools", "import", "openmetrics", "--quiet"])
        .arg(&ms)
        .arg(&data)
        .output()
        .expect("import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("milliseconds") && stderr.contains("1000"),
        "{stderr}"
    );
    assert_eq!(blocks_on_disk(&data).len(), before);
    assert!(
        server
            .log_text()
            .contains("loaded new blocks from the storage directory")
    );
}

#[test]
fn the_page_at_root_and_metrics_in_both_formats() {
    let (_dir, _config, server) = minimal_server(&["--web.page-title=Team metrics"]);
    for path in ["/", "/graph"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/html"))
        );
        assert!(r.body.contains("<title>Team metrics</title>"), "{}", r.body);
        assert!(r.body.contains(env!("CARGO_PKG_VERSION")) || r.body.contains("Argus "));
        for link in [
            "/api/v1/targets",
            "/api/v1/status/flags",
            "/metrics",
            "/api/v1/query",
        ] {
            assert!(r.body.contains(link), "{path} lacks {link}");
        }
    }
    assert_eq!(server.get("/-/healthy").status, 200);
    let text = server.get("/metrics");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!text.body.contains("# EOF"));
    assert!(
        text.body
            .contains("# TYPE argus_http_requests_total counter")
    );
    let om = http::request_with_headers(
        &server.addr(),
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
        b"",
        Duration::from_secs(10),
    )
    .expect("openmetrics");
    assert!(
        om.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    assert!(om.body.ends_with("# EOF\n"));
    // Other endpoints a user reaches for.
    let v = server.api("/api/v1/status/walreplay");
    assert!(v.get("min").is_some() && v.get("current").is_some(), "{v}");
    assert_eq!(
        server.api("/api/v1/alertmanagers")["activeAlertmanagers"],
        Value::Array(vec![])
    );
    let v = server.api(&format!(
        "/api/v1/format_query?query={}",
        urlencode("sum(rate(x[5m]))by(job)")
    ));
    assert_eq!(v, "sum by (job) (rate(x[5m]))");
    let r = server.get("/api/v1/no_such_endpoint");
    assert_eq!(r.status, 404);
    assert_eq!(body_of(&r)["errorType"], "not_found");
}

#[test]
fn federate_scraped_by_the_real_prometheus_gives_it_the_same_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start(
        "text/plain; version=0.0.4",
        "# TYPE node_load1 gauge\nnode_load1{cpu=\"a\"} 0.5\nnode_load1{cpu=\"b\"} 1e6\n# TYPE other gauge\nother 3\n",
    );
    let config = dir.path().join("argus.yml");
    e2e::write_file(
        &config,
        &format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    cluster: east\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{}']\n",
            target.addr()
        ),
    );
    let argus = e2e::start_argus(dir.path(), "argus", &config, &[]);
    e2e::wait_for("argus scraping", Duration::from_secs(20), || {
        let r = argus.instant("node_load1", None);
        (r.len() == 2).then_some(()).ok_or_else(|| format!("{r:?}"))
    });
    // What a federating scrape reads: untyped families, timestamps, the
    // external label appended, an empty instance where a series has none.
    let r = argus.get(&format!(
        "/federate?match[]={}&match[]=other",
        urlencode(r#"{__name__=~"up|node_load1"}"#)
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(r.body.contains("# TYPE node_load1 untyped\n"), "{}", r.body);
    assert!(r.body.contains(r#"cluster="east""#), "{}", r.body);
    assert!(r.body.contains(" 1e+06 "), "{}", r.body);
    assert!(
        r.body.contains("# TYPE other untyped\nother{"),
        "{}",
        r.body
    );

    let prom_config = dir.path().join("prometheus.yml");
    e2e::write_file(
        &prom_config,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['up', '{{job=\"node\"}}']\n    static_configs:\n      - targets: ['{}']\n",
            argus.addr()
        ),
    );
    let prom = e2e::start_prometheus(dir.path(), "prometheus", &prom_config, &[]);
    // Every flag the reference shows in status/flags, argus shows too.
    let prom_flags = prom.api("/api/v1/status/flags");
    let argus_flags = argus.api("/api/v1/status/flags");
    let missing: Vec<&String> = prom_flags
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|k| argus_flags.get(k.as_str()).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "flags prometheus has and argus does not: {missing:?}"
    );
    let series = |d: &Daemon| {
        d.instant(r#"{job="node"}"#, None)
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let with_cluster = |m: std::collections::BTreeMap<e2e::LabelMap, f64>| {
        m.into_iter()
            .map(|(mut l, v)| {
                l.insert("cluster".to_string(), "east".to_string());
                (l, v)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // Same series (argus's own plus the external label), and the same
    // values for the target's (scrape_duration_seconds changes per scrape).
    let (federated, expected) =
        e2e::wait_for("prometheus federating", Duration::from_secs(30), || {
            let (f, e) = (series(&prom), with_cluster(series(&argus)));
            let same = f.keys().eq(e.keys());
            same.then(|| (f.clone(), e.clone()))
                .ok_or_else(|| format!("prometheus {f:?}\nargus {e:?}"))
        });
    assert!(federated.len() >= 4, "{federated:?}");
    for (labels, v) in &expected {
        if ["node_load1", "other", "up"].contains(&labels["__name__"].as_str()) {
            assert_eq!(federated.get(labels), Some(v), "{labels:?}");
        }
    }
}

#[test]
fn promtool_check_metrics_finds_no_problem_on_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FixedTarget::start("text/plain; version=0.0.4", "# TYPE x gauge\nx 1\n");
    let config = dir.path().join("prometheus.yml");
    // Scraping and remote write register their metrics too.
    e2e::write_file(
        &config,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: t\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n",
            target.addr()
        ),
    );
    let server = e2e::start_argus(
        dir.path(),
        "argus",
        &config,
        &["--web.enable-remote-write-receiver"],
    );
    e2e::wait_for("a scrape", Duration::from_secs(20), || {
        let r = server.instant("up", None);
        (!r.is_empty())
            .then_some(())
            .ok_or_else(|| format!("{r:?}"))
    });
    let body = server.get("/metrics").body;
    let mut child = std::process::Command::new(argus_tests::peers::promtool_bin())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics: {report}\n{body}"
    );
    assert!(report.trim().is_empty(), "{report}");
}

fn run_argus(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(argus_tests::argus_bin())
        .args(args)
        .output()
        .expect("run argus");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn messages_say_what_is_wrong_and_where() {
    let (dir, config, server) = minimal_server(&[]);
    // Parse errors with Prometheus's position and expected token.
    for (q, want) in [
        (
            "sum(node_load1) by",
            r#"invalid parameter "query": 1:19: parse error: unexpected end of input in grouping opts, expected "(""#,
        ),
        (
            "up +",
            r#"invalid parameter "query": 1:5: parse error: unexpected end of input"#,
        ),
        (
            "1 +* 2",
            r#"invalid parameter "query": 1:4: parse error: unexpected <op:*>"#,
        ),
    ] {
        let r = server.get(&format!("/api/v1/query?query={}", urlencode(q)));
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(body_of(&r)["error"], want, "{q}");
    }

    // A missing config file.
    let missing = dir.path().join("nope.yml");
    let (ok, out) = run_argus(&[
        "server",
        &format!("--config.file={}", missing.display()),
        &format!("--storage.tsdb.path={}", dir.path().join("d1").display()),
        "--web.listen-address=127.0.0.1:0",
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error loading config (--config.file={})",
            missing.display()
        )),
        "{out}"
    );
    assert!(!out.contains("config from cannot"), "{out}");

    // A taken port fails before the storage directory exists.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let data = dir.path().join("never-created");
    let (ok, out) = run_argus(&[
        "server",
        &format!("--config.file={}", config.display()),
        &format!("--storage.tsdb.path={}", data.display()),
        &format!("--web.listen-address=127.0.0.1:{port}"),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("127.0.0.1:{port}")), "{out}");
    assert!(!data.exists(), "the storage directory was created: {out}");

    // bucket inspect of a path that does not exist.
    let nowhere = dir.path().join("no-such-dir");
    let (ok, out) = run_argus(&[
        "tools",
        "bucket",
        "inspect",
        "--storage.tsdb.path",
        &nowhere.display().to_string(),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&nowhere.display().to_string()) && out.contains("No such file"),
        "{out}"
    );
}
