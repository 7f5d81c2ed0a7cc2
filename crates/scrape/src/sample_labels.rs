//! The labels a scraped series is stored with: exposed labels merged with
//! the target's (`honor_labels`), then metric relabeling and label limits.

use argus_config::relabel::{RelabelConfig, relabel};
use argus_model::{Labels, LabelsBuilder};

const EXPORTED_PREFIX: &str = "exported_";

/// Label limits of a job; 0 means no limit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LabelLimits {
    pub labels: u64,
    pub name_length: u64,
    pub value_length: u64,
}

/// Merges the target labels into `exposed`. With `honor_labels` exposed
/// labels win; without, target labels win and each conflicting exposed
/// label is kept as `exported_<name>` (more prefixes until free).
pub(crate) fn merge_target_labels(exposed: &Labels, target: &Labels, honor_labels: bool) -> Labels {
    if target.is_empty() {
        return exposed.clone();
    }
    let mut b = LabelsBuilder::new();
    for l in exposed.iter() {
        b.set(l.name, l.value);
    }
    if honor_labels {
        for l in target.iter() {
            if exposed.get(l.name).is_none() {
                b.set(l.name, l.value);
            }
        }
        return b.build();
    }
    let mut conflicts: Vec<(&str, &str)> = Vec::new();
    for l in target.iter() {
        if let Some(v) = exposed.get(l.name) {
            conflicts.push((l.name, v));
        }
        b.set(l.name, l.value);
    }
    // Shorter names first, as upstream, so `exported_x` exposed next to a
    // conflicting `x` ends up as `exported_exported_x` deterministically.
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts {
        let mut new_name = name.to_string();
        loop {
            new_name.insert_str(0, EXPORTED_PREFIX);
            if b.get(&new_name).unwrap_or("").is_empty() {
                b.set(&new_name, value);
                break;
            }
        }
    }
    b.build()
}

/// Applies metric relabeling; `None` drops the series.
pub(crate) fn metric_relabel(labels: Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    if configs.is_empty() {
        return Some(labels);
    }
    relabel(&labels, configs).filter(|l| !l.is_empty())
}

/// Upstream's label limit errors, which fail the whole scrape.
pub(crate) fn check_label_limits(labels: &Labels, limits: &LabelLimits) -> Result<(), String> {
    let metric = truncate(labels.get_or_empty("__name__"));
    if limits.labels > 0 {
        let n = labels.len();
        if n as u64 > limits.labels {
            return Err(format!(
                "label_limit exceeded (metric: {metric}, number of labels: {n}, limit: {})",
                limits.labels
            ));
        }
    }
    if limits.name_length == 0 && limits.value_length == 0 {
        return Ok(());
    }
    for l in labels.iter() {
        if limits.name_length > 0 && l.name.len() as u64 > limits.name_length {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                truncate(l.name),
                l.name.len(),
                limits.name_length
            ));
        }
        if limits.value_length > 0 && l.value.len() as u64 > limits.value_length {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {}, limit: {})",
                truncate(l.name),
                truncate(l.value),
                l.value.len(),
                limits.value_length
            ));
        }
    }
    Ok(())
}

/// Go's `%.50s`: at most 50 characters.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(50) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    #[test]
    fn target_labels_win_and_conflicts_are_exported() {
        let exposed = l(&[
            ("__name__", "m"),
            ("job", "exposed"),
            ("exported_job", "older"),
            ("x", "1"),
        ]);
        let target = l(&[("job", "j"), ("instance", "i")]);
        let got = merge_target_labels(&exposed, &target, false);
        assert_eq!(
            got.to_string(),
            r#"m{exported_exported_job="exposed", exported_job="older", instance="i", job="j", x="1"}"#
        );
    }

    #[test]
    fn honored_exposed_labels_win() {
        let exposed = l(&[("__name__", "m"), ("job", "exposed")]);
        let target = l(&[("job", "j"), ("instance", "i")]);
        let got = merge_target_labels(&exposed, &target, true);
        assert_eq!(got.to_string(), r#"m{instance="i", job="exposed"}"#);
    }

    #[test]
    fn limits_fail_with_upstream_messages() {
        let labels = l(&[("__name__", "m"), ("a", "12345"), ("bb", "1")]);
        let e = check_label_limits(
            &labels,
            &LabelLimits {
                labels: 2,
                ..Default::default()
            },
        );
        assert_eq!(
            e,
            Err("label_limit exceeded (metric: m, number of labels: 3, limit: 2)".to_string())
        );
        let e = check_label_limits(
            &labels,
            &LabelLimits {
                value_length: 4,
                ..Default::default()
            },
        );
        assert!(
            matches!(e, Err(m) if m.starts_with("label_value_length_limit exceeded (metric: m, label name: a, value: \"12345\""))
        );
        let e = check_label_limits(
            &labels,
            &LabelLimits {
                name_length: 1,
                ..Default::default()
            },
        );
        assert!(matches!(e, Err(m) if m.contains("label name: __name__")));
        assert!(check_label_limits(&labels, &LabelLimits::default()).is_ok());
    }
}
