//! The write-ahead log: numbered segment files of CRC32C-framed records.
//!
//! Frame: `len: u32 LE | crc32c(type ++ payload): u32 LE | type: u8 | payload`,
//! where `len` counts the type byte and the payload. A frame that is cut short
//! or fails its checksum ends the segment: it is truncated there with a
//! warning, and every record before it is kept.
//!
//! Layout under the WAL directory: segments `00000000`, `00000001`, ... and at
//! most one `checkpoint.NNNNNNNN/` holding the live series and recent samples
//! of every segment up to `NNNNNNNN`, which are deleted once it is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use argus_model::Labels;
use argus_model::varint::{get_uvarint, get_varint, put_uvarint, put_varint};
use parking_lot::{Condvar, Mutex};

const HEADER_LEN: usize = 9;
const MAX_RECORD: usize = 256 << 20;
const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;
const TYPE_TOMBSTONES: u8 = 3;
const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// When the WAL is flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every commit returns.
    Always,
    /// In the background at this interval; a process crash loses nothing
    /// (the data is in the page cache), a machine crash up to one interval.
    Interval(Duration),
}

impl FsyncPolicy {
    /// Parses `always` or a Prometheus duration such as `1s`.
    pub fn parse(s: &str) -> Result<FsyncPolicy, InvalidFsyncPolicy> {
        if s.eq_ignore_ascii_case("always") {
            return Ok(FsyncPolicy::Always);
        }
        match argus_model::duration::parse_duration(s) {
            Ok(d) if !d.is_zero() => Ok(FsyncPolicy::Interval(d)),
            Ok(_) => Ok(FsyncPolicy::Always),
            Err(_) => Err(InvalidFsyncPolicy(s.to_string())),
        }
    }
}

/// A WAL fsync policy that is neither `always` nor a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wal fsync policy {0:?}: want \"always\" or a duration such as \"1s\"")]
pub struct InvalidFsyncPolicy(pub String);

#[derive(Debug, Clone)]
pub struct WalOptions {
    pub segment_size: u64,
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series: u64,
    pub t: i64,
    pub v: f64,
}

/// A deleted time range `[min_t, max_t]` (inclusive) of one series: a
/// series id in the WAL, a row of `series.parquet` in a block's
/// `tombstones` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stone {
    pub series: u64,
    pub min_t: i64,
    pub max_t: i64,
}

/// A decoded WAL record.
#[derive(Debug, Clone)]
pub enum Record {
    Series(Vec<(u64, Labels)>),
    Samples(Vec<RefSample>),
    Tombstones(Vec<Stone>),
}

#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    pub segments: usize,
    pub records: u64,
    /// Segments whose tail was torn or corrupt and got truncated.
    pub truncated_segments: usize,
    pub dropped_bytes: u64,
}

struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn uvarint(&mut self) -> Option<u64> {
        let (x, n) = get_uvarint(self.b.get(self.pos..)?)?;
        self.pos += n;
        Some(x)
    }

    fn varint(&mut self) -> Option<i64> {
        let (x, n) = get_varint(self.b.get(self.pos..)?)?;
        self.pos += n;
        Some(x)
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u64_le(&mut self) -> Option<u64> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }

    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
}

/// Encodes a series record payload (without framing).
pub fn encode_series(out: &mut Vec<u8>, series: &[(u64, &Labels)]) {
    out.push(TYPE_SERIES);
    for (r, l) in series {
        put_uvarint(out, *r);
        put_uvarint(out, l.as_bytes().len() as u64);
        out.extend_from_slice(l.as_bytes());
    }
}

/// Encodes a samples record payload (without framing).
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    out.push(TYPE_SAMPLES);
    let base = samples.first().map_or(0, |s| s.t);
    out.extend_from_slice(&base.to_le_bytes());
    for s in samples {
        put_uvarint(out, s.series);
        put_varint(out, s.t.wrapping_sub(base));
        out.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

/// Encodes a tombstones record payload (without framing).
pub fn encode_tombstones(out: &mut Vec<u8>, stones: &[Stone]) {
    out.push(TYPE_TOMBSTONES);
    for s in stones {
        put_uvarint(out, s.series);
        put_varint(out, s.min_t);
        put_varint(out, s.max_t);
    }
}

fn decode_record(body: &[u8]) -> Option<Record> {
    let (&kind, rest) = body.split_first()?;
    let mut d = Decoder { b: rest, pos: 0 };
    match kind {
        TYPE_SERIES => {
            let mut out = Vec::new();
            while !d.done() {
                let r = d.uvarint()?;
                let n = usize::try_from(d.uvarint()?).ok()?;
                let l = Labels::from_bytes(d.bytes(n)?)?;
                out.push((r, l));
            }
            Some(Record::Series(out))
        }
        TYPE_SAMPLES => {
            let base = d.u64_le()? as i64;
            let mut out = Vec::new();
            while !d.done() {
                let series = d.uvarint()?;
                let t = base.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.u64_le()?);
                out.push(RefSample { series, t, v });
            }
            Some(Record::Samples(out))
        }
        TYPE_TOMBSTONES => {
            let mut out = Vec::new();
            while !d.done() {
                let series = d.uvarint()?;
                let min_t = d.varint()?;
                let max_t = d.varint()?;
                out.push(Stone {
                    series,
                    min_t,
                    max_t,
                });
            }
            Some(Record::Tombstones(out))
        }
        _ => None,
    }
}

/// Appends the frame for an encoded record body (type byte + payload).
pub(crate) fn frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out.extend_from_slice(body);
}

pub(crate) fn segment_name(i: u64) -> String {
    format!("{i:08}")
}

/// Segment indexes present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(i) = name.parse()
        {
            out.push(i);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The newest complete checkpoint: its index and directory.
pub(crate) fn latest_checkpoint(dir: &Path) -> io::Result<Option<(u64, PathBuf)>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix(CHECKPOINT_PREFIX) else {
            continue;
        };
        if num.len() != 8 || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(i) = num.parse::<u64>()
            && best.as_ref().is_none_or(|b| i > b.0)
        {
            best = Some((i, e.path()));
        }
    }
    Ok(best)
}

/// What the bytes at the start of a segment's unread part hold.
pub(crate) enum Frame {
    /// A record and the bytes its frame takes.
    Record(Record, usize),
    /// The frame is cut short: the end of what was written so far.
    Torn(&'static str),
    /// The frame cannot be read, however much follows.
    Corrupt(&'static str),
}

/// Decodes the frame at the start of `data`: length, CRC32C, record body.
pub(crate) fn next_frame(data: &[u8]) -> Frame {
    if data.len() < HEADER_LEN {
        return Frame::Torn("torn record header");
    }
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let crc = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    if len == 0 || len > MAX_RECORD {
        return Frame::Corrupt("invalid record length");
    }
    let Some(body) = data.get(8..8 + len) else {
        return Frame::Torn("torn record");
    };
    if crc32c::crc32c(body) != crc {
        return Frame::Corrupt("record checksum mismatch");
    }
    match decode_record(body) {
        Some(rec) => Frame::Record(rec, 8 + len),
        None => Frame::Corrupt("undecodable record"),
    }
}

/// Reads one segment, calling `f` for each record. A torn or corrupt tail is
/// truncated away (when `repair`) and counted in `stats`.
fn read_segment(
    path: &Path,
    repair: bool,
    stats: &mut ReplayStats,
    f: &mut dyn FnMut(Record),
) -> io::Result<()> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut pos = 0usize;
    let mut bad: Option<&'static str> = None;
    while pos < data.len() {
        match next_frame(&data[pos..]) {
            Frame::Record(rec, len) => {
                f(rec);
                stats.records += 1;
                pos += len;
            }
            Frame::Torn(why) | Frame::Corrupt(why) => {
                bad = Some(why);
                break;
            }
        }
    }
    stats.segments += 1;
    if let Some(why) = bad {
        let dropped = (data.len() - pos) as u64;
        tracing::warn!(
            segment = %path.display(),
            offset = pos,
            dropped_bytes = dropped,
            reason = why,
            "wal segment has a torn or corrupt tail; dropping it"
        );
        stats.truncated_segments += 1;
        stats.dropped_bytes += dropped;
        if repair {
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
    }
    Ok(())
}

/// Replays the newest checkpoint and every later segment in order.
pub fn replay(dir: &Path, f: &mut dyn FnMut(Record)) -> io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    if !dir.exists() {
        return Ok(stats);
    }
    let mut after = None;
    if let Some((idx, cp)) = latest_checkpoint(dir)? {
        for seg in list_segments(&cp)? {
            read_segment(&cp.join(segment_name(seg)), true, &mut stats, f)?;
        }
        after = Some(idx);
    }
    for seg in list_segments(dir)? {
        if after.is_some_and(|a| seg <= a) {
            continue;
        }
        read_segment(&dir.join(segment_name(seg)), true, &mut stats, f)?;
    }
    Ok(stats)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

struct Segment {
    index: u64,
    file: Arc<File>,
    size: u64,
}

struct WalState {
    seg: Segment,
    dirty: bool,
}

struct Shared {
    state: Mutex<WalState>,
    closed: AtomicBool,
    wake: Condvar,
    wake_lock: Mutex<()>,
    fsyncs: AtomicU64,
    bytes_written: AtomicU64,
}

/// The write side of the WAL. Appends are serialised by one mutex; with
/// [`FsyncPolicy::Always`] the fsync runs outside it so concurrent commits
/// share flushes.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
}

fn open_segment(dir: &Path, index: u64) -> io::Result<Segment> {
    let path = dir.join(segment_name(index));
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    let size = file.metadata()?.len();
    sync_dir(dir)?;
    Ok(Segment {
        index,
        file: Arc::new(file),
        size,
    })
}

impl Wal {
    /// Opens the WAL for writing, starting a fresh segment after any existing
    /// ones. Call [`replay`] first to read what is there.
    pub fn open(dir: &Path, opts: WalOptions) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let mut next = list_segments(dir)?.last().map_or(0, |i| i + 1);
        if let Some((cp, _)) = latest_checkpoint(dir)? {
            next = next.max(cp + 1);
        }
        let seg = open_segment(dir, next)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(WalState { seg, dirty: false }),
            closed: AtomicBool::new(false),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
            fsyncs: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        });
        let syncer = match opts.fsync {
            FsyncPolicy::Always => None,
            FsyncPolicy::Interval(every) => {
                let s = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name("wal-fsync".into())
                        .spawn(move || background_sync(&s, every))?,
                )
            }
        };
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            shared,
            syncer,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes encoded record bodies (from [`encode_series`] /
    /// [`encode_samples`]) as one write, honouring the fsync policy before
    /// returning.
    pub fn log(&self, bodies: &[&[u8]]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(bodies.iter().map(|b| b.len() + HEADER_LEN).sum());
        for b in bodies {
            if b.len() > MAX_RECORD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("wal record of {} bytes exceeds the limit", b.len()),
                ));
            }
            frame(&mut buf, b);
        }
        let file = {
            let mut st = self.shared.state.lock();
            if st.seg.size > 0 && st.seg.size + buf.len() as u64 > self.opts.segment_size {
                self.rotate_locked(&mut st)?;
            }
            (&*st.seg.file).write_all(&buf)?;
            st.seg.size += buf.len() as u64;
            st.dirty = true;
            st.seg.file.clone()
        };
        self.shared
            .bytes_written
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        if self.opts.fsync == FsyncPolicy::Always {
            file.sync_data()?;
            self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn rotate_locked(&self, st: &mut WalState) -> io::Result<()> {
        st.seg.file.sync_data()?;
        let next = open_segment(&self.dir, st.seg.index + 1)?;
        st.seg = next;
        Ok(())
    }

    /// Closes the current segment and starts the next; returns the index of
    /// the segment closed.
    pub fn rotate(&self) -> io::Result<u64> {
        let mut st = self.shared.state.lock();
        let closed = st.seg.index;
        self.rotate_locked(&mut st)?;
        Ok(closed)
    }

    pub fn sync(&self) -> io::Result<()> {
        let file = self.shared.state.lock().seg.file.clone();
        file.sync_data()?;
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }

    /// Folds every segment up to and including `upto` (and any older
    /// checkpoint) into `checkpoint.<upto>`, keeping series for which `keep`
    /// holds, their samples at or after `mint` and their tombstones ending
    /// at or after `mint`, then deletes what it replaced.
    pub fn checkpoint(
        &self,
        upto: u64,
        keep: &dyn Fn(u64) -> bool,
        mint: i64,
    ) -> io::Result<CheckpointStats> {
        let final_dir = self.dir.join(format!("{CHECKPOINT_PREFIX}{upto:08}"));
        let tmp_dir = self.dir.join(format!("{CHECKPOINT_PREFIX}{upto:08}.tmp"));
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir)?;
        }
        fs::create_dir_all(&tmp_dir)?;
        let out = File::create(tmp_dir.join(segment_name(0)))?;
        let mut w = BufWriter::with_capacity(1 << 20, out);
        let mut stats = CheckpointStats::default();
        let mut werr: Option<io::Error> = None;
        let mut body = Vec::new();
        let mut framed = Vec::new();
        let mut emit = |rec: Record| {
            body.clear();
            match rec {
                Record::Series(s) => {
                    let kept: Vec<(u64, &Labels)> = s
                        .iter()
                        .filter(|(r, _)| keep(*r))
                        .map(|(r, l)| (*r, l))
                        .collect();
                    stats.series += kept.len() as u64;
                    if kept.is_empty() {
                        return;
                    }
                    encode_series(&mut body, &kept);
                }
                Record::Samples(s) => {
                    let kept: Vec<RefSample> = s
                        .into_iter()
                        .filter(|x| x.t >= mint && keep(x.series))
                        .collect();
                    stats.samples += kept.len() as u64;
                    if kept.is_empty() {
                        return;
                    }
                    encode_samples(&mut body, &kept);
                }
                Record::Tombstones(s) => {
                    let kept: Vec<Stone> = s
                        .into_iter()
                        .filter(|x| x.max_t >= mint && keep(x.series))
                        .collect();
                    stats.tombstones += kept.len() as u64;
                    if kept.is_empty() {
                        return;
                    }
                    encode_tombstones(&mut body, &kept);
                }
            }
            framed.clear();
            frame(&mut framed, &body);
            if werr.is_none()
                && let Err(e) = w.write_all(&framed)
            {
                werr = Some(e);
            }
        };
        let mut rs = ReplayStats::default();
        let old_cp = latest_checkpoint(&self.dir)?;
        if let Some((_, cp)) = &old_cp {
            for seg in list_segments(cp)? {
                read_segment(&cp.join(segment_name(seg)), false, &mut rs, &mut emit)?;
            }
        }
        let segs: Vec<u64> = list_segments(&self.dir)?
            .into_iter()
            .filter(|s| *s <= upto && old_cp.as_ref().is_none_or(|(c, _)| s > c))
            .collect();
        for seg in &segs {
            read_segment(
                &self.dir.join(segment_name(*seg)),
                false,
                &mut rs,
                &mut emit,
            )?;
        }
        if let Some(e) = werr {
            return Err(e);
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        sync_dir(&tmp_dir)?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir)?;
        }
        fs::rename(&tmp_dir, &final_dir)?;
        sync_dir(&self.dir)?;
        // What the checkpoint replaced can go now.
        for seg in list_segments(&self.dir)? {
            if seg <= upto {
                fs::remove_file(self.dir.join(segment_name(seg)))?;
            }
        }
        if let Some((idx, cp)) = old_cp
            && idx != upto
        {
            fs::remove_dir_all(cp)?;
        }
        sync_dir(&self.dir)?;
        stats.segments = segs.len();
        Ok(stats)
    }

    /// Flushes and stops the background syncer.
    pub fn close(&mut self) -> io::Result<()> {
        self.shared.closed.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.wake_lock.lock();
            self.shared.wake.notify_all();
        }
        if let Some(h) = self.syncer.take() {
            let _ = h.join();
        }
        self.sync()
    }
}

#[derive(Debug, Default, Clone)]
pub struct CheckpointStats {
    pub segments: usize,
    pub series: u64,
    pub samples: u64,
    pub tombstones: u64,
}

impl Drop for Wal {
    fn drop(&mut self) {
        if self.syncer.is_some()
            && let Err(e) = self.close()
        {
            tracing::warn!(error = %e, "wal sync on close failed");
        }
    }
}

fn background_sync(s: &Shared, every: Duration) {
    loop {
        {
            let mut g = s.wake_lock.lock();
            if s.closed.load(Ordering::SeqCst) {
                return;
            }
            s.wake.wait_for(&mut g, every);
        }
        if s.closed.load(Ordering::SeqCst) {
            return;
        }
        let file = {
            let mut st = s.state.lock();
            if !st.dirty {
                continue;
            }
            st.dirty = false;
            st.seg.file.clone()
        };
        if let Err(e) = file.sync_data() {
            tracing::error!(error = %e, "wal fsync failed");
        } else {
            s.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(i: u64) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
    }

    fn write_some(wal: &Wal, from: u64, n: u64) {
        for i in from..from + n {
            let l = labels(i);
            let mut a = Vec::new();
            encode_series(&mut a, &[(i, &l)]);
            let mut b = Vec::new();
            encode_samples(
                &mut b,
                &[RefSample {
                    series: i,
                    t: i as i64 * 1000,
                    v: i as f64,
                }],
            );
            wal.log(&[&a, &b]).expect("log");
        }
    }

    fn collect(dir: &Path) -> (Vec<u64>, Vec<RefSample>, ReplayStats) {
        let mut series = Vec::new();
        let mut samples = Vec::new();
        let stats = replay(dir, &mut |r| match r {
            Record::Series(s) => series.extend(s.into_iter().map(|x| x.0)),
            Record::Samples(s) => samples.extend(s),
            Record::Tombstones(_) => {}
        })
        .expect("replay");
        (series, samples, stats)
    }

    #[test]
    fn round_trip_across_segments() {
        let d = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            segment_size: 300,
            fsync: FsyncPolicy::Always,
        };
        let wal = Wal::open(d.path(), opts).expect("open");
        write_some(&wal, 0, 50);
        drop(wal);
        let (series, samples, stats) = collect(d.path());
        assert!(stats.segments > 3);
        assert_eq!(series, (0..50).collect::<Vec<_>>());
        assert_eq!(samples.len(), 50);
        assert_eq!(samples[7].t, 7000);
    }

    #[test]
    fn torn_tail_is_dropped_and_earlier_records_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let wal = Wal::open(d.path(), WalOptions::default()).expect("open");
        write_some(&wal, 0, 10);
        drop(wal);
        let seg = d.path().join(segment_name(0));
        let len = fs::metadata(&seg).expect("meta").len();
        // Cut the last record in half, then append garbage to another copy.
        let f = OpenOptions::new().write(true).open(&seg).expect("open");
        f.set_len(len - 7).expect("truncate");
        drop(f);
        let (series, samples, stats) = collect(d.path());
        assert_eq!(stats.truncated_segments, 1);
        assert_eq!(series.len(), 10);
        assert_eq!(samples.len(), 9);
        // The repaired segment replays cleanly the second time.
        let (_, samples2, stats2) = collect(d.path());
        assert_eq!(stats2.truncated_segments, 0);
        assert_eq!(samples2.len(), 9);
    }

    #[test]
    fn corrupt_byte_stops_the_segment_there() {
        let d = tempfile::tempdir().expect("tempdir");
        let wal = Wal::open(d.path(), WalOptions::default()).expect("open");
        write_some(&wal, 0, 10);
        drop(wal);
        let seg = d.path().join(segment_name(0));
        let mut data = fs::read(&seg).expect("read");
        let at = data.len() / 2;
        data[at] ^= 0xff;
        fs::write(&seg, &data).expect("write");
        let (series, samples, stats) = collect(d.path());
        assert_eq!(stats.truncated_segments, 1);
        assert!(!series.is_empty() && series.len() < 10);
        assert!(samples.len() < 10);
    }

    #[test]
    fn checkpoint_keeps_live_series_and_recent_samples() {
        let d = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            segment_size: 200,
            fsync: FsyncPolicy::Always,
        };
        let wal = Wal::open(d.path(), opts.clone()).expect("open");
        write_some(&wal, 0, 20);
        let upto = wal.rotate().expect("rotate");
        write_some(&wal, 20, 5);
        let st = wal
            .checkpoint(upto, &|r| r % 2 == 0, 10_000)
            .expect("checkpoint");
        assert_eq!(st.series, 10);
        assert_eq!(st.samples, 5); // 10, 12, 14, 16, 18
        drop(wal);
        let (series, samples, _) = collect(d.path());
        let want: Vec<u64> = (0..20).step_by(2).chain(20..25).collect();
        assert_eq!(series, want);
        let ts: Vec<i64> = samples.iter().map(|s| s.t / 1000).collect();
        assert_eq!(ts, vec![10, 12, 14, 16, 18, 20, 21, 22, 23, 24]);
        // A second checkpoint folds the first one in.
        let wal = Wal::open(d.path(), opts).expect("reopen");
        let upto = wal.rotate().expect("rotate");
        wal.checkpoint(upto, &|r| r >= 20, 0).expect("checkpoint 2");
        drop(wal);
        let (series, _, _) = collect(d.path());
        assert_eq!(series, (20..25).collect::<Vec<_>>());
        let cps = fs::read_dir(d.path())
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("checkpoint"))
            })
            .count();
        assert_eq!(cps, 1);
    }

    #[test]
    fn tombstones_round_trip_and_checkpoint_keeps_live_recent_ones() {
        let d = tempfile::tempdir().expect("tempdir");
        let wal = Wal::open(d.path(), WalOptions::default()).expect("open");
        write_some(&wal, 0, 3);
        let stones = [
            Stone {
                series: 0,
                min_t: -5,
                max_t: 500,
            },
            Stone {
                series: 1,
                min_t: 100,
                max_t: i64::MAX,
            },
            Stone {
                series: 2,
                min_t: 0,
                max_t: 10,
            },
        ];
        let mut body = Vec::new();
        encode_tombstones(&mut body, &stones);
        wal.log(&[&body]).expect("log");
        let read = |dir: &Path| {
            let mut out = Vec::new();
            replay(dir, &mut |r| {
                if let Record::Tombstones(s) = r {
                    out.extend(s);
                }
            })
            .expect("replay");
            out
        };
        assert_eq!(read(d.path()), stones.to_vec());
        let upto = wal.rotate().expect("rotate");
        // Series 2 is gone; series 0's stone ends before the new minimum.
        let st = wal.checkpoint(upto, &|r| r != 2, 1000).expect("checkpoint");
        assert_eq!(st.tombstones, 1);
        drop(wal);
        assert_eq!(read(d.path()), vec![stones[1]]);
    }

    #[test]
    fn fsync_policy_parses() {
        assert_eq!(FsyncPolicy::parse("always"), Ok(FsyncPolicy::Always));
        assert_eq!(
            FsyncPolicy::parse("250ms"),
            Ok(FsyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert!(FsyncPolicy::parse("sometimes").is_err());
    }
}
