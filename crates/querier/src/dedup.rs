//! Deduplication of HA replicas: series that differ only in their replica
//! labels are one series, its samples picked with Thanos's penalty rule.
//!
//! The rule follows one replica at a time. After emitting a sample at `t`,
//! the replicas not followed are penalised: their next sample must come
//! later than `t` plus twice the interval just seen, so a replica scraping
//! at a slightly different phase cannot double the sample rate or make the
//! output flap between replicas. When the followed replica has a gap
//! longer than that, another replica's sample comes first and is followed
//! from then on. For counters (`rate`, `increase`, `irate`, `resets`), a
//! replica switched to whose value is below the last one emitted is shifted
//! up by the difference, so the switch is not read as a counter reset.

use argus_model::chunk::XorChunk;
use argus_model::labels::Labels;
use argus_model::sample::Sample;
use argus_model::storage::{
    ChunkData, MergeSeries, SeriesSource, StorageError, StorageSeries, chunks_from_samples,
};

/// The penalty, ms, before an interval has been seen: sampling intervals
/// are typically several seconds long.
pub const INITIAL_PENALTY_MS: i64 = 5000;

/// Functions over counters: a switch must not look like a reset to them.
pub fn is_counter_function(func: Option<&str>) -> bool {
    matches!(func, Some("rate" | "increase" | "irate" | "resets"))
}

/// Merges the samples of replicas of one series (each in time order) with
/// the penalty rule.
///
/// One refinement over Thanos's iterator: at a switch (the followed
/// replica has a gap longer than the others' penalty, or has ended), the
/// new replica is taken from its first sample at least half an interval
/// after the last one emitted rather than after the penalty, so a switch
/// loses no more than the followed replica's own gap.
pub fn penalty_merge(replicas: &[Vec<Sample>], counter: bool) -> Vec<Sample> {
    match replicas {
        [] => return Vec::new(),
        [one] => return one.clone(),
        _ => {}
    }
    let n = replicas.len();
    let mut pos = vec![0usize; n];
    let mut penalty = vec![0i64; n];
    let mut adjust = vec![0f64; n];
    let mut followed: Option<usize> = None;
    let mut last_t: Option<i64> = None;
    let mut interval: Option<i64> = None;
    let mut last_v = 0f64;
    let mut out = Vec::with_capacity(replicas.iter().map(Vec::len).max().unwrap_or(0));
    // The first sample of replica `j` at or after `floor`, from `pos[j]`.
    let first_from = |pos: &[usize], j: usize, floor: i64| -> Option<usize> {
        let r = &replicas[j];
        (pos[j]..r.len()).find(|&k| r[k].t >= floor)
    };
    loop {
        if let Some(lt) = last_t {
            for j in 0..n {
                let r = &replicas[j];
                while pos[j] < r.len() && r[pos[j]].t <= lt {
                    pos[j] += 1;
                }
            }
        }
        // The earliest sample past each replica's penalty; ties go to the
        // replica followed, then to the first one.
        let mut best: Option<(i64, usize, usize)> = None;
        for j in 0..n {
            let floor = last_t.map_or(i64::MIN, |t| t.saturating_add(1).saturating_add(penalty[j]));
            if let Some(k) = first_from(&pos, j, floor) {
                let t = replicas[j][k].t;
                let better = match best {
                    None => true,
                    Some((bt, bj, _)) => {
                        t < bt || (t == bt && followed == Some(j) && followed != Some(bj))
                    }
                };
                if better {
                    best = Some((t, j, k));
                }
            }
        }
        let half = interval.map_or(1, |d| (d / 2).max(1));
        let switch_floor = last_t.map_or(i64::MIN, |t| t.saturating_add(half));
        let picked = match best {
            Some((_, j, k)) if followed.is_none() || followed == Some(j) => Some((j, k)),
            // A switch: from the new replica's first sample half an interval on.
            Some((_, j, k)) => Some((j, first_from(&pos, j, switch_floor).unwrap_or(k))),
            // Every replica left is within its penalty: the followed one
            // ended, so take the earliest of the others half an interval on.
            None => (0..n)
                .filter_map(|j| first_from(&pos, j, switch_floor).map(|k| (replicas[j][k].t, j, k)))
                .min()
                .map(|(_, j, k)| (j, k)),
        };
        let Some((i, k)) = picked else {
            break;
        };
        let t = replicas[i][k].t;
        let gap = last_t.map(|lt| t - lt);
        for (j, p) in penalty.iter_mut().enumerate() {
            *p = if j == i {
                0
            } else {
                gap.map_or(INITIAL_PENALTY_MS, |g| 2 * g)
            };
        }
        let raw = replicas[i][k].v;
        let stale = argus_model::is_stale_nan(raw);
        if counter && !stale && followed.is_some_and(|f| f != i) && raw + adjust[i] < last_v {
            adjust[i] += last_v - (raw + adjust[i]);
        }
        let v = if stale { raw } else { raw + adjust[i] };
        out.push(Sample::new(t, v));
        if !stale {
            last_v = v;
        }
        if followed == Some(i) && gap.is_some() {
            // The scrape interval as the replica followed shows it.
            interval = gap;
        }
        last_t = Some(t);
        followed = Some(i);
        pos[i] = k + 1;
    }
    out
}

/// The chunks of a group of replicas overlapping `[mint, maxt]`, exact
/// copies dropped (one block served by its scraper and the store gateway,
/// or replicas holding the same data), split into chains of chunks that do
/// not overlap: each chain reads as one replica. A store answering for
/// several replicas at once sends their chunks in one series, overlapping,
/// so the split is by time, not by store.
fn chains(group: &[StorageSeries], mint: i64, maxt: i64) -> Vec<Vec<&ChunkData>> {
    let mut all: Vec<&ChunkData> = group
        .iter()
        .flat_map(|s| &s.chunks)
        .filter(|c| c.max_t >= mint && c.min_t <= maxt)
        .collect();
    all.sort_by_key(|c| (c.min_t, c.max_t));
    all.dedup_by(|b, a| a.min_t == b.min_t && a.max_t == b.max_t && a.bytes == b.bytes);
    let mut chains: Vec<Vec<&ChunkData>> = Vec::new();
    for c in all {
        match chains
            .iter_mut()
            .find(|chain| chain.last().is_some_and(|last| last.max_t < c.min_t))
        {
            Some(chain) => chain.push(c),
            None => chains.push(vec![c]),
        }
    }
    chains
}

/// One replica's chunks, decoded only where the merge looks.
struct Cursor<'a> {
    chunks: &'a [&'a ChunkData],
    /// Decoded chunks, by index; those behind `ci` are dropped.
    decoded: Vec<Option<Vec<Sample>>>,
    /// First sample not yet passed: chunk `ci`, sample `si` of it.
    ci: usize,
    si: usize,
    labels: &'a Labels,
}

impl<'a> Cursor<'a> {
    /// Over one chain of [`chains`].
    fn new(chunks: &'a [&'a ChunkData], labels: &'a Labels) -> Cursor<'a> {
        Cursor {
            chunks,
            decoded: (0..chunks.len()).map(|_| None).collect(),
            ci: 0,
            si: 0,
            labels,
        }
    }

    fn chunk(&mut self, i: usize) -> Result<&[Sample], StorageError> {
        if self.decoded[i].is_none() {
            let c = self.chunks[i];
            let samples = XorChunk::new(&c.bytes)
                .and_then(|x| x.decode())
                .map_err(|e| StorageError::corrupt(format!("series {}: {e}", self.labels)))?;
            self.decoded[i] = Some(samples);
        }
        Ok(self.decoded[i].as_deref().unwrap_or_default())
    }

    /// The first sample in `[floor, maxt]` (and at or after the cursor),
    /// with where it is; nothing is passed.
    fn peek(
        &mut self,
        floor: i64,
        maxt: i64,
    ) -> Result<Option<(Sample, usize, usize)>, StorageError> {
        Ok(self.peek_from(floor)?.filter(|(s, ..)| s.t <= maxt))
    }

    fn peek_from(&mut self, floor: i64) -> Result<Option<(Sample, usize, usize)>, StorageError> {
        let mut i = self.ci;
        while i < self.chunks.len() {
            if self.chunks[i].max_t < floor {
                i += 1;
                continue;
            }
            let start = if i == self.ci { self.si } else { 0 };
            let samples = self.chunk(i)?;
            let k = start + samples[start.min(samples.len())..].partition_point(|s| s.t < floor);
            if let Some(s) = samples.get(k) {
                return Ok(Some((*s, i, k)));
            }
            i += 1;
        }
        Ok(None)
    }

    /// Passes every sample at or before `t`.
    fn pass_through(&mut self, t: i64) -> Result<(), StorageError> {
        while self.ci < self.chunks.len() {
            if self.chunks[self.ci].max_t <= t {
                self.decoded[self.ci] = None;
                self.ci += 1;
                self.si = 0;
                continue;
            }
            let si = self.si;
            let samples = self.chunk(self.ci)?;
            self.si = si + samples[si.min(samples.len())..].partition_point(|s| s.t <= t);
            return Ok(());
        }
        Ok(())
    }
}

/// What merging replicas gave: one replica's chunks as they are (no
/// switch happened), or the merged samples.
enum Merged {
    One(usize),
    Samples(Vec<Sample>),
}

/// [`penalty_merge`] over the replicas' chunks, deciding from the samples
/// of the replica followed and looking into the others only where the
/// rule could pick them: a replica's next sample lies past its penalty
/// floor, so while the followed replica's next sample comes before every
/// other floor, the others are not decoded. When no switch happens the
/// followed replica's chunks are the answer, not re-encoded. Gives the
/// same samples as `penalty_merge` on the decoded replicas.
fn lazy_merge(
    chains: &[Vec<&ChunkData>],
    labels: &Labels,
    mint: i64,
    maxt: i64,
    counter: bool,
) -> Result<Merged, StorageError> {
    let mut cursors: Vec<Cursor<'_>> = chains.iter().map(|c| Cursor::new(c, labels)).collect();
    let n = cursors.len();
    let mut penalty = vec![0i64; n];
    let mut adjust = vec![0f64; n];
    let mut followed: Option<usize> = None;
    let mut first_followed: Option<usize> = None;
    let mut last_t: Option<i64> = None;
    let mut interval: Option<i64> = None;
    let mut last_v = 0f64;
    // Filled from the first switch on; before it, the answer is the
    // followed replica's samples.
    let mut out: Option<Vec<Sample>> = None;
    loop {
        let floor =
            |j: usize| last_t.map_or(mint, |t| t.saturating_add(1).saturating_add(penalty[j]));
        // The followed replica's candidate first: the others only matter
        // when their floor is not past it.
        let mut best: Option<(i64, usize, usize, usize)> = None;
        if let Some(f) = followed
            && let Some((s, ci, si)) = cursors[f].peek(floor(f), maxt)?
        {
            best = Some((s.t, f, ci, si));
        }
        for (j, cursor) in cursors.iter_mut().enumerate() {
            if Some(j) == followed {
                continue;
            }
            let fl = floor(j);
            if best.is_some_and(|(bt, ..)| bt < fl) {
                continue;
            }
            if let Some((s, ci, si)) = cursor.peek(fl, maxt)? {
                let better = match best {
                    None => true,
                    Some((bt, bj, ..)) => s.t < bt || (s.t == bt && followed != Some(bj) && j < bj),
                };
                if better {
                    best = Some((s.t, j, ci, si));
                }
            }
        }
        let half = interval.map_or(1, |d| (d / 2).max(1));
        let switch_floor = last_t.map_or(mint, |t| t.saturating_add(half));
        let picked = match best {
            Some((_, j, ci, si)) if followed.is_none() || followed == Some(j) => Some((j, ci, si)),
            Some((_, j, ci, si)) => Some(match cursors[j].peek(switch_floor, maxt)? {
                Some((_, ci2, si2)) => (j, ci2, si2),
                None => (j, ci, si),
            }),
            None => {
                let mut earliest: Option<(i64, usize, usize, usize)> = None;
                for (j, c) in cursors.iter_mut().enumerate() {
                    if let Some((s, ci, si)) = c.peek(switch_floor, maxt)?
                        && earliest.is_none_or(|(et, ..)| s.t < et)
                    {
                        earliest = Some((s.t, j, ci, si));
                    }
                }
                earliest.map(|(_, j, ci, si)| (j, ci, si))
            }
        };
        let Some((i, ci, si)) = picked else {
            break;
        };
        let sample = cursors[i].chunk(ci)?[si];
        let t = sample.t;
        if followed.is_some() && followed != Some(i) && out.is_none() {
            // The first switch: what was emitted so far is the followed
            // replica's samples from the start to the last one.
            let f = first_followed.unwrap_or(i);
            let so_far = decode_chain(&chains[f], labels, mint, last_t.unwrap_or(mint))?;
            out = Some(so_far);
        }
        let gap = last_t.map(|lt| t - lt);
        for (j, p) in penalty.iter_mut().enumerate() {
            *p = if j == i {
                0
            } else {
                gap.map_or(INITIAL_PENALTY_MS, |g| 2 * g)
            };
        }
        let raw = sample.v;
        let stale = argus_model::is_stale_nan(raw);
        if counter && !stale && followed.is_some_and(|f| f != i) && raw + adjust[i] < last_v {
            adjust[i] += last_v - (raw + adjust[i]);
        }
        let v = if stale { raw } else { raw + adjust[i] };
        if let Some(o) = out.as_mut() {
            o.push(Sample::new(t, v));
        }
        if !stale {
            last_v = v;
        }
        if followed == Some(i) && gap.is_some() {
            interval = gap;
        }
        if first_followed.is_none() {
            first_followed = Some(i);
        }
        last_t = Some(t);
        followed = Some(i);
        for c in cursors.iter_mut() {
            c.pass_through(t)?;
        }
    }
    Ok(match (out, first_followed) {
        (Some(samples), _) => Merged::Samples(samples),
        (None, Some(f)) => Merged::One(f),
        (None, None) => Merged::Samples(Vec::new()),
    })
}

/// The samples of one chain in `[mint, maxt]`.
fn decode_chain(
    chain: &[&ChunkData],
    labels: &Labels,
    mint: i64,
    maxt: i64,
) -> Result<Vec<Sample>, StorageError> {
    StorageSeries {
        labels: labels.clone(),
        chunks: chain.iter().map(|&c| c.clone()).collect(),
    }
    .decode(mint, maxt)
}

/// Deduplicates stores' answers already without their replica labels
/// (see `FanoutView::select`): the series each store gives for one label
/// set are replicas of one series, merged with the penalty rule.
pub struct DedupSource<'a> {
    inner: MergeSeries<'a>,
    mint: i64,
    maxt: i64,
    counter: bool,
}

impl<'a> DedupSource<'a> {
    /// `[mint, maxt]` is the selected range (samples outside are not
    /// needed); `func` is the select's function hint.
    pub fn new(
        inner: MergeSeries<'a>,
        mint: i64,
        maxt: i64,
        func: Option<&str>,
    ) -> DedupSource<'a> {
        DedupSource {
            inner,
            mint,
            maxt,
            counter: is_counter_function(func),
        }
    }

    fn merge(&self, group: Vec<StorageSeries>) -> Result<StorageSeries, StorageError> {
        let labels = group[0].labels.clone();
        let chains = chains(&group, self.mint, self.maxt);
        let chunks = match chains.len() {
            0 => Vec::new(),
            // One replica's data, or replicas holding the same chunks.
            1 => chains[0].iter().map(|&c| c.clone()).collect(),
            _ => match lazy_merge(&chains, &labels, self.mint, self.maxt, self.counter)? {
                Merged::One(i) => chains[i].iter().map(|&c| c.clone()).collect(),
                Merged::Samples(s) => chunks_from_samples(s),
            },
        };
        Ok(StorageSeries { labels, chunks })
    }
}

impl SeriesSource for DedupSource<'_> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        let Some(mut group) = self.inner.next_group()? else {
            return Ok(None);
        };
        if group.len() == 1 && !overlapping(&group[0].chunks) {
            return Ok(group.pop());
        }
        self.merge(group).map(Some)
    }
}

/// Whether some of `chunks` (ordered by `min_t`) overlap in time.
fn overlapping(chunks: &[ChunkData]) -> bool {
    chunks.windows(2).any(|w| w[1].min_t <= w[0].max_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_model::storage::VecSource;

    fn samples(ts: impl IntoIterator<Item = i64>, v: impl Fn(i64) -> f64) -> Vec<Sample> {
        ts.into_iter().map(|t| Sample::new(t, v(t))).collect()
    }

    fn times(s: &[Sample]) -> Vec<i64> {
        s.iter().map(|s| s.t).collect()
    }

    #[test]
    fn replicas_with_shifted_phase_do_not_double_the_rate() {
        let a = samples((0..10).map(|i| i * 10_000), |_| 1.0);
        let b = samples((0..10).map(|i| i * 10_000 + 3_000), |_| 2.0);
        let out = penalty_merge(&[a.clone(), b], false);
        assert_eq!(times(&out), times(&a));
        assert!(
            out.iter().all(|s| s.v == 1.0),
            "followed one replica: {out:?}"
        );
    }

    #[test]
    fn a_gap_switches_replicas_once_and_stays() {
        // a stops at 40s and comes back at 100s; b runs throughout.
        let mut a = samples((0..5).map(|i| i * 10_000), |_| 1.0);
        a.extend(samples((10..15).map(|i| i * 10_000), |_| 1.0));
        let b = samples((0..15).map(|i| i * 10_000 + 2_000), |_| 2.0);
        let out = penalty_merge(&[a, b], false);
        // No two samples closer than the scrape interval, no gap over it.
        for w in out.windows(2) {
            let d = w[1].t - w[0].t;
            assert!((8_000..=12_000).contains(&d), "step {d} in {out:?}");
        }
        let switches = out.windows(2).filter(|w| w[0].v != w[1].v).count();
        assert_eq!(switches, 1, "no flapping back when a returns: {out:?}");
        assert_eq!(out.last().map(|s| s.v), Some(2.0));
    }

    #[test]
    fn counters_do_not_reset_at_a_switch() {
        // b counter is 15 behind a; a dies at 50s.
        let a = samples((0..6).map(|i| i * 10_000), |t| 100.0 + t as f64 / 1000.0);
        let b = samples((0..12).map(|i| i * 10_000 + 1_000), |t| {
            85.0 + t as f64 / 1000.0
        });
        let out = penalty_merge(&[a.clone(), b.clone()], true);
        assert!(
            out.windows(2).all(|w| w[1].v >= w[0].v),
            "monotonic after the switch: {out:?}"
        );
        // Without the counter rule the switch shows as a drop.
        let raw = penalty_merge(&[a, b], false);
        assert!(raw.windows(2).any(|w| w[1].v < w[0].v));
    }

    /// A replica as a scraper would hold it: samples every `step` from
    /// `phase` with jitter, missing `gaps`, cut into chunks of `per_chunk`,
    /// some chunks given twice (a block served by its scraper and the
    /// store gateway).
    fn replica_series(rnd: &mut impl FnMut(u64) -> u64, name: &str) -> StorageSeries {
        let step = 1000 + 1000 * rnd(10) as i64;
        let phase = rnd(step as u64) as i64;
        let mut samples = Vec::new();
        let mut t = phase;
        let mut v = rnd(100) as f64;
        while t < 200_000 {
            let gap = rnd(20) == 0;
            if !gap {
                v += rnd(5) as f64;
                if rnd(50) == 0 {
                    v = 0.0;
                }
                let value = if rnd(60) == 0 {
                    argus_model::stale_nan()
                } else {
                    v
                };
                samples.push(Sample::new(t, value));
            }
            t += step + rnd(200) as i64 - 100;
            if gap {
                t += step * rnd(10) as i64;
            }
        }
        let per_chunk = 1 + rnd(40) as usize;
        let mut chunks = Vec::new();
        for part in samples.chunks(per_chunk) {
            let c = chunks_from_samples(part.to_vec());
            if rnd(4) == 0 {
                chunks.extend(c.clone());
            }
            chunks.extend(c);
        }
        chunks.sort_by_key(|c| c.min_t);
        StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name)]),
            chunks,
        }
    }

    fn samples_of(
        m: Merged,
        chains: &[Vec<&ChunkData>],
        labels: &Labels,
        mint: i64,
        maxt: i64,
    ) -> Vec<Sample> {
        match m {
            Merged::One(i) => decode_chain(&chains[i], labels, mint, maxt).expect("decode"),
            Merged::Samples(s) => s,
        }
    }

    fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
        s.iter().map(|x| (x.t, x.v.to_bits())).collect()
    }

    /// The lazy merge over chunks gives exactly what the penalty rule
    /// gives over every decoded sample.
    #[test]
    fn lazy_merge_equals_the_penalty_rule_on_decoded_samples() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n.max(1)
        };
        for case in 0..400 {
            let n = 1 + rnd(3) as usize;
            let group: Vec<StorageSeries> = (0..n).map(|_| replica_series(&mut rnd, "x")).collect();
            let mint = rnd(50_000) as i64 - 10_000;
            let maxt = mint + rnd(250_000) as i64;
            let counter = rnd(2) == 0;
            let chains = chains(&group, mint, maxt);
            let labels = &group[0].labels;
            let decoded: Vec<Vec<Sample>> = chains
                .iter()
                .map(|c| decode_chain(c, labels, mint, maxt).expect("decode"))
                .collect();
            let want = penalty_merge(&decoded, counter);
            let got = lazy_merge(&chains, labels, mint, maxt, counter).expect("lazy merge");
            let got = samples_of(got, &chains, labels, mint, maxt);
            assert_eq!(
                bits(&got),
                bits(&want),
                "case {case}: {n} replicas, [{mint}, {maxt}], counter {counter}"
            );
        }
    }

    fn series(name: &str, ts: Vec<i64>, v: f64) -> StorageSeries {
        StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name)]),
            chunks: chunks_from_samples(samples(ts, |_| v)),
        }
    }

    fn dedup_all(sources: Vec<Vec<StorageSeries>>) -> Vec<StorageSeries> {
        let sources: Vec<Box<dyn SeriesSource>> = sources
            .into_iter()
            .map(|s| Box::new(VecSource::new(s)) as Box<dyn SeriesSource>)
            .collect();
        let merged = MergeSeries::new(sources, argus_model::storage::OnEqualLabels::ConcatChunks);
        let mut d = DedupSource::new(merged, i64::MIN, i64::MAX, None);
        let mut got = Vec::new();
        while let Some(s) = d.next_series().expect("dedup") {
            got.push(s);
        }
        got
    }

    fn label_times(got: &[StorageSeries]) -> Vec<(String, Vec<i64>)> {
        got.iter()
            .map(|s| {
                let ts = s.samples(i64::MIN, i64::MAX).map(|x| x.t).collect();
                (s.labels.to_string(), ts)
            })
            .collect()
    }

    #[test]
    fn series_of_one_replica_pass_through_and_replicas_merge() {
        // Two stores (replicas a and b), answering without the replica label.
        let a = vec![
            series("only_a", vec![0], 1.0),
            series("up", vec![0, 10_000, 20_000], 1.0),
        ];
        let b = vec![series("up", vec![1_000, 11_000, 21_000, 31_000], 2.0)];
        assert_eq!(
            label_times(&dedup_all(vec![a, b])),
            vec![
                ("only_a".to_string(), vec![0]),
                ("up".to_string(), vec![0, 10_000, 20_000, 31_000]),
            ]
        );
    }

    #[test]
    fn replicas_in_one_series_are_split_by_time_and_merged() {
        // One store answering for both replicas: their chunks overlap in
        // one series.
        let mut up = series("up", vec![0, 10_000, 20_000], 1.0);
        up.chunks
            .extend(series("up", vec![1_000, 11_000, 21_000, 31_000], 2.0).chunks);
        up.chunks.sort_by_key(|c| c.min_t);
        assert_eq!(
            label_times(&dedup_all(vec![vec![up]])),
            vec![("up".to_string(), vec![0, 10_000, 20_000, 31_000])]
        );
    }

    #[test]
    fn replicas_holding_the_same_chunks_give_them_as_they_are() {
        let a = series("up", (0..100).map(|i| i * 15_000).collect(), 3.0);
        let b = a.clone();
        let c = a.clone();
        let got = dedup_all(vec![vec![a.clone()], vec![b], vec![c]]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].chunks.len(), a.chunks.len());
        for (x, y) in got[0].chunks.iter().zip(&a.chunks) {
            assert!(std::sync::Arc::ptr_eq(&x.bytes, &y.bytes), "not re-encoded");
        }
    }
}
