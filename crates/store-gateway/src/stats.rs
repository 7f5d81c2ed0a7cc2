//! Counters and gauges of a [`BucketStore`](crate::BucketStore), plain
//! atomics so tests read them directly and the server maps them to metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a store has done so far. Counters only grow; gauges (`cache_bytes`,
/// `cache_items`, `blocks_loaded`, `blocks_failed`) hold the current value.
#[derive(Debug, Default)]
pub struct BucketStoreStats {
    pub(crate) fetched_bytes: AtomicU64,
    pub(crate) get_requests: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) cache_evictions: AtomicU64,
    pub(crate) cache_bytes: AtomicU64,
    pub(crate) cache_items: AtomicU64,
    pub(crate) blocks_loaded: AtomicU64,
    pub(crate) blocks_failed: AtomicU64,
    pub(crate) block_loads: AtomicU64,
    pub(crate) block_load_failures: AtomicU64,
    pub(crate) block_drops: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) sync_failures: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl BucketStoreStats {
    /// Bytes received from the bucket: `meta.json` files, footers, pages
    /// (including the gaps of coalesced ranges).
    pub fn fetched_bytes(&self) -> u64 {
        get(&self.fetched_bytes)
    }

    /// GET requests sent to the bucket (ranged or whole), retries included.
    pub fn get_requests(&self) -> u64 {
        get(&self.get_requests)
    }

    /// Cache lookups answered from the cache.
    pub fn cache_hits(&self) -> u64 {
        get(&self.cache_hits)
    }

    /// Cache lookups that went to the bucket.
    pub fn cache_misses(&self) -> u64 {
        get(&self.cache_misses)
    }

    /// Entries dropped to make room for newer ones.
    pub fn cache_evictions(&self) -> u64 {
        get(&self.cache_evictions)
    }

    /// Bytes the cache holds now (never above `cache_bytes` of the options).
    pub fn cache_bytes(&self) -> u64 {
        get(&self.cache_bytes)
    }

    /// Entries the cache holds now.
    pub fn cache_items(&self) -> u64 {
        get(&self.cache_items)
    }

    /// Blocks served now.
    pub fn blocks_loaded(&self) -> u64 {
        get(&self.blocks_loaded)
    }

    /// Blocks skipped at the last sync because their `meta.json` is corrupt
    /// or they are not Argus blocks.
    pub fn blocks_failed(&self) -> u64 {
        get(&self.blocks_failed)
    }

    /// Blocks that started being served.
    pub fn block_loads(&self) -> u64 {
        get(&self.block_loads)
    }

    /// Blocks newly found unusable (each counted once while it stays so).
    pub fn block_load_failures(&self) -> u64 {
        get(&self.block_load_failures)
    }

    /// Blocks that stopped being served (deleted, marked for deletion,
    /// filtered out).
    pub fn block_drops(&self) -> u64 {
        get(&self.block_drops)
    }

    /// Syncs with the bucket, failed ones included.
    pub fn syncs(&self) -> u64 {
        get(&self.syncs)
    }

    /// Syncs that failed (the previous set of blocks stays served).
    pub fn sync_failures(&self) -> u64 {
        get(&self.sync_failures)
    }
}
