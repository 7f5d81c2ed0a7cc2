//! The groups every provider reported last, the providers each job uses,
//! and the `watch` channel the merged view is published on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::TargetGroup;

use super::TargetSets;

pub(super) type ProviderId = u64;

pub(super) struct Shared {
    state: Mutex<State>,
    published: watch::Sender<Arc<TargetSets>>,
    /// Wakes the publisher after a provider update.
    pub(super) updated: Notify,
}

struct State {
    /// Per provider, its current groups by source.
    groups: HashMap<ProviderId, BTreeMap<String, TargetGroup>>,
    /// Per job, the providers it takes groups from, in config order.
    jobs: BTreeMap<String, Vec<ProviderId>>,
    /// Some provider update is not published yet.
    dirty: bool,
    last_publish: Instant,
}

impl Shared {
    pub(super) fn new() -> (Arc<Shared>, watch::Receiver<Arc<TargetSets>>) {
        let (published, rx) = watch::channel(Arc::new(TargetSets::new()));
        let shared = Shared {
            state: Mutex::new(State {
                groups: HashMap::new(),
                jobs: BTreeMap::new(),
                dirty: false,
                last_publish: Instant::now(),
            }),
            published,
            updated: Notify::new(),
        };
        (Arc::new(shared), rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent on panic: every update is a single insert
        // or removal, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add_provider(&self, id: ProviderId, initial: Vec<TargetGroup>) {
        let mut state = self.lock();
        let groups = state.groups.entry(id).or_default();
        merge_update(groups, initial);
    }

    pub(super) fn remove_provider(&self, id: ProviderId) {
        self.lock().groups.remove(&id);
    }

    /// Applies a provider's update; updates of removed providers are
    /// dropped. Returns whether the provider is still known.
    pub(super) fn apply_update(&self, id: ProviderId, update: Vec<TargetGroup>) -> bool {
        let mut state = self.lock();
        let Some(groups) = state.groups.get_mut(&id) else {
            return false;
        };
        merge_update(groups, update);
        state.dirty = true;
        drop(state);
        self.updated.notify_one();
        true
    }

    /// Replaces the job list and publishes at once.
    pub(super) fn set_jobs_and_publish(&self, jobs: BTreeMap<String, Vec<ProviderId>>) {
        let mut state = self.lock();
        state.jobs = jobs;
        self.publish_locked(&mut state);
    }

    /// Publishes if a provider update is pending; returns whether it did.
    pub(super) fn publish_if_dirty(&self) -> bool {
        let mut state = self.lock();
        if !state.dirty {
            return false;
        }
        self.publish_locked(&mut state);
        true
    }

    pub(super) fn last_publish(&self) -> Instant {
        self.lock().last_publish
    }

    fn publish_locked(&self, state: &mut State) {
        let sets: TargetSets = state
            .jobs
            .iter()
            .map(|(job, ids)| {
                let groups = ids
                    .iter()
                    .filter_map(|id| state.groups.get(id))
                    .flat_map(|groups| groups.values().cloned())
                    .collect();
                (job.clone(), groups)
            })
            .collect();
        state.dirty = false;
        state.last_publish = Instant::now();
        self.published.send_replace(Arc::new(sets));
    }
}

/// Groups replace the group with the same source; a group without targets
/// removes it, as Prometheus's `updateGroup`.
fn merge_update(groups: &mut BTreeMap<String, TargetGroup>, update: Vec<TargetGroup>) {
    for group in update {
        if group.targets.is_empty() {
            groups.remove(&group.source);
        } else {
            groups.insert(group.source.clone(), group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_sd::address_target;

    fn group(source: &str, addresses: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.to_string(),
            targets: addresses.iter().map(|a| address_target(a)).collect(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn empty_group_removes_its_source_and_others_replace() {
        let mut groups = BTreeMap::new();
        merge_update(
            &mut groups,
            vec![group("a", &["127.0.0.1:1"]), group("b", &["127.0.0.1:2"])],
        );
        merge_update(
            &mut groups,
            vec![group("a", &[]), group("b", &["127.0.0.1:3"])],
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups.get("b"), Some(&group("b", &["127.0.0.1:3"])));
    }

    #[test]
    fn publish_merges_providers_per_job_and_drops_unknown_updates() {
        let (shared, rx) = Shared::new();
        shared.add_provider(1, vec![group("x", &["127.0.0.1:1"])]);
        shared.add_provider(2, vec![group("y", &["127.0.0.1:2"])]);
        shared.set_jobs_and_publish(BTreeMap::from([
            ("both".to_string(), vec![1, 2]),
            ("one".to_string(), vec![2]),
            ("none".to_string(), vec![]),
        ]));
        let sets = rx.borrow().clone();
        assert_eq!(sets.get("both").map(Vec::len), Some(2));
        assert_eq!(sets.get("one").map(Vec::len), Some(1));
        assert_eq!(sets.get("none").map(Vec::len), Some(0));

        shared.remove_provider(2);
        assert!(!shared.apply_update(2, vec![group("z", &["127.0.0.1:3"])]));
        assert!(!shared.publish_if_dirty());
        assert!(shared.apply_update(1, vec![group("z", &["127.0.0.1:3"])]));
        assert!(shared.publish_if_dirty());
        let sets = rx.borrow().clone();
        assert_eq!(sets.get("both").map(Vec::len), Some(2));
        assert_eq!(sets.get("one").map(Vec::len), Some(0));
    }
}
