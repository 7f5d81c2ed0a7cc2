//! The set of remote-write queues, one per `remote_write` entry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use argus_config::remote::RemoteWriteConfig;
use argus_model::Labels;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::metrics::QueueFamilies;
use crate::queue::{Queue, QueueOptions};

struct RunningQueue {
    cfg: RemoteWriteConfig,
    external_labels: Labels,
    queue: Queue,
}

pub struct RemoteWriteManager {
    wal_dir: PathBuf,
    families: QueueFamilies,
    opts: QueueOptions,
    queues: Mutex<HashMap<String, RunningQueue>>,
    /// Queues replaced by a config change, still flushing.
    stopping: Mutex<Vec<JoinHandle<()>>>,
}

impl RemoteWriteManager {
    /// `wal_dir` is the TSDB's WAL directory (`Db::wal().dir()`).
    pub fn new(wal_dir: PathBuf, registry: &mut Registry) -> Arc<RemoteWriteManager> {
        Self::with_options(wal_dir, registry, QueueOptions::default())
    }

    pub(crate) fn with_options(
        wal_dir: PathBuf,
        registry: &mut Registry,
        opts: QueueOptions,
    ) -> Arc<RemoteWriteManager> {
        Arc::new(RemoteWriteManager {
            wal_dir,
            families: QueueFamilies::register(registry),
            opts,
            queues: Mutex::new(HashMap::new()),
            stopping: Mutex::new(Vec::new()),
        })
    }

    /// Starts/stops/restarts one queue per remote_write entry (unchanged
    /// entries keep running), adding `external_labels` to every series sent
    /// (series labels win on conflict, as Prometheus). Must be called within
    /// a tokio runtime.
    pub fn apply_config(&self, cfgs: &[RemoteWriteConfig], external_labels: &Labels) {
        let rt = match Handle::try_current() {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "remote write config not applied: no tokio runtime");
                return;
            }
        };
        let mut queues = self.queues.lock();
        let mut old = std::mem::take(&mut *queues);
        let mut stopping = Vec::new();
        for cfg in cfgs {
            let name = queue_name(cfg);
            if queues.contains_key(&name) {
                tracing::error!(remote_name = %name, "duplicate remote_write name; entry ignored");
                continue;
            }
            if let Some(running) = old.remove(&name) {
                if running.cfg == *cfg && running.external_labels == *external_labels {
                    queues.insert(name, running);
                    continue;
                }
                stopping.push(running.queue);
            }
            match Queue::start(
                cfg,
                &name,
                external_labels,
                &self.wal_dir,
                &self.families,
                &rt,
                &self.opts,
            ) {
                Ok(queue) => {
                    queues.insert(
                        name,
                        RunningQueue {
                            cfg: cfg.clone(),
                            external_labels: external_labels.clone(),
                            queue,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(remote_name = %name, url = %cfg.url, error = %e, "remote write queue not started");
                }
            }
        }
        stopping.extend(old.into_values().map(|r| r.queue));
        drop(queues);
        let mut pending = self.stopping.lock();
        pending.retain(|h| !h.is_finished());
        for q in stopping {
            pending.push(rt.spawn(q.stop()));
        }
    }

    /// Stops every queue, flushing what it can within a short deadline.
    pub async fn stop(&self) {
        let queues: Vec<Queue> = self.queues.lock().drain().map(|(_, r)| r.queue).collect();
        let replaced: Vec<JoinHandle<()>> = self.stopping.lock().drain(..).collect();
        futures::future::join_all(queues.into_iter().map(Queue::stop)).await;
        for h in replaced {
            let _ = h.await;
        }
    }
}

/// The config's name, or its url when unnamed.
fn queue_name(cfg: &RemoteWriteConfig) -> String {
    if cfg.name.is_empty() {
        cfg.url.clone()
    } else {
        cfg.name.clone()
    }
}

#[cfg(test)]
mod tests;
