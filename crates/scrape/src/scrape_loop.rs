//! One target's scrape loop: phase offset, aligned ticks, fetch with a
//! timeout, append, and staleness markers when the loop ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use argus_config::scrape::ScrapeConfig;
use argus_httpclient::HttpClient;
use argus_model::Appendable;
use argus_model::duration::DisplayMs;
use argus_model::time::now_ms;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::append::{AppendSettings, ScrapeOutcome, end_of_run_staleness, process_scrape};
use crate::cache::ScrapeCache;
use crate::fetch::{FetchError, Request, fetch};
use crate::metrics::{Metrics, interval_label};
use crate::report::ReportSeries;
use crate::target::Target;

/// Bodies larger than this are parsed on the blocking pool.
const BLOCKING_BODY_BYTES: usize = 1 << 20;

/// Scrape timestamps within this much of the aligned tick are moved onto
/// it, so samples compress better (upstream's default tolerance).
const ALIGN_TOLERANCE_MS: i64 = 2;

/// What a stopped loop does about its last series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum EndOfRun {
    /// Target gone: mark its series stale after two more intervals unless
    /// it comes back (upstream behaviour).
    Deferred = 0,
    /// Job removed: mark at once.
    Immediate = 1,
    /// Another loop continues with the same cache.
    Disabled = 2,
}

/// Cache and report series references of a target; survives a reload.
#[derive(Debug)]
pub(crate) struct TargetState {
    pub cache: ScrapeCache,
    pub report: ReportSeries,
}

impl TargetState {
    pub fn new(target: &Target) -> Arc<Mutex<TargetState>> {
        Arc::new(Mutex::new(TargetState {
            cache: ScrapeCache::default(),
            report: ReportSeries::new(&target.public_labels),
        }))
    }
}

/// What every loop of a pool shares.
pub(crate) struct PoolContext {
    pub storage: Arc<dyn Appendable>,
    pub metrics: Arc<Metrics>,
    pub client: HttpClient,
    pub cfg: Arc<ScrapeConfig>,
    pub accept: String,
    /// Process shutdown: loops stop without staleness markers.
    pub shutdown: CancellationToken,
    pub seed: u64,
    pub runtime: Handle,
}

/// The pool's side of a running loop.
#[derive(Debug)]
pub(crate) struct LoopHandle {
    pub target: Arc<Target>,
    pub state: Arc<Mutex<TargetState>>,
    stop: CancellationToken,
    end_of_run: Arc<AtomicU8>,
    forced_error: Arc<Mutex<Option<String>>>,
    pub stopped: watch::Receiver<bool>,
}

impl LoopHandle {
    pub fn stop(&self, end_of_run: EndOfRun) {
        self.end_of_run.store(end_of_run as u8, Ordering::Release);
        self.stop.cancel();
    }

    /// An error reported instead of scraping (target limit exceeded).
    pub fn set_forced_error(&self, e: Option<String>) {
        *self.forced_error.lock() = e;
    }
}

struct ScrapeLoop {
    ctx: Arc<PoolContext>,
    target: Arc<Target>,
    state: Arc<Mutex<TargetState>>,
    settings: AppendSettings,
    request: Request,
    stop: CancellationToken,
    end_of_run: Arc<AtomicU8>,
    forced_error: Arc<Mutex<Option<String>>>,
    stopped: watch::Sender<bool>,
    /// The body while a scrape runs; released between scrapes, because a
    /// thousand idle targets would otherwise pin a body each.
    buf: Vec<u8>,
    /// Size of the last body, to allocate the next one at once.
    body_size_hint: usize,
    interval_label: Vec<(String, String)>,
}

/// Starts a loop for `target`. With `previous`, the loop first waits for
/// that loop (of the same target) to stop, so they never share a scrape.
pub(crate) fn spawn(
    ctx: &Arc<PoolContext>,
    target: Arc<Target>,
    state: Arc<Mutex<TargetState>>,
    previous: Option<watch::Receiver<bool>>,
) -> LoopHandle {
    let stop = ctx.shutdown.child_token();
    let end_of_run = Arc::new(AtomicU8::new(EndOfRun::Deferred as u8));
    let forced_error = Arc::new(Mutex::new(None));
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let cfg = &ctx.cfg;
    let l = ScrapeLoop {
        ctx: ctx.clone(),
        target: target.clone(),
        state: state.clone(),
        settings: AppendSettings::new(cfg.clone(), target.public_labels.clone()),
        request: Request {
            url: target.url.clone(),
            accept: ctx.accept.clone(),
            accept_encoding: crate::accept::accept_encoding(cfg.enable_compression),
            timeout: target.timeout,
            body_size_limit: cfg.body_size_limit,
        },
        stop: stop.clone(),
        end_of_run: end_of_run.clone(),
        forced_error: forced_error.clone(),
        stopped: stopped_tx,
        buf: Vec::new(),
        body_size_hint: 0,
        interval_label: interval_label(&DisplayMs(target.interval.as_millis() as u64).to_string()),
    };
    ctx.runtime.spawn(l.run(previous));
    LoopHandle {
        target,
        state,
        stop,
        end_of_run,
        forced_error,
        stopped: stopped_rx,
    }
}

fn wall_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl ScrapeLoop {
    async fn run(mut self, previous: Option<watch::Receiver<bool>>) {
        if let Some(mut prev) = previous {
            tokio::select! {
                _ = prev.wait_for(|s| *s) => {}
                _ = self.stop.cancelled() => {}
            }
        }
        let last = self.scrape_until_stopped().await;
        self.stopped.send_replace(true);
        if let Some(last_t) = last
            && !self.ctx.shutdown.is_cancelled()
        {
            self.end_of_run(last_t).await;
        }
    }

    /// Scrapes on every tick until stopped; returns the time of the last
    /// scrape, if any.
    async fn scrape_until_stopped(&mut self) -> Option<i64> {
        let interval = self.target.interval;
        let offset = self.target.offset(wall_ns(), self.ctx.seed);
        tokio::select! {
            _ = tokio::time::sleep(offset) => {}
            _ = self.stop.cancelled() => return None,
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let interval_ms = interval.as_millis() as i64;
        let tolerance = (interval_ms / 100).min(ALIGN_TOLERANCE_MS);
        let mut aligned = now_ms();
        let mut last_start: Option<Instant> = None;
        let mut last_t = None;
        loop {
            if self.stop.is_cancelled() {
                return last_t;
            }
            let mut t = now_ms();
            while t - aligned >= interval_ms {
                aligned += interval_ms;
            }
            if t - aligned <= tolerance {
                t = aligned;
            }
            if !self.scrape_once(t, &mut last_start).await {
                return last_t;
            }
            last_t = Some(t);
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.stop.cancelled() => return last_t,
            }
        }
    }

    /// One scrape at `t`; false when shutdown interrupted it.
    async fn scrape_once(&mut self, t: i64, last_start: &mut Option<Instant>) -> bool {
        let start = Instant::now();
        if let Some(prev) = last_start.replace(start) {
            self.ctx
                .metrics
                .interval_length
                .get_or_create(&self.interval_label)
                .observe(start.duration_since(prev).as_secs_f64());
        }
        let forced = self.forced_error.lock().clone();
        let fetched = match forced {
            Some(e) => Err(e),
            None => {
                self.buf = Vec::with_capacity(self.body_size_hint);
                let shutdown = self.ctx.shutdown.clone();
                let fetch = tokio::time::timeout(
                    self.request.timeout,
                    fetch(&self.ctx.client, &self.request, &mut self.buf),
                );
                let r = tokio::select! {
                    r = fetch => r,
                    _ = shutdown.cancelled() => return false,
                };
                self.fetch_result(r)
            }
        };
        if let Err(e) = &fetched {
            tracing::debug!(target = %self.target.url, err = %e, "scrape failed");
        }
        let outcome = self.append(fetched, t, start).await;
        self.body_size_hint = self.buf.len();
        self.buf = Vec::new();
        self.target
            .report(t, outcome.duration, outcome.error.as_deref());
        true
    }

    fn fetch_result(
        &mut self,
        r: Result<Result<String, FetchError>, tokio::time::error::Elapsed>,
    ) -> Result<String, String> {
        match r {
            Ok(Ok(content_type)) => Ok(content_type),
            Ok(Err(FetchError::BodySizeLimit)) => {
                self.ctx.metrics.exceeded_body_size_limit.inc();
                Err(FetchError::BodySizeLimit.message())
            }
            Ok(Err(e)) => Err(e.message()),
            Err(_) => Err(format!(
                "Get {:?}: context deadline exceeded",
                self.request.url
            )),
        }
    }

    async fn append(
        &mut self,
        fetched: Result<String, String>,
        t: i64,
        start: Instant,
    ) -> ScrapeOutcome {
        if self.buf.len() <= BLOCKING_BODY_BYTES {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let body = fetched
                .as_ref()
                .map(|ct| (&self.buf[..], ct.as_str()))
                .map_err(Clone::clone);
            return process_scrape(
                &*self.ctx.storage,
                &mut st.cache,
                &self.settings,
                &mut st.report,
                &self.ctx.metrics,
                body,
                t,
                start,
            );
        }
        // A large body would hold a runtime thread for long: parse it on
        // the blocking pool, handing the buffer there and back.
        let buf = std::mem::take(&mut self.buf);
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        let settings = self.settings.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = state.lock();
            let st = &mut *guard;
            let body = fetched
                .as_ref()
                .map(|ct| (&buf[..], ct.as_str()))
                .map_err(Clone::clone);
            let outcome = process_scrape(
                &*ctx.storage,
                &mut st.cache,
                &settings,
                &mut st.report,
                &ctx.metrics,
                body,
                t,
                start,
            );
            drop(guard);
            (buf, outcome)
        })
        .await;
        match joined {
            Ok((buf, outcome)) => {
                self.buf = buf;
                outcome
            }
            Err(e) => ScrapeOutcome {
                error: Some(format!("append task failed: {e}")),
                duration: start.elapsed(),
            },
        }
    }

    /// Staleness markers for everything this loop last wrote.
    async fn end_of_run(&self, _last_t: i64) {
        let interval = self.target.interval;
        let mode = self.end_of_run.load(Ordering::Acquire);
        let stale_t = if mode == EndOfRun::Immediate as u8 {
            now_ms()
        } else if mode == EndOfRun::Disabled as u8 {
            return;
        } else {
            // The target may be recreated (flapping discovery): wait until
            // its next scrape would have happened, and one more, before
            // marking; a recreated loop's samples then win.
            let shutdown = &self.ctx.shutdown;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.cancelled() => return,
            }
            let t = now_ms();
            tokio::select! {
                _ = tokio::time::sleep(interval + interval / 10) => {}
                _ = shutdown.cancelled() => return,
            }
            if self.end_of_run.load(Ordering::Acquire) == EndOfRun::Disabled as u8 {
                return;
            }
            t
        };
        let mut guard = self.state.lock();
        let st = &mut *guard;
        end_of_run_staleness(&*self.ctx.storage, &mut st.cache, &mut st.report, stale_t);
    }
}
