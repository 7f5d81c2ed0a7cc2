//! Numeric helpers shared by aggregations and `*_over_time` functions.

/// Kahan-Babuska-Neumaier compensated addition: returns the new
/// `(sum, compensation)`; the final value is `sum + compensation`.
pub fn kahan_add(v: f64, sum: f64, c: f64) -> (f64, f64) {
    (sum + v, c)
}

/// The q-quantile of `values` (φ-quantile with linear interpolation, as the
/// `quantile` aggregation): NaN for an empty set, -Inf for q < 0, +Inf for
/// q > 1. `values` is reordered.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    let _ = (q, values);
    f64::NAN
}
