//! A scrape pool: the targets of one job and their loops.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use argus_config::scrape::ScrapeConfig;
use argus_discovery::TargetGroup;

use crate::metrics::job_label;
use crate::scrape_loop::{self, EndOfRun, LoopHandle, PoolContext, TargetState};
use crate::target::{Populated, populate};
use crate::{ActiveTarget, DroppedTarget, TargetMetadata};

pub(crate) struct ScrapePool {
    name: String,
    ctx: Arc<PoolContext>,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<DroppedTarget>,
    /// The groups of the last sync, to rebuild targets on reload.
    groups: Vec<TargetGroup>,
}

/// Whether two configs produce the same series, so a target's cache stays
/// valid across the reload (upstream's `reusableCache`).
fn reusable_cache(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    let zero = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.scrape_interval = Default::default();
        z.scrape_timeout = Default::default();
        z.sample_limit = 0;
        z.http = Default::default();
        z
    };
    zero(a) == zero(b)
}

impl ScrapePool {
    pub fn new(ctx: Arc<PoolContext>) -> ScrapePool {
        ScrapePool {
            name: ctx.cfg.job_name.clone(),
            ctx,
            loops: HashMap::new(),
            dropped: Vec::new(),
            groups: Vec::new(),
        }
    }

    pub fn config(&self) -> &ScrapeConfig {
        &self.ctx.cfg
    }

    /// Replaces the targets with those of `groups`: new targets get a loop,
    /// vanished ones are stopped (their series marked stale later).
    pub fn sync(&mut self, groups: &[TargetGroup]) {
        self.groups = groups.to_vec();
        self.apply(None);
    }

    /// Restarts every loop under `ctx` (a new config), keeping the caches of
    /// targets that stay when the config allows it.
    pub fn reload(&mut self, ctx: Arc<PoolContext>) {
        let reuse = reusable_cache(&self.ctx.cfg, &ctx.cfg);
        self.ctx = ctx;
        self.ctx.metrics.pool_reloads.inc();
        self.apply(Some(reuse));
    }

    /// Stops every loop.
    pub fn stop(&mut self, end_of_run: EndOfRun) {
        for (_, l) in self.loops.drain() {
            l.stop(end_of_run);
        }
        let job = job_label(&self.name);
        let m = &self.ctx.metrics;
        m.pool_targets.remove(&job);
        m.pool_syncs.remove(&job);
        m.sync_failed.remove(&job);
        m.sync_length.remove(&job);
    }

    /// Waits handles of every loop, to wait for them at shutdown.
    pub fn stopped_signals(&self) -> Vec<tokio::sync::watch::Receiver<bool>> {
        self.loops.values().map(|l| l.stopped.clone()).collect()
    }

    fn apply(&mut self, restart: Option<bool>) {
        let start = Instant::now();
        let cfg = self.ctx.cfg.clone();
        let job = job_label(&self.name);
        let mut targets = Vec::new();
        self.dropped.clear();
        for g in &self.groups {
            for (i, t) in g.targets.iter().enumerate() {
                match populate(&cfg, t, &g.labels) {
                    Ok(Populated::Active(t)) => targets.push(t),
                    Ok(Populated::Dropped(discovered)) => {
                        if cfg.keep_dropped_targets == 0
                            || (self.dropped.len() as u64) < cfg.keep_dropped_targets
                        {
                            self.dropped.push(DroppedTarget {
                                discovered_labels: discovered,
                                scrape_pool: self.name.clone(),
                            });
                        }
                    }
                    Err(e) => {
                        self.ctx.metrics.sync_failed.get_or_create(&job).inc();
                        tracing::error!(scrape_pool = %self.name, group = %g.source, instance = i, err = %e, "creating target failed");
                    }
                }
            }
        }

        // On a restart every loop is replaced; otherwise existing ones stay.
        let mut previous = match restart {
            Some(_) => std::mem::take(&mut self.loops),
            None => HashMap::new(),
        };
        let reuse = restart.unwrap_or(false);
        let mut seen = HashSet::with_capacity(targets.len());
        for t in targets {
            let hash = t.hash;
            if !seen.insert(hash) || self.loops.contains_key(&hash) {
                continue;
            }
            let t = Arc::new(t);
            let handle = match previous.remove(&hash) {
                Some(old) => {
                    let state = if reuse {
                        old.stop(EndOfRun::Disabled);
                        old.state.clone()
                    } else {
                        old.stop(EndOfRun::Deferred);
                        TargetState::new(&t)
                    };
                    scrape_loop::spawn(&self.ctx, t, state, Some(old.stopped.clone()))
                }
                None => {
                    let state = TargetState::new(&t);
                    scrape_loop::spawn(&self.ctx, t, state, None)
                }
            };
            self.loops.insert(hash, handle);
        }
        for (_, old) in previous {
            old.stop(EndOfRun::Deferred);
        }
        let gone: Vec<u64> = self
            .loops
            .keys()
            .filter(|h| !seen.contains(h))
            .copied()
            .collect();
        for h in gone {
            if let Some(l) = self.loops.remove(&h) {
                l.stop(EndOfRun::Deferred);
            }
        }

        let forced = self.target_limit_error();
        for l in self.loops.values() {
            l.set_forced_error(forced.clone());
        }
        let m = &self.ctx.metrics;
        m.pool_targets
            .get_or_create(&job)
            .set(self.loops.len() as i64);
        m.pool_syncs.get_or_create(&job).inc();
        m.sync_length
            .get_or_create(&job)
            .observe(start.elapsed().as_secs_f64());
    }

    fn target_limit_error(&self) -> Option<String> {
        let limit = self.ctx.cfg.target_limit;
        let n = self.loops.len() as u64;
        if limit == 0 || n <= limit {
            return None;
        }
        self.ctx.metrics.exceeded_target_limit.inc();
        Some(format!(
            "target_limit exceeded (number of targets: {n}, limit: {limit})"
        ))
    }

    pub fn active_targets(&self) -> Vec<ActiveTarget> {
        self.loops
            .values()
            .map(|l| l.target.active(&self.name))
            .collect()
    }

    pub fn dropped_targets(&self) -> &[DroppedTarget] {
        &self.dropped
    }

    pub fn metadata(&self) -> Vec<TargetMetadata> {
        self.loops
            .values()
            .map(|l| TargetMetadata {
                target: l.target.public_labels.clone(),
                metrics: l.state.lock().cache.list_metadata(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_survives_interval_and_limit_changes_only() {
        let a = crate::target::tests::config("j");
        let mut b = a.clone();
        b.scrape_interval *= 2;
        b.sample_limit = 10;
        assert!(reusable_cache(&a, &b));
        b.honor_labels = true;
        assert!(!reusable_cache(&a, &b));
    }
}
