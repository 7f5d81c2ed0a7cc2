//! Plumbing for the live end-to-end tests (scraping, remote write, reload,
//! crash recovery): server processes with signals, bounded polling, and the
//! Prometheus HTTP API read into plain Rust values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{self, HttpResponse, urlencode};

pub type LabelMap = BTreeMap<String, String>;

/// A server child process whose output goes to a log file; SIGKILLed and
/// reaped on drop.
pub struct Daemon {
    pub name: String,
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr in `log`.
    pub fn start(name: &str, mut cmd: Command, port: u16, log: &Path) -> Result<Daemon, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("start {name}: {e}"))?;
        Ok(Daemon {
            name: name.to_string(),
            port,
            log: log.to_path_buf(),
            child,
        })
    }

    /// [`Daemon::start`], panicking when the process cannot start.
    pub fn spawn(name: &str, cmd: Command, port: u16, log: &Path) -> Daemon {
        Daemon::start(name, cmd, port, log).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `path` until it answers 200; an error with the log's tail
    /// when the process exits or `timeout` passes.
    pub fn ready(&mut self, path: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before becoming ready; log:\n{}",
                    self.name,
                    self.log_tail(40)
                ));
            }
            if let Ok(r) = http::request_with_timeout(
                &self.addr(),
                "GET",
                path,
                None,
                b"",
                Duration::from_secs(2),
            ) && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} not ready on {}{path} after {timeout:?}; log:\n{}",
                    self.name,
                    self.addr(),
                    self.log_tail(40)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Daemon::ready`], panicking when the process does not get ready.
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) {
        self.ready(path, timeout).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The exit status once the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sighup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill -HUP");
        assert!(status.success(), "kill -HUP {} failed", self.pid());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http::request_with_timeout(
            &self.addr(),
            "GET",
            path,
            None,
            b"",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{}: GET {path}: {e}\n{}", self.name, self.log_tail(30)))
    }

    pub fn post(&self, path: &str) -> HttpResponse {
        http::request_with_timeout(
            &self.addr(),
            "POST",
            path,
            None,
            b"",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{}: POST {path}: {e}\n{}", self.name, self.log_tail(30)))
    }

    /// GET of an API path answering `"status":"success"`; returns `data`.
    pub fn api(&self, path: &str) -> Value {
        let r = self.get(path);
        let v: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{}: GET {path}: {e}: {} {}", self.name, r.status, r.body));
        assert!(
            r.status == 200 && v["status"] == "success",
            "{}: GET {path}: {} {}",
            self.name,
            r.status,
            r.body
        );
        v["data"].clone()
    }

    /// An instant vector query, evaluated now or at `time` (Unix seconds).
    pub fn instant(&self, query: &str, time: Option<f64>) -> Vec<(LabelMap, f64)> {
        let mut path = format!("/api/v1/query?query={}", urlencode(query));
        if let Some(t) = time {
            path.push_str(&format!("&time={t:.3}"));
        }
        let data = self.api(&path);
        assert_eq!(data["resultType"], "vector", "{query}: {data}");
        data["result"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|s| (label_map(&s["metric"]), sample_value(&s["value"])))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The single value of an instant query, if it returned exactly one series.
    pub fn scalar(&self, query: &str) -> Option<f64> {
        match self.instant(query, None).as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// A range-selector query (`x[1m]`) at `time`: every raw sample as
    /// `(timestamp ms, value)`, keyed by series.
    pub fn raw_samples(&self, query: &str, time: f64) -> BTreeMap<LabelMap, Vec<(i64, f64)>> {
        let path = format!("/api/v1/query?query={}&time={time:.3}", urlencode(query));
        let data = self.api(&path);
        assert_eq!(data["resultType"], "matrix", "{query}: {data}");
        let mut out = BTreeMap::new();
        for s in data["result"].as_array().into_iter().flatten() {
            let samples = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (timestamp_ms(&p[0]), sample_value(p)))
                .collect();
            out.insert(label_map(&s["metric"]), samples);
        }
        out
    }

    /// `/api/v1/series` for one matcher over `[start, end]` (Unix seconds).
    pub fn series(&self, matcher: &str, start: f64, end: f64) -> BTreeSet<LabelMap> {
        let data = self.api(&format!(
            "/api/v1/series?match[]={}&start={start:.3}&end={end:.3}",
            urlencode(matcher)
        ));
        data.as_array()
            .into_iter()
            .flatten()
            .map(label_map)
            .collect()
    }

    /// The value of an unlabelled sample line `name value` on `/metrics`.
    pub fn self_metric(&self, name: &str) -> Option<f64> {
        let r = self.get("/metrics");
        r.body.lines().find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn label_map(v: &Value) -> LabelMap {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `[ts, "value"]` → the value (NaN/±Inf spelled as Prometheus does).
fn sample_value(pair: &Value) -> f64 {
    let s = pair[1]
        .as_str()
        .unwrap_or_else(|| panic!("bad sample {pair}"));
    argus_model::strconv::parse_float(s).unwrap_or_else(|e| panic!("bad value {s:?}: {e}"))
}

fn timestamp_ms(v: &Value) -> i64 {
    let secs = v.as_f64().unwrap_or_else(|| panic!("bad timestamp {v}"));
    (secs * 1000.0).round() as i64
}

/// `{a="b", c="d"}` from pairs, for building expected label maps.
pub fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

pub fn now_ms() -> i64 {
    (now_s() * 1000.0) as i64
}

/// Polls `check` every 250 ms until it returns `Ok`, panicking after
/// `timeout` with the last `Err` (what was seen instead).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; last seen: {last}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `argus server` on `127.0.0.1:port` with `config`, storage in `data`.
pub fn argus_server(data: &Path, config: &Path, port: u16, extra: &[&str]) -> Command {
    let mut c = crate::differential::argus_command(&crate::argus_bin(), data, config, port);
    c.args(extra);
    c
}

/// The reference Prometheus (3.x, from the peer cache: see [`crate::peers`])
/// on `127.0.0.1:port`; fails loudly when it is not built.
pub fn prometheus_server(data: &Path, config: &Path, port: u16, extra: &[&str]) -> Command {
    let mut c = Command::new(crate::peers::prometheus_bin());
    c.arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--config.file={}", config.display()))
        .args(extra);
    c
}

/// Starts `argus server` and waits until it is ready.
pub fn start_argus(dir: &Path, name: &str, config: &Path, extra: &[&str]) -> Daemon {
    let port = crate::differential::free_port();
    let mut d = Daemon::spawn(
        name,
        argus_server(&dir.join(format!("{name}-data")), config, port, extra),
        port,
        &dir.join(format!("{name}-{port}.log")),
    );
    d.wait_ready("/-/ready", Duration::from_secs(60));
    d
}

/// Starts `prometheus` and waits until it is ready.
pub fn start_prometheus(dir: &Path, name: &str, config: &Path, extra: &[&str]) -> Daemon {
    let port = crate::differential::free_port();
    let mut d = Daemon::spawn(
        name,
        prometheus_server(&dir.join(format!("{name}-data")), config, port, extra),
        port,
        &dir.join(format!("{name}-{port}.log")),
    );
    d.wait_ready("/-/ready", Duration::from_secs(60));
    d
}

/// Runs `argus server` on `config` (storage in `dir/data`) until it exits,
/// at most 15 s; returns its status and stderr. For starts that must fail.
pub fn run_server_to_exit(dir: &Path, config: &Path) -> (ExitStatus, String) {
    let stderr_path = config.with_extension("stderr");
    let mut child = argus_server(
        &dir.join("data"),
        config,
        crate::differential::free_port(),
        &[],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
    .spawn()
    .expect("spawn argus server");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "argus server kept running with {}:\n{}",
                config.display(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status,
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
