#!/usr/bin/env bash
# Builds release binaries and prints the cluster benchmark tables: (a) argus
# query deduplicating 3 HA replicas (argus scraper ×3 over copies of the
# same imported blocks) against one argus server over those blocks; (b)
# argus store + argus query against thanos store + thanos query, each over a
# MinIO bucket of the same data (Argus blocks; promtool's Prometheus
# blocks). Thanos, MinIO, mc and promtool come from the peer cache
# (scripts/peers thanos minio mc prometheus). BENCH_INSTANCES scales the data
# (default 40 → 10,640 series × 6h at 15s, as run-query.sh), BENCH_RUNS sets the measured runs
# per query (default 5, after 1 warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p argus -p argus-benches
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/cluster-bench"
