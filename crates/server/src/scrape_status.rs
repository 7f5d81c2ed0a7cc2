//! The scrape manager's target and metadata view, as the HTTP API wants it.

use std::sync::Arc;

use argus_http_api::{
    DroppedTargetInfo, MetricMetadataInfo, ScrapeStatusSource, TargetInfo, TargetMetadataInfo,
};
use argus_scrape::ScrapeManager;

pub(crate) struct ScrapeStatus(pub Arc<ScrapeManager>);

impl ScrapeStatusSource for ScrapeStatus {
    fn active_targets(&self) -> Vec<TargetInfo> {
        self.0
            .active_targets()
            .into_iter()
            .map(|t| TargetInfo {
                discovered_labels: t.discovered_labels,
                labels: t.labels,
                scrape_pool: t.scrape_pool,
                scrape_url: t.scrape_url,
                last_error: t.last_error,
                last_scrape_ms: t.last_scrape_ms,
                last_scrape_duration: t.last_scrape_duration,
                health: t.health.as_str(),
                scrape_interval: t.scrape_interval,
                scrape_timeout: t.scrape_timeout,
            })
            .collect()
    }

    fn dropped_targets(&self) -> Vec<DroppedTargetInfo> {
        self.0
            .dropped_targets()
            .into_iter()
            .map(|t| DroppedTargetInfo {
                discovered_labels: t.discovered_labels,
                scrape_pool: t.scrape_pool,
            })
            .collect()
    }

    fn target_metadata(&self) -> Vec<TargetMetadataInfo> {
        self.0
            .target_metadata()
            .into_iter()
            .map(|t| TargetMetadataInfo {
                target: t.target,
                metrics: t
                    .metrics
                    .into_iter()
                    .map(|m| {
                        (
                            m.metric,
                            MetricMetadataInfo {
                                kind: m.kind,
                                help: m.help,
                                unit: m.unit,
                            },
                        )
                    })
                    .collect(),
            })
            .collect()
    }
}
