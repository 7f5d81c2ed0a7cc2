//! Range-vector functions (`rate(x[5m])`, `*_over_time`...), evaluated for
//! one series at one step over the samples of its window.

use argus_model::sample::Sample;

use crate::annotations::Annotations;

use super::gofmt;
use super::histogram::invalid_quantile_warning;
use super::stats::{kahan_add, quantile};

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
    /// `holt_winters` (removed from Prometheus 3.x) is accepted as the old
    /// name of `double_exponential_smoothing`.
    pub fn from_name(name: &str) -> Option<RangeFunc> {
        Some(match name {
            "rate" => RangeFunc::Rate,
            "increase" => RangeFunc::Increase,
            "delta" => RangeFunc::Delta,
            "irate" => RangeFunc::Irate,
            "idelta" => RangeFunc::Idelta,
            "deriv" => RangeFunc::Deriv,
            "predict_linear" => RangeFunc::PredictLinear,
            "double_exponential_smoothing" | "holt_winters" => {
                RangeFunc::DoubleExponentialSmoothing
            }
            "avg_over_time" => RangeFunc::AvgOverTime,
            "sum_over_time" => RangeFunc::SumOverTime,
            "count_over_time" => RangeFunc::CountOverTime,
            "min_over_time" => RangeFunc::MinOverTime,
            "max_over_time" => RangeFunc::MaxOverTime,
            "quantile_over_time" => RangeFunc::QuantileOverTime,
            "stddev_over_time" => RangeFunc::StddevOverTime,
            "stdvar_over_time" => RangeFunc::StdvarOverTime,
            "mad_over_time" => RangeFunc::MadOverTime,
            "last_over_time" => RangeFunc::LastOverTime,
            "first_over_time" => RangeFunc::FirstOverTime,
            "present_over_time" => RangeFunc::PresentOverTime,
            "ts_of_max_over_time" => RangeFunc::TsOfMaxOverTime,
            "ts_of_min_over_time" => RangeFunc::TsOfMinOverTime,
            "ts_of_last_over_time" => RangeFunc::TsOfLastOverTime,
            "ts_of_first_over_time" => RangeFunc::TsOfFirstOverTime,
            "changes" => RangeFunc::Changes,
            "resets" => RangeFunc::Resets,
            _ => return None,
        })
    }

    /// The PromQL name of the function (the 3.x name for
    /// `double_exponential_smoothing`).
    pub fn name(self) -> &'static str {
        match self {
            RangeFunc::Rate => "rate",
            RangeFunc::Increase => "increase",
            RangeFunc::Delta => "delta",
            RangeFunc::Irate => "irate",
            RangeFunc::Idelta => "idelta",
            RangeFunc::Deriv => "deriv",
            RangeFunc::PredictLinear => "predict_linear",
            RangeFunc::DoubleExponentialSmoothing => "double_exponential_smoothing",
            RangeFunc::AvgOverTime => "avg_over_time",
            RangeFunc::SumOverTime => "sum_over_time",
            RangeFunc::CountOverTime => "count_over_time",
            RangeFunc::MinOverTime => "min_over_time",
            RangeFunc::MaxOverTime => "max_over_time",
            RangeFunc::QuantileOverTime => "quantile_over_time",
            RangeFunc::StddevOverTime => "stddev_over_time",
            RangeFunc::StdvarOverTime => "stdvar_over_time",
            RangeFunc::MadOverTime => "mad_over_time",
            RangeFunc::LastOverTime => "last_over_time",
            RangeFunc::FirstOverTime => "first_over_time",
            RangeFunc::PresentOverTime => "present_over_time",
            RangeFunc::TsOfMaxOverTime => "ts_of_max_over_time",
            RangeFunc::TsOfMinOverTime => "ts_of_min_over_time",
            RangeFunc::TsOfLastOverTime => "ts_of_last_over_time",
            RangeFunc::TsOfFirstOverTime => "ts_of_first_over_time",
            RangeFunc::Changes => "changes",
            RangeFunc::Resets => "resets",
        }
    }

    /// Whether the result drops the metric name (`rate` does,
    /// `last_over_time` does not). As upstream, only `last_over_time` and
    /// `first_over_time` keep it: they act like an offset.
    pub fn drops_metric_name(self) -> bool {
        !matches!(self, RangeFunc::LastOverTime | RangeFunc::FirstOverTime)
    }

    /// Index of the range-vector argument among the call's arguments
    /// (`quantile_over_time(q, v)` has it at 1).
    pub fn matrix_arg_index(self) -> usize {
        match self {
            RangeFunc::QuantileOverTime => 1,
            _ => 0,
        }
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

/// The info upstream adds when `rate` or `increase` runs over a series whose
/// name does not look like a counter (`NewPossibleNonCounterInfo`, without
/// the position).
pub fn possible_non_counter_info(metric_name: &str) -> String {
    format!(
        "PromQL info: metric might not be a counter, name does not end in \
         _total/_sum/_count/_bucket: {}",
        gofmt::quote(metric_name)
    )
}

/// The warning upstream adds for each window `f` is evaluated over with
/// these `params` (at one step), when a parameter is invalid but the query
/// goes on: `quantile_over_time` with q outside [0, 1] or NaN. `pos` is the
/// ` (line:col)` of the parameter in the query (upstream's
/// `args[0].PositionRange()`), or empty.
pub fn invalid_param_warning(f: RangeFunc, params: &[f64], pos: &str) -> Option<String> {
    match (f, params.first()) {
        (RangeFunc::QuantileOverTime, Some(&q)) if q.is_nan() || !(0.0..=1.0).contains(&q) => {
            Some(format!("{}{pos}", invalid_quantile_warning(q)))
        }
        _ => None,
    }
}

/// Checks the factors of `double_exponential_smoothing`. Upstream aborts
/// the whole query (a panic turned into an execution error) with exactly
/// this text when `sf` or `tf` is outside the open interval (0, 1); NaN
/// passes the check. The smoothing factor is checked first.
pub fn validate_smoothing_params(sf: f64, tf: f64) -> Result<(), SmoothingParamError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(SmoothingParamError::SmoothingFactor(sf));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(SmoothingParamError::TrendFactor(tf));
    }
    Ok(())
}

/// A factor of `double_exponential_smoothing` outside (0, 1); the message is
/// upstream's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SmoothingParamError {
    SmoothingFactor(f64),
    TrendFactor(f64),
}

impl std::fmt::Display for SmoothingParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmoothingParamError::SmoothingFactor(sf) => write!(
                f,
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                gofmt::format_f(*sf)
            ),
            SmoothingParamError::TrendFactor(tf) => write!(
                f,
                "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                gofmt::format_f(*tf)
            ),
        }
    }
}

impl std::error::Error for SmoothingParamError {}

/// Evaluates `f` over one window. `params` are the scalar arguments of the
/// call at this step, in argument order without the range vector.
/// `metric_name` is the series' `__name__` (empty if none), for annotations
/// such as "metric might not be a counter". Returns `None` when the function
/// yields no sample (e.g. `rate` with fewer than two samples).
///
/// Same as [`eval_range_at`] with the evaluation time taken to be
/// `range_end`, which is exact unless the selector has an offset (only
/// `predict_linear` depends on it).
pub fn eval_range(
    f: RangeFunc,
    window: &Window<'_>,
    params: &[f64],
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    eval_range_at(
        f,
        window,
        window.range_end,
        params,
        metric_name,
        annotations,
    )
}

/// As [`eval_range`], with the step's evaluation timestamp `eval_ts` (ms,
/// i.e. `range_end` plus the selector's offset). Upstream's
/// `predict_linear` anchors its regression at the evaluation timestamp, not
/// at the end of the (offset) window.
pub fn eval_range_at(
    f: RangeFunc,
    window: &Window<'_>,
    eval_ts: i64,
    params: &[f64],
    metric_name: &str,
    annotations: &mut Annotations,
) -> Option<f64> {
    let s = window.samples;
    if s.is_empty() {
        // Upstream never calls a range function on an empty window.
        return None;
    }
    match f {
        RangeFunc::Rate | RangeFunc::Increase => {
            let is_rate = f == RangeFunc::Rate;
            let v = extrapolated_rate(window, true, is_rate)?;
            if !metric_name.is_empty() && !looks_like_counter(metric_name) {
                annotations.info(possible_non_counter_info(metric_name));
            }
            Some(v)
        }
        RangeFunc::Delta => extrapolated_rate(window, false, false),
        RangeFunc::Irate => instant_value(s, true),
        RangeFunc::Idelta => instant_value(s, false),
        RangeFunc::Deriv => {
            if s.len() < 2 {
                return None;
            }
            // Regression relative to the first sample keeps x small.
            Some(linear_regression(s, s[0].t).0)
        }
        RangeFunc::PredictLinear => {
            let duration = *params.first()?;
            if s.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(s, eval_ts);
            Some(slope * duration + intercept)
        }
        RangeFunc::DoubleExponentialSmoothing => {
            let (sf, tf) = match params {
                [sf, tf, ..] => (*sf, *tf),
                _ => return None,
            };
            if let Err(e) = validate_smoothing_params(sf, tf) {
                // Upstream fails the query; we can only report it here.
                annotations.warn(e.to_string());
                return None;
            }
            double_exponential_smoothing(s, sf, tf)
        }
        RangeFunc::AvgOverTime => Some(avg_over_time(s)),
        RangeFunc::SumOverTime => Some(sum_over_time(s)),
        RangeFunc::CountOverTime => Some(s.len() as f64),
        RangeFunc::MinOverTime => Some(compare_over_time(s, |cur, m| cur < m).0),
        RangeFunc::MaxOverTime => Some(compare_over_time(s, |cur, m| cur > m).0),
        RangeFunc::TsOfMinOverTime => Some(ts_seconds(compare_over_time(s, |cur, m| cur <= m).1)),
        RangeFunc::TsOfMaxOverTime => Some(ts_seconds(compare_over_time(s, |cur, m| cur >= m).1)),
        RangeFunc::QuantileOverTime => {
            // The invalid-quantile warning names the argument's position:
            // the caller adds it (see `invalid_param_warning`).
            let q = *params.first()?;
            let mut values: Vec<f64> = s.iter().map(|p| p.v).collect();
            Some(quantile(q, &mut values))
        }
        RangeFunc::StddevOverTime => Some(variance_over_time(s).sqrt()),
        RangeFunc::StdvarOverTime => Some(variance_over_time(s)),
        RangeFunc::MadOverTime => Some(mad_over_time(s)),
        RangeFunc::LastOverTime => s.last().map(|p| p.v),
        RangeFunc::FirstOverTime => s.first().map(|p| p.v),
        RangeFunc::PresentOverTime => Some(1.0),
        RangeFunc::TsOfLastOverTime => s.last().map(|p| ts_seconds(p.t)),
        RangeFunc::TsOfFirstOverTime => s.first().map(|p| ts_seconds(p.t)),
        RangeFunc::Changes => {
            let n = s
                .windows(2)
                .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
                .count();
            Some(n as f64)
        }
        RangeFunc::Resets => Some(s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64),
    }
}

fn ts_seconds(t_ms: i64) -> f64 {
    t_ms as f64 / 1000.0
}

fn looks_like_counter(name: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// `rate`, `increase` and `delta` (upstream's `extrapolatedRate` for float
/// samples, without start timestamps or anchored/smoothed selectors).
fn extrapolated_rate(window: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let s = window.samples;
    if s.len() < 2 {
        return None;
    }
    let first = s[0];
    let last = s[s.len() - 1];

    let mut result = last.v - first.v;
    if is_counter {
        // Every decrease is a reset: add back the value before it.
        for w in s.windows(2) {
            if w[1].v < w[0].v {
                result += w[0].v;
            }
        }
    }

    let mut duration_to_start = (first.t - window.range_start) as f64 / 1000.0;
    let mut duration_to_end = (window.range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between_samples = sampled_interval / (s.len() - 1) as f64;
    // Samples further than 1.1 average intervals from a boundary mean the
    // series starts/ends inside the window: extrapolate half an interval.
    let threshold = average_between_samples * 1.1;

    if duration_to_start >= threshold {
        duration_to_start = average_between_samples / 2.0;
    }
    if is_counter {
        // A counter cannot go below zero: do not extrapolate past the
        // point where the current slope would reach it.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between_samples / 2.0;
    }

    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= (window.range_end - window.range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` / `idelta` over the last two samples.
fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let prev = s[s.len() - 2];
    let last = s[s.len() - 1];
    let interval_ms = last.t - prev.t;
    if interval_ms == 0 {
        return None;
    }
    // For irate a decrease is a counter reset: the increase since the reset
    // is the last value itself. (A NaN compares false, giving the NaN
    // difference, as upstream.)
    let mut v = last.v;
    if !is_rate || last.v >= prev.v || last.v.is_nan() || prev.v.is_nan() {
        v = last.v - prev.v;
    }
    if is_rate {
        v /= interval_ms as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares fit of value over time (seconds relative to
/// `intercept_time_ms`): `(slope, intercept)`, with Kahan-compensated sums.
/// A constant series gives slope 0 (or NaN for a constant infinity).
fn linear_regression(s: &[Sample], intercept_time_ms: i64) -> (f64, f64) {
    let init_y = s[0].v;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_add(x, sum_x, c_x);
        (sum_y, c_y) = kahan_add(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_add(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_add(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Holt's linear (double exponential) smoothing; factors already checked.
fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    // s0: previous smoothed value, s1: current smoothed value, b: trend.
    let mut s0 = 0.0;
    let mut s1 = s[0].v;
    let mut b = s[1].v - s[0].v;
    for (i, p) in s.iter().enumerate().skip(1) {
        let x = sf * p.v;
        // The first step keeps the initial trend.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// Mean with Kahan summation, switching to an incremental mean once the
/// running sum would overflow (upstream's `avg_over_time`).
fn avg_over_time(s: &[Sample]) -> f64 {
    let mut sum = s[0].v;
    let mut count = 1.0;
    let mut mean = 0.0;
    let mut c = 0.0;
    let mut incremental = false;
    for (i, p) in s.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_add(p.v, sum, c);
            if !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_add(p.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn sum_over_time(s: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in s {
        (sum, c) = kahan_add(p.v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// The winning value and its timestamp: a sample replaces the current one
/// when `better(cur, current)` holds or the current value is NaN, so NaN
/// wins only if every value is NaN (upstream's `compareOverTime`).
fn compare_over_time(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> (f64, i64) {
    let mut best = s[0].v;
    let mut best_t = s[0].t;
    for p in s {
        if better(p.v, best) || best.is_nan() {
            best = p.v;
            best_t = p.t;
        }
    }
    (best, best_t)
}

/// Population variance by Welford's method with Kahan-compensated mean and
/// sum of squares (upstream's `varianceOverTime`).
fn variance_over_time(s: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_add(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_add(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Median absolute deviation from the median; NaN if any value is NaN.
fn mad_over_time(s: &[Sample]) -> f64 {
    if s.iter().any(|p| p.v.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = s.iter().map(|p| p.v).collect();
    let median = quantile(0.5, &mut values);
    for v in values.iter_mut() {
        *v = (*v - median).abs();
    }
    quantile(0.5, &mut values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples `(seconds, value)`.
    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t, v)| Sample::new(t * 1000, v))
            .collect()
    }

    /// Evaluates over the window `(start_s, end_s]`.
    fn eval(
        f: RangeFunc,
        points: &[(i64, f64)],
        start_s: i64,
        end_s: i64,
        params: &[f64],
    ) -> (Option<f64>, Annotations) {
        let s = samples(points);
        let w = Window {
            samples: &s,
            range_start: start_s * 1000,
            range_end: end_s * 1000,
        };
        let mut a = Annotations::default();
        let v = eval_range(f, &w, params, "x_total", &mut a);
        (v, a)
    }

    fn val(f: RangeFunc, points: &[(i64, f64)], params: &[f64]) -> f64 {
        eval(f, points, 0, 60, params).0.expect("a value")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    const EVERY_10S: [i64; 6] = [10, 20, 30, 40, 50, 60];

    fn series(values: [f64; 6]) -> Vec<(i64, f64)> {
        EVERY_10S.iter().copied().zip(values).collect()
    }

    #[test]
    fn names() {
        for f in [
            RangeFunc::Rate,
            RangeFunc::DoubleExponentialSmoothing,
            RangeFunc::TsOfFirstOverTime,
            RangeFunc::Resets,
        ] {
            assert_eq!(RangeFunc::from_name(f.name()), Some(f));
        }
        assert_eq!(
            RangeFunc::from_name("holt_winters"),
            Some(RangeFunc::DoubleExponentialSmoothing)
        );
        assert_eq!(RangeFunc::from_name("absent_over_time"), None);
        assert!(!RangeFunc::LastOverTime.drops_metric_name());
        assert!(!RangeFunc::FirstOverTime.drops_metric_name());
        assert!(RangeFunc::MaxOverTime.drops_metric_name());
        assert!(RangeFunc::TsOfLastOverTime.drops_metric_name());
        assert_eq!(RangeFunc::QuantileOverTime.matrix_arg_index(), 1);
        assert_eq!(RangeFunc::PredictLinear.matrix_arg_index(), 0);
    }

    #[test]
    fn rate_extrapolates_to_window_start() {
        // First sample 10s after the window start, one interval: extrapolate
        // all the way (10s < 1.1 * 10s).
        let s = series([10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        assert!(close(val(RangeFunc::Increase, &s, &[]), 60.0));
        assert!(close(val(RangeFunc::Rate, &s, &[]), 1.0));
        assert!(close(val(RangeFunc::Delta, &s, &[]), 60.0));
    }

    #[test]
    fn rate_handles_counter_reset() {
        // 10..30, reset to 5, 15, 25: increase 20 + 30 (reset) - 5 + ... = 45.
        let s = series([10.0, 20.0, 30.0, 5.0, 15.0, 25.0]);
        assert!(close(val(RangeFunc::Increase, &s, &[]), 45.0 * 1.2));
        assert!(close(val(RangeFunc::Resets, &s, &[]), 1.0));
        // delta does not correct for resets.
        assert!(close(val(RangeFunc::Delta, &s, &[]), 15.0 * 1.2));
    }

    #[test]
    fn rate_does_not_extrapolate_below_zero() {
        // The slope reaches zero 1s before the first sample.
        let s = series([1.0, 11.0, 21.0, 31.0, 41.0, 51.0]);
        assert!(close(val(RangeFunc::Increase, &s, &[]), 51.0));
        // A gauge is extrapolated fully.
        assert!(close(val(RangeFunc::Delta, &s, &[]), 60.0));
    }

    #[test]
    fn rate_extrapolates_half_interval_at_gaps() {
        // Samples only at 30..50s of (0, 60]: 30s to the start is beyond
        // 1.1 intervals -> 5s; 10s to the end is within -> 10s.
        let s = [(30, 30.0), (40, 40.0), (50, 50.0)];
        assert!(close(val(RangeFunc::Increase, &s, &[]), 20.0 * 35.0 / 20.0));
        assert!(close(val(RangeFunc::Rate, &s, &[]), 35.0 / 60.0));
    }

    #[test]
    fn rate_needs_two_samples() {
        assert_eq!(eval(RangeFunc::Rate, &[(10, 1.0)], 0, 60, &[]).0, None);
        assert_eq!(eval(RangeFunc::Rate, &[], 0, 60, &[]).0, None);
        assert_eq!(eval(RangeFunc::Irate, &[(10, 1.0)], 0, 60, &[]).0, None);
    }

    #[test]
    fn non_counter_info() {
        let pts = [(10, 1.0), (20, 2.0)];
        let s = samples(&pts);
        let w = Window {
            samples: &s,
            range_start: 0,
            range_end: 60_000,
        };
        let mut a = Annotations::default();
        eval_range(RangeFunc::Rate, &w, &[], "foo", &mut a);
        assert_eq!(
            a.infos().collect::<Vec<_>>(),
            [
                "PromQL info: metric might not be a counter, name does not end in \
                 _total/_sum/_count/_bucket: \"foo\""
            ]
        );
        for name in ["foo_total", "foo_sum", "foo_count", "foo_bucket", ""] {
            let mut a = Annotations::default();
            eval_range(RangeFunc::Increase, &w, &[], name, &mut a);
            assert!(a.is_empty(), "{name}");
        }
        // irate and delta do not check the name.
        let mut a = Annotations::default();
        eval_range(RangeFunc::Irate, &w, &[], "foo", &mut a);
        eval_range(RangeFunc::Delta, &w, &[], "foo", &mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn irate_and_idelta() {
        let s = series([10.0, 20.0, 30.0, 40.0, 30.0, 5.0]);
        // Reset between the last two: the increase is the last value.
        assert!(close(val(RangeFunc::Irate, &s, &[]), 0.5));
        assert!(close(val(RangeFunc::Idelta, &s, &[]), -25.0));
        let s = series([10.0, 20.0, 30.0, 40.0, 30.0, 50.0]);
        assert!(close(val(RangeFunc::Irate, &s, &[]), 2.0));
    }

    #[test]
    fn deriv_and_predict_linear() {
        let s = [(40, 0.0), (50, 10.0), (60, 20.0)];
        assert!(close(val(RangeFunc::Deriv, &s, &[]), 1.0));
        // Anchored at the window end (60s): 20 + 10.
        assert!(close(val(RangeFunc::PredictLinear, &s, &[10.0]), 30.0));
        // With an offset the anchor is the evaluation time.
        let smp = samples(&s);
        let w = Window {
            samples: &smp,
            range_start: 0,
            range_end: 60_000,
        };
        let mut a = Annotations::default();
        let v = eval_range_at(RangeFunc::PredictLinear, &w, 70_000, &[0.0], "", &mut a);
        assert!(close(v.expect("value"), 30.0));
        // Constant series: flat.
        let c = [(40, 3.0), (50, 3.0)];
        assert_eq!(val(RangeFunc::Deriv, &c, &[]), 0.0);
        assert_eq!(val(RangeFunc::PredictLinear, &c, &[100.0]), 3.0);
        let inf = [(40, f64::INFINITY), (50, f64::INFINITY)];
        assert!(val(RangeFunc::Deriv, &inf, &[]).is_nan());
        assert_eq!(eval(RangeFunc::Deriv, &[(40, 1.0)], 0, 60, &[]).0, None);
    }

    #[test]
    fn double_exponential_smoothing_values() {
        let lin = [(20, 1.0), (40, 2.0), (60, 3.0)];
        assert!(close(
            val(RangeFunc::DoubleExponentialSmoothing, &lin, &[0.5, 0.5]),
            3.0
        ));
        let zig = [(20, 0.0), (40, 10.0), (60, 0.0)];
        assert!(close(
            val(RangeFunc::DoubleExponentialSmoothing, &zig, &[0.5, 0.5]),
            10.0
        ));
        assert_eq!(
            eval(
                RangeFunc::DoubleExponentialSmoothing,
                &[(20, 1.0)],
                0,
                60,
                &[0.5, 0.5]
            )
            .0,
            None
        );
    }

    #[test]
    fn double_exponential_smoothing_rejects_factors() {
        let lin = [(20, 1.0), (40, 2.0)];
        let (v, a) = eval(
            RangeFunc::DoubleExponentialSmoothing,
            &lin,
            0,
            60,
            &[1.0, 0.5],
        );
        assert_eq!(v, None);
        assert_eq!(
            a.warnings().collect::<Vec<_>>(),
            ["invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"]
        );
        assert_eq!(
            validate_smoothing_params(0.5, 0.0).map_err(|e| e.to_string()),
            Err("invalid trend factor. Expected: 0 < tf < 1, got: 0.000000".to_string())
        );
        assert_eq!(validate_smoothing_params(f64::NAN, 0.5), Ok(()));
    }

    #[test]
    fn aggregations_over_time() {
        let s = series([2.0, 4.0, 4.0, 4.0, 5.0, 5.0]);
        assert!(close(val(RangeFunc::AvgOverTime, &s, &[]), 4.0));
        assert!(close(val(RangeFunc::SumOverTime, &s, &[]), 24.0));
        assert_eq!(val(RangeFunc::CountOverTime, &s, &[]), 6.0);
        assert_eq!(val(RangeFunc::MinOverTime, &s, &[]), 2.0);
        assert_eq!(val(RangeFunc::MaxOverTime, &s, &[]), 5.0);
        assert_eq!(val(RangeFunc::FirstOverTime, &s, &[]), 2.0);
        assert_eq!(val(RangeFunc::LastOverTime, &s, &[]), 5.0);
        assert_eq!(val(RangeFunc::PresentOverTime, &s, &[]), 1.0);
        assert_eq!(val(RangeFunc::Changes, &s, &[]), 2.0);
        assert_eq!(val(RangeFunc::Resets, &s, &[]), 0.0);
        assert_eq!(val(RangeFunc::TsOfFirstOverTime, &s, &[]), 10.0);
        assert_eq!(val(RangeFunc::TsOfLastOverTime, &s, &[]), 60.0);
        // Ties: the latest sample wins for ts_of_max / ts_of_min.
        assert_eq!(val(RangeFunc::TsOfMaxOverTime, &s, &[]), 60.0);
        assert_eq!(val(RangeFunc::TsOfMinOverTime, &s, &[]), 10.0);
        let t = series([4.0, 2.0, 4.0, 2.0, 3.0, 3.0]);
        assert_eq!(val(RangeFunc::TsOfMinOverTime, &t, &[]), 40.0);
        assert_eq!(val(RangeFunc::TsOfMaxOverTime, &t, &[]), 30.0);
    }

    #[test]
    fn min_max_nan_handling() {
        let nan = f64::NAN;
        let s = series([nan, 3.0, nan, 1.0, nan, 2.0]);
        assert_eq!(val(RangeFunc::MinOverTime, &s, &[]), 1.0);
        assert_eq!(val(RangeFunc::MaxOverTime, &s, &[]), 3.0);
        let all = series([nan; 6]);
        assert!(val(RangeFunc::MinOverTime, &all, &[]).is_nan());
        assert_eq!(val(RangeFunc::TsOfMaxOverTime, &all, &[]), 60.0);
        // NaN to NaN is no change.
        assert_eq!(val(RangeFunc::Changes, &all, &[]), 0.0);
        assert_eq!(val(RangeFunc::Changes, &s, &[]), 5.0);
    }

    #[test]
    fn variance_and_mad() {
        let s = [
            (10, 2.0),
            (15, 4.0),
            (20, 4.0),
            (25, 4.0),
            (30, 5.0),
            (35, 5.0),
            (40, 7.0),
            (45, 9.0),
        ];
        assert!(close(val(RangeFunc::StdvarOverTime, &s, &[]), 4.0));
        assert!(close(val(RangeFunc::StddevOverTime, &s, &[]), 2.0));
        let m = [
            (10, 1.0),
            (15, 1.0),
            (20, 2.0),
            (25, 2.0),
            (30, 4.0),
            (35, 6.0),
            (40, 9.0),
        ];
        assert_eq!(val(RangeFunc::MadOverTime, &m, &[]), 1.0);
        let n = [(10, 1.0), (15, f64::NAN)];
        assert!(val(RangeFunc::MadOverTime, &n, &[]).is_nan());
        assert_eq!(val(RangeFunc::StdvarOverTime, &[(10, 5.0)], &[]), 0.0);
    }

    #[test]
    fn avg_and_sum_overflow() {
        let big = f64::MAX;
        let s = [(10, big), (20, big), (30, big)];
        // The sum overflows, the incremental mean does not.
        assert!(close(val(RangeFunc::AvgOverTime, &s, &[]), big));
        assert_eq!(val(RangeFunc::SumOverTime, &s, &[]), f64::INFINITY);
        // Kahan summation keeps the small terms.
        let k = [(10, 1.0), (20, 1e100), (30, 1.0), (40, -1e100)];
        assert_eq!(val(RangeFunc::SumOverTime, &k, &[]), 2.0);
        assert_eq!(val(RangeFunc::AvgOverTime, &k, &[]), 0.5);
    }

    #[test]
    fn quantile_over_time_values() {
        let s = series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(close(val(RangeFunc::QuantileOverTime, &s, &[0.5]), 3.5));
        let (v, _) = eval(RangeFunc::QuantileOverTime, &s, 0, 60, &[1.5]);
        assert_eq!(v, Some(f64::INFINITY));
        assert_eq!(
            invalid_param_warning(RangeFunc::QuantileOverTime, &[1.5], " (1:20)").as_deref(),
            Some("PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:20)")
        );
        assert!(invalid_param_warning(RangeFunc::QuantileOverTime, &[f64::NAN], "").is_some());
        assert!(invalid_param_warning(RangeFunc::QuantileOverTime, &[1.0], "").is_none());
        assert!(invalid_param_warning(RangeFunc::PredictLinear, &[1.5], "").is_none());
        let (v, a) = eval(RangeFunc::QuantileOverTime, &s, 0, 60, &[0.2]);
        assert!(close(v.expect("value"), 2.0));
        assert!(a.is_empty());
    }
}
