//! `remote_write`, `remote_read` and `alerting`.

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
use super::scrape::check_static_targets;
use super::{At, Ctx, Res, check_http_url, de_duration, invalid, only_default, unsupported};
use crate::http::HttpClientConfig;
use crate::remote::{
    AlertingConfig, AlertmanagerConfig, MetadataConfig, QueueConfig, RemoteReadConfig,
    RemoteWriteConfig,
};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawQueueConfig {
    capacity: Option<i64>,
    max_shards: Option<i64>,
    min_shards: Option<i64>,
    max_samples_per_send: Option<i64>,
    #[serde(deserialize_with = "de_duration")]
    batch_send_deadline: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    min_backoff: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    max_backoff: Option<Duration>,
    retry_on_http_429: Option<bool>,
    #[serde(deserialize_with = "de_duration")]
    sample_age_limit: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawMetadataConfig {
    send: Option<bool>,
    #[serde(deserialize_with = "de_duration")]
    send_interval: Option<Duration>,
    max_samples_per_send: Option<i64>,
}

with_http_client_fields! {
    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct RawRemoteWriteConfig {
        url: Option<String>,
        #[serde(deserialize_with = "de_duration")]
        remote_timeout: Option<Duration>,
        headers: Option<BTreeMap<String, String>>,
        write_relabel_configs: Option<Vec<RawRelabelConfig>>,
        name: Option<String>,
        send_exemplars: Option<bool>,
        send_native_histograms: Option<bool>,
        round_robin_dns: Option<bool>,
        protobuf_message: Option<String>,
        failed_request_logging: Option<bool>,
        queue_config: Option<RawQueueConfig>,
        metadata_config: Option<RawMetadataConfig>,
        sigv4: Option<IgnoredAny>,
        azuread: Option<IgnoredAny>,
        google_iam: Option<IgnoredAny>,
    }
}

with_http_client_fields! {
    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct RawRemoteReadConfig {
        url: Option<String>,
        #[serde(deserialize_with = "de_duration")]
        remote_timeout: Option<Duration>,
        chunked_read_limit: Option<u64>,
        headers: Option<BTreeMap<String, String>>,
        read_recent: Option<bool>,
        name: Option<String>,
        required_matchers: Option<BTreeMap<String, String>>,
        filter_external_labels: Option<bool>,
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawAlertingConfig {
    alert_relabel_configs: Option<Vec<RawRelabelConfig>>,
    alertmanagers: Option<Vec<RawAlertmanagerConfig>>,
}

with_http_client_fields! {
    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct RawAlertmanagerConfig {
        scheme: Option<String>,
        path_prefix: Option<String>,
        #[serde(deserialize_with = "de_duration")]
        timeout: Option<Duration>,
        api_version: Option<String>,
        static_configs: Option<Vec<RawStaticConfig>>,
        file_sd_configs: Option<Vec<RawFileSdConfig>>,
        dns_sd_configs: Option<Vec<RawDnsSdConfig>>,
        kubernetes_sd_configs: Option<Vec<RawKubernetesSdConfig>>,
        relabel_configs: Option<Vec<RawRelabelConfig>>,
        alert_relabel_configs: Option<Vec<RawRelabelConfig>>,
        sigv4: Option<IgnoredAny>,
    }
}

/// Prometheus's `validateHeaders` for remote write/read `headers`.
fn check_headers(headers: &BTreeMap<String, String>, at: &At) -> Res<()> {
    const RESERVED: &[&str] = &[
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "www-authenticate",
        "accept-encoding",
        "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ];
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return invalid(
                &at.key(name),
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            );
        }
        if RESERVED.contains(&lower.as_str()) {
            return invalid(
                &at.key(name),
                format!("{name} is a reserved header. It must not be changed"),
            );
        }
    }
    Ok(())
}

fn required_url(url: Option<String>, at: &At, section: &str) -> Res<String> {
    match url.filter(|u| !u.is_empty()) {
        None => invalid(&at.key("url"), format!("url for {section} is empty")),
        Some(u) => {
            check_http_url(&u, &at.key("url"))?;
            Ok(u)
        }
    }
}

fn positive(v: Option<i64>, default: usize, at: &At, field: &str) -> Res<usize> {
    match v {
        None | Some(0) => Ok(default),
        Some(n) if n > 0 => Ok(n as usize),
        Some(_) => invalid(
            &at.key(field),
            format!("remote write queue {field} must be positive"),
        ),
    }
}

fn queue_config(raw: Option<RawQueueConfig>, at: &At) -> Res<QueueConfig> {
    let d = QueueConfig::default();
    let Some(raw) = raw else { return Ok(d) };
    let q = QueueConfig {
        capacity: positive(raw.capacity, d.capacity, at, "capacity")?,
        max_shards: positive(raw.max_shards, d.max_shards, at, "max_shards")?,
        min_shards: positive(raw.min_shards, d.min_shards, at, "min_shards")?,
        max_samples_per_send: positive(
            raw.max_samples_per_send,
            d.max_samples_per_send,
            at,
            "max_samples_per_send",
        )?,
        batch_send_deadline: raw
            .batch_send_deadline
            .filter(|d| !d.is_zero())
            .unwrap_or(d.batch_send_deadline),
        min_backoff: raw
            .min_backoff
            .filter(|d| !d.is_zero())
            .unwrap_or(d.min_backoff),
        max_backoff: raw
            .max_backoff
            .filter(|d| !d.is_zero())
            .unwrap_or(d.max_backoff),
        retry_on_http_429: raw.retry_on_http_429.unwrap_or(d.retry_on_http_429),
        sample_age_limit: raw.sample_age_limit.unwrap_or(d.sample_age_limit),
    };
    if q.min_shards > q.max_shards {
        return invalid(
            &at.key("min_shards"),
            "remote write queue min_shards must not be greater than max_shards",
        );
    }
    if q.max_backoff < q.min_backoff {
        return invalid(
            &at.key("max_backoff"),
            "remote write queue max_backoff must not be less than min_backoff",
        );
    }
    Ok(q)
}

fn metadata_config(raw: Option<RawMetadataConfig>, at: &At) -> Res<MetadataConfig> {
    let d = MetadataConfig::default();
    let Some(raw) = raw else { return Ok(d) };
    let max = match raw.max_samples_per_send {
        None | Some(0) => d.max_samples_per_send,
        Some(n) if n > 0 => n as usize,
        Some(_) => {
            return invalid(
                &at.key("max_samples_per_send"),
                "metadata_config max_samples_per_send must be positive",
            );
        }
    };
    Ok(MetadataConfig {
        send: raw.send.unwrap_or(d.send),
        send_interval: raw
            .send_interval
            .filter(|d| !d.is_zero())
            .unwrap_or(d.send_interval),
        max_samples_per_send: max,
    })
}

/// Secrets are not in `Debug` output; the default name must still tell
/// entries apart that differ only in credentials.
fn secret_text(http: &HttpClientConfig) -> String {
    let mut s = String::new();
    if let Some(p) = http.basic_auth.as_ref().and_then(|b| b.password.as_ref()) {
        s.push_str(&p.0);
    }
    if let Some(c) = http
        .authorization
        .as_ref()
        .and_then(|a| a.credentials.as_ref())
    {
        s.push_str(&c.0);
    }
    if let Some(k) = &http.tls_config.key {
        s.push_str(&k.0);
    }
    s
}

/// Converts every `remote_write` entry; names unique, unnamed entries get
/// the first six hex digits of an MD5 of the entry (as Prometheus, though
/// not over the same bytes, so the names differ from Prometheus's).
pub(crate) fn remote_writes(
    raw: Vec<RawRemoteWriteConfig>,
    at: &At,
    ctx: &Ctx,
) -> Res<Vec<RemoteWriteConfig>> {
    let mut out: Vec<RemoteWriteConfig> = Vec::new();
    let mut hashes: Vec<String> = Vec::new();
    for (i, mut r) in raw.into_iter().enumerate() {
        let at = at.index(i);
        let url = required_url(r.url.take(), &at, "remote_write")?;
        for (field, present) in [
            ("sigv4", r.sigv4.is_some()),
            ("azuread", r.azuread.is_some()),
            ("google_iam", r.google_iam.is_some()),
        ] {
            unsupported(present, &at, field)?;
        }
        only_default(r.round_robin_dns, &at, "round_robin_dns")?;
        only_default(r.failed_request_logging, &at, "failed_request_logging")?;
        if let Some(m) = r
            .protobuf_message
            .as_deref()
            .filter(|m| !m.is_empty() && *m != "prometheus.WriteRequest")
        {
            let message = if m == "io.prometheus.write.v2.Request" {
                format!("protobuf_message {m:?} (remote write 2.0) is not supported by argus")
            } else {
                format!("invalid protobuf_message value {m:?}")
            };
            return invalid(&at.key("protobuf_message"), message);
        }
        let headers = r.headers.take().unwrap_or_default();
        check_headers(&headers, &at.key("headers"))?;
        let rw_defaults = HttpClientConfig {
            enable_http2: false,
            ..default_client()
        };
        let http = http_client(r.take_http(), &at, &ctx.base_dir, rw_defaults)?;
        let mut cfg = RemoteWriteConfig {
            url,
            name: String::new(),
            remote_timeout: r
                .remote_timeout
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(30)),
            headers,
            write_relabel_configs: relabel_configs(
                r.write_relabel_configs.take(),
                &at.key("write_relabel_configs"),
                ctx,
            )?,
            send_exemplars: r.send_exemplars.unwrap_or(false),
            send_native_histograms: r.send_native_histograms.unwrap_or(false),
            http,
            queue_config: queue_config(r.queue_config.take(), &at.key("queue_config"))?,
            metadata_config: metadata_config(r.metadata_config.take(), &at.key("metadata_config"))?,
        };
        let digest = crate::md5::md5(format!("{cfg:?}{}", secret_text(&cfg.http)).as_bytes());
        let hash = crate::md5::hex(&digest);
        if hashes.contains(&hash) {
            return invalid(
                &at,
                format!(
                    "duplicate remote write configs are not allowed, found duplicate for URL: {}",
                    cfg.url
                ),
            );
        }
        hashes.push(hash.clone());
        match r.name.take().filter(|n| !n.is_empty()) {
            Some(name) => {
                if out.iter().any(|o| o.name == name) {
                    return invalid(
                        &at.key("name"),
                        format!("found multiple remote write configs with job name {name:?}"),
                    );
                }
                cfg.name = name;
            }
            None => cfg.name = hash[..6].to_string(),
        }
        out.push(cfg);
    }
    Ok(out)
}

pub(crate) fn remote_reads(
    raw: Vec<RawRemoteReadConfig>,
    at: &At,
    ctx: &Ctx,
) -> Res<Vec<RemoteReadConfig>> {
    let mut out: Vec<RemoteReadConfig> = Vec::new();
    for (i, mut r) in raw.into_iter().enumerate() {
        let at = at.index(i);
        let url = required_url(r.url.take(), &at, "remote_read")?;
        let headers = r.headers.take().unwrap_or_default();
        check_headers(&headers, &at.key("headers"))?;
        let http = http_client(r.take_http(), &at, &ctx.base_dir, default_client())?;
        let mut cfg = RemoteReadConfig {
            url,
            name: String::new(),
            remote_timeout: r
                .remote_timeout
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(60)),
            headers,
            read_recent: r.read_recent.unwrap_or(false),
            required_matchers: r.required_matchers.take().unwrap_or_default(),
            filter_external_labels: r.filter_external_labels.unwrap_or(true),
            http,
        };
        match r.name.take().filter(|n| !n.is_empty()) {
            Some(name) => {
                if out.iter().any(|o| o.name == name) {
                    return invalid(
                        &at.key("name"),
                        format!("found multiple remote read configs with job name {name:?}"),
                    );
                }
                cfg.name = name;
            }
            None => {
                let digest =
                    crate::md5::md5(format!("{cfg:?}{}", secret_text(&cfg.http)).as_bytes());
                cfg.name = crate::md5::hex(&digest)[..6].to_string();
            }
        }
        out.push(cfg);
    }
    Ok(out)
}

pub(crate) fn alerting(raw: RawAlertingConfig, at: &At, ctx: &Ctx) -> Res<AlertingConfig> {
    let alert_relabel_configs = relabel_configs(
        raw.alert_relabel_configs,
        &at.key("alert_relabel_configs"),
        ctx,
    )?;
    let mut alertmanagers = Vec::new();
    for (i, am) in raw
        .alertmanagers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        alertmanagers.push(alertmanager(am, &at.key("alertmanagers").index(i), ctx)?);
    }
    Ok(AlertingConfig {
        alert_relabel_configs,
        alertmanagers,
    })
}

fn alertmanager(mut raw: RawAlertmanagerConfig, at: &At, ctx: &Ctx) -> Res<AlertmanagerConfig> {
    unsupported(raw.sigv4.is_some(), at, "sigv4")?;
    let http = http_client(raw.take_http(), at, &ctx.base_dir, default_client())?;
    let scheme = raw
        .scheme
        .take()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "http".to_string());
    if scheme != "http" && scheme != "https" {
        return invalid(
            &at.key("scheme"),
            format!("invalid scheme {scheme:?}: must be \"http\" or \"https\""),
        );
    }
    let api_version = raw.api_version.take().unwrap_or_else(|| "v2".to_string());
    if api_version != "v2" {
        return invalid(
            &at.key("api_version"),
            format!("expected Alertmanager api version to be one of [v2] but got {api_version}"),
        );
    }
    let relabel = relabel_configs(raw.relabel_configs.take(), &at.key("relabel_configs"), ctx)?;
    let sd = RawSdFields {
        static_configs: raw.static_configs.take(),
        file_sd_configs: raw.file_sd_configs.take(),
        dns_sd_configs: raw.dns_sd_configs.take(),
        kubernetes_sd_configs: raw.kubernetes_sd_configs.take(),
    };
    let service_discovery = service_discovery(sd, at, ctx)?;
    if relabel.is_empty() {
        check_static_targets(&service_discovery, at)?;
    }
    Ok(AlertmanagerConfig {
        scheme,
        path_prefix: raw
            .path_prefix
            .take()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        timeout: raw
            .timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(10)),
        api_version,
        http,
        service_discovery,
        relabel_configs: relabel,
        alert_relabel_configs: relabel_configs(
            raw.alert_relabel_configs.take(),
            &at.key("alert_relabel_configs"),
            ctx,
        )?,
    })
}
