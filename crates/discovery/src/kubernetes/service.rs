//! The `service` role: one target per service port, addressed by the
//! service's cluster DNS name.

use k8s_openapi::api::core::v1::Service;

use super::attach::{Attach, add_namespace_labels};
use super::labels::{
    ADDRESS, Labels, NAMESPACE, PREFIX, add_object_meta, join_host_port, name_of, namespace_of,
};
use super::store::Cache;
use crate::TargetGroup;

pub(super) fn source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// The service-level labels, also attached by the endpoints roles.
pub(super) fn service_labels(svc: &Service) -> Labels {
    let mut labels = Labels::new();
    labels.insert(
        NAMESPACE.to_string(),
        namespace_of(&svc.metadata).to_string(),
    );
    add_object_meta(&mut labels, &svc.metadata, "service");
    labels
}

pub(super) fn build(svc: &Service, cache: &Cache, attach: Attach) -> TargetGroup {
    let name = name_of(&svc.metadata);
    let namespace = namespace_of(&svc.metadata);
    let mut group = TargetGroup {
        source: source(namespace, name),
        labels: service_labels(svc),
        ..TargetGroup::default()
    };
    if attach.namespace {
        add_namespace_labels(&mut group.labels, cache, namespace);
    }

    let spec = svc.spec.clone().unwrap_or_default();
    let svc_type = spec.type_.clone().unwrap_or_default();
    for port in spec.ports.iter().flatten() {
        let mut target = Labels::new();
        let host = format!("{name}.{namespace}.svc");
        target.insert(ADDRESS.to_string(), join_host_port(&host, port.port));
        target.insert(
            format!("{PREFIX}service_port_name"),
            port.name.clone().unwrap_or_default(),
        );
        target.insert(
            format!("{PREFIX}service_port_number"),
            port.port.to_string(),
        );
        target.insert(
            format!("{PREFIX}service_port_protocol"),
            port.protocol.clone().unwrap_or_default(),
        );
        target.insert(format!("{PREFIX}service_type"), svc_type.clone());
        if svc_type == "ExternalName" {
            target.insert(
                format!("{PREFIX}service_external_name"),
                spec.external_name.clone().unwrap_or_default(),
            );
        } else {
            target.insert(
                format!("{PREFIX}service_cluster_ip"),
                spec.cluster_ip.clone().unwrap_or_default(),
            );
        }
        if svc_type == "LoadBalancer" {
            target.insert(
                format!("{PREFIX}service_loadbalancer_ip"),
                load_balancer_ips(svc),
            );
        }
        group.targets.push(target);
    }
    group
}

/// The ingress IPs of the load balancer, comma-separated, falling back to
/// the requested `spec.loadBalancerIP`.
fn load_balancer_ips(svc: &Service) -> String {
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let ips: Vec<&str> = ingress
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        let spec = svc.spec.as_ref();
        return spec
            .and_then(|s| s.load_balancer_ip.clone())
            .unwrap_or_default();
    }
    ips.join(",")
}
