//! Kubernetes service discovery (`kubernetes_sd_configs`).
//!
//! Objects are listed and watched with kube's watcher into local stores;
//! after each batch of watch events the role's groups are rebuilt from the
//! stores and only the groups that changed are sent (an empty group for a
//! vanished source), as upstream's informers and work queues produce.

mod attach;
mod client;
mod endpoints;
mod endpointslice;
mod labels;
mod node;
mod pod;
mod service;
mod store;
mod watch;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use argus_config::discovery::{KubernetesRole, KubernetesSdConfig};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::attach::Attach;
use self::client::ClientSource;
use self::store::Cache;
use self::watch::Plan;
use crate::{BoxFuture, Discoverer, TargetGroup};

/// How many watch events may queue before the watch streams wait.
const CHANGE_BUFFER: usize = 1024;

/// A provider for one `kubernetes_sd_configs` entry. Relative paths in the
/// config (kubeconfig, credentials) are resolved against `base_dir`.
pub fn new_discoverer(
    cfg: &KubernetesSdConfig,
    base_dir: &Path,
) -> Result<Box<dyn Discoverer>, String> {
    if cfg.role == KubernetesRole::Ingress {
        return Err("kubernetes sd role ingress is not supported yet".to_string());
    }
    let client = ClientSource::prepare(cfg, base_dir)?;
    let mut namespaces = cfg.namespaces.names.clone();
    if let Some(own) = &client.own_namespace {
        namespaces.push(own.clone());
    }
    let plan = Plan {
        role: cfg.role,
        namespaces,
        selectors: cfg.selectors.clone(),
        attach: Attach {
            // Only the roles upstream attaches node metadata for.
            node: cfg.attach_metadata_node
                && matches!(
                    cfg.role,
                    KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
                ),
            namespace: cfg.attach_metadata_namespace,
        },
    };
    Ok(Box::new(KubernetesDiscoverer { client, plan }))
}

struct KubernetesDiscoverer {
    client: ClientSource,
    plan: Plan,
}

impl Discoverer for KubernetesDiscoverer {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(async move {
            let role = self.plan.role.as_str();
            let client = match self.client.connect().await {
                Ok(client) => client,
                Err(e) => {
                    tracing::error!(role, error = %e, "kubernetes sd cannot start");
                    shutdown.cancelled().await;
                    return;
                }
            };
            let (change_tx, change_rx) = mpsc::channel(CHANGE_BUFFER);
            // Dropping the set on return aborts the watch streams.
            let mut tasks = JoinSet::new();
            let streams = self.plan.spawn(&client, &mut tasks, &change_tx);
            drop(change_tx);
            let sync = GroupSync {
                plan: &self.plan,
                streams,
            };
            sync.run(change_rx, tx, shutdown).await;
        })
    }
}

struct GroupSync<'a> {
    plan: &'a Plan,
    streams: usize,
}

impl GroupSync<'_> {
    async fn run(
        &self,
        mut changes: mpsc::Receiver<store::Change>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) {
        let mut cache = Cache::default();
        let mut listed = HashSet::new();
        let mut sent: Option<BTreeMap<String, TargetGroup>> = None;
        loop {
            let change = tokio::select! {
                _ = shutdown.cancelled() => return,
                change = changes.recv() => change,
            };
            let Some(change) = change else { return };
            listed.extend(cache.apply(change));
            // Apply whatever else is already queued, then rebuild once.
            while let Ok(change) = changes.try_recv() {
                listed.extend(cache.apply(change));
            }
            // Upstream waits for every informer to sync before sending.
            if listed.len() < self.streams {
                continue;
            }
            let groups = build_groups(self.plan, &cache);
            let update = match &sent {
                None => groups.values().cloned().collect(),
                Some(previous) => changed_groups(previous, &groups),
            };
            let first = sent.is_none();
            sent = Some(groups);
            if update.is_empty() && !first {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                res = tx.send(update) => if res.is_err() { return },
            }
        }
    }
}

fn build_groups(plan: &Plan, cache: &Cache) -> BTreeMap<String, TargetGroup> {
    let attach = plan.attach;
    let groups: Vec<TargetGroup> = match plan.role {
        KubernetesRole::Node => cache.nodes.iter().filter_map(node::build).collect(),
        KubernetesRole::Pod => cache
            .pods
            .iter()
            .map(|p| pod::build(p, cache, attach))
            .collect(),
        KubernetesRole::Service => cache
            .services
            .iter()
            .map(|s| service::build(s, cache, attach))
            .collect(),
        KubernetesRole::Endpoints => cache
            .endpoints
            .iter()
            .map(|e| endpoints::build(e, cache, attach))
            .collect(),
        KubernetesRole::EndpointSlice => cache
            .endpoint_slices
            .iter()
            .map(|e| endpointslice::build(e, cache, attach))
            .collect(),
        KubernetesRole::Ingress => Vec::new(),
    };
    groups.into_iter().map(|g| (g.source.clone(), g)).collect()
}

/// Groups that differ from what was sent, plus empty groups for sources
/// that disappeared.
fn changed_groups(
    previous: &BTreeMap<String, TargetGroup>,
    current: &BTreeMap<String, TargetGroup>,
) -> Vec<TargetGroup> {
    let updated = current
        .values()
        .filter(|g| previous.get(&g.source) != Some(*g))
        .cloned();
    let removed = previous
        .keys()
        .filter(|source| !current.contains_key(*source))
        .map(|source| TargetGroup {
            source: source.clone(),
            ..TargetGroup::default()
        });
    updated.chain(removed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(source: &str, addr: &str) -> TargetGroup {
        let target = BTreeMap::from([("__address__".to_string(), addr.to_string())]);
        TargetGroup {
            source: source.to_string(),
            targets: vec![target],
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn changed_groups_reports_updates_and_removals_only() {
        let previous = BTreeMap::from([
            ("a".to_string(), group("a", "1:1")),
            ("b".to_string(), group("b", "2:2")),
            ("c".to_string(), group("c", "3:3")),
        ]);
        let current = BTreeMap::from([
            ("a".to_string(), group("a", "1:1")),
            ("b".to_string(), group("b", "2:3")),
        ]);
        let changes = changed_groups(&previous, &current);
        let empty_c = TargetGroup {
            source: "c".to_string(),
            ..TargetGroup::default()
        };
        assert_eq!(changes, vec![group("b", "2:3"), empty_c]);
    }
}
