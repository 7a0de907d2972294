//! Webhook deliveries: the sender half of the outbox (`switchboard_projections::outbox`).
//!
//! The outbox queues one delivery per event and endpoint; the [`Sender`] takes the due
//! ones, POSTs each event's [`PublishedEvent`] JSON signed with the endpoint's secret
//! ([`signature`]), and records every attempt: delivered on 2xx, otherwise retried with
//! exponential backoff (or after the endpoint's `Retry-After`) until it gives up. Within
//! one conversation (one stream) an endpoint receives events in log order: a later event
//! waits until the earlier one is delivered or given up. Delivery is at least once — a
//! crash between an answer and its record sends again — so receivers deduplicate by
//! `Switchboard-Event-Id`.

pub mod signature;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::Clock;
use switchboard_outbound::{discard, OutboundClient, OutboundError, OutboundPolicy};
use switchboard_projections::outbox::{Attempt, DeliveryStore, DueDelivery};
use switchboard_projections::store::StoreError;
use switchboard_schemas::PublishedEvent;
use switchboard_telemetry::Instruments;
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// The header naming the endpoint.
pub const WEBHOOK_ID_HEADER: &str = "Switchboard-Webhook-Id";
/// The header naming the delivery (the same on every retry).
pub const DELIVERY_ID_HEADER: &str = "Switchboard-Delivery-Id";
/// The header naming the event: receivers deduplicate by it.
pub const EVENT_ID_HEADER: &str = "Switchboard-Event-Id";
/// The header naming the event type.
pub const EVENT_TYPE_HEADER: &str = "Switchboard-Event-Type";
/// The header counting attempts (1 for the first).
pub const ATTEMPT_HEADER: &str = "Switchboard-Attempt";

/// How much of an error answer is read (and dropped) so the connection can be reused.
const ERROR_BODY_BYTES: usize = 512;

/// How deliveries are sent and retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderOptions {
    /// How long an endpoint may take to answer.
    pub timeout: Duration,
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// Deliveries in flight at once (over all endpoints).
    pub concurrency: u32,
    /// How often due retries are looked for when nothing new is queued.
    pub poll: Duration,
    /// Which addresses endpoints may have (public only, unless the operator allows more).
    pub outbound: OutboundPolicy,
}

impl Default for SenderOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(600),
            concurrency: 32,
            poll: Duration::from_millis(500),
            outbound: OutboundPolicy::public_only(),
        }
    }
}

impl SenderOptions {
    /// The wait after the `failures`-th consecutive failure: `first_retry · 2^(failures-1)`,
    /// at most `max_retry`.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.first_retry.saturating_mul(factor).min(self.max_retry)
    }
}

/// Finds an endpoint's signing secret by the name its registration gives
/// (`secret_ref`): the environment or the instance's secret file.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Why the sender stopped.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The delivery store failed; running again resumes from what it holds.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

/// Sends due deliveries and records their attempts.
pub struct Sender {
    log: Arc<dyn EventLog>,
    store: Arc<dyn DeliveryStore>,
    secrets: SecretLookup,
    clock: Arc<dyn Clock>,
    queued: Arc<Notify>,
    options: SenderOptions,
    http: OutboundClient,
    instruments: Instruments,
}

impl Sender {
    /// A sender reading events from `log` and deliveries from `store`; `queued` is the
    /// outbox's notification of new deliveries.
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn DeliveryStore>,
        secrets: SecretLookup,
        clock: Arc<dyn Clock>,
        queued: Arc<Notify>,
        options: SenderOptions,
    ) -> Result<Self, SenderError> {
        // The guard follows no redirect: one is an answer other than 2xx, since the
        // registration names the endpoint.
        let builder = reqwest::Client::builder()
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout);
        let http =
            OutboundClient::new(options.outbound.clone(), builder).map_err(|e| SenderError::Client(e.to_string()))?;
        Ok(Self { log, store, secrets, clock, queued, options, http, instruments: Instruments::default() })
    }

    /// Counts failed and abandoned deliveries into `instruments` (for `/metrics`).
    pub fn with_instruments(mut self, instruments: Instruments) -> Self {
        self.instruments = instruments;
        self
    }

    /// Sends until `shutdown` completes or the store fails. Attempts in flight at shutdown
    /// are not recorded and are sent again on the next run.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), SenderError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut in_flight: HashSet<Uuid> = HashSet::new();
        let mut attempts = FuturesUnordered::new();
        let limit = self.options.concurrency.max(1);
        loop {
            let room = limit.saturating_sub(u32::try_from(in_flight.len()).unwrap_or(u32::MAX));
            if room > 0 {
                for due in self.store.due(self.clock.now(), limit).await? {
                    let id = due.delivery.delivery.delivery_id;
                    if in_flight.len() < limit as usize && in_flight.insert(id) {
                        attempts.push(async move { (id, self.attempt(&due).await) });
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some((id, attempt)) = attempts.next(), if !attempts.is_empty() => {
                    if let Attempt::Failed { retry_at, .. } = &attempt {
                        self.instruments.webhook_failures.inc();
                        if retry_at.is_none() {
                            self.instruments.webhook_gave_up.inc();
                        }
                    }
                    self.store.record_attempt(id, self.clock.now(), &attempt).await?;
                    in_flight.remove(&id);
                }
                () = self.queued.notified() => {}
                () = tokio::time::sleep(self.options.poll) => {}
            }
        }
    }

    /// One attempt of one delivery.
    pub async fn attempt(&self, due: &DueDelivery) -> Attempt {
        let delivery = &due.delivery.delivery;
        let attempt = due.delivery.attempts + 1;
        let give_up_or_retry = |status: Option<u16>, error: String, retry_after: Option<Duration>| {
            let retry_at = (attempt < self.options.max_attempts).then(|| {
                let wait =
                    self.options.retry_delay(attempt).max(retry_after.unwrap_or_default()).min(self.options.max_retry);
                self.clock.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
            });
            if retry_at.is_none() {
                warn!(webhook = %delivery.webhook_id, delivery = %delivery.delivery_id, %error, attempts = attempt, "webhook delivery gave up");
            }
            Attempt::Failed { status, error, retry_at }
        };
        let Some(secret) = (self.secrets)(&due.secret_ref) else {
            let error = format!(
                "the signing secret {} is not set on this instance (neither an environment variable nor in its secret file)",
                due.secret_ref
            );
            return give_up_or_retry(None, error, None);
        };
        let event = match self.log.read_all(delivery.position.saturating_sub(1), 1, None).await {
            Ok(events) => events.into_iter().find(|e| e.event_id == delivery.event_id),
            Err(e) => return give_up_or_retry(None, format!("cannot read the event from the log: {e}"), None),
        };
        let Some(event) = event else {
            return Attempt::Failed {
                status: None,
                error: format!("event {} is not at position {} of the log", delivery.event_id, delivery.position),
                retry_at: None,
            };
        };
        let body = match serde_json::to_vec(&PublishedEvent::from(&event)) {
            Ok(body) => body,
            Err(e) => return Attempt::Failed { status: None, error: e.to_string(), retry_at: None },
        };
        let timestamp = self.clock.now().timestamp();
        let refused = |refusal: &OutboundError| {
            warn!(webhook = %delivery.webhook_id, delivery = %delivery.delivery_id, error = %refusal, "webhook delivery refused by the address guard");
            Attempt::Failed { status: None, error: refusal.to_string(), retry_at: None }
        };
        let request = match self.http.post(&due.url) {
            Ok(request) => request,
            Err(refusal) => return refused(&refusal),
        };
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signature::sign(secret.as_bytes(), timestamp, &body))
            .header(WEBHOOK_ID_HEADER, delivery.webhook_id.to_string())
            .header(DELIVERY_ID_HEADER, delivery.delivery_id.to_string())
            .header(EVENT_ID_HEADER, delivery.event_id.to_string())
            .header(EVENT_TYPE_HEADER, delivery.event_type.as_str())
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(body);
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                debug!(webhook = %delivery.webhook_id, event = %delivery.event_id, attempt, "webhook delivered");
                if attempt > 1 {
                    info!(webhook = %delivery.webhook_id, delivery = %delivery.delivery_id, attempt, "webhook delivered after retries");
                }
                Attempt::Delivered { status: response.status().as_u16() }
            }
            Ok(response) => {
                // The answer's body is not kept: a receiver's error page is no business of the
                // team's, and an internal one must never be shown through Switchboard.
                let status = response.status();
                let retry_after = retry_after(response.headers(), self.clock.now());
                discard(response, ERROR_BODY_BYTES).await;
                give_up_or_retry(Some(status.as_u16()), format!("the endpoint answered {status}"), retry_after)
            }
            Err(e) if e.is_timeout() => {
                give_up_or_retry(None, format!("no answer within {} s", self.options.timeout.as_secs_f64()), None)
            }
            Err(e) => match OutboundError::behind(&e) {
                Some(refusal) => refused(refusal),
                None => give_up_or_retry(None, format!("cannot reach the endpoint: {}", root_cause(&e)), None),
            },
        }
    }
}

/// The innermost cause of a client error ("connection refused"), without the URL, which
/// may carry a receiver's token in its query.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The wait a `Retry-After` header asks for (seconds or an HTTP date).
fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let options = SenderOptions {
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(60),
            ..SenderOptions::default()
        };
        let waits: Vec<u64> = (1..=7).map(|n| options.retry_delay(n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(options.retry_delay(1_000), Duration::from_secs(60), "no overflow");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc);
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(reqwest::header::RETRY_AFTER, "Mon, 02 Mar 2026 09:00:30 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}
