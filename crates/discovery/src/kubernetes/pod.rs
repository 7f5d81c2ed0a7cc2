//! The `pod` role: one target per declared container port, or one
//! port-less target per container without ports.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};

use super::attach::{Attach, add_namespace_labels, add_node_labels};
use super::labels::{
    ADDRESS, Labels, NAMESPACE, PREFIX, add_object_meta, join_host_port, name_of, namespace_of,
};
use super::store::Cache;
use crate::TargetGroup;

pub(super) const CONTAINER_NAME: &str = "__meta_kubernetes_pod_container_name";
pub(super) const CONTAINER_ID: &str = "__meta_kubernetes_pod_container_id";
pub(super) const CONTAINER_IMAGE: &str = "__meta_kubernetes_pod_container_image";
pub(super) const CONTAINER_PORT_NAME: &str = "__meta_kubernetes_pod_container_port_name";
pub(super) const CONTAINER_PORT_NUMBER: &str = "__meta_kubernetes_pod_container_port_number";
pub(super) const CONTAINER_PORT_PROTOCOL: &str = "__meta_kubernetes_pod_container_port_protocol";
pub(super) const CONTAINER_INIT: &str = "__meta_kubernetes_pod_container_init";

pub(super) fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

pub(super) fn pod_ip(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default()
}

pub(super) fn build(pod: &Pod, cache: &Cache, attach: Attach) -> TargetGroup {
    let namespace = namespace_of(&pod.metadata);
    let mut group = TargetGroup {
        source: source(namespace, name_of(&pod.metadata)),
        ..TargetGroup::default()
    };
    let ip = pod_ip(pod);
    if ip.is_empty() {
        return group;
    }
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    // Upstream withholds the pod until its node is known, so that the node
    // labels are never missing.
    if attach.node && node_name.and_then(|n| cache.nodes.get(n)).is_none() {
        return group;
    }

    group.labels = pod_labels(pod);
    group
        .labels
        .insert(NAMESPACE.to_string(), namespace.to_string());
    if attach.node {
        add_node_labels(&mut group.labels, cache, node_name);
    }
    if attach.namespace {
        add_namespace_labels(&mut group.labels, cache, namespace);
    }

    for (container, is_init) in containers(pod) {
        let id = container_id(pod, &container.name, is_init);
        let mut base = Labels::new();
        base.insert(CONTAINER_NAME.to_string(), container.name.clone());
        base.insert(CONTAINER_ID.to_string(), id);
        base.insert(
            CONTAINER_IMAGE.to_string(),
            container.image.clone().unwrap_or_default(),
        );
        base.insert(CONTAINER_INIT.to_string(), is_init.to_string());

        let ports = container.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            base.insert(ADDRESS.to_string(), ip.to_string());
            group.targets.push(base);
            continue;
        }
        for port in ports {
            let mut target = base.clone();
            target.insert(ADDRESS.to_string(), join_host_port(ip, port.container_port));
            target.insert(
                CONTAINER_PORT_NUMBER.to_string(),
                port.container_port.to_string(),
            );
            target.insert(
                CONTAINER_PORT_NAME.to_string(),
                port.name.clone().unwrap_or_default(),
            );
            target.insert(
                CONTAINER_PORT_PROTOCOL.to_string(),
                port.protocol.clone().unwrap_or_default(),
            );
            group.targets.push(target);
        }
    }
    group
}

/// The pod-level labels, also attached to endpoints targets backed by pods.
pub(super) fn pod_labels(pod: &Pod) -> Labels {
    let status = pod.status.as_ref();
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    let mut labels = Labels::new();
    labels.insert(format!("{PREFIX}pod_ip"), pod_ip(pod).to_string());
    labels.insert(format!("{PREFIX}pod_ready"), ready(pod));
    labels.insert(
        format!("{PREFIX}pod_phase"),
        text(status.and_then(|s| s.phase.as_ref())),
    );
    labels.insert(
        format!("{PREFIX}pod_node_name"),
        text(pod.spec.as_ref().and_then(|s| s.node_name.as_ref())),
    );
    labels.insert(
        format!("{PREFIX}pod_host_ip"),
        text(status.and_then(|s| s.host_ip.as_ref())),
    );
    labels.insert(format!("{PREFIX}pod_uid"), text(pod.metadata.uid.as_ref()));
    add_object_meta(&mut labels, &pod.metadata, "pod");

    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    if let Some(controller) = owners.iter().find(|o| o.controller == Some(true)) {
        if !controller.kind.is_empty() {
            labels.insert(
                format!("{PREFIX}pod_controller_kind"),
                controller.kind.clone(),
            );
        }
        if !controller.name.is_empty() {
            labels.insert(
                format!("{PREFIX}pod_controller_name"),
                controller.name.clone(),
            );
        }
    }
    labels
}

/// The lower-cased status of the `Ready` condition, `unknown` without one.
fn ready(pod: &Pod) -> String {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_string(), |c| c.status.to_lowercase())
}

/// Regular containers, then init containers, each with "is init".
pub(super) fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    let regular = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    regular
        .iter()
        .map(|c| (c, false))
        .chain(init.iter().map(|c| (c, true)))
}

fn container_id(pod: &Pod, name: &str, is_init: bool) -> String {
    let status = pod.status.as_ref();
    let statuses: &[ContainerStatus] = if is_init {
        status
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default()
    } else {
        status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default()
    };
    statuses
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

/// Labels describing the container port of `pod` that matches an endpoint
/// port, as the endpoints roles attach them; a later container matching
/// the same port wins, as upstream. `endpoint_protocol` overrides the
/// container port's protocol (the endpoints role reports the endpoint's).
pub(super) fn add_matching_container_port(
    target: &mut Labels,
    pod: &Pod,
    port: i32,
    endpoint_protocol: Option<&str>,
) {
    for (container, is_init) in containers(pod) {
        let ports = container.ports.as_deref().unwrap_or_default();
        if let Some(cport) = ports.iter().find(|p| p.container_port == port) {
            let protocol = endpoint_protocol
                .map(str::to_string)
                .or(cport.protocol.clone());
            target.insert(CONTAINER_NAME.to_string(), container.name.clone());
            target.insert(
                CONTAINER_IMAGE.to_string(),
                container.image.clone().unwrap_or_default(),
            );
            target.insert(
                CONTAINER_PORT_NAME.to_string(),
                cport.name.clone().unwrap_or_default(),
            );
            target.insert(CONTAINER_PORT_NUMBER.to_string(), port.to_string());
            target.insert(
                CONTAINER_PORT_PROTOCOL.to_string(),
                protocol.unwrap_or_default(),
            );
            target.insert(CONTAINER_INIT.to_string(), is_init.to_string());
        }
    }
}

/// Targets for the container ports of a pod that no endpoint port covers,
/// so that every port of a backing pod is discoverable.
pub(super) fn uncovered_port_targets(pod: &Pod, covered: &[i32]) -> Vec<Labels> {
    let ip = pod_ip(pod);
    if ip.is_empty() {
        return Vec::new();
    }
    let mut targets = Vec::new();
    for (container, is_init) in containers(pod) {
        for cport in container.ports.as_deref().unwrap_or_default() {
            if covered.contains(&cport.container_port) {
                continue;
            }
            let mut target = Labels::new();
            target.insert(
                ADDRESS.to_string(),
                join_host_port(ip, cport.container_port),
            );
            target.insert(CONTAINER_NAME.to_string(), container.name.clone());
            target.insert(
                CONTAINER_IMAGE.to_string(),
                container.image.clone().unwrap_or_default(),
            );
            target.insert(
                CONTAINER_PORT_NAME.to_string(),
                cport.name.clone().unwrap_or_default(),
            );
            target.insert(
                CONTAINER_PORT_NUMBER.to_string(),
                cport.container_port.to_string(),
            );
            target.insert(
                CONTAINER_PORT_PROTOCOL.to_string(),
                cport.protocol.clone().unwrap_or_default(),
            );
            target.insert(CONTAINER_INIT.to_string(), is_init.to_string());
            target.extend(pod_labels(pod));
            targets.push(target);
        }
    }
    targets
}
