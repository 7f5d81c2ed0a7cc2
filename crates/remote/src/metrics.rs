//! Per-endpoint queue metrics (labels `remote_name`, `url`), named after
//! Prometheus's `prometheus_remote_storage_*`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Endpoint {
    pub remote_name: String,
    pub url: String,
}

type Counters = Family<Endpoint, Counter>;
type Gauges = Family<Endpoint, Gauge>;
type FloatGauges = Family<Endpoint, Gauge<f64, AtomicU64>>;

/// The metric families, registered once by the manager.
#[derive(Clone, Default)]
pub(crate) struct QueueFamilies {
    samples_in: Counters,
    pending: Gauges,
    sent: Counters,
    failed: Counters,
    retried: Counters,
    dropped: Counters,
    bytes: Counters,
    shards: Gauges,
    shards_desired: Gauges,
    shards_min: Gauges,
    shards_max: Gauges,
    highest_read: FloatGauges,
    highest_sent: FloatGauges,
}

impl QueueFamilies {
    pub(crate) fn register(registry: &mut Registry) -> QueueFamilies {
        let f = QueueFamilies::default();
        let r = registry;
        let p = "argus_remote_storage_";
        r.register(
            format!("{p}samples_in"),
            "Samples read from the WAL for sending.",
            f.samples_in.clone(),
        );
        r.register(
            format!("{p}samples_pending"),
            "Samples queued in the shards, waiting to be sent.",
            f.pending.clone(),
        );
        r.register(
            format!("{p}samples"),
            "Samples sent to the remote storage.",
            f.sent.clone(),
        );
        r.register(
            format!("{p}samples_failed"),
            "Samples that failed with an error that is not retried.",
            f.failed.clone(),
        );
        r.register(
            format!("{p}samples_retried"),
            "Samples sent again after a recoverable error.",
            f.retried.clone(),
        );
        r.register(format!("{p}samples_dropped"), "Samples dropped before sending: relabeled away, unknown series, too old, or abandoned at shutdown.", f.dropped.clone());
        r.register(
            format!("{p}bytes"),
            "Compressed bytes of requests sent.",
            f.bytes.clone(),
        );
        r.register(
            format!("{p}shards"),
            "Shards sending in parallel.",
            f.shards.clone(),
        );
        r.register(
            format!("{p}shards_desired"),
            "Shards the resharding computed as needed.",
            f.shards_desired.clone(),
        );
        r.register(
            format!("{p}shards_min"),
            "Configured min_shards.",
            f.shards_min.clone(),
        );
        r.register(
            format!("{p}shards_max"),
            "Configured max_shards.",
            f.shards_max.clone(),
        );
        r.register(
            format!("{p}highest_timestamp_in_seconds"),
            "Newest sample timestamp read from the WAL.",
            f.highest_read.clone(),
        );
        r.register(
            format!("{p}queue_highest_sent_timestamp_seconds"),
            "Newest sample timestamp successfully sent.",
            f.highest_sent.clone(),
        );
        f
    }

    pub(crate) fn for_endpoint(&self, remote_name: &str, url: &str) -> QueueMetrics {
        let e = Endpoint {
            remote_name: remote_name.to_string(),
            url: url.to_string(),
        };
        QueueMetrics {
            samples_in: self.samples_in.get_or_create(&e).clone(),
            pending: self.pending.get_or_create(&e).clone(),
            sent: self.sent.get_or_create(&e).clone(),
            failed: self.failed.get_or_create(&e).clone(),
            retried: self.retried.get_or_create(&e).clone(),
            dropped: self.dropped.get_or_create(&e).clone(),
            bytes: self.bytes.get_or_create(&e).clone(),
            shards: self.shards.get_or_create(&e).clone(),
            shards_desired: self.shards_desired.get_or_create(&e).clone(),
            shards_min: self.shards_min.get_or_create(&e).clone(),
            shards_max: self.shards_max.get_or_create(&e).clone(),
            highest_read: self.highest_read.get_or_create(&e).clone(),
            highest_sent: self.highest_sent.get_or_create(&e).clone(),
        }
    }
}

/// One endpoint's metrics; clones share the values.
#[derive(Clone)]
pub(crate) struct QueueMetrics {
    pub samples_in: Counter,
    pub pending: Gauge,
    pub sent: Counter,
    pub failed: Counter,
    pub retried: Counter,
    pub dropped: Counter,
    pub bytes: Counter,
    pub shards: Gauge,
    pub shards_desired: Gauge,
    pub shards_min: Gauge,
    pub shards_max: Gauge,
    pub highest_read: Gauge<f64, AtomicU64>,
    pub highest_sent: Gauge<f64, AtomicU64>,
}
