//! `static_configs`: a job's static configs form one provider whose groups
//! are known at once, as Prometheus's `discovery.StaticConfig`.

use std::collections::BTreeMap;

use argus_config::discovery::StaticConfig;

use crate::TargetGroup;

pub(crate) const ADDRESS_LABEL: &str = "__address__";

/// One group per static config, with the config's position in the job as
/// source (`"0"`, `"1"`, ...), as Prometheus numbers them.
pub(crate) fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(index, cfg)| TargetGroup {
            source: index.to_string(),
            targets: cfg.targets.iter().map(|t| address_target(t)).collect(),
            labels: cfg.labels.clone(),
        })
        .collect()
}

/// A target label set holding only `__address__`.
pub(crate) fn address_target(address: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(ADDRESS_LABEL.to_string(), address.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_positions_and_targets_become_addresses() {
        let configs = vec![
            StaticConfig {
                targets: vec!["127.0.0.1:9090".into()],
                labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            },
            StaticConfig {
                targets: vec!["127.0.0.1:9091".into(), "127.0.0.1:9092".into()],
                labels: BTreeMap::new(),
            },
        ];
        let groups = static_groups(&configs);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "0");
        assert_eq!(groups[1].source, "1");
        assert_eq!(
            groups[0].labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert_eq!(groups[1].targets[1], address_target("127.0.0.1:9092"));
    }
}
