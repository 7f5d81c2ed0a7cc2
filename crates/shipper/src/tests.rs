use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use argus_block::{BlockReader, BlockSeries, NewBlock, RetryPolicy, write_block};
use argus_model::{Labels, QueryableExt, Sample};
use argus_tsdb::{DbOptions, FsyncPolicy, WalOptions};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use super::*;

const BLOCK_MS: i64 = 10_000;

/// What the test bucket does and has seen.
#[derive(Debug, Default)]
struct Faults {
    /// Every request fails, as in an outage.
    down: AtomicBool,
    /// Puts of `meta.json` fail: uploads stop after the data files.
    fail_meta_puts: AtomicBool,
    puts: AtomicUsize,
    /// Block of each `meta.json` put, in order.
    meta_puts: Mutex<Vec<Ulid>>,
    meta_gets: AtomicUsize,
}

impl Faults {
    fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    fn meta_gets(&self) -> usize {
        self.meta_gets.load(Ordering::SeqCst)
    }

    fn meta_puts(&self) -> Vec<Ulid> {
        self.meta_puts.lock().clone()
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

/// An in-memory store that fails on demand and counts requests.
#[derive(Debug)]
struct FlakyStore {
    inner: InMemory,
    faults: Arc<Faults>,
}

impl fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlakyStore")
    }
}

fn outage() -> object_store::Error {
    object_store::Error::Generic {
        store: "flaky",
        source: "connection refused".into(),
    }
}

fn is_meta(location: &ObjectPath) -> bool {
    location.filename() == Some(META_FILE)
}

fn failing<T: Send + 'static>() -> BoxStream<'static, object_store::Result<T>> {
    futures::stream::once(async { Err(outage()) }).boxed()
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let meta = is_meta(location);
        if self.faults.is_down() || (meta && self.faults.fail_meta_puts.load(Ordering::SeqCst)) {
            return Err(outage());
        }
        self.faults.puts.fetch_add(1, Ordering::SeqCst);
        if meta
            && let Some(id) = location
                .parts()
                .next()
                .and_then(|p| Ulid::from_string(p.as_ref()).ok())
        {
            self.faults.meta_puts.lock().push(id);
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if self.faults.is_down() {
            return Err(outage());
        }
        self.faults.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if self.faults.is_down() {
            return Err(outage());
        }
        if is_meta(location) && !options.head {
            self.faults.meta_gets.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        if self.faults.is_down() {
            return failing();
        }
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if self.faults.is_down() {
            return failing();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        if self.faults.is_down() {
            return Err(outage());
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        if self.faults.is_down() {
            return Err(outage());
        }
        self.inner.copy_opts(from, to, options).await
    }
}

struct Env {
    dir: tempfile::TempDir,
    faults: Arc<Faults>,
    bucket: Bucket,
}

impl Env {
    fn new() -> Env {
        let faults = Arc::new(Faults::default());
        let store = FlakyStore {
            inner: InMemory::new(),
            faults: faults.clone(),
        };
        let bucket =
            Bucket::from_store(Arc::new(store), "flaky".to_string()).with_retry(RetryPolicy {
                max_tries: 2,
                initial_backoff: Duration::from_millis(1),
            });
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            faults,
            bucket,
        }
    }

    fn open_db(&self) -> Arc<Db> {
        let opts = DbOptions {
            block_duration_ms: BLOCK_MS,
            retention_ms: None,
            retention_bytes: None,
            wal: WalOptions {
                segment_size: 1 << 16,
                fsync: FsyncPolicy::Always,
            },
            external_labels: Labels::from_pairs(&[("replica", "a")]),
        };
        Arc::new(Db::open(self.dir.path(), opts).expect("open db"))
    }

    fn shipper(&self, db: &Arc<Db>) -> Shipper {
        Shipper::new(db.clone(), self.bucket.clone(), fast_retries())
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join(STATE_FILE)
    }

    fn state(&self) -> Loaded {
        state::read(&self.state_path())
    }

    async fn remote_ids(&self) -> Vec<Ulid> {
        let metas = self.bucket.list_blocks().await.expect("list");
        metas.iter().map(|m| m.ulid).collect()
    }

    /// Blocks in the bucket and the samples in them, read back from a
    /// download of each.
    async fn remote_samples(&self) -> (usize, usize) {
        let dl = tempfile::tempdir().expect("tempdir");
        let metas = self.bucket.list_blocks().await.expect("list");
        let mut samples = 0;
        for m in &metas {
            let dir = self
                .bucket
                .download_block(m.ulid, dl.path())
                .await
                .expect("download");
            let reader = BlockReader::open(&dir).expect("open downloaded block");
            for s in reader.select_all(&[], i64::MIN, i64::MAX).expect("select") {
                samples += s.decode(i64::MIN, i64::MAX).expect("decode").len();
            }
        }
        (metas.len(), samples)
    }
}

fn fast_retries() -> ShipperOptions {
    ShipperOptions {
        retry_backoff: Duration::from_millis(10),
        max_retry_backoff: Duration::from_millis(40),
        ..ShipperOptions::default()
    }
}

fn series(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

/// Appends `n` series, one sample per `step` in `[from, to)`; returns the
/// samples written.
fn write(db: &Db, n: usize, from: i64, to: i64, step: i64) -> usize {
    let mut written = 0;
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..n {
            app.append(&series(i), t, t as f64).expect("append");
            written += 1;
        }
        app.commit().expect("commit");
        t += step;
    }
    written
}

fn ids(db: &Db) -> Vec<Ulid> {
    db.blocks().iter().map(|b| b.ulid).collect()
}

fn metrics_text(s: &Shipper) -> String {
    let mut r = Registry::default();
    s.register(&mut r);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
    out
}

/// The value of the sample `name` (with or without labels).
fn metric(s: &Shipper, name: &str) -> f64 {
    let text = metrics_text(s);
    text.lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ships_blocks_oldest_first_with_the_sidecar_meta() {
    let env = Env::new();
    let db = env.open_db();
    let written = write(&db, 3, 0, 35_000, 1000);
    db.seal_all().expect("seal");
    let local = db.blocks();
    assert_eq!(local.len(), 4);
    let shipper = env.shipper(&db);
    let stats = shipper.sync().await.expect("sync");
    assert_eq!(stats.uploaded, 4);
    assert_eq!(stats.already_in_bucket, 0);
    assert_eq!(stats.backlog, 0);
    assert_eq!(env.faults.meta_puts(), ids(&db));

    let remote = env.bucket.list_blocks().await.expect("list");
    assert_eq!(remote.len(), 4);
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(r.ulid, l.ulid);
        assert_eq!(r.thanos.source, "sidecar");
        assert_eq!(l.thanos.source, "head", "the local meta.json is left alone");
        assert_eq!(r.thanos.labels, Labels::from_pairs(&[("replica", "a")]));
        assert_eq!(r.stats, l.stats);
        let dir = db.dir().join(l.ulid.to_string());
        let want: Vec<(String, u64)> = [CHUNKS_FILE, META_FILE, SERIES_FILE]
            .iter()
            .map(|f| {
                let size = if *f == META_FILE {
                    0
                } else {
                    std::fs::metadata(dir.join(f)).expect("stat").len()
                };
                (f.to_string(), size)
            })
            .collect();
        let got: Vec<(String, u64)> = r
            .thanos
            .files
            .iter()
            .map(|f| (f.rel_path.clone(), f.size_bytes))
            .collect();
        assert_eq!(got, want);
        assert!(!db.dir().join(UPLOAD_DIR).join(l.ulid.to_string()).exists());
    }
    assert_eq!(env.remote_samples().await, (4, written));

    // The state file, in Thanos's shape.
    let text = std::fs::read_to_string(env.state_path()).expect("state file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let want: Vec<String> = local.iter().map(|m| m.ulid.to_string()).collect();
    assert_eq!(json, serde_json::json!({"version": 1, "uploaded": want}));

    assert_eq!(metric(&shipper, "thanos_shipper_uploads_total"), 4.0);
    assert_eq!(
        metric(&shipper, "thanos_shipper_upload_failures_total"),
        0.0
    );
    assert_eq!(metric(&shipper, "thanos_shipper_dir_syncs_total"), 1.0);
    assert_eq!(metric(&shipper, "argus_shipper_backlog_blocks"), 0.0);
    assert_eq!(
        metric(&shipper, "argus_shipper_uploaded_bytes_total"),
        stats.uploaded_bytes as f64
    );
    assert!(stats.uploaded_bytes > 0);
    assert_eq!(
        metric(
            &shipper,
            "argus_shipper_newest_shipped_block_max_time_seconds"
        ),
        local[3].max_time as f64 / 1000.0
    );
    assert!(
        metrics_text(&shipper)
            .contains("thanos_objstore_bucket_last_successful_upload_time{bucket=\"flaky\"}")
    );
    let last = metric(
        &shipper,
        "thanos_objstore_bucket_last_successful_upload_time",
    );
    assert!((last - argus_model::time::now_ms() as f64 / 1000.0).abs() < 600.0);

    // Nothing left: no upload, no look-up.
    let (puts, gets) = (env.faults.puts(), env.faults.meta_gets());
    let stats = shipper.sync().await.expect("sync again");
    assert_eq!(stats, ShipStats::default());
    assert_eq!((env.faults.puts(), env.faults.meta_gets()), (puts, gets));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_the_backlog_and_retention_keeps_unshipped_blocks() {
    let env = Env::new();
    let db = env.open_db();
    let mut written = write(&db, 2, 0, 20_000, 1000);
    db.seal_all().expect("seal");
    let shipper = env.shipper(&db);
    assert_eq!(shipper.sync().await.expect("sync").uploaded, 2);

    // The bucket goes away; the database goes on sealing.
    env.faults.set_down(true);
    written += write(&db, 2, 20_000, 60_000, 1000);
    db.seal_all().expect("seal while the bucket is down");
    let all = ids(&db);
    assert_eq!(all.len(), 6);
    let e = shipper.sync().await.expect_err("the pass fails");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(e.block(), Some(all[2]));
    assert_eq!(metric(&shipper, "argus_shipper_backlog_blocks"), 4.0);
    assert_eq!(
        metric(&shipper, "thanos_shipper_upload_failures_total"),
        1.0
    );
    assert_eq!(
        metric(&shipper, "thanos_shipper_dir_sync_failures_total"),
        1.0
    );

    // Four blocks end more than 15s before the newest; only the two in the
    // bucket may go.
    db.set_retention(Some(15_000), None);
    let deleted = db.apply_retention().expect("retention");
    assert_eq!(deleted, vec![all[0].to_string(), all[1].to_string()]);
    assert_eq!(ids(&db), all[2..].to_vec());

    // Back, but meta.json puts fail: the data files of the first pending
    // block go up, and it stays invisible.
    env.faults.set_down(false);
    env.faults.fail_meta_puts.store(true, Ordering::SeqCst);
    let e = shipper.sync().await.expect_err("the pass fails");
    assert!(
        matches!(e, ShipError::Upload { block, .. } if block == all[2]),
        "{e}"
    );
    assert_eq!(env.remote_ids().await, all[..2].to_vec());
    assert_eq!(
        env.bucket.partial_blocks().await.expect("partial"),
        vec![all[2]]
    );
    assert!(db.apply_retention().expect("retention").is_empty());

    // Recovered: everything goes up, oldest first, the partial upload
    // overwritten.
    env.faults.fail_meta_puts.store(false, Ordering::SeqCst);
    let stats = shipper.sync().await.expect("sync");
    assert_eq!(stats.uploaded, 4);
    assert_eq!(stats.backlog, 0);
    assert_eq!(env.faults.meta_puts(), all);
    assert!(
        env.bucket
            .partial_blocks()
            .await
            .expect("partial")
            .is_empty()
    );
    assert_eq!(env.remote_samples().await, (6, written));
    assert_eq!(metric(&shipper, "argus_shipper_backlog_blocks"), 0.0);
    assert_eq!(
        metric(&shipper, "thanos_shipper_upload_failures_total"),
        2.0
    );
    // The blocks retention took are out of the state file.
    assert_eq!(env.state(), Loaded::Found(all[2..].to_vec()));

    // Shipped now, so retention takes them; the next pass forgets them.
    let deleted = db.apply_retention().expect("retention");
    assert_eq!(deleted, vec![all[2].to_string(), all[3].to_string()]);
    shipper.sync().await.expect("sync");
    assert_eq!(env.state(), Loaded::Found(all[4..].to_vec()));
    assert_eq!(shipper.shipped_blocks(), {
        let mut v = all[4..].to_vec();
        v.sort();
        v
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_uploading_again() {
    let env = Env::new();
    let first = {
        let db = env.open_db();
        write(&db, 2, 0, 20_000, 1000);
        db.seal_all().expect("seal");
        let shipper = env.shipper(&db);
        assert_eq!(shipper.sync().await.expect("sync").uploaded, 2);
        ids(&db)
    };
    // A new process over the same directory.
    let db = env.open_db();
    write(&db, 2, 20_000, 30_000, 1000);
    db.seal_all().expect("seal");
    let all = ids(&db);
    assert_eq!(all[..2], first[..]);
    let (puts, gets) = (env.faults.puts(), env.faults.meta_gets());
    let shipper = env.shipper(&db);
    let stats = shipper.sync().await.expect("sync");
    assert_eq!(stats.uploaded, 1);
    assert_eq!(stats.already_in_bucket, 0);
    // Series, chunks and meta.json of the new block only, after one
    // look-up of it: recorded blocks are not looked up.
    assert_eq!(env.faults.puts() - puts, 3);
    assert_eq!(env.faults.meta_gets() - gets, 1);
    assert_eq!(env.faults.meta_puts(), all);
    assert_eq!(env.remote_ids().await, all);
    assert_eq!(env.state(), Loaded::Found(all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_already_in_the_bucket_is_recorded_without_an_upload() {
    let env = Env::new();
    let db = env.open_db();
    write(&db, 2, 0, 20_000, 1000);
    db.seal_all().expect("seal");
    let all = ids(&db);
    // Uploaded by an earlier run that lost its state file write.
    env.bucket
        .upload_block(&db.dir().join(all[0].to_string()))
        .await
        .expect("upload");
    let puts = env.faults.puts();
    let shipper = env.shipper(&db);
    let stats = shipper.sync().await.expect("sync");
    assert_eq!(stats.uploaded, 1);
    assert_eq!(stats.already_in_bucket, 1);
    assert_eq!(env.faults.puts() - puts, 3);
    assert_eq!(env.faults.meta_puts(), all);
    assert_eq!(env.state(), Loaded::Found(all.clone()));
    assert_eq!(metric(&shipper, "thanos_shipper_uploads_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_rebuilt_from_the_bucket() {
    let env = Env::new();
    let db = env.open_db();
    write(&db, 2, 0, 30_000, 1000);
    db.seal_all().expect("seal");
    let all = ids(&db);
    assert_eq!(env.shipper(&db).sync().await.expect("sync").uploaded, 3);
    let puts = env.faults.puts();
    let garbage: [&[u8]; 4] = [
        b"\x00\xffnot json{",
        b"{\"version\": 2, \"uploaded\": []}",
        b"{\"version\": 1, \"uploaded\": [\"not-a-ulid\"]}",
        b"",
    ];
    for bad in garbage {
        std::fs::write(env.state_path(), bad).expect("write garbage");
        let shipper = env.shipper(&db);
        let stats = shipper.sync().await.expect("sync");
        assert_eq!(stats.uploaded, 0);
        assert_eq!(stats.already_in_bucket, 3);
        assert_eq!(env.faults.puts(), puts, "nothing uploaded again");
        assert_eq!(env.state(), Loaded::Found(all.clone()));
    }

    // Until a pass has looked them up, retention keeps the blocks.
    std::fs::write(env.state_path(), b"{{{").expect("write garbage");
    let shipper = env.shipper(&db);
    db.set_retention(Some(1), None);
    assert!(db.apply_retention().expect("retention").is_empty());
    // The state file cannot be written (a directory is in the way of its
    // rename): the pass still succeeds, and the next one writes it.
    std::fs::remove_file(env.state_path()).expect("rm");
    std::fs::create_dir(env.state_path()).expect("mkdir");
    std::fs::write(env.state_path().join("x"), b"x").expect("write");
    assert_eq!(shipper.sync().await.expect("sync").already_in_bucket, 3);
    assert!(env.state_path().is_dir());
    std::fs::remove_dir_all(env.state_path()).expect("rm");
    let deleted = db.apply_retention().expect("retention");
    assert_eq!(deleted, vec![all[0].to_string(), all[1].to_string()]);
    shipper.sync().await.expect("sync");
    assert_eq!(env.state(), Loaded::Found(vec![all[2]]));
    assert_eq!(env.faults.puts(), puts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_level_one_blocks_with_samples_ship_by_default() {
    let env = Env::new();
    let db = env.open_db();
    write(&db, 1, 0, 10_000, 1000);
    write(&db, 1, 60_000, 70_000, 1000);
    db.seal_all().expect("seal");
    let sealed = ids(&db);
    assert_eq!(sealed.len(), 2);
    // A compacted block with other external labels, and an empty one, as
    // a compactor or an import would leave them.
    let mut spec = NewBlock::new(20_000, 40_000, "compactor");
    spec.compaction_level = 2;
    spec.external_labels = Labels::from_pairs(&[("dc", "x"), ("replica", "old")]);
    let samples: Vec<Sample> = (20..40).map(|t| Sample::new(t * 1000, 1.0)).collect();
    let compacted = write_block(
        db.dir(),
        &spec,
        &[BlockSeries::from_samples(series(7), &samples)],
    )
    .expect("write compacted");
    let empty =
        write_block(db.dir(), &NewBlock::new(40_000, 50_000, "import"), &[]).expect("write empty");
    assert_eq!(db.reload_blocks().expect("reload").len(), 2);

    let shipper = env.shipper(&db);
    let stats = shipper.sync().await.expect("sync");
    assert_eq!((stats.uploaded, stats.backlog), (2, 0));
    assert_eq!(env.remote_ids().await, sealed);
    drop(shipper);

    let shipper = Shipper::new(
        db.clone(),
        env.bucket.clone(),
        ShipperOptions {
            upload_compacted: true,
            ..fast_retries()
        },
    );
    assert_eq!(shipper.sync().await.expect("sync").uploaded, 1);
    assert_eq!(
        metric(&shipper, "thanos_shipper_upload_compacted_done"),
        1.0
    );
    let meta = env
        .bucket
        .block_meta(compacted.ulid)
        .await
        .expect("get")
        .expect("compacted block uploaded");
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.thanos.source, "sidecar");
    // The database's external labels win, the block's others stay.
    assert_eq!(
        meta.thanos.labels,
        Labels::from_pairs(&[("dc", "x"), ("replica", "a")])
    );
    assert_eq!(env.bucket.block_meta(empty.ulid).await.expect("get"), None);

    // Retention takes what is shipped and what is never shipped.
    db.set_retention(Some(1), None);
    let mut deleted = db.apply_retention().expect("retention");
    deleted.sort();
    let mut want = vec![
        sealed[0].to_string(),
        compacted.ulid.to_string(),
        empty.ulid.to_string(),
    ];
    want.sort();
    assert_eq!(deleted, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ships_on_notify_retries_with_backoff_and_stops() {
    let env = Env::new();
    let db = env.open_db();
    let shipper = Arc::new(env.shipper(&db));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(shipper.clone().run(Duration::from_secs(3600), stop_rx));
    // The first pass runs at start.
    eventually("the first pass", || async {
        metric(&shipper, "thanos_shipper_dir_syncs_total") >= 1.0
    })
    .await;

    write(&db, 1, 0, 10_000, 1000);
    db.seal_all().expect("seal");
    shipper.notify();
    eventually("the block in the bucket", || async {
        env.remote_ids().await.len() == 1
    })
    .await;

    // During an outage it retries by itself, long before the interval.
    env.faults.set_down(true);
    write(&db, 1, 10_000, 20_000, 1000);
    db.seal_all().expect("seal");
    shipper.notify();
    eventually("retried passes", || async {
        metric(&shipper, "thanos_shipper_dir_sync_failures_total") >= 3.0
    })
    .await;
    env.faults.set_down(false);
    // The bucket lists a block once its meta.json is in, a moment before
    // the pass records it.
    eventually("both blocks in the bucket and recorded", || async {
        env.remote_ids().await == ids(&db) && shipper.shipped_blocks().len() == 2
    })
    .await;
    eventually("an empty backlog", || async {
        metric(&shipper, "argus_shipper_backlog_blocks") == 0.0
    })
    .await;

    stop_tx.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run returns on stop")
        .expect("run task");
}
