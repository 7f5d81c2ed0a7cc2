//! Binary operators: arithmetic, comparison, set operators and vector
//! matching, with Prometheus's label and error semantics.

use std::collections::HashMap;

use argus_model::labels::{Labels, METRIC_NAME};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::error::QueryError;
use crate::eval::{Evaluator, Val, duplicate_labelset};
use crate::series::{Grid, Series, absent, is_present, slots_cost};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    fn parse(op: &str) -> Option<BinOp> {
        Some(match op {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            "atan2" => BinOp::Atan2,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            ">" => BinOp::Gt,
            "<" => BinOp::Lt,
            ">=" => BinOp::Ge,
            "<=" => BinOp::Le,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Arithmetic changes what the metric is, so its name goes.
    fn changes_metric(self) -> bool {
        matches!(
            self,
            BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Mod
                | BinOp::Pow
                | BinOp::Atan2
        )
    }

    /// The arithmetic result, or for comparisons whether to keep `l`.
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            BinOp::Add => (l + r, true),
            BinOp::Sub => (l - r, true),
            BinOp::Mul => (l * r, true),
            BinOp::Div => (l / r, true),
            BinOp::Mod => (go_mod(l, r), true),
            BinOp::Pow => (l.powf(r), true),
            BinOp::Atan2 => (l.atan2(r), true),
            BinOp::Eq => (l, l == r),
            BinOp::Ne => (l, l != r),
            BinOp::Gt => (l, l > r),
            BinOp::Lt => (l, l < r),
            BinOp::Ge => (l, l >= r),
            BinOp::Le => (l, l <= r),
            BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
        }
    }
}

/// Go's `math.Mod`: the result has the sign of `x`, as Rust's `%`.
fn go_mod(x: f64, y: f64) -> f64 {
    x % y
}

fn scalar_op(op: BinOp, l: f64, r: f64) -> f64 {
    let (v, keep) = op.apply(l, r);
    if op.is_comparison() {
        if keep { 1.0 } else { 0.0 }
    } else {
        v
    }
}

pub(crate) fn eval_binary(
    ev: &mut Evaluator<'_>,
    b: &BinaryExpr,
    grid: &Grid,
) -> Result<Val, QueryError> {
    let op_text = b.op.to_string();
    let op = BinOp::parse(&op_text)
        .ok_or_else(|| QueryError::BadData(format!("unknown binary operator {op_text:?}")))?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, grid)?;
    // A scalar left side is held while the right side is evaluated.
    let held_scalar = match &lhs {
        Val::Scalar(v) => slots_cost(v.len()),
        _ => 0,
    };
    ev.charge(held_scalar)?;
    let rhs = ev.eval(&b.rhs, grid);
    ev.release(held_scalar);
    let rhs = rhs?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(r.iter())
                .map(|(a, b)| scalar_op(op, *a, *b))
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => {
            vector_scalar(ev, op, v, &s, false, return_bool).map(Val::Vector)
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            vector_scalar(ev, op, v, &s, true, return_bool).map(Val::Vector)
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let matching = Matching::from_expr(b);
            let out = if op.is_set() {
                set_op(ev, op, l, r, &matching, grid.len())?
            } else {
                vector_vector(ev, op, l, r, &matching, return_bool, grid.len())?
            };
            Ok(Val::Vector(out))
        }
        _ => Err(QueryError::BadData(format!(
            "binary expression must contain only scalar and instant vector types in {b}"
        ))),
    }
}

fn vector_scalar(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    mut series: Vec<Series>,
    scalar: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<Vec<Series>, QueryError> {
    let drop = op.changes_metric() || return_bool;
    for s in &mut series {
        for (slot, sv) in s.values.iter_mut().zip(scalar.iter()) {
            if !is_present(*slot) {
                continue;
            }
            let vv = *slot;
            let (l, r) = if swap { (*sv, vv) } else { (vv, *sv) };
            let (mut value, keep) = op.apply(l, r);
            if op.is_comparison() {
                // The vector's value is kept even when it is the right side.
                value = vv;
            }
            *slot = if return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                value
            } else {
                absent()
            };
        }
        if drop {
            ev.mark_drop_name(s);
        }
    }
    series.retain(|s| !s.is_empty());
    ev.merge_same_labels(series)
}

/// How two vectors are matched: by the signature of `on` labels, or of all
/// labels but `__name__` and the `ignoring` ones.
pub(crate) struct Matching {
    on: bool,
    labels: Vec<String>,
    card: Card,
    include: Vec<String>,
    /// `fill_left(v)` / `fill(v)`: stands in for a missing left sample.
    fill_lhs: Option<f64>,
    /// `fill_right(v)` / `fill(v)`: stands in for a missing right sample.
    fill_rhs: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn from_expr(b: &BinaryExpr) -> Matching {
        let mut m = Matching {
            on: false,
            labels: Vec::new(),
            card: Card::OneToOne,
            include: Vec::new(),
            fill_lhs: None,
            fill_rhs: None,
        };
        if let Some(modifier) = &b.modifier {
            m.fill_lhs = modifier.fill_values.lhs;
            m.fill_rhs = modifier.fill_values.rhs;
            match &modifier.matching {
                Some(LabelModifier::Include(l)) => {
                    m.on = true;
                    m.labels = l.labels.clone();
                }
                Some(LabelModifier::Exclude(l)) => m.labels = l.labels.clone(),
                None => {}
            }
            m.card = match &modifier.card {
                VectorMatchCardinality::OneToOne => Card::OneToOne,
                VectorMatchCardinality::ManyToOne(l) => {
                    m.include = l.labels.clone();
                    Card::ManyToOne
                }
                VectorMatchCardinality::OneToMany(l) => {
                    m.include = l.labels.clone();
                    Card::OneToMany
                }
                VectorMatchCardinality::ManyToMany => Card::ManyToMany,
            };
        }
        m.labels.sort();
        m.labels.dedup();
        m
    }

    /// The labels a series is matched by.
    fn signature(&self, l: &Labels) -> Labels {
        let kept = l.iter().filter(|label| {
            let listed = self.labels.iter().any(|n| n == label.name);
            if self.on {
                listed
            } else {
                !listed && label.name != METRIC_NAME
            }
        });
        // A subset of sorted, unique labels is sorted and unique.
        Labels::from_sorted(kept.map(|p| (p.name, p.value))).unwrap_or_default()
    }
}

/// Ordinal of each series' signature, shared by both sides.
fn signature_ordinals(
    matching: &Matching,
    lhs: &[Series],
    rhs: &[Series],
) -> (Vec<usize>, Vec<usize>, Vec<Labels>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut sigs = Vec::new();
    let mut ord = |s: &Series| {
        let sig = matching.signature(&s.labels);
        *index.entry(sig.clone()).or_insert_with(|| {
            sigs.push(sig);
            sigs.len() - 1
        })
    };
    let l: Vec<usize> = lhs.iter().map(&mut ord).collect();
    let r: Vec<usize> = rhs.iter().map(&mut ord).collect();
    (l, r, sigs)
}

fn set_op(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    matching: &Matching,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let (lord, rord, sigs) = signature_ordinals(matching, &lhs, &rhs);
    let mut present = vec![u32::MAX; sigs.len()];
    let mut lhs = lhs;
    let mut rhs = rhs;
    match op {
        BinOp::And | BinOp::Unless => {
            for step in 0..steps {
                let stamp = step as u32;
                for (i, s) in rhs.iter().enumerate() {
                    if is_present(s.values[step]) {
                        present[rord[i]] = stamp;
                    }
                }
                for (i, s) in lhs.iter_mut().enumerate() {
                    let matched = present[lord[i]] == stamp;
                    let keep = if op == BinOp::And { matched } else { !matched };
                    if !keep {
                        s.values[step] = absent();
                    }
                }
            }
            ev.release_series(&rhs);
            lhs.retain(|s| !s.is_empty());
            Ok(lhs)
        }
        _ => {
            for step in 0..steps {
                let stamp = step as u32;
                for (i, s) in lhs.iter().enumerate() {
                    if is_present(s.values[step]) {
                        present[lord[i]] = stamp;
                    }
                }
                for (i, s) in rhs.iter_mut().enumerate() {
                    if present[rord[i]] == stamp {
                        s.values[step] = absent();
                    }
                }
            }
            rhs.retain(|s| !s.is_empty());
            lhs.extend(rhs);
            ev.merge_same_labels(lhs)
        }
    }
}

/// A sample taking part in one match: a real series of one side, or the
/// fill value standing in for a missing one (labelled by the signature).
#[derive(Clone, Copy)]
enum Side {
    Series(usize),
    Fill(usize),
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    ev: &mut Evaluator<'_>,
    op: BinOp,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    matching: &Matching,
    return_bool: bool,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    if matching.card == Card::ManyToMany {
        return Err(QueryError::BadData(
            "many-to-many only allowed for set operators".into(),
        ));
    }
    let no_fill = matching.fill_lhs.is_none() && matching.fill_rhs.is_none();
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && no_fill) {
        ev.release_series(&lhs);
        ev.release_series(&rhs);
        return Ok(Vec::new());
    }
    let swapped = matching.card == Card::OneToMany;
    let (many, one) = if swapped { (&rhs, &lhs) } else { (&lhs, &rhs) };
    let (many_ord, one_ord, sigs) = signature_ordinals(matching, many, one);
    let nsigs = sigs.len();
    let delayed = ev.opts.delayed_name_removal;
    let drop_now = (!delayed && return_bool) || op.changes_metric();

    // Per step: which one-side series holds each signature.
    let mut one_at: Vec<(u32, usize)> = vec![(u32::MAX, 0); nsigs];
    // Signatures matched at this step (one-to-one: at most once).
    let mut matched: Vec<u32> = vec![u32::MAX; nsigs];
    // Many-to-one: output series produced per signature at this step.
    let mut produced: HashMap<(usize, usize), u32> = HashMap::new();
    let mut pair_out: HashMap<(u8, usize, usize), usize> = HashMap::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    // Cost of the output series built so far, checked as each is added.
    let mut pending = 0usize;

    for step in 0..steps {
        if step % 64 == 0 {
            ev.check()?;
        }
        let stamp = step as u32;
        for (j, s) in one.iter().enumerate() {
            if !is_present(s.values[step]) {
                continue;
            }
            let ord = one_ord[j];
            if one_at[ord].0 == stamp {
                let other = &one[one_at[ord].1];
                return Err(duplicate_match_error(matching, s, other, swapped));
            }
            one_at[ord] = (stamp, j);
        }
        // The many side against the one side (or the right fill value),
        // then the unmatched one side against the left fill value.
        let mut pairs: Vec<(Side, Side, usize)> = Vec::new();
        for (k, s) in many.iter().enumerate() {
            if !is_present(s.values[step]) {
                continue;
            }
            let ord = many_ord[k];
            if one_at[ord].0 == stamp {
                pairs.push((Side::Series(k), Side::Series(one_at[ord].1), ord));
            } else if matching.fill_rhs.is_some() {
                pairs.push((Side::Series(k), Side::Fill(ord), ord));
            }
        }
        let mut hit = vec![
            false;
            if matching.fill_lhs.is_some() {
                nsigs
            } else {
                0
            }
        ];
        for &(_, _, ord) in &pairs {
            if let Some(h) = hit.get_mut(ord) {
                *h = true;
            }
        }
        if matching.fill_lhs.is_some() {
            for (j, s) in one.iter().enumerate() {
                if is_present(s.values[step]) && !hit[one_ord[j]] {
                    pairs.push((Side::Fill(one_ord[j]), Side::Series(j), one_ord[j]));
                }
            }
        }
        for (m, o, ord) in pairs {
            let (mv, m_labels) = match m {
                Side::Series(k) => (many[k].values[step], &many[k].labels),
                Side::Fill(ord) => (matching.fill_lhs.unwrap_or(f64::NAN), &sigs[ord]),
            };
            let (ov, o_labels) = match o {
                Side::Series(j) => (one[j].values[step], &one[j].labels),
                Side::Fill(ord) => (matching.fill_rhs.unwrap_or(f64::NAN), &sigs[ord]),
            };
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let (mut value, keep) = op.apply(l, r);
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            }
            let key = match (m, o) {
                (Side::Series(k), Side::Series(j)) => (0u8, k, j),
                (Side::Series(k), Side::Fill(_)) => (1, k, 0),
                (Side::Fill(_), Side::Series(j)) => (2, 0, j),
                (Side::Fill(a), Side::Fill(b)) => (3, a, b),
            };
            let oi = match pair_out.get(&key) {
                Some(&oi) => oi,
                None => {
                    let labels = result_labels(m_labels, o_labels, matching, drop_now);
                    let oi = match out_index.get(&labels) {
                        Some(&oi) => oi,
                        None => {
                            pending = pending.saturating_add(slots_cost(steps));
                            ev.ensure_room(pending)?;
                            let mut series = Series::new(labels.clone(), steps);
                            series.drop_name = return_bool;
                            out.push(series);
                            out_index.insert(labels, out.len() - 1);
                            out.len() - 1
                        }
                    };
                    pair_out.insert(key, oi);
                    oi
                }
            };
            if matching.card == Card::OneToOne {
                if matched[ord] == stamp {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                matched[ord] = stamp;
            } else {
                let seen = produced.entry((ord, oi)).or_insert(u32::MAX);
                if *seen == stamp {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                *seen = stamp;
            }
            if !keep && !return_bool {
                continue;
            }
            let slot = &mut out[oi].values[step];
            if is_present(*slot) {
                return Err(duplicate_labelset());
            }
            *slot = value;
        }
    }
    ev.release_series(&lhs);
    ev.release_series(&rhs);
    out.retain(|s| !s.is_empty());
    let n = out.iter().map(Series::cost).sum();
    ev.charge(n)?;
    Ok(out)
}

fn result_labels(many: &Labels, one: &Labels, matching: &Matching, drop_name: bool) -> Labels {
    let mut b = many.builder();
    if drop_name {
        for n in ["__name__", "__type__", "__unit__"] {
            b.del(n);
        }
    }
    if matching.card == Card::OneToOne {
        if matching.on {
            for l in many.iter() {
                if !matching.labels.iter().any(|n| n == l.name) {
                    b.del(l.name);
                }
            }
        } else {
            for n in &matching.labels {
                b.del(n);
            }
        }
    }
    for n in &matching.include {
        match one.get(n) {
            Some(v) if !v.is_empty() => {
                b.set(n, v);
            }
            _ => {
                b.del(n);
            }
        }
    }
    b.build()
}

fn duplicate_match_error(matching: &Matching, a: &Series, b: &Series, swapped: bool) -> QueryError {
    let side = if swapped { "left" } else { "right" };
    let group = matching.signature(&a.labels);
    let (mut d1, mut d2) = (
        crate::format::go_labels(&a.labels),
        crate::format::go_labels(&b.labels),
    );
    if d1 > d2 {
        std::mem::swap(&mut d1, &mut d2);
    }
    QueryError::Execution(format!(
        "found duplicate series for the match group {} on the {} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
        crate::format::go_labels(&group),
        side
    ))
}
