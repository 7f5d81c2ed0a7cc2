//! `static_configs`, `file_sd_configs`, `dns_sd_configs` and
//! `kubernetes_sd_configs`, checked as Prometheus's discovery packages do.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::http::{RawHttp, default_client, http_client, with_http_client_fields};
use super::{At, Ctx, Res, check_label_name, de_duration, invalid, join_dir};
use crate::discovery::{
    DnsRecordType, DnsSdConfig, FileSdConfig, KubernetesNamespaces, KubernetesRole,
    KubernetesSdConfig, KubernetesSelector, SdConfig, StaticConfig,
};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawStaticConfig {
    targets: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawFileSdConfig {
    files: Option<Vec<String>>,
    #[serde(deserialize_with = "de_duration")]
    refresh_interval: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawDnsSdConfig {
    names: Option<Vec<String>>,
    #[serde(deserialize_with = "de_duration")]
    refresh_interval: Option<Duration>,
    #[serde(rename = "type")]
    record_type: Option<String>,
    port: Option<u16>,
}

/// A Kubernetes role, checked while deserialising.
pub(crate) struct RawRole(KubernetesRole);

const ROLES: [KubernetesRole; 6] = [
    KubernetesRole::Node,
    KubernetesRole::Pod,
    KubernetesRole::Service,
    KubernetesRole::Endpoints,
    KubernetesRole::EndpointSlice,
    KubernetesRole::Ingress,
];

impl<'de> Deserialize<'de> for RawRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let role = super::parse_scalar(d, "a Kubernetes role", |name| {
            ROLES
                .into_iter()
                .find(|r| r.as_str() == name)
                .ok_or_else(|| format!("unknown Kubernetes SD role {name:?}"))
        })?;
        role.map(RawRole)
            .ok_or_else(|| serde::de::Error::custom("unknown Kubernetes SD role \"\""))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawNamespaces {
    own_namespace: Option<bool>,
    names: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawSelector {
    role: Option<RawRole>,
    label: Option<String>,
    field: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawAttachMetadata {
    node: Option<bool>,
    namespace: Option<bool>,
    deployment: Option<bool>,
    job: Option<bool>,
    cronjob: Option<bool>,
}

with_http_client_fields! {
    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct RawKubernetesSdConfig {
        api_server: Option<String>,
        role: Option<RawRole>,
        kubeconfig_file: Option<String>,
        namespaces: Option<RawNamespaces>,
        selectors: Option<Vec<RawSelector>>,
        attach_metadata: Option<RawAttachMetadata>,
    }
}

/// The SD fields a scrape job or Alertmanager config may hold.
#[derive(Default)]
pub(crate) struct RawSdFields {
    pub static_configs: Option<Vec<RawStaticConfig>>,
    pub file_sd_configs: Option<Vec<RawFileSdConfig>>,
    pub dns_sd_configs: Option<Vec<RawDnsSdConfig>>,
    pub kubernetes_sd_configs: Option<Vec<RawKubernetesSdConfig>>,
}

/// Every SD entry, kind by kind in Prometheus's order.
pub(crate) fn service_discovery(raw: RawSdFields, at: &At, ctx: &Ctx) -> Res<Vec<SdConfig>> {
    let mut out = Vec::new();
    for (i, s) in raw
        .static_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        out.push(SdConfig::Static(static_config(
            s,
            &at.key("static_configs").index(i),
            ctx,
        )?));
    }
    for (i, f) in raw
        .file_sd_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        out.push(SdConfig::File(file_sd(
            f,
            &at.key("file_sd_configs").index(i),
            ctx,
        )?));
    }
    for (i, d) in raw
        .dns_sd_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        out.push(SdConfig::Dns(dns_sd(
            d,
            &at.key("dns_sd_configs").index(i),
        )?));
    }
    for (i, k) in raw
        .kubernetes_sd_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = at.key("kubernetes_sd_configs").index(i);
        out.push(SdConfig::Kubernetes(Box::new(kubernetes_sd(k, &at, ctx)?)));
    }
    Ok(out)
}

fn static_config(raw: RawStaticConfig, at: &At, ctx: &Ctx) -> Res<StaticConfig> {
    let labels = raw.labels.unwrap_or_default();
    for name in labels.keys() {
        check_label_name(name, ctx, &at.key("labels").key(name))?;
    }
    Ok(StaticConfig {
        targets: raw.targets.unwrap_or_default(),
        labels,
    })
}

/// `*` only in the last path element; one of the three extensions.
fn valid_file_sd_path(path: &str) -> bool {
    let ext_ok = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
        .iter()
        .any(|e| path.ends_with(e));
    let glob_ok = match path.find('*') {
        None => true,
        Some(star) => !path[star..].contains('/'),
    };
    ext_ok && glob_ok
}

fn file_sd(raw: RawFileSdConfig, at: &At, ctx: &Ctx) -> Res<FileSdConfig> {
    let files = raw.files.unwrap_or_default();
    if files.is_empty() {
        return invalid(
            &at.key("files"),
            "file service discovery config must contain at least one path name",
        );
    }
    for (i, f) in files.iter().enumerate() {
        if !valid_file_sd_path(f) {
            return invalid(
                &at.key("files").index(i),
                format!("path name {f:?} is not valid for file discovery"),
            );
        }
    }
    Ok(FileSdConfig {
        files: files.iter().map(|f| join_dir(&ctx.base_dir, f)).collect(),
        refresh_interval: raw.refresh_interval.unwrap_or(Duration::from_secs(300)),
    })
}

fn dns_sd(raw: RawDnsSdConfig, at: &At) -> Res<DnsSdConfig> {
    let names = raw.names.unwrap_or_default();
    if names.is_empty() {
        return invalid(
            &at.key("names"),
            "DNS-SD config must contain at least one SRV record name",
        );
    }
    let written = raw.record_type.unwrap_or_else(|| "SRV".to_string());
    let record_type = match written.to_ascii_uppercase().as_str() {
        "SRV" => DnsRecordType::Srv,
        "A" => DnsRecordType::A,
        "AAAA" => DnsRecordType::Aaaa,
        "MX" => DnsRecordType::Mx,
        "NS" => DnsRecordType::Ns,
        _ => {
            return invalid(
                &at.key("type"),
                format!("invalid DNS-SD records type {written}"),
            );
        }
    };
    let port = raw.port.unwrap_or(0);
    if record_type != DnsRecordType::Srv && port == 0 {
        return invalid(
            &at.key("port"),
            "a port is required in DNS-SD configs for all record types except SRV",
        );
    }
    Ok(DnsSdConfig {
        names,
        refresh_interval: raw.refresh_interval.unwrap_or(Duration::from_secs(30)),
        record_type,
        port,
    })
}

fn kubernetes_sd(mut raw: RawKubernetesSdConfig, at: &At, ctx: &Ctx) -> Res<KubernetesSdConfig> {
    let http_raw: RawHttp = raw.take_http();
    let Some(RawRole(role)) = raw.role else {
        return invalid(
            &at.key("role"),
            "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
        );
    };
    let http = http_client(http_raw, at, &ctx.base_dir, default_client())?;
    let api_server = raw.api_server.filter(|s| !s.is_empty());
    if let Some(url) = &api_server {
        super::check_http_url(url, &at.key("api_server"))?;
    }
    let kubeconfig_file = raw.kubeconfig_file.filter(|s| !s.is_empty());
    let custom_http = http != default_client();
    let namespaces = raw.namespaces.unwrap_or_default();
    let own_namespace = namespaces.own_namespace.unwrap_or(false);
    if api_server.is_some() && kubeconfig_file.is_some() {
        return invalid(
            &at.key("kubeconfig_file"),
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        );
    }
    if kubeconfig_file.is_some() && custom_http {
        return invalid(
            &at.key("kubeconfig_file"),
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        );
    }
    if api_server.is_none() && custom_http {
        return invalid(
            at,
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        );
    }
    if api_server.is_some() && own_namespace {
        return invalid(
            &at.key("namespaces").key("own_namespace"),
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        );
    }
    if kubeconfig_file.is_some() && own_namespace {
        return invalid(
            &at.key("namespaces").key("own_namespace"),
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        );
    }
    let selectors = selectors(
        raw.selectors.unwrap_or_default(),
        role,
        &at.key("selectors"),
    )?;
    let attach = raw.attach_metadata.unwrap_or_default();
    let attach_at = at.key("attach_metadata");
    super::only_default(attach.deployment, &attach_at, "deployment")?;
    super::only_default(attach.job, &attach_at, "job")?;
    super::only_default(attach.cronjob, &attach_at, "cronjob")?;
    Ok(KubernetesSdConfig {
        role,
        api_server,
        kubeconfig_file: kubeconfig_file.map(|f| join_dir(&ctx.base_dir, &f)),
        http,
        namespaces: KubernetesNamespaces {
            own_namespace,
            names: namespaces.names.unwrap_or_default(),
        },
        selectors,
        attach_metadata_node: attach.node.unwrap_or(false),
        attach_metadata_namespace: attach.namespace.unwrap_or(false),
    })
}

fn selectors(raw: Vec<RawSelector>, role: KubernetesRole, at: &At) -> Res<Vec<KubernetesSelector>> {
    use KubernetesRole::*;
    let allowed: &[KubernetesRole] = match role {
        Pod => &[Pod, Node],
        Service => &[Service],
        EndpointSlice => &[Pod, Service, EndpointSlice],
        Endpoints => &[Pod, Service, Endpoints],
        Node => &[Node],
        Ingress => &[Ingress],
    };
    let mut out: Vec<KubernetesSelector> = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let at = at.index(i);
        let Some(RawRole(selector_role)) = s.role else {
            return invalid(&at.key("role"), "selector role missing");
        };
        if out.iter().any(|o| o.role == selector_role) {
            return invalid(
                &at.key("role"),
                format!("duplicated selector role: {}", selector_role.as_str()),
            );
        }
        if !allowed.contains(&selector_role) {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            return invalid(
                &at.key("role"),
                format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    names.join(", ")
                ),
            );
        }
        let field = s.field.filter(|f| !f.is_empty());
        if let Some(f) = &field {
            check_field_selector(f).or_else(|m| invalid(&at.key("field"), m))?;
        }
        let label = s.label.filter(|l| !l.is_empty());
        if let Some(l) = &label {
            check_label_selector(l).or_else(|m| invalid(&at.key("label"), m))?;
        }
        out.push(KubernetesSelector {
            role: selector_role,
            label,
            field,
        });
    }
    Ok(out)
}

/// Kubernetes field selectors: `key=value`, `key==value`, `key!=value`,
/// comma separated.
fn check_field_selector(s: &str) -> Result<(), String> {
    for term in s.split(',') {
        let key = ["!=", "==", "="]
            .iter()
            .find_map(|op| term.split_once(op).map(|(k, _)| k.trim()));
        match key {
            Some(k) if !k.is_empty() => {}
            _ => {
                return Err(format!(
                    "invalid field selector {s:?}: cannot understand {term:?}"
                ));
            }
        }
    }
    Ok(())
}

/// A Kubernetes label key: optional DNS-subdomain prefix and a name of at
/// most 63 alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
fn valid_label_key(key: &str) -> bool {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 {
                return false;
            }
            name
        }
        None => key,
    };
    valid_label_value(name) && !name.is_empty()
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Kubernetes label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`, `k>1`, `k<1`, comma separated.
fn check_label_selector(s: &str) -> Result<(), String> {
    let bad = |term: &str| {
        Err(format!(
            "invalid label selector {s:?}: cannot understand {term:?}"
        ))
    };
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    for raw in terms {
        let term = raw.trim();
        if let Some(key) = term.strip_prefix('!') {
            if !valid_label_key(key.trim()) {
                return bad(raw);
            }
            continue;
        }
        let set_op = [" notin ", " in "]
            .iter()
            .find_map(|op| term.split_once(op).map(|(k, v)| (k.trim(), v.trim())));
        if let Some((key, values)) = set_op {
            let inner = values.strip_prefix('(').and_then(|v| v.strip_suffix(')'));
            let ok = valid_label_key(key)
                && inner.is_some_and(|i| i.split(',').all(|v| valid_label_value(v.trim())));
            if !ok {
                return bad(raw);
            }
            continue;
        }
        let ops = ["!=", "==", "=", ">", "<"];
        let Some((op, (key, value))) = ops
            .iter()
            .find_map(|op| term.split_once(op).map(|kv| (*op, kv)))
        else {
            if !valid_label_key(term) {
                return bad(raw);
            }
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let value_ok = if op == ">" || op == "<" {
            value.parse::<i64>().is_ok()
        } else {
            valid_label_value(value)
        };
        if !valid_label_key(key) || !value_ok {
            return bad(raw);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_paths() {
        for ok in ["a.json", "dir/*.yml", "/abs/x*y.yaml", "t.YAML"] {
            assert!(valid_file_sd_path(ok), "{ok}");
        }
        for bad in ["a.txt", "*/x.json", "dir/*", "a.json.bak"] {
            assert!(!valid_file_sd_path(bad), "{bad}");
        }
    }

    #[test]
    fn kubernetes_selectors() {
        for ok in [
            "app=foo",
            "app==foo,tier!=db",
            "!canary",
            "env in (prod, staging)",
            "env notin (dev),app",
            "example.com/team=x",
            "replicas>2",
        ] {
            assert_eq!(check_label_selector(ok), Ok(()), "{ok}");
        }
        for bad in ["app=foo bar", "=x", "env in prod", "-bad=x", "n>x", "a=b,"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_field_selector("metadata.name=x,spec.nodeName!=y"),
            Ok(())
        );
        assert!(check_field_selector("metadata.name").is_err());
        assert!(check_field_selector("=x").is_err());
    }
}
