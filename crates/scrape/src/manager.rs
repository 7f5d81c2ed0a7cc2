//! The scrape manager: one pool per job, synced with discovery and config.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use argus_config::prometheus::PrometheusConfig;
use argus_config::scrape::ScrapeConfig;
use argus_discovery::TargetGroup;
use argus_httpclient::{HttpClient, TransportCache};
use argus_model::Appendable;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::accept::accept_header;
use crate::metrics::Metrics;
use crate::pool::ScrapePool;
use crate::scrape_loop::{EndOfRun, PoolContext};
use crate::{ActiveTarget, DroppedTarget, TargetMetadata};

type TargetSets = Arc<BTreeMap<String, Vec<TargetGroup>>>;

/// Runs the scrape pools of every job. See the crate documentation.
pub struct ScrapeManager {
    storage: Arc<dyn Appendable>,
    metrics: Arc<Metrics>,
    /// Cancelled at process shutdown; parent of every loop's token.
    shutdown: CancellationToken,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    configs: BTreeMap<String, Arc<ScrapeConfig>>,
    base_dir: PathBuf,
    seed: u64,
    pools: BTreeMap<String, ScrapePool>,
    /// The last published target groups.
    targets: Option<TargetSets>,
    /// Set by `run`; loops are spawned on it.
    runtime: Option<Handle>,
    /// HTTP transports shared by the pools built since the last reload.
    transports: TransportCache,
}

/// Keeps each target's phase across restarts but different between HA
/// replicas (their external labels differ), as upstream's offset seed.
fn offset_seed(cfg: &PrometheusConfig) -> u64 {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(host.trim().as_bytes());
    for (k, v) in &cfg.global.external_labels {
        h.update(&[0xff]);
        h.update(k.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
    }
    h.digest()
}

impl ScrapeManager {
    pub fn new(storage: Arc<dyn Appendable>, registry: &mut Registry) -> Arc<ScrapeManager> {
        Arc::new(ScrapeManager {
            storage,
            metrics: Arc::new(Metrics::new(registry)),
            shutdown: CancellationToken::new(),
            inner: Mutex::new(Inner {
                runtime: Handle::try_current().ok(),
                ..Inner::default()
            }),
        })
    }

    /// New/changed/removed scrape pools. A removed pool (job) stops its
    /// loops and writes staleness markers for all its series; a changed
    /// pool restarts its loops keeping the scrape caches where the target
    /// is the same (as Prometheus reload).
    pub fn apply_config(&self, cfg: &PrometheusConfig) {
        let mut inner = self.inner.lock();
        inner.configs = cfg
            .scrape_configs
            .iter()
            .map(|c| (c.job_name.clone(), Arc::new(c.clone())))
            .collect();
        inner.base_dir = cfg.base_dir.clone();
        // A reload re-reads TLS files: new pools get new transports.
        inner.transports = TransportCache::default();
        let seed = offset_seed(cfg);
        let seed_changed = seed != inner.seed;
        inner.seed = seed;

        let names: Vec<String> = inner.pools.keys().cloned().collect();
        for name in names {
            let new_cfg = inner.configs.get(&name).cloned();
            match new_cfg {
                None => {
                    if let Some(mut pool) = inner.pools.remove(&name) {
                        tracing::info!(scrape_pool = %name, "stopping removed scrape pool");
                        pool.stop(EndOfRun::Immediate);
                    }
                }
                Some(c) => {
                    let unchanged = inner
                        .pools
                        .get(&name)
                        .is_some_and(|p| *p.config() == *c && !seed_changed);
                    if unchanged {
                        continue;
                    }
                    match self.pool_context(&mut inner, c) {
                        Ok(ctx) => {
                            if let Some(pool) = inner.pools.get_mut(&name) {
                                pool.reload(ctx);
                            }
                        }
                        Err(e) => {
                            tracing::error!(scrape_pool = %name, err = %e, "error reloading scrape pool, keeping the old config");
                        }
                    }
                }
            }
        }
        self.metrics.scrape_pools.set(inner.pools.len() as i64);
        // Jobs new in this config start at once if their targets are known.
        if let Some(targets) = inner.targets.clone() {
            self.sync_locked(&mut inner, &targets, true);
        }
    }

    /// Syncs pools with each published target-group map until shutdown; on
    /// shutdown stops every loop (no staleness markers at shutdown, as
    /// Prometheus).
    pub async fn run(
        self: Arc<Self>,
        mut targets: watch::Receiver<TargetSets>,
        shutdown: CancellationToken,
    ) {
        self.inner.lock().runtime = Some(Handle::current());
        let first = targets.borrow_and_update().clone();
        self.sync(first);
        loop {
            tokio::select! {
                changed = targets.changed() => {
                    if changed.is_err() {
                        // Discovery is gone: keep scraping what we have.
                        shutdown.cancelled().await;
                        break;
                    }
                    let sets = targets.borrow_and_update().clone();
                    self.sync(sets);
                }
                _ = shutdown.cancelled() => break,
            }
        }
        self.shutdown.cancel();
        let signals: Vec<_> = {
            let inner = self.inner.lock();
            inner
                .pools
                .values()
                .flat_map(ScrapePool::stopped_signals)
                .collect()
        };
        for mut s in signals {
            let _ = s.wait_for(|stopped| *stopped).await;
        }
        tracing::info!("scrape manager stopped");
    }

    fn sync(&self, sets: TargetSets) {
        let mut inner = self.inner.lock();
        inner.targets = Some(sets.clone());
        self.sync_locked(&mut inner, &sets, false);
    }

    /// Syncs every job that has groups in `sets`; with `only_new`, only
    /// jobs without a pool yet.
    fn sync_locked(&self, inner: &mut Inner, sets: &TargetSets, only_new: bool) {
        if self.shutdown.is_cancelled() {
            return;
        }
        for (job, groups) in sets.iter() {
            let exists = inner.pools.contains_key(job);
            if only_new && exists {
                continue;
            }
            if !exists {
                let Some(cfg) = inner.configs.get(job).cloned() else {
                    tracing::debug!(scrape_pool = %job, "targets for a job without config");
                    continue;
                };
                match self.pool_context(inner, cfg) {
                    Ok(ctx) => {
                        inner.pools.insert(job.clone(), ScrapePool::new(ctx));
                    }
                    Err(e) => {
                        tracing::error!(scrape_pool = %job, err = %e, "error creating new scrape pool");
                        continue;
                    }
                }
            }
            if let Some(pool) = inner.pools.get_mut(job) {
                pool.sync(groups);
            }
        }
        self.metrics.scrape_pools.set(inner.pools.len() as i64);
    }

    fn pool_context(
        &self,
        inner: &mut Inner,
        cfg: Arc<ScrapeConfig>,
    ) -> Result<Arc<PoolContext>, String> {
        let runtime = inner
            .runtime
            .clone()
            .or_else(|| Handle::try_current().ok())
            .ok_or_else(|| "no tokio runtime to run scrape loops on".to_string())?;
        let client =
            HttpClient::new_cached(&cfg.http, &inner.base_dir, None, &mut inner.transports)
                .map_err(|e| e.to_string())?;
        Ok(Arc::new(PoolContext {
            storage: self.storage.clone(),
            metrics: self.metrics.clone(),
            client,
            accept: accept_header(&cfg.scrape_protocols),
            cfg,
            shutdown: self.shutdown.clone(),
            seed: inner.seed,
            runtime,
        }))
    }

    /// Sorted by pool, then labels.
    pub fn active_targets(&self) -> Vec<ActiveTarget> {
        let inner = self.inner.lock();
        let mut out: Vec<ActiveTarget> = inner
            .pools
            .values()
            .flat_map(ScrapePool::active_targets)
            .collect();
        out.sort_by(|a, b| {
            a.scrape_pool
                .cmp(&b.scrape_pool)
                .then_with(|| a.labels.cmp(&b.labels))
        });
        out
    }

    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let inner = self.inner.lock();
        inner
            .pools
            .values()
            .flat_map(|p| p.dropped_targets().iter().cloned())
            .collect()
    }

    /// Sorted by target labels.
    pub fn target_metadata(&self) -> Vec<TargetMetadata> {
        let inner = self.inner.lock();
        let mut out: Vec<TargetMetadata> = inner
            .pools
            .values()
            .flat_map(ScrapePool::metadata)
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }
}
