//! Request headers derived from the job config.

/// Every protocol Prometheus knows, as `scrape_protocols` spells them, with
/// its media type; the weights of the Accept header count all of them.
const PROTOCOLS: [(&str, &str); 5] = [
    (
        "PrometheusProto",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ),
    ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
    ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
    (
        "OpenMetricsText0.0.1",
        "application/openmetrics-text;version=0.0.1",
    ),
    (
        "OpenMetricsText1.0.0",
        "application/openmetrics-text;version=1.0.0",
    ),
];

/// Prometheus's default preference.
const DEFAULT_PROTOCOLS: [&str; 4] = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// The Accept header for `protocols` in preference order, with decreasing
/// q-values and `*/*` last. Protobuf is left out: only the text formats are
/// parsed. The newer text formats ask for names escaped to the classic
/// character set, which is what the parser reads.
pub(crate) fn accept_header(protocols: &[String]) -> String {
    let chosen: Vec<&str> = if protocols.is_empty() {
        DEFAULT_PROTOCOLS.to_vec()
    } else {
        protocols.iter().map(String::as_str).collect()
    };
    let mut weight = PROTOCOLS.len() + 1;
    let mut parts = Vec::with_capacity(chosen.len() + 1);
    for name in chosen {
        let Some((_, media)) = PROTOCOLS.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        if name == "PrometheusProto" {
            continue;
        }
        let escaping = if name == "PrometheusText1.0.0" || name == "OpenMetricsText1.0.0" {
            ";escaping=underscores"
        } else {
            ""
        };
        parts.push(format!("{media}{escaping};q=0.{weight}"));
        weight = weight.saturating_sub(1);
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

pub(crate) fn accept_encoding(enable_compression: bool) -> &'static str {
    if enable_compression {
        "gzip"
    } else {
        "identity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefers_openmetrics() {
        assert_eq!(
            accept_header(&[]),
            "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=underscores;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
    }

    #[test]
    fn configured_order_is_kept() {
        let p = vec!["PrometheusText0.0.4".to_string()];
        assert_eq!(
            accept_header(&p),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
    }
}
