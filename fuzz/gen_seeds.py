#!/usr/bin/env python3
"""Regenerates the seed corpus in fuzz/corpus/ (deterministic output).

    python3 fuzz/gen_seeds.py [--conformance DIR]

DIR defaults to ../shared/conformance next to the repository. From it come
PromQL expressions (promqltest/*.test) for `query` and scrape bodies
(openmetrics-parsers/, exposition-samples/) for `exposition`; the rest is
written here by hand. `remote_write` seeds are prompb WriteRequests encoded
below from the .proto field numbers (crates/remote/src/proto.rs).

Each target's directory is emptied and rewritten. Budget: query <= 300
files, every file <= 4 KiB, the whole corpus well under 1 MB.
"""

import argparse
import hashlib
import os
import re
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
MAX_FILE = 4096
QUERY_FROM_CONFORMANCE = 220


def write_dir(target, files):
    """files: list of (name, bytes); names made unique and filesystem-safe."""
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for name, data in files:
        assert len(data) <= MAX_FILE, (target, name, len(data))
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        with open(os.path.join(d, f"{name}-{digest[:8]}"), "wb") as f:
            f.write(data)
    return len(seen)


# ---------------------------------------------------------------- query

DUR_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(text):
    """A promqltest time ("5m", "1h30m", "10", "1.5s") in seconds, or None."""
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * DUR_UNITS[u] for n, u in parts)


def num(x):
    return str(int(x)) if float(x).is_integer() else repr(x)


EVAL_INSTANT = re.compile(r"^\s*eval(?:_fail|_warn|_info|_ordered)?\s+instant\s+at\s+(\S+)\s+(.+?)\s*$")
EVAL_RANGE = re.compile(
    r"^\s*eval(?:_fail|_warn|_info|_ordered)?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+?)\s*$"
)


def conformance_queries(conf):
    """Seeds from every eval line of the promqltest scripts, round-robin
    over the files so each contributes, deduplicated by expression."""
    per_file = []
    d = os.path.join(conf, "promqltest")
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".test"):
            continue
        seeds, seen = [], set()
        stem = fn[: -len(".test")]
        with open(os.path.join(d, fn), encoding="utf-8") as f:
            for line in f:
                m = EVAL_RANGE.match(line)
                if m:
                    t0, t1, step, expr = m.groups()
                    s0, s1 = seconds(t0), seconds(t1)
                    if s0 is None or s1 is None or expr in seen or "{{" in expr:
                        continue
                    seen.add(expr)
                    seeds.append(
                        (stem, f"query_range\n{expr}\nstart={num(s0)}\nend={num(s1)}\nstep={step}\n")
                    )
                    continue
                m = EVAL_INSTANT.match(line)
                if m:
                    t, expr = m.groups()
                    st = seconds(t)
                    if st is None or expr in seen or "{{" in expr:
                        continue
                    seen.add(expr)
                    method = "POST " if len(seeds) % 3 == 2 else ""
                    seeds.append((stem, f"{method}query\n{expr}\ntime={num(st)}\n"))
        per_file.append(seeds)
    out, i = [], 0
    while len(out) < QUERY_FROM_CONFORMANCE and any(per_file):
        for seeds in per_file:
            # Spread the picks over each file instead of taking its head.
            if seeds:
                step = max(1, len(seeds) // 12)
                out.append(seeds.pop(min(i * step % len(seeds), len(seeds) - 1)))
                if len(out) == QUERY_FROM_CONFORMANCE:
                    break
        i += 1
    return [(f"conf-{stem}", text) for stem, text in out]


# Seeds against the fuzz target's own store (see fuzz_targets/query.rs):
# up, http_requests_total, http_requests, request_duration_seconds_*,
# temperature, sparse; one hour from 0s at 15s.
STORE_QUERIES = [
    "query\nup\ntime=300",
    "query\nup{job=\"api\"} == 0\ntime=105",
    "GET query\nsum by (job) (rate(http_requests_total[5m]))\ntime=1800",
    "POST query\nhistogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))\ntime=3600",
    "query\nrate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])\ntime=900",
    "query\nincrease(http_requests_total{code=~\"5..\"}[10m])\ntime=1800",
    "query\ntopk(2, http_requests) by (group)\ntime=600",
    "query\ncount_values(\"value\", up)\ntime=60",
    "query\nlabel_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")\ntime=60",
    "query\nlabel_join(up, \"x\", \"-\", \"job\", \"instance\")\ntime=60",
    "query\nhttp_requests{group=\"canary\"} / on(instance) group_left http_requests{group=\"production\"}\ntime=600",
    "query\nup and on(instance) http_requests_total\ntime=600",
    "query\nup unless up{instance=\"c:9100\"}\ntime=600",
    "query\nabsent(nonexistent{job=\"x\"})\ntime=600",
    "query\nabsent_over_time(sparse[1m])\ntime=3000",
    "query\nmax_over_time(temperature[10m])\ntime=900",
    "query\nquantile_over_time(0.5, temperature[30m])\ntime=1800",
    "query\nstddev_over_time(temperature[30m:1m])\ntime=1800",
    "query\nderiv(http_requests[5m])\ntime=1800",
    "query\npredict_linear(http_requests[10m], 3600)\ntime=1800",
    "query\nresets(http_requests_total[1h])\ntime=3600",
    "query\nchanges(up[1h])\ntime=3600",
    "query\ntimestamp(sparse)\ntime=1000",
    "query\nsparse offset 5m\ntime=1000",
    "query\nsparse @ 300\ntime=3600",
    "query\nup @ end()\ntime=3600",
    "query\nsum(rate(http_requests_total[5m] offset -5m))\ntime=600",
    "query\nrate(http_requests_total[5m:30s])\ntime=1200",
    "query\nmax_over_time(rate(http_requests_total[1m])[10m:])\ntime=1200",
    "query\nsort_desc(sum by (instance) (http_requests))\ntime=1200",
    "query\nclamp(temperature, 19, 21)\ntime=1200",
    "query\nround(temperature, 0.1)\ntime=1200",
    "query\nscalar(sum(up))\ntime=1200",
    "query\nvector(time()) - 1\ntime=1200",
    "query\n1 + 2 * 3 ^ 2 % 5\n",
    "query\n\"a string\"\ntime=0",
    "query\nhistogram_fraction(0, 0.5, request_duration_seconds_bucket)\ntime=1200",
    "query\n{__name__=~\"request_duration_seconds_.*\", le!=\"+Inf\"}\ntime=1200",
    "query\n{__name__=\"up\"}[5m]\ntime=600",
    "query\nup\ntime=2025-01-01T00:00:00Z",
    "query\nup\ntime=600\nlimit=1",
    "query\nsum(http_requests)\ntime=600\ntimeout=500ms",
    "query\nup[\ntime=0",
    "query\nsum(\n",
    "query_range\nup\nstart=0\nend=3600\nstep=60",
    "POST query_range\nrate(http_requests_total[2m])\nstart=0\nend=3600\nstep=15s",
    "query_range\nhistogram_quantile(0.5, rate(request_duration_seconds_bucket[1m]))\nstart=600\nend=1200\nstep=30",
    "query_range\ntemperature\nstart=0\nend=3600\nstep=1m\nlimit=1",
    "query_range\nsum_over_time(sparse[10m])\nstart=0\nend=3600\nstep=5m",
    "query_range\nup\nstart=3600\nend=0\nstep=60",
    "query_range\nup\nstart=0\nend=3600\nstep=0",
    "query_range\nup\nstart=0\nend=1e9\nstep=1ms",
    "series\nup\nstart=0\nend=3600",
    "POST series\n{job=\"api\"}\nmatch[]=temperature\nlimit=2",
    "series\n{__name__=~\".+\"}\n",
    "series\n{job=\"\"}\n",
    "series\n\n",
    "labels\n\n",
    "labels\nhttp_requests_total\nstart=0\nend=100",
    "POST labels\n{__name__=~\"request.*\"}\nlimit=1",
    "label_values\njob\n",
    "label_values\n__name__\nmatch[]=up\nstart=0\nend=3600",
    "label_values\nle\nmatch[]=request_duration_seconds_bucket\nlimit=2",
    "label_values\nU__job\n",
    "label_values\n\udcff\n",
]


def store_queries():
    return [(f"store-{i:02d}", text + ("" if text.endswith("\n") else "\n")) for i, text in enumerate(STORE_QUERIES)]


# ----------------------------------------------------------- exposition

PROM_TEXT_SEEDS = {
    "prom-basic": '# HELP up Whether the target is up.\n# TYPE up gauge\nup{job="api",instance="a:9090"} 1\nup{job="node"} 0 1700000000000\n',
    "prom-histogram": "# TYPE rd histogram\n"
    + 'rd_bucket{le="0.1"} 1\nrd_bucket{le="1"} 3\nrd_bucket{le="+Inf"} 4\nrd_sum 2.5\nrd_count 4\n',
    "prom-summary": '# TYPE s summary\ns{quantile="0.5"} 0.2\ns{quantile="0.99"} NaN\ns_sum 17\ns_count 80\n',
    "prom-escapes": '# HELP e A \\\\ help\\nline\ne{path="C:\\\\x",msg="say \\"hi\\"\\n"} -Inf\n',
    "prom-untyped": "# TYPE raw untyped\nraw 1e-3\nraw{a=\"\"} +Inf\n# some comment\n\nother_metric -0\n",
    "prom-utf8": '{"my.metric", "le"="x"} 1\n{"naïve"} 2\n',
    "prom-spacing": 'a{  b = "c" , d="e",} 1 \t 2\n',
}

OM_SEEDS = {
    "om-basic": '# TYPE up gauge\n# HELP up Up.\nup{job="a"} 1 1.5\n# EOF\n',
    "om-counter-exemplar": '# TYPE c counter\n# UNIT c seconds\nc_total 3 # {trace_id="abc"} 1.0 1700000000.5\nc_created 1700000000\n# EOF\n',
    "om-histogram": "# TYPE h histogram\n"
    + 'h_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2 # {a="b"} 0.7\nh_count 2\nh_sum 1.2\nh_created 1.0\n# EOF\n',
    "om-stateset": '# TYPE s stateset\ns{s="a"} 1\ns{s="b"} 0\n# EOF\n',
    "om-info": '# TYPE i info\ni_info{version="1.0"} 1\n# EOF\n',
    "om-gaugehistogram": '# TYPE g gaugehistogram\ng_bucket{le="+Inf"} 3\ng_gcount 3\ng_gsum 4\n# EOF\n',
    "om-no-eof": "# TYPE up gauge\nup 1\n",
}


def cut_at_lines(text, limit):
    """Splits text into pieces of whole lines, each at most limit bytes."""
    pieces, cur = [], b""
    for line in text.splitlines(keepends=True):
        if len(cur) + len(line) > limit and cur:
            pieces.append(cur)
            cur = b""
        cur += line[:limit]
    if cur:
        pieces.append(cur)
    return pieces


def exposition_seeds(conf):
    out = []
    d = os.path.join(conf, "openmetrics-parsers")
    for case in sorted(os.listdir(d)):
        p = os.path.join(d, case, "metrics")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                data = f.read()
            if len(data) <= MAX_FILE:
                out.append((f"om-conf-{case}", data))
    d = os.path.join(conf, "exposition-samples")
    for fn in sorted(os.listdir(d)):
        with open(os.path.join(d, fn), "rb") as f:
            data = f.read()
        om = ".om." in fn
        # Whole files when small; else a few pieces of whole families.
        budget = MAX_FILE - len(b"# EOF\n")
        pieces = cut_at_lines(data, budget) if len(data) > MAX_FILE else [data]
        for i, piece in enumerate(pieces[:8]):
            if om and not piece.endswith(b"# EOF\n"):
                piece += b"# EOF\n"
            out.append((f"sample-{fn}-{i}", piece))
    for name, text in {**PROM_TEXT_SEEDS, **OM_SEEDS}.items():
        out.append((name, text.encode()))
    return out


# --------------------------------------------------------- remote_write


def varint(n):
    n &= (1 << 64) - 1  # int64 as two's complement, like protobuf
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_len(tag, payload):
    return varint(tag << 3 | 2) + varint(len(payload)) + payload


def field_varint(tag, n):
    return varint(tag << 3 | 0) + varint(n)


def field_double(tag, x):
    return varint(tag << 3 | 1) + struct.pack("<d", x)


def label(name, value):
    return field_len(1, name.encode()) + field_len(2, value.encode())


def sample(value, ts):
    raw = struct.pack("<d", value) if isinstance(value, float) else value
    return varint(1 << 3 | 1) + raw + field_varint(2, ts)


STALE = struct.pack("<Q", 0x7FF0000000000002)


def series(labels, samples, extra=b""):
    body = b"".join(field_len(1, label(n, v)) for n, v in labels)
    body += b"".join(field_len(2, sample(v, t)) for v, t in samples)
    return field_len(1, body + extra)


def metadata(kind, family, help_text="", unit=""):
    body = field_varint(1, kind) + field_len(2, family.encode())
    if help_text:
        body += field_len(4, help_text.encode())
    if unit:
        body += field_len(5, unit.encode())
    return field_len(3, body)


T = 1_700_000_000_000


def remote_write_seeds():
    up = [("__name__", "up"), ("job", "api"), ("instance", "a:9090")]
    seeds = {
        "empty": b"",
        "one-sample": series([("__name__", "up")], [(1.0, 1000)]),
        "two-series": series(up, [(1.0, T), (0.0, T + 15000)])
        + series([("__name__", "http_requests_total"), ("code", "200")], [(10.0, T), (25.0, T + 15000)]),
        "unsorted-labels": series([("job", "a"), ("__name__", "up"), ("az", "1")], [(1.0, T)]),
        "duplicate-label": series([("__name__", "up"), ("job", "a"), ("job", "b")], [(1.0, T)]),
        "empty-label-name": series([("__name__", "up"), ("", "x")], [(1.0, T)]),
        "missing-name": series([("job", "a")], [(1.0, T)]),
        "out-of-order": series(up, [(2.0, T + 1000), (1.0, T), (1.0, T + 1000), (3.0, T + 1000)]),
        "special-values": series(
            [("__name__", "g")],
            [(float("nan"), T), (float("inf"), T + 1), (float("-inf"), T + 2), (STALE, T + 3), (-0.0, T + 4)],
        ),
        "extreme-timestamps": series([("__name__", "t")], [(1.0, -(1 << 63)), (2.0, -1), (3.0, (1 << 63) - 1)]),
        "future": series([("__name__", "f")], [(1.0, 4_000_000_000_000)]),
        "metadata": series(up, [(1.0, T)])
        + metadata(1, "http_requests_total", "Requests.", "")
        + metadata(3, "request_duration_seconds", "Latency.", "seconds"),
        # Exemplar (3) and native histogram (4) fields are skipped on decode.
        "exemplar-histogram": series(
            up,
            [(1.0, T)],
            extra=field_len(3, field_len(1, label("trace_id", "x")) + field_double(2, 1.0))
            + field_len(4, field_varint(1, 5)),
        ),
        "unicode": series([("__name__", "temp.°C"), ("zone", "ü")], [(21.5, T)]),
        "many-samples": series([("__name__", "m")], [(float(i), T + i * 1000) for i in range(64)]),
    }
    return list(seeds.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conformance", default=os.path.join(REPO, "..", "shared", "conformance"))
    args = ap.parse_args()
    conf = os.path.abspath(args.conformance)
    if not os.path.isdir(os.path.join(conf, "promqltest")):
        sys.exit(f"gen_seeds: no conformance data at {conf}")

    queries = conformance_queries(conf) + store_queries()
    n = write_dir("query", [(name, text.encode("utf-8", "surrogateescape")) for name, text in queries])
    print(f"query: {n} seeds")
    n = write_dir("exposition", exposition_seeds(conf))
    print(f"exposition: {n} seeds")
    n = write_dir("remote_write", remote_write_seeds())
    print(f"remote_write: {n} seeds")


if __name__ == "__main__":
    main()
