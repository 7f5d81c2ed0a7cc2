//! The TSDB's side of `/metrics` and `/api/v1/status/tsdb`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use argus_http_api::{TsdbAdmin, TsdbStatus, TsdbStatusSource};
use argus_model::matcher::Matcher;
use argus_model::storage::StorageError;
use argus_tsdb::Db;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Head statistics for the status page, computed from the head's series.
pub(crate) struct DbStatus {
    db: Arc<Db>,
}

impl DbStatus {
    pub fn new(db: Arc<Db>) -> DbStatus {
        DbStatus { db }
    }
}

impl TsdbStatusSource for DbStatus {
    fn tsdb_status(&self, limit: usize) -> TsdbStatus {
        let head = self.db.head();
        let mut labels = Vec::with_capacity(head.num_series() as usize);
        let mut chunks = 0usize;
        head.visit_series(|l, n| {
            labels.push(l.clone());
            chunks += n;
        });
        let (min, max) = head.time_range().unwrap_or((i64::MAX, i64::MIN));
        TsdbStatus::from_series(
            labels.iter(),
            i64::try_from(chunks).unwrap_or(i64::MAX),
            min,
            max,
            limit,
        )
    }

    fn wal_segments(&self) -> Option<(u64, u64)> {
        let segments = argus_tsdb::wal::list_segments(self.db.wal().dir()).ok()?;
        Some((*segments.first()?, *segments.last()?))
    }
}

fn storage_error(e: argus_tsdb::TsdbError) -> StorageError {
    StorageError::new(e.kind(), e.to_string())
}

/// The admin API over the database (`--web.enable-admin-api`).
pub(crate) struct DbAdmin(pub Arc<Db>);

impl TsdbAdmin for DbAdmin {
    fn delete_series(
        &self,
        matchers: &[Matcher],
        min_t: i64,
        max_t: i64,
    ) -> Result<(), StorageError> {
        self.0
            .delete_series(matchers, min_t, max_t)
            .map(|_| ())
            .map_err(storage_error)
    }

    fn clean_tombstones(&self) -> Result<(), StorageError> {
        self.0.clean_tombstones().map(|_| ()).map_err(storage_error)
    }

    fn snapshot(&self, with_head: bool) -> Result<String, StorageError> {
        self.0
            .snapshot(with_head)
            .map(|s| s.name)
            .map_err(storage_error)
    }
}

/// `argus_tsdb_*` metrics read from the database on each scrape.
#[derive(Debug)]
pub(crate) struct TsdbCollector {
    db: Arc<DbHandle>,
}

/// `Db` is not `Debug`; the collector trait wants it.
struct DbHandle(Arc<Db>);

impl std::fmt::Debug for DbHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

impl TsdbCollector {
    pub fn new(db: Arc<Db>) -> TsdbCollector {
        TsdbCollector {
            db: Arc::new(DbHandle(db)),
        }
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

impl Collector for TsdbCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let db = &self.db.0;
        let head = db.head();
        gauge(
            &mut e,
            "argus_tsdb_head_series",
            "Series in the head.",
            head.num_series() as f64,
        )?;
        if let Some((min, max)) = head.time_range() {
            gauge(
                &mut e,
                "argus_tsdb_head_min_time",
                "Lowest timestamp in the head, ms.",
                min as f64,
            )?;
            gauge(
                &mut e,
                "argus_tsdb_head_max_time",
                "Highest timestamp in the head, ms.",
                max as f64,
            )?;
        }
        gauge(
            &mut e,
            "argus_tsdb_blocks_loaded",
            "Blocks served from the storage path.",
            db.blocks().len() as f64,
        )?;
        let s = &head.stats;
        counter(
            &mut e,
            "argus_tsdb_head_samples_appended",
            "Samples appended to the head.",
            s.samples_appended.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "argus_tsdb_head_series_created",
            "Series created in the head.",
            s.series_created.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "argus_tsdb_head_series_removed",
            "Series removed from the head.",
            s.series_removed.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "argus_tsdb_out_of_order_samples",
            "Samples refused as out of order.",
            s.out_of_order.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "argus_tsdb_out_of_bounds_samples",
            "Samples refused as older than the head.",
            s.out_of_bounds.load(Ordering::Relaxed),
        )?;
        counter(
            &mut e,
            "argus_tsdb_wal_fsyncs",
            "WAL fsync calls.",
            db.wal().fsyncs(),
        )?;
        counter(
            &mut e,
            "argus_tsdb_wal_written_bytes",
            "Bytes written to the WAL.",
            db.wal().bytes_written(),
        )?;
        Ok(())
    }
}

/// What a scraper's StoreAPI says of its TSDB: its external labels, and
/// data from the oldest local block or the head on, with no end (the head
/// grows).
pub(crate) struct DescribeDb {
    pub db: Arc<Db>,
    pub external_labels: argus_model::labels::Labels,
}

impl argus_storeapi::server::DescribeStore for DescribeDb {
    fn describe(&self) -> argus_storeapi::server::StoreDescription {
        let blocks_min = self.db.blocks().iter().map(|b| b.min_time).min();
        let head_min = self.db.head().time_range().map(|(min, _)| min);
        let min_time = match (blocks_min, head_min) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            // Nothing yet: the next sample can come at any time from now.
            (None, None) => argus_model::time::now_ms(),
        };
        argus_storeapi::server::StoreDescription {
            component: argus_storeapi::server::Component::Sidecar,
            label_sets: vec![self.external_labels.clone()],
            min_time,
            max_time: i64::MAX,
        }
    }
}
