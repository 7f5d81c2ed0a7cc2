//! The per-target scrape cache: raw series text → storage reference and
//! final labels, staleness tracking between scrapes, and metric metadata.

use std::collections::HashMap;

use argus_exposition::MetricType;
use argus_model::{Labels, SeriesRef};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::MetricMetadata;

/// Extra entries tolerated over twice the last successful size before
/// failed scrapes with churning series force a flush (as upstream).
const FORCED_FLUSH_SLACK: usize = 1000;

#[derive(Debug)]
pub(crate) struct SeriesEntry {
    pub series_ref: SeriesRef,
    /// Final labels; empty when metric relabeling dropped the series.
    pub labels: Labels,
    pub dropped: bool,
    /// Iteration the series text last appeared in a body.
    pub seen_iter: u64,
    /// Appended without an explicit timestamp in the previous scrape, so it
    /// gets a staleness marker if it is missing from this one.
    pub prev_tracked: bool,
    pub cur_tracked: bool,
}

#[derive(Debug, Default)]
pub(crate) struct MetaEntry {
    pub kind: Option<MetricType>,
    pub help: String,
    pub unit: String,
    pub seen_iter: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ScrapeCache {
    pub iter: u64,
    pub series: HashMap<Box<[u8]>, SeriesEntry, Xxh3DefaultBuilder>,
    pub metadata: HashMap<String, MetaEntry>,
    /// Cache size after the last successful scrape.
    successful_len: usize,
}

impl ScrapeCache {
    /// Starts a scrape iteration.
    pub fn begin(&mut self) -> u64 {
        self.iter += 1;
        self.iter
    }

    /// After a successful scrape: `stale` is called for every series of the
    /// previous scrape missing from this one; entries not seen are evicted.
    pub fn finish_success(&mut self, mut stale: impl FnMut(&mut SeriesEntry)) {
        let iter = self.iter;
        self.series.retain(|_, e| {
            if e.prev_tracked && !e.cur_tracked {
                stale(e);
            }
            e.prev_tracked = e.cur_tracked;
            e.cur_tracked = false;
            e.seen_iter == iter
        });
        self.metadata.retain(|_, m| m.seen_iter == iter);
        self.successful_len = self.series.len();
    }

    /// After a failed scrape (or when the loop ends): `stale` is called for
    /// every series of the previous scrape, except those the failed body
    /// had before it failed (upstream keeps tracking them the same way).
    /// Entries are kept for the next scrape unless failed scrapes keep
    /// adding new ones. Returns whether the cache had to be flushed.
    pub fn finish_failure(&mut self, mut stale: impl FnMut(&mut SeriesEntry)) -> bool {
        let iter = self.iter;
        let flush = self.series.len() > self.successful_len * 2 + FORCED_FLUSH_SLACK;
        self.series.retain(|_, e| {
            if e.prev_tracked && !e.cur_tracked {
                stale(e);
            }
            e.prev_tracked = e.cur_tracked;
            e.cur_tracked = false;
            !flush || e.seen_iter == iter
        });
        flush
    }

    /// The metadata entry of `family`, created on first sight, marked seen.
    pub fn meta(&mut self, family: &str) -> &mut MetaEntry {
        let iter = self.iter;
        if !self.metadata.contains_key(family) {
            self.metadata
                .insert(family.to_string(), MetaEntry::default());
        }
        let m = self
            .metadata
            .get_mut(family)
            .unwrap_or_else(|| unreachable!("inserted above"));
        if m.seen_iter != iter {
            // First line of this family in this scrape: forget last scrape's.
            m.seen_iter = iter;
            m.kind = None;
            m.help.clear();
            m.unit.clear();
        }
        m
    }

    pub fn list_metadata(&self) -> Vec<MetricMetadata> {
        let mut out: Vec<MetricMetadata> = self
            .metadata
            .iter()
            .map(|(name, m)| MetricMetadata {
                metric: name.clone(),
                kind: m.kind.unwrap_or(MetricType::Unknown).as_str().to_string(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prev: bool, cur: bool, seen: u64) -> SeriesEntry {
        SeriesEntry {
            series_ref: SeriesRef::default(),
            labels: Labels::empty(),
            dropped: false,
            seen_iter: seen,
            prev_tracked: prev,
            cur_tracked: cur,
        }
    }

    #[test]
    fn success_marks_only_vanished_series_and_evicts_them() {
        let mut c = ScrapeCache::default();
        let it = c.begin();
        c.series.insert(b"a".to_vec().into(), entry(true, true, it));
        c.series
            .insert(b"b".to_vec().into(), entry(true, false, it - 1));
        let mut stale = Vec::new();
        c.finish_success(|e| stale.push(e.seen_iter));
        assert_eq!(stale, vec![it - 1]);
        assert_eq!(c.series.len(), 1);
        let a = c
            .series
            .get(&b"a"[..])
            .unwrap_or_else(|| panic!("a evicted"));
        assert!(a.prev_tracked && !a.cur_tracked);
    }

    #[test]
    fn failure_marks_previous_series_missing_from_the_body_and_keeps_entries() {
        let mut c = ScrapeCache::default();
        let it = c.begin();
        c.series
            .insert(b"a".to_vec().into(), entry(true, false, it - 1));
        c.series.insert(b"b".to_vec().into(), entry(true, true, it));
        c.series
            .insert(b"c".to_vec().into(), entry(false, false, it));
        let mut n = 0;
        c.finish_failure(|_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(c.series.len(), 3);
        let tracked: Vec<bool> = [&b"a"[..], b"b", b"c"]
            .iter()
            .map(|k| c.series.get(*k).is_some_and(|e| e.prev_tracked))
            .collect();
        assert_eq!(tracked, vec![false, true, false]);
    }

    #[test]
    fn metadata_is_replaced_each_scrape() {
        let mut c = ScrapeCache::default();
        c.begin();
        c.meta("x").help = "old".to_string();
        c.meta("y").kind = Some(MetricType::Gauge);
        c.finish_success(|_| {});
        c.begin();
        assert_eq!(c.meta("x").help, "");
        c.meta("x").kind = Some(MetricType::Counter);
        c.finish_success(|_| {});
        let list = c.list_metadata();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].kind, "counter");
    }
}
