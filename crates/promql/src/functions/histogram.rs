//! Classic-histogram functions over `le` buckets.

use crate::annotations::Annotations;

/// One bucket of a classic histogram: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// `histogram_quantile(q, ...)` over the buckets of one histogram (any
/// order; sorted here). `metric_name` names the series for annotations
/// (e.g. bucket counts fixed for monotonicity, missing +Inf bucket).
pub fn bucket_quantile(
    q: f64,
    buckets: &mut Vec<Bucket>,
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    let _ = (q, buckets, metric_name, annotations);
    None
}

/// `histogram_fraction(lower, upper, ...)` over the buckets of one
/// histogram.
pub fn bucket_fraction(
    lower: f64,
    upper: f64,
    buckets: &mut Vec<Bucket>,
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    let _ = (lower, upper, buckets, metric_name, annotations);
    None
}
