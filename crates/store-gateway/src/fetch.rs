//! Reads from the bucket: ranged GETs through the shared cache, coalescing
//! nearby ranges, retrying transient errors; and the bridge that lets the
//! synchronous read path wait for them.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_model::error::ErrorKind;
use argus_model::storage::{ReadContext, StorageError};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use crate::cache::{Cache, CacheKey, CacheValue};
use crate::stats::BucketStoreStats;

/// Ranges closer than this are fetched with one GET: a request costs more
/// than reading a few kilobytes more.
const COALESCE_GAP: u64 = 16 << 10;
/// GETs in flight for one batch of ranges.
const FETCH_CONCURRENCY: usize = 8;
/// Attempts of one request on transient errors.
const MAX_TRIES: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// An object of the bucket with its size, as the cache names it.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRef {
    pub path: ObjectPath,
    /// The cache key of the object: its path.
    pub key: Arc<str>,
    pub len: u64,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("not in the bucket")]
    NotFound,
    #[error("object storage: {0}")]
    Store(#[source] object_store::Error),
    #[error("range {start}..{end} is beyond the end of the object ({len} bytes)")]
    OutOfBounds { start: u64, end: u64, len: u64 },
    #[error("expected {want} bytes at offset {start}, got {got}: the object is truncated")]
    Short { start: u64, want: u64, got: u64 },
}

impl FetchError {
    /// The error of reading `what` (a block file): an object that is missing
    /// or shorter than its metadata says is corrupt data, a failing bucket
    /// is unavailable.
    pub(crate) fn to_storage(&self, what: &str) -> StorageError {
        match self {
            FetchError::Store(_) => StorageError::unavailable(format!("{what}: {self}")),
            _ => StorageError::corrupt(format!("{what}: {self}")),
        }
    }
}

fn from_store(e: object_store::Error) -> FetchError {
    match e {
        object_store::Error::NotFound { .. } => FetchError::NotFound,
        e => FetchError::Store(e),
    }
}

/// The bucket side of a store: object storage, the cache, the counters and
/// the runtime the requests run on.
pub(crate) struct Fetcher {
    pub store: Arc<dyn ObjectStore>,
    pub cache: Cache,
    pub stats: Arc<BucketStoreStats>,
    pub runtime: tokio::runtime::Handle,
}

impl Fetcher {
    /// Runs `op` until it succeeds, fails for good or runs out of tries.
    async fn retry<T, F, Fut>(&self, path: &ObjectPath, mut op: F) -> Result<T, object_store::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, object_store::Error>>,
    {
        let mut delay = INITIAL_BACKOFF;
        let mut attempt = 1;
        loop {
            self.stats.get_requests.fetch_add(1, Ordering::Relaxed);
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < MAX_TRIES && argus_block::objstore::is_retryable(&e) => {
                    tracing::warn!(object = %path, attempt, error = %e, "object storage read failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn count(&self, n: usize) {
        self.stats
            .fetched_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A whole small object (`meta.json`, a deletion mark), not cached.
    pub(crate) async fn get_whole(&self, path: &ObjectPath) -> Result<Bytes, FetchError> {
        let bytes = self
            .retry(path, || async { self.store.get(path).await?.bytes().await })
            .await
            .map_err(from_store)?;
        self.count(bytes.len());
        Ok(bytes)
    }

    /// The last `n` bytes of an object (all of it when shorter), with the
    /// range they cover and the object's size.
    pub(crate) async fn get_suffix(
        &self,
        path: &ObjectPath,
        n: u64,
    ) -> Result<(Range<u64>, Bytes, u64), FetchError> {
        let (range, bytes, size) = self
            .retry(path, || async {
                let opts = GetOptions {
                    range: Some(GetRange::Suffix(n)),
                    ..GetOptions::default()
                };
                let r = self.store.get_opts(path, opts).await?;
                let (range, size) = (r.range.clone(), r.meta.size);
                Ok((range, r.bytes().await?, size))
            })
            .await
            .map_err(from_store)?;
        self.count(bytes.len());
        if bytes.len() as u64 != range.end - range.start {
            return Err(FetchError::Short {
                start: range.start,
                want: range.end - range.start,
                got: bytes.len() as u64,
            });
        }
        Ok((range, bytes, size))
    }

    /// One range, not cached (footer reads).
    pub(crate) async fn get_range(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
    ) -> Result<Bytes, FetchError> {
        if range.end > obj.len || range.start >= range.end {
            return Err(FetchError::OutOfBounds {
                start: range.start,
                end: range.end,
                len: obj.len,
            });
        }
        let bytes = self
            .retry(&obj.path, || self.store.get_range(&obj.path, range.clone()))
            .await
            .map_err(from_store)?;
        self.count(bytes.len());
        if bytes.len() as u64 != range.end - range.start {
            return Err(FetchError::Short {
                start: range.start,
                want: range.end - range.start,
                got: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// The bytes of each range of `obj` (in the order given), from the cache
    /// or the bucket. Missing ranges close to each other are fetched with
    /// one GET; every range is cached on its own (copied out of a coalesced
    /// read, so that a cached page does not keep its neighbours alive).
    pub(crate) async fn ranges(
        &self,
        obj: &ObjectRef,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, FetchError> {
        let mut out: Vec<Option<Bytes>> = vec![None; ranges.len()];
        let mut missing: Vec<usize> = Vec::new();
        for r in ranges {
            if r.end > obj.len || r.start >= r.end {
                return Err(FetchError::OutOfBounds {
                    start: r.start,
                    end: r.end,
                    len: obj.len,
                });
            }
        }
        let tail = match self.cache.peek(&CacheKey::Tail {
            object: obj.key.clone(),
        }) {
            Some(CacheValue::At(start, b)) => Some((start, b)),
            _ => None,
        };
        for (i, r) in ranges.iter().enumerate() {
            if let Some((start, b)) = &tail
                && r.start >= *start
                && r.end <= start + b.len() as u64
            {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                out[i] = Some(b.slice((r.start - start) as usize..(r.end - start) as usize));
                continue;
            }
            match self.cache.get(&range_key(obj, r)) {
                Some(CacheValue::Bytes(b)) => out[i] = Some(b),
                _ => missing.push(i),
            }
        }
        missing.sort_by_key(|&i| (ranges[i].start, ranges[i].end));
        let mut groups: Vec<(Range<u64>, Vec<usize>)> = Vec::new();
        for i in missing {
            let r = &ranges[i];
            match groups.last_mut() {
                Some((g, members)) if r.start <= g.end.saturating_add(COALESCE_GAP) => {
                    g.end = g.end.max(r.end);
                    members.push(i);
                }
                _ => groups.push((r.clone(), vec![i])),
            }
        }
        let mut fetched = futures::stream::iter(groups)
            .map(|(g, members)| async move {
                let got = self.get_range(obj, g.clone()).await;
                (g, members, got)
            })
            .buffer_unordered(FETCH_CONCURRENCY);
        while let Some((g, members, got)) = fetched.next().await {
            let data = got?;
            for i in members {
                let r = &ranges[i];
                let slice = data.slice((r.start - g.start) as usize..(r.end - g.start) as usize);
                let own = if slice.len() == data.len() {
                    slice
                } else {
                    Bytes::copy_from_slice(&slice)
                };
                self.cache
                    .insert(range_key(obj, r), CacheValue::Bytes(own.clone()), own.len());
                out[i] = Some(own);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Waits on the runtime for `fut`, from synchronous code: gives up when
    /// `ctx` is canceled or past its deadline. Must not run on a
    /// current-thread runtime's own thread (the read path runs on blocking
    /// threads); on a multi-thread runtime's worker it blocks in place.
    pub(crate) fn block_on<T>(
        &self,
        ctx: &ReadContext,
        fut: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        ctx.check()?;
        let cancel = ctx.cancel.clone();
        let deadline = ctx.deadline;
        tokio::task::block_in_place(|| {
            self.runtime.block_on(async move {
                let timeout = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = fut => r,
                    () = cancel.canceled() => {
                        Err(StorageError::new(ErrorKind::Canceled, "read was canceled"))
                    }
                    () = timeout => {
                        Err(StorageError::new(ErrorKind::DeadlineExceeded, "read deadline exceeded"))
                    }
                }
            })
        })
    }
}

fn range_key(obj: &ObjectRef, r: &Range<u64>) -> CacheKey {
    CacheKey::Range {
        object: obj.key.clone(),
        start: r.start,
        end: r.end,
    }
}
