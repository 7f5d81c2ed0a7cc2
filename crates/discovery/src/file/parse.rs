//! The file SD format: a list of `{targets: [...], labels: {...}}`, in
//! JSON or YAML, strict about unknown fields as Prometheus is.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::TargetGroup;
use crate::static_sd::address_target;

/// Label holding the path of the file a group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The source of a file's `index`-th group, as Prometheus names it.
pub(crate) fn file_source(path: &Path, index: usize) -> String {
    format!("{}:{index}", path.display())
}

/// Parses a file's groups, by extension; sources and `__meta_filepath`
/// name `path`.
pub(crate) fn parse_groups(path: &Path, content: &[u8]) -> Result<Vec<TargetGroup>, String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let raw: Vec<Option<RawGroup>> = match extension.as_deref() {
        Some("json") => serde_json::from_slice(content).map_err(|e| e.to_string())?,
        Some("yml" | "yaml") => parse_yaml(content)?,
        _ => return Err("unsupported file extension (want .json, .yml or .yaml)".to_string()),
    };
    let filepath = path.display().to_string();
    raw.into_iter()
        .enumerate()
        .map(|(index, group)| {
            let group = group.ok_or_else(|| "nil target group item found".to_string())?;
            let mut labels = group.labels.unwrap_or_default();
            if let Some(name) = labels.keys().find(|name| !is_valid_label_name(name)) {
                return Err(format!("{name:?} is not a valid label name"));
            }
            labels.insert(FILEPATH_LABEL.to_string(), filepath.clone());
            Ok(TargetGroup {
                source: file_source(path, index),
                targets: group
                    .targets
                    .unwrap_or_default()
                    .iter()
                    .map(|t| address_target(t))
                    .collect(),
                labels,
            })
        })
        .collect()
}

/// An empty YAML document is an empty list, as with Go's yaml.v2.
fn parse_yaml(content: &[u8]) -> Result<Vec<Option<RawGroup>>, String> {
    if content.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let text = std::str::from_utf8(content).map_err(|e| e.to_string())?;
    argus_config::yaml_bounds::check_yaml_bounds(text).map_err(|e| match e.line() {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    })?;
    let groups: Option<Vec<Option<RawGroup>>> =
        serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(groups.unwrap_or_default())
}

/// Prometheus 3 validates label names as UTF-8 (which a `String` is):
/// only the empty name is invalid.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<Vec<TargetGroup>, String> {
        parse_groups(Path::new(name), text.as_bytes())
    }

    #[test]
    fn json_groups_get_sources_and_filepath() {
        let groups = parse(
            "/sd/a.json",
            r#"[{"targets": ["127.0.0.1:9100"], "labels": {"env": "prod"}}, {"targets": []}]"#,
        )
        .unwrap_or_else(|e| panic!("parse: {e}"));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "/sd/a.json:0");
        assert_eq!(groups[1].source, "/sd/a.json:1");
        assert_eq!(groups[0].targets, vec![address_target("127.0.0.1:9100")]);
        assert_eq!(
            groups[0].labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert_eq!(
            groups[1].labels.get(FILEPATH_LABEL).map(String::as_str),
            Some("/sd/a.json")
        );
    }

    #[test]
    fn yaml_scalars_are_taken_as_text() {
        let groups = parse(
            "/sd/a.YML",
            "- targets: [127.0.0.1:9100]\n  labels:\n    port: 80\n    on: true\n    ratio: 1.50\n",
        )
        .unwrap_or_else(|e| panic!("parse: {e}"));
        let labels = &groups[0].labels;
        assert_eq!(labels.get("port").map(String::as_str), Some("80"));
        assert_eq!(labels.get("on").map(String::as_str), Some("true"));
        assert_eq!(labels.get("ratio").map(String::as_str), Some("1.50"));
    }

    #[test]
    fn empty_yaml_is_no_groups_but_empty_json_is_an_error() {
        assert_eq!(parse("/sd/a.yaml", "\n").map(|g| g.len()), Ok(0));
        assert!(parse("/sd/a.json", "").is_err());
    }

    #[test]
    fn invalid_content_is_rejected() {
        for (name, text) in [
            ("a.json", r#"[{"targets": [9100]}]"#),
            ("a.json", r#"[{"targets": ["127.0.0.1:1"], "extra": 1}]"#),
            ("a.json", r#"[null]"#),
            (
                "a.json",
                r#"[{"targets": ["127.0.0.1:1"], "labels": {"": "x"}}]"#,
            ),
            (
                "a.json",
                r#"[{"targets": ["127.0.0.1:1"], "labels": {"a": 1}}]"#,
            ),
            ("a.yml", "- targets: [[127.0.0.1:1]]\n"),
            ("a.yml", "- targets: [127.0.0.1:1]\n  unknown: x\n"),
            ("a.yml", "- null\n"),
            ("a.yml", "targets: [127.0.0.1:1]\n"),
            ("a.txt", "[]"),
        ] {
            assert!(parse(name, text).is_err(), "{name}: {text} should fail");
        }
    }
}
