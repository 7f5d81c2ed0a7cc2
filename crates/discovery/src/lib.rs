//! Service discovery: turns the SD sections of a config into target groups,
//! as Prometheus's discovery manager does.
//!
//! Every provider ([`Discoverer`]) sends full replacements of the groups it
//! owns, keyed by [`TargetGroup::source`]; an empty group with a known
//! source removes that group. The [`Manager`] runs one provider per distinct
//! SD config, keeps the latest groups of each, and publishes the merged
//! view per job on a `watch` channel.

pub mod dns;
pub mod file;
pub mod kubernetes;
mod manager;
mod static_sd;

pub use manager::{DiscovererFactory, Manager, ManagerOptions, TargetSets};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use argus_config::discovery::SdConfig;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A set of targets sharing labels, as Prometheus's `targetgroup.Group`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its provider (a file name and index, a
    /// DNS name, a Kubernetes object key).
    pub source: String,
    /// One label set per target; each has `__address__`, and may have
    /// `__meta_*` labels.
    pub targets: Vec<BTreeMap<String, String>>,
    /// Labels common to every target of the group (`__meta_*` included).
    pub labels: BTreeMap<String, String>,
}

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A discovery provider. `run` sends updated groups on `tx` until
/// `shutdown` is cancelled or the receiver is gone. The first send should
/// come as soon as the initial state is known (it may be empty).
pub trait Discoverer: Send + 'static {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) -> BoxFuture;
}

/// Builds the provider for one dynamic SD config. Static configs have no
/// provider: the [`Manager`] turns them into groups itself. Relative paths
/// in the config are resolved against `base_dir` (the config file's
/// directory).
pub fn new_discoverer(cfg: &SdConfig, base_dir: &Path) -> Result<Box<dyn Discoverer>, String> {
    match cfg {
        SdConfig::Static(_) => Err("static configs have no discoverer".to_string()),
        SdConfig::File(c) => Ok(Box::new(file::FileDiscoverer::new(c, base_dir))),
        SdConfig::Dns(c) => Ok(Box::new(dns::DnsDiscoverer::new(c))),
        SdConfig::Kubernetes(c) => kubernetes::new_discoverer(c, base_dir),
    }
}

/// Sends `groups` unless `shutdown` comes first. False when the provider
/// should stop (shutdown, or the receiver is gone).
pub(crate) async fn send_groups(
    tx: &mpsc::Sender<Vec<TargetGroup>>,
    groups: Vec<TargetGroup>,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        sent = tx.send(groups) => sent.is_ok(),
    }
}
