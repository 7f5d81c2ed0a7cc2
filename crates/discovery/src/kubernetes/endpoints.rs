//! The `endpoints` role (core/v1 Endpoints): one target per address and
//! port, enriched with the backing pod and the service when known.

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints, ObjectReference, Pod};

use super::attach::{Attach, add_namespace_labels, add_node_labels};
use super::labels::{
    ADDRESS, Labels, NAMESPACE, PREFIX, add_object_meta, join_host_port, merge, name_of,
    namespace_of, namespaced,
};
use super::pod::{add_matching_container_port, pod_labels, uncovered_port_targets};
use super::service::service_labels;
use super::store::Cache;
use crate::TargetGroup;

pub(super) fn source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

pub(super) fn build(eps: &Endpoints, cache: &Cache, attach: Attach) -> TargetGroup {
    let name = name_of(&eps.metadata);
    let namespace = namespace_of(&eps.metadata);
    let mut group = TargetGroup {
        source: source(namespace, name),
        ..TargetGroup::default()
    };
    group
        .labels
        .insert(NAMESPACE.to_string(), namespace.to_string());
    if let Some(svc) = cache.services.get(&namespaced(namespace, name)) {
        merge(&mut group.labels, service_labels(svc));
    }
    add_object_meta(&mut group.labels, &eps.metadata, "endpoints");
    if attach.namespace {
        add_namespace_labels(&mut group.labels, cache, namespace);
    }

    let mut builder = TargetsBuilder {
        cache,
        attach,
        targets: Vec::new(),
        seen_pods: Vec::new(),
    };
    for subset in eps.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            for addr in subset.addresses.iter().flatten() {
                builder.add(addr, port, "true");
            }
            for addr in subset.not_ready_addresses.iter().flatten() {
                builder.add(addr, port, "false");
            }
        }
    }
    group.targets = builder.finish();
    group
}

struct TargetsBuilder<'a> {
    cache: &'a Cache,
    attach: Attach,
    targets: Vec<Labels>,
    /// Pods backing some address, in first-seen order, with the endpoint
    /// ports they were seen with.
    seen_pods: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> TargetsBuilder<'a> {
    fn add(&mut self, addr: &EndpointAddress, port: &EndpointPort, ready: &str) {
        let mut target = Labels::new();
        target.insert(ADDRESS.to_string(), join_host_port(&addr.ip, port.port));
        target.insert(
            format!("{PREFIX}endpoint_port_name"),
            port.name.clone().unwrap_or_default(),
        );
        target.insert(
            format!("{PREFIX}endpoint_port_protocol"),
            port.protocol.clone().unwrap_or_default(),
        );
        target.insert(format!("{PREFIX}endpoint_ready"), ready.to_string());
        if let Some(r) = &addr.target_ref {
            let kind = r.kind.clone().unwrap_or_default();
            target.insert(format!("{PREFIX}endpoint_address_target_kind"), kind);
            let name = r.name.clone().unwrap_or_default();
            target.insert(format!("{PREFIX}endpoint_address_target_name"), name);
        }
        if let Some(node) = &addr.node_name {
            target.insert(format!("{PREFIX}endpoint_node_name"), node.clone());
        }
        if let Some(host) = addr.hostname.as_ref().filter(|h| !h.is_empty()) {
            target.insert(format!("{PREFIX}endpoint_hostname"), host.clone());
        }
        if self.attach.node {
            let node = addr
                .node_name
                .as_deref()
                .or_else(|| node_ref(addr.target_ref.as_ref()));
            add_node_labels(&mut target, self.cache, node);
        }

        let Some(pod) = resolve_pod(self.cache, addr.target_ref.as_ref()) else {
            self.targets.push(target);
            return;
        };
        merge(&mut target, pod_labels(pod));
        add_matching_container_port(&mut target, pod, port.port, port.protocol.as_deref());
        record_seen(&mut self.seen_pods, pod, port.port);
        self.targets.push(target);
    }

    fn finish(mut self) -> Vec<Labels> {
        for (pod, ports) in &self.seen_pods {
            self.targets.extend(uncovered_port_targets(pod, ports));
        }
        self.targets
    }
}

pub(super) fn record_seen<'a>(seen: &mut Vec<(&'a Pod, Vec<i32>)>, pod: &'a Pod, port: i32) {
    let uid = (&pod.metadata.namespace, &pod.metadata.name);
    match seen
        .iter_mut()
        .find(|(p, _)| (&p.metadata.namespace, &p.metadata.name) == uid)
    {
        Some((_, ports)) => ports.push(port),
        None => seen.push((pod, vec![port])),
    }
}

/// The node a `Node` target reference points at.
pub(super) fn node_ref(target_ref: Option<&ObjectReference>) -> Option<&str> {
    target_ref
        .filter(|r| r.kind.as_deref() == Some("Node"))
        .and_then(|r| r.name.as_deref())
}

/// The pod a `Pod` target reference points at, when it is known.
pub(super) fn resolve_pod<'a>(
    cache: &'a Cache,
    target_ref: Option<&ObjectReference>,
) -> Option<&'a Pod> {
    let r = target_ref.filter(|r| r.kind.as_deref() == Some("Pod"))?;
    let key = namespaced(
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
    );
    cache.pods.get(&key)
}
