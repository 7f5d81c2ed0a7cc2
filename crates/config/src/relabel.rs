//! Relabeling: `relabel_configs`, `metric_relabel_configs`,
//! `write_relabel_configs` and `alert_relabel_configs`, with Prometheus's
//! defaults (`separator: ;`, `regex: (.*)`, `replacement: $1`,
//! `action: replace`) and every action.

use argus_model::Labels;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// One relabel rule, validated.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    /// Default `;`.
    pub separator: String,
    /// Anchored at both ends as Prometheus does (`^(?s:<regex>)$`); default `(.*)`.
    pub regex: Regex,
    pub modulus: u64,
    pub target_label: String,
    /// Default `$1`.
    pub replacement: String,
    pub action: RelabelAction,
}

/// A compiled, fully anchored regular expression that remembers how it was
/// written (for equality and for showing the config back).
#[derive(Debug, Clone)]
pub struct Regex {
    pub source: String,
    pub compiled: regex::Regex,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl PartialEq for RelabelConfig {
    fn eq(&self, other: &Self) -> bool {
        self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex == other.regex
            && self.modulus == other.modulus
            && self.target_label == other.target_label
            && self.replacement == other.replacement
            && self.action == other.action
    }
}

/// Applies `configs` in order to `labels`. `None` when a rule drops the
/// set; otherwise the resulting labels (labels with an empty value are
/// removed, as in Prometheus).
pub fn relabel(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let _ = (labels, configs);
    todo!("implemented by the config work")
}
