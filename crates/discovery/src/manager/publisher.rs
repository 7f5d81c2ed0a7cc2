//! Coalesces provider updates before publishing, as Prometheus's discovery
//! sender: after a quiet period the first update goes out promptly, and
//! under steady churn the pause between publishes grows (×1.5) up to the
//! update interval.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::state::Shared;

/// Prometheus's initial backoff.
const MIN_DELAY: Duration = Duration::from_millis(100);

pub(super) async fn run_publisher(
    shared: Arc<Shared>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let min_delay = MIN_DELAY.min(interval);
    let mut delay = min_delay;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.updated.notified() => {}
        }
        let last = shared.last_publish();
        if last.elapsed() > interval {
            delay = min_delay;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(last + delay) => {}
        }
        if shared.publish_if_dirty() {
            delay = delay.mul_f64(1.5).min(interval);
        }
    }
}
