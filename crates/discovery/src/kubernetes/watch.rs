//! The list/watch streams a role needs, each feeding [`Change`]s into one
//! channel.

use std::fmt::Debug;
use std::pin::pin;

use argus_config::discovery::{KubernetesRole, KubernetesSelector};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::attach::Attach;
use super::store::Change;

/// What to watch for one SD config.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) role: KubernetesRole,
    /// Empty: all namespaces.
    pub(super) namespaces: Vec<String>,
    pub(super) selectors: Vec<KubernetesSelector>,
    pub(super) attach: Attach,
}

impl Plan {
    /// Starts every stream the role needs; returns how many were started.
    pub(super) fn spawn(
        &self,
        client: &Client,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::Sender<Change>,
    ) -> usize {
        let mut spawner = Spawner {
            plan: self,
            client,
            tasks,
            tx,
            next_id: 0,
        };
        use KubernetesRole as R;
        match self.role {
            R::Node => spawner.cluster::<Node>(R::Node, Change::Node),
            R::Pod => {
                spawner.per_namespace::<Pod>(R::Pod, Change::Pod);
                if self.attach.node {
                    spawner.cluster::<Node>(R::Node, Change::Node);
                }
            }
            R::Service => spawner.per_namespace::<Service>(R::Service, Change::Service),
            R::Endpoints | R::EndpointSlice => {
                if self.role == R::Endpoints {
                    spawner.per_namespace::<Endpoints>(R::Endpoints, Change::Endpoints);
                } else {
                    spawner.per_namespace::<EndpointSlice>(R::EndpointSlice, Change::EndpointSlice);
                }
                spawner.per_namespace::<Service>(R::Service, Change::Service);
                spawner.per_namespace::<Pod>(R::Pod, Change::Pod);
                if self.attach.node {
                    spawner.cluster::<Node>(R::Node, Change::Node);
                }
            }
            R::Ingress => {}
        }
        if self.attach.namespace && self.role != R::Node {
            // Namespaces are never filtered by the role's selectors.
            let api = Api::<Namespace>::all(client.clone());
            spawner.spawn(api, watcher::Config::default(), Change::Namespace);
        }
        spawner.next_id
    }

    fn watcher_config(&self, role: KubernetesRole) -> watcher::Config {
        let mut config = watcher::Config::default();
        if let Some(sel) = self.selectors.iter().find(|s| s.role == role) {
            if let Some(label) = sel.label.as_deref().filter(|l| !l.is_empty()) {
                config = config.labels(label);
            }
            if let Some(field) = sel.field.as_deref().filter(|f| !f.is_empty()) {
                config = config.fields(field);
            }
        }
        config
    }
}

type Wrap<K> = fn(usize, Box<Event<K>>) -> Change;

struct Spawner<'a> {
    plan: &'a Plan,
    client: &'a Client,
    tasks: &'a mut JoinSet<()>,
    tx: &'a mpsc::Sender<Change>,
    next_id: usize,
}

impl Spawner<'_> {
    fn cluster<K>(&mut self, role: KubernetesRole, wrap: Wrap<K>)
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let api = Api::<K>::all(self.client.clone());
        let config = self.plan.watcher_config(role);
        self.spawn(api, config, wrap);
    }

    fn per_namespace<K>(&mut self, role: KubernetesRole, wrap: Wrap<K>)
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + 'static,
    {
        if self.plan.namespaces.is_empty() {
            let api = Api::<K>::all(self.client.clone());
            self.spawn(api, self.plan.watcher_config(role), wrap);
            return;
        }
        for ns in &self.plan.namespaces {
            let api = Api::<K>::namespaced(self.client.clone(), ns);
            self.spawn(api, self.plan.watcher_config(role), wrap);
        }
    }

    fn spawn<K>(&mut self, api: Api<K>, config: watcher::Config, wrap: Wrap<K>)
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let id = self.next_id;
        self.next_id += 1;
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            let resource = K::plural(&()).into_owned();
            let mut events = pin!(watch_stream(api, config).default_backoff());
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => {
                        if tx.send(wrap(id, Box::new(event))).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(%resource, error = %e, "kubernetes watch failed"),
                }
            }
        });
    }
}
