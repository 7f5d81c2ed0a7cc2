//! Test data: counters scraped at a fixed interval, cut into chunks the way
//! Prometheus's head does (120 samples, never across a block boundary).

use argus_model::storage::ChunkData;
use argus_model::{Labels, Sample};

use crate::writer::{BlockSeries, NewBlock};

/// A small deterministic generator (xorshift), so tests need no RNG crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Samples of one counter in `[min_t, max_t)`.
pub fn counter_samples(
    rng: &mut Rng,
    min_t: i64,
    max_t: i64,
    step: i64,
    jitter: i64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut v = rng.below(1000) as f64;
    let rate = 1 + rng.below(50);
    let mut t = min_t + rng.below(step as u64) as i64;
    while t < max_t {
        let j = if jitter > 0 {
            rng.below(2 * jitter as u64 + 1) as i64 - jitter
        } else {
            0
        };
        let ts = (t + j).clamp(min_t, max_t - 1);
        if out.last().is_none_or(|s: &Sample| s.t < ts) {
            out.push(Sample::new(ts, v));
        }
        v += rng.below(2 * rate) as f64;
        t += step;
    }
    out
}

/// Cuts samples into chunks of at most 120 samples.
pub fn chunks_of(samples: &[Sample]) -> Vec<ChunkData> {
    argus_model::storage::chunks_from_samples(samples.iter().copied())
}

/// `n` counters in `[min_t, max_t)`, sorted by labels, with their samples.
pub fn counters(
    n: usize,
    min_t: i64,
    max_t: i64,
    step: i64,
    jitter: i64,
    seed: u64,
) -> (Vec<BlockSeries>, Vec<Vec<Sample>>) {
    let mut rng = Rng::new(seed);
    let mut all: Vec<(Labels, Vec<Sample>)> = (0..n)
        .map(|i| {
            let labels = Labels::from_pairs(&[
                ("__name__", format!("metric_{}_total", i % 7)),
                ("job", format!("job{}", i % 3)),
                ("instance", format!("host-{}:9100", i / 7)),
                ("code", ["200", "404", "500"][i % 3].to_string()),
            ]);
            (
                labels,
                counter_samples(&mut rng, min_t, max_t, step, jitter),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let series = all
        .iter()
        .map(|(l, s)| BlockSeries {
            labels: l.clone(),
            chunks: chunks_of(s),
        })
        .collect();
    let samples = all.into_iter().map(|(_, s)| s).collect();
    (series, samples)
}

pub fn spec(min_time: i64, max_time: i64) -> NewBlock {
    NewBlock {
        external_labels: Labels::from_pairs(&[("replica", "a")]),
        ..NewBlock::new(min_time, max_time, "test")
    }
}
