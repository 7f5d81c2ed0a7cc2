#!/usr/bin/env bash
# Builds release binaries and prints the query benchmark table: the same
# 10,640 series × 6h at 15s in Argus, the reference Prometheus 3.x and
# VictoriaMetrics 1.79, median latency of each query (instant and 6h range at
# 60s), and the Argus/Prometheus ratio. Prometheus and its promtool come from
# the peer cache at the version pinned in scripts/peers.versions (built by
# scripts/peers prometheus, which skips the build when present); the third
# column needs victoria-metrics (apt-get install victoria-metrics). Errors of
# a system are shown in its cells instead of aborting. BENCH_INSTANCES scales the data (default 40 → 10,640 series),
# BENCH_RUNS sets the measured runs per query (default 5, after 1 warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p argus -p argus-benches
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/query-bench"
