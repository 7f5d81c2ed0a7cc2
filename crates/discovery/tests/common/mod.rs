//! Helpers shared by the discovery integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use argus_discovery::{Discoverer, TargetGroup};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs a discoverer and folds its updates by source, as the manager does.
pub struct Collector {
    rx: mpsc::Receiver<Vec<TargetGroup>>,
    pub groups: BTreeMap<String, TargetGroup>,
    pub updates: usize,
    shutdown: CancellationToken,
}

impl Collector {
    pub fn start(discoverer: Box<dyn Discoverer>) -> Collector {
        let (tx, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        tokio::spawn(discoverer.run(tx, shutdown.clone()));
        Collector {
            rx,
            groups: BTreeMap::new(),
            updates: 0,
            shutdown,
        }
    }

    /// The next update (already folded in); panics after `timeout`.
    pub async fn next_update(&mut self, timeout: Duration) -> Vec<TargetGroup> {
        let update = tokio::time::timeout(timeout, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no update within {timeout:?}"))
            .unwrap_or_else(|| panic!("discoverer ended"));
        self.updates += 1;
        for group in &update {
            if group.targets.is_empty() {
                self.groups.remove(&group.source);
            } else {
                self.groups.insert(group.source.clone(), group.clone());
            }
        }
        update
    }

    /// Folds updates until `done` holds for the groups; panics after
    /// `timeout`, showing the last groups.
    pub async fn until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&BTreeMap<String, TargetGroup>) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(&self.groups) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "condition not met within {timeout:?}; groups: {:#?}",
                    self.groups
                );
            }
            self.next_update(left).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The `__address__` of every target of a group.
pub fn addresses(group: &TargetGroup) -> Vec<String> {
    group
        .targets
        .iter()
        .filter_map(|t| t.get("__address__").cloned())
        .collect()
}
