//! `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`:
//! what the scrape layer knows about its targets, in Prometheus's JSON.
//!
//! The API does not depend on the scraper: the server hands it a
//! [`ScrapeStatusSource`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use argus_model::Labels;
use argus_model::duration::DisplayMs;
use serde::Serialize;

use crate::params::{Params, invalid_param};
use crate::response::ApiError;

/// One active target.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub discovered_labels: Labels,
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub last_error: String,
    /// Unix milliseconds; `None` before the first scrape.
    pub last_scrape_ms: Option<i64>,
    pub last_scrape_duration: Duration,
    /// `up`, `down` or `unknown`.
    pub health: &'static str,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
}

/// A target dropped by relabeling.
#[derive(Debug, Clone)]
pub struct DroppedTargetInfo {
    pub discovered_labels: Labels,
    pub scrape_pool: String,
}

/// Metadata of one metric family as a target exposed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MetricMetadataInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// The metadata of one target.
#[derive(Debug, Clone)]
pub struct TargetMetadataInfo {
    pub target: Labels,
    /// Family name and its metadata, in the order the target exposed them.
    pub metrics: Vec<(String, MetricMetadataInfo)>,
}

/// The scrape layer, as the API sees it.
pub trait ScrapeStatusSource: Send + Sync {
    fn active_targets(&self) -> Vec<TargetInfo>;
    fn dropped_targets(&self) -> Vec<DroppedTargetInfo>;
    fn target_metadata(&self) -> Vec<TargetMetadataInfo>;
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveJson<'a> {
    discovered_labels: &'a Labels,
    labels: &'a Labels,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: &'a str,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'a str,
    scrape_interval: String,
    scrape_timeout: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedJson<'a> {
    discovered_labels: &'a Labels,
    scrape_pool: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetsJson<'a> {
    active_targets: Vec<ActiveJson<'a>>,
    dropped_targets: Vec<DroppedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped_target_counts: Option<BTreeMap<&'a str, usize>>,
}

/// How targets on this machine are named for other machines: Prometheus's
/// `globalUrl` replaces a loopback host by the external host.
#[derive(Debug, Clone, Default)]
pub struct ExternalHost {
    /// Scheme of the external URL (`http`, `https`).
    pub scheme: String,
    /// Host and port of the external URL, as other machines reach this one.
    pub authority: String,
    /// This server's own port, as in `--web.listen-address`.
    pub port: String,
}

impl ExternalHost {
    /// The machine's host name, for the default external URL.
    pub fn hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_string())
    }

    /// From the external URL (`--web.external-url` or its default) and
    /// `--web.listen-address`.
    pub fn new(external_url: &str, listen_address: &str) -> ExternalHost {
        let (scheme, rest) = external_url
            .split_once("://")
            .unwrap_or(("http", external_url));
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        let port = listen_address
            .rsplit_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        ExternalHost {
            scheme: scheme.to_string(),
            authority,
            port,
        }
    }

    /// As Prometheus's getGlobalURL: a loopback target on this server's
    /// own port is this server, reached at the external URL; another
    /// loopback target keeps its port on the external host name.
    fn global_url(&self, scrape_url: &str) -> String {
        let Some((scheme, rest)) = scrape_url.split_once("://") else {
            return scrape_url.to_string();
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority);
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
        if !loopback || self.authority.is_empty() {
            return scrape_url.to_string();
        }
        let (ext_host, _) = split_host_port(&self.authority);
        let ext_host = if ext_host.contains(':') {
            format!("[{ext_host}]")
        } else {
            ext_host.to_string()
        };
        match port {
            Some(p) if p == self.port => format!("{}://{}{path}", self.scheme, self.authority),
            Some(p) => format!("{scheme}://{ext_host}:{p}{path}"),
            None => format!("{scheme}://{ext_host}{path}"),
        }
    }
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some((h, p)) = authority
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
    {
        return (h, p.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (authority, None),
    }
}

/// Go's `RFC3339Nano` in UTC (trailing zeros of the fraction dropped), and
/// Go's zero time before the first scrape.
fn last_scrape_time(ms: Option<i64>) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => {
            let s = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let body = s.trim_end_matches('Z').trim_end_matches('0');
            format!("{}Z", body.trim_end_matches('.'))
        }
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

fn duration_text(d: Duration) -> String {
    DisplayMs(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).to_string()
}

/// The `data` of `/api/v1/targets`.
pub fn targets_json(src: &dyn ScrapeStatusSource, host: &ExternalHost, p: &Params) -> String {
    let pool_filter = p.value("scrapePool");
    let state = p.value("state").to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let wanted = |pool: &str| pool_filter.is_empty() || pool == pool_filter;

    let mut active = if show_active {
        src.active_targets()
    } else {
        Vec::new()
    };
    active.retain(|t| wanted(&t.scrape_pool));
    active.sort_by(|a, b| a.scrape_pool.cmp(&b.scrape_pool));
    let dropped_all = if show_dropped {
        src.dropped_targets()
    } else {
        Vec::new()
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &dropped_all {
        *counts.entry(d.scrape_pool.as_str()).or_default() += 1;
    }
    let mut dropped: Vec<&DroppedTargetInfo> = dropped_all
        .iter()
        .filter(|d| wanted(&d.scrape_pool))
        .collect();
    dropped.sort_by(|a, b| a.scrape_pool.cmp(&b.scrape_pool));

    let body = TargetsJson {
        active_targets: active
            .iter()
            .map(|t| ActiveJson {
                discovered_labels: &t.discovered_labels,
                labels: &t.labels,
                scrape_pool: &t.scrape_pool,
                scrape_url: &t.scrape_url,
                global_url: host.global_url(&t.scrape_url),
                last_error: &t.last_error,
                last_scrape: last_scrape_time(t.last_scrape_ms),
                last_scrape_duration: t.last_scrape_duration.as_secs_f64(),
                health: t.health,
                scrape_interval: duration_text(t.scrape_interval),
                scrape_timeout: duration_text(t.scrape_timeout),
            })
            .collect(),
        dropped_targets: dropped
            .iter()
            .map(|d| DroppedJson {
                discovered_labels: &d.discovered_labels,
                scrape_pool: &d.scrape_pool,
            })
            .collect(),
        dropped_target_counts: show_dropped.then_some(counts),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_string())
}

/// An optional integer parameter; -1 when absent, as Prometheus.
fn int_param(p: &Params, name: &str) -> Result<i64, ApiError> {
    let v = p.value(name);
    if v.is_empty() {
        return Ok(-1);
    }
    v.parse()
        .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
}

#[derive(Serialize)]
struct TargetMetadataJson<'a> {
    target: &'a Labels,
    #[serde(skip_serializing_if = "str::is_empty")]
    metric: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// The `data` of `/api/v1/targets/metadata`.
pub fn target_metadata_json(src: &dyn ScrapeStatusSource, p: &Params) -> Result<String, ApiError> {
    let limit = int_param(p, "limit")?;
    let match_target = p.value("match_target");
    let matchers = if match_target.is_empty() {
        Vec::new()
    } else {
        argus_promql::parse_selector(match_target).map_err(|e| invalid_param("match_target", e))?
    };
    let metric = p.value("metric");
    let targets = src.target_metadata();
    let mut out: Vec<TargetMetadataJson<'_>> = Vec::new();
    for t in &targets {
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        if !argus_model::matcher::matches_all(&matchers, &t.target) {
            continue;
        }
        for (family, md) in &t.metrics {
            if !metric.is_empty() && family != metric {
                continue;
            }
            out.push(TargetMetadataJson {
                target: &t.target,
                // With `metric` given, Prometheus leaves the family out.
                metric: if metric.is_empty() { family } else { "" },
                kind: &md.kind,
                help: &md.help,
                unit: &md.unit,
            });
        }
    }
    serde_json::to_string(&out).map_err(|e| ApiError::internal(e.to_string()))
}

/// The `data` of `/api/v1/metadata`: distinct metadata per family over all
/// targets.
pub fn metric_metadata_json(src: &dyn ScrapeStatusSource, p: &Params) -> Result<String, ApiError> {
    let limit = int_param(p, "limit")?;
    let limit_per_metric = int_param(p, "limit_per_metric")?;
    let metric = p.value("metric");
    let mut families: BTreeMap<String, BTreeSet<MetricMetadataInfo>> = BTreeMap::new();
    for t in src.target_metadata() {
        for (family, md) in t.metrics {
            if !metric.is_empty() && family != metric {
                continue;
            }
            let set = families.entry(family).or_default();
            if limit_per_metric > 0 && set.len() as i64 >= limit_per_metric {
                continue;
            }
            set.insert(md);
        }
    }
    let mut out: BTreeMap<String, Vec<MetricMetadataInfo>> = BTreeMap::new();
    for (family, set) in families {
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        out.insert(family, set.into_iter().collect());
    }
    serde_json::to_string(&out).map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl ScrapeStatusSource for Fixed {
        fn active_targets(&self) -> Vec<TargetInfo> {
            vec![TargetInfo {
                discovered_labels: Labels::from_pairs(&[
                    ("__address__", "localhost:9100"),
                    ("job", "node"),
                ]),
                labels: Labels::from_pairs(&[("instance", "localhost:9100"), ("job", "node")]),
                scrape_pool: "node".into(),
                scrape_url: "http://localhost:9100/metrics".into(),
                last_error: String::new(),
                last_scrape_ms: Some(1_700_000_000_123),
                last_scrape_duration: Duration::from_millis(12),
                health: "up",
                scrape_interval: Duration::from_secs(15),
                scrape_timeout: Duration::from_secs(10),
            }]
        }

        fn dropped_targets(&self) -> Vec<DroppedTargetInfo> {
            vec![DroppedTargetInfo {
                discovered_labels: Labels::from_pairs(&[("__address__", "x:1")]),
                scrape_pool: "node".into(),
            }]
        }

        fn target_metadata(&self) -> Vec<TargetMetadataInfo> {
            let md = |k: &str, h: &str| MetricMetadataInfo {
                kind: k.into(),
                help: h.into(),
                unit: String::new(),
            };
            vec![
                TargetMetadataInfo {
                    target: Labels::from_pairs(&[("instance", "a"), ("job", "node")]),
                    metrics: vec![
                        ("up_time".into(), md("gauge", "uptime")),
                        ("reqs".into(), md("counter", "requests")),
                    ],
                },
                TargetMetadataInfo {
                    target: Labels::from_pairs(&[("instance", "b"), ("job", "node")]),
                    metrics: vec![("reqs".into(), md("counter", "requests total"))],
                },
            ]
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    #[test]
    fn targets_in_prometheus_shape() {
        let host = ExternalHost::new("http://box:9090", "0.0.0.0:9090");
        let s = targets_json(&Fixed, &host, &params(&[]));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        let t = &v["activeTargets"][0];
        assert_eq!(t["globalUrl"], "http://box:9100/metrics");
        assert_eq!(t["lastScrape"], "2023-11-14T22:13:20.123Z");
        assert_eq!(
            last_scrape_time(Some(1_700_000_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(t["scrapeInterval"], "15s");
        assert_eq!(t["lastScrapeDuration"], 0.012);
        assert_eq!(t["labels"]["job"], "node");
        assert_eq!(v["droppedTargetCounts"]["node"], 1);
        assert_eq!(v["droppedTargets"][0]["scrapePool"], "node");
        let s = targets_json(&Fixed, &host, &params(&[("state", "active")]));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v["droppedTargets"].as_array().map(Vec::len), Some(0));
        assert!(v.get("droppedTargetCounts").is_none());
        let s = targets_json(&Fixed, &host, &params(&[("scrapePool", "other")]));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v["activeTargets"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn global_urls_as_prometheus() {
        let host = ExternalHost::new("https://prom.example.com:443/p", ":9090");
        for (scrape, want) in [
            // Ourselves: the external URL's scheme, host and port.
            (
                "http://localhost:9090/metrics",
                "https://prom.example.com:443/metrics",
            ),
            // Another local process: the external host, its own port.
            (
                "http://127.0.0.1:9100/metrics",
                "http://prom.example.com:9100/metrics",
            ),
            ("http://[::1]:9100/m", "http://prom.example.com:9100/m"),
            ("http://node:9100/metrics", "http://node:9100/metrics"),
        ] {
            assert_eq!(host.global_url(scrape), want, "{scrape}");
        }
    }

    #[test]
    fn metadata_endpoints() {
        let s = metric_metadata_json(&Fixed, &params(&[])).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v["reqs"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["up_time"][0]["type"], "gauge");
        let s =
            metric_metadata_json(&Fixed, &params(&[("limit_per_metric", "1")])).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v["reqs"].as_array().map(Vec::len), Some(1));
        assert!(metric_metadata_json(&Fixed, &params(&[("limit", "x")])).is_err());

        let s = target_metadata_json(&Fixed, &params(&[("match_target", "{instance=\"b\"}")]))
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v.as_array().map(Vec::len), Some(1));
        assert_eq!(v[0]["metric"], "reqs");
        let s = target_metadata_json(&Fixed, &params(&[("metric", "reqs")])).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v.as_array().map(Vec::len), Some(2));
        assert!(v[0].get("metric").is_none());
        assert!(target_metadata_json(&Fixed, &params(&[("match_target", "{")])).is_err());
    }
}
