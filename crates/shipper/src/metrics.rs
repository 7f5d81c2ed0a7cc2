//! The shipper's metrics. Thanos's names where Thanos has the metric
//! (`pkg/shipper`, and objstore's last-upload gauge its sidecar dashboard
//! reads), so dashboards made for Thanos sidecars work; `argus_shipper_*`
//! for the rest.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Default)]
pub(crate) struct ShipperMetrics {
    pub dir_syncs: Counter,
    pub dir_sync_failures: Counter,
    pub uploads: Counter,
    pub upload_failures: Counter,
    pub uploaded_bytes: Counter,
    pub upload_compacted_done: Gauge,
    pub backlog: Gauge,
    pub last_upload_time: Gauge<f64, AtomicU64>,
    pub newest_max_time: Gauge<f64, AtomicU64>,
}

impl ShipperMetrics {
    /// Registers clones of the metrics; `bucket` labels the last-upload
    /// gauge, as Thanos's objstore labels it.
    pub fn register(&self, registry: &mut Registry, bucket: &str) {
        // prometheus-client adds `_total` to counters.
        registry.register(
            "thanos_shipper_dir_syncs",
            "Total number of dir syncs",
            self.dir_syncs.clone(),
        );
        registry.register(
            "thanos_shipper_dir_sync_failures",
            "Total number of failed dir syncs",
            self.dir_sync_failures.clone(),
        );
        registry.register(
            "thanos_shipper_uploads",
            "Total number of uploaded blocks",
            self.uploads.clone(),
        );
        registry.register(
            "thanos_shipper_upload_failures",
            "Total number of block upload failures",
            self.upload_failures.clone(),
        );
        registry.register(
            "thanos_shipper_upload_compacted_done",
            "If 1 it means shipper uploaded all compacted blocks from the filesystem.",
            self.upload_compacted_done.clone(),
        );
        registry.register(
            "argus_shipper_uploaded_bytes",
            "Bytes of the blocks uploaded, meta.json included",
            self.uploaded_bytes.clone(),
        );
        registry.register(
            "argus_shipper_backlog_blocks",
            "Local blocks waiting to be uploaded",
            self.backlog.clone(),
        );
        registry.register(
            "argus_shipper_newest_shipped_block_max_time_seconds",
            "End (maxTime) of the newest block known to be in the bucket, in seconds since the epoch",
            self.newest_max_time.clone(),
        );
        registry
            .sub_registry_with_label(("bucket".into(), bucket.to_string().into()))
            .register(
                "thanos_objstore_bucket_last_successful_upload_time",
                "Second timestamp of the last successful upload to the bucket.",
                self.last_upload_time.clone(),
            );
    }
}
