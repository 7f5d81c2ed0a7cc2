//! Range-vector functions (`rate(x[5m])`, `*_over_time`...), evaluated for
//! one series at one step over the samples of its window.

use argus_model::sample::Sample;

use crate::annotations::Annotations;

/// A function whose argument is a range vector and whose value, per series
/// and step, depends only on that series' samples in the window (plus scalar
/// parameters). `absent_over_time` is not here: it needs the whole set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunc {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    /// `predict_linear(v, t)`: param 0 is t in seconds.
    PredictLinear,
    /// `double_exponential_smoothing(v, sf, tf)` (and the old `holt_winters`).
    DoubleExponentialSmoothing,
    AvgOverTime,
    SumOverTime,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
    /// `quantile_over_time(q, v)`: param 0 is q.
    QuantileOverTime,
    StddevOverTime,
    StdvarOverTime,
    MadOverTime,
    LastOverTime,
    FirstOverTime,
    PresentOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
    TsOfLastOverTime,
    TsOfFirstOverTime,
    Changes,
    Resets,
}

impl RangeFunc {
    /// The function of this PromQL name, if it is a range function.
    pub fn from_name(name: &str) -> Option<RangeFunc> {
        let _ = name;
        None
    }

    /// Whether the result drops the metric name (`rate` does,
    /// `last_over_time` does not).
    pub fn drops_metric_name(self) -> bool {
        true
    }

    /// Index of the range-vector argument among the call's arguments
    /// (`quantile_over_time(q, v)` has it at 1).
    pub fn matrix_arg_index(self) -> usize {
        0
    }
}

/// The samples of one series in one window `(range_start, range_end]`.
pub struct Window<'a> {
    /// Time-ordered float samples inside the window, stale markers removed.
    pub samples: &'a [Sample],
    /// Exclusive lower bound, ms.
    pub range_start: i64,
    /// Inclusive upper bound (the evaluation time minus offset), ms.
    pub range_end: i64,
}

/// Evaluates `f` over one window. `params` are the scalar arguments of the
/// call at this step, in argument order without the range vector.
/// `metric_name` is the series' `__name__` (empty if none), for annotations
/// such as "metric might not be a counter". Returns `None` when the function
/// yields no sample (e.g. `rate` with fewer than two samples).
pub fn eval_range(
    f: RangeFunc,
    window: &Window<'_>,
    params: &[f64],
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    let _ = (f, window, params, metric_name, annotations);
    None
}
