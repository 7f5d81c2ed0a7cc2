//! Label helpers shared by the roles, mirroring upstream's `lv`,
//! `addObjectMetaLabels` and `strutil.SanitizeLabelName`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub(super) type Labels = BTreeMap<String, String>;

pub(super) const PREFIX: &str = "__meta_kubernetes_";
pub(super) const NAMESPACE: &str = "__meta_kubernetes_namespace";
pub(super) const ADDRESS: &str = "__address__";
const PRESENT: &str = "true";

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`.
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `__meta_kubernetes_<role>_name` plus the object's labels and annotations.
pub(super) fn add_object_meta(labels: &mut Labels, meta: &ObjectMeta, role: &str) {
    labels.insert(
        format!("{PREFIX}{role}_name"),
        meta.name.clone().unwrap_or_default(),
    );
    add_labels_and_annotations(labels, meta, role);
}

/// `<resource>_label_*`, `<resource>_labelpresent_*` and the annotation
/// equivalents.
pub(super) fn add_labels_and_annotations(labels: &mut Labels, meta: &ObjectMeta, resource: &str) {
    let kinds = [("label", &meta.labels), ("annotation", &meta.annotations)];
    for (kind, map) in kinds {
        for (k, v) in map.iter().flatten() {
            let name = sanitize(k);
            labels.insert(format!("{PREFIX}{resource}_{kind}_{name}"), v.clone());
            labels.insert(
                format!("{PREFIX}{resource}_{kind}present_{name}"),
                PRESENT.to_string(),
            );
        }
    }
}

/// Go's `net.JoinHostPort`: brackets IPv6 literals.
pub(super) fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn namespaced(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

pub(super) fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

pub(super) fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

/// Adds, with `later` winning, as Go's `LabelSet.Merge`.
pub(super) fn merge(into: &mut Labels, later: Labels) {
    into.extend(later);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_invalid_characters() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("ok_Name9"), "ok_Name9");
    }

    #[test]
    fn join_host_port_brackets_ipv6() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("2001:db8::1", 80), "[2001:db8::1]:80");
    }
}
