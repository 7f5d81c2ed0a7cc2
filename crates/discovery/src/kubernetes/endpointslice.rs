//! The `endpointslice` role (discovery.k8s.io/v1): one target per endpoint
//! address and port, enriched with the backing pod and the service.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::attach::{Attach, add_namespace_labels, add_node_labels};
use super::endpoints::{node_ref, record_seen, resolve_pod};
use super::labels::{
    ADDRESS, Labels, NAMESPACE, PREFIX, add_object_meta, join_host_port, merge, name_of,
    namespace_of, namespaced, sanitize,
};
use super::pod::{add_matching_container_port, pod_labels, uncovered_port_targets};
use super::service::service_labels;
use super::store::Cache;
use crate::TargetGroup;

/// The label linking a slice to its service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub(super) fn source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

pub(super) fn build(slice: &EndpointSlice, cache: &Cache, attach: Attach) -> TargetGroup {
    let namespace = namespace_of(&slice.metadata);
    let mut group = TargetGroup {
        source: source(namespace, name_of(&slice.metadata)),
        ..TargetGroup::default()
    };
    group
        .labels
        .insert(NAMESPACE.to_string(), namespace.to_string());
    group.labels.insert(
        format!("{PREFIX}endpointslice_address_type"),
        slice.address_type.clone(),
    );
    add_object_meta(&mut group.labels, &slice.metadata, "endpointslice");
    let svc = service_of(slice, cache);
    if let Some(svc) = svc {
        merge(&mut group.labels, service_labels(svc));
    }
    if attach.namespace {
        add_namespace_labels(&mut group.labels, cache, namespace);
    }
    if svc.is_some_and(|svc| is_secondary_family(svc, slice)) {
        return group;
    }

    let mut targets = Vec::new();
    let mut seen_pods: Vec<(&Pod, Vec<i32>)> = Vec::new();
    for endpoint in slice.endpoints.iter().flatten() {
        for port in slice.ports.iter().flatten() {
            for addr in &endpoint.addresses {
                let mut target = endpoint_target(addr, endpoint, port);
                if attach.node {
                    let node =
                        node_ref(endpoint.target_ref.as_ref()).or(endpoint.node_name.as_deref());
                    add_node_labels(&mut target, cache, node);
                }
                if let Some(pod) = resolve_pod(cache, endpoint.target_ref.as_ref()) {
                    merge(&mut target, pod_labels(pod));
                    if let Some(number) = port.port {
                        add_matching_container_port(&mut target, pod, number, None);
                        record_seen(&mut seen_pods, pod, number);
                    } else if !seen_pods.iter().any(|(p, _)| std::ptr::eq(*p, pod)) {
                        seen_pods.push((pod, Vec::new()));
                    }
                }
                targets.push(target);
            }
        }
    }
    for (pod, ports) in &seen_pods {
        targets.extend(uncovered_port_targets(pod, ports));
    }
    group.targets = targets;
    group
}

fn endpoint_target(addr: &str, endpoint: &Endpoint, port: &EndpointPort) -> Labels {
    let mut target = Labels::new();
    let address = match port.port {
        Some(number) => join_host_port(addr, number),
        None => addr.to_string(),
    };
    target.insert(ADDRESS.to_string(), address);
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            target.insert(format!("{PREFIX}endpointslice_{name}"), value);
        }
    };
    put("port_name", port.name.clone());
    put("port_protocol", port.protocol.clone());
    put("port", port.port.map(|p| p.to_string()));
    put("port_app_protocol", port.app_protocol.clone());
    let conditions = endpoint.conditions.clone().unwrap_or_default();
    put(
        "endpoint_conditions_ready",
        conditions.ready.map(|b| b.to_string()),
    );
    put(
        "endpoint_conditions_serving",
        conditions.serving.map(|b| b.to_string()),
    );
    put(
        "endpoint_conditions_terminating",
        conditions.terminating.map(|b| b.to_string()),
    );
    put("endpoint_hostname", endpoint.hostname.clone());
    if let Some(r) = &endpoint.target_ref {
        put(
            "address_target_kind",
            Some(r.kind.clone().unwrap_or_default()),
        );
        put(
            "address_target_name",
            Some(r.name.clone().unwrap_or_default()),
        );
    }
    put("endpoint_node_name", endpoint.node_name.clone());
    put("endpoint_zone", endpoint.zone.clone());
    for (k, v) in endpoint.deprecated_topology.iter().flatten() {
        let name = sanitize(k);
        put(&format!("endpoint_topology_{name}"), Some(v.clone()));
        put(
            &format!("endpoint_topology_present_{name}"),
            Some("true".to_string()),
        );
    }
    target
}

fn service_of<'a>(slice: &EndpointSlice, cache: &'a Cache) -> Option<&'a Service> {
    let labels = slice.metadata.labels.as_ref()?;
    let name = labels.get(SERVICE_NAME_LABEL)?;
    cache
        .services
        .get(&namespaced(namespace_of(&slice.metadata), name))
}

/// A dual-stack service has one slice per IP family; upstream only targets
/// the primary family's slice so that every endpoint is scraped once.
fn is_secondary_family(svc: &Service, slice: &EndpointSlice) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    let dual_stack = matches!(
        spec.ip_family_policy.as_deref(),
        Some("PreferDualStack" | "RequireDualStack")
    );
    let primary = spec.ip_families.as_ref().and_then(|f| f.first());
    match primary {
        Some(family) if dual_stack => *family != slice.address_type,
        _ => false,
    }
}
