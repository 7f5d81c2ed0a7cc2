//! The discovery manager: one provider per distinct SD config, shared by
//! every job that lists it, kept running across config reloads while its
//! config is unchanged (as Prometheus's `discovery.Manager`).

mod publisher;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argus_config::discovery::{SdConfig, StaticConfig};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use crate::static_sd::static_groups;
use crate::{Discoverer, TargetGroup};

use state::{ProviderId, Shared};

/// Per job (or Alertmanager set) name, all its current groups.
pub type TargetSets = BTreeMap<String, Vec<TargetGroup>>;

/// Builds the provider for one non-static SD config, resolving relative
/// paths against the base directory. [`crate::new_discoverer`] by default.
pub type DiscovererFactory =
    Arc<dyn Fn(&SdConfig, &Path) -> Result<Box<dyn Discoverer>, String> + Send + Sync>;

pub struct ManagerOptions {
    /// Upper bound of the pause between publishes under steady churn;
    /// Prometheus uses 5s.
    pub update_interval: Duration,
    pub factory: DiscovererFactory,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            update_interval: Duration::from_secs(5),
            factory: Arc::new(crate::new_discoverer),
        }
    }
}

impl fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("update_interval", &self.update_interval)
            .finish_non_exhaustive()
    }
}

/// What makes two providers the same: Prometheus compares configs deeply.
#[derive(Debug, Clone, PartialEq)]
enum ProviderKey {
    /// All static configs of a job form one provider.
    Static(Vec<StaticConfig>),
    Dynamic {
        config: SdConfig,
        /// Only for configs with paths, so a moved config file restarts them.
        base_dir: Option<PathBuf>,
    },
}

struct Provider {
    id: ProviderId,
    key: ProviderKey,
    /// None for static providers, which have no task.
    cancel: Option<CancellationToken>,
}

/// Runs SD providers and publishes their merged groups per job. Dropping
/// it stops every provider.
pub struct Manager {
    shared: Arc<Shared>,
    factory: DiscovererFactory,
    providers: Vec<Provider>,
    next_id: ProviderId,
    shutdown: CancellationToken,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("providers", &self.providers.len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with Prometheus's defaults. Must be called within a tokio
    /// runtime. Everything stops when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> (Manager, watch::Receiver<Arc<TargetSets>>) {
        Manager::with_options(shutdown, ManagerOptions::default())
    }

    pub fn with_options(
        shutdown: CancellationToken,
        options: ManagerOptions,
    ) -> (Manager, watch::Receiver<Arc<TargetSets>>) {
        let shutdown = shutdown.child_token();
        let (shared, rx) = Shared::new();
        tokio::spawn(publisher::run_publisher(
            shared.clone(),
            options.update_interval,
            shutdown.clone(),
        ));
        let manager = Manager {
            shared,
            factory: options.factory,
            providers: Vec::new(),
            next_id: 0,
            shutdown,
        };
        (manager, rx)
    }

    /// Replaces the SD configs. Providers whose config is unchanged keep
    /// running with their groups, new ones start, the rest are cancelled.
    /// The new state is published before this returns.
    pub fn apply_config(&mut self, sets: BTreeMap<String, Vec<SdConfig>>, base_dir: &Path) {
        let mut previous = std::mem::take(&mut self.providers);
        let mut jobs = BTreeMap::new();
        for (job, configs) in &sets {
            let mut ids = Vec::new();
            for key in provider_keys(configs, base_dir) {
                if let Some(id) = self.provider_for(key, job, base_dir, &mut previous)
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
            }
            jobs.insert(job.clone(), ids);
        }
        for provider in previous {
            debug!(provider = provider.id, "stopping discovery provider");
            if let Some(cancel) = provider.cancel {
                cancel.cancel();
            }
            self.shared.remove_provider(provider.id);
        }
        info!(
            jobs = jobs.len(),
            providers = self.providers.len(),
            "discovery config applied"
        );
        self.shared.set_jobs_and_publish(jobs);
    }

    /// The running provider for `key`, reusing one from this or the previous
    /// config, else starting one. None if it cannot be created.
    fn provider_for(
        &mut self,
        key: ProviderKey,
        job: &str,
        base_dir: &Path,
        previous: &mut Vec<Provider>,
    ) -> Option<ProviderId> {
        if let Some(p) = self.providers.iter().find(|p| p.key == key) {
            return Some(p.id);
        }
        if let Some(pos) = previous.iter().position(|p| p.key == key) {
            let provider = previous.swap_remove(pos);
            let id = provider.id;
            self.providers.push(provider);
            return Some(id);
        }
        let id = self.next_id;
        self.next_id += 1;
        let cancel = match &key {
            ProviderKey::Static(configs) => {
                self.shared.add_provider(id, static_groups(configs));
                None
            }
            ProviderKey::Dynamic { config, .. } => {
                let mechanism = mechanism_name(config);
                let discoverer = match (self.factory)(config, base_dir) {
                    Ok(d) => d,
                    Err(e) => {
                        error!(job, mechanism, error = %e, "cannot create service discovery");
                        return None;
                    }
                };
                debug!(job, mechanism, provider = id, "starting discovery provider");
                Some(self.start(id, discoverer))
            }
        };
        self.providers.push(Provider { id, key, cancel });
        Some(id)
    }

    fn start(&self, id: ProviderId, discoverer: Box<dyn Discoverer>) -> CancellationToken {
        self.shared.add_provider(id, Vec::new());
        let cancel = self.shutdown.child_token();
        // Unbuffered in Prometheus; one slot lets a provider finish a send
        // while the updater holds the state lock.
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(discoverer.run(tx, cancel.clone()));
        tokio::spawn(run_updater(self.shared.clone(), id, rx, cancel.clone()));
        cancel
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One key for all static configs of a job (if any), then one per other
/// config, as Prometheus registers them.
fn provider_keys(configs: &[SdConfig], base_dir: &Path) -> Vec<ProviderKey> {
    let statics: Vec<StaticConfig> = configs
        .iter()
        .filter_map(|c| match c {
            SdConfig::Static(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut keys = Vec::new();
    if !statics.is_empty() {
        keys.push(ProviderKey::Static(statics));
    }
    for config in configs {
        let base_dir = match config {
            SdConfig::Static(_) => continue,
            SdConfig::Dns(_) => None,
            SdConfig::File(_) | SdConfig::Kubernetes(_) => Some(base_dir.to_path_buf()),
        };
        keys.push(ProviderKey::Dynamic {
            config: config.clone(),
            base_dir,
        });
    }
    keys
}

fn mechanism_name(config: &SdConfig) -> &'static str {
    match config {
        SdConfig::Static(_) => "static",
        SdConfig::File(_) => "file",
        SdConfig::Dns(_) => "dns",
        SdConfig::Kubernetes(_) => "kubernetes",
    }
}

/// Moves a provider's updates into the shared state until it is cancelled.
async fn run_updater(
    shared: Arc<Shared>,
    id: ProviderId,
    mut updates: mpsc::Receiver<Vec<TargetGroup>>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            update = updates.recv() => match update {
                Some(groups) => {
                    if !shared.apply_update(id, groups) {
                        return;
                    }
                }
                None => {
                    // Its groups stay, as in Prometheus.
                    debug!(provider = id, "discovery provider ended");
                    return;
                }
            },
        }
    }
}
