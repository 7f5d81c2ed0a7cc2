//! The `node` role: one target per node, at its kubelet port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::labels::{ADDRESS, Labels, PREFIX, add_object_meta, join_host_port, sanitize};
use crate::TargetGroup;

pub(super) fn source(name: &str) -> String {
    format!("node/{name}")
}

/// Address types in the order upstream prefers them for `__address__`.
const ADDRESS_PREFERENCE: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The node's group, or None when it has no usable address (upstream
/// skips such nodes).
pub(super) fn build(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let status = node.status.as_ref();

    let mut by_type: BTreeMap<&str, &str> = BTreeMap::new();
    for addr in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        by_type
            .entry(addr.type_.as_str())
            .or_insert(addr.address.as_str());
    }
    let Some(host) = ADDRESS_PREFERENCE.iter().find_map(|t| by_type.get(t)) else {
        tracing::warn!(node = %name, "no node address found");
        return None;
    };
    let kubelet_port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |e| e.port);

    let mut target = Labels::new();
    target.insert(ADDRESS.to_string(), join_host_port(host, kubelet_port));
    target.insert("instance".to_string(), name.clone());
    for (ty, addr) in &by_type {
        target.insert(
            sanitize(&format!("{PREFIX}node_address_{ty}")),
            addr.to_string(),
        );
    }

    Some(TargetGroup {
        source: source(&name),
        targets: vec![target],
        labels: node_labels(node),
    })
}

fn node_labels(node: &Node) -> Labels {
    let mut labels = Labels::new();
    let provider_id = node.spec.as_ref().and_then(|s| s.provider_id.clone());
    labels.insert(
        format!("{PREFIX}node_provider_id"),
        provider_id.unwrap_or_default(),
    );
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    for cond in conditions.into_iter().flatten() {
        let ty = sanitize(&cond.type_.to_lowercase());
        labels.insert(
            format!("{PREFIX}node_condition_{ty}"),
            cond.status.to_lowercase(),
        );
    }
    add_object_meta(&mut labels, &node.metadata, "node");
    labels
}
