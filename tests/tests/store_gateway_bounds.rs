//! Store gateway bounds, end to end with a real MinIO: over a bucket of
//! more than 200 blocks, `argus store --cache.size=16MB` starts with
//! memory that does not follow the bucket's size or block count, a query
//! of one series over one block reads a small part of that block through
//! ranged GETs, a query of everything stays within the cache bound, and
//! both answer what `argus server` answers over the imported blocks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use argus_model::strconv::{format_float, parse_float};
use argus_tests::cluster::{Role, metric_sum, start_query, start_store};
use argus_tests::differential::{MINIMAL_CONFIG, free_port};
use argus_tests::e2e::{Daemon, argus_server, wait_for, write_file};
use argus_tests::minio::Minio;

/// Start of the data: a multiple of 2h, so both imports' blocks are whole.
const T0: i64 = 1_699_999_200;
/// Many small blocks: `bounds_small`, 10-minute blocks over 34 hours.
const SMALL_SERIES: usize = 100;
const SMALL_HOURS: i64 = 34;
const SMALL_INTERVAL: i64 = 15;
/// Few big blocks after them: `bounds_big`, four 2-hour blocks.
const BIG_SERIES: usize = 2500;
const BIG_BLOCKS: i64 = 4;
const BIG_INTERVAL: i64 = 8;
const BIG_T0: i64 = T0 + SMALL_HOURS * 3600;
const CACHE: &str = "16MB";
/// `--cache.size` takes Prometheus's base-2 units: 16MB is 16 MiB.
const CACHE_BYTES: u64 = 16 << 20;
const MB: f64 = 1e6;

/// Distinct random values, so XOR chunks barely compress and the bucket
/// is big for the samples written.
fn value_pool() -> Vec<String> {
    let mut rng = argus_tests::datagen::Rng(0x5eed);
    (0..4093)
        .map(|_| format_float((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1e6))
        .collect()
}

/// The pool index of series `s`'s sample at step `i` (splitmix64).
fn value_index(s: usize, i: i64) -> usize {
    let mut z = ((s as u64) << 32 ^ i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % 4093) as usize
}

/// OpenMetrics text of `series` gauges `name{series="sNNNN"}` sampled every
/// `interval` s in `[from, to)`; step `i` is counted from `from`.
fn gauges(pool: &[String], name: &str, series: usize, from: i64, to: i64, interval: i64) -> String {
    let steps = (to - from) / interval;
    let mut out = String::with_capacity(series * steps as usize * 48);
    let _ = writeln!(out, "# TYPE {name} gauge");
    for s in 0..series {
        for i in 0..steps {
            let _ = writeln!(
                out,
                "{name}{{series=\"s{s:04}\"}} {} {}",
                pool[value_index(s, (from - T0) / interval + i)],
                from + i * interval
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

fn import(text: &str, file: &Path, out: &Path, block_duration: &str) {
    write_file(file, text);
    let run = Command::new(argus_tests::argus_bin())
        .args([
            "tools",
            "import",
            "openmetrics",
            "--quiet",
            "--log.level=warn",
        ])
        .arg(format!("--block-duration={block_duration}"))
        .arg(file)
        .arg(out)
        .output()
        .expect("run argus tools import");
    assert!(
        run.status.success(),
        "import of {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::remove_file(file).expect("remove the imported text");
}

/// `(minTime, ulid)` of every block of an import directory, by time.
fn local_blocks(dir: &Path) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = std::fs::read_dir(dir)
        .expect("read the import dir")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("meta.json")).ok()?;
            let meta: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some((
                meta["minTime"].as_i64()?,
                e.file_name().to_string_lossy().into_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// Object sizes of a bucket by key, listed through S3.
fn bucket_objects(minio: &Minio, bucket: &str) -> BTreeMap<String, u64> {
    minio
        .mc(&["ls", "--recursive", "--json", &format!("local/{bucket}")])
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("mc ls line {l:?}: {e}"));
            let key = v["key"].as_str().expect("key of an object").to_string();
            (key, v["size"].as_u64().expect("size of an object"))
        })
        .collect()
}

/// `(VmRSS, RssAnon)` of a process in bytes, from `/proc/<pid>/status`.
fn rss(d: &Daemon) -> (u64, u64) {
    let path = format!("/proc/{}/status", d.pid());
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {path}:\n{status}"))
            * 1024
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// A store over `bucket`, once it serves `blocks` blocks and has synced
/// a few more times (so start-up allocations have happened).
fn store_serving(dir: &Path, minio: &Minio, bucket: &str, blocks: usize) -> Role {
    let objstore = dir.join(format!("{bucket}.yml"));
    write_file(&objstore, &minio.objstore_yaml(bucket));
    let store = start_store(dir, bucket, &objstore, &[&format!("--cache.size={CACHE}")]);
    let synced = wait_for(
        &format!("store {bucket} to serve {blocks} blocks"),
        Duration::from_secs(60),
        || {
            let n = metric_sum(&store.daemon, "argus_store_blocks_loaded");
            let syncs = metric_sum(&store.daemon, "argus_store_syncs_total");
            if n == blocks as f64 {
                Ok(syncs)
            } else {
                Err(format!("{n} blocks loaded after {syncs} syncs"))
            }
        },
    );
    wait_for("two more syncs", Duration::from_secs(30), || {
        let syncs = metric_sum(&store.daemon, "argus_store_syncs_total");
        if syncs >= synced + 2.0 {
            Ok(())
        } else {
            Err(format!("{syncs} syncs"))
        }
    });
    store
}

fn fetched(store: &Role) -> u64 {
    metric_sum(&store.daemon, "argus_store_bucket_fetched_bytes_total") as u64
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / MB)
}

#[test]
fn store_memory_and_reads_do_not_follow_the_bucket() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let data = dir.join("blocks");

    let pool = value_pool();
    let small_end = T0 + SMALL_HOURS * 3600;
    import(
        &gauges(
            &pool,
            "bounds_small",
            SMALL_SERIES,
            T0,
            small_end,
            SMALL_INTERVAL,
        ),
        &dir.join("small.om.txt"),
        &data,
        "10m",
    );
    // One import per 2h block keeps the text in memory small.
    for b in 0..BIG_BLOCKS {
        let from = BIG_T0 + b * 7200;
        import(
            &gauges(
                &pool,
                "bounds_big",
                BIG_SERIES,
                from,
                from + 7200,
                BIG_INTERVAL,
            ),
            &dir.join("big.om.txt"),
            &data,
            "2h",
        );
    }
    let blocks = local_blocks(&data);
    let small_blocks = (SMALL_HOURS * 6) as usize;
    assert_eq!(
        blocks.len(),
        small_blocks + BIG_BLOCKS as usize,
        "blocks written: {blocks:?}"
    );
    println!(
        "generated and imported {} blocks in {:.1?}",
        blocks.len(),
        started.elapsed()
    );

    let minio = Minio::start(dir);
    minio.create_bucket("bounds");
    let upload = Instant::now();
    minio.mc(&[
        "cp",
        "--recursive",
        "--quiet",
        &format!("{}/", data.display()),
        "local/bounds/",
    ]);
    // A bucket of a few small blocks, for the start-up comparison.
    minio.create_bucket("few");
    const FEW: usize = 4;
    for (_, id) in &blocks[..FEW] {
        minio.mc(&[
            "cp",
            "--recursive",
            "--quiet",
            &format!("{}/", data.join(id).display()),
            &format!("local/few/{id}/"),
        ]);
    }
    let objects = bucket_objects(&minio, "bounds");
    let bucket_bytes: u64 = objects.values().sum();
    let block_bytes = |id: &str| -> u64 {
        objects
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{id}/")))
            .map(|(_, v)| v)
            .sum()
    };
    let few_bytes: u64 = bucket_objects(&minio, "few").values().sum();
    assert_eq!(
        objects.len(),
        3 * blocks.len(),
        "every block's three files are in the bucket"
    );
    println!(
        "uploaded {} objects, {} in {:.1?}",
        objects.len(),
        mb(bucket_bytes),
        upload.elapsed()
    );
    // The memory checks below only mean something for a bucket several
    // times the store's own footprint (about 40 MB in a debug build).
    assert!(
        bucket_bytes > 64_000_000,
        "the bucket is only {}",
        mb(bucket_bytes)
    );

    // Start-up memory with few blocks, then with all of them.
    let few = store_serving(dir, &minio, "few", FEW);
    let few_rss = rss(&few.daemon);
    drop(few);
    let store = store_serving(dir, &minio, "bounds", blocks.len());
    let start_rss = rss(&store.daemon);
    let start_fetched = fetched(&store);

    let query = start_query(dir, "query", &[store.endpoint()], &[]);
    wait_for(
        "the querier to know the store",
        Duration::from_secs(30),
        || {
            let body = query.daemon.get("/api/v1/stores").body;
            let v: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
            if v["data"]["store"][0]["name"] == store.endpoint().as_str() {
                Ok(())
            } else {
                Err(body)
            }
        },
    );

    // One series over the middle hour of big block 1 (its 2h range, the
    // range selector and the lookback well inside).
    let (block1_min, block1) = blocks[small_blocks + 1].clone();
    assert_eq!(
        block1_min,
        (BIG_T0 + 7200) * 1000,
        "block 1 of the big ones"
    );
    let series = 42;
    let one = format!("bounds_big{{series=\"s{series:04}\"}}[1h]");
    let at = (BIG_T0 + 7200 + 5400) as f64;
    let before = fetched(&store);
    let got = query.daemon.raw_samples(&one, at);
    let one_fetched = fetched(&store) - before;
    let one_rss = rss(&store.daemon);

    // The answer is the generated data.
    let want: Vec<(i64, f64)> = (0..7200 / BIG_INTERVAL)
        .map(|i| BIG_T0 + 7200 + 1800 + BIG_INTERVAL + i * BIG_INTERVAL)
        .filter(|t| *t <= at as i64)
        .map(|t| {
            let v = &pool[value_index(series, (t - T0) / BIG_INTERVAL)];
            (t * 1000, parse_float(v).expect("a pool value parses"))
        })
        .collect();
    assert_eq!(got.len(), 1, "one series: {:?}", got.keys());
    let samples = got.values().next().cloned().unwrap_or_default();
    assert_eq!(samples.len(), 3600 / BIG_INTERVAL as usize);
    assert_eq!(samples, want, "samples of {one} at {at}");

    // Everything: every sample of every big block goes through the cache.
    let all = "sum(count_over_time(bounds_big[8h]))";
    let all_at = (BIG_T0 + BIG_BLOCKS * 7200) as f64 - 0.001;
    let before = fetched(&store);
    let evictions_before = metric_sum(&store.daemon, "argus_store_cache_evictions_total");
    let total = query.daemon.instant(all, Some(all_at));
    let all_fetched = fetched(&store) - before;
    let evictions =
        metric_sum(&store.daemon, "argus_store_cache_evictions_total") - evictions_before;
    let cache_bytes = metric_sum(&store.daemon, "argus_store_cache_bytes");
    let all_rss = rss(&store.daemon);
    // Again: what a pass over everything leaves behind does not add up.
    let again = query.daemon.instant(all, Some(all_at));
    let again_rss = rss(&store.daemon);
    assert_eq!(again, total, "{all} a second time");
    let samples_total = (BIG_SERIES as i64 * BIG_BLOCKS * 7200 / BIG_INTERVAL) as f64;
    assert_eq!(
        total.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        vec![samples_total],
        "{all}"
    );

    // The same answers from `argus server` over the imported blocks
    // (started after the upload: it adds its WAL to the directory).
    let config = dir.join("server.yml");
    write_file(&config, MINIMAL_CONFIG);
    let port = free_port();
    let mut server = Daemon::spawn(
        "server",
        argus_server(&data, &config, port, &[]),
        port,
        &dir.join("server.log"),
    );
    server.wait_ready("/-/ready", Duration::from_secs(60));
    assert_eq!(server.raw_samples(&one, at), got, "server and store differ");
    assert_eq!(server.instant(all, Some(all_at)), total);
    drop(server);

    let block1_bytes = block_bytes(&block1);
    let pct = |a: u64, b: u64| 100.0 * a as f64 / b as f64;
    println!("store gateway bounds (--cache.size={CACHE}, debug build):");
    println!(
        "  bucket: {} blocks, {} objects, {}; few: {FEW} blocks, {}",
        blocks.len(),
        objects.len(),
        mb(bucket_bytes),
        mb(few_bytes)
    );
    println!("  {:<38} {:>10} {:>10}", "", "VmRSS", "RssAnon");
    for (what, (vm, anon)) in [
        (format!("store over {FEW} blocks, at start"), few_rss),
        (
            format!("store over {} blocks, at start", blocks.len()),
            start_rss,
        ),
        ("after one series over one block".to_string(), one_rss),
        ("after every big block".to_string(), all_rss),
        ("after every big block again".to_string(), again_rss),
    ] {
        println!("  {what:<38} {:>10} {:>10}", mb(vm), mb(anon));
    }
    println!(
        "  fetched at start (meta.json of every block): {} ({:.2}% of the bucket)",
        mb(start_fetched),
        pct(start_fetched, bucket_bytes)
    );
    println!(
        "  fetched for one series over block {block1} ({}): {} bytes = {:.2}% of the bucket, {:.1}% of the block",
        mb(block1_bytes),
        one_fetched,
        pct(one_fetched, bucket_bytes),
        pct(one_fetched, block1_bytes)
    );
    println!(
        "  fetched for every big block: {} = {:.1}% of the bucket; {evictions} evictions, cache {} after",
        mb(all_fetched),
        pct(all_fetched, bucket_bytes),
        mb(cache_bytes as u64)
    );

    // Start-up reads only the metas: nothing like a block's files.
    assert!(
        start_fetched < bucket_bytes / 100,
        "start-up fetched {} of a {} bucket",
        mb(start_fetched),
        mb(bucket_bytes)
    );
    // A store that loaded its blocks would hold the bucket; the debug
    // binary's mapped pages make up most of this one's RSS.
    assert!(
        start_rss.0 < bucket_bytes,
        "store RSS at start {} vs bucket {}",
        mb(start_rss.0),
        mb(bucket_bytes)
    );
    // Fifty times the blocks, hundreds of times the bytes: start-up
    // memory stays that of the few-block store, up to the metas.
    assert!(
        start_rss.1 < few_rss.1 + 8_000_000,
        "anonymous RSS at start: {} over {} blocks vs {} over {FEW}",
        mb(start_rss.1),
        blocks.len(),
        mb(few_rss.1)
    );
    // One series over one block: footers, label pages and one chunk page
    // per window, not the block nor its chunk file.
    assert!(
        one_fetched < bucket_bytes / 20 && one_fetched < block1_bytes / 5,
        "one series over one block fetched {one_fetched} bytes; block {block1_bytes}, bucket {bucket_bytes}"
    );
    assert!(
        one_rss.1 < start_rss.1 + CACHE_BYTES,
        "anonymous RSS after one series: {} from {} at start",
        mb(one_rss.1),
        mb(start_rss.1)
    );
    // The whole data went through a cache of 16 MiB: memory grew by the
    // cache and what one select holds (pages of four blocks at once, the
    // allocator's free lists), not by what was fetched, and a second pass
    // adds nothing.
    assert!(
        all_fetched > bucket_bytes * 8 / 10,
        "a query of every big block fetched only {}",
        mb(all_fetched)
    );
    assert!(
        evictions > 0.0 && cache_bytes <= CACHE_BYTES as f64,
        "cache: {evictions} evictions, {cache_bytes} bytes held"
    );
    assert!(
        all_rss.1 < start_rss.1 + all_fetched * 3 / 4,
        "anonymous RSS after reading {}: {} from {} at start",
        mb(all_fetched),
        mb(all_rss.1),
        mb(start_rss.1)
    );
    assert!(
        again_rss.1 < all_rss.1 + 8_000_000,
        "anonymous RSS after a second pass: {} from {}",
        mb(again_rss.1),
        mb(all_rss.1)
    );
    println!("took {:.1?}", started.elapsed());
}
