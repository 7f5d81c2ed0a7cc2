//! The sending side of a queue: shards, each a task with a bounded channel
//! that batches samples and posts them, retrying with backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argus_config::remote::QueueConfig;
use argus_model::Labels;
use prost::Message;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{RemoteClient, SendError};
use crate::metrics::QueueMetrics;
use crate::proto::{Sample, TimeSeries, WriteRequest, labels_to_proto};

/// A sample on its way out, with the labels it is sent with.
#[derive(Clone)]
pub(crate) struct PendingSample {
    pub series_ref: u64,
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// What every shard of a queue shares.
pub(crate) struct QueueShared {
    pub name: String,
    pub cfg: QueueConfig,
    pub client: RemoteClient,
    pub metrics: QueueMetrics,
    /// Abandons retries and queued samples: the flush deadline has passed.
    pub hard_stop: CancellationToken,
    /// Samples sent successfully, and the time spent sending (for resharding).
    pub samples_out: AtomicU64,
    pub send_nanos: AtomicU64,
    /// Wall-clock ms of the last successful send; 0 before the first.
    pub last_success_ms: AtomicI64,
}

/// The running shards of a queue.
#[derive(Default)]
pub(crate) struct Shards {
    pub senders: Vec<mpsc::Sender<PendingSample>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Shards {
    pub(crate) fn start(n: usize, shared: &Arc<QueueShared>, rt: &Handle) -> Shards {
        let mut s = Shards::default();
        for _ in 0..n.max(1) {
            let (tx, rx) = mpsc::channel(shared.cfg.capacity.max(1));
            s.senders.push(tx);
            s.tasks.push(rt.spawn(run_shard(shared.clone(), rx)));
        }
        shared.metrics.shards.set(s.senders.len() as i64);
        s
    }

    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }

    /// Closes the channels; each shard sends what it holds and exits.
    pub(crate) fn close(&mut self) -> Vec<JoinHandle<()>> {
        self.senders.clear();
        std::mem::take(&mut self.tasks)
    }
}

async fn run_shard(shared: Arc<QueueShared>, mut rx: mpsc::Receiver<PendingSample>) {
    let max = shared.cfg.max_samples_per_send.max(1);
    let mut batch: Vec<PendingSample> = Vec::with_capacity(max);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let room = max.saturating_sub(batch.len()).max(1);
        let flush_at =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = shared.hard_stop.cancelled() => {
                rx.close();
                let mut left = batch.len();
                while rx.try_recv().is_ok() {
                    left += 1;
                }
                abandon(&shared, left);
                return;
            }
            n = rx.recv_many(&mut batch, room) => {
                if n == 0 {
                    if !batch.is_empty() {
                        send_batch(&shared, std::mem::take(&mut batch)).await;
                    }
                    return;
                }
                if deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + shared.cfg.batch_send_deadline);
                }
                if batch.len() >= max {
                    send_batch(&shared, std::mem::replace(&mut batch, Vec::with_capacity(max))).await;
                    deadline = None;
                }
            }
            _ = tokio::time::sleep_until(flush_at), if deadline.is_some() => {
                send_batch(&shared, std::mem::replace(&mut batch, Vec::with_capacity(max))).await;
                deadline = None;
            }
        }
    }
}

fn abandon(shared: &QueueShared, n: usize) {
    if n > 0 {
        tracing::warn!(
            remote_name = %shared.name,
            samples = n,
            "remote write queue stopped before these samples could be sent"
        );
        shared.metrics.dropped.inc_by(n as u64);
        shared.metrics.pending.dec_by(n as i64);
    }
}

/// Sends one batch, retrying recoverable errors with exponential backoff
/// until it succeeds, fails for good, or the queue is hard-stopped.
pub(crate) async fn send_batch(shared: &QueueShared, mut samples: Vec<PendingSample>) {
    let queued = samples.len();
    let started = Instant::now();
    let mut backoff = shared.cfg.min_backoff;
    loop {
        drop_too_old(shared, &mut samples);
        if samples.is_empty() {
            break;
        }
        let body = match encode(&samples) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(remote_name = %shared.name, error = %e, "remote write batch could not be encoded");
                shared.metrics.failed.inc_by(samples.len() as u64);
                break;
            }
        };
        let bytes = body.len() as u64;
        let result = tokio::select! {
            r = shared.client.store(body) => r,
            _ = shared.hard_stop.cancelled() => {
                abandon_in_flight(shared, samples.len());
                break;
            }
        };
        match result {
            Ok(()) => {
                let n = samples.len() as u64;
                shared.metrics.sent.inc_by(n);
                shared.metrics.bytes.inc_by(bytes);
                if let Some(max_t) = samples.iter().map(|s| s.t).max() {
                    let secs = max_t as f64 / 1000.0;
                    if secs > shared.metrics.highest_sent.get() {
                        shared.metrics.highest_sent.set(secs);
                    }
                }
                shared.samples_out.fetch_add(n, Ordering::Relaxed);
                shared.last_success_ms.store(now_ms(), Ordering::Relaxed);
                break;
            }
            Err(SendError::Fatal(reason)) => {
                tracing::error!(
                    remote_name = %shared.name,
                    samples = samples.len(),
                    error = %reason,
                    "remote write failed, dropping the batch"
                );
                shared.metrics.failed.inc_by(samples.len() as u64);
                break;
            }
            Err(SendError::Recoverable {
                reason,
                retry_after,
            }) => {
                let wait = retry_after.unwrap_or(backoff);
                tracing::warn!(
                    remote_name = %shared.name,
                    samples = samples.len(),
                    error = %reason,
                    retry_in_ms = wait.as_millis() as u64,
                    "remote write failed, retrying"
                );
                shared.metrics.retried.inc_by(samples.len() as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.hard_stop.cancelled() => {
                        abandon_in_flight(shared, samples.len());
                        break;
                    }
                }
                backoff = (backoff * 2).min(shared.cfg.max_backoff.max(shared.cfg.min_backoff));
            }
        }
    }
    shared
        .send_nanos
        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    shared.metrics.pending.dec_by(queued as i64);
}

fn abandon_in_flight(shared: &QueueShared, n: usize) {
    tracing::warn!(remote_name = %shared.name, samples = n, "remote write queue stopped while retrying");
    shared.metrics.dropped.inc_by(n as u64);
}

/// Drops samples older than `sample_age_limit`, as Prometheus does before
/// every attempt.
fn drop_too_old(shared: &QueueShared, samples: &mut Vec<PendingSample>) {
    let limit = shared.cfg.sample_age_limit;
    if limit.is_zero() {
        return;
    }
    let oldest = now_ms().saturating_sub(limit.as_millis() as i64);
    let before = samples.len();
    samples.retain(|s| s.t >= oldest);
    let dropped = before - samples.len();
    if dropped > 0 {
        shared.metrics.dropped.inc_by(dropped as u64);
    }
}

/// The snappy-compressed `WriteRequest` of a batch, one series per ref.
pub(crate) fn encode(samples: &[PendingSample]) -> Result<Vec<u8>, snap::Error> {
    let mut series: Vec<TimeSeries> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for s in samples {
        let i = *index.entry(s.series_ref).or_insert_with(|| {
            series.push(TimeSeries {
                labels: labels_to_proto(&s.labels),
                samples: Vec::new(),
            });
            series.len() - 1
        });
        series[i].samples.push(Sample {
            value: s.v,
            timestamp: s.t,
        });
    }
    let req = WriteRequest {
        timeseries: series,
        metadata: Vec::new(),
    };
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
