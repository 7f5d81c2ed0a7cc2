//! `argus server` end to end: the real binary on a loopback port over a
//! storage directory filled by `argus tools import openmetrics`, checked
//! through the Prometheus HTTP API with a plain HTTP/1.1 client.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argus_tests::argus_bin;
use argus_tests::http::{self, HttpResponse, form, urlencode};
use serde_json::{Value, json};

/// Start of the test data, Unix seconds.
const T0: i64 = 1_700_000_000;
/// One hour of samples every 15s.
const STEPS: i64 = 240;
const HEAVY_SERIES: usize = 200;

const MINIMAL_CONFIG: &str =
    "global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\nscrape_configs: []\n";

/// The OpenMetrics input: `up` (two targets, 1 and 0), a counter growing by
/// 10 per step, and `heavy`, 200 gauges (48,000 samples).
fn openmetrics() -> String {
    let mut s = String::new();
    s.push_str("# TYPE up gauge\n");
    for (labels, v) in [
        (r#"instance="x",job="a""#, 1),
        (r#"instance="y",job="b""#, 0),
    ] {
        for k in 0..STEPS {
            s.push_str(&format!("up{{{labels}}} {v} {}\n", T0 + k * 15));
        }
    }
    s.push_str("# TYPE http_requests counter\n");
    for k in 0..STEPS {
        s.push_str(&format!(
            "http_requests_total{{code=\"200\",job=\"a\"}} {} {}\n",
            k * 10,
            T0 + k * 15
        ));
    }
    s.push_str("# TYPE heavy gauge\n");
    for i in 0..HEAVY_SERIES {
        for k in 0..STEPS {
            s.push_str(&format!(
                "heavy{{i=\"{i:03}\"}} {} {}\n",
                i as i64 + k,
                T0 + k * 15
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A temp dir with imported data and a config file.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(config: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("data.om.txt");
        fs::write(&input, openmetrics()).expect("write input");
        let out = Command::new(argus_bin())
            .args(["tools", "import", "openmetrics", "--quiet"])
            .arg(&input)
            .arg(dir.path().join("data"))
            .output()
            .expect("run import");
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, port: u16, extra: &[&str]) -> Command {
        let mut c = Command::new(argus_bin());
        c.arg("server")
            .arg(format!(
                "--config.file={}",
                self.path("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.path("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra);
        c
    }

    fn start(&self, extra: &[&str]) -> Server {
        let port = free_port();
        let log = self.path(&format!("server-{port}.log"));
        let child = self
            .command(port, extra)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn argus server");
        let mut s = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
            log,
        };
        s.wait_ready();
        s
    }
}

struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited early ({status}):\n{}", self.log_text());
            }
            if let Ok(r) = http::get(&self.addr, "/-/ready")
                && r.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in time:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> HttpResponse {
        http::get(&self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    fn post(&self, path: &str, body: &str) -> HttpResponse {
        http::post_form(&self.addr, path, body).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// GET returning parsed JSON, asserting the status.
    fn json(&self, path: &str, status: u16) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, status, "GET {path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn q(query: &str) -> String {
    urlencode(query)
}

fn assert_bad_data(v: &Value, contains: &str) {
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["errorType"], "bad_data", "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains(contains), "error {msg:?} lacks {contains:?}");
}

#[test]
fn metadata_status_and_parameter_errors() {
    let fx = Fixture::new(MINIMAL_CONFIG);
    let s = fx.start(&[]);

    // Labels and label values.
    let v = s.json("/api/v1/labels", 200);
    assert_eq!(
        v,
        json!({"status":"success","data":["__name__","code","i","instance","job"]})
    );
    let v = s.json("/api/v1/label/__name__/values", 200);
    assert_eq!(v["data"], json!(["heavy", "http_requests_total", "up"]));
    let v = s.json(
        &format!("/api/v1/label/job/values?match[]={}", q("up")),
        200,
    );
    assert_eq!(v["data"], json!(["a", "b"]));
    let v = s.json(
        &format!("/api/v1/labels?match[]={}", q("http_requests_total")),
        200,
    );
    assert_eq!(v["data"], json!(["__name__", "code", "job"]));
    let v = s.json("/api/v1/label/i/values?limit=2", 200);
    assert_eq!(v["data"], json!(["000", "001"]));
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    let r = s.post("/api/v1/labels", "");
    assert_eq!(r.status, 200, "{}", r.body);

    // Series, GET and POST, time bounds, several match[].
    let v = s.json(&format!("/api/v1/series?match[]={}", q("up")), 200);
    assert_eq!(
        v,
        json!({"status":"success","data":[
            {"__name__":"up","instance":"x","job":"a"},
            {"__name__":"up","instance":"y","job":"b"}
        ]})
    );
    let r = s.post(
        "/api/v1/series",
        &form(&[
            ("match[]", "up{job=\"a\"}"),
            ("match[]", "http_requests_total"),
            ("match[]", "up"),
            ("start", &T0.to_string()),
            ("end", &(T0 + 3600).to_string()),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(3), "{v}");
    let v = s.json(
        &format!(
            "/api/v1/series?match[]={}&start={}&end={}",
            q("up"),
            T0 + 7200,
            T0 + 9000
        ),
        200,
    );
    assert_eq!(v["data"], json!([]));
    let v = s.json(
        &format!("/api/v1/series?match[]={}&limit=5", q("heavy")),
        200,
    );
    assert_eq!(v["data"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    let v = s.json("/api/v1/series", 400);
    assert_bad_data(&v, "no match[] parameter provided");
    let v = s.json(
        &format!("/api/v1/series?match[]={}", q("{job=~\".*\"}")),
        400,
    );
    assert_bad_data(&v, "at least one non-empty matcher");

    // Status endpoints.
    let v = s.json("/api/v1/status/buildinfo", 200);
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][k].is_string(), "{k}: {v}");
    }
    let v = s.json("/api/v1/status/flags", 200);
    assert_eq!(v["data"]["query.timeout"], "2m");
    assert_eq!(v["data"]["query.max-samples"], "50000000");
    assert_eq!(v["data"]["web.enable-lifecycle"], "false");
    assert_eq!(v["data"]["storage.tsdb.retention.time"], "15d");
    assert!(
        v["data"]
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    );
    let v = s.json("/api/v1/status/config", 200);
    assert_eq!(v["data"]["yaml"], MINIMAL_CONFIG);
    let v = s.json("/api/v1/status/runtimeinfo", 200);
    for k in [
        "startTime",
        "CWD",
        "lastConfigTime",
        "storageRetention",
        "GOGC",
        "GODEBUG",
    ] {
        assert!(v["data"][k].is_string(), "{k}: {v}");
    }
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    assert_eq!(v["data"]["corruptionCount"], 0);
    assert!(v["data"]["goroutineCount"].is_number());
    assert!(v["data"]["GOMAXPROCS"].is_number());
    let v = s.json("/api/v1/status/tsdb", 200);
    for k in [
        "numSeries",
        "numLabelPairs",
        "chunkCount",
        "minTime",
        "maxTime",
    ] {
        assert!(v["data"]["headStats"][k].is_number(), "{k}: {v}");
    }
    for k in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        assert!(v["data"][k].is_array(), "{k}: {v}");
    }
    let v = s.json("/api/v1/status/tsdb?limit=0", 400);
    assert_bad_data(&v, "limit must be a positive number");
    let v = s.json("/api/v1/metadata", 200);
    assert_eq!(v, json!({"status":"success","data":{}}));
    let v = s.json(&format!("/api/v1/query_exemplars?query={}", q("up")), 200);
    assert_eq!(v, json!({"status":"success","data":[]}));

    // Health, readiness, lifecycle disabled, metrics.
    let r = s.get("/-/healthy");
    assert_eq!(r.status, 200);
    let r = s.get("/-/ready");
    assert_eq!(r.status, 200);
    let r = s.post("/-/reload", "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Lifecycle API is not enabled.")
    );
    let r = s.post("/-/quit", "");
    assert_eq!(r.status, 403);
    let r = s.get("/-/reload");
    assert_eq!(r.status, 405);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    for m in [
        "argus_http_requests_total{handler=\"/api/v1/labels\",code=\"200\"}",
        "argus_http_request_duration_seconds_bucket",
        "argus_engine_queries ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_start_time_seconds ",
        "process_open_fds ",
        "argus_tsdb_head_series ",
        "argus_tsdb_blocks_loaded ",
    ] {
        assert!(r.body.contains(m), "/metrics lacks {m}:\n{}", r.body);
    }

    // Parameter errors, worded as upstream.
    let v = s.json(&format!("/api/v1/query?query={}&time=x", q("up")), 400);
    assert_bad_data(
        &v,
        "invalid parameter \"time\": invalid time value for 'time': cannot parse \"x\" to a valid timestamp",
    );
    let range = |start: &str, end: &str, step: &str| {
        format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            q("up")
        )
    };
    let v = s.json(&range("x", "2", "1"), 400);
    assert_bad_data(
        &v,
        "invalid parameter \"start\": cannot parse \"x\" to a valid timestamp",
    );
    let v = s.json(&range("1", "2", "0"), 400);
    assert_bad_data(
        &v,
        "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
    let v = s.json(&range("1", "2", "-5s"), 400);
    assert_eq!(v["errorType"], "bad_data");
    let v = s.json(&range("10", "2", "1"), 400);
    assert_bad_data(
        &v,
        "invalid parameter \"end\": end timestamp must not be before start time",
    );
    let v = s.json(&range("0", "11001", "1"), 400);
    assert_bad_data(
        &v,
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
    let v = s.json(&range("0", "3600", "1h5m"), 200);
    assert_eq!(v["status"], "success");
    let v = s.json(&format!("/api/v1/query?query={}&limit=-1", q("up")), 400);
    assert_bad_data(&v, "invalid parameter \"limit\"");
    let v = s.json(&format!("/api/v1/query?query={}&timeout=x", q("up")), 400);
    assert_bad_data(&v, "invalid parameter \"timeout\"");
}

#[test]
fn config_errors_and_lifecycle() {
    // An empty config file is accepted too.
    let fx = Fixture::new("");
    let mut s = fx.start(&["--web.enable-lifecycle"]);
    let v = s.json("/api/v1/status/config", 200);
    assert_eq!(v["data"]["yaml"], "");

    // Reload: a valid file is taken, a broken one refused with the old kept.
    fs::write(fx.path("prometheus.yml"), MINIMAL_CONFIG).expect("write config");
    let r = s.post("/-/reload", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = s.json("/api/v1/status/config", 200);
    assert_eq!(v["data"]["yaml"], MINIMAL_CONFIG);
    fs::write(
        fx.path("prometheus.yml"),
        "global:\n  scrape_intervall: 15s\n",
    )
    .expect("write config");
    let r = s.post("/-/reload", "");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("failed to reload config"), "{}", r.body);
    assert!(r.body.contains("prometheus.yml:2"), "{}", r.body);
    assert!(r.body.contains("scrape_intervall"), "{}", r.body);
    let v = s.json("/api/v1/status/config", 200);
    assert_eq!(v["data"]["yaml"], MINIMAL_CONFIG);
    let v = s.json("/api/v1/status/runtimeinfo", 200);
    assert_eq!(v["data"]["reloadConfigSuccess"], false);

    // Quit stops the process cleanly.
    let r = s.post("/-/quit", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = s.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "server did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", s.log_text());

    // A misspelt field stops startup with file:line.
    let out = fx
        .command(free_port(), &[])
        .output()
        .expect("run argus server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:2:", fx.path("prometheus.yml").display());
    assert!(err.contains(&want), "{want} not in {err}");
    assert!(err.contains("unknown field \"scrape_intervall\""), "{err}");
    assert!(err.contains("did you mean \"scrape_interval\""), "{err}");
}

/// Values from the engine, compared as Prometheus would print them.
#[test]
fn queries_return_expected_values() {
    let fx = Fixture::new(MINIMAL_CONFIG);
    let s = fx.start(&[]);
    let t = T0 + 1800;

    let v = s.json(&format!("/api/v1/query?query=up&time={t}"), 200);
    assert_eq!(
        v,
        json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","instance":"x","job":"a"},"value":[t,"1"]},
            {"metric":{"__name__":"up","instance":"y","job":"b"},"value":[t,"0"]}
        ]}})
    );
    // RFC 3339 time, POST form, fractional seconds.
    let r = s.post(
        "/api/v1/query",
        &form(&[
            ("query", "up{job=\"a\"}"),
            ("time", "2023-11-14T22:43:20.5Z"),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(
        v["data"]["result"][0]["value"],
        json!([1_700_001_800.5, "1"])
    );

    let v = s.json(&format!("/api/v1/query?query={}&time={t}", q("1+1")), 200);
    assert_eq!(
        v,
        json!({"status":"success","data":{"resultType":"scalar","result":[t,"2"]}})
    );
    let v = s.json(
        &format!("/api/v1/query?query={}&time={t}", q("\"hi\"")),
        200,
    );
    assert_eq!(v["data"], json!({"resultType":"string","result":[t,"hi"]}));
    let v = s.json(&format!("/api/v1/query?query={}&time={t}", q("-1/0")), 200);
    assert_eq!(v["data"]["result"], json!([t, "-Inf"]));

    let v = s.json(
        &format!(
            "/api/v1/query?query={}&time={t}",
            q("rate(http_requests_total[5m])")
        ),
        200,
    );
    let got: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|x| x.parse().ok())
        .unwrap_or(f64::NAN);
    assert!((got - 2.0 / 3.0).abs() < 1e-9, "{v}");
    assert_eq!(
        v["data"]["result"][0]["metric"],
        json!({"code":"200","job":"a"})
    );

    // Range query: the counter grows by 10 every 15s.
    let v = s.json(
        &format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=60",
            q("http_requests_total"),
            T0 + 600,
            T0 + 900
        ),
        200,
    );
    let want: Vec<Value> = (0..6)
        .map(|i| json!([T0 + 600 + i * 60, (400 + i * 40).to_string()]))
        .collect();
    assert_eq!(
        v,
        json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"http_requests_total","code":"200","job":"a"},"values":want}
        ]}})
    );
    let r = s.post(
        "/api/v1/query_range",
        &form(&[
            ("query", "sum(up)"),
            ("start", &(T0 + 60).to_string()),
            ("end", &(T0 + 120).to_string()),
            ("step", "30s"),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(
        v["data"]["result"],
        json!([{"metric":{},"values":[[T0 + 60,"1"],[T0 + 90,"1"],[T0 + 120,"1"]]}])
    );
    // limit truncates with a warning.
    let v = s.json(&format!("/api/v1/query?query=heavy&time={t}&limit=3"), 200);
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));

    // Malformed PromQL: 400 naming the position; unknown function: 400.
    let v = s.json(&format!("/api/v1/query?query={}", q("sum(up")), 400);
    assert_bad_data(&v, "invalid parameter \"query\"");
    // Upstream: `1:7: parse error: unclosed left parenthesis`.
    assert_bad_data(&v, "1:7: parse error");
    let v = s.json(&format!("/api/v1/query?query={}", q("nosuchfn(up)")), 400);
    assert_bad_data(&v, "nosuchfn");
    let v = s.json(
        &format!(
            "/api/v1/query_range?query={}&start=0&end=10&step=1",
            q("up[5m]")
        ),
        400,
    );
    assert_eq!(v["errorType"], "bad_data", "{v}");
}

fn rss_bytes(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn max_samples_refused_with_bounded_memory() {
    let fx = Fixture::new(MINIMAL_CONFIG);
    let s = fx.start(&["--query.max-samples=1000"]);
    let before = rss_bytes(s.pid());
    let t = T0 + 3600;
    // 200 series × 240 samples = 48,000 samples in one range vector.
    for _ in 0..3 {
        let v = s.json(
            &format!("/api/v1/query?query={}&time={t}", q("heavy[1h]")),
            422,
        );
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "execution", "{v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains("too many samples"), "{msg}");
        let v = s.json(
            &format!(
                "/api/v1/query_range?query={}&start={T0}&end={t}&step=15",
                q("heavy")
            ),
            422,
        );
        assert_eq!(v["errorType"], "execution", "{v}");
    }
    // Within the limit is fine: 200 samples.
    let v = s.json(&format!("/api/v1/query?query=heavy&time={t}"), 200);
    assert_eq!(
        v["data"]["result"].as_array().map(Vec::len),
        Some(HEAVY_SERIES)
    );
    let after = rss_bytes(s.pid());
    assert!(before > 0 && after > 0, "cannot read VmRSS of {}", s.pid());
    assert!(after < 500 << 20, "rss grew from {before} to {after} bytes");
}

#[test]
fn query_timeout_is_honoured() {
    let fx = Fixture::new(MINIMAL_CONFIG);
    let s = fx.start(&["--query.timeout=1ms"]);
    let heavy = q("max_over_time(sum(heavy)[1h:1s])");
    let started = Instant::now();
    let v = s.json(
        &format!(
            "/api/v1/query_range?query={heavy}&start={T0}&end={}&step=15",
            T0 + 3600
        ),
        503,
    );
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "timeout", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{v}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // The per-request `timeout` parameter lowers the limit too.
    let fx2 = Fixture::new(MINIMAL_CONFIG);
    let s2 = fx2.start(&[]);
    let v = s2.json(
        &format!(
            "/api/v1/query_range?query={heavy}&start={T0}&end={}&step=15&timeout=0.001",
            T0 + 3600
        ),
        503,
    );
    assert_eq!(v["errorType"], "timeout", "{v}");
    // And the server is still fine afterwards.
    let v = s2.json("/api/v1/labels", 200);
    assert_eq!(v["status"], "success");
}
