//! `attach_metadata`: labels of the node or namespace an object lives on.

use super::labels::{Labels, add_labels_and_annotations, add_object_meta, merge};
use super::store::Cache;

/// Which related objects' metadata is attached, from `attach_metadata`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Attach {
    pub(super) node: bool,
    pub(super) namespace: bool,
}

/// The node's name, labels and annotations, when the node is known.
pub(super) fn add_node_labels(labels: &mut Labels, cache: &Cache, node_name: Option<&str>) {
    let Some(node) = node_name.and_then(|name| cache.nodes.get(name)) else {
        return;
    };
    let mut node_labels = Labels::new();
    add_object_meta(&mut node_labels, &node.metadata, "node");
    merge(labels, node_labels);
}

/// The namespace's labels and annotations, when the namespace is known.
pub(super) fn add_namespace_labels(labels: &mut Labels, cache: &Cache, namespace: &str) {
    let Some(ns) = cache.namespaces.get(namespace) else {
        return;
    };
    let mut ns_labels = Labels::new();
    add_labels_and_annotations(&mut ns_labels, &ns.metadata, "namespace");
    merge(labels, ns_labels);
}
