//! The local copies of the watched objects, fed by the watch streams.
//!
//! Several streams (one per namespace) may feed one store; a re-list of one
//! stream replaces only that stream's objects.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use kube::runtime::watcher::Event;

use super::labels::namespaced;

pub(super) struct Store<K> {
    /// Key (`namespace/name`, or `name` for cluster objects) to the stream
    /// that delivered the object and the object.
    objects: BTreeMap<String, (usize, K)>,
    /// Objects of a re-list in progress, per stream.
    relisting: HashMap<usize, BTreeMap<String, K>>,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relisting: HashMap::new(),
        }
    }
}

impl<K: Resource> Store<K> {
    /// Applies one watch event; returns true when it completed a listing.
    pub(super) fn apply(&mut self, stream: usize, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relisting.insert(stream, BTreeMap::new());
            }
            Event::InitApply(obj) => {
                let key = object_key(&obj);
                self.relisting.entry(stream).or_default().insert(key, obj);
            }
            Event::InitDone => {
                let listed = self.relisting.remove(&stream).unwrap_or_default();
                self.objects.retain(|_, (owner, _)| *owner != stream);
                for (key, obj) in listed {
                    self.objects.insert(key, (stream, obj));
                }
                return true;
            }
            Event::Apply(obj) => {
                self.objects.insert(object_key(&obj), (stream, obj));
            }
            Event::Delete(obj) => {
                self.objects.remove(&object_key(&obj));
            }
        }
        false
    }

    pub(super) fn get(&self, key: &str) -> Option<&K> {
        self.objects.get(key).map(|(_, obj)| obj)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &K> {
        self.objects.values().map(|(_, obj)| obj)
    }
}

/// `namespace/name` for namespaced objects, `name` otherwise, as client-go's
/// `MetaNamespaceKeyFunc`.
pub(super) fn object_key<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => namespaced(ns, name),
        _ => name.to_string(),
    }
}

/// Everything a role may need to build its groups.
#[derive(Default)]
pub(super) struct Cache {
    pub(super) nodes: Store<Node>,
    pub(super) pods: Store<Pod>,
    pub(super) services: Store<Service>,
    pub(super) endpoints: Store<Endpoints>,
    pub(super) endpoint_slices: Store<EndpointSlice>,
    pub(super) namespaces: Store<Namespace>,
}

/// One event of one watch stream (boxed: the objects are large).
pub(super) enum Change {
    Node(usize, Box<Event<Node>>),
    Pod(usize, Box<Event<Pod>>),
    Service(usize, Box<Event<Service>>),
    Endpoints(usize, Box<Event<Endpoints>>),
    EndpointSlice(usize, Box<Event<EndpointSlice>>),
    Namespace(usize, Box<Event<Namespace>>),
}

impl Cache {
    /// Applies a change; returns the stream id when it completed a listing.
    pub(super) fn apply(&mut self, change: Change) -> Option<usize> {
        let (stream, listed) = match change {
            Change::Node(s, e) => (s, self.nodes.apply(s, *e)),
            Change::Pod(s, e) => (s, self.pods.apply(s, *e)),
            Change::Service(s, e) => (s, self.services.apply(s, *e)),
            Change::Endpoints(s, e) => (s, self.endpoints.apply(s, *e)),
            Change::EndpointSlice(s, e) => (s, self.endpoint_slices.apply(s, *e)),
            Change::Namespace(s, e) => (s, self.namespaces.apply(s, *e)),
        };
        listed.then_some(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn relist_replaces_only_the_streams_own_objects() {
        let mut store = Store::default();
        store.apply(0, Event::InitApply(pod("a", "p1")));
        assert!(store.apply(0, Event::InitDone));
        store.apply(1, Event::Apply(pod("b", "p2")));
        assert!(store.get("a/p1").is_some());

        store.apply(0, Event::Init);
        store.apply(0, Event::InitApply(pod("a", "p3")));
        assert!(
            store.get("a/p1").is_some(),
            "old state kept until the re-list is done"
        );
        store.apply(0, Event::InitDone);

        let keys: Vec<String> = store.iter().map(object_key).collect();
        assert_eq!(keys, ["a/p3", "b/p2"]);
    }

    #[test]
    fn delete_removes_the_object() {
        let mut store = Store::default();
        store.apply(0, Event::Apply(pod("a", "p1")));
        store.apply(0, Event::Delete(pod("a", "p1")));
        assert_eq!(store.iter().count(), 0);
    }
}
