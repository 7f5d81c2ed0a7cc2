//! Exposition parser benchmark: MB/s, samples/s and heap allocations per
//! sample for the realistic scrape bodies in `exposition-samples/` of the
//! conformance corpus (`$ARGUS_CONFORMANCE_DIR`, default
//! `../shared/conformance` beside the repository; `BENCH_SAMPLES_DIR`
//! overrides the folder itself) (Prometheus text
//! `alltypes.237mfs.prom.txt` and the OpenMetrics bodies), parsed in the
//! scraper's mode (`Validation::Syntax`).
//!
//! Two paths per body:
//! - `hit`: the scraper's series-cache-hit path — walk the entries and touch
//!   each sample's series bytes, value and timestamp, no `Labels` built;
//! - `miss`: additionally build `Labels` for every sample (a scrape where
//!   every series is new).
//!
//! Allocations come from a counting global allocator around one parse of the
//! body after a warm-up parse. Each measurement runs for `BENCH_SECONDS`
//! (default 2) or at most `BENCH_MAX_ITERS` (default 200,000) parses.
//! Run: `benches/run-exposition.sh`, or pass body file names as arguments.

// A global allocator can only be written with `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_exposition::{Entry, Format, Parser, Validation};

/// Counts allocations (not frees) so a measured region reports how many
/// times it went to the heap.
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const DEFAULT_BODIES: [&str; 3] = [
    "alltypes.237mfs.prom.txt",
    "alltypes.5mfs.om.txt",
    "1histogram.om.txt",
];

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Hit,
    Miss,
}

fn samples_dir() -> Result<PathBuf, String> {
    match std::env::var_os("BENCH_SAMPLES_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => argus_testdata::corpus_subdir("exposition-samples"),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn format_of(name: &str) -> Format {
    if name.contains(".om.") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// One parse of `body`; returns the number of samples.
fn parse_once(body: &[u8], format: Format, path: Path) -> Result<usize, String> {
    let mut parser = Parser::new(body, format).with_validation(Validation::Syntax);
    let mut samples = 0;
    while let Some(entry) = parser.next_entry().map_err(|e| e.to_string())? {
        match entry {
            Entry::Sample(s) => {
                black_box(s.series);
                black_box(s.value);
                black_box(s.timestamp_ms);
                if path == Path::Miss {
                    black_box(s.labels().map_err(|e| e.to_string())?);
                }
                samples += 1;
            }
            other => {
                black_box(other);
            }
        }
    }
    Ok(samples)
}

struct Figures {
    mb_per_s: f64,
    samples_per_s: f64,
    ns_per_sample: f64,
    allocs_per_body: u64,
    allocs_per_sample: f64,
}

fn measure(body: &[u8], format: Format, path: Path) -> Result<(usize, Figures), String> {
    let budget = Duration::from_secs(env_number("BENCH_SECONDS", 2));
    let max_iters = env_number("BENCH_MAX_ITERS", 200_000).max(1);
    let samples = parse_once(body, format, path)?;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    parse_once(body, format, path)?;
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;

    let start = Instant::now();
    let mut iters = 0u64;
    while iters < max_iters && start.elapsed() < budget {
        parse_once(black_box(body), format, path)?;
        iters += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let total_samples = samples as f64 * iters as f64;
    Ok((
        samples,
        Figures {
            mb_per_s: body.len() as f64 * iters as f64 / secs / 1e6,
            samples_per_s: total_samples / secs,
            ns_per_sample: secs * 1e9 / total_samples.max(1.0),
            allocs_per_body: allocs,
            allocs_per_sample: allocs as f64 / samples.max(1) as f64,
        },
    ))
}

fn main() {
    let dir = match samples_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("exposition-bench: {e} (or set BENCH_SAMPLES_DIR)");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<String> = if args.is_empty() {
        DEFAULT_BODIES.iter().map(|s| s.to_string()).collect()
    } else {
        args
    };
    println!(
        "| body | format | bytes | samples | path | MB/s | samples/s | ns/sample | allocs/body | allocs/sample |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for name in &names {
        let file = dir.join(name);
        let body = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                println!("| {name} | SKIPPED: {}: {e} |", file.display());
                continue;
            }
        };
        let format = format_of(name);
        let format_name = match format {
            Format::OpenMetrics => "openmetrics",
            Format::PrometheusText => "prometheus text",
        };
        for (path, path_name) in [(Path::Hit, "hit"), (Path::Miss, "miss (Labels)")] {
            match measure(&body, format, path) {
                Ok((samples, f)) => println!(
                    "| {name} | {format_name} | {} | {samples} | {path_name} | {:.0} | {:.2}M | {:.1} | {} | {:.3} |",
                    body.len(),
                    f.mb_per_s,
                    f.samples_per_s / 1e6,
                    f.ns_per_sample,
                    f.allocs_per_body,
                    f.allocs_per_sample,
                ),
                Err(e) => {
                    failed = true;
                    println!("| {name} | {format_name} | FAILED: {e} |");
                }
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
