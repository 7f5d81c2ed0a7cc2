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
        (
            "/api/v1/query",
            "query",
            r#"node_load1{cpu=~"a|b|c"}>0.1"#,
        ),
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

fn assert_server_up(server: &Daemon) {
    assert_eq!(server.get("/-/healthy").status, 200);
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_tail(20)
    );
}
