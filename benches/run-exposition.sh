#!/usr/bin/env bash
# Builds the exposition benchmark in release and prints its table: MB/s,
# samples/s, ns/sample and heap allocations per sample for the realistic
# scrape bodies in exposition-samples/ of the conformance corpus
# ($ARGUS_CONFORMANCE_DIR, default ../shared/conformance beside the repository)
# (alltypes.237mfs.prom.txt as Prometheus text, the *.om.txt bodies as
# OpenMetrics), parsed in the scraper's mode (Validation::Syntax). "hit" is
# the series-cache-hit path (no Labels built), "miss" builds Labels for every
# sample. BENCH_SECONDS (default 2) bounds each measurement; body file names
# given as arguments replace the default set.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p argus-benches --bin exposition-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/exposition-bench" "$@"
