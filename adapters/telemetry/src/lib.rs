//! The instruments every part of an instance records into, and their exposition on
//! `/metrics` (the Prometheus client library's OpenMetrics text).
//!
//! [`Instruments`] is made once per process and cloned into the parts: the HTTP edge times
//! each request by route, [`TimedLog`] times appends, [`TimedMatcher`] times matching, the
//! webhook sender counts failed and abandoned deliveries. Values the parts already keep
//! (the runtime's and the core's counters, the projection's lag) are added at each scrape
//! ([`Exposition`]). The engine stays free of any metrics library: the decorators wrap its
//! ports from outside.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_engine::ports::{MatchError, Matcher, Ranking};
use switchboard_schemas::{FaqEvent, RecordedEvent, StreamId, TeamId};

/// The labels of one HTTP request's timing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// The route as documented (`/api/v1/teams/{team}/messages`), never the raw path, so
    /// the series stay few.
    pub route: String,
    /// The status class: `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: String,
}

/// The shared instruments; clones record into the same series.
#[derive(Debug, Clone)]
pub struct Instruments {
    /// Seconds from a request's arrival to its response, by route and status class.
    pub http_seconds: Family<HttpRequest, Histogram>,
    /// Seconds per append to the event log.
    pub append_seconds: Histogram,
    /// Seconds per question matched.
    pub match_seconds: Histogram,
    /// Webhook delivery attempts that failed (to be retried or given up).
    pub webhook_failures: Counter,
    /// Webhook deliveries given up after their last attempt.
    pub webhook_gave_up: Counter,
}

/// 0.25 ms to about 8 s, doubling: request, append and match latencies alike.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Instruments {
    fn default() -> Self {
        Self {
            http_seconds: Family::new_with_constructor(latency),
            append_seconds: latency(),
            match_seconds: latency(),
            webhook_failures: Counter::default(),
            webhook_gave_up: Counter::default(),
        }
    }
}

/// The status class of a status code.
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

/// One scrape: the instruments plus the values read at this moment.
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// A scrape of `instruments`.
    pub fn new(instruments: &Instruments) -> Self {
        let mut registry = Registry::default();
        let i = instruments.clone();
        registry.register(
            "switchboard_http_request_seconds",
            "Seconds from a request's arrival to its response, by route and status class.",
            i.http_seconds,
        );
        registry.register("switchboard_log_append_seconds", "Seconds per append to the event log.", i.append_seconds);
        registry.register("switchboard_match_seconds", "Seconds per question matched.", i.match_seconds);
        registry.register(
            "switchboard_webhook_failures",
            "Webhook delivery attempts that failed (retried later or given up).",
            i.webhook_failures,
        );
        registry.register(
            "switchboard_webhook_gave_up",
            "Webhook deliveries given up after their last attempt.",
            i.webhook_gave_up,
        );
        Self { registry }
    }

    /// Adds a counter read now (`name` without `_total`: the exposition appends it).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> &mut Self {
        self.registry.register(name, help, ConstCounter::new(value));
        self
    }

    /// Adds a gauge read now.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) -> &mut Self {
        self.registry.register(name, help, ConstGauge::new(value));
        self
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The media type of [`Exposition::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An event log whose appends are timed.
pub struct TimedLog {
    inner: Arc<dyn EventLog>,
    seconds: Histogram,
}

impl TimedLog {
    /// `inner`, timing appends into `seconds`.
    pub fn new(inner: Arc<dyn EventLog>, seconds: Histogram) -> Self {
        Self { inner, seconds }
    }
}

#[async_trait]
impl EventLog for TimedLog {
    async fn store(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        commit: Commit,
    ) -> Result<Appended, AppendError> {
        let started = Instant::now();
        let appended = self.inner.store(stream, expected, commit).await;
        self.seconds.observe(started.elapsed().as_secs_f64());
        appended
    }

    fn max_commit_bytes(&self) -> usize {
        self.inner.max_commit_bytes()
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, LogError> {
        self.inner.read_stream(stream, after_version).await
    }

    async fn read_all(&self, after: u64, limit: usize, team: Option<&TeamId>) -> Result<Vec<RecordedEvent>, LogError> {
        self.inner.read_all(after, limit, team).await
    }

    async fn head(&self) -> Result<u64, LogError> {
        self.inner.head().await
    }

    async fn wait_for_append(&self, after: u64, timeout: std::time::Duration) {
        self.inner.wait_for_append(after, timeout).await;
    }
}

/// A matcher whose rankings are timed.
pub struct TimedMatcher {
    inner: Arc<dyn Matcher>,
    seconds: Histogram,
}

impl TimedMatcher {
    /// `inner`, timing rankings into `seconds`.
    pub fn new(inner: Arc<dyn Matcher>, seconds: Histogram) -> Self {
        Self { inner, seconds }
    }
}

#[async_trait]
impl Matcher for TimedMatcher {
    async fn rank(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError> {
        let started = Instant::now();
        let ranking = self.inner.rank(team, query, limit).await;
        self.seconds.observe(started.elapsed().as_secs_f64());
        ranking
    }

    async fn apply(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError> {
        self.inner.apply(team, event).await
    }
}
