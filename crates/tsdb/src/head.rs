//! The in-memory head: recent samples of every active series, compressed in
//! XOR chunks, with a postings index for matcher lookups.
//!
//! Series live in shards chosen by label hash, so appenders for different
//! series rarely contend; each series has its own small lock. The postings
//! index is written only when a series is created or collected.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use argus_model::chunk::SAMPLES_PER_CHUNK;
use argus_model::matcher::{MatchType, matches_all};
use argus_model::storage::{
    ChunkData, LabelRequest, ReadContext, SelectRequest, SeriesSource, SeriesStream, StorageError,
    StorageSeries,
};
use argus_model::{Labels, Matcher, Queryable, XorAppender};
use parking_lot::{Mutex, RwLock};

use crate::tombstones::{Intervals, filter_chunks};
use crate::wal::Stone;

const SHARDS: usize = 128;

pub use argus_model::storage::AppendError;

#[derive(Debug)]
pub(crate) struct SeriesData {
    closed: Vec<ChunkData>,
    open: Option<OpenChunk>,
    /// Last appended sample; `i64::MIN` when none.
    last_t: i64,
    last_v: f64,
    /// Deleted intervals: hidden from reads, left out of sealed blocks.
    deleted: Intervals,
}

#[derive(Debug)]
struct OpenChunk {
    app: XorAppender,
    min_t: i64,
    /// The chunk is cut before a sample at or after this time, so chunks
    /// never straddle a block boundary.
    end: i64,
}

impl OpenChunk {
    fn to_chunk(&self) -> ChunkData {
        ChunkData {
            min_t: self.min_t,
            max_t: self.app.last_t(),
            bytes: Arc::from(self.app.bytes()),
        }
    }
}

/// Outcome of checking a sample against a series.
enum Check {
    Append,
    /// Same timestamp and value as the last sample: accepted, not stored.
    Ignore,
}

impl SeriesData {
    fn new() -> SeriesData {
        SeriesData {
            closed: Vec::new(),
            open: None,
            last_t: i64::MIN,
            last_v: 0.0,
            deleted: Intervals::default(),
        }
    }

    /// The first and last sample time held, if any.
    fn time_range(&self) -> Option<(i64, i64)> {
        let first = match self.closed.first() {
            Some(c) => c.min_t,
            None => self.open.as_ref()?.min_t,
        };
        Some((first, self.last_t))
    }

    fn check(&self, t: i64, v: f64) -> Result<Check, AppendError> {
        if self.last_t == i64::MIN || t > self.last_t {
            return Ok(Check::Append);
        }
        if t < self.last_t {
            return Err(AppendError::OutOfOrder {
                t,
                last: self.last_t,
            });
        }
        if v.to_bits() == self.last_v.to_bits() {
            Ok(Check::Ignore)
        } else {
            Err(AppendError::Duplicate { t })
        }
    }

    /// Appends a sample already known to be in order.
    fn push(&mut self, t: i64, v: f64, chunk_range: i64) {
        let cut = match &self.open {
            None => true,
            Some(o) => o.app.num_samples() >= SAMPLES_PER_CHUNK || t >= o.end,
        };
        if cut {
            if let Some(mut o) = self.open.take() {
                o.app.shrink();
                self.closed.push(o.to_chunk());
            }
            let end = t
                .div_euclid(chunk_range)
                .saturating_add(1)
                .saturating_mul(chunk_range);
            self.open = Some(OpenChunk {
                app: XorAppender::with_capacity(64),
                min_t: t,
                end,
            });
        }
        if let Some(o) = &mut self.open {
            o.app.append(t, v);
        }
        self.last_t = t;
        self.last_v = v;
    }

    fn has_chunks_in(&self, mint: i64, maxt: i64) -> bool {
        if !self.deleted.is_empty() {
            return !self.chunks_in(mint, maxt).is_empty();
        }
        self.closed
            .iter()
            .any(|c| c.max_t >= mint && c.min_t <= maxt)
            || self
                .open
                .as_ref()
                .is_some_and(|o| o.app.last_t() >= mint && o.min_t <= maxt)
    }

    fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    /// The chunks overlapping `[mint, maxt]`, without deleted samples.
    fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<ChunkData> {
        let mut out: Vec<ChunkData> = self
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .cloned()
            .collect();
        if let Some(o) = &self.open
            && o.app.last_t() >= mint
            && o.min_t <= maxt
        {
            out.push(o.to_chunk());
        }
        if !self.deleted.is_empty() {
            out = filter_chunks(out, &self.deleted, mint, maxt);
        }
        out
    }

    /// Drops chunks entirely before `mint`; true if nothing is left.
    fn truncate(&mut self, mint: i64) -> bool {
        self.deleted.trim_before(mint);
        self.closed.retain(|c| c.max_t >= mint);
        if self.open.as_ref().is_some_and(|o| o.app.last_t() < mint) {
            self.open = None;
        }
        self.closed.is_empty() && self.open.is_none()
    }

    fn heap_bytes(&self) -> usize {
        self.closed
            .iter()
            .map(|c| c.bytes.len() + 48)
            .sum::<usize>()
            + self.closed.capacity() * std::mem::size_of::<ChunkData>()
            + self.open.as_ref().map_or(0, |o| o.app.heap_bytes() + 64)
    }
}

pub(crate) struct MemSeries {
    pub(crate) id: u64,
    /// Set once the series record is in the WAL.
    pub(crate) logged: std::sync::atomic::AtomicBool,
    pub(crate) labels: Labels,
    pub(crate) data: Mutex<SeriesData>,
    /// Set when truncation drops the series from the head, so appenders
    /// holding a handle to it look the labels up again.
    pub(crate) removed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Shard {
    /// Keyed by the labels' stable hash, which needs no second hashing.
    by_hash: HashMap<u64, Vec<Arc<MemSeries>>, BuildHasherDefault<IdHasher>>,
    by_id: HashMap<u64, Arc<MemSeries>, BuildHasherDefault<IdHasher>>,
}

/// Hashes integer keys (sequential series ids, label-set hashes) with one
/// multiply: SipHash costs more than the lookups it guards on the append
/// path, and these keys are not attacker-chosen.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// label name → value → series ids (ascending).
#[derive(Default)]
struct Postings {
    index: HashMap<String, HashMap<String, Vec<u64>>>,
}

impl Postings {
    fn add(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            let values = self.index.entry(l.name.to_string()).or_default();
            let list = values.entry(l.value.to_string()).or_default();
            // Ids usually arrive ascending; replay may not.
            match list.last() {
                Some(&last) if last > id => {
                    let pos = list.partition_point(|&x| x < id);
                    list.insert(pos, id);
                }
                _ => list.push(id),
            }
        }
    }

    fn remove(&mut self, id: u64, labels: &Labels) {
        for l in labels {
            if let Some(values) = self.index.get_mut(l.name) {
                if let Some(list) = values.get_mut(l.value) {
                    if let Ok(pos) = list.binary_search(&id) {
                        list.remove(pos);
                    }
                    if list.is_empty() {
                        values.remove(l.value);
                    }
                }
                if values.is_empty() {
                    self.index.remove(l.name);
                }
            }
        }
    }

    /// Candidate ids for the matchers (a superset of the answer), or `None`
    /// when no matcher narrows the search and every series is a candidate.
    fn candidates(&self, matchers: &[Matcher]) -> Option<Vec<u64>> {
        let mut result: Option<Vec<u64>> = None;
        for m in matchers {
            if m.matches_empty() {
                continue;
            }
            let list: Vec<u64> = match m.kind {
                MatchType::Equal => self
                    .index
                    .get(&m.name)
                    .and_then(|v| v.get(&m.value))
                    .cloned()
                    .unwrap_or_default(),
                _ => {
                    let Some(values) = self.index.get(&m.name) else {
                        return Some(Vec::new());
                    };
                    let mut ids: Vec<u64> = values
                        .iter()
                        .filter(|(v, _)| m.matches(v))
                        .flat_map(|(_, ids)| ids.iter().copied())
                        .collect();
                    ids.sort_unstable();
                    ids
                }
            };
            result = Some(match result {
                None => list,
                Some(prev) => argus_model::storage::intersect_sorted(&prev, &list),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result
    }
}

/// Counters the head keeps about itself.
#[derive(Default)]
pub struct HeadStats {
    pub samples_appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub duplicates: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
}

/// The series of one select over the head. Holds handles to the matching
/// series, not their data: a series' chunks are copied when it is reached.
pub struct HeadSeriesSource {
    series: std::vec::IntoIter<Arc<MemSeries>>,
    mint: i64,
    maxt: i64,
    skip_chunks: bool,
}

impl SeriesSource for HeadSeriesSource {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        for s in self.series.by_ref() {
            let chunks = {
                let data = s.data.lock();
                if self.skip_chunks {
                    if !data.has_chunks_in(self.mint, self.maxt) {
                        continue;
                    }
                    Vec::new()
                } else {
                    let chunks = data.chunks_in(self.mint, self.maxt);
                    if chunks.is_empty() {
                        continue;
                    }
                    chunks
                }
            };
            return Ok(Some(StorageSeries {
                labels: s.labels.clone(),
                chunks,
            }));
        }
        Ok(None)
    }
}

pub struct Head {
    shards: Vec<RwLock<Shard>>,
    postings: RwLock<Postings>,
    next_id: AtomicU64,
    num_series: AtomicU64,
    min_t: AtomicI64,
    max_t: AtomicI64,
    /// Samples before this are refused (their range is already in a block).
    min_valid: AtomicI64,
    chunk_range: i64,
    pub stats: HeadStats,
}

impl Head {
    /// `chunk_range` is the block duration: chunks are cut at its multiples.
    pub fn new(chunk_range: i64) -> Head {
        Head {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            postings: RwLock::new(Postings::default()),
            next_id: AtomicU64::new(1),
            num_series: AtomicU64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            chunk_range: chunk_range.max(1),
            stats: HeadStats::default(),
        }
    }

    fn shard_of_hash(&self, h: u64) -> &RwLock<Shard> {
        &self.shards[(h as usize) % SHARDS]
    }

    fn shard_of_id(&self, id: u64) -> &RwLock<Shard> {
        &self.shards[(id as usize).wrapping_mul(0x9E37_79B9) % SHARDS]
    }

    /// The series for `labels`, creating it if needed; the flag says whether
    /// it was created.
    pub(crate) fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let h = labels.stable_hash();
        let shard = self.shard_of_hash(h);
        if let Some(s) = shard
            .read()
            .by_hash
            .get(&h)
            .and_then(|v| v.iter().find(|s| &s.labels == labels))
        {
            return (s.clone(), false);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.insert(h, id, labels, true)
    }

    /// Inserts a series with a given id (WAL replay keeps ids stable).
    pub(crate) fn create_with_id(&self, id: u64, labels: &Labels) -> Arc<MemSeries> {
        self.next_id.fetch_max(id + 1, Ordering::Relaxed);
        self.insert(labels.stable_hash(), id, labels, false).0
    }

    fn insert(&self, h: u64, id: u64, labels: &Labels, fresh: bool) -> (Arc<MemSeries>, bool) {
        let series = {
            let mut shard = self.shard_of_hash(h).write();
            let list = shard.by_hash.entry(h).or_default();
            if let Some(s) = list.iter().find(|s| &s.labels == labels) {
                return (s.clone(), false);
            }
            let s = Arc::new(MemSeries {
                id,
                logged: std::sync::atomic::AtomicBool::new(!fresh),
                labels: labels.clone(),
                data: Mutex::new(SeriesData::new()),
                removed: std::sync::atomic::AtomicBool::new(false),
            });
            list.push(s.clone());
            s
        };
        self.shard_of_id(id)
            .write()
            .by_id
            .insert(id, series.clone());
        self.postings.write().add(id, labels);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        if fresh {
            self.stats.series_created.fetch_add(1, Ordering::Relaxed);
        }
        (series, true)
    }

    pub(crate) fn by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.shard_of_id(id).read().by_id.get(&id).cloned()
    }

    /// Checks a sample against the head and its series without storing it.
    /// `Ok(false)` means an exact duplicate that is accepted but not stored.
    pub(crate) fn check(&self, s: &MemSeries, t: i64, v: f64) -> Result<bool, AppendError> {
        let min_valid = self.min_valid.load(Ordering::Relaxed);
        if t < min_valid {
            self.stats.out_of_bounds.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::OutOfBounds { t, min_valid });
        }
        match s.data.lock().check(t, v) {
            Ok(Check::Append) => Ok(true),
            Ok(Check::Ignore) => Ok(false),
            Err(e) => {
                self.count_refusal(&e);
                Err(e)
            }
        }
    }

    fn count_refusal(&self, e: &AppendError) {
        let c = match e {
            AppendError::OutOfOrder { .. } => &self.stats.out_of_order,
            AppendError::Duplicate { .. } => &self.stats.duplicates,
            AppendError::OutOfBounds { .. } => &self.stats.out_of_bounds,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores a sample. Rechecks order under the series lock, because another
    /// appender may have committed to the same series meanwhile.
    pub(crate) fn store(&self, s: &MemSeries, t: i64, v: f64) -> bool {
        if t < self.min_valid.load(Ordering::Relaxed) {
            self.stats.out_of_bounds.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        {
            let mut d = s.data.lock();
            match d.check(t, v) {
                Ok(Check::Append) => d.push(t, v, self.chunk_range),
                Ok(Check::Ignore) => return false,
                Err(e) => {
                    drop(d);
                    self.count_refusal(&e);
                    return false;
                }
            }
        }
        self.stats.samples_appended.fetch_add(1, Ordering::Relaxed);
        self.min_t.fetch_min(t, Ordering::Relaxed);
        self.max_t.fetch_max(t, Ordering::Relaxed);
        true
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    /// Oldest and newest sample time, if any sample is held.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.min_t.load(Ordering::Relaxed);
        let max = self.max_t.load(Ordering::Relaxed);
        (min <= max).then_some((min, max))
    }

    pub fn min_valid_time(&self) -> i64 {
        self.min_valid.load(Ordering::Relaxed)
    }

    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
    }

    pub fn chunk_range(&self) -> i64 {
        self.chunk_range
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let candidates = self.postings.read().candidates(matchers);
        let mut out: Vec<Arc<MemSeries>> = match candidates {
            Some(ids) => ids.into_iter().filter_map(|id| self.by_id(id)).collect(),
            None => self
                .shards
                .iter()
                .flat_map(|s| s.read().by_id.values().cloned().collect::<Vec<_>>())
                .collect(),
        };
        out.retain(|s| matches_all(matchers, &s.labels));
        out
    }

    /// Whether the head holds samples in `[mint, maxt]`.
    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.time_range()
            .is_some_and(|(min, max)| min <= maxt && max >= mint)
    }

    /// The series matching `req` with chunks overlapping its time range,
    /// sorted by labels; chunks are copied out one series at a time as the
    /// source is read.
    pub fn series_source(&self, req: &SelectRequest) -> HeadSeriesSource {
        let mut series = if req.is_empty_range() || !self.overlaps(req.mint, req.maxt) {
            Vec::new()
        } else {
            self.matching(&req.matchers)
        };
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        HeadSeriesSource {
            series: series.into_iter(),
            mint: req.mint,
            maxt: req.maxt,
            skip_chunks: req.hints.skip_chunks,
        }
    }

    /// Calls `f` with the labels and chunk count of every series.
    pub fn visit_series(&self, mut f: impl FnMut(&Labels, usize)) {
        for shard in &self.shards {
            for s in shard.read().by_id.values() {
                f(&s.labels, s.data.lock().num_chunks());
            }
        }
    }

    /// Every series with its chunks in `[mint, maxt)`, sorted by labels: the
    /// content of a block sealed from the head.
    pub fn block_contents(&self, mint: i64, maxt: i64) -> Vec<StorageSeries> {
        let mut out: Vec<StorageSeries> = Vec::new();
        for shard in &self.shards {
            for s in shard.read().by_id.values() {
                let chunks: Vec<ChunkData> = s
                    .data
                    .lock()
                    .chunks_in(mint, maxt - 1)
                    .into_iter()
                    .filter(|c| c.min_t >= mint && c.max_t < maxt)
                    .collect();
                if !chunks.is_empty() {
                    out.push(StorageSeries {
                        labels: s.labels.clone(),
                        chunks,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Label names of the series matching `req`'s matchers, when the head
    /// holds samples in its time range.
    fn names_for(&self, req: &LabelRequest) -> Vec<String> {
        if !self.overlaps(req.mint, req.maxt) {
            return Vec::new();
        }
        let matchers = &req.matchers[..];
        if matchers.is_empty() {
            let mut names: Vec<String> = self.postings.read().index.keys().cloned().collect();
            names.sort_unstable();
            return names;
        }
        let mut names: Vec<String> = self
            .matching(matchers)
            .iter()
            .flat_map(|s| {
                s.labels
                    .iter()
                    .map(|l| l.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Values of label `name` over the series matching `req`'s matchers,
    /// when the head holds samples in its time range.
    fn values_for(&self, name: &str, req: &LabelRequest) -> Vec<String> {
        if !self.overlaps(req.mint, req.maxt) {
            return Vec::new();
        }
        let matchers = &req.matchers[..];
        if matchers.is_empty() {
            let mut values: Vec<String> = self
                .postings
                .read()
                .index
                .get(name)
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default();
            values.sort_unstable();
            return values;
        }
        let mut values: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        values.sort_unstable();
        values.dedup();
        values
    }

    /// Drops samples before `mint` and series left without any; refuses
    /// later appends before `mint`. Returns the number of series removed.
    pub fn truncate(&self, mint: i64) -> usize {
        self.set_min_valid_time(mint);
        let mut removed = Vec::new();
        for shard in &self.shards {
            let ids: Vec<Arc<MemSeries>> = shard.read().by_id.values().cloned().collect();
            for s in ids {
                if s.data.lock().truncate(mint) {
                    removed.push(s);
                }
            }
        }
        let mut count = 0;
        for s in &removed {
            let h = s.labels.stable_hash();
            {
                let mut shard = self.shard_of_hash(h).write();
                if let Some(list) = shard.by_hash.get_mut(&h) {
                    // A concurrent append may have revived it; keep it then.
                    list.retain(|x| {
                        let keep = x.id != s.id || !x.data.lock().truncate(mint);
                        if !keep {
                            x.removed.store(true, Ordering::Release);
                        }
                        keep
                    });
                    if list.is_empty() {
                        shard.by_hash.remove(&h);
                    }
                }
            }
            let still = self
                .shard_of_hash(h)
                .read()
                .by_hash
                .get(&h)
                .is_some_and(|l| l.iter().any(|x| x.id == s.id));
            if still {
                continue;
            }
            self.shard_of_id(s.id).write().by_id.remove(&s.id);
            self.postings.write().remove(s.id, &s.labels);
            self.num_series.fetch_sub(1, Ordering::Relaxed);
            self.stats.series_removed.fetch_add(1, Ordering::Relaxed);
            count += 1;
        }
        let new_min = mint.max(self.min_t.load(Ordering::Relaxed));
        self.min_t.store(new_min, Ordering::Relaxed);
        count
    }

    /// The deletions `[mint, maxt]` makes in the series matching
    /// `matchers`, each clamped to the samples the series holds now (as
    /// Prometheus does, so samples appended later are not hidden). Nothing is
    /// applied: log them, then [`Head::apply_tombstones`].
    pub(crate) fn tombstones_for(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Stone> {
        if !self.overlaps(mint, maxt) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for s in self.matching(matchers) {
            let Some((first, last)) = s.data.lock().time_range() else {
                continue;
            };
            let (lo, hi) = (mint.max(first), maxt.min(last));
            if lo <= hi {
                out.push(Stone {
                    series: s.id,
                    min_t: lo,
                    max_t: hi,
                });
            }
        }
        out.sort_by_key(|s| s.series);
        out
    }

    /// Hides the stones' intervals of their series from reads and sealing;
    /// returns the number of stones whose series is in the head.
    pub(crate) fn apply_tombstones(&self, stones: &[Stone]) -> usize {
        let mut n = 0;
        for st in stones {
            if let Some(s) = self.by_id(st.series) {
                s.data.lock().deleted.add(st.min_t, st.max_t);
                n += 1;
            }
        }
        n
    }

    /// Adds a deleted interval to one series (WAL replay).
    pub(crate) fn add_tombstone(s: &MemSeries, min_t: i64, max_t: i64) {
        s.data.lock().deleted.add(min_t, max_t);
    }

    /// Whether a series with this id is in the head.
    pub fn contains_id(&self, id: u64) -> bool {
        self.shard_of_id(id).read().by_id.contains_key(&id)
    }

    /// Approximate heap bytes: series, labels, chunks and index.
    pub fn heap_bytes(&self) -> usize {
        let mut total = 0usize;
        for shard in &self.shards {
            let s = shard.read();
            total += s.by_hash.capacity() * 40 + s.by_id.capacity() * 24;
            for m in s.by_id.values() {
                total += std::mem::size_of::<MemSeries>() + 16 + m.labels.heap_bytes();
                total += m.data.lock().heap_bytes();
            }
        }
        let p = self.postings.read();
        for (name, values) in &p.index {
            total += name.len() + 48;
            for (v, ids) in values {
                total += v.len() + 48 + ids.capacity() * 8;
            }
        }
        total
    }
}

impl Queryable for Head {
    fn select(
        &self,
        req: &SelectRequest,
        ctx: &ReadContext,
    ) -> Result<SeriesStream<'_>, StorageError> {
        Ok(SeriesStream::new(self.series_source(req), req, ctx))
    }

    fn label_names(
        &self,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        Ok(req.limited(self.names_for(req)))
    }

    fn label_values(
        &self,
        name: &str,
        req: &LabelRequest,
        ctx: &ReadContext,
    ) -> Result<Vec<String>, StorageError> {
        ctx.check()?;
        Ok(req.limited(self.values_for(name, req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::QueryableExt;

    fn lbl(name: &str, job: &str) -> Labels {
        Labels::from_pairs(&[("__name__", name), ("job", job)])
    }

    #[test]
    fn refuses_out_of_order_and_duplicates() {
        let h = Head::new(7_200_000);
        let (s, created) = h.get_or_create(&lbl("up", "a"));
        assert!(created);
        assert!(h.store(&s, 10, 1.0));
        assert_eq!(
            h.check(&s, 5, 1.0),
            Err(AppendError::OutOfOrder { t: 5, last: 10 })
        );
        assert_eq!(h.check(&s, 10, 2.0), Err(AppendError::Duplicate { t: 10 }));
        assert_eq!(h.check(&s, 10, 1.0), Ok(false));
        assert_eq!(h.stats.out_of_order.load(Ordering::Relaxed), 1);
        h.set_min_valid_time(100);
        assert!(matches!(
            h.check(&s, 50, 1.0),
            Err(AppendError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn cuts_chunks_at_120_samples_and_block_boundaries() {
        let h = Head::new(1000);
        let (s, _) = h.get_or_create(&lbl("up", "a"));
        for t in 0..300 {
            h.store(&s, t, t as f64);
        }
        for t in 1000..1010 {
            h.store(&s, t, t as f64);
        }
        let sel = h.select_all(&[], 0, 5000).expect("select");
        let c = &sel[0].chunks;
        assert_eq!(c.len(), 4);
        assert_eq!((c[0].min_t, c[0].max_t), (0, 119));
        assert_eq!((c[2].min_t, c[2].max_t), (240, 299));
        assert_eq!((c[3].min_t, c[3].max_t), (1000, 1009));
        let block = h.block_contents(0, 1000);
        assert_eq!(block[0].chunks.len(), 3);
    }

    #[test]
    fn postings_select_and_label_queries() {
        let h = Head::new(7_200_000);
        for (n, j) in [("up", "a"), ("up", "b"), ("down", "a")] {
            let (s, _) = h.get_or_create(&lbl(n, j));
            h.store(&s, 1, 1.0);
        }
        let m = |k, n: &str, v: &str| Matcher::new(k, n, v).expect("matcher");
        let sel = h
            .select_all(&[m(MatchType::Equal, "__name__", "up")], 0, 10)
            .expect("select");
        assert_eq!(sel.len(), 2);
        assert!(sel[0].labels < sel[1].labels);
        let sel = h
            .select_all(&[m(MatchType::Regex, "job", "a|c")], 0, 10)
            .expect("select");
        assert_eq!(sel.len(), 2);
        let sel = h
            .select_all(&[m(MatchType::NotEqual, "job", "a")], 0, 10)
            .expect("select");
        assert_eq!(sel.len(), 1);
        let sel = h
            .select_all(&[m(MatchType::Equal, "nope", "")], 0, 10)
            .expect("select");
        assert_eq!(sel.len(), 3);
        assert_eq!(
            h.label_names_all(&[], 0, 10).expect("names"),
            vec!["__name__", "job"]
        );
        assert_eq!(
            h.label_values_all("__name__", &[m(MatchType::Equal, "job", "b")], 0, 10)
                .expect("values"),
            vec!["up"]
        );
    }

    #[test]
    fn tombstones_hide_samples_and_clamp_to_existing_data() {
        let h = Head::new(1000);
        let (a, _) = h.get_or_create(&lbl("a", "x"));
        let (b, _) = h.get_or_create(&lbl("b", "x"));
        for t in 0..300 {
            h.store(&a, t, 1.0);
            h.store(&b, t, 1.0);
        }
        let m = Matcher::new(MatchType::Equal, "__name__", "a").expect("matcher");
        let stones = h.tombstones_for(std::slice::from_ref(&m), 100, i64::MAX);
        assert_eq!(
            stones,
            vec![Stone {
                series: a.id,
                min_t: 100,
                max_t: 299
            }]
        );
        assert_eq!(h.apply_tombstones(&stones), 1);
        // Appended after the delete: visible.
        h.store(&a, 300, 2.0);
        let sel = h.select_all(&[m], 0, 1000).expect("select");
        let ts: Vec<i64> = sel[0]
            .decode(0, 1000)
            .expect("decode")
            .iter()
            .map(|s| s.t)
            .collect();
        let want: Vec<i64> = (0..100).chain([300]).collect();
        assert_eq!(ts, want);
        // A series with nothing left in the range is not selected.
        assert_eq!(h.select_all(&[], 150, 250).expect("select").len(), 1);
        let block = h.block_contents(0, 1000);
        assert_eq!(block.len(), 2);
        let n: usize = block[0]
            .chunks
            .iter()
            .map(|c| argus_model::chunk::header_num_samples(&c.bytes))
            .sum();
        assert_eq!(n, 101);
    }

    #[test]
    fn truncate_drops_old_chunks_and_empty_series() {
        let h = Head::new(100);
        let (a, _) = h.get_or_create(&lbl("a", "x"));
        let (b, _) = h.get_or_create(&lbl("b", "x"));
        for t in 0..150 {
            h.store(&a, t, 1.0);
        }
        for t in 0..50 {
            h.store(&b, t, 1.0);
        }
        assert_eq!(h.truncate(100), 1);
        assert_eq!(h.num_series(), 1);
        let sel = h.select_all(&[], 0, 1000).expect("select");
        assert_eq!(sel.len(), 1);
        assert_eq!(sel[0].chunks[0].min_t, 100);
        assert_eq!(
            h.label_values_all("__name__", &[], 0, 1000)
                .expect("values"),
            vec!["a"]
        );
    }
}
