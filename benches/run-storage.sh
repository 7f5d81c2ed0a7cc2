#!/usr/bin/env bash
# Builds release binaries and prints the storage benchmark table.
# Needs the reference Prometheus's promtool (scripts/peers prometheus builds
# the version pinned in scripts/peers.versions) and, for the third column,
# victoria-metrics (apt-get install victoria-metrics); missing ones are
# reported as SKIPPED. BENCH_SERIES sets the series count (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p argus -p argus-benches
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/storage-bench"
