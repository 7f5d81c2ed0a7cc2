#!/usr/bin/env bash
# Scrape benchmark: Argus vs the reference Prometheus 3.x scraping the same
# simulated targets on loopback at 15s, one system at a time.
#
# Builds release binaries, starts `scrape-targets` (BENCH_TARGETS targets ×
# BENCH_SERIES series of node-exporter-like Prometheus text on 127.0.0.1,
# consecutive ports from BENCH_BASE_PORT, values changing every 15s), then
# for each system: starts it on 127.0.0.1:BENCH_SERVER_PORT with a fresh
# storage dir and a prometheus.yml listing every target, waits
# BENCH_WARMUP_SECONDS, and over the next BENCH_MEASURE_SECONDS measures
#   - CPU seconds: utime+stime delta from /proc/<pid>/stat,
#   - samples: delta of the server's own head-appends counter
#     (prometheus_tsdb_head_samples_appended_total /
#     argus_tsdb_head_samples_appended_total),
#   - RSS (VmRSS) and active series (*_tsdb_head_series) at the end.
# Prints a table with CPU seconds per 1M samples and RSS bytes per active
# series, and the argus/prometheus ratios (the target is ≤ 0.5).
#
# Environment (defaults): BENCH_TARGETS (1000), BENCH_SERIES (1000),
# BENCH_WARMUP_SECONDS (60), BENCH_MEASURE_SECONDS (180),
# BENCH_BASE_PORT (21000), BENCH_SERVER_PORT (19190),
# BENCH_SYSTEMS ("prometheus argus"), BENCH_SKIP_BUILD (0),
# PROMETHEUS (the reference Prometheus from the peer cache,
# $ARGUS_PEERS_DIR or ~/.cache/argus-peers, at the version pinned in
# scripts/peers.versions; scripts/peers prometheus builds it).
# Small smoke run: BENCH_TARGETS=50 BENCH_SERIES=200 BENCH_WARMUP_SECONDS=20 \
#   BENCH_MEASURE_SECONDS=45 benches/run-scrape.sh
set -euo pipefail
cd "$(dirname "$0")/.."

targets=${BENCH_TARGETS:-1000}
series=${BENCH_SERIES:-1000}
warmup=${BENCH_WARMUP_SECONDS:-60}
measure=${BENCH_MEASURE_SECONDS:-180}
base_port=${BENCH_BASE_PORT:-21000}
server_port=${BENCH_SERVER_PORT:-19190}
systems=${BENCH_SYSTEMS:-"prometheus argus"}
prometheus_version=$(sed -n 's/^prometheus=//p' scripts/peers.versions)
prometheus_bin=${PROMETHEUS:-${ARGUS_PEERS_DIR:-$HOME/.cache/argus-peers}/prometheus-$prometheus_version/bin/prometheus}
target_dir="${CARGO_TARGET_DIR:-target}"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p argus -p argus-benches
fi

work=$(mktemp -d /tmp/argus-scrape-bench.XXXXXX)
started=()
cleanup() {
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

clk_tck=$(getconf CLK_TCK)
server="http://127.0.0.1:$server_port"

# utime+stime of a process in clock ticks (fields after the ")" of comm).
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_bytes() {
    awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# Sum of a metric (with or without the _total suffix, any labels) on the
# server's /metrics; empty when the server does not expose it.
server_metric() {
    curl -sf --max-time 10 "$server/metrics" 2>/dev/null | awk -v n="$1" '
        $1 == n || $1 == n "_total" || index($1, n "{") == 1 || index($1, n "_total{") == 1 {
            s += $NF; found = 1
        }
        END { if (found) printf "%.0f\n", s }'
}

# Polls a URL until it answers, at most $2 seconds.
wait_for() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if curl -sf --max-time 2 -o /dev/null "$1"; then
            return 0
        fi
        sleep 1
    done
    return 1
}

# Stops a process: TERM, then KILL after 30s.
stop() {
    kill "$1" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.5
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

lifetime=$((2 * (warmup + measure) + 600))
"$target_dir/release/scrape-targets" --targets "$targets" --series "$series" \
    --base-port "$base_port" --write-config "$work/prometheus.yml" \
    --duration-seconds "$lifetime" >"$work/targets.log" 2>&1 &
targets_pid=$!
started+=("$targets_pid")
if ! wait_for "http://127.0.0.1:$((base_port + targets - 1))/metrics" 120; then
    echo "scrape-targets did not come up:" >&2
    cat "$work/targets.log" >&2
    exit 1
fi
cat "$work/targets.log"

declare -A result_samples result_cpu result_rss result_series result_note result_helper_cpu

# run_system NAME METRIC_PREFIX COMMAND...
run_system() {
    local name=$1 prefix=$2
    shift 2
    local dir="$work/$name-data"
    mkdir -p "$dir"
    echo "== $name: warm-up ${warmup}s, measure ${measure}s"
    "$@" --config.file="$work/prometheus.yml" --storage.tsdb.path="$dir" \
        --web.listen-address="127.0.0.1:$server_port" >"$work/$name.log" 2>&1 &
    local pid=$!
    started+=("$pid")
    if ! wait_for "$server/-/ready" 120 && ! wait_for "$server/metrics" 5; then
        result_note[$name]="did not become ready ($(tail -n 3 "$work/$name.log" | tr '\n' ' '))"
        stop "$pid"
        return
    fi
    sleep "$warmup"
    if ! kill -0 "$pid" 2>/dev/null; then
        result_note[$name]="exited during warm-up ($(tail -n 3 "$work/$name.log" | tr '\n' ' '))"
        return
    fi
    local s0 c0 h0 s1 c1 h1
    s0=$(server_metric "${prefix}_tsdb_head_samples_appended")
    c0=$(cpu_ticks "$pid")
    h0=$(cpu_ticks "$targets_pid")
    sleep "$measure"
    if ! kill -0 "$pid" 2>/dev/null; then
        result_note[$name]="exited while measured ($(tail -n 3 "$work/$name.log" | tr '\n' ' '))"
        return
    fi
    s1=$(server_metric "${prefix}_tsdb_head_samples_appended")
    c1=$(cpu_ticks "$pid")
    h1=$(cpu_ticks "$targets_pid")
    result_rss[$name]=$(rss_bytes "$pid")
    result_series[$name]=$(server_metric "${prefix}_tsdb_head_series")
    result_cpu[$name]=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
    result_helper_cpu[$name]=$(awk -v a="$h0" -v b="$h1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
    if [ -z "$s0" ] || [ -z "$s1" ]; then
        result_note[$name]="no ${prefix}_tsdb_head_samples_appended metric"
        result_samples[$name]=0
    else
        result_samples[$name]=$((s1 - s0))
    fi
    if [ "${result_samples[$name]}" -le 0 ] && [ -z "${result_note[$name]:-}" ]; then
        result_note[$name]="$name scraped 0 samples"
    fi
    stop "$pid"
}

for system in $systems; do
    case $system in
    prometheus)
        if [ -x "$prometheus_bin" ]; then
            run_system prometheus prometheus "$prometheus_bin"
        else
            result_note[prometheus]="SKIPPED: $prometheus_bin not found (run scripts/peers prometheus)"
        fi
        ;;
    argus) run_system argus argus "$target_dir/release/argus" server ;;
    *) echo "unknown system $system" >&2 ;;
    esac
done

# Per-system figures; "-" where a figure cannot be computed.
per_million() {
    awk -v c="${result_cpu[$1]:-}" -v s="${result_samples[$1]:-0}" \
        'BEGIN { if (c == "" || s <= 0) print "-"; else printf "%.3f", c / (s / 1e6) }'
}
per_series() {
    awk -v r="${result_rss[$1]:-}" -v n="${result_series[$1]:-0}" \
        'BEGIN { if (r == "" || n <= 0) print "-"; else printf "%.0f", r / n }'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}

expected=$(awk -v t="$targets" -v s="$series" -v m="$measure" 'BEGIN { printf "%.0f", t * (s + 5) * m / 15 }')
echo
echo "Scrape benchmark: $targets targets × $series series at 15s on loopback," \
    "warm-up ${warmup}s, measured ${measure}s (≈ $expected samples expected per window)"
echo
echo "| system | samples in window | CPU s | CPU s / 1M samples | active series | RSS MiB | RSS bytes / series | targets helper CPU s | note |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for system in $systems; do
    rss_mib=$(awk -v r="${result_rss[$system]:-}" 'BEGIN { if (r == "") print "-"; else printf "%.1f", r / 1048576 }')
    echo "| $system | ${result_samples[$system]:--} | ${result_cpu[$system]:--} | $(per_million "$system") |" \
        "${result_series[$system]:--} | $rss_mib | $(per_series "$system") | ${result_helper_cpu[$system]:--} |" \
        "${result_note[$system]:-} |"
done
cpu_ratio=$(ratio "$(per_million argus)" "$(per_million prometheus)")
mem_ratio=$(ratio "$(per_series argus)" "$(per_series prometheus)")
echo
echo "| ratio argus/prometheus | value | target |"
echo "|---|---:|---:|"
echo "| CPU per sample | $cpu_ratio | ≤ 0.5 |"
echo "| RSS per active series | $mem_ratio | ≤ 0.5 |"
