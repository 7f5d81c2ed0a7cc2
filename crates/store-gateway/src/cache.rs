//! The byte-bounded LRU cache every block of a store shares: parsed Parquet
//! footers and byte ranges (pages) of the block files.
//!
//! A small hand-written LRU (a map plus an order index) rather than a crate:
//! entries have very different sizes, so the bound is on bytes, and the
//! cache must report its size and hits exactly for the store's metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::parquet_file::{ChunksFile, SeriesFile};
use crate::stats::BucketStoreStats;

/// What an entry is: a byte range of an object or the parsed footer of one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    /// Bytes `[start, end)` of an object.
    Range {
        object: Arc<str>,
        start: u64,
        end: u64,
    },
    /// The validated footer (Parquet metadata and page index) of an object.
    Footer { object: Arc<str> },
    /// The data pages that came with the footer read: the end of an
    /// object's data (all of a small object).
    Tail { object: Arc<str> },
}

#[derive(Clone)]
pub(crate) enum CacheValue {
    Bytes(Bytes),
    /// Bytes starting at an offset.
    At(u64, Bytes),
    Series(Arc<SeriesFile>),
    Chunks(Arc<ChunksFile>),
}

/// What an entry costs besides its value: the key, the map and index slots.
const ENTRY_OVERHEAD: usize = 128;

struct Entry {
    value: CacheValue,
    cost: usize,
    tick: u64,
}

#[derive(Default)]
struct State {
    map: HashMap<CacheKey, Entry>,
    /// Last use → key; the first entry is the least recently used.
    order: BTreeMap<u64, CacheKey>,
    bytes: usize,
    tick: u64,
}

pub(crate) struct Cache {
    capacity: usize,
    state: Mutex<State>,
    stats: Arc<BucketStoreStats>,
}

impl Cache {
    /// A cache holding at most `capacity` bytes (0 disables it).
    pub(crate) fn new(capacity: usize, stats: Arc<BucketStoreStats>) -> Cache {
        Cache {
            capacity,
            state: Mutex::new(State::default()),
            stats,
        }
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<CacheValue> {
        self.lookup(key, true)
    }

    /// A lookup that a miss is expected of, left out of the hit and miss
    /// counts.
    pub(crate) fn peek(&self, key: &CacheKey) -> Option<CacheValue> {
        self.lookup(key, false)
    }

    fn lookup(&self, key: &CacheKey, count: bool) -> Option<CacheValue> {
        if self.capacity == 0 {
            if count {
                self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            return None;
        }
        let mut guard = self.state.lock();
        let s = &mut *guard;
        s.tick += 1;
        let tick = s.tick;
        let found = match s.map.get_mut(key) {
            Some(e) => {
                s.order.remove(&e.tick);
                e.tick = tick;
                s.order.insert(tick, key.clone());
                Some(e.value.clone())
            }
            None => None,
        };
        drop(guard);
        if !count {
            return found;
        }
        let counter = if found.is_some() {
            &self.stats.cache_hits
        } else {
            &self.stats.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Adds an entry of `size` bytes, evicting the least recently used ones
    /// to make room. An entry larger than the whole cache is not kept.
    pub(crate) fn insert(&self, key: CacheKey, value: CacheValue, size: usize) {
        let cost = size.saturating_add(ENTRY_OVERHEAD);
        if cost > self.capacity {
            return;
        }
        let mut evicted = 0u64;
        let mut guard = self.state.lock();
        let s = &mut *guard;
        if let Some(old) = s.map.remove(&key) {
            s.order.remove(&old.tick);
            s.bytes -= old.cost;
        }
        while s.bytes + cost > self.capacity {
            let Some((_, oldest)) = s.order.pop_first() else {
                break;
            };
            if let Some(e) = s.map.remove(&oldest) {
                s.bytes -= e.cost;
                evicted += 1;
            }
        }
        s.tick += 1;
        let tick = s.tick;
        s.order.insert(tick, key.clone());
        s.map.insert(key, Entry { value, cost, tick });
        s.bytes += cost;
        let (bytes, items) = (s.bytes as u64, s.map.len() as u64);
        drop(guard);
        self.stats.cache_bytes.store(bytes, Ordering::Relaxed);
        self.stats.cache_items.store(items, Ordering::Relaxed);
        if evicted > 0 {
            self.stats
                .cache_evictions
                .fetch_add(evicted, Ordering::Relaxed);
        }
    }

    /// Bytes held now (values plus per-entry overhead).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.state.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> CacheKey {
        CacheKey::Range {
            object: Arc::from("a"),
            start: i,
            end: i + 1,
        }
    }

    fn bytes_of(v: Option<CacheValue>) -> Option<Bytes> {
        match v {
            Some(CacheValue::Bytes(b)) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn evicts_least_recently_used_within_the_bound() {
        let stats = Arc::new(BucketStoreStats::default());
        let cap = 3 * (100 + ENTRY_OVERHEAD);
        let c = Cache::new(cap, stats.clone());
        for i in 0..3 {
            c.insert(
                key(i),
                CacheValue::Bytes(Bytes::from(vec![i as u8; 100])),
                100,
            );
        }
        assert_eq!(c.bytes(), cap);
        // Touch 0 so that 1 is the oldest.
        assert!(bytes_of(c.get(&key(0))).is_some());
        c.insert(key(3), CacheValue::Bytes(Bytes::from(vec![3; 100])), 100);
        assert!(c.bytes() <= cap);
        assert!(bytes_of(c.get(&key(1))).is_none());
        assert_eq!(bytes_of(c.get(&key(0))).map(|b| b[0]), Some(0));
        assert_eq!(bytes_of(c.get(&key(3))).map(|b| b[0]), Some(3));
        assert_eq!(stats.cache_evictions(), 1);
        assert_eq!(stats.cache_hits(), 3);
        assert_eq!(stats.cache_misses(), 1);
        assert_eq!(stats.cache_bytes(), cap as u64);
        // Too large for the whole cache: not kept, nothing evicted.
        c.insert(key(9), CacheValue::Bytes(Bytes::from(vec![9; cap])), cap);
        assert!(bytes_of(c.get(&key(9))).is_none());
        assert_eq!(stats.cache_items(), 3);
        // Replacing an entry does not count it twice.
        c.insert(key(3), CacheValue::Bytes(Bytes::from(vec![4; 50])), 50);
        assert!(c.bytes() <= cap);
        assert_eq!(bytes_of(c.get(&key(3))).map(|b| b.len()), Some(50));
    }

    #[test]
    fn a_zero_capacity_cache_keeps_nothing() {
        let stats = Arc::new(BucketStoreStats::default());
        let c = Cache::new(0, stats.clone());
        c.insert(key(0), CacheValue::Bytes(Bytes::from_static(b"x")), 1);
        assert!(c.get(&key(0)).is_none());
        assert_eq!(c.bytes(), 0);
        assert_eq!(stats.cache_misses(), 1);
    }
}
