//! The WAL-facing side of a queue: keeps each series' outgoing labels
//! (external labels added, then write relabeling, once per series) and
//! hands samples to the shard owning their series, blocking when it is
//! full so memory stays bounded.

use std::collections::HashMap;
use std::sync::Arc;

use argus_config::relabel::{RelabelConfig, relabel};
use argus_model::Labels;
use argus_tsdb::wal::RefSample;
use argus_tsdb::wal_watch::WalConsumer;
use tokio::sync::RwLock;
use tokio::sync::mpsc::error::TrySendError;

use crate::shards::{PendingSample, QueueShared, Shards};

struct SeriesEntry {
    /// None when write relabeling dropped the series.
    labels: Option<Labels>,
    /// The WAL segment the series record was last read from.
    segment: u64,
}

pub(crate) struct QueueWriter {
    shared: Arc<QueueShared>,
    shards: Arc<RwLock<Shards>>,
    relabel_configs: Vec<RelabelConfig>,
    external_labels: Labels,
    series: HashMap<u64, SeriesEntry>,
}

impl QueueWriter {
    pub(crate) fn new(
        shared: Arc<QueueShared>,
        shards: Arc<RwLock<Shards>>,
        relabel_configs: Vec<RelabelConfig>,
        external_labels: Labels,
    ) -> QueueWriter {
        QueueWriter {
            shared,
            shards,
            relabel_configs,
            external_labels,
            series: HashMap::new(),
        }
    }

    fn outgoing_labels(&self, series: &Labels) -> Option<Labels> {
        let with_external = add_external_labels(series, &self.external_labels);
        if self.relabel_configs.is_empty() {
            return Some(with_external);
        }
        relabel(&with_external, &self.relabel_configs).filter(|l| !l.is_empty())
    }
}

/// Adds the external labels a series does not already have: the series'
/// own labels win, as in Prometheus.
pub(crate) fn add_external_labels(series: &Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return series.clone();
    }
    let mut b = series.builder();
    for l in external.iter() {
        if series.get(l.name).is_none() {
            b.set(l.name, l.value);
        }
    }
    b.build()
}

impl WalConsumer for QueueWriter {
    fn store_series(&mut self, series: &[(u64, Labels)], segment: u64) {
        for (r, l) in series {
            // Relabel only series not seen before: a checkpoint repeats them.
            if let Some(e) = self.series.get_mut(r) {
                e.segment = e.segment.max(segment);
                continue;
            }
            let labels = self.outgoing_labels(l);
            self.series.insert(*r, SeriesEntry { labels, segment });
        }
    }

    fn append(&mut self, samples: &[RefSample]) -> bool {
        let m = &self.shared.metrics;
        m.samples_in.inc_by(samples.len() as u64);
        if let Some(max_t) = samples.iter().map(|s| s.t).max() {
            let secs = max_t as f64 / 1000.0;
            if secs > m.highest_read.get() {
                m.highest_read.set(secs);
            }
        }
        let shards = self.shards.blocking_read();
        let n = shards.len() as u64;
        if n == 0 {
            return false;
        }
        for s in samples {
            let Some(labels) = self.series.get(&s.series).and_then(|e| e.labels.clone()) else {
                m.dropped.inc();
                continue;
            };
            let item = PendingSample {
                series_ref: s.series,
                labels,
                t: s.t,
                v: s.v,
            };
            // Same series, same shard: keeps its samples in order.
            let tx = &shards.senders[(s.series % n) as usize];
            m.pending.inc();
            let sent = match tx.try_send(item) {
                Ok(()) => true,
                Err(TrySendError::Full(item)) => tx.blocking_send(item).is_ok(),
                Err(TrySendError::Closed(_)) => false,
            };
            if !sent {
                m.pending.dec();
                return false;
            }
        }
        true
    }

    fn series_reset(&mut self, segment: u64) {
        let before = self.series.len();
        self.series.retain(|_, e| e.segment >= segment);
        tracing::debug!(
            remote_name = %self.shared.name,
            dropped = before - self.series.len(),
            "remote write queue forgot series replaced by a checkpoint"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_labels_win_over_external_labels() {
        let s = Labels::from_pairs(&[("__name__", "up"), ("env", "prod")]);
        let ext = Labels::from_pairs(&[("env", "ext"), ("replica", "a")]);
        let got = add_external_labels(&s, &ext);
        assert_eq!(
            got,
            Labels::from_pairs(&[("__name__", "up"), ("env", "prod"), ("replica", "a")])
        );
    }
}
