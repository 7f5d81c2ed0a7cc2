//! Prometheus's rule-file checks (`rulefmt.RuleGroups.Validate`), in its
//! words, on the decoded groups; and the conversion to typed groups.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::decode::{RawGroup, RawRule, Scalar};
use crate::{Context, MAX_ERRORS, NameValidation, Problem, Rule, RuleGroup, RuleKind, quote};

const METRIC_NAME_LABEL: &str = "__name__";

fn valid_metric_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => {
            let mut chars = name.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
    }
}

fn valid_label_name(name: &str, names: NameValidation) -> bool {
    argus_config::relabel::is_valid_label_name(name, names == NameValidation::Legacy)
}

/// Collects problems up to [`MAX_ERRORS`]; past it, notes that more were
/// left out and refuses further ones.
struct Problems<'a> {
    list: &'a mut Vec<Problem>,
}

impl Problems<'_> {
    fn full(&self) -> bool {
        self.list.len() >= MAX_ERRORS
    }

    fn push(&mut self, p: Problem) {
        if !self.full() {
            self.list.push(p);
        }
    }
}

/// Validates `groups`, appending what is wrong to `problems`.
pub(crate) fn validate(groups: &[RawGroup], names: NameValidation, problems: &mut Vec<Problem>) {
    let mut out = Problems { list: problems };
    let mut seen = HashSet::new();
    for g in groups {
        if out.full() {
            break;
        }
        let name = &g.name.text;
        if name.is_empty() {
            out.push(Problem::new(g.pos, "Groupname must not be empty".into()));
        }
        if !seen.insert(name.as_str()) {
            out.push(Problem::new(
                g.pos,
                format!("groupname: \"{name}\" is repeated in the same file"),
            ));
        }
        for (k, _) in &g.labels {
            if !valid_label_name(&k.text, names) || k.text == METRIC_NAME_LABEL {
                let mut p = Problem::new(k.pos, format!("invalid label name: {}", k.text));
                p.context = Context::Group(name.clone());
                out.push(p);
            }
        }
        for (i, r) in g.rules.iter().enumerate() {
            if out.full() {
                break;
            }
            validate_rule(name, i + 1, r, names, &mut out);
        }
    }
}

fn set(s: &Option<Scalar>) -> Option<&Scalar> {
    s.as_ref().filter(|s| !s.text.is_empty())
}

fn validate_rule(
    group: &str,
    index: usize,
    r: &RawRule,
    names: NameValidation,
    out: &mut Problems,
) {
    let record = set(&r.record);
    let alert = set(&r.alert);
    let name = alert.or(record).map(|s| s.text.clone()).unwrap_or_default();
    let context = Context::Rule {
        group: group.to_string(),
        index,
        name,
    };
    let mut push = |pos, alt_pos, message: String| {
        out.push(Problem {
            pos,
            alt_pos,
            context: context.clone(),
            message,
        })
    };
    // Where a field that is missing would have been: the rule itself.
    let record_pos = r.record.as_ref().and_then(|s| s.pos).or(r.pos);
    let alert_pos = r.alert.as_ref().and_then(|s| s.pos);

    match (record, alert) {
        (Some(rec), Some(al)) => push(
            rec.pos,
            al.pos,
            "only one of 'record' and 'alert' must be set".into(),
        ),
        (None, None) => push(
            record_pos,
            alert_pos,
            "one of 'record' or 'alert' must be set".into(),
        ),
        _ => {}
    }

    match set(&r.expr) {
        None => {
            let pos = r.expr.as_ref().and_then(|s| s.pos).or(r.pos);
            push(pos, None, "field 'expr' must be set in rule".into());
        }
        Some(expr) => {
            if let Err(e) = argus_promql::validate_expr(&expr.text) {
                push(expr.pos, None, format!("could not parse expression: {e}"));
            }
        }
    }

    if let Some(rec) = record {
        if !r.annotations.is_empty() {
            push(
                rec.pos,
                None,
                "invalid field 'annotations' in recording rule".into(),
            );
        }
        if r.for_.value.is_some_and(|d| !d.is_zero()) {
            push(
                rec.pos,
                None,
                "invalid field 'for' in recording rule".into(),
            );
        }
        if r.keep_firing_for.value.is_some_and(|d| !d.is_zero()) {
            push(
                rec.pos,
                None,
                "invalid field 'keep_firing_for' in recording rule".into(),
            );
        }
        if !valid_metric_name(&rec.text, names) {
            push(
                rec.pos,
                None,
                format!("invalid recording rule name: {}", rec.text),
            );
        }
        // A common mistake: a selector where the name belongs.
        if rec.text.contains(['{', '}']) {
            push(
                rec.pos,
                None,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    rec.text
                ),
            );
        }
    }

    for (k, _) in &r.labels {
        if !valid_label_name(&k.text, names) || k.text == METRIC_NAME_LABEL {
            push(k.pos, None, format!("invalid label name: {}", k.text));
        }
    }
    for (k, _) in &r.annotations {
        if !valid_label_name(&k.text, names) {
            push(k.pos, None, format!("invalid annotation name: {}", k.text));
        }
    }

    // Templates are only expanded for alerts.
    if let Some(al) = alert {
        for (what, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, v) in map {
                if let Err(e) = crate::template::check(&v.text, &al.text) {
                    push(v.pos, None, format!("{what} {}: {e}", quote(&k.text)));
                }
            }
        }
    }
}

fn to_map(pairs: &[(Scalar, Scalar)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.text.clone(), v.text.clone()))
        .collect()
}

/// The typed groups of a file that validated.
pub(crate) fn typed(groups: Vec<RawGroup>) -> Vec<RuleGroup> {
    groups
        .into_iter()
        .map(|g| RuleGroup {
            labels: to_map(&g.labels),
            rules: g.rules.iter().map(typed_rule).collect(),
            name: g.name.text,
            // Zero means the global evaluation interval, as unset.
            interval: g.interval.value.filter(|d| !d.is_zero()),
            query_offset: g.query_offset.value,
            limit: g.limit,
        })
        .collect()
}

fn typed_rule(r: &RawRule) -> Rule {
    let kind = match set(&r.alert) {
        Some(alert) => RuleKind::Alerting {
            alert: alert.text.clone(),
            for_: r.for_.value.unwrap_or(Duration::ZERO),
            keep_firing_for: r.keep_firing_for.value.unwrap_or(Duration::ZERO),
            annotations: to_map(&r.annotations),
        },
        None => RuleKind::Recording {
            record: set(&r.record).map(|s| s.text.clone()).unwrap_or_default(),
        },
    };
    Rule {
        kind,
        expr: set(&r.expr).map(|s| s.text.clone()).unwrap_or_default(),
        labels: to_map(&r.labels),
    }
}
