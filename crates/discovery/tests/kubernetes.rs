//! Kubernetes SD against a fake API server on 127.0.0.1: exact groups per
//! role (after upstream's *_test.go expectations), watch updates, and the
//! namespaces and selectors sent to the API.

#[path = "kubernetes/fake_api.rs"]
mod fake_api;
#[path = "kubernetes/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use argus_config::discovery::{
    KubernetesNamespaces, KubernetesRole, KubernetesSdConfig, KubernetesSelector,
};
use argus_config::http::HttpClientConfig;
use argus_discovery::{TargetGroup, kubernetes};
use fake_api::FakeApi;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

type Labels = BTreeMap<String, String>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with(base: &Labels, extra: &[(&str, &str)]) -> Labels {
    let mut out = base.clone();
    out.extend(labels(extra));
    out
}

fn config(api: &FakeApi, role: KubernetesRole) -> KubernetesSdConfig {
    KubernetesSdConfig {
        role,
        api_server: Some(api.url()),
        kubeconfig_file: None,
        http: HttpClientConfig::default(),
        namespaces: KubernetesNamespaces::default(),
        selectors: Vec::new(),
        attach_metadata_node: false,
        attach_metadata_namespace: false,
    }
}

struct Running {
    rx: mpsc::Receiver<Vec<TargetGroup>>,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Running {
    fn start(cfg: &KubernetesSdConfig) -> Running {
        let discoverer = kubernetes::new_discoverer(cfg, Path::new("."))
            .unwrap_or_else(|e| panic!("new_discoverer: {e}"));
        let (tx, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        tokio::spawn(discoverer.run(tx, shutdown.clone()));
        Running { rx, shutdown }
    }

    /// The next update, sorted by source.
    async fn next(&mut self) -> Vec<TargetGroup> {
        let update = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no update within {WAIT:?}"))
            .unwrap_or_else(|| panic!("discoverer stopped"));
        let mut update = update;
        update.sort_by(|a, b| a.source.cmp(&b.source));
        update
    }
}

fn group(source: &str, labels: Labels, targets: Vec<Labels>) -> TargetGroup {
    TargetGroup {
        source: source.to_string(),
        targets,
        labels,
    }
}

fn empty(source: &str) -> TargetGroup {
    group(source, Labels::new(), Vec::new())
}

#[tokio::test]
async fn node_role_groups_follow_watch_events() {
    let api = FakeApi::start().await;
    let addresses = json!([
        {"type": "Hostname", "address": "node-a"},
        {"type": "ExternalIP", "address": "203.0.113.1"},
        {"type": "InternalIP", "address": "10.1.0.1"},
        {"type": "InternalIP", "address": "10.1.0.2"},
    ]);
    api.add(
        "nodes",
        fixtures::node("node-a", addresses, json!({"test-label": "testvalue"})),
    );
    let hostname_only = json!([{"type": "Hostname", "address": "node-b.local"}]);
    api.add(
        "nodes",
        fixtures::node("node-b", hostname_only.clone(), json!({})),
    );
    let no_address = json!([]);
    api.add("nodes", fixtures::node("node-c", no_address, json!({})));

    let mut sd = Running::start(&config(&api, KubernetesRole::Node));
    let common = |name: &str| {
        labels(&[
            ("__meta_kubernetes_node_name", name),
            (
                "__meta_kubernetes_node_provider_id",
                &format!("aws:///{name}"),
            ),
            ("__meta_kubernetes_node_condition_ready", "true"),
            ("__meta_kubernetes_node_condition_memorypressure", "false"),
            (
                "__meta_kubernetes_node_annotation_test_annotation",
                "testannotationvalue",
            ),
            (
                "__meta_kubernetes_node_annotationpresent_test_annotation",
                "true",
            ),
        ])
    };
    let node_a = group(
        "node/node-a",
        with(
            &common("node-a"),
            &[
                ("__meta_kubernetes_node_label_test_label", "testvalue"),
                ("__meta_kubernetes_node_labelpresent_test_label", "true"),
            ],
        ),
        vec![labels(&[
            ("__address__", "10.1.0.1:10250"),
            ("instance", "node-a"),
            ("__meta_kubernetes_node_address_InternalIP", "10.1.0.1"),
            ("__meta_kubernetes_node_address_ExternalIP", "203.0.113.1"),
            ("__meta_kubernetes_node_address_Hostname", "node-a"),
        ])],
    );
    let node_b_target = |port: &str| {
        labels(&[
            ("__address__", &format!("node-b.local:{port}")),
            ("instance", "node-b"),
            ("__meta_kubernetes_node_address_Hostname", "node-b.local"),
        ])
    };
    let node_b = group(
        "node/node-b",
        common("node-b"),
        vec![node_b_target("10250")],
    );
    // node-c has no address: upstream skips it.
    assert_eq!(sd.next().await, vec![node_a, node_b]);

    let mut modified = fixtures::node("node-b", hostname_only, json!({}));
    modified["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = json!(10255);
    api.modify("nodes", modified.clone());
    let node_b = group(
        "node/node-b",
        common("node-b"),
        vec![node_b_target("10255")],
    );
    assert_eq!(sd.next().await, vec![node_b]);

    api.delete("nodes", modified);
    assert_eq!(sd.next().await, vec![empty("node/node-b")]);
}

fn pod_group_labels(ns: &str) -> Labels {
    labels(&[
        ("__meta_kubernetes_namespace", ns),
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_pod_ip", "1.2.3.4"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_uid", "uid-testpod"),
        ("__meta_kubernetes_pod_label_test_label", "testvalue"),
        ("__meta_kubernetes_pod_labelpresent_test_label", "true"),
        (
            "__meta_kubernetes_pod_annotation_test_annotation",
            "testannotationvalue",
        ),
        (
            "__meta_kubernetes_pod_annotationpresent_test_annotation",
            "true",
        ),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        (
            "__meta_kubernetes_pod_controller_name",
            "testcontrollername",
        ),
    ])
}

fn pod_targets() -> Vec<Labels> {
    vec![
        labels(&[
            ("__address__", "1.2.3.4:9000"),
            ("__meta_kubernetes_pod_container_name", "testcontainer0"),
            (
                "__meta_kubernetes_pod_container_id",
                "docker://a1b2c3d4e5f6",
            ),
            (
                "__meta_kubernetes_pod_container_image",
                "testcontainer0:latest",
            ),
            ("__meta_kubernetes_pod_container_port_name", "testport0"),
            ("__meta_kubernetes_pod_container_port_number", "9000"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ("__meta_kubernetes_pod_container_init", "false"),
        ]),
        labels(&[
            ("__address__", "1.2.3.4:9001"),
            ("__meta_kubernetes_pod_container_name", "testcontainer0"),
            (
                "__meta_kubernetes_pod_container_id",
                "docker://a1b2c3d4e5f6",
            ),
            (
                "__meta_kubernetes_pod_container_image",
                "testcontainer0:latest",
            ),
            ("__meta_kubernetes_pod_container_port_name", "testport1"),
            ("__meta_kubernetes_pod_container_port_number", "9001"),
            ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
            ("__meta_kubernetes_pod_container_init", "false"),
        ]),
        labels(&[
            ("__address__", "1.2.3.4"),
            ("__meta_kubernetes_pod_container_name", "testcontainer1"),
            (
                "__meta_kubernetes_pod_container_id",
                "containerd://6f5e4d3c2b1a",
            ),
            (
                "__meta_kubernetes_pod_container_image",
                "testcontainer1:latest",
            ),
            ("__meta_kubernetes_pod_container_init", "false"),
        ]),
        labels(&[
            ("__address__", "1.2.3.4:1111"),
            ("__meta_kubernetes_pod_container_name", "initcontainer"),
            ("__meta_kubernetes_pod_container_id", "containerd://init"),
            (
                "__meta_kubernetes_pod_container_image",
                "initcontainer:latest",
            ),
            ("__meta_kubernetes_pod_container_port_name", "initport"),
            ("__meta_kubernetes_pod_container_port_number", "1111"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ("__meta_kubernetes_pod_container_init", "true"),
        ]),
    ]
}

#[tokio::test]
async fn pod_role_groups_follow_watch_events() {
    let api = FakeApi::start().await;
    api.add(
        "pods",
        fixtures::pod("default", "testpod", "1.2.3.4", "testnode"),
    );
    api.add("pods", fixtures::pending_pod("default", "pending"));

    let mut sd = Running::start(&config(&api, KubernetesRole::Pod));
    let testpod = group(
        "pod/default/testpod",
        pod_group_labels("default"),
        pod_targets(),
    );
    // A pod without an IP yields an empty group, as upstream.
    assert_eq!(sd.next().await, vec![empty("pod/default/pending"), testpod]);

    let mut running = fixtures::pod("default", "pending", "1.2.3.9", "testnode");
    running["metadata"]["uid"] = json!("pending-uid");
    api.modify("pods", running.clone());
    let update = sd.next().await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].source, "pod/default/pending");
    assert_eq!(update[0].labels["__meta_kubernetes_pod_ip"], "1.2.3.9");
    assert_eq!(update[0].targets[0]["__address__"], "1.2.3.9:9000");

    api.delete("pods", running);
    assert_eq!(sd.next().await, vec![empty("pod/default/pending")]);
}

#[tokio::test]
async fn pod_role_attaches_node_metadata() {
    let api = FakeApi::start().await;
    let addresses = json!([{"type": "InternalIP", "address": "10.1.0.1"}]);
    api.add(
        "pods",
        fixtures::pod("default", "testpod", "1.2.3.4", "testnode"),
    );
    api.add(
        "pods",
        fixtures::pod("default", "orphan", "1.2.3.5", "unknown-node"),
    );
    api.add(
        "nodes",
        fixtures::node("testnode", addresses, json!({"l1": "v1"})),
    );

    let mut cfg = config(&api, KubernetesRole::Pod);
    cfg.attach_metadata_node = true;
    let mut sd = Running::start(&cfg);
    let node_labels = [
        ("__meta_kubernetes_node_name", "testnode"),
        ("__meta_kubernetes_node_label_l1", "v1"),
        ("__meta_kubernetes_node_labelpresent_l1", "true"),
        (
            "__meta_kubernetes_node_annotation_test_annotation",
            "testannotationvalue",
        ),
        (
            "__meta_kubernetes_node_annotationpresent_test_annotation",
            "true",
        ),
    ];
    let testpod = group(
        "pod/default/testpod",
        with(&pod_group_labels("default"), &node_labels),
        pod_targets(),
    );
    // Upstream withholds pods whose node is not known yet.
    assert_eq!(sd.next().await, vec![empty("pod/default/orphan"), testpod]);
}

#[tokio::test]
async fn pod_role_passes_namespaces_and_selectors_to_the_api() {
    let api = FakeApi::start().await;
    api.add(
        "pods",
        fixtures::pod("ns1", "testpod", "1.2.3.4", "testnode"),
    );
    api.add(
        "pods",
        fixtures::pod("ns2", "testpod", "1.2.3.4", "testnode"),
    );
    let mut other = fixtures::pod("ns1", "other", "1.2.3.6", "testnode");
    other["metadata"]["labels"] = json!({"test/label": "othervalue"});
    api.add("pods", other);

    let mut cfg = config(&api, KubernetesRole::Pod);
    cfg.namespaces.names = vec!["ns1".to_string()];
    cfg.selectors = vec![KubernetesSelector {
        role: KubernetesRole::Pod,
        label: Some("test/label=testvalue".to_string()),
        field: Some("spec.nodeName=testnode".to_string()),
    }];
    let mut sd = Running::start(&cfg);
    let testpod = group("pod/ns1/testpod", pod_group_labels("ns1"), pod_targets());
    assert_eq!(sd.next().await, vec![testpod]);

    let requests = api.requests();
    assert!(!requests.is_empty());
    for req in &requests {
        assert_eq!(req.path, "/api/v1/namespaces/ns1/pods", "request {req:?}");
        let q = &req.query;
        assert_eq!(
            q.get("labelSelector").map(String::as_str),
            Some("test/label=testvalue")
        );
        assert_eq!(
            q.get("fieldSelector").map(String::as_str),
            Some("spec.nodeName=testnode")
        );
    }
}

fn service_target(name: &str, port: &str, extra: &[(&str, &str)]) -> Labels {
    with(
        &labels(&[
            ("__address__", &format!("{name}.default.svc:{port}")),
            ("__meta_kubernetes_service_port_name", "testport"),
            ("__meta_kubernetes_service_port_number", port),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
        ]),
        extra,
    )
}

#[tokio::test]
async fn service_role_groups_follow_watch_events() {
    let api = FakeApi::start().await;
    api.add(
        "services",
        fixtures::service("default", "testservice", 30900),
    );
    api.add("services", fixtures::external_service("default"));
    api.add("services", fixtures::load_balancer_service("default"));

    let mut sd = Running::start(&config(&api, KubernetesRole::Service));
    let meta = |name: &str| {
        labels(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_name", name),
        ])
    };
    let testservice_labels = with(
        &meta("testservice"),
        &[
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            (
                "__meta_kubernetes_service_annotation_test_annotation",
                "testannotationvalue",
            ),
            (
                "__meta_kubernetes_service_annotationpresent_test_annotation",
                "true",
            ),
        ],
    );
    let cluster_ip = [
        ("__meta_kubernetes_service_type", "ClusterIP"),
        ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
    ];
    let expected = vec![
        group(
            "svc/default/testservice",
            testservice_labels.clone(),
            vec![service_target("testservice", "30900", &cluster_ip)],
        ),
        group(
            "svc/default/testservice-external",
            meta("testservice-external"),
            vec![service_target(
                "testservice-external",
                "31900",
                &[
                    ("__meta_kubernetes_service_type", "ExternalName"),
                    ("__meta_kubernetes_service_external_name", "FooExternalName"),
                ],
            )],
        ),
        group(
            "svc/default/testservice-lb-ingress",
            meta("testservice-lb-ingress"),
            vec![service_target(
                "testservice-lb-ingress",
                "31900",
                &[
                    ("__meta_kubernetes_service_type", "LoadBalancer"),
                    ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                    (
                        "__meta_kubernetes_service_loadbalancer_ip",
                        "192.168.1.15,2001:db8::1",
                    ),
                ],
            )],
        ),
    ];
    assert_eq!(sd.next().await, expected);

    api.modify(
        "services",
        fixtures::service("default", "testservice", 30901),
    );
    let updated = group(
        "svc/default/testservice",
        testservice_labels,
        vec![service_target("testservice", "30901", &cluster_ip)],
    );
    assert_eq!(sd.next().await, vec![updated]);

    api.delete("services", fixtures::external_service("default"));
    assert_eq!(
        sd.next().await,
        vec![empty("svc/default/testservice-external")]
    );
}

/// The pod labels upstream attaches to a target backed by `testpod`.
fn backing_pod_labels(ns: &str) -> Labels {
    let mut pod = pod_group_labels(ns);
    pod.remove("__meta_kubernetes_namespace");
    pod
}

fn pod_port_labels(
    container: &str,
    port_name: &str,
    port: &str,
    proto: &str,
    init: &str,
) -> Labels {
    labels(&[
        ("__meta_kubernetes_pod_container_name", container),
        (
            "__meta_kubernetes_pod_container_image",
            &format!("{container}:latest"),
        ),
        ("__meta_kubernetes_pod_container_port_name", port_name),
        ("__meta_kubernetes_pod_container_port_number", port),
        ("__meta_kubernetes_pod_container_port_protocol", proto),
        ("__meta_kubernetes_pod_container_init", init),
    ])
}

/// Targets for testpod's ports that no endpoint port covers.
fn uncovered_pod_targets(ns: &str) -> Vec<Labels> {
    let pod = backing_pod_labels(ns);
    let mut t1 = with(&pod, &[("__address__", "1.2.3.4:9001")]);
    t1.extend(pod_port_labels(
        "testcontainer0",
        "testport1",
        "9001",
        "UDP",
        "false",
    ));
    let mut t2 = with(&pod, &[("__address__", "1.2.3.4:1111")]);
    t2.extend(pod_port_labels(
        "initcontainer",
        "initport",
        "1111",
        "TCP",
        "true",
    ));
    vec![t1, t2]
}

#[tokio::test]
async fn endpoints_role_joins_service_and_pod() {
    let api = FakeApi::start().await;
    api.add("endpoints", fixtures::endpoints("default", "testendpoints"));
    api.add(
        "pods",
        fixtures::pod("default", "testpod", "1.2.3.4", "testnode"),
    );

    let mut sd = Running::start(&config(&api, KubernetesRole::Endpoints));
    let meta = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_endpoints_name", "testendpoints"),
        ("__meta_kubernetes_endpoints_label_app_name", "test"),
        ("__meta_kubernetes_endpoints_labelpresent_app_name", "true"),
        (
            "__meta_kubernetes_endpoints_annotation_test_annotation",
            "test",
        ),
        (
            "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
            "true",
        ),
    ]);
    let port = [
        ("__meta_kubernetes_endpoint_port_name", "testport"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
    ];
    let mut pod_target = with(
        &backing_pod_labels("default"),
        &[
            ("__address__", "1.2.3.10:9000"),
            ("__meta_kubernetes_endpoint_ready", "true"),
            ("__meta_kubernetes_endpoint_node_name", "testnode"),
            ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
            ("__meta_kubernetes_endpoint_address_target_name", "testpod"),
        ],
    );
    pod_target.extend(labels(&port));
    pod_target.extend(pod_port_labels(
        "testcontainer0",
        "testport0",
        "9000",
        "TCP",
        "false",
    ));
    let mut targets = vec![
        with(
            &labels(&port),
            &[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_endpoint_hostname", "testendpoint1"),
                ("__meta_kubernetes_endpoint_node_name", "foobar"),
                ("__meta_kubernetes_endpoint_ready", "true"),
                ("__meta_kubernetes_endpoint_address_target_kind", "Node"),
                ("__meta_kubernetes_endpoint_address_target_name", "foobar"),
            ],
        ),
        with(
            &labels(&port),
            &[
                ("__address__", "2.3.4.5:9000"),
                ("__meta_kubernetes_endpoint_ready", "false"),
            ],
        ),
        pod_target,
    ];
    targets.extend(uncovered_pod_targets("default"));
    let source = "endpoints/default/testendpoints";
    assert_eq!(
        sd.next().await,
        vec![group(source, meta.clone(), targets.clone())]
    );

    // A service of the same name adds its labels to the group.
    api.add(
        "services",
        fixtures::service("default", "testendpoints", 9000),
    );
    let with_service = with(
        &meta,
        &[
            ("__meta_kubernetes_service_name", "testendpoints"),
            ("__meta_kubernetes_service_label_app_name", "test"),
            ("__meta_kubernetes_service_labelpresent_app_name", "true"),
            (
                "__meta_kubernetes_service_annotation_test_annotation",
                "testannotationvalue",
            ),
            (
                "__meta_kubernetes_service_annotationpresent_test_annotation",
                "true",
            ),
        ],
    );
    assert_eq!(sd.next().await, vec![group(source, with_service, targets)]);

    api.delete("endpoints", fixtures::endpoints("default", "testendpoints"));
    assert_eq!(sd.next().await, vec![empty(source)]);
}

#[tokio::test]
async fn endpointslice_role_joins_service_and_pod() {
    let api = FakeApi::start().await;
    api.add(
        "endpointslices",
        fixtures::endpoint_slice("default", "testslice", "testsvc"),
    );
    api.add("services", fixtures::service("default", "testsvc", 9000));
    api.add(
        "pods",
        fixtures::pod("default", "testpod", "1.2.3.4", "testnode"),
    );
    let addresses = json!([{"type": "InternalIP", "address": "10.1.0.1"}]);
    api.add(
        "nodes",
        fixtures::node("foobar", addresses, json!({"zone": "a"})),
    );

    let mut cfg = config(&api, KubernetesRole::EndpointSlice);
    cfg.attach_metadata_node = true;
    cfg.selectors = vec![KubernetesSelector {
        role: KubernetesRole::Service,
        label: Some("app/name=test".to_string()),
        field: None,
    }];
    let mut sd = Running::start(&cfg);
    let meta = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        ("__meta_kubernetes_endpointslice_name", "testslice"),
        (
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
            "testsvc",
        ),
        (
            "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_annotation_test_annotation",
            "test",
        ),
        (
            "__meta_kubernetes_endpointslice_annotationpresent_test_annotation",
            "true",
        ),
        ("__meta_kubernetes_service_name", "testsvc"),
        ("__meta_kubernetes_service_label_app_name", "test"),
        ("__meta_kubernetes_service_labelpresent_app_name", "true"),
        (
            "__meta_kubernetes_service_annotation_test_annotation",
            "testannotationvalue",
        ),
        (
            "__meta_kubernetes_service_annotationpresent_test_annotation",
            "true",
        ),
    ]);
    let port = labels(&[
        ("__meta_kubernetes_endpointslice_port_name", "testport"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port", "9000"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
    ]);
    let node_target = with(
        &port,
        &[
            ("__address__", "1.2.3.4:9000"),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                "true",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                "true",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                "false",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_hostname",
                "testendpoint1",
            ),
            (
                "__meta_kubernetes_endpointslice_address_target_kind",
                "Node",
            ),
            (
                "__meta_kubernetes_endpointslice_address_target_name",
                "foobar",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_node_name",
                "foobar",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_zone",
                "us-east-1a",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_topology_topology",
                "value",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_topology_present_topology",
                "true",
            ),
            // attach_metadata.node: the node behind the endpoint.
            ("__meta_kubernetes_node_name", "foobar"),
            ("__meta_kubernetes_node_label_zone", "a"),
            ("__meta_kubernetes_node_labelpresent_zone", "true"),
            (
                "__meta_kubernetes_node_annotation_test_annotation",
                "testannotationvalue",
            ),
            (
                "__meta_kubernetes_node_annotationpresent_test_annotation",
                "true",
            ),
        ],
    );
    let terminating = with(
        &port,
        &[
            ("__address__", "2.3.4.5:9000"),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                "false",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                "false",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                "true",
            ),
        ],
    );
    let mut pod_target = with(
        &port,
        &[
            ("__address__", "1.2.3.10:9000"),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                "true",
            ),
            ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
            (
                "__meta_kubernetes_endpointslice_address_target_name",
                "testpod",
            ),
            (
                "__meta_kubernetes_endpointslice_endpoint_node_name",
                "testnode",
            ),
        ],
    );
    pod_target.extend(backing_pod_labels("default"));
    pod_target.extend(pod_port_labels(
        "testcontainer0",
        "testport0",
        "9000",
        "TCP",
        "false",
    ));
    let mut targets = vec![node_target, terminating, pod_target];
    targets.extend(uncovered_pod_targets("default"));
    let source = "endpointslice/default/testslice";
    assert_eq!(sd.next().await, vec![group(source, meta, targets)]);

    let services: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/services")
        .collect();
    assert!(
        !services.is_empty(),
        "services are watched for the service labels"
    );
    for req in services {
        let selector = req.query.get("labelSelector").map(String::as_str);
        assert_eq!(selector, Some("app/name=test"), "request {req:?}");
    }
    let slices = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/apis/discovery.k8s.io/v1/endpointslices")
        .count();
    assert!(slices >= 1, "the slices are listed");

    // The pod stops backing the endpoint: its labels and extra ports go.
    api.delete(
        "pods",
        fixtures::pod("default", "testpod", "1.2.3.4", "testnode"),
    );
    let update = sd.next().await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].targets.len(), 3);
    assert!(!update[0].targets[2].contains_key("__meta_kubernetes_pod_name"));

    api.delete(
        "endpointslices",
        fixtures::endpoint_slice("default", "testslice", "testsvc"),
    );
    assert_eq!(sd.next().await, vec![empty(source)]);
}

#[tokio::test]
async fn watch_stream_waits_for_the_initial_list() {
    let api = FakeApi::start().await;
    let mut sd = Running::start(&config(&api, KubernetesRole::Service));
    // An empty cluster still yields one (empty) initial update.
    assert_eq!(sd.next().await, Vec::<TargetGroup>::new());
    api.add("services", fixtures::external_service("default"));
    let update = sd.next().await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].source, "svc/default/testservice-external");
    let watched = api.requests().iter().any(|r| r.is_watch());
    assert!(watched, "updates come from a watch request");
}

#[tokio::test]
async fn service_role_attaches_namespace_metadata() {
    let api = FakeApi::start().await;
    api.add("services", fixtures::external_service("default"));
    let namespace = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"team": "a"}, "annotations": {"owner": "x"}},
    });
    api.add("namespaces", namespace.clone());

    let mut cfg = config(&api, KubernetesRole::Service);
    cfg.attach_metadata_namespace = true;
    let mut sd = Running::start(&cfg);
    let update = sd.next().await;
    assert_eq!(update.len(), 1);
    let ns_labels = labels(&[
        ("__meta_kubernetes_namespace_label_team", "a"),
        ("__meta_kubernetes_namespace_labelpresent_team", "true"),
        ("__meta_kubernetes_namespace_annotation_owner", "x"),
        (
            "__meta_kubernetes_namespace_annotationpresent_owner",
            "true",
        ),
    ]);
    for (k, v) in &ns_labels {
        assert_eq!(update[0].labels.get(k), Some(v), "label {k}");
    }

    // A namespace change re-labels the services in it.
    let mut relabelled = namespace;
    relabelled["metadata"]["labels"]["team"] = json!("b");
    api.modify("namespaces", relabelled);
    let update = sd.next().await;
    assert_eq!(update.len(), 1);
    let team = update[0]
        .labels
        .get("__meta_kubernetes_namespace_label_team");
    assert_eq!(team.map(String::as_str), Some("b"));
}
