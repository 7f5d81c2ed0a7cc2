//! Child process of the crash test: appends at full speed with WAL fsync
//! `always` and prints `ack <t>` after every commit returns, until killed.
//!
//! Usage: argus-crash-writer DIR SERIES BLOCK_MS

use std::io::Write;
use std::path::PathBuf;

use argus_model::QueryableExt;
use argus_tests::{crash_series, crash_value};
use argus_tsdb::{Db, DbOptions, FsyncPolicy, WalOptions};

const STEP: i64 = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n), Some(block)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: argus-crash-writer DIR SERIES BLOCK_MS");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let n: usize = n.parse().expect("series count");
    let block: i64 = block.parse().expect("block ms");
    let db = Db::open(
        &dir,
        DbOptions {
            block_duration_ms: block,
            retention_ms: None,
            retention_bytes: None,
            wal: WalOptions {
                segment_size: 256 << 10,
                fsync: FsyncPolicy::Always,
            },
            ..Default::default()
        },
    )
    .expect("open db");
    // Continue after the newest sample of series 0 (all series move together).
    let last = db
        .select_all(
            &[argus_model::Matcher::equal("series", "000")],
            i64::MIN,
            i64::MAX,
        )
        .expect("select")
        .first()
        .and_then(|s| s.decode(i64::MIN, i64::MAX).ok())
        .and_then(|v| v.last().map(|s| s.t))
        .unwrap_or(-STEP);
    let labels: Vec<_> = (0..n).map(crash_series).collect();
    let mut out = std::io::stdout().lock();
    let mut t = last + STEP;
    let mut commits = 0u64;
    loop {
        let mut app = db.appender();
        for (i, l) in labels.iter().enumerate() {
            app.append(l, t, crash_value(i, t)).expect("append");
        }
        app.commit().expect("commit");
        writeln!(out, "ack {t}").expect("stdout");
        out.flush().expect("flush");
        commits += 1;
        if commits.is_multiple_of(50) {
            db.seal_head().expect("seal head");
        }
        t += STEP;
    }
}
