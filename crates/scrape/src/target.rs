//! Targets: labels from discovery and relabeling, scrape URL, identity and
//! the status the targets API shows.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_config::relabel::relabel;
use argus_config::scrape::ScrapeConfig;
use argus_model::duration::{DisplayMs, parse_duration};
use argus_model::{Labels, LabelsBuilder};
use parking_lot::Mutex;

use crate::{ActiveTarget, TargetHealth};

pub(crate) const ADDRESS: &str = "__address__";
pub(crate) const SCHEME: &str = "__scheme__";
pub(crate) const METRICS_PATH: &str = "__metrics_path__";
pub(crate) const SCRAPE_INTERVAL: &str = "__scrape_interval__";
pub(crate) const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
pub(crate) const PARAM_PREFIX: &str = "__param_";
const META_PREFIX: &str = "__meta_";
const RESERVED_PREFIX: &str = "__";

/// What one discovered target turned into.
pub(crate) enum Populated {
    Active(Target),
    /// Relabeling dropped it; the discovered labels are kept for the API.
    Dropped(Labels),
}

/// The result of the last scrape of a target.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetStatus {
    pub health: TargetHealth,
    pub last_error: String,
    pub last_scrape_ms: Option<i64>,
    pub last_scrape_duration: Duration,
}

#[derive(Debug)]
pub(crate) struct Target {
    /// What every scraped series gets: `labels` without `__` labels.
    pub public_labels: Labels,
    pub discovered: Labels,
    pub url: String,
    /// Identity within a pool: equal labels and URL are one target.
    pub hash: u64,
    pub interval: Duration,
    pub timeout: Duration,
    pub status: Mutex<TargetStatus>,
}

impl Target {
    pub fn report(&self, start_ms: i64, duration: Duration, error: Option<&str>) {
        let mut s = self.status.lock();
        s.health = if error.is_none() {
            TargetHealth::Up
        } else {
            TargetHealth::Down
        };
        s.last_error = error.unwrap_or_default().to_string();
        s.last_scrape_ms = Some(start_ms);
        s.last_scrape_duration = duration;
    }

    pub fn active(&self, pool: &str) -> ActiveTarget {
        let s = self.status.lock().clone();
        ActiveTarget {
            discovered_labels: self.discovered.clone(),
            labels: self.public_labels.clone(),
            scrape_pool: pool.to_string(),
            scrape_url: self.url.clone(),
            global_url: self.url.clone(),
            last_error: s.last_error,
            last_scrape_ms: s.last_scrape_ms,
            last_scrape_duration: s.last_scrape_duration,
            health: s.health,
            scrape_interval: self.interval,
            scrape_timeout: self.timeout,
        }
    }

    /// The start of this target's first scrape, after `now_ns` (wall clock):
    /// spread over the interval by the target hash so targets do not all
    /// fire at once, yet keep the same phase across restarts.
    pub fn offset(&self, now_ns: u128, seed: u64) -> Duration {
        let interval = self.interval.as_nanos().max(1);
        let base = interval - now_ns % interval;
        let offset = u128::from(self.hash ^ seed) % interval;
        let mut next = base + offset;
        if next > interval {
            next -= interval;
        }
        Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
    }
}

/// The labels a target has before relabeling: its own, then its group's,
/// then the job's defaults where not set.
pub(crate) fn discovered_labels(
    cfg: &ScrapeConfig,
    target: &BTreeMap<String, String>,
    group: &BTreeMap<String, String>,
) -> Labels {
    let mut b = LabelsBuilder::new();
    for (n, v) in group {
        b.set(n, v);
    }
    for (n, v) in target {
        b.set(n, v);
    }
    let interval = DisplayMs(cfg.scrape_interval.as_millis() as u64).to_string();
    let timeout = DisplayMs(cfg.scrape_timeout.as_millis() as u64).to_string();
    let defaults = [
        ("job", cfg.job_name.as_str()),
        (SCRAPE_INTERVAL, interval.as_str()),
        (SCRAPE_TIMEOUT, timeout.as_str()),
        (METRICS_PATH, cfg.metrics_path.as_str()),
        (SCHEME, cfg.scheme.as_str()),
    ];
    for (n, v) in defaults {
        if b.get(n).unwrap_or("").is_empty() {
            b.set(n, v);
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first()
            && b.get(&label).unwrap_or("").is_empty()
        {
            b.set(&label, first);
        }
    }
    b.build()
}

/// Builds a target from one discovered label set, as Prometheus's
/// `PopulateLabels`: relabeling, address check, interval and timeout, then
/// `__meta_*` removed and `instance` defaulted to the address.
pub(crate) fn populate(
    cfg: &ScrapeConfig,
    target: &BTreeMap<String, String>,
    group: &BTreeMap<String, String>,
) -> Result<Populated, String> {
    let discovered = discovered_labels(cfg, target, group);
    let relabeled = if cfg.relabel_configs.is_empty() {
        discovered.clone()
    } else {
        match relabel(&discovered, &cfg.relabel_configs) {
            Some(l) => l,
            None => return Ok(Populated::Dropped(discovered)),
        }
    };
    let addr = relabeled.get(ADDRESS).unwrap_or("");
    if addr.is_empty() {
        return Err("no address".to_string());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let (interval, timeout) = interval_and_timeout(&relabeled)?;

    let mut b = LabelsBuilder::new();
    for l in relabeled.iter() {
        if !l.name.starts_with(META_PREFIX) {
            b.set(l.name, l.value);
        }
    }
    if b.get("instance").unwrap_or("").is_empty() {
        b.set("instance", addr);
    }
    let labels = b.build();
    let public_labels = Labels::from_sorted(
        labels
            .iter()
            .filter(|l| !l.name.starts_with(RESERVED_PREFIX))
            .map(|l| (l.name, l.value)),
    )
    .unwrap_or_default();
    let url = scrape_url(cfg, &labels);
    let hash = target_hash(&labels, &url);
    Ok(Populated::Active(Target {
        public_labels,
        discovered,
        url,
        hash,
        interval,
        timeout,
        status: Mutex::new(TargetStatus::default()),
    }))
}

/// Interval and timeout from the (possibly relabeled) labels. Unparsable or
/// zero values reject the target as upstream does.
fn interval_and_timeout(labels: &Labels) -> Result<(Duration, Duration), String> {
    let interval_text = labels.get_or_empty(SCRAPE_INTERVAL);
    let interval =
        parse_duration(interval_text).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_string());
    }
    let timeout_text = labels.get_or_empty(SCRAPE_TIMEOUT);
    let timeout =
        parse_duration(timeout_text).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_string());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_text:?} > {interval_text:?})"
        ));
    }
    Ok((interval, timeout))
}

/// `scheme://address/path?params`, params from the config overridden by
/// `__param_<name>` labels, encoded sorted by name as Go's `url.Values`.
pub(crate) fn scrape_url(cfg: &ScrapeConfig, labels: &Labels) -> String {
    let mut params: BTreeMap<&str, Vec<&str>> = cfg
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            let values = params.entry(name).or_default();
            match values.first_mut() {
                Some(first) => *first = l.value,
                None => values.push(l.value),
            }
        }
    }
    let mut url = format!(
        "{}://{}{}",
        labels.get_or_empty(SCHEME),
        labels.get_or_empty(ADDRESS),
        labels.get_or_empty(METRICS_PATH)
    );
    let mut first = true;
    for (name, values) in &params {
        for v in values {
            url.push(if first { '?' } else { '&' });
            first = false;
            query_escape(name, &mut url);
            url.push('=');
            query_escape(v, &mut url);
        }
    }
    url
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

fn target_hash(labels: &Labels, url: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(labels.as_bytes());
    h.update(&[0xff]);
    h.update(url.as_bytes());
    h.digest()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config(job: &str) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job.to_string(),
            scrape_interval: Duration::from_secs(15),
            ..ScrapeConfig::default()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn active(p: Result<Populated, String>) -> Target {
        match p {
            Ok(Populated::Active(t)) => t,
            Ok(Populated::Dropped(l)) => panic!("dropped: {l}"),
            Err(e) => panic!("error: {e}"),
        }
    }

    #[test]
    fn target_labels_override_group_labels_and_meta_is_removed() {
        let cfg = config("node");
        let t = active(populate(
            &cfg,
            &map(&[("__address__", "h:9100"), ("env", "prod")]),
            &map(&[("env", "dev"), ("team", "a"), ("__meta_x", "y")]),
        ));
        assert_eq!(
            t.public_labels.to_string(),
            r#"{env="prod", instance="h:9100", job="node", team="a"}"#
        );
        assert_eq!(t.discovered.get("__meta_x"), Some("y"));
        assert_eq!(t.discovered.get("__scrape_interval__"), Some("15s"));
        assert_eq!(t.public_labels.get("__meta_x"), None);
        assert_eq!(t.url, "http://h:9100/metrics");
        assert_eq!(t.interval, Duration::from_secs(15));
    }

    #[test]
    fn params_go_to_the_url_and_labels_override_them() {
        let mut cfg = config("probe");
        cfg.params.insert(
            "module".to_string(),
            vec!["http 2xx".to_string(), "b".to_string()],
        );
        cfg.params.insert("a".to_string(), vec!["1".to_string()]);
        let t = active(populate(
            &cfg,
            &map(&[("__address__", "h:1"), ("__param_a", "x&y")]),
            &BTreeMap::new(),
        ));
        assert_eq!(t.url, "http://h:1/metrics?a=x%26y&module=http+2xx&module=b");
    }

    #[test]
    fn missing_address_and_bad_timeout_are_errors() {
        let cfg = config("j");
        assert!(populate(&cfg, &map(&[("a", "b")]), &BTreeMap::new()).is_err());
        let mut cfg = config("j");
        cfg.scrape_timeout = Duration::from_secs(20);
        let e = populate(&cfg, &map(&[("__address__", "h:1")]), &BTreeMap::new());
        assert!(matches!(e, Err(m) if m.contains("scrape timeout cannot be greater")));
    }

    #[test]
    fn offset_is_within_the_interval_and_stable() {
        let cfg = config("j");
        let t = active(populate(
            &cfg,
            &map(&[("__address__", "h:1")]),
            &BTreeMap::new(),
        ));
        let now = 1_700_000_000_123_456_789u128;
        let a = t.offset(now, 7);
        assert!(a <= t.interval);
        // The first scrape lands on the same phase whatever the start time.
        let phase = |now: u128, off: Duration| (now + off.as_nanos()) % t.interval.as_nanos();
        let later = now + 3_333_333_333;
        assert_eq!(phase(now, a), phase(later, t.offset(later, 7)));
    }
}
