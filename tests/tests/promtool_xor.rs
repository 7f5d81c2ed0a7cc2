//! XOR chunk compatibility with the real Prometheus 3.x.
//!
//! Writes an OpenMetrics file, has the reference `promtool tsdb
//! create-blocks-from openmetrics` turn it into TSDB blocks, reads them with
//! `argus_block::prometheus::read_block` and checks both directions of the
//! codec: every promtool chunk decodes with `XorChunk` to exactly the samples
//! we wrote (bit-exact values), and `XorAppender` re-encodes those samples
//! to exactly promtool's bytes.
//!
//! `promtool` is `$PROMTOOL` when set, else the reference Prometheus's from
//! the peer cache (`scripts/peers prometheus` builds it); without it the test
//! fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use argus_block::prometheus::{PromSeries, read_block};
use argus_model::chunk::ENCODING_XOR;
use argus_model::chunk::SAMPLES_PER_CHUNK;
use argus_model::strconv::{format_float, parse_decimal_float, parse_float};
use argus_model::{Labels, Sample, XorAppender, XorChunk};

/// The NaN Go's `strconv.ParseFloat("NaN")` returns (`math.NaN()`), which is
/// what promtool stores for a `NaN` in the text.
const GO_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// First timestamp (ms): a quarter hour into a 2h block range, so the data
/// spans three of promtool's 2h blocks.
const START_MS: i64 = 1_700_000_123_456;
const SPAN_MS: i64 = 4 * 3_600_000 + 30 * 60_000;

/// splitmix64: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One series as written to the file: its labels, and per sample the
/// timestamp and value text plus what Prometheus makes of them.
struct WrittenSeries {
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    text: Vec<(String, String)>,
    samples: Vec<Sample>,
}

impl WrittenSeries {
    fn new(name: &'static str, labels: &[(&'static str, &'static str)]) -> WrittenSeries {
        WrittenSeries {
            name,
            labels: labels.to_vec(),
            text: Vec::new(),
            samples: Vec::new(),
        }
    }

    fn labels(&self) -> Labels {
        let mut pairs = self.labels.clone();
        pairs.push(("__name__", self.name));
        Labels::from_pairs(&pairs)
    }

    /// Appends a sample at `t_ms`, written as float seconds (with a
    /// millisecond fraction unless whole), and records what promtool reads:
    /// the OpenMetrics parser takes `int64(seconds * 1000)`.
    fn push(&mut self, t_ms: i64, v: f64) {
        assert!(t_ms > 0);
        let ts = if t_ms % 1000 == 0 {
            format!("{}", t_ms / 1000)
        } else {
            format!("{}.{:03}", t_ms / 1000, t_ms % 1000)
        };
        let vs = format_float(v);
        let secs = parse_decimal_float(ts.as_bytes()).expect("timestamp text parses");
        let t = (secs * 1000.0) as i64;
        let parsed = parse_value_like_go(&vs);
        if let Some(last) = self.samples.last() {
            assert!(t > last.t, "generator produced non-increasing timestamps");
        }
        self.text.push((ts, vs));
        self.samples.push(Sample::new(t, parsed));
    }
}

fn parse_value_like_go(s: &str) -> f64 {
    let v = parse_float(s).expect("value text parses");
    if v.is_nan() {
        return f64::from_bits(GO_NAN_BITS);
    }
    assert_eq!(format_float(v), s, "value text does not round-trip");
    v
}

/// The next scrape time: mostly a regular 15s (delta-of-delta 0), with
/// jitter and gaps that exercise each delta-of-delta bucket (14, 17, 20 and
/// 64 bits).
fn next_time(rng: &mut Rng, t: i64, interval: i64) -> i64 {
    let step = match rng.below(200) {
        0 => 600_000 + rng.below(100_000) as i64, // 64-bit bucket
        1 => 300_000 + rng.below(1000) as i64,    // 20-bit bucket
        2 => 70_000 + rng.below(1000) as i64,     // 17-bit bucket
        3..=30 => interval - 500 + rng.below(1001) as i64, // 14-bit bucket
        31..=35 => interval + rng.below(3) as i64,
        _ => interval, // delta-of-delta 0
    };
    t + step
}

fn build_series() -> Vec<WrittenSeries> {
    let mut rng = Rng(0x5eed_a7905);
    let end = START_MS + SPAN_MS;
    let mut out = Vec::new();

    // A counter with irregular increments, repeats and one reset.
    let mut s = WrittenSeries::new(
        "argus_requests_total",
        &[("code", "200"), ("method", "get")],
    );
    let (mut t, mut v) = (START_MS, 0.0f64);
    let mut reset_done = false;
    while t < end {
        s.push(t, v);
        v += match rng.below(10) {
            0..=2 => 0.0,
            3..=7 => rng.below(100) as f64,
            8 => 0.5,
            _ => rng.below(1 << 20) as f64,
        };
        if !reset_done && t > START_MS + 2 * 3_600_000 {
            v = 3.0;
            reset_done = true;
        }
        t = next_time(&mut rng, t, 15_000);
    }
    out.push(s);

    // A sparser counter of the same family with odd millisecond offsets.
    let mut s = WrittenSeries::new(
        "argus_requests_total",
        &[("code", "500"), ("method", "post")],
    );
    let (mut t, mut v) = (START_MS + 7_777, 1.0f64);
    while t < end {
        s.push(t, v);
        v += rng.below(3) as f64 * 0.25;
        t = next_time(&mut rng, t, 30_000) + 1;
    }
    out.push(s);

    // A gauge with negative, fractional, tiny, huge and special values, and
    // label values that need escaping.
    let mut s = WrittenSeries::new(
        "argus_temperature_celsius",
        &[("sensor", "rack \"7\" \\ slot\nB"), ("site", "zürich")],
    );
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::from_bits(1), // smallest subnormal
        1e300,
        -1e-300,
        0.1,
        -273.15,
        9_007_199_254_740_993.0,
        123_456_789.123_456_79,
    ];
    let mut t = START_MS + 1;
    let mut v = 20.0f64;
    while t < end {
        let value = match rng.below(20) {
            0 => specials[rng.below(specials.len() as u64) as usize],
            1 | 2 => v, // repeated value
            3 => -(rng.unit() * 1e12),
            4 => rng.unit() * 1e-6,
            5 => (rng.below(1 << 40) as f64) * 1e200,
            _ => {
                v += (rng.unit() - 0.5) * 3.0;
                v
            }
        };
        s.push(t, value);
        t = next_time(&mut rng, t, 15_000);
    }
    out.push(s);

    // A gauge that is mostly NaN and infinities, so value XORs repeat.
    let mut s = WrittenSeries::new("argus_ratio", &[("kind", "special")]);
    let mut t = START_MS + 500;
    while t < end {
        let value = match rng.below(4) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => rng.unit(),
        };
        s.push(t, value);
        t = next_time(&mut rng, t, 10_000);
    }
    out.push(s);

    // A series with three samples only: one short chunk.
    let mut s = WrittenSeries::new("argus_short", &[]);
    s.push(START_MS + 3_600_000, 42.0);
    s.push(START_MS + 3_600_000 + 1, -42.5);
    s.push(START_MS + 3_600_000 + 90_000, 1e-3);
    out.push(s);

    // A single sample: the smallest chunk (header, timestamp, raw value).
    let mut s = WrittenSeries::new("argus_single", &[("only", "one")]);
    s.push(START_MS + 5_400_000 + 250, 7.0);
    out.push(s);

    out
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_openmetrics(series: &[WrittenSeries], path: &Path) {
    let mut out = String::new();
    let mut family = "";
    for s in series {
        let fam = s.name.strip_suffix("_total").unwrap_or(s.name);
        if fam != family {
            family = fam;
            let kind = if s.name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            writeln!(out, "# HELP {fam} Test series for the XOR codec.").expect("fmt");
            writeln!(out, "# TYPE {fam} {kind}").expect("fmt");
        }
        let mut labels = String::new();
        if !s.labels.is_empty() {
            let inner: Vec<String> = s
                .labels
                .iter()
                .map(|(n, v)| format!("{n}=\"{}\"", escape_label_value(v)))
                .collect();
            labels = format!("{{{}}}", inner.join(","));
        }
        for (ts, v) in &s.text {
            writeln!(out, "{}{labels} {v} {ts}", s.name).expect("fmt");
        }
    }
    out.push_str("# EOF\n");
    std::fs::write(path, out).expect("write OpenMetrics file");
}

fn promtool() -> PathBuf {
    std::env::var_os("PROMTOOL").map_or_else(argus_tests::peers::promtool_bin, PathBuf::from)
}

fn run_promtool(input: &Path, out_dir: &Path) {
    let bin = promtool();
    let output = Command::new(&bin)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(input)
        .arg(out_dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): this test needs Prometheus's promtool; \
                 run `scripts/peers prometheus` (or set PROMTOOL to its path)",
                bin.display()
            )
        });
    assert!(
        output.status.success(),
        "promtool failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn describe(samples: &[Sample]) -> String {
    samples
        .iter()
        .map(|s| format!("({}, {:#018x} = {:?})", s.t, s.v.to_bits(), s.v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn encode(samples: &[Sample]) -> Vec<u8> {
    let mut a = XorAppender::new();
    for s in samples {
        a.append(s.t, s.v);
    }
    a.into_bytes()
}

fn byte_mismatch(
    what: &str,
    series: &Labels,
    samples: &[Sample],
    want: &[u8],
    got: &[u8],
) -> String {
    let first = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    // Up to Prometheus 2.54 (before PR #14854), bstream.writeByte left an
    // empty byte after a byte-aligned whole byte, which stayed when the
    // chunk ended there; 3.x, and our encoder, write none.
    let note = if want.len() == got.len() + 1 && want.starts_with(got) && want.ends_with(&[0]) {
        "\n  promtool's chunk is ours plus one trailing zero byte: this promtool is \
         older than Prometheus 2.55, whose bstream leaves an empty byte after a \
         byte-aligned whole byte at the end of a chunk"
    } else if got.len() == want.len() + 1 && got.starts_with(want) && got.ends_with(&[0]) {
        "\n  our chunk is promtool's plus one trailing zero byte: the encoder writes the \
         empty byte Prometheus 2.x left after a byte-aligned whole byte"
    } else {
        ""
    };
    format!(
        "{what}: series {series}, {} samples [{}]\n  promtool bytes ({}): {}\n  argus bytes    ({}): {}\n  first difference at byte {first}{note}",
        samples.len(),
        describe(samples),
        want.len(),
        hex(want),
        got.len(),
        hex(got),
    )
}

#[test]
fn promtool_blocks_match_our_xor_codec() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("input.om");
    let out_dir = tmp.path().join("blocks");
    std::fs::create_dir(&out_dir).expect("mkdir");

    let written = build_series();
    write_openmetrics(&written, &input);
    let expected: BTreeMap<Labels, &[Sample]> = written
        .iter()
        .map(|s| (s.labels(), s.samples.as_slice()))
        .collect();
    assert_eq!(expected.len(), written.len(), "series labels must differ");
    let total_written: usize = written.iter().map(|s| s.samples.len()).sum();

    run_promtool(&input, &out_dir);

    let mut blocks = Vec::new();
    for entry in std::fs::read_dir(&out_dir).expect("list output") {
        let path = entry.expect("dir entry").path();
        if path.join("meta.json").is_file() {
            let (meta, series) = read_block(&path)
                .unwrap_or_else(|e| panic!("reading block {}: {e}", path.display()));
            blocks.push((meta, series));
        }
    }
    blocks.sort_by_key(|(m, _)| m.min_time);
    assert!(
        blocks.len() >= 2,
        "expected data across several 2h blocks, got {} block(s)",
        blocks.len()
    );

    let mut seen: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    // (samples in the chunk, message): the smallest failing case is shown first.
    let mut failures: Vec<(usize, String)> = Vec::new();
    let mut total_chunks = 0usize;
    let mut series_blocks = 0usize;
    let mut full_chunks = 0usize;
    for (meta, series) in &blocks {
        assert!(meta.min_time < meta.max_time, "block {}", meta.ulid);
        assert_eq!(
            meta.num_series as usize,
            series.len(),
            "block {}",
            meta.ulid
        );
        let chunks: usize = series.iter().map(|s| s.chunks.len()).sum();
        assert_eq!(meta.num_chunks as usize, chunks, "block {}", meta.ulid);
        let mut block_samples = 0usize;
        for PromSeries { labels, chunks } in series {
            let want_all = expected
                .get(labels)
                .unwrap_or_else(|| panic!("block {} has unexpected series {labels}", meta.ulid));
            assert!(!chunks.is_empty(), "series {labels} has no chunks");
            series_blocks += 1;
            for (i, chunk) in chunks.iter().enumerate() {
                total_chunks += 1;
                let ctx = format!(
                    "block {} series {labels} chunk {i} [{}, {}]",
                    meta.ulid, chunk.min_t, chunk.max_t
                );
                assert_eq!(chunk.encoding, ENCODING_XOR, "{ctx}: not an XOR chunk");
                assert!(
                    meta.min_time <= chunk.min_t && chunk.max_t < meta.max_time,
                    "{ctx}: outside the block range [{}, {})",
                    meta.min_time,
                    meta.max_time
                );
                let lo = want_all.partition_point(|s| s.t < chunk.min_t);
                let hi = want_all.partition_point(|s| s.t <= chunk.max_t);
                let want = &want_all[lo..hi];

                // Prometheus bytes -> our decoder.
                let decoded = match XorChunk::new(&chunk.data).and_then(|c| c.decode()) {
                    Ok(d) => d,
                    Err(e) => {
                        failures.push((
                            0,
                            format!("{ctx}: decoding failed: {e}; bytes {}", hex(&chunk.data)),
                        ));
                        continue;
                    }
                };
                if decoded != want {
                    failures.push((
                        want.len(),
                        format!(
                            "{ctx}: decoded samples differ\n  written: [{}]\n  decoded: [{}]\n  bytes: {}",
                            describe(want),
                            describe(&decoded),
                            hex(&chunk.data)
                        ),
                    ));
                }
                if decoded.first().map(|s| s.t) != Some(chunk.min_t)
                    || decoded.last().map(|s| s.t) != Some(chunk.max_t)
                {
                    failures.push((
                        decoded.len(),
                        format!("{ctx}: decoded samples do not span the chunk's index range"),
                    ));
                }

                // Our encoder -> Prometheus bytes, from what we wrote and from
                // what we decoded.
                let ours = encode(want);
                if ours != chunk.data {
                    failures.push((
                        want.len(),
                        byte_mismatch(
                            &format!("{ctx}: encoding the written samples"),
                            labels,
                            want,
                            &chunk.data,
                            &ours,
                        ),
                    ));
                }
                // (When decoding matched, this is the check above again.)
                let again = encode(&decoded);
                if again != chunk.data && decoded != want {
                    failures.push((
                        decoded.len(),
                        byte_mismatch(
                            &format!("{ctx}: re-encoding the decoded samples"),
                            labels,
                            &decoded,
                            &chunk.data,
                            &again,
                        ),
                    ));
                }

                if decoded.len() >= SAMPLES_PER_CHUNK {
                    full_chunks += 1;
                }
                block_samples += decoded.len();
                seen.entry(labels.clone()).or_default().extend(decoded);
            }
        }
        assert_eq!(
            meta.num_samples as usize, block_samples,
            "block {} sample count",
            meta.ulid
        );
    }

    failures.sort_by_key(|(n, _)| *n);
    assert!(
        failures.is_empty(),
        "{} XOR compatibility failure(s) in {total_chunks} chunks; smallest first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );

    // Every written sample appears exactly once, in order, across blocks.
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "series sets differ"
    );
    for (labels, want) in &expected {
        let got = &seen[labels];
        assert_eq!(got.len(), want.len(), "series {labels}: sample count");
        if let Some(i) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
            panic!(
                "series {labels}: sample {i} is {:?}, wrote {:?}",
                got[i], want[i]
            );
        }
    }
    let total_read: usize = seen.values().map(Vec::len).sum();
    assert_eq!(total_read, total_written);

    assert!(total_chunks > 0);
    assert!(
        total_chunks > series_blocks && full_chunks > 0,
        "expected promtool to cut chunks of ~120 samples: {total_chunks} chunks for {series_blocks} series-blocks, {full_chunks} with >= 120 samples"
    );
    println!(
        "{} blocks, {series_blocks} series-blocks, {total_chunks} chunks ({full_chunks} with >= 120 samples), {total_read} samples: all bit-identical",
        blocks.len()
    );
}
