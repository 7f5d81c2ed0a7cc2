//! Connecting to the API server as upstream does: `kubeconfig_file`, else
//! `api_server` with the HTTP client settings, else the in-cluster service
//! account.

use std::path::{Path, PathBuf};

use argus_config::discovery::KubernetesSdConfig;
use argus_config::http::HttpClientConfig;
use argus_httpclient::base64;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Map, json};

/// Where the service account's namespace is mounted inside a pod.
const OWN_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Everything needed to build a client, prepared (files read, settings
/// checked) before the discoverer starts.
pub(super) struct ClientSource {
    origin: Origin,
    /// Request headers kube's auth settings cannot express (`http_headers`,
    /// non-Bearer `authorization`).
    extra_headers: Vec<(String, String)>,
    /// The pod's own namespace, for `namespaces.own_namespace` in-cluster.
    pub(super) own_namespace: Option<String>,
}

enum Origin {
    Kubeconfig(Box<Kubeconfig>),
    InCluster(Box<kube::Config>),
}

impl ClientSource {
    pub(super) fn prepare(cfg: &KubernetesSdConfig, base_dir: &Path) -> Result<Self, String> {
        if let Some(file) = &cfg.kubeconfig_file {
            let path = base_dir.join(file);
            let kubeconfig = Kubeconfig::read_from(&path)
                .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
            return Ok(Self {
                origin: Origin::Kubeconfig(Box::new(kubeconfig)),
                extra_headers: Vec::new(),
                own_namespace: None,
            });
        }
        if let Some(server) = &cfg.api_server {
            let (kubeconfig, extra_headers) = api_server_kubeconfig(server, &cfg.http, base_dir)?;
            return Ok(Self {
                origin: Origin::Kubeconfig(Box::new(kubeconfig)),
                extra_headers,
                own_namespace: None,
            });
        }
        let config = kube::Config::incluster()
            .map_err(|e| format!("loading in-cluster kubernetes config: {e}"))?;
        let own_namespace = if cfg.namespaces.own_namespace {
            let ns = std::fs::read_to_string(OWN_NAMESPACE_FILE)
                .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
            if ns.is_empty() {
                return Err("could not read own namespace name (empty file)".to_string());
            }
            Some(ns)
        } else {
            None
        };
        Ok(Self {
            origin: Origin::InCluster(Box::new(config)),
            extra_headers: Vec::new(),
            own_namespace,
        })
    }

    /// Builds the client; must run inside the tokio runtime.
    pub(super) async fn connect(&self) -> Result<kube::Client, String> {
        let mut config = match &self.origin {
            Origin::Kubeconfig(kc) => {
                let options = KubeConfigOptions::default();
                kube::Config::from_custom_kubeconfig((**kc).clone(), &options)
                    .await
                    .map_err(|e| format!("loading kubernetes client config: {e}"))?
            }
            Origin::InCluster(config) => (**config).clone(),
        };
        for (name, value) in &self.extra_headers {
            let name = name
                .as_str()
                .try_into()
                .map_err(|e| format!("header {name}: {e}"))?;
            let value = value
                .as_str()
                .try_into()
                .map_err(|e| format!("header value: {e}"))?;
            config.headers.push((name, value));
        }
        kube::Client::try_from(config).map_err(|e| format!("building kubernetes client: {e}"))
    }
}

/// An in-memory kubeconfig for `api_server` and the HTTP client settings,
/// so that kube handles TLS and credentials (token files are re-read).
fn api_server_kubeconfig(
    server: &str,
    http: &HttpClientConfig,
    base_dir: &Path,
) -> Result<(Kubeconfig, Vec<(String, String)>), String> {
    let abs = |p: &PathBuf| base_dir.join(p).to_string_lossy().into_owned();
    let tls = &http.tls_config;

    let mut cluster = Map::new();
    cluster.insert("server".into(), json!(server));
    if let Some(file) = &tls.ca_file {
        cluster.insert("certificate-authority".into(), json!(abs(file)));
    }
    if let Some(ca) = &tls.ca {
        cluster.insert(
            "certificate-authority-data".into(),
            json!(base64(ca.as_bytes())),
        );
    }
    if tls.insecure_skip_verify {
        cluster.insert("insecure-skip-tls-verify".into(), json!(true));
    }
    if let Some(name) = &tls.server_name {
        cluster.insert("tls-server-name".into(), json!(name));
    }
    if let Some(proxy) = &http.proxy_url {
        cluster.insert("proxy-url".into(), json!(proxy));
    }

    let mut user = Map::new();
    let mut extra_headers = Vec::new();
    if let Some(file) = &tls.cert_file {
        user.insert("client-certificate".into(), json!(abs(file)));
    }
    if let Some(cert) = &tls.cert {
        user.insert(
            "client-certificate-data".into(),
            json!(base64(cert.as_bytes())),
        );
    }
    if let Some(file) = &tls.key_file {
        user.insert("client-key".into(), json!(abs(file)));
    }
    if let Some(key) = &tls.key {
        user.insert("client-key-data".into(), json!(base64(key.0.as_bytes())));
    }
    if let Some(auth) = &http.authorization {
        let bearer = auth.kind.is_empty() || auth.kind.eq_ignore_ascii_case("bearer");
        match (&auth.credentials, &auth.credentials_file) {
            (Some(secret), _) if bearer => {
                user.insert("token".into(), json!(secret.0));
            }
            (None, Some(file)) if bearer => {
                user.insert("tokenFile".into(), json!(abs(file)));
            }
            (secret, file) => {
                let credentials = match (secret, file) {
                    (Some(secret), _) => secret.0.clone(),
                    (None, Some(file)) => read_trimmed(&base_dir.join(file))?,
                    (None, None) => String::new(),
                };
                extra_headers.push((
                    "authorization".into(),
                    format!("{} {credentials}", auth.kind),
                ));
            }
        }
    }
    if let Some(basic) = &http.basic_auth {
        let username = match &basic.username_file {
            Some(file) => read_trimmed(&base_dir.join(file))?,
            None => basic.username.clone(),
        };
        let password = match (&basic.password, &basic.password_file) {
            (Some(secret), _) => secret.0.clone(),
            (None, Some(file)) => read_trimmed(&base_dir.join(file))?,
            (None, None) => String::new(),
        };
        user.insert("username".into(), json!(username));
        user.insert("password".into(), json!(password));
    }
    for (name, values) in &http.http_headers {
        for value in values {
            extra_headers.push((name.clone(), value.clone()));
        }
    }

    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "argus", "cluster": cluster}],
        "users": [{"name": "argus", "user": user}],
        "contexts": [{"name": "argus", "context": {"cluster": "argus", "user": "argus"}}],
        "current-context": "argus",
    });
    let kubeconfig: Kubeconfig = serde_json::from_value(kubeconfig)
        .map_err(|e| format!("building kubernetes client config: {e}"))?;
    Ok((kubeconfig, extra_headers))
}

fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading {}: {e}", path.display()))
}
