//! Classic-histogram functions over `le` buckets.

use crate::annotations::Annotations;

use super::gofmt;

/// One bucket of a classic histogram: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// Relative difference between neighbouring bucket counts below which
/// `histogram_quantile` treats them as equal (floating-point noise), as
/// upstream's `smallDeltaTolerance`.
pub const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The warning for a quantile outside `[0, 1]` (or NaN), as upstream's
/// `NewInvalidQuantileWarning` prints it without a position.
pub fn invalid_quantile_warning(q: f64) -> String {
    format!(
        "PromQL warning: quantile value should be between 0 and 1, got {}",
        gofmt::format_g(q)
    )
}

/// The info for buckets that had to be made monotonic, as upstream's
/// `NewHistogramQuantileForcedMonotonicityInfo` prints it without a
/// position (and without the details upstream appends once the query text
/// is known). `metric_name` empty leaves out the "for metric name" suffix.
pub fn forced_monotonicity_info(metric_name: &str) -> String {
    let mut s = String::from(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity \
         (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
    );
    if !metric_name.is_empty() {
        s.push_str(" for metric name ");
        s.push_str(&gofmt::quote(metric_name));
    }
    s
}

/// Details of a monotonicity fix, as upstream's
/// `ensureMonotonicAndIgnoreSmallDeltas` reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonotonicityFix {
    /// Some count was lowered than its predecessor and had to be raised.
    pub forced_monotonic: bool,
    /// Some numerically insignificant difference was smoothed away.
    pub fixed_precision: bool,
    /// Lowest / highest upper bound whose count was raised (+Inf / -Inf
    /// when none was).
    pub min_bucket: f64,
    pub max_bucket: f64,
    /// Largest amount a count was raised by.
    pub max_diff: f64,
}

fn sort_buckets(buckets: &mut [Bucket]) {
    // Upper bounds are not expected to be NaN; treat incomparable as equal.
    // A stable sort keeps same-bound buckets in input order, which does not
    // matter as they are summed.
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Merges neighbouring buckets with the same upper bound (input sorted).
fn coalesce_buckets(buckets: &mut Vec<Bucket>) {
    buckets.dedup_by(|next, kept| {
        if next.upper_bound == kept.upper_bound {
            kept.count += next.count;
            true
        } else {
            false
        }
    });
}

/// Ignores insignificant differences between neighbouring counts and then
/// removes every decrease (each count becomes at least the last kept
/// count), as upstream's `ensureMonotonicAndIgnoreSmallDeltas`.
pub fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> MonotonicityFix {
    let mut fix = MonotonicityFix {
        forced_monotonic: false,
        fixed_precision: false,
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        max_diff: 0.0,
    };
    let Some(first) = buckets.first() else {
        return fix;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if super::stats::almost_equal(prev, curr, tolerance) {
            // Float noise in either direction: keep the previous count and
            // keep comparing against it.
            b.count = prev;
            fix.fixed_precision = true;
            continue;
        }
        if curr < prev {
            b.count = prev;
            fix.forced_monotonic = true;
            fix.min_bucket = fix.min_bucket.min(b.upper_bound);
            fix.max_bucket = fix.max_bucket.max(b.upper_bound);
            let diff = prev - curr;
            if diff > fix.max_diff {
                fix.max_diff = diff;
            }
            continue;
        }
        prev = curr;
    }
    fix
}

/// Upstream's `BucketQuantile`: the quantile value and the monotonicity
/// fix it applied (`None` when it returned before fixing anything). The
/// buckets are sorted and coalesced in place.
pub fn bucket_quantile_raw(q: f64, buckets: &mut Vec<Bucket>) -> (f64, Option<MonotonicityFix>) {
    if q.is_nan() {
        return (f64::NAN, None);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return (f64::NAN, None),
    }
    coalesce_buckets(buckets);
    let fix = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);

    let n = buckets.len();
    if n < 2 {
        return (f64::NAN, Some(fix));
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, Some(fix));
    }
    let mut rank = q * observations;
    // First bucket among all but the +Inf one whose count reaches the rank,
    // else the +Inf bucket (binary search, as upstream).
    let b = buckets[..n - 1].partition_point(|bk| bk.count < rank);

    let value = if b == n - 1 {
        buckets[n - 2].upper_bound
    } else if b == 0 && buckets[0].upper_bound <= 0.0 {
        buckets[0].upper_bound
    } else {
        let bucket_end = buckets[b].upper_bound;
        let mut bucket_start = 0.0;
        let mut count = buckets[b].count;
        if b > 0 {
            bucket_start = buckets[b - 1].upper_bound;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    };
    (value, Some(fix))
}

/// `histogram_quantile(q, ...)` over the buckets of one histogram (any
/// order; sorted here). `metric_name` names the series for annotations
/// (e.g. bucket counts fixed for monotonicity, missing +Inf bucket).
///
/// Returns `None` only for an empty bucket list (upstream emits no sample
/// then); otherwise the value as upstream's `BucketQuantile`, including NaN
/// for a missing +Inf bucket, fewer than two buckets or no observations.
/// Adds the invalid-quantile warning for q outside [0, 1] or NaN, and the
/// forced-monotonicity info when counts had to be raised. Upstream names
/// the metric in the latter only with delayed name removal enabled; pass
/// an empty `metric_name` to get its default text.
pub fn bucket_quantile(
    q: f64,
    buckets: &mut Vec<Bucket>,
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        annotations.warn(invalid_quantile_warning(q));
    }
    if buckets.is_empty() {
        return None;
    }
    let (value, fix) = bucket_quantile_raw(q, buckets);
    if fix.is_some_and(|f| f.forced_monotonic) {
        annotations.info(forced_monotonicity_info(metric_name));
    }
    Some(value)
}

/// `histogram_fraction(lower, upper, ...)` over the buckets of one
/// histogram.
///
/// As upstream's `BucketFraction`: NaN without a +Inf bucket, without
/// observations or for a NaN bound; 0 when `lower >= upper`; otherwise the
/// share of observations between the bounds, interpolating linearly inside
/// a bucket (the lowest bucket starts at 0 if its upper bound is positive,
/// at -Inf otherwise; nothing is interpolated in infinite-width buckets).
/// Returns `None` only for an empty bucket list. Upstream adds no
/// annotations here.
pub fn bucket_fraction(
    lower: f64,
    upper: f64,
    buckets: &mut Vec<Bucket>,
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    let _ = (metric_name, annotations);
    if buckets.is_empty() {
        return None;
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return Some(f64::NAN),
    }
    coalesce_buckets(buckets);

    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return Some(f64::NAN);
    }
    if lower >= upper {
        return Some(0.0);
    }

    let mut rank = 0.0;
    let mut lower_rank = 0.0;
    let mut upper_rank = 0.0;
    let mut lower_set = false;
    let mut upper_set = false;
    let mut lower_bound = if buckets[0].upper_bound <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };

    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper_bound;
        }
        let upper_bound = b.upper_bound;
        let interpolate = |v: f64| -> f64 {
            if lower_bound == f64::NEG_INFINITY {
                // No interpolation inside a bucket reaching down to -Inf.
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };

        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    Some((upper_rank - lower_rank) / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bk(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    const INF: f64 = f64::INFINITY;

    fn q(qv: f64, pairs: &[(f64, f64)]) -> (Option<f64>, Annotations) {
        let mut a = Annotations::default();
        let mut b = bk(pairs);
        let v = bucket_quantile(qv, &mut b, "", &mut a);
        (v, a)
    }

    #[test]
    fn quantile_interpolates_within_bucket() {
        // Unsorted input is fine.
        let pairs = [(INF, 100.0), (0.1, 50.0), (0.5, 90.0), (1.0, 100.0)];
        assert_eq!(q(0.5, &pairs).0, Some(0.1));
        // rank 70 lies in (0.1, 0.5]: 0.1 + 0.4 * 20/40.
        let v = q(0.7, &pairs).0.expect("value");
        assert!((v - 0.3).abs() < 1e-12);
        // Lowest bucket interpolates from 0.
        assert_eq!(q(0.25, &pairs).0, Some(0.05));
    }

    #[test]
    fn quantile_in_inf_bucket_gives_second_highest_bound() {
        let pairs = [(1.0, 10.0), (2.0, 20.0), (INF, 30.0)];
        assert_eq!(q(0.99, &pairs).0, Some(2.0));
    }

    #[test]
    fn quantile_lowest_bound_not_positive() {
        let pairs = [(-1.0, 10.0), (0.0, 20.0), (INF, 30.0)];
        assert_eq!(q(0.1, &pairs).0, Some(-1.0));
        // In the second bucket interpolation starts at the lower bound.
        assert_eq!(q(0.5, &pairs).0, Some(-0.5));
    }

    #[test]
    fn quantile_special_cases() {
        assert!(q(0.5, &[(1.0, 1.0), (2.0, 2.0)]).0.is_some_and(f64::is_nan));
        assert!(q(0.5, &[(INF, 2.0)]).0.is_some_and(f64::is_nan));
        assert!(q(0.5, &[(1.0, 0.0), (INF, 0.0)]).0.is_some_and(f64::is_nan));
        // Same-bound buckets coalesce: a lone +Inf (twice) is still one bucket.
        assert!(q(0.5, &[(INF, 1.0), (INF, 1.0)]).0.is_some_and(f64::is_nan));
        assert_eq!(q(0.5, &[]).0, None);

        let (v, a) = q(-0.5, &[(1.0, 1.0), (INF, 2.0)]);
        assert_eq!(v, Some(f64::NEG_INFINITY));
        assert_eq!(
            a.warnings().collect::<Vec<_>>(),
            ["PromQL warning: quantile value should be between 0 and 1, got -0.5"]
        );
        let (v, a) = q(1.5, &[(1.0, 1.0), (INF, 2.0)]);
        assert_eq!(v, Some(INF));
        assert_eq!(a.warnings().count(), 1);
        let (v, a) = q(f64::NAN, &[(1.0, 1.0), (INF, 2.0)]);
        assert!(v.is_some_and(f64::is_nan));
        assert_eq!(
            a.warnings().collect::<Vec<_>>(),
            ["PromQL warning: quantile value should be between 0 and 1, got NaN"]
        );
    }

    #[test]
    fn quantile_forces_monotonicity() {
        // The 2.0 bucket dips below the 1.0 bucket.
        let pairs = [(1.0, 10.0), (2.0, 8.0), (3.0, 20.0), (INF, 20.0)];
        let mut a = Annotations::default();
        let mut b = bk(&pairs);
        let v = bucket_quantile(0.5, &mut b, "req_bucket", &mut a);
        // Envelope: 10, 10, 20, 20; rank 10 hits the first bucket.
        assert_eq!(v, Some(1.0));
        assert_eq!(
            a.infos().collect::<Vec<_>>(),
            [
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity \
                 (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
                 for metric name \"req_bucket\""
            ]
        );
        let (_, a) = q(0.5, &pairs);
        assert!(a.infos().all(|s| s.ends_with("#histogram_quantile)")));

        let mut b = bk(&pairs);
        let (_, fix) = bucket_quantile_raw(0.5, &mut b);
        let fix = fix.expect("fix");
        assert!(fix.forced_monotonic);
        assert_eq!(
            (fix.min_bucket, fix.max_bucket, fix.max_diff),
            (2.0, 2.0, 2.0)
        );
    }

    #[test]
    fn quantile_ignores_small_deltas_silently() {
        let c = 1e15;
        // The 3.0 bucket dips by float noise only: fixed without an info.
        let pairs = [(1.0, c / 2.0), (2.0, c), (3.0, c * (1.0 - 1e-14)), (INF, c)];
        let (v, a) = q(0.75, &pairs);
        assert_eq!(v, Some(1.5));
        assert!(a.is_empty());
    }

    fn frac(lo: f64, hi: f64, pairs: &[(f64, f64)]) -> f64 {
        let mut a = Annotations::default();
        let mut b = bk(pairs);
        bucket_fraction(lo, hi, &mut b, "", &mut a).expect("value")
    }

    #[test]
    fn fraction_classic() {
        let pairs = [(1.0, 10.0), (2.0, 30.0), (4.0, 40.0), (INF, 50.0)];
        assert_eq!(frac(f64::NEG_INFINITY, INF, &pairs), 1.0);
        assert_eq!(frac(f64::NEG_INFINITY, 1.0, &pairs), 0.2);
        // Half of the (1,2] bucket: (10 + 10) / 50.
        assert_eq!(frac(0.0, 1.5, &pairs), 0.4);
        // Lowest bucket starts at 0 for positive bounds: 0.5 * 10 / 50.
        assert_eq!(frac(0.0, 0.5, &pairs), 0.1);
        // Nothing is interpolated in the +Inf bucket.
        assert_eq!(frac(4.0, 100.0, &pairs), 0.0);
        assert_eq!(frac(4.0, INF, &pairs), 0.2);
        assert_eq!(frac(2.0, 1.0, &pairs), 0.0);
        assert!(frac(f64::NAN, 1.0, &pairs).is_nan());
        assert!(frac(0.0, 1.0, &[(1.0, 1.0)]).is_nan());
        assert!(frac(0.0, 1.0, &[(1.0, 0.0), (INF, 0.0)]).is_nan());
    }

    #[test]
    fn fraction_negative_lowest_bucket() {
        let pairs = [(-1.0, 10.0), (1.0, 30.0), (INF, 40.0)];
        // The lowest bucket reaches down to -Inf: all or nothing.
        assert_eq!(frac(f64::NEG_INFINITY, -2.0, &pairs), 0.25);
        assert_eq!(frac(-1.0, 0.0, &pairs), 0.25);
    }
}
