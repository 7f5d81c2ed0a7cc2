//! Tails the WAL directory for remote write, as Prometheus's `wlog.Watcher`.
//!
//! The watcher starts at the newest segment. Older segments and the newest
//! checkpoint are read for series records only (to map series refs to
//! labels); samples are delivered from the starting segment on, and only
//! those at or after the start time. It follows rotation, waits on a torn
//! tail (the writer may be half-way through a record), and when a new
//! checkpoint appears re-reads its series and tells the consumer to forget
//! series whose segments the checkpoint replaced.
//!
//! It never modifies the WAL: the writer owns repairs.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argus_model::Labels;
use parking_lot::{Condvar, Mutex};

use crate::wal::{self, Frame, Record, RefSample, segment_name};

const READ_CHUNK: usize = 1 << 20;
/// Idle polls between looks for a new checkpoint.
const CHECKPOINT_POLLS: u32 = 10;

/// Receives what the watcher reads. Called from the watcher's thread.
pub trait WalConsumer: Send {
    /// Series records, read from `segment` (a checkpoint's index for the
    /// series of a checkpoint).
    fn store_series(&mut self, series: &[(u64, Labels)], segment: u64);

    /// Samples at or after the start time, in WAL order. May block to push
    /// back on the watcher; returning false stops it.
    fn append(&mut self, samples: &[RefSample]) -> bool;

    /// Series last seen in a segment before `segment` are gone from the WAL:
    /// a checkpoint up to `segment` replaced them.
    fn series_reset(&mut self, segment: u64);
}

#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Samples older than this (ms) are not delivered.
    pub start_time: i64,
    /// How long to wait before looking again when there is nothing new.
    pub poll_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            start_time: i64::MIN,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// Stops a running watcher, waking it from its poll sleep.
#[derive(Clone, Default)]
pub struct StopSignal {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    pub fn stop(&self) {
        *self.inner.0.lock() = true;
        self.inner.1.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.inner.0.lock()
    }

    /// Sleeps up to `d`; returns true when stopped.
    fn sleep(&self, d: Duration) -> bool {
        let mut g = self.inner.0.lock();
        if !*g {
            self.inner.1.wait_for(&mut g, d);
        }
        *g
    }
}

/// Why reading stopped early.
enum Halt {
    Stopped,
    Io(io::Error),
}

impl From<io::Error> for Halt {
    fn from(e: io::Error) -> Self {
        Halt::Io(e)
    }
}

pub struct WalWatcher<C: WalConsumer> {
    dir: PathBuf,
    opts: WatchOptions,
    consumer: C,
    stop: StopSignal,
    checkpoint: Option<u64>,
}

impl<C: WalConsumer> WalWatcher<C> {
    pub fn new(dir: &Path, opts: WatchOptions, consumer: C, stop: StopSignal) -> Self {
        WalWatcher {
            dir: dir.to_path_buf(),
            opts,
            consumer,
            stop,
            checkpoint: None,
        }
    }

    /// Reads until stopped (by the signal or the consumer). Blocking: run it
    /// on its own thread.
    pub fn run(mut self) -> io::Result<()> {
        match self.watch() {
            Ok(()) | Err(Halt::Stopped) => Ok(()),
            Err(Halt::Io(e)) => Err(e),
        }
    }

    fn watch(&mut self) -> Result<(), Halt> {
        let first = loop {
            if let Some(s) = list_segments(&self.dir)?.last() {
                break *s;
            }
            self.idle()?;
        };
        self.check_checkpoint(first)?;
        for seg in list_segments(&self.dir)? {
            if seg >= first || self.checkpoint.is_some_and(|c| seg <= c) {
                continue;
            }
            self.read_series_only(&self.dir.join(segment_name(seg)), seg)?;
        }
        tracing::debug!(dir = %self.dir.display(), segment = first, "wal watcher tailing");
        let mut cur = first;
        loop {
            cur = self.tail(cur)?;
        }
    }

    fn idle(&self) -> Result<(), Halt> {
        if self.stop.sleep(self.opts.poll_interval) {
            return Err(Halt::Stopped);
        }
        Ok(())
    }

    /// Tails segment `seg` until the writer has moved past it; returns the
    /// segment to read next.
    fn tail(&mut self, seg: u64) -> Result<u64, Halt> {
        let path = self.dir.join(segment_name(seg));
        let mut reader = match File::open(&path) {
            Ok(f) => SegmentReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Truncated away before we got to it.
                return self.next_segment_after(seg);
            }
            Err(e) => return Err(e.into()),
        };
        let mut idle_polls = 0u32;
        loop {
            if self.stop.is_stopped() {
                return Err(Halt::Stopped);
            }
            let progressed = self.drain(&mut reader, seg)?;
            if progressed {
                idle_polls = 0;
                continue;
            }
            if let Some(next) = list_segments(&self.dir)?.into_iter().find(|s| *s > seg) {
                // The writer finishes a segment before creating the next, so
                // one more read sees all of it.
                self.drain(&mut reader, seg)?;
                if reader.unread() > 0 || reader.corrupt {
                    tracing::warn!(
                        segment = %path.display(),
                        dropped_bytes = reader.unread(),
                        "wal watcher skipping a torn or corrupt segment tail"
                    );
                }
                if next != seg + 1 {
                    tracing::warn!(
                        from = seg,
                        to = next,
                        "wal watcher skipped missing segments"
                    );
                }
                self.check_checkpoint(next)?;
                return Ok(next);
            }
            idle_polls += 1;
            if idle_polls.is_multiple_of(CHECKPOINT_POLLS) {
                self.check_checkpoint(seg)?;
            }
            self.idle()?;
        }
    }

    fn next_segment_after(&mut self, seg: u64) -> Result<u64, Halt> {
        loop {
            if let Some(next) = list_segments(&self.dir)?.into_iter().find(|s| *s > seg) {
                tracing::warn!(
                    from = seg,
                    to = next,
                    "wal watcher skipped missing segments"
                );
                self.check_checkpoint(next)?;
                return Ok(next);
            }
            self.idle()?;
        }
    }

    /// Delivers every complete record now readable; true if any was.
    fn drain(&mut self, reader: &mut SegmentReader, seg: u64) -> Result<bool, Halt> {
        let mut progressed = false;
        while reader.fill()? {
            while let Some(rec) = reader.next_record() {
                progressed = true;
                self.handle(rec, seg, true)?;
            }
        }
        while let Some(rec) = reader.next_record() {
            progressed = true;
            self.handle(rec, seg, true)?;
        }
        Ok(progressed)
    }

    fn handle(&mut self, rec: Record, seg: u64, with_samples: bool) -> Result<(), Halt> {
        match rec {
            Record::Series(s) => self.consumer.store_series(&s, seg),
            Record::Samples(s) if with_samples => {
                let start = self.opts.start_time;
                let kept: Vec<RefSample> = s.into_iter().filter(|x| x.t >= start).collect();
                if !kept.is_empty() && !self.consumer.append(&kept) {
                    return Err(Halt::Stopped);
                }
            }
            // Deletions are not forwarded: remote write has no way to say them.
            Record::Samples(_) | Record::Tombstones(_) => {}
        }
        Ok(())
    }

    /// Reads a finished segment for its series; a torn tail just ends it.
    fn read_series_only(&mut self, path: &Path, seg: u64) -> Result<(), Halt> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut reader = SegmentReader::new(file);
        while reader.fill()? {
            while let Some(rec) = reader.next_record() {
                self.handle(rec, seg, false)?;
            }
        }
        while let Some(rec) = reader.next_record() {
            self.handle(rec, seg, false)?;
        }
        Ok(())
    }

    /// Reads the series of a checkpoint newer than the last one read, then
    /// lets the consumer drop the series it replaced. Skipped while the
    /// checkpoint is not behind `current`.
    fn check_checkpoint(&mut self, current: u64) -> Result<(), Halt> {
        let Some((idx, dir)) = latest_checkpoint(&self.dir)? else {
            return Ok(());
        };
        if self.checkpoint.is_some_and(|c| c >= idx) || idx >= current {
            return Ok(());
        }
        let segs = match list_segments(&dir) {
            Ok(s) => s,
            // Replaced by a newer checkpoint meanwhile; the next look finds it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for s in segs {
            self.read_series_only(&dir.join(segment_name(s)), idx)?;
        }
        // Harmless on the first look: what was read so far is all newer.
        self.consumer.series_reset(idx);
        tracing::debug!(checkpoint = idx, "wal watcher read checkpoint series");
        self.checkpoint = Some(idx);
        Ok(())
    }
}

/// Reads framed records from a segment that may still be growing.
struct SegmentReader {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    /// A complete frame failed its checksum or did not decode.
    corrupt: bool,
}

impl SegmentReader {
    fn new(file: File) -> Self {
        SegmentReader {
            file,
            buf: Vec::new(),
            pos: 0,
            corrupt: false,
        }
    }

    /// Bytes read but not yet returned as records.
    fn unread(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads up to one chunk more; false at the current end of file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.corrupt {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.file.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        Ok(n > 0)
    }

    /// The next complete record, or None when the rest is torn (wait for
    /// more) or corrupt (stop here).
    fn next_record(&mut self) -> Option<Record> {
        if self.corrupt {
            return None;
        }
        match wal::next_frame(&self.buf[self.pos..]) {
            Frame::Record(rec, len) => {
                self.pos += len;
                Some(rec)
            }
            Frame::Torn(_) => None,
            Frame::Corrupt(_) => {
                self.corrupt = true;
                None
            }
        }
    }
}

/// Segment indexes in `dir`, ascending; none when it does not exist yet.
fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    match wal::list_segments(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        r => r,
    }
}

/// The newest complete checkpoint (its `.tmp` form is still being written).
fn latest_checkpoint(dir: &Path) -> io::Result<Option<(u64, PathBuf)>> {
    match wal::latest_checkpoint(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{FsyncPolicy, Wal, WalOptions, encode_samples, encode_series};
    use std::collections::HashMap;
    use std::sync::mpsc;
    use std::time::Instant;

    enum Event {
        Series(Vec<(u64, Labels)>, u64),
        Samples(Vec<RefSample>),
        Reset(u64),
    }

    struct Probe(mpsc::Sender<Event>);

    impl WalConsumer for Probe {
        fn store_series(&mut self, series: &[(u64, Labels)], segment: u64) {
            let _ = self.0.send(Event::Series(series.to_vec(), segment));
        }
        fn append(&mut self, samples: &[RefSample]) -> bool {
            self.0.send(Event::Samples(samples.to_vec())).is_ok()
        }
        fn series_reset(&mut self, segment: u64) {
            let _ = self.0.send(Event::Reset(segment));
        }
    }

    /// What the consumer saw, collected until `done` holds or 5s pass.
    #[derive(Default)]
    struct Seen {
        series: HashMap<u64, (Labels, u64)>,
        samples: Vec<RefSample>,
        resets: Vec<u64>,
    }

    impl Seen {
        fn collect(&mut self, rx: &mpsc::Receiver<Event>, done: impl Fn(&Seen) -> bool) {
            let until = Instant::now() + Duration::from_secs(5);
            while !done(self) {
                let left = until.saturating_duration_since(Instant::now());
                assert!(
                    !left.is_zero(),
                    "timed out; saw {} samples",
                    self.samples.len()
                );
                match rx.recv_timeout(left) {
                    Ok(Event::Series(s, seg)) => {
                        for (r, l) in s {
                            self.series.insert(r, (l, seg));
                        }
                    }
                    Ok(Event::Samples(s)) => self.samples.extend(s),
                    Ok(Event::Reset(seg)) => {
                        self.resets.push(seg);
                        self.series.retain(|_, v| v.1 >= seg);
                    }
                    Err(_) => {}
                }
            }
        }
    }

    fn labels(i: u64) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
    }

    fn log(wal: &Wal, series: u64, t: i64, with_series: bool) {
        let l = labels(series);
        let mut bodies = Vec::new();
        if with_series {
            let mut a = Vec::new();
            encode_series(&mut a, &[(series, &l)]);
            bodies.push(a);
        }
        let mut b = Vec::new();
        encode_samples(
            &mut b,
            &[RefSample {
                series,
                t,
                v: t as f64,
            }],
        );
        bodies.push(b);
        let slices: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        wal.log(&slices).unwrap_or_else(|e| panic!("log: {e}"));
    }

    fn opts() -> WalOptions {
        WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Always,
        }
    }

    fn start(
        dir: &Path,
        start_time: i64,
    ) -> (
        mpsc::Receiver<Event>,
        StopSignal,
        std::thread::JoinHandle<io::Result<()>>,
    ) {
        let (tx, rx) = mpsc::channel();
        let stop = StopSignal::new();
        let w = WalWatcher::new(
            dir,
            WatchOptions {
                start_time,
                poll_interval: Duration::from_millis(10),
            },
            Probe(tx),
            stop.clone(),
        );
        let h = std::thread::spawn(move || w.run());
        (rx, stop, h)
    }

    fn finish(stop: StopSignal, h: std::thread::JoinHandle<io::Result<()>>) {
        stop.stop();
        match h.join() {
            Ok(r) => r.unwrap_or_else(|e| panic!("watcher failed: {e}")),
            Err(_) => panic!("watcher panicked"),
        }
    }

    #[test]
    fn old_segments_give_series_only_and_new_samples_are_tailed() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let wal = Wal::open(d.path(), opts()).unwrap_or_else(|e| panic!("open: {e}"));
        log(&wal, 1, 100, true);
        wal.rotate().unwrap_or_else(|e| panic!("rotate: {e}"));
        log(&wal, 2, 200, true);
        let (rx, stop, h) = start(d.path(), 150);
        let mut seen = Seen::default();
        // Series 1 comes from the old segment; sample 200 is in the newest
        // segment and after the start time.
        seen.collect(&rx, |s| s.series.len() == 2 && !s.samples.is_empty());
        log(&wal, 1, 140, false); // before the start time: not delivered
        log(&wal, 1, 300, false);
        wal.rotate().unwrap_or_else(|e| panic!("rotate: {e}"));
        log(&wal, 3, 400, true);
        seen.collect(&rx, |s| s.samples.len() == 3);
        let got: Vec<(u64, i64)> = seen.samples.iter().map(|s| (s.series, s.t)).collect();
        assert_eq!(got, vec![(2, 200), (1, 300), (3, 400)]);
        assert_eq!(seen.series.get(&3).map(|x| x.0.clone()), Some(labels(3)));
        finish(stop, h);
    }

    #[test]
    fn torn_tail_is_waited_for_not_skipped() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let wal = Wal::open(d.path(), opts()).unwrap_or_else(|e| panic!("open: {e}"));
        let (rx, stop, h) = start(d.path(), 0);
        log(&wal, 1, 10, true);
        let mut seen = Seen::default();
        seen.collect(&rx, |s| s.samples.len() == 1);
        // Write half a frame by hand, let the watcher see it, then the rest.
        let mut body = Vec::new();
        encode_samples(
            &mut body,
            &[RefSample {
                series: 1,
                t: 20,
                v: 2.0,
            }],
        );
        let mut frame = Vec::new();
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        let seg = d
            .path()
            .join(segment_name(list_segments(d.path()).unwrap_or_default()[0]));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap_or_else(|e| panic!("open segment: {e}"));
        use std::io::Write;
        f.write_all(&frame[..7])
            .unwrap_or_else(|e| panic!("write: {e}"));
        std::thread::sleep(Duration::from_millis(50));
        f.write_all(&frame[7..])
            .unwrap_or_else(|e| panic!("write: {e}"));
        seen.collect(&rx, |s| s.samples.len() == 2);
        assert_eq!(seen.samples[1].t, 20);
        finish(stop, h);
    }

    #[test]
    fn checkpoint_resets_series_it_replaced() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let wal = Wal::open(d.path(), opts()).unwrap_or_else(|e| panic!("open: {e}"));
        let (rx, stop, h) = start(d.path(), 0);
        log(&wal, 1, 10, true);
        log(&wal, 2, 10, true);
        let mut seen = Seen::default();
        seen.collect(&rx, |s| s.samples.len() == 2);
        // An earlier checkpoint first, so the one under test replaces series.
        let upto = wal.rotate().unwrap_or_else(|e| panic!("rotate: {e}"));
        wal.checkpoint(upto, &|_| true, 0)
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        log(&wal, 3, 20, true);
        seen.collect(&rx, |s| s.samples.len() == 3);
        let upto = wal.rotate().unwrap_or_else(|e| panic!("rotate: {e}"));
        // Series 2 is gone from the head: not kept by the checkpoint.
        wal.checkpoint(upto, &|r| r != 2, 0)
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        log(&wal, 1, 30, false);
        seen.collect(&rx, |s| s.samples.len() == 4 && s.resets.contains(&upto));
        assert!(seen.series.contains_key(&1));
        assert!(!seen.series.contains_key(&2), "series 2 should be reset");
        assert!(seen.series.contains_key(&3));
        finish(stop, h);
    }
}
