//! `scrape_configs` entries, with defaults from Prometheus and `global`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::discovery::{
    RawDnsSdConfig, RawFileSdConfig, RawKubernetesSdConfig, RawSdFields, RawStaticConfig,
    service_discovery,
};
use super::http::{default_client, http_client, with_http_client_fields};
use super::relabel::{RawRelabelConfig, relabel_configs};
use super::{At, Ctx, Res, de_bytes, de_duration, invalid};
use crate::discovery::SdConfig;
use crate::scrape::ScrapeConfig;

/// Prometheus's scrape protocol names.
pub const SCRAPE_PROTOCOLS: [&str; 5] = [
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

/// Offered when nothing is configured.
pub const DEFAULT_SCRAPE_PROTOCOLS: [&str; 4] = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

/// Offered by default when native histograms are scraped.
pub const PROTO_FIRST_SCRAPE_PROTOCOLS: [&str; 5] = [
    "PrometheusProto",
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

const ESCAPING_SCHEMES: [&str; 4] = ["allow-utf-8", "underscores", "dots", "values"];

/// What a job inherits from `global`.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobDefaults {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub scrape_protocols: Option<Vec<String>>,
    pub scrape_native_histograms: bool,
    pub legacy_names: bool,
    pub escaping_scheme: Option<String>,
}

with_http_client_fields! {
    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct RawScrapeConfig {
        job_name: Option<String>,
        honor_labels: Option<bool>,
        honor_timestamps: Option<bool>,
        track_timestamps_staleness: Option<bool>,
        params: Option<BTreeMap<String, Vec<String>>>,
        #[serde(deserialize_with = "de_duration")]
        scrape_interval: Option<Duration>,
        #[serde(deserialize_with = "de_duration")]
        scrape_timeout: Option<Duration>,
        scrape_protocols: Option<Vec<String>>,
        fallback_scrape_protocol: Option<String>,
        scrape_native_histograms: Option<bool>,
        always_scrape_classic_histograms: Option<bool>,
        convert_classic_histograms_to_nhcb: Option<bool>,
        scrape_failure_log_file: Option<String>,
        metrics_path: Option<String>,
        scheme: Option<String>,
        enable_compression: Option<bool>,
        #[serde(deserialize_with = "de_bytes")]
        body_size_limit: Option<u64>,
        sample_limit: Option<u64>,
        target_limit: Option<u64>,
        label_limit: Option<u64>,
        label_name_length_limit: Option<u64>,
        label_value_length_limit: Option<u64>,
        native_histogram_bucket_limit: Option<u64>,
        native_histogram_min_bucket_factor: Option<f64>,
        keep_dropped_targets: Option<u64>,
        metric_name_validation_scheme: Option<String>,
        metric_name_escaping_scheme: Option<String>,
        extra_scrape_metrics: Option<bool>,
        static_configs: Option<Vec<RawStaticConfig>>,
        file_sd_configs: Option<Vec<RawFileSdConfig>>,
        dns_sd_configs: Option<Vec<RawDnsSdConfig>>,
        kubernetes_sd_configs: Option<Vec<RawKubernetesSdConfig>>,
        relabel_configs: Option<Vec<RawRelabelConfig>>,
        metric_relabel_configs: Option<Vec<RawRelabelConfig>>,
        sigv4: Option<IgnoredAny>,
    }
}

/// `scrape_protocols` as Prometheus checks them: non-empty, known names,
/// no duplicates (ignoring case).
pub(crate) fn check_scrape_protocols(protocols: &[String], at: &At) -> Res<()> {
    if protocols.is_empty() {
        return invalid(at, "scrape_protocols cannot be empty");
    }
    for (i, p) in protocols.iter().enumerate() {
        if !SCRAPE_PROTOCOLS.contains(&p.as_str()) {
            let hint = crate::suggest::closest(p, &SCRAPE_PROTOCOLS)
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            return invalid(
                &at.index(i),
                format!(
                    "unknown scrape protocol {p:?}; {hint}supported: {}",
                    SCRAPE_PROTOCOLS.join(", ")
                ),
            );
        }
        if protocols[..i].iter().any(|q| q.eq_ignore_ascii_case(p)) {
            return invalid(
                &at.index(i),
                format!("duplicated protocol in scrape_protocols: {p:?}"),
            );
        }
    }
    Ok(())
}

/// `utf8` (false) or `legacy` (true); unset is `None`.
pub(crate) fn validation_scheme(value: Option<&str>, at: &At) -> Res<Option<bool>> {
    match value {
        None | Some("") => Ok(None),
        Some("utf8") => Ok(Some(false)),
        Some("legacy") => Ok(Some(true)),
        Some(other) => invalid(
            at,
            format!(
                "unknown metric_name_validation_scheme {other:?}, must be either 'legacy' or 'utf8'"
            ),
        ),
    }
}

pub(crate) fn check_escaping_scheme(value: Option<&str>, at: &At) -> Res<()> {
    match value {
        None | Some("") => Ok(()),
        Some(v) if ESCAPING_SCHEMES.contains(&v) => Ok(()),
        Some(v) => invalid(
            at,
            format!(
                "unknown metric_name_escaping_scheme {v:?}, must be one of {}",
                ESCAPING_SCHEMES.join(", ")
            ),
        ),
    }
}

pub(crate) fn scrape_config(
    mut raw: RawScrapeConfig,
    at: &At,
    defaults: &JobDefaults,
    ctx: &Ctx,
) -> Res<ScrapeConfig> {
    let job_name = raw.job_name.take().unwrap_or_default();
    if job_name.is_empty() {
        return invalid(&at.key("job_name"), "job_name is empty");
    }
    super::unsupported(raw.sigv4.is_some(), at, "sigv4")?;
    let http = http_client(raw.take_http(), at, &ctx.base_dir, default_client())?;

    let scrape_interval = raw
        .scrape_interval
        .filter(|d| !d.is_zero())
        .unwrap_or(defaults.scrape_interval);
    let scrape_timeout = match raw.scrape_timeout.filter(|d| !d.is_zero()) {
        Some(t) if t > scrape_interval => {
            return invalid(
                &at.key("scrape_timeout"),
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {job_name:?}"
                ),
            );
        }
        Some(t) => t,
        None => defaults.scrape_timeout.min(scrape_interval),
    };

    let native_histograms = raw
        .scrape_native_histograms
        .unwrap_or(defaults.scrape_native_histograms);
    let scrape_protocols = match raw.scrape_protocols.take() {
        Some(p) => p,
        None => match &defaults.scrape_protocols {
            Some(p) => p.clone(),
            None if native_histograms => PROTO_FIRST_SCRAPE_PROTOCOLS.map(String::from).to_vec(),
            None => DEFAULT_SCRAPE_PROTOCOLS.map(String::from).to_vec(),
        },
    };
    check_scrape_protocols(&scrape_protocols, &at.key("scrape_protocols"))?;
    if let Some(p) = raw
        .fallback_scrape_protocol
        .as_deref()
        .filter(|p| !p.is_empty())
        && !SCRAPE_PROTOCOLS.contains(&p)
    {
        return invalid(
            &at.key("fallback_scrape_protocol"),
            format!(
                "invalid fallback_scrape_protocol {p:?}, supported: {}",
                SCRAPE_PROTOCOLS.join(", ")
            ),
        );
    }

    let local_scheme = validation_scheme(
        raw.metric_name_validation_scheme.as_deref(),
        &at.key("metric_name_validation_scheme"),
    )?;
    let legacy_names = local_scheme.unwrap_or(defaults.legacy_names);
    let escaping_at = at.key("metric_name_escaping_scheme");
    check_escaping_scheme(raw.metric_name_escaping_scheme.as_deref(), &escaping_at)?;
    let escaping = match raw
        .metric_name_escaping_scheme
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(s) => s.to_string(),
        None if local_scheme.is_none() => defaults.escaping_scheme.clone().unwrap_or_else(|| {
            if legacy_names {
                "underscores"
            } else {
                "allow-utf-8"
            }
            .to_string()
        }),
        None if legacy_names => "underscores".to_string(),
        None => "allow-utf-8".to_string(),
    };
    if escaping == "allow-utf-8" && legacy_names {
        return invalid(
            &escaping_at,
            "utf8 metric names requested but validation scheme is not set to UTF8",
        );
    }

    let fallback = ScrapeConfig::default();
    let scheme = raw
        .scheme
        .take()
        .filter(|s| !s.is_empty())
        .unwrap_or(fallback.scheme);
    if scheme != "http" && scheme != "https" {
        return invalid(
            &at.key("scheme"),
            format!("invalid scheme {scheme:?}: must be \"http\" or \"https\""),
        );
    }

    let job_ctx = Ctx {
        legacy_names,
        ..ctx.clone()
    };
    let relabel = relabel_configs(
        raw.relabel_configs.take(),
        &at.key("relabel_configs"),
        &job_ctx,
    )?;
    let metric_relabel = relabel_configs(
        raw.metric_relabel_configs.take(),
        &at.key("metric_relabel_configs"),
        &job_ctx,
    )?;
    let sd = RawSdFields {
        static_configs: raw.static_configs.take(),
        file_sd_configs: raw.file_sd_configs.take(),
        dns_sd_configs: raw.dns_sd_configs.take(),
        kubernetes_sd_configs: raw.kubernetes_sd_configs.take(),
    };
    let service_discovery = service_discovery(sd, at, &job_ctx)?;
    if relabel.is_empty() {
        check_static_targets(&service_discovery, at)?;
    }

    let or_global = |v: Option<u64>, global: u64| v.filter(|v| *v != 0).unwrap_or(global);
    Ok(ScrapeConfig {
        job_name,
        honor_labels: raw.honor_labels.unwrap_or(fallback.honor_labels),
        honor_timestamps: raw.honor_timestamps.unwrap_or(fallback.honor_timestamps),
        track_timestamps_staleness: raw
            .track_timestamps_staleness
            .unwrap_or(fallback.track_timestamps_staleness),
        params: raw.params.take().unwrap_or_default(),
        scrape_interval,
        scrape_timeout,
        scrape_protocols,
        metrics_path: raw
            .metrics_path
            .take()
            .filter(|p| !p.is_empty())
            .unwrap_or(fallback.metrics_path),
        scheme,
        enable_compression: raw
            .enable_compression
            .unwrap_or(fallback.enable_compression),
        body_size_limit: or_global(raw.body_size_limit, defaults.body_size_limit),
        sample_limit: or_global(raw.sample_limit, defaults.sample_limit),
        target_limit: or_global(raw.target_limit, defaults.target_limit),
        label_limit: or_global(raw.label_limit, defaults.label_limit),
        label_name_length_limit: or_global(
            raw.label_name_length_limit,
            defaults.label_name_length_limit,
        ),
        label_value_length_limit: or_global(
            raw.label_value_length_limit,
            defaults.label_value_length_limit,
        ),
        keep_dropped_targets: or_global(raw.keep_dropped_targets, defaults.keep_dropped_targets),
        http,
        service_discovery,
        relabel_configs: relabel,
        metric_relabel_configs: metric_relabel,
    })
}

/// Without relabeling a static target is used as written, so a URL there
/// is a mistake (Prometheus's `CheckTargetAddress`).
pub(crate) fn check_static_targets(sd: &[SdConfig], at: &At) -> Res<()> {
    let mut static_index = 0;
    for cfg in sd {
        if let SdConfig::Static(s) = cfg {
            for (i, t) in s.targets.iter().enumerate() {
                if t.contains('/') {
                    let at = at
                        .key("static_configs")
                        .index(static_index)
                        .key("targets")
                        .index(i);
                    return invalid(&at, format!("{t:?} is not a valid hostname"));
                }
            }
            static_index += 1;
        }
    }
    Ok(())
}
