//! Relabel rules as written, checked exactly as Prometheus's
//! `relabel.Config.Validate`.

use serde::{Deserialize, Deserializer};

use super::{At, Ctx, Res, invalid};
use crate::relabel::{
    DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, Regex, RelabelAction, RelabelConfig,
    is_valid_label_name,
};

/// A regex compiled while deserialising, so a bad one is reported at its line.
pub(crate) struct RawRegex(Regex);

impl<'de> Deserialize<'de> for RawRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let regex = super::parse_scalar(d, "a regular expression", Regex::new)?;
        Ok(RawRegex(regex.unwrap_or_default()))
    }
}

pub(crate) struct RawAction(RelabelAction);

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let action = super::parse_scalar(d, "a relabel action", |name| {
            RelabelAction::parse(name).ok_or_else(|| {
                let names = RelabelAction::ALL.map(RelabelAction::as_str);
                let hint = crate::suggest::closest(&name.to_ascii_lowercase(), &names)
                    .map(|n| format!("; did you mean {n:?}?"))
                    .unwrap_or_else(|| format!(" (one of {})", names.join(", ")));
                format!("unknown relabel action {name:?}{hint}")
            })
        })?;
        Ok(RawAction(action.unwrap_or_default()))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawRelabelConfig {
    source_labels: Option<Vec<String>>,
    separator: Option<String>,
    regex: Option<RawRegex>,
    modulus: Option<u64>,
    target_label: Option<String>,
    replacement: Option<String>,
    action: Option<RawAction>,
}

/// Legacy target labels may still hold `$1` / `${name}` references.
fn valid_with_references(name: &str, legacy: bool) -> bool {
    if !legacy {
        return is_valid_label_name(name, false);
    }
    static LEGACY: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    LEGACY
        .get_or_init(|| regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name))
}

pub(crate) fn relabel_configs(
    raw: Option<Vec<RawRelabelConfig>>,
    at: &At,
    ctx: &Ctx,
) -> Res<Vec<RelabelConfig>> {
    raw.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| relabel_config(r, &at.index(i), ctx.legacy_names))
        .collect()
}

fn relabel_config(raw: RawRelabelConfig, at: &At, legacy: bool) -> Res<RelabelConfig> {
    use RelabelAction::*;
    let regex_given = raw.regex.is_some();
    let sources_given = raw.source_labels.is_some();
    let cfg = RelabelConfig {
        source_labels: raw.source_labels.unwrap_or_default(),
        separator: raw
            .separator
            .unwrap_or_else(|| DEFAULT_SEPARATOR.to_string()),
        regex: raw.regex.map(|r| r.0).unwrap_or_default(),
        modulus: raw.modulus.unwrap_or(0),
        target_label: raw.target_label.unwrap_or_default(),
        replacement: raw
            .replacement
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string()),
        action: raw.action.map(|a| a.0).unwrap_or_default(),
    };
    let action = cfg.action;
    let name = action.as_str();
    let target_at = at.key("target_label");
    if action == HashMod && cfg.modulus == 0 {
        return invalid(
            &at.key("modulus"),
            "relabel configuration for hashmod requires non-zero modulus",
        );
    }
    let needs_target = matches!(
        action,
        Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
    );
    if needs_target && cfg.target_label.is_empty() {
        return invalid(
            &target_at,
            format!("relabel configuration for {name} action requires 'target_label' value"),
        );
    }
    let bad_target = || {
        invalid(
            &target_at,
            format!(
                "{:?} is invalid 'target_label' for {name} action",
                cfg.target_label
            ),
        )
    };
    let templated = cfg.target_label.contains('$');
    if action == Replace && !templated && !is_valid_label_name(&cfg.target_label, legacy) {
        return bad_target();
    }
    if action == Replace && templated && !valid_with_references(&cfg.target_label, legacy) {
        return bad_target();
    }
    let plain_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
    if plain_target && !is_valid_label_name(&cfg.target_label, legacy) {
        return bad_target();
    }
    if plain_target && cfg.replacement != DEFAULT_REPLACEMENT {
        return invalid(
            &at.key("replacement"),
            format!("'replacement' can not be set for {name} action"),
        );
    }
    if action == LabelMap && !valid_with_references(&cfg.replacement, legacy) {
        return invalid(
            &at.key("replacement"),
            format!(
                "{:?} is invalid 'replacement' for {name} action",
                cfg.replacement
            ),
        );
    }
    if action == HashMod && !is_valid_label_name(&cfg.target_label, legacy) {
        return bad_target();
    }
    let others_default = cfg.modulus == 0
        && cfg.separator == DEFAULT_SEPARATOR
        && cfg.replacement == DEFAULT_REPLACEMENT;
    if matches!(action, KeepEqual | DropEqual) && (regex_given || !others_default) {
        return invalid(
            &at.key("action"),
            format!(
                "{name} action requires only 'source_labels' and `target_label`, and no other fields"
            ),
        );
    }
    if matches!(action, LabelDrop | LabelKeep)
        && (sources_given || !cfg.target_label.is_empty() || !others_default)
    {
        return invalid(
            &at.key("action"),
            format!("{name} action requires only 'regex', and no other fields"),
        );
    }
    Ok(cfg)
}
