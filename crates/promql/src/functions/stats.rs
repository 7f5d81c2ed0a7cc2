//! Numeric helpers shared by aggregations and `*_over_time` functions.

use std::cmp::Ordering;

/// Kahan-Babuska-Neumaier compensated addition: returns the new
/// `(sum, compensation)`; the final value is `sum + compensation`.
///
/// As Prometheus' `kahansum.Inc`: when the new sum is infinite the
/// compensation is reset to zero (so that `sum + c` stays infinite instead
/// of becoming NaN), and the larger-magnitude operand is used as the base of
/// the error term (Neumaier's improvement).
pub fn kahan_add(v: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + v;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= v.abs() {
        c + ((sum - t) + v)
    } else {
        c + ((v - t) + sum)
    };
    (t, c)
}

/// Ordering used by Prometheus to sort sample values for quantiles
/// (`vectorByValueHeap`): NaN sorts before every number.
pub fn nan_first_cmp(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// The q-quantile of `values` (φ-quantile with linear interpolation, as the
/// `quantile` aggregation): NaN for an empty set, -Inf for q < 0, +Inf for
/// q > 1. `values` is reordered.
///
/// NaN q gives NaN. Values are sorted with NaN first, the rank is
/// `q * (n - 1)` and the result interpolates linearly between the two
/// neighbouring values.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first_cmp);

    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // Both indices are in [0, n-1] by construction.
    let lo = values[lower as usize];
    let hi = values[upper as usize];
    lo * (1.0 - weight) + hi * weight
}

/// Relative float comparison as upstream's `almost.Equal`: NaN equals
/// NaN, and values near zero compare against the smallest normal float.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    let min_normal = f64::MIN_POSITIVE; // smallest positive normal f64
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_compensates() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_add(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn kahan_infinity_resets_compensation() {
        let (s, c) = kahan_add(f64::INFINITY, 1.0, 0.5);
        assert_eq!(s, f64::INFINITY);
        assert_eq!(c, 0.0);
        assert_eq!(s + c, f64::INFINITY);
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert!((quantile(0.9, &mut v) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn quantile_special_cases() {
        assert!(quantile(0.5, &mut []).is_nan());
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
        assert_eq!(quantile(-0.1, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut [1.0]), f64::INFINITY);
        // NaN sorts first.
        let mut v = [2.0, f64::NAN, 1.0];
        assert_eq!(quantile(1.0, &mut v), 2.0);
        assert!(quantile(0.0, &mut v).is_nan());
    }
}
