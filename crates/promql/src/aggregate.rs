//! Aggregation operators. Each input series is folded into its group's
//! per-step accumulators as it arrives, so the input is walked once.

use std::collections::HashMap;

use argus_model::labels::{Labels, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use crate::error::QueryError;
use crate::eval::{Evaluator, Val};
use crate::functions::stats::{kahan_add, quantile};
use crate::series::{Grid, Series, is_present, slots_cost};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Quantile,
    Topk,
    Bottomk,
    Limitk,
    LimitRatio,
    CountValues,
}

impl AggOp {
    fn parse(s: &str) -> Option<AggOp> {
        Some(match s {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "quantile" => AggOp::Quantile,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "limitk" => AggOp::Limitk,
            "limit_ratio" => AggOp::LimitRatio,
            "count_values" => AggOp::CountValues,
            _ => return None,
        })
    }
}

/// `by (...)` or `without (...)`.
pub(crate) struct Grouping {
    without: bool,
    labels: Vec<String>,
}

impl Grouping {
    fn from_modifier(m: &Option<LabelModifier>) -> Grouping {
        match m {
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                labels: l.labels.clone(),
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                labels: l.labels.clone(),
            },
            None => Grouping {
                without: false,
                labels: Vec::new(),
            },
        }
    }

    /// The grouping as a storage select hint: `by ()` when there is no
    /// modifier, as Prometheus hints it.
    pub(crate) fn hint(m: &Option<LabelModifier>) -> argus_model::storage::Grouping {
        let g = Grouping::from_modifier(m);
        argus_model::storage::Grouping {
            by: !g.without,
            labels: g.labels,
        }
    }

    fn group_labels(&self, l: &Labels) -> Labels {
        let kept = l.iter().filter(|label| {
            let listed = self.labels.iter().any(|n| n == label.name);
            if self.without {
                !listed && label.name != METRIC_NAME
            } else {
                listed
            }
        });
        // A subset of sorted, unique labels is sorted and unique.
        Labels::from_sorted(kept.map(|p| (p.name, p.value))).unwrap_or_default()
    }
}

/// Per group and step state of the numeric aggregations.
#[derive(Clone, Copy, Default)]
struct Acc {
    seen: bool,
    incremental_mean: bool,
    value: f64,
    comp: f64,
    mean: f64,
    count: f64,
}

pub(crate) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grid: &Grid,
) -> Result<Val, QueryError> {
    let op_text = a.op.to_string();
    let op = AggOp::parse(&op_text)
        .ok_or_else(|| QueryError::BadData(format!("unknown aggregation {op_text:?}")))?;
    let grouping = Grouping::from_modifier(&a.modifier);
    let steps = grid.len();
    match op {
        AggOp::CountValues => {
            let label = match a.param.as_deref() {
                Some(Expr::StringLiteral(s)) => s.val.clone(),
                Some(Expr::Paren(p)) => match p.expr.as_ref() {
                    Expr::StringLiteral(s) => s.val.clone(),
                    _ => {
                        return Err(QueryError::BadData(
                            "count_values needs a string label".into(),
                        ));
                    }
                },
                _ => {
                    return Err(QueryError::BadData(
                        "count_values needs a string label".into(),
                    ));
                }
            };
            if label.is_empty() {
                return Err(QueryError::Execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            let input = ev.eval_vector(&a.expr, grid)?;
            count_values(ev, input, &grouping, &label, steps).map(Val::Vector)
        }
        AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio => {
            let param = match a.param.as_deref() {
                Some(p) => ev.eval_scalar(p, grid)?,
                None => return Err(QueryError::BadData(format!("{op_text} needs a parameter"))),
            };
            let input = ev.eval_vector(&a.expr, grid)?;
            select_k(ev, op, input, &grouping, &param, grid).map(Val::Vector)
        }
        _ => {
            let param = match (op, a.param.as_deref()) {
                (AggOp::Quantile, Some(p)) => {
                    let q = ev.eval_scalar(p, grid)?;
                    for v in &q {
                        if v.is_nan() || *v < 0.0 || *v > 1.0 {
                            let pos = ev.position("quantile", Some(0));
                            ev.annotations.warn(format!(
                                "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                                crate::format::format_g(*v)
                            ));
                            break;
                        }
                    }
                    q
                }
                (AggOp::Quantile, None) => {
                    return Err(QueryError::BadData("quantile needs a parameter".into()));
                }
                _ => Vec::new(),
            };
            // Streams: each input series is folded in and dropped.
            let mut agg = NumericAgg::new(op, &grouping, steps, ev.room());
            ev.eval_vector_each(&a.expr, grid, &mut |s| agg.add(&s))?;
            agg.finish(ev, &param).map(Val::Vector)
        }
    }
}

/// Folds series into per-group, per-step accumulators as they arrive.
struct NumericAgg<'g> {
    op: AggOp,
    grouping: &'g Grouping,
    steps: usize,
    group_of: HashMap<Labels, usize>,
    groups: Vec<(Labels, bool)>,
    acc: Vec<Acc>,
    /// Quantile keeps every value per group and step.
    values: Vec<Vec<f64>>,
    /// Samples the accumulators may cost (the room left under the limit)
    /// and what they cost so far: a group's steps, and each value kept.
    budget: usize,
    used: usize,
}

impl<'g> NumericAgg<'g> {
    fn new(op: AggOp, grouping: &'g Grouping, steps: usize, budget: usize) -> Self {
        NumericAgg {
            op,
            grouping,
            steps,
            group_of: HashMap::new(),
            groups: Vec::new(),
            acc: Vec::new(),
            values: Vec::new(),
            budget,
            used: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<(), QueryError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.budget {
            return Err(QueryError::TooManySamples("expression evaluation"));
        }
        Ok(())
    }

    fn add(&mut self, s: &Series) -> Result<(), QueryError> {
        let (op, steps) = (self.op, self.steps);
        let key = self.grouping.group_labels(&s.labels);
        let g = match self.group_of.get(&key) {
            Some(&g) => g,
            None => {
                self.take(slots_cost(steps))?;
                self.groups.push((key.clone(), false));
                self.group_of.insert(key, self.groups.len() - 1);
                self.acc.resize(self.groups.len() * steps, Acc::default());
                if op == AggOp::Quantile {
                    self.values.resize(self.groups.len() * steps, Vec::new());
                }
                self.groups.len() - 1
            }
        };
        self.groups[g].1 |= s.drop_name;
        let base = g * steps;
        for (i, &f) in s.values.iter().enumerate() {
            if !is_present(f) {
                continue;
            }
            let a = &mut self.acc[base + i];
            if !a.seen {
                *a = Acc {
                    seen: true,
                    incremental_mean: false,
                    value: f,
                    comp: 0.0,
                    mean: f,
                    count: 1.0,
                };
                match op {
                    AggOp::Stddev | AggOp::Stdvar => {
                        a.value = if f.is_nan() || f.is_infinite() {
                            f64::NAN
                        } else {
                            0.0
                        };
                    }
                    AggOp::Group => a.value = 1.0,
                    AggOp::Quantile => {
                        self.take(1)?;
                        self.values[base + i].push(f)
                    }
                    _ => {}
                }
                continue;
            }
            match op {
                AggOp::Sum => (a.value, a.comp) = kahan_add(f, a.value, a.comp),
                AggOp::Avg => {
                    a.count += 1.0;
                    if !a.incremental_mean {
                        let (v, c) = kahan_add(f, a.value, a.comp);
                        if !v.is_infinite() {
                            a.value = v;
                            a.comp = c;
                            continue;
                        }
                        a.incremental_mean = true;
                        a.mean = a.value / (a.count - 1.0);
                        a.comp /= a.count - 1.0;
                    }
                    let q = (a.count - 1.0) / a.count;
                    (a.mean, a.comp) = kahan_add(f / a.count, q * a.mean, q * a.comp);
                }
                AggOp::Count => a.count += 1.0,
                AggOp::Max if a.value < f || a.value.is_nan() => a.value = f,
                AggOp::Min if a.value > f || a.value.is_nan() => a.value = f,
                AggOp::Stddev | AggOp::Stdvar => {
                    a.count += 1.0;
                    let delta = f - a.mean;
                    a.mean += delta / a.count;
                    a.value += delta * (f - a.mean);
                }
                AggOp::Quantile => {
                    self.take(1)?;
                    self.values[base + i].push(f)
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[allow(clippy::needless_range_loop)]
    fn finish(mut self, ev: &mut Evaluator<'_>, param: &[f64]) -> Result<Vec<Series>, QueryError> {
        let (op, steps) = (self.op, self.steps);
        let mut out = Vec::with_capacity(self.groups.len());
        for (g, (labels, drop_name)) in std::mem::take(&mut self.groups).into_iter().enumerate() {
            let mut s = Series::new(labels, steps);
            s.drop_name = drop_name;
            for i in 0..steps {
                let a = self.acc[g * steps + i];
                if !a.seen {
                    continue;
                }
                s.values[i] = match op {
                    AggOp::Sum => a.value + a.comp,
                    AggOp::Avg => {
                        if a.incremental_mean {
                            a.mean + a.comp
                        } else {
                            a.value / a.count + a.comp / a.count
                        }
                    }
                    AggOp::Count => a.count,
                    AggOp::Stdvar => a.value / a.count,
                    AggOp::Stddev => (a.value / a.count).sqrt(),
                    AggOp::Quantile => quantile(param[i], &mut self.values[g * steps + i]),
                    _ => a.value,
                };
            }
            if !s.is_empty() {
                ev.charge(s.cost())?;
                out.push(s);
            }
        }
        Ok(out)
    }
}

fn count_values(
    ev: &mut Evaluator<'_>,
    input: Vec<Series>,
    grouping: &Grouping,
    label: &str,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    let mut pending = 0usize;
    for s in &input {
        for (i, &f) in s.values.iter().enumerate() {
            if !is_present(f) {
                continue;
            }
            let mut b = s.labels.builder();
            b.set(label, &crate::format::format_float(f));
            let with_value = b.build();
            let key = if grouping.without {
                grouping.group_labels(&with_value)
            } else {
                let mut g = Grouping {
                    without: false,
                    labels: grouping.labels.clone(),
                };
                g.labels.push(label.to_string());
                g.group_labels(&with_value)
            };
            let g = match group_of.get(&key) {
                Some(&g) => g,
                None => {
                    pending = pending.saturating_add(slots_cost(steps));
                    ev.ensure_room(pending)?;
                    out.push(Series::new(key.clone(), steps));
                    group_of.insert(key, out.len() - 1);
                    out.len() - 1
                }
            };
            let slot = &mut out[g].values[i];
            *slot = if is_present(*slot) { *slot + 1.0 } else { 1.0 };
        }
    }
    ev.release_series(&input);
    Ok(out)
}

/// An element of a topk/bottomk selection: input series and its value.
#[derive(Clone, Copy)]
struct Elem {
    series: usize,
    value: f64,
}

/// Go's container/heap over `less`, so that ties resolve as upstream.
fn heap_up(h: &mut [Elem], mut j: usize, less: &impl Fn(&Elem, &Elem) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if i == j || !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Elem], i0: usize, less: &impl Fn(&Elem, &Elem) -> bool) {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

#[allow(clippy::needless_range_loop)]
fn select_k(
    ev: &mut Evaluator<'_>,
    op: AggOp,
    input: Vec<Series>,
    grouping: &Grouping,
    param: &[f64],
    grid: &Grid,
) -> Result<Vec<Series>, QueryError> {
    let steps = grid.len();
    if op == AggOp::LimitRatio {
        return limit_ratio(ev, input, param, steps);
    }
    if param.iter().any(|p| p.is_nan()) {
        return Err(QueryError::Execution("Parameter value is NaN".into()));
    }
    let max_k = param.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if max_k < 1.0 {
        return Ok(Vec::new());
    }
    if let Some(p) = param.iter().find(|p| **p >= 9.223_372_036_854_776e18) {
        return Err(QueryError::Execution(format!(
            "Scalar value {} overflows int64",
            crate::format::format_g(*p)
        )));
    }
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    let series_group: Vec<usize> = input
        .iter()
        .map(|s| {
            let key = grouping.group_labels(&s.labels);
            let n = group_of.len();
            *group_of.entry(key).or_insert(n)
        })
        .collect();
    let ngroups = group_of.len();
    // topk keeps the k largest in a min-heap (NaN lowest); bottomk the k
    // smallest in a max-heap (NaN highest).
    let top_less = |a: &Elem, b: &Elem| a.value.is_nan() || a.value < b.value;
    let bottom_less = |a: &Elem, b: &Elem| a.value.is_nan() || a.value > b.value;
    let mut heaps: Vec<Vec<Elem>> = vec![Vec::new(); ngroups];
    // Output: one series per selected input series; instant queries keep
    // the order upstream returns (groups in order, heap sorted).
    let mut out_of: HashMap<usize, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    for i in 0..steps {
        let k = (param[i] as i64).min(input.len() as i64);
        if k < 1 {
            continue;
        }
        let k = k as usize;
        heaps.iter_mut().for_each(Vec::clear);
        let mut done = vec![false; ngroups];
        let mut remaining = ngroups;
        for (si, s) in input.iter().enumerate() {
            let f = s.values[i];
            if !is_present(f) {
                continue;
            }
            let g = series_group[si];
            let h = &mut heaps[g];
            let e = Elem {
                series: si,
                value: f,
            };
            match op {
                AggOp::Topk => {
                    if h.len() < k {
                        h.push(e);
                        let n = h.len() - 1;
                        heap_up(h, n, &top_less);
                    } else if h[0].value < f || (h[0].value.is_nan() && !f.is_nan()) {
                        h[0] = e;
                        if k > 1 {
                            heap_down(h, 0, &top_less);
                        }
                    }
                }
                AggOp::Bottomk => {
                    if h.len() < k {
                        h.push(e);
                        let n = h.len() - 1;
                        heap_up(h, n, &bottom_less);
                    } else if h[0].value > f || (h[0].value.is_nan() && !f.is_nan()) {
                        h[0] = e;
                        if k > 1 {
                            heap_down(h, 0, &bottom_less);
                        }
                    }
                }
                _ => {
                    if done[g] {
                        continue;
                    }
                    h.push(e);
                    if h.len() == k {
                        done[g] = true;
                        remaining -= 1;
                        if remaining == 0 {
                            break;
                        }
                    }
                }
            }
        }
        // Group order is first appearance; within a group, the heap sorted
        // by the reverse of its order (stable, as Go's insertion sort on
        // small inputs).
        for g in 0..ngroups {
            let h = &mut heaps[g];
            match op {
                AggOp::Topk => h.sort_by(|a, b| rev_cmp(&top_less, a, b)),
                AggOp::Bottomk => h.sort_by(|a, b| rev_cmp(&bottom_less, a, b)),
                _ => {}
            }
            for e in h.iter() {
                let oi = *out_of.entry(e.series).or_insert_with(|| {
                    let src = &input[e.series];
                    let mut s = Series::new(src.labels.clone(), steps);
                    s.drop_name = src.drop_name;
                    out.push(s);
                    out.len() - 1
                });
                out[oi].values[i] = e.value;
            }
        }
    }
    ev.release_series(&input);
    Ok(out)
}

/// Sorting by `sort.Reverse(heap)`: a before b when less(b, a).
fn rev_cmp(less: &impl Fn(&Elem, &Elem) -> bool, a: &Elem, b: &Elem) -> std::cmp::Ordering {
    if less(b, a) {
        std::cmp::Ordering::Less
    } else if less(a, b) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

#[allow(clippy::needless_range_loop)]
fn limit_ratio(
    ev: &mut Evaluator<'_>,
    mut input: Vec<Series>,
    param: &[f64],
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    if param.iter().any(|p| p.is_nan()) {
        return Err(QueryError::Execution("Ratio value is NaN".into()));
    }
    let max = param.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = param.iter().cloned().fold(f64::INFINITY, f64::min);
    if max > 1.0 {
        ev.annotations.warn(format!(
            "PromQL warning: ratio value should be between -1 and 1, got {}, capping to 1",
            crate::format::format_g(max)
        ));
    }
    if min < -1.0 {
        ev.annotations.warn(format!(
            "PromQL warning: ratio value should be between -1 and 1, got {}, capping to -1",
            crate::format::format_g(min)
        ));
    }
    for s in &mut input {
        let offset = ratio_offset(&s.labels);
        for i in 0..steps {
            let r = param[i].clamp(-1.0, 1.0);
            let keep = if r >= 0.0 {
                offset < r
            } else {
                offset >= 1.0 + r
            };
            if r == 0.0 || !keep {
                s.values[i] = crate::series::absent();
            }
        }
    }
    input.retain(|s| !s.is_empty());
    Ok(input)
}

/// The position of a series in [0, 1] that `limit_ratio` compares with the
/// ratio: upstream's `HashRatioSampler.SampleOffset`, `labels.Hash()` divided
/// by `float64(math.MaxUint64)`. `labels.Hash()` (Prometheus's default
/// `stringlabels` build) is xxHash64 of the label set's encoding: per label
/// in name order, the name then the value, each after its length (one byte
/// below 255, else 255 and three bytes little-endian).
fn ratio_offset(l: &Labels) -> f64 {
    prometheus_labels_hash(l) as f64 / u64::MAX as f64
}

fn prometheus_labels_hash(l: &Labels) -> u64 {
    fn put(buf: &mut Vec<u8>, s: &str) {
        let n = s.len();
        if n < 255 {
            buf.push(n as u8);
        } else {
            buf.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
        }
        buf.extend_from_slice(s.as_bytes());
    }
    let mut buf = Vec::with_capacity(l.as_bytes().len() + 8);
    for label in l.iter() {
        put(&mut buf, label.name);
        put(&mut buf, label.value);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hash_is_prometheus_labels_hash() {
        // labels.Labels.Hash() of Prometheus 3.16.0 for the same sets.
        let long = "x".repeat(300);
        for (pairs, want) in [
            (
                vec![
                    ("__name__", "queue_depth"),
                    ("instance", "10.0.0.1:8080"),
                    ("job", "api"),
                ],
                15_802_075_488_993_719_699u64,
            ),
            (vec![], 17_241_709_254_077_376_921),
            (
                vec![("a", long.as_str()), ("b", "y")],
                8_992_964_008_069_771_034,
            ),
        ] {
            assert_eq!(prometheus_labels_hash(&Labels::from_pairs(&pairs)), want);
        }
    }
}
