//! One remote-write queue: a WAL watcher thread feeding shards, a
//! resharding task, and an orderly stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_config::remote::RemoteWriteConfig;
use argus_model::Labels;
use argus_tsdb::wal_watch::{StopSignal, WalWatcher, WatchOptions};
use tokio::runtime::Handle;
use tokio::sync::RwLock;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::RemoteClient;
use crate::metrics::QueueFamilies;
use crate::shards::{QueueShared, Shards, now_ms};
use crate::writer::QueueWriter;

/// Shards may differ this much from the desired count before resharding.
const SHARD_TOLERANCE: f64 = 0.3;
/// Pending samples should be caught up within this many seconds.
const BACKLOG_CATCHUP_SECS: f64 = 20.0;

#[derive(Debug, Clone)]
pub(crate) struct QueueOptions {
    pub wal_poll_interval: Duration,
    pub reshard_interval: Duration,
    /// How long a stop waits for queued samples to be sent.
    pub flush_deadline: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            wal_poll_interval: Duration::from_millis(100),
            reshard_interval: Duration::from_secs(10),
            flush_deadline: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Queue {
    shared: Arc<QueueShared>,
    shards: Arc<RwLock<Shards>>,
    soft_stop: CancellationToken,
    watcher_stop: StopSignal,
    watcher: Option<std::thread::JoinHandle<()>>,
    resharder: JoinHandle<()>,
    flush_deadline: Duration,
}

impl Queue {
    pub(crate) fn start(
        cfg: &RemoteWriteConfig,
        name: &str,
        external_labels: &Labels,
        wal_dir: &Path,
        families: &QueueFamilies,
        rt: &Handle,
        opts: &QueueOptions,
    ) -> Result<Queue, String> {
        let client = RemoteClient::new(cfg)?;
        let q = &cfg.queue_config;
        let metrics = families.for_endpoint(name, &cfg.url);
        let min_shards = q.min_shards.max(1);
        let max_shards = q.max_shards.max(min_shards);
        metrics.shards_min.set(min_shards as i64);
        metrics.shards_max.set(max_shards as i64);
        metrics.shards_desired.set(min_shards as i64);
        let shared = Arc::new(QueueShared {
            name: name.to_string(),
            cfg: q.clone(),
            client,
            metrics,
            hard_stop: CancellationToken::new(),
            samples_out: AtomicU64::new(0),
            send_nanos: AtomicU64::new(0),
            last_success_ms: AtomicI64::new(0),
        });
        let shards = Arc::new(RwLock::new(Shards::start(min_shards, &shared, rt)));
        let writer = QueueWriter::new(
            shared.clone(),
            shards.clone(),
            cfg.write_relabel_configs.clone(),
            external_labels.clone(),
        );
        let watcher_stop = StopSignal::new();
        let watch_opts = WatchOptions {
            start_time: now_ms(),
            poll_interval: opts.wal_poll_interval,
        };
        let watcher = WalWatcher::new(wal_dir, watch_opts, writer, watcher_stop.clone());
        let thread_name = format!("remote-wal-{name}");
        let log_name = name.to_string();
        let watcher = std::thread::Builder::new()
            .name(thread_name.chars().take(15).collect())
            .spawn(move || {
                if let Err(e) = watcher.run() {
                    tracing::error!(remote_name = %log_name, error = %e, "remote write wal watcher failed");
                }
            })
            .map_err(|e| format!("starting the wal watcher thread: {e}"))?;
        let soft_stop = CancellationToken::new();
        let resharder = rt.spawn(reshard_loop(
            shared.clone(),
            shards.clone(),
            soft_stop.clone(),
            opts.reshard_interval,
            (min_shards, max_shards),
        ));
        tracing::info!(remote_name = %name, url = %cfg.url, shards = min_shards, "remote write queue started");
        Ok(Queue {
            shared,
            shards,
            soft_stop,
            watcher_stop,
            watcher: Some(watcher),
            resharder,
            flush_deadline: opts.flush_deadline,
        })
    }

    /// Stops reading the WAL, sends what is queued within the flush
    /// deadline, then abandons the rest.
    pub(crate) async fn stop(mut self) {
        let deadline = tokio::time::Instant::now() + self.flush_deadline;
        self.watcher_stop.stop();
        self.soft_stop.cancel();
        let hard = self.shared.hard_stop.clone();
        if tokio::time::timeout_at(deadline, &mut self.resharder)
            .await
            .is_err()
        {
            hard.cancel();
            let _ = (&mut self.resharder).await;
        }
        // The watcher may hold the read lock while blocked on a full shard.
        let mut guard = match tokio::time::timeout_at(deadline, self.shards.write()).await {
            Ok(g) => g,
            Err(_) => {
                hard.cancel();
                self.shards.write().await
            }
        };
        let tasks = guard.close();
        drop(guard);
        let all = futures::future::join_all(tasks);
        tokio::pin!(all);
        if tokio::time::timeout_at(deadline, &mut all).await.is_err() {
            hard.cancel();
            all.await;
        }
        hard.cancel();
        if let Some(h) = self.watcher.take()
            && tokio::task::spawn_blocking(move || h.join()).await.is_err()
        {
            tracing::warn!(remote_name = %self.shared.name, "remote write wal watcher did not stop cleanly");
        }
        self.shared.metrics.shards.set(0);
        tracing::info!(remote_name = %self.shared.name, "remote write queue stopped");
    }
}

/// Shard count needed to keep up: the time one shard spends per sample
/// times the rate samples arrive (plus the backlog to catch up).
pub(crate) fn desired_shards(
    secs_per_sample: f64,
    in_rate: f64,
    pending: f64,
    (min, max): (usize, usize),
) -> usize {
    let need = secs_per_sample * (in_rate + pending.max(0.0) / BACKLOG_CATCHUP_SECS);
    (need.ceil().max(0.0) as usize).clamp(min, max)
}

async fn reshard_loop(
    shared: Arc<QueueShared>,
    shards: Arc<RwLock<Shards>>,
    stop: CancellationToken,
    every: Duration,
    bounds: (usize, usize),
) {
    let mut last = Instant::now();
    let mut last_in = shared.metrics.samples_in.get();
    let mut last_out = shared.samples_out.load(Ordering::Relaxed);
    let mut last_nanos = shared.send_nanos.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let elapsed = last.elapsed().as_secs_f64();
        let (now_in, now_out) = (
            shared.metrics.samples_in.get(),
            shared.samples_out.load(Ordering::Relaxed),
        );
        let now_nanos = shared.send_nanos.load(Ordering::Relaxed);
        let (d_in, d_out, d_nanos) = (now_in - last_in, now_out - last_out, now_nanos - last_nanos);
        (last, last_in, last_out, last_nanos) = (Instant::now(), now_in, now_out, now_nanos);
        if d_out == 0 || elapsed <= 0.0 {
            continue;
        }
        let secs_per_sample = d_nanos as f64 / 1e9 / d_out as f64;
        let pending = shared.metrics.pending.get() as f64;
        let desired = desired_shards(secs_per_sample, d_in as f64 / elapsed, pending, bounds);
        shared.metrics.shards_desired.set(desired as i64);
        let current = shards.read().await.len();
        let band =
            current as f64 * (1.0 - SHARD_TOLERANCE)..=current as f64 * (1.0 + SHARD_TOLERANCE);
        if desired == current || band.contains(&(desired as f64)) {
            continue;
        }
        // More shards cannot help an endpoint that is failing.
        let since_ok = now_ms() - shared.last_success_ms.load(Ordering::Relaxed);
        if since_ok > 2 * every.as_millis() as i64 {
            continue;
        }
        tracing::info!(remote_name = %shared.name, from = current, to = desired, "remote write resharding");
        let mut g = shards.write().await;
        // Old shards finish first so a series' samples stay in order.
        futures::future::join_all(g.close()).await;
        *g = Shards::start(desired, &shared, &Handle::current());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_shards_follow_rate_and_backlog() {
        // 10ms per sample at 1000 samples/s: 10 shards.
        assert_eq!(desired_shards(0.01, 1000.0, 0.0, (1, 50)), 10);
        // A backlog of 2000 samples adds 2000/20 = 100 samples/s.
        assert_eq!(desired_shards(0.01, 1000.0, 2000.0, (1, 50)), 11);
        assert_eq!(desired_shards(0.01, 100_000.0, 0.0, (1, 50)), 50);
        assert_eq!(desired_shards(0.0, 0.0, 0.0, (2, 50)), 2);
    }
}
