//! Finding the blocks to serve: one listing of the bucket, `meta.json` of
//! the blocks not seen before, deletion marks, and the store's filters.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_block::META_FILE;
use argus_block::meta::BlockMeta;
use argus_model::error::ErrorKind;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use serde::Deserialize;
use ulid::Ulid;

use crate::block::Block;
use crate::fetch::FetchError;
use crate::{BucketStore, now_ms};

/// Thanos's name for the mark a compactor leaves on a block it will delete.
pub const DELETION_MARK_FILE: &str = "deletion-mark.json";

/// What one [`BucketStore::sync`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Blocks served after the sync.
    pub served: usize,
    /// Blocks served now and not before.
    pub added: usize,
    /// Blocks served before and not now.
    pub removed: usize,
    /// Block directories without `meta.json` (uploads in progress or
    /// interrupted).
    pub partial: usize,
    /// Blocks not served because they carry a deletion mark.
    pub marked_for_deletion: usize,
    /// Blocks not served because `meta.json` is corrupt or they are not
    /// Argus blocks.
    pub failed: usize,
    /// Blocks not served because of the store's filters: time range,
    /// selector relabeling, downsampled resolution.
    pub filtered: usize,
}

/// A sync that could not list the bucket; the blocks served before stay
/// served.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("listing bucket {bucket}: {source}")]
    List {
        bucket: String,
        #[source]
        source: object_store::Error,
    },
    #[error("bucket {bucket}: reading {object}: {message}")]
    Read {
        bucket: String,
        object: String,
        message: String,
    },
}

impl SyncError {
    /// Listing or reading failed on the bucket's side: retry later.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
}

impl From<SyncError> for argus_model::storage::StorageError {
    fn from(e: SyncError) -> Self {
        argus_model::storage::StorageError::new(e.kind(), e.to_string())
    }
}

/// What the listing says of one block directory.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    meta: bool,
    deletion_mark: bool,
}

/// What syncs remember between runs: metas are immutable, so each is read
/// once.
#[derive(Default)]
pub(crate) struct SyncState {
    known: HashMap<Ulid, Arc<Block>>,
    /// Blocks found unusable, with why (warned about once).
    bad: HashMap<Ulid, String>,
    /// Deletion times of marked blocks (seconds), when the mark was read.
    marks: HashMap<Ulid, Option<i64>>,
}

#[derive(Deserialize)]
struct DeletionMark {
    deletion_time: i64,
}

/// A block's meta as read: `None` when it vanished, else the block or why
/// it cannot be served.
type MetaRead = Option<Result<Block, String>>;

const LIST_TRIES: u32 = 3;
const LIST_BACKOFF: Duration = Duration::from_millis(200);

impl BucketStore {
    /// Lists every object once and keeps what names a block file.
    async fn list_bucket(&self) -> Result<HashMap<Ulid, Seen>, SyncError> {
        let store = &self.inner.fetcher.store;
        let mut delay = LIST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut seen: HashMap<Ulid, Seen> = HashMap::new();
            let mut list = store.list(None);
            let mut failed = None;
            while let Some(item) = list.next().await {
                let m = match item {
                    Ok(m) => m,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                let mut parts = m.location.parts();
                let (Some(dir), Some(file), None) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Ok(id) = Ulid::from_string(dir.as_ref()) else {
                    continue;
                };
                let e = seen.entry(id).or_default();
                match file.as_ref() {
                    META_FILE => e.meta = true,
                    DELETION_MARK_FILE => e.deletion_mark = true,
                    _ => {}
                }
            }
            match failed {
                None => return Ok(seen),
                Some(e) if attempt < LIST_TRIES && argus_block::objstore::is_retryable(&e) => {
                    tracing::warn!(bucket = %self.inner.bucket, attempt, error = %e, "listing the bucket failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Some(source) => {
                    return Err(SyncError::List {
                        bucket: self.inner.bucket.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Reads the meta of block `id`: `Ok(None)` when it vanished, `Err`
    /// with the reason it cannot be served, or a fetch failure.
    async fn read_block(&self, id: Ulid) -> Result<MetaRead, SyncError> {
        let path = ObjectPath::from(format!("{id}/{META_FILE}"));
        let bytes = match self.inner.fetcher.get_whole(&path).await {
            Ok(b) => b,
            Err(FetchError::NotFound) => return Ok(None),
            Err(e) => {
                return Err(SyncError::Read {
                    bucket: self.inner.bucket.clone(),
                    object: path.to_string(),
                    message: e.to_string(),
                });
            }
        };
        let shown = std::path::PathBuf::from(format!("{}/{path}", self.inner.bucket));
        let meta = match BlockMeta::from_json(&bytes, &shown) {
            Ok(m) => m,
            Err(e) => return Ok(Some(Err(e.to_string()))),
        };
        if meta.ulid != id {
            return Ok(Some(Err(format!(
                "meta.json names block {}, its directory {id}",
                meta.ulid
            ))));
        }
        Ok(Some(Block::new(meta)))
    }

    /// The deletion time (seconds) of a marked block, `None` when the mark
    /// does not parse.
    async fn read_mark(&self, id: Ulid) -> Result<Option<i64>, SyncError> {
        let path = ObjectPath::from(format!("{id}/{DELETION_MARK_FILE}"));
        match self.inner.fetcher.get_whole(&path).await {
            Ok(b) => match serde_json::from_slice::<DeletionMark>(&b) {
                Ok(m) => Ok(Some(m.deletion_time)),
                Err(e) => {
                    tracing::warn!(bucket = %self.inner.bucket, block = %id, error = %e, "ignoring a deletion mark that does not parse");
                    Ok(None)
                }
            },
            // Removed since the listing: no mark.
            Err(FetchError::NotFound) => Ok(None),
            Err(e) => Err(SyncError::Read {
                bucket: self.inner.bucket.clone(),
                object: path.to_string(),
                message: e.to_string(),
            }),
        }
    }

    pub(crate) async fn sync_inner(&self) -> Result<SyncStats, SyncError> {
        let inner = &self.inner;
        let mut state = inner.sync_state.lock().await;
        let seen = self.list_bucket().await?;
        let mut stats = SyncStats::default();

        // Forget what is gone.
        state
            .known
            .retain(|id, _| seen.get(id).is_some_and(|s| s.meta));
        state
            .bad
            .retain(|id, _| seen.get(id).is_some_and(|s| s.meta));
        state
            .marks
            .retain(|id, _| seen.get(id).is_some_and(|s| s.deletion_mark));

        // Read the metas not known yet (bad ones again: a fixed meta.json
        // is picked up).
        let mut todo: Vec<Ulid> = Vec::new();
        for (id, s) in &seen {
            if !s.meta {
                stats.partial += 1;
            } else if !state.known.contains_key(id) {
                todo.push(*id);
            }
        }
        todo.sort();
        let concurrency = inner.opts.meta_fetch_concurrency.max(1);
        let results: Vec<(Ulid, Result<MetaRead, SyncError>)> = futures::stream::iter(todo)
            .map(|id| async move { (id, self.read_block(id).await) })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (id, r) in results {
            match r? {
                None => {
                    state.bad.remove(&id);
                }
                Some(Ok(b)) => {
                    state.bad.remove(&id);
                    state.known.insert(id, Arc::new(b));
                }
                Some(Err(why)) => {
                    if !state.bad.contains_key(&id) {
                        tracing::warn!(bucket = %inner.bucket, block = %id, reason = %why, "not serving block");
                        inner
                            .stats
                            .block_load_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    state.bad.insert(id, why);
                }
            }
        }
        stats.failed = state.bad.len();

        // Deletion marks, and the delay before they take effect.
        let delay = inner.opts.ignore_deletion_marks_delay;
        let mut marked: HashSet<Ulid> = HashSet::new();
        for (id, s) in &seen {
            if !s.deletion_mark || !state.known.contains_key(id) {
                continue;
            }
            if delay.is_zero() {
                marked.insert(*id);
                continue;
            }
            let at = match state.marks.get(id) {
                Some(at) => *at,
                None => {
                    let at = self.read_mark(*id).await?;
                    state.marks.insert(*id, at);
                    at
                }
            };
            let delay_s = i64::try_from(delay.as_secs()).unwrap_or(i64::MAX);
            if at.is_some_and(|t| now_ms() / 1000 - t >= delay_s) {
                marked.insert(*id);
            }
        }
        stats.marked_for_deletion = marked.len();

        let now = now_ms();
        let (lo, hi) = (
            inner.opts.min_time.resolve(now),
            inner.opts.max_time.resolve(now),
        );
        let mut served: Vec<Arc<Block>> = Vec::new();
        for (id, b) in &state.known {
            if marked.contains(id) {
                continue;
            }
            let m = &b.meta;
            let keep = m.thanos.downsample.resolution == 0
                && m.max_time >= lo
                && m.min_time <= hi
                && argus_config::relabel::relabel(b.ext(), &inner.opts.selector_relabel).is_some();
            if keep {
                served.push(b.clone());
            } else {
                stats.filtered += 1;
            }
        }
        served.sort_by_key(|b| (b.meta.min_time, b.ulid()));

        let before: HashSet<Ulid> = inner.served.read().iter().map(|b| b.ulid()).collect();
        let after: HashSet<Ulid> = served.iter().map(|b| b.ulid()).collect();
        stats.added = after.difference(&before).count();
        stats.removed = before.difference(&after).count();
        stats.served = served.len();
        *inner.served.write() = Arc::new(served);

        let s = &inner.stats;
        s.blocks_loaded
            .store(stats.served as u64, Ordering::Relaxed);
        s.blocks_failed
            .store(stats.failed as u64, Ordering::Relaxed);
        s.block_loads
            .fetch_add(stats.added as u64, Ordering::Relaxed);
        s.block_drops
            .fetch_add(stats.removed as u64, Ordering::Relaxed);
        if stats.added > 0 || stats.removed > 0 {
            tracing::info!(
                bucket = %inner.bucket,
                served = stats.served,
                added = stats.added,
                removed = stats.removed,
                partial = stats.partial,
                marked_for_deletion = stats.marked_for_deletion,
                failed = stats.failed,
                filtered = stats.filtered,
                "synced blocks"
            );
        }
        Ok(stats)
    }
}
