//! The scrape manager's own metrics, registered with the `argus_` prefix.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type LabelPairs = Vec<(String, String)>;

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

#[derive(Debug)]
pub(crate) struct Metrics {
    pub scrape_pools: Gauge,
    pub pool_targets: Family<LabelPairs, Gauge>,
    pub pool_syncs: Family<LabelPairs, Counter>,
    pub pool_reloads: Counter,
    pub sync_failed: Family<LabelPairs, Counter>,
    pub sync_length: Family<LabelPairs, Histogram, fn() -> Histogram>,
    pub interval_length: Family<LabelPairs, Histogram, fn() -> Histogram>,
    pub exceeded_sample_limit: Counter,
    pub exceeded_body_size_limit: Counter,
    pub exceeded_label_limits: Counter,
    pub exceeded_target_limit: Counter,
    pub sample_out_of_order: Counter,
    pub sample_duplicate: Counter,
    pub sample_out_of_bounds: Counter,
    pub cache_flush_forced: Counter,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            scrape_pools: Gauge::default(),
            pool_targets: Family::default(),
            pool_syncs: Family::default(),
            pool_reloads: Counter::default(),
            sync_failed: Family::default(),
            sync_length: Family::new_with_constructor(seconds_histogram),
            interval_length: Family::new_with_constructor(seconds_histogram),
            exceeded_sample_limit: Counter::default(),
            exceeded_body_size_limit: Counter::default(),
            exceeded_label_limits: Counter::default(),
            exceeded_target_limit: Counter::default(),
            sample_out_of_order: Counter::default(),
            sample_duplicate: Counter::default(),
            sample_out_of_bounds: Counter::default(),
            cache_flush_forced: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("argus");
        r.register(
            "target_scrape_pools",
            "Current number of scrape pools",
            m.scrape_pools.clone(),
        );
        r.register(
            "target_scrape_pool_targets",
            "Current number of targets in this scrape pool",
            m.pool_targets.clone(),
        );
        r.register(
            "target_scrape_pool_sync",
            "Total number of syncs that were executed on a scrape pool",
            m.pool_syncs.clone(),
        );
        r.register(
            "target_scrape_pool_reloads",
            "Total number of scrape pool reloads",
            m.pool_reloads.clone(),
        );
        r.register(
            "target_sync_failed",
            "Total number of target sync failures",
            m.sync_failed.clone(),
        );
        r.register(
            "target_sync_length_seconds",
            "Actual interval to sync the scrape pool",
            m.sync_length.clone(),
        );
        r.register(
            "target_interval_length_seconds",
            "Actual intervals between scrapes",
            m.interval_length.clone(),
        );
        r.register(
            "target_scrapes_exceeded_sample_limit",
            "Total number of scrapes that hit the sample limit and were rejected",
            m.exceeded_sample_limit.clone(),
        );
        r.register(
            "target_scrapes_exceeded_body_size_limit",
            "Total number of scrapes that hit the body size limit",
            m.exceeded_body_size_limit.clone(),
        );
        r.register(
            "target_scrape_pool_exceeded_label_limits",
            "Total number of times scrape pools hit the label limits",
            m.exceeded_label_limits.clone(),
        );
        r.register(
            "target_scrape_pool_exceeded_target_limit",
            "Total number of times scrape pools hit the target limit",
            m.exceeded_target_limit.clone(),
        );
        r.register(
            "target_scrapes_sample_out_of_order",
            "Total number of samples rejected due to not being out of the expected order",
            m.sample_out_of_order.clone(),
        );
        r.register(
            "target_scrapes_sample_duplicate_timestamp",
            "Total number of samples rejected due to duplicate timestamps but different values",
            m.sample_duplicate.clone(),
        );
        r.register(
            "target_scrapes_sample_out_of_bounds",
            "Total number of samples rejected due to timestamp falling outside of the time bounds",
            m.sample_out_of_bounds.clone(),
        );
        r.register(
            "target_scrapes_cache_flush_forced",
            "How many times a scrape cache was flushed due to getting big while scrapes are failing",
            m.cache_flush_forced.clone(),
        );
        m
    }
}

pub(crate) fn job_label(job: &str) -> LabelPairs {
    vec![("scrape_job".to_string(), job.to_string())]
}

pub(crate) fn interval_label(interval: &str) -> LabelPairs {
    vec![("interval".to_string(), interval.to_string())]
}
