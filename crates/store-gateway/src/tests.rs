//! Tests of the store over an in-memory bucket.

use argus_block::meta::BlockMeta;
use argus_block::{BlockSeries, CHUNKS_FILE, META_FILE, NewBlock, SERIES_FILE};
use argus_config::relabel::{Regex, RelabelAction, RelabelConfig};
use argus_model::error::ErrorKind;
use argus_model::storage::{ReadContext, ReadLimits, SelectRequest, StorageError, StorageSeries};
use argus_model::{Labels, MatchType, Matcher, Queryable, QueryableExt, Sample};
use argus_storage_conformance::{Dataset, Fixture, HOUR, SPAN, T0, storage_conformance};

use crate::testutil::{Env, H, many_series};
use crate::{BucketStore, BucketStoreOptions, DELETION_MARK_FILE, TimeBound};

/// The conformance dataset as three blocks of the bucket: the first two
/// hours, the last two, and an overlapping one holding hours 1 to 3 of a
/// few series again (so merged series carry chunks of several blocks).
fn build_with(ds: &Dataset, opts: BucketStoreOptions) -> Fixture {
    let env = Env::new();
    let part = |from: i64, to: i64, every: usize| -> Vec<BlockSeries> {
        ds.series
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(_, (l, s))| {
                let s: Vec<Sample> = s
                    .iter()
                    .filter(|x| x.t >= from && x.t < to)
                    .copied()
                    .collect();
                BlockSeries::from_samples(l.clone(), &s)
            })
            .collect()
    };
    for (from, to, every) in [
        (T0, T0 + 2 * HOUR, 1),
        (T0 + 2 * HOUR, T0 + SPAN, 1),
        (T0 + HOUR, T0 + 3 * HOUR, 3),
    ] {
        env.upload(&NewBlock::new(from, to, "test"), &part(from, to, every));
    }
    let store = env.store(opts);
    assert_eq!(store.blocks().len(), 3);
    Fixture::new(store).keeping(env)
}

fn build(ds: &Dataset) -> Fixture {
    build_with(ds, BucketStoreOptions::default())
}

storage_conformance!(build);

/// The same suite with nothing cached: every read goes to the bucket.
mod uncached {
    use super::*;

    fn build(ds: &Dataset) -> Fixture {
        build_with(
            ds,
            BucketStoreOptions {
                cache_bytes: 0,
                ..BucketStoreOptions::default()
            },
        )
    }

    storage_conformance!(build);
}

pub(crate) fn m(kind: MatchType, n: &str, v: &str) -> Matcher {
    Matcher::new(kind, n, v).expect("matcher")
}

pub(crate) fn labels_of(v: &[StorageSeries]) -> Vec<Labels> {
    v.iter().map(|s| s.labels.clone()).collect()
}

#[test]
fn an_empty_bucket_serves_nothing() {
    let env = Env::new();
    let store: BucketStore = env.store(BucketStoreOptions::default());
    assert!(store.blocks().is_empty());
    let info = store.info();
    assert!(info.label_sets.is_empty());
    assert_eq!((info.min_time, info.max_time), (i64::MAX, i64::MIN));
    let got = store
        .select_all(&[m(MatchType::Regex, "__name__", ".+")], i64::MIN, i64::MAX)
        .expect("select");
    assert!(got.is_empty());
    assert!(labels_of(&got).is_empty());
}

const BT0: i64 = crate::testutil::T0;

fn all() -> Vec<Matcher> {
    vec![m(MatchType::Regex, "__name__", ".+")]
}

fn select(
    s: &BucketStore,
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<Vec<StorageSeries>, StorageError> {
    s.select(
        &SelectRequest::new(ms.to_vec(), mint, maxt),
        &ReadContext::default(),
    )?
    .collect()
}

/// The series of `input` matching `ms` with their samples in `[mint, maxt]`.
fn expected(
    input: &[BlockSeries],
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Vec<(Labels, Vec<Sample>)> {
    input
        .iter()
        .filter(|s| argus_model::matcher::matches_all(ms, &s.labels))
        .filter_map(|s| {
            let st = StorageSeries {
                labels: s.labels.clone(),
                chunks: s.chunks.clone(),
            };
            let samples = st.decode(mint, maxt).expect("decode input");
            (!samples.is_empty()).then_some((s.labels.clone(), samples))
        })
        .collect()
}

fn decoded(got: &[StorageSeries], mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
    got.iter()
        .map(|s| (s.labels.clone(), s.decode(mint, maxt).expect("decode")))
        .filter(|(_, x)| !x.is_empty())
        .collect()
}

/// Bytes the store fetched while `f` ran, checked against what the bucket
/// served.
fn fetched_during<T>(env: &Env, s: &BucketStore, f: impl FnOnce() -> T) -> (T, u64) {
    let (a, b) = (s.stats().fetched_bytes(), env.store.served_bytes());
    let r = f();
    let (a2, b2) = (s.stats().fetched_bytes(), env.store.served_bytes());
    assert_eq!(
        a2 - a,
        b2 - b,
        "the store's byte count differs from the bucket's"
    );
    (r, a2 - a)
}

#[test]
fn a_select_of_one_series_reads_a_small_part_of_a_bucket_of_many_blocks() {
    let env = Env::new();
    let mut inputs = Vec::new();
    for b in 0..16 {
        let from = BT0 + b * 2 * H;
        let series = many_series(300, from, from + 2 * H, 30_000);
        env.upload(&NewBlock::new(from, from + 2 * H, "test"), &series);
        inputs.push(series);
    }
    let total = env.bucket_bytes();
    let s = env.store(BucketStoreOptions::default());
    assert_eq!(s.blocks().len(), 16);
    let ms = vec![
        m(MatchType::Equal, "__name__", "metric_3"),
        m(MatchType::Equal, "instance", "host-000010"),
    ];
    let (from, to) = (BT0 + 7 * 2 * H, BT0 + 8 * 2 * H - 1);
    let (got, bytes) = fetched_during(&env, &s, || select(&s, &ms, from, to).expect("select"));
    assert_eq!(decoded(&got, from, to), expected(&inputs[7], &ms, from, to));
    assert_eq!(got.len(), 1);
    // About one block of the sixteen: the label pages and the chunk pages
    // holding the series, and the footers.
    assert!(
        bytes * 10 < total,
        "fetched {bytes} of {total} bucket bytes for one series of one block"
    );
    // Again: everything comes from the cache.
    let hits = s.stats().cache_hits();
    let (again, bytes) = fetched_during(&env, &s, || select(&s, &ms, from, to).expect("select"));
    assert_eq!(bytes, 0);
    assert!(s.stats().cache_hits() > hits);
    assert_eq!(labels_of(&again), labels_of(&got));

    // Over all time the series is in every block; a labels-only select of
    // it reads footers and a few label pages of each, no chunks.
    let req = SelectRequest::new(ms.clone(), i64::MIN, i64::MAX).labels_only();
    let fresh = env.store(BucketStoreOptions::default());
    let (got, bytes) = fetched_during(&env, &fresh, || {
        fresh
            .select(&req, &ReadContext::default())
            .and_then(|st| st.collect::<Result<Vec<_>, _>>())
            .expect("select")
    });
    assert_eq!(got.len(), 1);
    assert!(
        bytes * 4 < total,
        "fetched {bytes} of {total} for labels over every block"
    );
    assert!(
        env.store
            .gets_of(CHUNKS_FILE)
            .iter()
            .all(|r| r.end - r.start <= 64 << 10)
    );
}

#[test]
fn statistics_and_the_page_index_prune_within_a_large_block() {
    let env = Env::new();
    let n = 2 * argus_block::writer::ROW_GROUP_MAX_ROWS + 500;
    // One 120-sample chunk per series, as a 2h block scraped every minute.
    let series = many_series(n, BT0, BT0 + 2 * H, 60_000);
    let meta = env.upload(&NewBlock::new(BT0, BT0 + 2 * H, "test"), &series);
    let block_bytes: u64 = meta.thanos.files.iter().map(|f| f.size_bytes).sum();
    let s = env.store(BucketStoreOptions::default());

    let one = vec![
        m(MatchType::Equal, "__name__", "metric_4"),
        m(MatchType::Equal, "instance", "host-012345"),
    ];
    let (got, bytes) = fetched_during(&env, &s, || {
        select(&s, &one, i64::MIN, i64::MAX).expect("select")
    });
    assert_eq!(
        decoded(&got, i64::MIN, i64::MAX),
        expected(&series, &one, i64::MIN, i64::MAX)
    );
    assert_eq!(got.len(), 1);
    // A dictionary and a page of label columns of one row group, a page of
    // chunks, and the footers.
    assert!(
        bytes * 5 < block_bytes,
        "fetched {bytes} of the block's {block_bytes} bytes for one series"
    );

    let cases = vec![
        vec![m(
            MatchType::Regex,
            "instance",
            "host-000001|host-009000|host-016999",
        )],
        vec![
            m(MatchType::Regex, "instance", "host-0089.*"),
            m(MatchType::Equal, "__name__", "metric_2"),
        ],
        vec![
            m(MatchType::Equal, "__name__", "metric_4"),
            m(MatchType::NotRegex, "job", "job[01]"),
        ],
        vec![m(MatchType::Regex, "instance", "(?i)HOST-00000[0-4]")],
        vec![m(MatchType::Equal, "job", "job9")],
        vec![m(MatchType::Equal, "missing", "")],
        vec![m(MatchType::Equal, "missing", "x")],
        vec![m(MatchType::Regex, "instance", "")],
        vec![
            m(MatchType::Regex, "instance", "host-01.*"),
            m(MatchType::NotEqual, "__name__", "metric_0"),
        ],
    ];
    for ms in cases {
        let got = select(&s, &ms, i64::MIN, i64::MAX).expect("select");
        assert_eq!(
            decoded(&got, i64::MIN, i64::MAX),
            expected(&series, &ms, i64::MIN, i64::MAX),
            "{ms:?}"
        );
        let req = SelectRequest::new(ms.clone(), i64::MIN, i64::MAX).labels_only();
        let got: Vec<Labels> = s
            .select(&req, &ReadContext::default())
            .and_then(|st| st.collect::<Result<Vec<_>, _>>())
            .map(|v| labels_of(&v))
            .expect("labels only");
        let want: Vec<Labels> = expected(&series, &ms, i64::MIN, i64::MAX)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(got, want, "labels only {ms:?}");
    }
    let jobs = s
        .label_values_all("job", &[], i64::MIN, i64::MAX)
        .expect("values");
    assert_eq!(jobs, vec!["job0", "job1", "job2"]);
    let names = s
        .label_values_all(
            "__name__",
            &[m(MatchType::Equal, "job", "job1")],
            i64::MIN,
            i64::MAX,
        )
        .expect("values");
    assert_eq!(names.len(), 7);
}

#[test]
fn the_cache_stays_within_its_bound() {
    let env = Env::new();
    let mut inputs = Vec::new();
    for b in 0..3 {
        let from = BT0 + b * 2 * H;
        let series = many_series(200, from, from + 2 * H, 15_000);
        env.upload(&NewBlock::new(from, from + 2 * H, "test"), &series);
        inputs.push(series);
    }
    // About one block's footers and pages: queries of one block at a time
    // evict those of the others.
    let bound = 64 << 10;
    let s = env.store(BucketStoreOptions {
        cache_bytes: bound,
        ..BucketStoreOptions::default()
    });
    for i in 0..24 {
        let b = i % 3;
        let (from, to) = (BT0 + b * 2 * H, BT0 + (b + 1) * 2 * H - 1);
        let ms = vec![
            m(MatchType::Equal, "__name__", &format!("metric_{}", i % 7)),
            m(
                MatchType::Regex,
                "instance",
                &format!("host-0000{}.*", i % 10),
            ),
        ];
        let want = expected(&inputs[b as usize], &ms, from, to);
        // Twice: the second time from the cache.
        for _ in 0..2 {
            let got = select(&s, &ms, from, to).expect("select");
            assert_eq!(decoded(&got, from, to), want);
            assert!(
                s.stats().cache_bytes() <= bound as u64,
                "cache holds {} bytes, bound {bound}",
                s.stats().cache_bytes()
            );
        }
    }
    assert!(s.stats().cache_evictions() > 0);
    assert!(s.stats().cache_hits() > 0);
    assert!(s.stats().cache_items() > 0);
}

fn no_cache() -> BucketStoreOptions {
    BucketStoreOptions {
        cache_bytes: 0,
        ..BucketStoreOptions::default()
    }
}

fn meta_path(id: ulid::Ulid) -> String {
    format!("{id}/{META_FILE}")
}

#[test]
fn corrupt_and_truncated_files_fail_with_errors_naming_them() {
    let env = Env::new();
    let a_series = many_series(60, BT0, BT0 + 2 * H, 15_000);
    let a = env.upload(&NewBlock::new(BT0, BT0 + 2 * H, "test"), &a_series);
    let b_series = many_series(40, BT0 + 2 * H, BT0 + 4 * H, 15_000);
    env.upload(&NewBlock::new(BT0 + 2 * H, BT0 + 4 * H, "test"), &b_series);
    let series_path = format!("{}/{SERIES_FILE}", a.ulid);
    let chunks_path = format!("{}/{CHUNKS_FILE}", a.ulid);
    let good_series = env.get(&series_path);
    let good_chunks = env.get(&chunks_path);
    let good_meta = env.get(&meta_path(a.ulid));
    let fails_naming = |file: &str| {
        let s = env.store(no_cache());
        let e = select(&s, &all(), i64::MIN, i64::MAX)
            .err()
            .unwrap_or_else(|| panic!("a broken {file} must fail the select"));
        assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
        assert!(
            e.message().contains(&a.ulid.to_string()) && e.message().contains(file),
            "{e}"
        );
        // The other block still serves, and so does the store.
        let got = select(&s, &all(), BT0 + 2 * H, i64::MAX).expect("the other block");
        assert_eq!(got.len(), b_series.len());
        e.message().to_string()
    };

    // Shorter than meta.json says.
    env.put(&series_path, good_series[..good_series.len() / 2].to_vec());
    let msg = fails_naming(SERIES_FILE);
    assert!(msg.contains("truncated"), "{msg}");
    env.put(&series_path, good_series.clone());
    // Missing.
    env.delete(&chunks_path);
    let msg = fails_naming(CHUNKS_FILE);
    assert!(msg.contains("not in the bucket"), "{msg}");
    // The footer overwritten, the size kept.
    let mut bad = good_chunks.clone();
    let n = bad.len();
    for x in &mut bad[n - 300..n - 8] {
        *x ^= 0x5a;
    }
    env.put(&chunks_path, bad);
    fails_naming(CHUNKS_FILE);
    // Without sizes in meta.json, parquet finds the truncation.
    let mut meta: BlockMeta = serde_json::from_slice(&good_meta).expect("meta");
    meta.thanos.files.clear();
    env.put(&meta_path(a.ulid), meta.to_json());
    env.put(
        &chunks_path,
        good_chunks[..good_chunks.len() * 2 / 3].to_vec(),
    );
    fails_naming(CHUNKS_FILE);
    env.put(&meta_path(a.ulid), good_meta.clone());

    // Garbage anywhere: an error naming the block, or data that decodes;
    // never a panic (the parquet crate's decoders panic on some of these
    // bytes; the scan turns that into an error).
    for (path, good) in [(&series_path, &good_series), (&chunks_path, &good_chunks)] {
        for step in 0..160 {
            let mut bad = good.clone();
            let at = step * (bad.len() - 8) / 160;
            for x in &mut bad[at..(at + 3).min(good.len())] {
                *x = x.wrapping_mul(31).wrapping_add(7);
            }
            env.put(path, bad);
            let s = env.store(no_cache());
            let labels_only = SelectRequest::new(all(), i64::MIN, i64::MAX).labels_only();
            let results = [
                select(&s, &all(), i64::MIN, i64::MAX).map(|_| ()),
                s.select(&labels_only, &ReadContext::default())
                    .and_then(|st| st.collect::<Result<Vec<_>, _>>())
                    .map(|_| ()),
                s.label_values_all("instance", &[], i64::MIN, i64::MAX)
                    .map(|_| ()),
                s.label_names_all(&[m(MatchType::Equal, "job", "job1")], i64::MIN, i64::MAX)
                    .map(|_| ()),
            ];
            for r in results {
                if let Err(e) = r {
                    assert_eq!(e.kind(), ErrorKind::Internal, "{path} at {at}: {e}");
                    assert!(e.message().contains(&a.ulid.to_string()), "{e}");
                }
            }
        }
        env.put(path, good.clone());
    }
    // The 40 series of the second block are also in the first.
    let s = env.store(no_cache());
    assert_eq!(
        select(&s, &all(), i64::MIN, i64::MAX)
            .expect("restored")
            .len(),
        60
    );
}

#[test]
fn sync_serves_complete_argus_blocks_only() {
    let env = Env::new();
    let spec = |i: i64| NewBlock::new(BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H, "test");
    let data = |i: i64| many_series(5, BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H, 60_000);
    let good = env.upload(&spec(0), &data(0));
    let partial = env.upload(&spec(1), &data(1));
    env.delete(&meta_path(partial.ulid));
    let marked = env.upload(&spec(2), &data(2));
    env.put(
        &format!("{}/{DELETION_MARK_FILE}", marked.ulid),
        format!(
            r#"{{"id":"{}","deletion_time":{},"version":1}}"#,
            marked.ulid,
            crate::now_ms() / 1000
        )
        .into_bytes(),
    );
    let corrupt = env.upload(&spec(3), &data(3));
    let corrupt_meta = env.get(&meta_path(corrupt.ulid));
    env.put(&meta_path(corrupt.ulid), b"{".to_vec());
    let foreign = env.upload(&spec(4), &data(4));
    let mut m4 = foreign.clone();
    m4.argus = None;
    env.put(&meta_path(foreign.ulid), m4.to_json());
    let downsampled = env.upload(&spec(5), &data(5));
    let mut m5 = downsampled.clone();
    m5.thanos.downsample.resolution = 300_000;
    env.put(&meta_path(downsampled.ulid), m5.to_json());
    // Not block directories at all.
    env.put("debug/metas/x.json", b"{}".to_vec());
    env.put("not-a-ulid/meta.json", b"{}".to_vec());

    let s = BucketStore::new(
        env.bucket.clone(),
        BucketStoreOptions::default(),
        env.rt.handle().clone(),
    );
    let st = env.sync(&s);
    assert_eq!(
        st,
        crate::SyncStats {
            served: 1,
            added: 1,
            removed: 0,
            partial: 1,
            marked_for_deletion: 1,
            failed: 2,
            filtered: 1,
        }
    );
    let ids: Vec<ulid::Ulid> = s.blocks().iter().map(|b| b.ulid).collect();
    assert_eq!(ids, vec![good.ulid]);
    assert_eq!(s.stats().blocks_loaded(), 1);
    assert_eq!(s.stats().blocks_failed(), 2);
    assert_eq!(s.stats().block_load_failures(), 2);
    // Known blocks are not read again; bad ones are counted once.
    let gets = s.stats().get_requests();
    let st = env.sync(&s);
    assert_eq!((st.served, st.added, st.failed), (1, 0, 2));
    assert_eq!(s.stats().block_load_failures(), 2);
    assert_eq!(
        s.stats().get_requests() - gets,
        2,
        "only the two bad metas are read again"
    );

    // A fixed meta.json is picked up; a deleted block is dropped.
    env.put(&meta_path(corrupt.ulid), corrupt_meta);
    let st = env.sync(&s);
    assert_eq!((st.served, st.added, st.failed), (2, 1, 1));
    env.rt
        .block_on(env.bucket.delete_block(good.ulid))
        .expect("delete");
    let st = env.sync(&s);
    assert_eq!((st.served, st.added, st.removed), (1, 0, 1));
    assert_eq!(s.stats().block_drops(), 1);
    let got = select(&s, &all(), i64::MIN, i64::MAX).expect("select");
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|x| x.chunks[0].min_t >= BT0 + 6 * H));
    assert_eq!(s.stats().syncs(), 4);
}

#[test]
fn deletion_marks_take_effect_after_the_delay() {
    let env = Env::new();
    let now_s = crate::now_ms() / 1000;
    let mut ids = Vec::new();
    for (i, marked_ago) in [(0i64, 0i64), (1, 2 * 3600)] {
        let meta = env.upload(
            &NewBlock::new(BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H, "test"),
            &many_series(3, BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H, 60_000),
        );
        env.put(
            &format!("{}/{DELETION_MARK_FILE}", meta.ulid),
            format!(
                r#"{{"id":"{}","deletion_time":{},"version":1}}"#,
                meta.ulid,
                now_s - marked_ago
            )
            .into_bytes(),
        );
        ids.push(meta.ulid);
    }
    let s = env.store(BucketStoreOptions {
        ignore_deletion_marks_delay: std::time::Duration::from_secs(3600),
        ..BucketStoreOptions::default()
    });
    let served: Vec<ulid::Ulid> = s.blocks().iter().map(|b| b.ulid).collect();
    assert_eq!(served, vec![ids[0]]);
    let st = env.sync(&s);
    assert_eq!((st.served, st.marked_for_deletion), (1, 1));
    // Without a delay both are gone.
    let s = env.store(BucketStoreOptions::default());
    assert!(s.blocks().is_empty());
}

#[test]
fn store_limits_fail_the_select_before_reading_chunks() {
    let env = Env::new();
    let series = many_series(400, BT0, BT0 + 2 * H, 15_000);
    let meta = env.upload(&NewBlock::new(BT0, BT0 + 2 * H, "test"), &series);
    let chunks_len = meta
        .thanos
        .files
        .iter()
        .find(|f| f.rel_path == CHUNKS_FILE)
        .map(|f| f.size_bytes)
        .expect("chunks size");
    assert!(
        chunks_len > 48 << 10,
        "the chunk pages must lie before the footer read: {chunks_len}"
    );
    let footer_only = |env: &Env| {
        env.store
            .gets_of(CHUNKS_FILE)
            .iter()
            .all(|r| r.start + (16 << 10) >= chunks_len)
    };
    let labels_only = SelectRequest::new(all(), i64::MIN, i64::MAX).labels_only();
    let run = |s: &BucketStore, req: &SelectRequest| {
        s.select(req, &ReadContext::default())
            .and_then(|st| st.collect::<Result<Vec<_>, _>>())
    };

    let s = env.store(BucketStoreOptions {
        max_series: 10,
        ..no_cache()
    });
    for req in [
        SelectRequest::new(all(), i64::MIN, i64::MAX),
        labels_only.clone(),
    ] {
        let e = run(&s, &req).expect_err("over max_series");
        assert_eq!(e.kind(), ErrorKind::ResourceExhausted, "{e}");
        assert!(
            e.message().contains("max_series") && e.message().contains("10"),
            "{e}"
        );
    }
    assert!(
        footer_only(&env),
        "chunk pages were read: {:?}",
        env.store.gets_of(CHUNKS_FILE)
    );
    let few = vec![m(MatchType::Regex, "instance", "host-00000[0-4]")];
    assert_eq!(
        select(&s, &few, i64::MIN, i64::MAX)
            .expect("within the limit")
            .len(),
        5
    );

    env.store.gets.lock().clear();
    let s = env.store(BucketStoreOptions {
        max_chunk_bytes: 1000,
        ..no_cache()
    });
    let e = select(&s, &all(), i64::MIN, i64::MAX).expect_err("over max_chunk_bytes");
    assert_eq!(e.kind(), ErrorKind::ResourceExhausted, "{e}");
    assert!(
        e.message().contains("max_chunk_bytes") && e.message().contains("1000"),
        "{e}"
    );
    assert!(
        footer_only(&env),
        "chunk pages were read: {:?}",
        env.store.gets_of(CHUNKS_FILE)
    );
    // Labels only reads no chunk.
    assert_eq!(run(&s, &labels_only).expect("labels only").len(), 400);
    // The context's limits still apply on top.
    let s = env.store(BucketStoreOptions::default());
    let ctx = ReadContext::default().with_limits(ReadLimits {
        max_series: 3,
        ..ReadLimits::default()
    });
    let e = s
        .select(&SelectRequest::new(all(), i64::MIN, i64::MAX), &ctx)
        .and_then(|st| st.collect::<Result<Vec<_>, _>>())
        .expect_err("over the context's limit");
    assert_eq!(e.kind(), ErrorKind::ResourceExhausted);
}

#[test]
fn external_labels_are_attached_matched_and_filtered() {
    let env = Env::new();
    let up = |pairs: &[(&str, &str)]| {
        let samples: Vec<Sample> = (0..10)
            .map(|k| Sample::new(BT0 + k * 60_000, k as f64))
            .collect();
        BlockSeries::from_samples(Labels::from_pairs(pairs), &samples)
    };
    let series = vec![
        up(&[("__name__", "up"), ("instance", "a")]),
        up(&[("__name__", "up"), ("instance", "b"), ("region", "own")]),
    ];
    for replica in ["a", "b"] {
        let mut spec = NewBlock::new(BT0, BT0 + 2 * H, "test");
        spec.external_labels = Labels::from_pairs(&[("region", "eu"), ("replica", replica)]);
        env.upload(&spec, &series);
    }
    let s = env.store(BucketStoreOptions::default());
    let got = select(&s, &all(), i64::MIN, i64::MAX).expect("select");
    let shown: Vec<String> = got.iter().map(|x| x.labels.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            r#"up{instance="a", region="eu", replica="a"}"#,
            r#"up{instance="a", region="eu", replica="b"}"#,
            r#"up{instance="b", region="eu", replica="a"}"#,
            r#"up{instance="b", region="eu", replica="b"}"#,
        ]
    );
    assert!(
        got.iter()
            .all(|x| x.decode(i64::MIN, i64::MAX).expect("decode").len() == 10)
    );
    let count = |ms: Vec<Matcher>| select(&s, &ms, i64::MIN, i64::MAX).expect("select").len();
    assert_eq!(count(vec![m(MatchType::Equal, "replica", "b")]), 2);
    assert_eq!(
        count(vec![
            m(MatchType::Regex, "replica", "a|b"),
            m(MatchType::Equal, "instance", "b")
        ]),
        2
    );
    // The external label replaces the series' own.
    assert_eq!(count(vec![m(MatchType::Equal, "region", "own")]), 0);
    assert_eq!(count(vec![m(MatchType::Equal, "region", "eu")]), 4);
    assert_eq!(count(vec![m(MatchType::Equal, "replica", "")]), 0);

    assert_eq!(
        s.label_names_all(&[], i64::MIN, i64::MAX).expect("names"),
        vec!["__name__", "instance", "region", "replica"]
    );
    assert!(
        s.label_names_all(&[m(MatchType::Equal, "replica", "c")], i64::MIN, i64::MAX)
            .expect("names")
            .is_empty()
    );
    assert_eq!(
        s.label_values_all("replica", &[], i64::MIN, i64::MAX)
            .expect("values"),
        vec!["a", "b"]
    );
    assert_eq!(
        s.label_values_all("region", &[], i64::MIN, i64::MAX)
            .expect("values"),
        vec!["eu"]
    );
    assert_eq!(
        s.label_values_all(
            "replica",
            &[m(MatchType::Equal, "instance", "b")],
            i64::MIN,
            i64::MAX
        )
        .expect("values"),
        vec!["a", "b"]
    );
    assert_eq!(
        s.label_values_all(
            "instance",
            &[m(MatchType::Equal, "replica", "a")],
            i64::MIN,
            i64::MAX
        )
        .expect("values"),
        vec!["a", "b"]
    );
    let info = s.info();
    assert_eq!(
        info.label_sets,
        vec![
            Labels::from_pairs(&[("region", "eu"), ("replica", "a")]),
            Labels::from_pairs(&[("region", "eu"), ("replica", "b")]),
        ]
    );
    assert_eq!((info.min_time, info.max_time), (BT0, BT0 + 2 * H));

    // Selector relabeling decides which blocks are served.
    let keep_a = RelabelConfig {
        source_labels: vec!["replica".to_string()],
        regex: Regex::new("a").expect("regex"),
        action: RelabelAction::Keep,
        ..RelabelConfig::default()
    };
    let s = BucketStore::new(
        env.bucket.clone(),
        BucketStoreOptions {
            selector_relabel: vec![keep_a],
            ..BucketStoreOptions::default()
        },
        env.rt.handle().clone(),
    );
    let st = env.sync(&s);
    assert_eq!((st.served, st.filtered), (1, 1));
    assert_eq!(s.info().label_sets.len(), 1);
    assert_eq!(count_of(&s, vec![m(MatchType::Equal, "replica", "b")]), 0);
    assert_eq!(count_of(&s, all()), 2);
}

fn count_of(s: &BucketStore, ms: Vec<Matcher>) -> usize {
    select(s, &ms, i64::MIN, i64::MAX).expect("select").len()
}

#[test]
fn time_bounds_filter_blocks_and_samples() {
    let env = Env::new();
    for i in 0..2 {
        let (from, to) = (BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H);
        env.upload(
            &NewBlock::new(from, to, "test"),
            &many_series(4, from, to, 60_000),
        );
    }
    let lo = BT0 + 2 * H + 30 * 60_000;
    let s = env.store(BucketStoreOptions {
        min_time: TimeBound::Absolute(lo),
        ..BucketStoreOptions::default()
    });
    assert_eq!(s.blocks().len(), 1);
    let info = s.info();
    assert_eq!((info.min_time, info.max_time), (lo, BT0 + 4 * H));
    // Chunks overlapping the served range, as Thanos returns them.
    let got = select(&s, &all(), i64::MIN, i64::MAX).expect("select");
    assert_eq!(got.len(), 4);
    for x in &got {
        assert!(x.chunks.iter().all(|c| c.max_t >= lo), "{}", x.labels);
        assert!(!x.decode(lo, i64::MAX).expect("decode").is_empty());
    }
    let hi = BT0 + H;
    let s = env.store(BucketStoreOptions {
        max_time: TimeBound::Absolute(hi),
        ..BucketStoreOptions::default()
    });
    assert_eq!(s.blocks().len(), 1);
    for x in select(&s, &all(), i64::MIN, i64::MAX).expect("select") {
        assert!(x.chunks.iter().all(|c| c.min_t <= hi), "{}", x.labels);
    }
    assert!(
        select(&s, &all(), BT0 + 2 * H, i64::MAX)
            .expect("select")
            .is_empty()
    );
    assert!(
        s.label_names_all(&[], hi + 1, i64::MAX)
            .expect("names")
            .is_empty()
    );
    // A relative bound follows the clock: these blocks are long past.
    let s = env.store(BucketStoreOptions {
        min_time: TimeBound::Relative(-24 * H),
        ..BucketStoreOptions::default()
    });
    assert!(s.blocks().is_empty());
    assert_eq!(TimeBound::Relative(-5).resolve(100), 95);
    assert_eq!(TimeBound::Absolute(7).resolve(100), 7);
}

#[test]
fn bucket_failures_are_unavailable_and_pass() {
    let env = Env::new();
    let meta = env.upload(
        &NewBlock::new(BT0, BT0 + 2 * H, "test"),
        &many_series(20, BT0, BT0 + 2 * H, 60_000),
    );
    let s = env.store(BucketStoreOptions::default());
    let path = format!("{}/{SERIES_FILE}", meta.ulid);
    env.store.failing.lock().insert(path.clone());
    let e = select(&s, &all(), i64::MIN, i64::MAX).expect_err("failing bucket");
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(
        e.message().contains(&meta.ulid.to_string()) && e.message().contains(SERIES_FILE),
        "{e}"
    );
    env.store.failing.lock().clear();
    assert_eq!(
        select(&s, &all(), i64::MIN, i64::MAX)
            .expect("healed")
            .len(),
        20
    );

    // A sync that cannot read a new meta.json keeps the blocks it had.
    let next = env.upload(
        &NewBlock::new(BT0 + 2 * H, BT0 + 4 * H, "test"),
        &many_series(20, BT0 + 2 * H, BT0 + 4 * H, 60_000),
    );
    env.store.failing.lock().insert(meta_path(next.ulid));
    let e = env.rt.block_on(s.sync()).expect_err("failing sync");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(s.blocks().len(), 1);
    assert_eq!(s.stats().sync_failures(), 1);
    env.store.failing.lock().clear();
    assert_eq!(env.sync(&s).served, 2);
}

#[test]
fn blocks_without_dictionary_statistics_or_page_index_read_the_same() {
    let env = Env::new();
    let n = argus_block::writer::ROW_GROUP_MAX_ROWS + 100;
    let series = many_series(n, BT0, BT0 + 20 * 60_000, 60_000);
    let meta = env.upload(&NewBlock::new(BT0, BT0 + 2 * H, "test"), &series);
    // The block rewritten by "another writer".
    let mut meta2: BlockMeta = meta.clone();
    for file in [SERIES_FILE, CHUNKS_FILE] {
        let path = format!("{}/{file}", meta.ulid);
        let data = crate::testutil::rewrite_plain(env.get(&path));
        for f in &mut meta2.thanos.files {
            if f.rel_path == file {
                f.size_bytes = data.len() as u64;
            }
        }
        env.put(&path, data);
    }
    env.put(&meta_path(meta.ulid), meta2.to_json());
    let other = env.store(BucketStoreOptions::default());
    let cases = vec![
        all(),
        vec![m(MatchType::Equal, "instance", "host-008200")],
        vec![
            m(MatchType::Regex, "instance", "host-00000.|host-0082.*"),
            m(MatchType::Equal, "__name__", "metric_3"),
        ],
        vec![
            m(MatchType::Equal, "job", "job2"),
            m(MatchType::NotRegex, "__name__", "metric_[0-5]"),
        ],
    ];
    for ms in cases {
        for (mint, maxt) in [(i64::MIN, i64::MAX), (BT0 + 5 * 60_000, BT0 + 7 * 60_000)] {
            let want = expected(&series, &ms, mint, maxt);
            assert_eq!(
                decoded(
                    &select(&other, &ms, mint, maxt).expect("select"),
                    mint,
                    maxt
                ),
                want,
                "{ms:?}"
            );
        }
    }
    for name in ["instance", "job", "__name__", "none"] {
        let mut want: Vec<String> = series
            .iter()
            .filter_map(|x| x.labels.get(name).map(str::to_string))
            .collect();
        want.sort();
        want.dedup();
        assert_eq!(
            other
                .label_values_all(name, &[], i64::MIN, i64::MAX)
                .expect("values"),
            want,
            "{name}"
        );
    }
    assert_eq!(
        other
            .label_values_all("instance", &[], i64::MIN, i64::MAX)
            .expect("values")
            .len(),
        n
    );
}

#[test]
fn a_sync_reads_only_metas() {
    let env = Env::new();
    for i in 0..4 {
        let (from, to) = (BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H);
        env.upload(
            &NewBlock::new(from, to, "test"),
            &many_series(50, from, to, 60_000),
        );
    }
    env.store.gets.lock().clear();
    let s = env.store(BucketStoreOptions::default());
    assert_eq!(s.blocks().len(), 4);
    let gets = env.store.gets.lock().clone();
    assert_eq!(gets.len(), 4);
    assert!(gets.iter().all(|(p, _)| p.ends_with(META_FILE)), "{gets:?}");
    assert_eq!(s.stats().fetched_bytes(), env.store.served_bytes());
}

#[test]
fn a_slow_bucket_read_stops_when_canceled_or_past_the_deadline() {
    let env = Env::new();
    env.upload(
        &NewBlock::new(BT0, BT0 + 2 * H, "test"),
        &many_series(20, BT0, BT0 + 2 * H, 60_000),
    );
    let s = env.store(BucketStoreOptions::default());
    *env.store.slow.lock() = Some((SERIES_FILE.to_string(), std::time::Duration::from_secs(60)));
    let token = argus_model::cancel::CancelToken::new();
    let ctx = ReadContext::new(None, token.clone());
    let canceler = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        token.cancel();
    });
    let start = std::time::Instant::now();
    let req = SelectRequest::new(all(), i64::MIN, i64::MAX);
    let e = s
        .select(&req, &ctx)
        .and_then(|st| st.collect::<Result<Vec<_>, _>>())
        .expect_err("canceled");
    assert_eq!(e.kind(), ErrorKind::Canceled, "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    canceler.join().expect("canceler");

    let ctx = ReadContext::new(
        std::time::Instant::now().checked_add(std::time::Duration::from_millis(100)),
        argus_model::cancel::CancelToken::new(),
    );
    let e = s
        .label_values(
            "job",
            &argus_model::storage::LabelRequest::new(vec![], i64::MIN, i64::MAX),
            &ctx,
        )
        .expect_err("past the deadline");
    assert_eq!(e.kind(), ErrorKind::DeadlineExceeded, "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    *env.store.slow.lock() = None;
    assert_eq!(count_of(&s, all()), 20);
}

#[test]
fn selects_run_from_blocking_tasks_runtime_workers_and_threads_at_once() {
    let env = Env::new();
    let mut inputs = Vec::new();
    for i in 0..3 {
        let (from, to) = (BT0 + i * 2 * H, BT0 + (i + 1) * 2 * H);
        let series = many_series(100, from, to, 30_000);
        env.upload(&NewBlock::new(from, to, "test"), &series);
        inputs.extend(series);
    }
    let s = env.store(BucketStoreOptions {
        cache_bytes: 64 << 10,
        ..BucketStoreOptions::default()
    });
    let ms = vec![m(MatchType::Regex, "instance", "host-00001.")];
    let want = count_of(&s, ms.clone());
    assert_eq!(want, 10);
    // From a blocking task, as the servers call it, and from a runtime
    // worker itself (it blocks in place).
    let (s1, m1) = (s.clone(), ms.clone());
    let n = env
        .rt
        .block_on(async move { tokio::task::spawn_blocking(move || count_of(&s1, m1)).await })
        .expect("blocking task");
    assert_eq!(n, want);
    let (s2, m2) = (s.clone(), ms.clone());
    let n = env
        .rt
        .block_on(async move { tokio::spawn(async move { count_of(&s2, m2) }).await })
        .expect("worker task");
    assert_eq!(n, want);
    // Threads sharing the cache.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let ms = vec![m(
                        MatchType::Regex,
                        "instance",
                        &format!("host-0000{}.", (t + i) % 10),
                    )];
                    let got = select(&s, &ms, i64::MIN, i64::MAX).expect("select");
                    assert_eq!(got.len(), 10);
                    assert!(got.iter().all(|x| x.chunks.len() >= 3));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert!(s.stats().cache_bytes() <= 64 << 10);
}

#[test]
fn a_block_filter_leaves_blocks_out_of_every_read() {
    let env = Env::new();
    let first = env.upload(
        &NewBlock::new(BT0, BT0 + 2 * H, "test"),
        &many_series(3, BT0, BT0 + 2 * H, 60_000),
    );
    env.upload(
        &NewBlock::new(BT0 + 2 * H, BT0 + 4 * H, "test"),
        &many_series(3, BT0 + 2 * H, BT0 + 4 * H, 60_000),
    );
    let skipped = first.ulid;
    let opts = BucketStoreOptions {
        skip_block: Some(crate::BlockFilter(std::sync::Arc::new(move |m| {
            m.ulid == skipped
        }))),
        ..BucketStoreOptions::default()
    };
    let s = env.store(opts);
    assert_eq!(
        s.blocks().len(),
        2,
        "both are synced; the filter applies to reads"
    );
    let got = s
        .select_all(&[m(MatchType::Regex, "__name__", ".+")], i64::MIN, i64::MAX)
        .expect("select");
    assert!(!got.is_empty());
    for series in &got {
        for c in &series.chunks {
            assert!(
                c.min_t >= BT0 + 2 * H,
                "a chunk of the skipped block: {c:?}"
            );
        }
    }
}
