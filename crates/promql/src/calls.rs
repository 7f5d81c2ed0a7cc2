//! Functions over instant vectors and scalars (everything but the range
//! functions, which live in `eval`).

use std::collections::HashMap;

use argus_model::labels::{Labels, METRIC_NAME};
use promql_parser::parser::{Call, Expr};
use regex::Regex;

use crate::error::QueryError;
use crate::eval::{Evaluator, Val, absent_labels, duplicate_labelset, has_duplicate_labels};
use crate::functions::histogram::{
    Bucket, MonotonicityFix, bucket_fraction, bucket_quantile_raw, forced_monotonicity_info,
};
use crate::functions::math::{DateFunc, MathFunc, round};
use crate::series::{Grid, Series, absent, is_present};

fn arg(call: &Call, i: usize) -> Result<&Expr, QueryError> {
    call.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        QueryError::BadData(format!(
            "missing argument {} in call to function {:?}",
            i + 1,
            call.func.name
        ))
    })
}

fn string_arg(call: &Call, i: usize) -> Result<String, QueryError> {
    let mut e = arg(call, i)?;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    match e {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(QueryError::BadData(format!(
            "expected string argument {} in call to function {:?}",
            i + 1,
            call.func.name
        ))),
    }
}

pub(crate) fn eval_instant_call(
    ev: &mut Evaluator<'_>,
    call: &Call,
    grid: &Grid,
) -> Result<Val, QueryError> {
    let name = call.func.name;
    let steps = grid.len();
    if let Some(f) = MathFunc::from_name(name) {
        let input = ev.eval_vector(arg(call, 0)?, grid)?;
        return map_values(ev, input, |v| f.apply(v)).map(Val::Vector);
    }
    if let Some(f) = DateFunc::from_name(name) {
        if call.args.args.is_empty() {
            let mut s = Series::new(Labels::empty(), steps);
            for (i, slot) in s.values.iter_mut().enumerate() {
                *slot = f.apply((grid.time(i) / 1000) as f64);
            }
            return Ok(Val::Vector(vec![s]));
        }
        let input = ev.eval_vector(arg(call, 0)?, grid)?;
        return map_values(ev, input, |v| f.apply(v)).map(Val::Vector);
    }
    match name {
        "time" => Ok(Val::Scalar(
            grid.times().map(|t| t as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps])),
        // Query-context functions (experimental upstream): constants of
        // the whole query, also inside subqueries.
        "start" => Ok(Val::Scalar(vec![ev.query_start as f64 / 1000.0; steps])),
        "end" => Ok(Val::Scalar(vec![ev.query_end as f64 / 1000.0; steps])),
        "range" => Ok(Val::Scalar(vec![
            (ev.query_end - ev.query_start) as f64
                / 1000.0;
            steps
        ])),
        "step" => Ok(Val::Scalar(vec![ev.query_step as f64 / 1000.0; steps])),
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(arg(call, 0)?, grid)?;
            let b = ev.eval_scalar(arg(call, 1)?, grid)?;
            let f = if name == "min_of" { go_min } else { go_max };
            Ok(Val::Scalar(
                a.iter().zip(b.iter()).map(|(x, y)| f(*x, *y)).collect(),
            ))
        }
        "vector" => {
            let v = ev.eval_scalar(arg(call, 0)?, grid)?;
            Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                drop_name: false,
                values: v,
            }]))
        }
        "scalar" => {
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            let mut out = vec![f64::NAN; steps];
            for (i, slot) in out.iter_mut().enumerate() {
                let mut found = None;
                let mut count = 0;
                for s in &input {
                    if is_present(s.values[i]) {
                        count += 1;
                        found = Some(s.values[i]);
                    }
                }
                if count == 1
                    && let Some(v) = found
                {
                    *slot = v;
                }
            }
            ev.release_series(&input);
            Ok(Val::Scalar(out))
        }
        "round" => {
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            let to = match call.args.args.get(1) {
                Some(e) => ev.eval_scalar(e, grid)?,
                None => vec![1.0; steps],
            };
            map_values_step(ev, input, |i, v| round(v, to[i])).map(Val::Vector)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            let (lo, hi) = match name {
                "clamp" => (
                    ev.eval_scalar(arg(call, 1)?, grid)?,
                    ev.eval_scalar(arg(call, 2)?, grid)?,
                ),
                "clamp_min" => (
                    ev.eval_scalar(arg(call, 1)?, grid)?,
                    vec![f64::INFINITY; steps],
                ),
                _ => (
                    vec![f64::NEG_INFINITY; steps],
                    ev.eval_scalar(arg(call, 1)?, grid)?,
                ),
            };
            let mut input = input;
            for s in &mut input {
                for (i, slot) in s.values.iter_mut().enumerate() {
                    if !is_present(*slot) {
                        continue;
                    }
                    *slot = if name == "clamp" && hi[i] < lo[i] {
                        absent()
                    } else {
                        go_max(lo[i], go_min(hi[i], *slot))
                    };
                }
            }
            input.retain(|s| !s.is_empty());
            map_values(ev, input, |v| v).map(Val::Vector)
        }
        "timestamp" => {
            let a = unwrap_paren(arg(call, 0)?);
            let input = match a {
                Expr::VectorSelector(vs) => ev.eval_vector_selector(vs, grid, true)?,
                _ => {
                    let mut input = ev.eval_vector(a, grid)?;
                    for s in &mut input {
                        for (i, slot) in s.values.iter_mut().enumerate() {
                            if is_present(*slot) {
                                *slot = grid.time(i) as f64 / 1000.0;
                            }
                        }
                    }
                    input
                }
            };
            map_values(ev, input, |v| v).map(Val::Vector)
        }
        "absent" => {
            let a = arg(call, 0)?;
            let input = ev.eval_vector(a, grid)?;
            let mut s = Series::new(absent_labels(unwrap_paren(a)), steps);
            for i in 0..steps {
                if !input.iter().any(|x| is_present(x.values[i])) {
                    s.values[i] = 1.0;
                }
            }
            ev.release_series(&input);
            s.drop_name = true;
            if s.is_empty() {
                Ok(Val::Vector(Vec::new()))
            } else {
                Ok(Val::Vector(vec![s]))
            }
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            let mut input = ev.eval_vector(arg(call, 0)?, grid)?;
            if !grid.is_instant() {
                let pos = ev.position(name, None);
                ev.annotations.warn(format!(
                    "PromQL warning: sort is ineffective for range queries since results are always ordered by labels{pos}"
                ));
                return Ok(Val::Vector(input));
            }
            match name {
                "sort" => input.sort_by(|a, b| value_order(a.values[0], b.values[0])),
                "sort_desc" => input.sort_by(|a, b| {
                    value_order(b.values[0], a.values[0]).then(nan_last(a.values[0], b.values[0]))
                }),
                _ => {
                    let mut names = Vec::new();
                    for i in 1..call.args.args.len() {
                        names.push(string_arg(call, i)?);
                    }
                    let desc = name == "sort_by_label_desc";
                    input.sort_by(|a, b| {
                        let mut ord = std::cmp::Ordering::Equal;
                        for n in &names {
                            let (x, y) = (a.labels.get_or_empty(n), b.labels.get_or_empty(n));
                            if x != y {
                                ord = natural_cmp(x, y);
                                break;
                            }
                        }
                        if ord == std::cmp::Ordering::Equal {
                            ord = a.labels.cmp(&b.labels);
                        }
                        if desc { ord.reverse() } else { ord }
                    });
                }
            }
            Ok(Val::Vector(input))
        }
        "label_replace" => {
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            let dst = string_arg(call, 1)?;
            let repl = string_arg(call, 2)?;
            let src = string_arg(call, 3)?;
            let re_text = string_arg(call, 4)?;
            let re = Regex::new(&format!("^(?s:{re_text})$")).map_err(|_| {
                QueryError::Execution(format!(
                    "invalid regular expression in label_replace(): {re_text}"
                ))
            })?;
            if !valid_label_name(&dst)
                || crate::position::arg_has_invalid_utf8_escape(ev.query, name, 1)
            {
                return Err(QueryError::Execution(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let mut input = input;
            for s in &mut input {
                let value = s.labels.get_or_empty(&src);
                if let Some(caps) = re.captures(value) {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    let mut b = s.labels.builder();
                    b.set(&dst, &res);
                    s.labels = b.build();
                    if dst == METRIC_NAME {
                        s.drop_name = false;
                    }
                }
            }
            ev.merge_same_labels(input).map(Val::Vector)
        }
        "label_join" => {
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            let dst = string_arg(call, 1)?;
            let sep = string_arg(call, 2)?;
            let mut srcs = Vec::new();
            for i in 3..call.args.args.len() {
                let src = string_arg(call, i)?;
                if !valid_label_name(&src) {
                    return Err(QueryError::Execution(format!(
                        "invalid source label name in label_join(): {src}"
                    )));
                }
                srcs.push(src);
            }
            if !valid_label_name(&dst) {
                return Err(QueryError::Execution(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let mut input = input;
            for s in &mut input {
                let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get_or_empty(n)).collect();
                let joined = joined.join(&sep);
                let mut b = s.labels.builder();
                b.set(&dst, &joined);
                s.labels = b.build();
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
            ev.merge_same_labels(input).map(Val::Vector)
        }
        "histogram_quantile" | "histogram_quantiles" => {
            let multi = name == "histogram_quantiles";
            // histogram_quantile(q, v) or histogram_quantiles(v, "label", q...).
            let (hist_arg, q_args): (usize, Vec<usize>) = if multi {
                (0, (2..call.args.args.len()).collect())
            } else {
                (1, vec![0])
            };
            let mut qs = Vec::with_capacity(q_args.len());
            for &i in &q_args {
                let q = ev.eval_scalar(arg(call, i)?, grid)?;
                if let Some(bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                    let pos = ev.position(name, Some(i));
                    ev.annotations.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                        crate::format::format_g(*bad)
                    ));
                }
                qs.push(q);
            }
            let label = if multi {
                Some(string_arg(call, 1)?)
            } else {
                None
            };
            let input = ev.eval_vector(arg(call, hist_arg)?, grid)?;
            let outputs: Vec<Option<(String, String)>> = qs
                .iter()
                .map(|q| {
                    label.as_ref().map(|l| {
                        (
                            l.clone(),
                            crate::format::format_openmetrics_float(
                                q.first().copied().unwrap_or(f64::NAN),
                            ),
                        )
                    })
                })
                .collect();
            let mut fix = MonotonicityInfo::default();
            let out = classic_histogram(
                ev,
                call,
                hist_arg,
                input,
                grid,
                &outputs,
                |_, i, o, buckets, name| {
                    if buckets.is_empty() {
                        return None;
                    }
                    let (v, f) = bucket_quantile_raw(qs[o][i], buckets);
                    if let Some(f) = f
                        && f.forced_monotonic
                    {
                        fix.record(name, &f, grid.time(i));
                    }
                    Some(v)
                },
            )?;
            if let Some(text) = fix.text(ev.position(name, Some(hist_arg))) {
                ev.annotations.info(text);
            }
            Ok(Val::Vector(out))
        }
        "histogram_fraction" => {
            let lower = ev.eval_scalar(arg(call, 0)?, grid)?;
            let upper = ev.eval_scalar(arg(call, 1)?, grid)?;
            let input = ev.eval_vector(arg(call, 2)?, grid)?;
            classic_histogram(
                ev,
                call,
                2,
                input,
                grid,
                &[None],
                |ev, i, _, buckets, name| {
                    bucket_fraction(lower[i], upper[i], buckets, name, &mut ev.annotations)
                },
            )
            .map(Val::Vector)
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            // Native histograms only; float samples are ignored.
            let input = ev.eval_vector(arg(call, 0)?, grid)?;
            ev.release_series(&input);
            Ok(Val::Vector(Vec::new()))
        }
        _ => Err(QueryError::BadData(format!(
            "function {name:?} is not supported"
        ))),
    }
}

fn unwrap_paren(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Ascending with NaN last.
fn value_order(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Keeps NaN last when the value order is reversed.
fn nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => std::cmp::Ordering::Equal,
    }
}

/// Natural order: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let xn = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let yn = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let xs = trim_zeros(&x[..xn]);
                let ys = trim_zeros(&y[..yn]);
                let ord = xs.len().cmp(&ys.len()).then(xs.cmp(ys));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[xn..];
                y = &y[yn..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b'0').count();
    &s[n.min(s.len().saturating_sub(1))..]
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}

/// Applies `f` to every present value, dropping the metric name.
fn map_values(
    ev: &mut Evaluator<'_>,
    input: Vec<Series>,
    f: impl Fn(f64) -> f64,
) -> Result<Vec<Series>, QueryError> {
    map_values_step(ev, input, |_, v| f(v))
}

fn map_values_step(
    ev: &mut Evaluator<'_>,
    mut input: Vec<Series>,
    f: impl Fn(usize, f64) -> f64,
) -> Result<Vec<Series>, QueryError> {
    for s in &mut input {
        for (i, slot) in s.values.iter_mut().enumerate() {
            if is_present(*slot) {
                *slot = f(i, *slot);
            }
        }
        ev.mark_drop_name(s);
    }
    if !ev.opts.delayed_name_removal && has_duplicate_labels(&input) {
        return ev.merge_same_labels(input);
    }
    Ok(input)
}

/// Forced-monotonicity fixes of `histogram_quantile`, merged over steps
/// into one info as upstream reports it.
#[derive(Default)]
struct MonotonicityInfo {
    name: Option<String>,
    count: usize,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
    min_t: i64,
    max_t: i64,
}

impl MonotonicityInfo {
    fn record(&mut self, name: &str, f: &MonotonicityFix, t: i64) {
        if self.name.is_none() {
            self.name = Some(name.to_string());
            self.min_bucket = f.min_bucket;
            self.max_bucket = f.max_bucket;
            self.max_diff = f.max_diff;
            self.min_t = t;
            self.max_t = t;
            return;
        }
        self.count += 1;
        self.min_bucket = self.min_bucket.min(f.min_bucket);
        self.max_bucket = self.max_bucket.max(f.max_bucket);
        self.max_diff = self.max_diff.max(f.max_diff);
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
    }

    fn text(&self, pos: String) -> Option<String> {
        let name = self.name.as_ref()?;
        let time = |t: i64| argus_model::time::format_rfc3339(t.div_euclid(1000) * 1000);
        Some(format!(
            "{}, from buckets {} to {}, with a max diff of {}, over {} samples from {} to {}{pos}",
            forced_monotonicity_info(name),
            crate::format::format_g(self.min_bucket),
            crate::format::format_g(self.max_bucket),
            crate::format::format_g2(self.max_diff),
            self.count + 1,
            time(self.min_t),
            time(self.max_t),
        ))
    }
}

/// Groups `le` buckets into histograms (all labels but `le`) and applies
/// `f(step, output, buckets, name)` per histogram, step and output. Each
/// output may add a label (`histogram_quantiles`).
fn classic_histogram(
    ev: &mut Evaluator<'_>,
    call: &Call,
    hist_arg: usize,
    input: Vec<Series>,
    grid: &Grid,
    outputs: &[Option<(String, String)>],
    mut f: impl FnMut(&mut Evaluator<'_>, usize, usize, &mut Vec<Bucket>, &str) -> Option<f64>,
) -> Result<Vec<Series>, QueryError> {
    let steps = grid.len();
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    for (si, s) in input.iter().enumerate() {
        let le = s.labels.get_or_empty("le");
        let Ok(bound) = argus_model::strconv::parse_float(le) else {
            let name = if ev.opts.delayed_name_removal {
                s.labels.get_or_empty(METRIC_NAME)
            } else {
                ""
            };
            let mut text = format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}"
            );
            if !name.is_empty() {
                text.push_str(&format!(" for metric name {name:?}"));
            }
            text.push_str(&ev.position(call.func.name, Some(hist_arg)));
            ev.annotations.warn(text);
            continue;
        };
        let mut b = s.labels.builder();
        b.del("le");
        let key = b.build();
        let g = match group_of.get(&key) {
            Some(&g) => g,
            None => {
                groups.push((key.clone(), Vec::new()));
                group_of.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        groups[g].1.push((bound, si));
    }
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut out: Vec<Series> = Vec::with_capacity(groups.len() * outputs.len());
    for (o, extra) in outputs.iter().enumerate() {
        for (labels, members) in &groups {
            let name = if ev.opts.delayed_name_removal {
                labels.get_or_empty(METRIC_NAME).to_string()
            } else {
                String::new()
            };
            let labels = match extra {
                Some((l, v)) => {
                    let mut b = labels.builder();
                    b.set(l, v);
                    b.build()
                }
                None => labels.clone(),
            };
            let mut series = Series::new(labels, steps);
            for i in 0..steps {
                buckets.clear();
                for (bound, si) in members.iter() {
                    let v = input[*si].values[i];
                    if is_present(v) {
                        buckets.push(Bucket {
                            upper_bound: *bound,
                            count: v,
                        });
                    }
                }
                if buckets.is_empty() {
                    continue;
                }
                if let Some(v) = f(ev, i, o, &mut buckets, &name) {
                    series.values[i] = v;
                }
            }
            if !series.is_empty() {
                ev.mark_drop_name(&mut series);
                out.push(series);
            }
        }
    }
    ev.release_series(&input);
    if !ev.opts.delayed_name_removal && has_duplicate_labels(&out) {
        return Err(duplicate_labelset());
    }
    Ok(out)
}
