//! Kubernetes objects in the JSON shapes of the API reference, modelled on
//! upstream's discovery/kubernetes/*_test.go objects.

use serde_json::{Value, json};

pub fn node(name: &str, addresses: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": format!("uid-{name}"),
            "labels": labels,
            "annotations": {"test-annotation": "testannotationvalue"},
        },
        "spec": {"providerID": format!("aws:///{name}")},
        "status": {
            "addresses": addresses,
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "False"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    })
}

/// A running pod with a two-port container, a port-less sidecar and an
/// init container, owned by a ReplicaSet (upstream's makeMultiPortPods).
pub fn pod(ns: &str, name: &str, ip: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("uid-{name}"),
            "labels": {"test/label": "testvalue"},
            "annotations": {"test/annotation": "testannotationvalue"},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "testcontrollername",
                "uid": "rs-uid",
                "controller": true,
            }],
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "testcontainer0",
                    "image": "testcontainer0:latest",
                    "ports": [
                        {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
                        {"name": "testport1", "protocol": "UDP", "containerPort": 9001},
                    ],
                },
                {"name": "testcontainer1", "image": "testcontainer1:latest"},
            ],
            "initContainers": [
                {
                    "name": "initcontainer",
                    "image": "initcontainer:latest",
                    "ports": [{"name": "initport", "protocol": "TCP", "containerPort": 1111}],
                },
            ],
        },
        "status": {
            "podIP": ip,
            "hostIP": "2.3.4.5",
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                container_status("testcontainer0", "docker://a1b2c3d4e5f6"),
                container_status("testcontainer1", "containerd://6f5e4d3c2b1a"),
            ],
            "initContainerStatuses": [container_status("initcontainer", "containerd://init")],
        },
    })
}

fn container_status(name: &str, id: &str) -> Value {
    json!({
        "name": name,
        "containerID": id,
        "image": format!("{name}:latest"),
        "imageID": "",
        "ready": true,
        "restartCount": 0,
    })
}

pub fn pending_pod(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": "pending-uid"},
        "spec": {"containers": [{"name": "c", "image": "c:latest"}]},
        "status": {"phase": "Pending"},
    })
}

pub fn service(ns: &str, name: &str, port: i32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app/name": "test"},
            "annotations": {"test/annotation": "testannotationvalue"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.1",
            "ports": [{"name": "testport", "protocol": "TCP", "port": port}],
        },
    })
}

pub fn external_service(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "testservice-external", "namespace": ns},
        "spec": {
            "type": "ExternalName",
            "externalName": "FooExternalName",
            "ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
        },
    })
}

pub fn load_balancer_service(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "testservice-lb-ingress", "namespace": ns},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.0.0.1",
            "loadBalancerIP": "127.0.0.2",
            "ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "192.168.1.15"},
            {"hostname": "lb.example.com"},
            {"ip": "2001:db8::1"},
        ]}},
    })
}

/// Upstream's makeEndpoints: a node-backed ready address, a not-ready one
/// and one backed by pod `testpod` in the same namespace.
pub fn endpoints(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app/name": "test"},
            "annotations": {"test.annotation": "test"},
        },
        "subsets": [
            {
                "addresses": [{
                    "ip": "1.2.3.4",
                    "hostname": "testendpoint1",
                    "nodeName": "foobar",
                    "targetRef": {"kind": "Node", "name": "foobar"},
                }],
                "notReadyAddresses": [{"ip": "2.3.4.5"}],
                "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}],
            },
            {
                "addresses": [{
                    "ip": "1.2.3.10",
                    "nodeName": "testnode",
                    "targetRef": {"kind": "Pod", "name": "testpod", "namespace": ns},
                }],
                "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}],
            },
        ],
    })
}

/// Upstream's makeEndpointSliceV1, with one endpoint backed by `testpod`.
pub fn endpoint_slice(ns: &str, name: &str, service: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service},
            "annotations": {"test.annotation": "test"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
        "endpoints": [
            {
                "addresses": ["1.2.3.4"],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "hostname": "testendpoint1",
                "targetRef": {"kind": "Node", "name": "foobar"},
                "nodeName": "foobar",
                "zone": "us-east-1a",
                "deprecatedTopology": {"topology": "value"},
            },
            {
                "addresses": ["2.3.4.5"],
                "conditions": {"ready": false, "serving": false, "terminating": true},
            },
            {
                "addresses": ["1.2.3.10"],
                "conditions": {"ready": true},
                "nodeName": "testnode",
                "targetRef": {"kind": "Pod", "name": "testpod", "namespace": ns},
            },
        ],
    })
}
