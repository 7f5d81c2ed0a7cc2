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

use argus_model::labels::Labels;
use argus_model::sample::Sample;
use argus_model::storage::relabel::{DropLabels, RelabeledSource};
use argus_model::storage::{SeriesSource, StorageError, StorageSeries, chunks_from_samples};

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

/// Whether two sample lists are the same, bit for bit (NaNs included).
fn same_samples(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.t == y.t && x.v.to_bits() == y.v.to_bits())
}

/// Deduplicates a sorted source: drops the replica labels, keeps it sorted,
/// and merges each group of series that became equal.
pub struct DedupSource<'a> {
    inner: RelabeledSource<'a, DropLabels>,
    pending: Option<StorageSeries>,
    mint: i64,
    maxt: i64,
    counter: bool,
}

impl<'a> DedupSource<'a> {
    /// `[mint, maxt]` is the selected range (samples outside are not
    /// needed); `func` is the select's function hint.
    pub fn new(
        inner: impl SeriesSource + 'a,
        replica_labels: Vec<String>,
        mint: i64,
        maxt: i64,
        func: Option<&str>,
    ) -> DedupSource<'a> {
        DedupSource {
            inner: RelabeledSource::new(inner, DropLabels::new(replica_labels), None),
            pending: None,
            mint,
            maxt,
            counter: is_counter_function(func),
        }
    }

    fn merge(
        &self,
        labels: Labels,
        group: Vec<StorageSeries>,
    ) -> Result<StorageSeries, StorageError> {
        if group.iter().all(|s| s.chunks.is_empty()) {
            return Ok(StorageSeries {
                labels,
                chunks: Vec::new(),
            });
        }
        let replicas = group
            .iter()
            .map(|s| s.decode(self.mint, self.maxt))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = penalty_merge(&replicas, self.counter);
        // The usual case, replicas without gaps: the answer is one
        // replica's samples, whose chunks serve as they are.
        if let Some(i) = replicas.iter().position(|r| same_samples(r, &merged))
            && let Some(one) = group.into_iter().nth(i)
        {
            return Ok(StorageSeries {
                labels,
                chunks: one.chunks,
            });
        }
        Ok(StorageSeries {
            labels,
            chunks: chunks_from_samples(merged),
        })
    }
}

impl SeriesSource for DedupSource<'_> {
    fn next_series(&mut self) -> Result<Option<StorageSeries>, StorageError> {
        let first = match self.pending.take() {
            Some(s) => s,
            None => match self.inner.next_series()? {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        let mut group = vec![first];
        loop {
            match self.inner.next_series()? {
                Some(s) if s.labels == group[0].labels => group.push(s),
                Some(s) => {
                    self.pending = Some(s);
                    break;
                }
                None => break,
            }
        }
        if group.len() == 1 {
            return Ok(group.pop());
        }
        let labels = group[0].labels.clone();
        self.merge(labels, group).map(Some)
    }
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

    #[test]
    fn equal_series_of_one_replica_pass_through_and_others_merge() {
        let series = |replica: &str, name: &str, ts: Vec<i64>| StorageSeries {
            labels: Labels::from_pairs(&[("__name__", name), ("replica", replica)]),
            chunks: chunks_from_samples(samples(ts, |_| 1.0)),
        };
        let mut input = vec![
            series("a", "up", vec![0, 10_000, 20_000]),
            series("b", "up", vec![1_000, 11_000, 21_000, 31_000]),
            series("a", "only_a", vec![0]),
        ];
        input.sort_by(|x, y| x.labels.cmp(&y.labels));
        let mut d = DedupSource::new(
            VecSource::new(input),
            vec!["replica".into()],
            i64::MIN,
            i64::MAX,
            None,
        );
        let mut got = Vec::new();
        while let Some(s) = d.next_series().expect("dedup") {
            let ts: Vec<i64> = s.samples(i64::MIN, i64::MAX).map(|x| x.t).collect();
            got.push((s.labels.to_string(), ts));
        }
        assert_eq!(
            got,
            vec![
                ("only_a".to_string(), vec![0]),
                ("up".to_string(), vec![0, 10_000, 20_000, 31_000]),
            ]
        );
    }
}
