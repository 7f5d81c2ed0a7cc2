//! The data of the `/api/v1/status/*` endpoints, in upstream's JSON shape.

use std::collections::{BTreeMap, HashMap};

use argus_model::labels::Labels;
use serde::Serialize;

/// `/api/v1/status/buildinfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
            go_version: format!("rust{}", env!("CARGO_PKG_RUST_VERSION")),
        }
    }
}

/// `/api/v1/status/runtimeinfo`.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "CWD")]
    pub cwd: String,
    pub hostname: String,
    #[serde(rename = "serverTime")]
    pub server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    pub reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    pub last_config_time: String,
    #[serde(rename = "corruptionCount")]
    pub corruption_count: i64,
    #[serde(rename = "goroutineCount")]
    pub goroutine_count: i64,
    #[serde(rename = "GOMAXPROCS")]
    pub gomaxprocs: i64,
    #[serde(rename = "GOMEMLIMIT")]
    pub gomemlimit: i64,
    #[serde(rename = "GOGC")]
    pub gogc: String,
    #[serde(rename = "GODEBUG")]
    pub godebug: String,
    #[serde(rename = "storageRetention")]
    pub storage_retention: String,
}

/// A millisecond timestamp as Go marshals a `time.Time` (RFC 3339 with
/// the fraction's trailing zeros dropped).
pub fn go_time(ms: i64) -> String {
    let s = argus_model::time::format_rfc3339(ms);
    match s.strip_suffix('Z').and_then(|x| x.rsplit_once('.')) {
        Some((head, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{frac}Z")
            }
        }
        None => s,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TsdbStat {
    pub name: String,
    pub value: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: i64,
    pub min_time: i64,
    pub max_time: i64,
}

/// `/api/v1/status/tsdb`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    pub head_stats: HeadStats,
    pub series_count_by_metric_name: Vec<TsdbStat>,
    pub label_value_count_by_label_name: Vec<TsdbStat>,
    pub memory_in_bytes_by_label_name: Vec<TsdbStat>,
    pub series_count_by_label_value_pair: Vec<TsdbStat>,
}

/// Provides `/api/v1/status/tsdb` (the server implements it over its head).
pub trait TsdbStatusSource: Send + Sync {
    /// Head statistics with the top `limit` entries of each list. Called on
    /// a blocking thread.
    fn tsdb_status(&self, limit: usize) -> TsdbStatus;
    /// The first and last WAL segment, for `/api/v1/status/walreplay`.
    fn wal_segments(&self) -> Option<(u64, u64)> {
        None
    }
}

fn top(map: HashMap<String, u64>, limit: usize) -> Vec<TsdbStat> {
    let mut v: Vec<TsdbStat> = map
        .into_iter()
        .map(|(name, value)| TsdbStat { name, value })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}

impl TsdbStatus {
    /// Cardinality statistics over the head's series label sets, computed
    /// as Prometheus's postings statistics are.
    pub fn from_series<'a>(
        series: impl IntoIterator<Item = &'a Labels>,
        chunk_count: i64,
        min_time: i64,
        max_time: i64,
        limit: usize,
    ) -> TsdbStatus {
        let mut num_series = 0u64;
        let mut by_metric: HashMap<String, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        let mut values: BTreeMap<String, HashMap<String, ()>> = BTreeMap::new();
        for l in series {
            num_series += 1;
            for lb in l.iter() {
                if lb.name == argus_model::labels::METRIC_NAME {
                    *by_metric.entry(lb.value.to_string()).or_default() += 1;
                }
                *by_pair
                    .entry(format!("{}={}", lb.name, lb.value))
                    .or_default() += 1;
                values
                    .entry(lb.name.to_string())
                    .or_default()
                    .entry(lb.value.to_string())
                    .or_default();
            }
        }
        let num_label_pairs = by_pair.len() as u64;
        let mut value_count = HashMap::new();
        let mut memory = HashMap::new();
        for (name, vals) in values {
            value_count.insert(name.clone(), vals.len() as u64);
            memory.insert(name, vals.keys().map(|v| v.len() as u64).sum());
        }
        TsdbStatus {
            head_stats: HeadStats {
                num_series,
                num_label_pairs,
                chunk_count,
                min_time,
                max_time,
            },
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(value_count, limit),
            memory_in_bytes_by_label_name: top(memory, limit),
            series_count_by_label_value_pair: top(by_pair, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_times() {
        assert_eq!(go_time(1_000), "1970-01-01T00:00:01Z");
        assert_eq!(go_time(1_120), "1970-01-01T00:00:01.12Z");
        assert_eq!(go_time(1_123), "1970-01-01T00:00:01.123Z");
        assert_eq!(go_time(1_100), "1970-01-01T00:00:01.1Z");
        assert_eq!(go_time(10_000), "1970-01-01T00:00:10Z");
    }

    #[test]
    fn cardinality() {
        let s = [
            Labels::from_pairs(&[("__name__", "a"), ("job", "x")]),
            Labels::from_pairs(&[("__name__", "a"), ("job", "y")]),
            Labels::from_pairs(&[("__name__", "b"), ("job", "x")]),
        ];
        let st = TsdbStatus::from_series(&s, 3, 1, 2, 10);
        assert_eq!(st.head_stats.num_series, 3);
        assert_eq!(st.head_stats.num_label_pairs, 4);
        assert_eq!(
            st.series_count_by_metric_name[0],
            TsdbStat {
                name: "a".into(),
                value: 2
            }
        );
        assert_eq!(st.label_value_count_by_label_name.len(), 2);
        assert_eq!(st.series_count_by_label_value_pair[0].name, "__name__=a");
        assert_eq!(st.series_count_by_label_value_pair[1].name, "job=x");
        let st = TsdbStatus::from_series(&s, 3, 1, 2, 1);
        assert_eq!(st.series_count_by_label_value_pair.len(), 1);
    }
}
