//! Service discovery sections of scrape and Alertmanager configs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::HttpClientConfig;

/// One source of targets. A scrape config's `static_configs`,
/// `file_sd_configs`, `dns_sd_configs` and `kubernetes_sd_configs` entries
/// become one `SdConfig` each, in that order.
#[derive(Debug, Clone, PartialEq)]
pub enum SdConfig {
    Static(StaticConfig),
    File(FileSdConfig),
    Dns(DnsSdConfig),
    Kubernetes(Box<KubernetesSdConfig>),
}

/// A `static_configs` entry: one target group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticConfig {
    /// `host:port` strings, becoming `__address__`.
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    /// Paths or globs (`*` only in the last path element, as Prometheus);
    /// files end in `.json`, `.yml` or `.yaml`. Relative paths are resolved
    /// against the config file's directory.
    pub files: Vec<PathBuf>,
    /// Default 5m.
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsRecordType {
    #[default]
    Srv,
    A,
    Aaaa,
    Mx,
    Ns,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    /// Default 30s.
    pub refresh_interval: Duration,
    /// Default SRV.
    pub record_type: DnsRecordType,
    /// Required for A, AAAA, MX and NS; unused for SRV.
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubernetesRole {
    Node,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl KubernetesRole {
    pub fn as_str(self) -> &'static str {
        match self {
            KubernetesRole::Node => "node",
            KubernetesRole::Pod => "pod",
            KubernetesRole::Service => "service",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
            KubernetesRole::Ingress => "ingress",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSdConfig {
    pub role: KubernetesRole,
    /// Unset: in-cluster config (service account) or `kubeconfig_file`.
    pub api_server: Option<String>,
    pub kubeconfig_file: Option<PathBuf>,
    pub http: HttpClientConfig,
    pub namespaces: KubernetesNamespaces,
    pub selectors: Vec<KubernetesSelector>,
    pub attach_metadata_node: bool,
    pub attach_metadata_namespace: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubernetesNamespaces {
    pub own_namespace: bool,
    /// Empty: all namespaces.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesSelector {
    pub role: KubernetesRole,
    /// A label selector in Kubernetes syntax (`app=foo,tier!=db`).
    pub label: Option<String>,
    pub field: Option<String>,
}
