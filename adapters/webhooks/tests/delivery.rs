//! Webhooks end to end: events appended to a real embedded log, routed by the outbox into a
//! real SQLite store, sent by the sender to real local HTTP receivers that answer, fail,
//! time out, are down, and recover.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, EndpointExt, IntoResponse, Request, Route, Server};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::{Commit, EventLog, ExpectedVersion};
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_outbound::OutboundPolicy;
use switchboard_projections::outbox::{DeliveryQuery, DeliveryStatus, DeliveryStore, Outbox};
use switchboard_readstore::SqliteReadStore;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::WebhookRegistered;
use switchboard_schemas::{NewEvent, PublishedEvent, StreamId, TeamId, UserId};
use switchboard_webhooks::signature::{verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use switchboard_webhooks::{Sender, SenderOptions, ATTEMPT_HEADER, EVENT_ID_HEADER};
use tokio::sync::Notify;
use uuid::Uuid;

/// How a receiver answers its n-th request (0-based).
#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    /// 503 for the first `n` requests.
    FailFirst(usize),
    /// The first request answers only after the sender's timeout.
    SlowFirst,
}

/// What a receiver saw: every request, and the bodies of those it accepted.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    accepted: Mutex<Vec<(PublishedEvent, u32)>>,
}

struct Receiver {
    behaviour: Behaviour,
    secret: &'static str,
    seen: Arc<Seen>,
}

#[handler]
async fn receive(req: &Request, body: Vec<u8>, Data(receiver): Data<&Arc<Receiver>>) -> poem::Response {
    let n = receiver.seen.requests.fetch_add(1, Ordering::SeqCst);
    match receiver.behaviour {
        Behaviour::FailFirst(k) if n < k => {
            return "internal: db password hunter2".with_status(StatusCode::SERVICE_UNAVAILABLE).into_response()
        }
        Behaviour::SlowFirst if n == 0 => tokio::time::sleep(Duration::from_millis(900)).await,
        _ => {}
    }
    let header = |name: &str| req.header(name).unwrap_or_default().to_owned();
    let signed = verify(
        receiver.secret.as_bytes(),
        &header(TIMESTAMP_HEADER),
        &header(SIGNATURE_HEADER),
        &body,
        Utc::now().timestamp(),
        300,
    );
    if signed.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let event: PublishedEvent = serde_json::from_slice(&body).unwrap();
    assert_eq!(header(EVENT_ID_HEADER), event.event_id.to_string());
    let attempt = header(ATTEMPT_HEADER).parse().unwrap();
    receiver.seen.accepted.lock().unwrap().push((event, attempt));
    StatusCode::NO_CONTENT.into_response()
}

/// Starts a receiver on `addr` (port 0 for any) and returns its address.
async fn start_receiver(addr: &str, behaviour: Behaviour, secret: &'static str) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let acceptor = TcpListener::bind(addr).into_acceptor().await.unwrap();
    let local = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/hook", poem::post(receive)).data(Arc::new(Receiver {
        behaviour,
        secret,
        seen: seen.clone(),
    }));
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(app).await });
    (local, seen)
}

struct World {
    _dir: tempfile::TempDir,
    log: Arc<dyn EventLog>,
    store: Arc<SqliteReadStore>,
    runtime: Runtime,
    team: TeamId,
    queued: Arc<Notify>,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn EventLog> =
            Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
        let store = Arc::new(SqliteReadStore::open(&dir.path().join("readmodels.sqlite")).await.unwrap());
        let runtime = Runtime::new(log.clone(), Arc::new(SystemClock));
        let team = TeamId::new("ops").unwrap();
        runtime
            .team(&team, TeamCommand::Create { name: "Ops".into(), cloned_from: None }, Causation::root(Uuid::now_v7()))
            .await
            .unwrap();
        Self { _dir: dir, log, store, runtime, team, queued: Arc::new(Notify::new()) }
    }

    async fn register(&self, id: u128, url: String, event_types: &[&str]) -> Uuid {
        let webhook = WebhookRegistered {
            webhook_id: Uuid::from_u128(id),
            label: format!("hook {id}"),
            url,
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            secret_ref: format!("SECRET_{id}"),
        };
        let command = TeamCommand::RegisterWebhook { webhook };
        self.runtime.team(&self.team, command, Causation::root(Uuid::now_v7())).await.unwrap();
        Uuid::from_u128(id)
    }

    /// Appends `types` to one user's conversation, one commit each; returns the event ids.
    async fn converse(&self, user: &str, types: &[&'static str]) -> Vec<Uuid> {
        let stream = StreamId::conversation(&self.team, &UserId::new(user).unwrap());
        let mut ids = Vec::new();
        for event_type in types {
            let event = NewEvent {
                event_id: Uuid::now_v7(),
                event_type,
                schema_version: 1,
                occurred_at: Utc::now(),
                causation: Causation::root(Uuid::now_v7()),
                payload: serde_json::json!({ "user": user }),
            };
            ids.push(event.event_id);
            let commit = Commit::new(Uuid::now_v7(), vec![event]).expect("a commit of events");
            self.log.append(&stream, ExpectedVersion::Any, commit).await.unwrap();
        }
        ids
    }

    fn sender(&self, options: SenderOptions) -> Sender {
        let secrets = Arc::new(|name: &str| name.strip_prefix("SECRET_").map(|id| format!("whsec_{id}")));
        Sender::new(self.log.clone(), self.store.clone(), secrets, Arc::new(SystemClock), self.queued.clone(), options)
            .unwrap()
    }

    fn outbox(&self) -> Outbox {
        Outbox::new(self.log.clone(), self.store.clone(), self.queued.clone())
    }

    async fn deliveries(&self, webhook: Uuid) -> Vec<switchboard_projections::outbox::Delivery> {
        let query = DeliveryQuery {
            team: self.team.clone(),
            webhook_id: Some(webhook),
            status: None,
            before: None,
            limit: 1_000,
        };
        self.store.deliveries(&query).await.unwrap()
    }

    /// Waits until every delivery of `webhook` is settled (delivered or given up).
    async fn settled(&self, webhook: Uuid, expected: usize) -> Vec<switchboard_projections::outbox::Delivery> {
        for _ in 0..200 {
            let deliveries = self.deliveries(webhook).await;
            if deliveries.len() == expected && deliveries.iter().all(|d| !d.status.is_open()) {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("deliveries of {webhook} did not settle: {:#?}", self.deliveries(webhook).await);
    }
}

fn quick() -> SenderOptions {
    SenderOptions {
        timeout: Duration::from_millis(300),
        max_attempts: 6,
        first_retry: Duration::from_millis(100),
        max_retry: Duration::from_millis(400),
        concurrency: 8,
        poll: Duration::from_millis(50),
        // The receivers of these tests run on loopback, which only the operator can allow.
        outbound: OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap()]),
    }
}

/// Runs `sender` until every delivery of `hook` has settled.
async fn settle(
    world: &World,
    sender: &Sender,
    hook: Uuid,
    expected: usize,
) -> Vec<switchboard_projections::outbox::Delivery> {
    let stop = Arc::new(Notify::new());
    let stopper = stop.clone();
    let (_, settled) = tokio::join!(async { sender.run(stop.notified()).await.unwrap() }, async {
        let settled = world.settled(hook, expected).await;
        stopper.notify_waiters();
        settled
    });
    settled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_on_a_refused_address_is_never_contacted() {
    let world = World::new().await;
    let (addr, seen) = start_receiver("127.0.0.1:0", Behaviour::Ok, "whsec_1").await;
    let by_address = world.register(1, url(addr), &[]).await;
    let by_name = world.register(2, format!("http://localhost:{}/hook", addr.port()), &[]).await;
    world.converse("u1", &["SessionOpened"]).await;
    world.outbox().catch_up().await.unwrap();
    let sender = world.sender(SenderOptions { outbound: OutboundPolicy::public_only(), ..quick() });
    // The first endpoint also receives the second one's registration.
    for (hook, deliveries) in [(by_address, 2), (by_name, 1)] {
        for delivery in settle(&world, &sender, hook, deliveries).await {
            assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::GaveUp, 1), "refused, not retried");
            let error = delivery.last_error.as_deref().unwrap();
            assert!(error.contains("a loopback address") && error.contains("[outbound] allow"), "{error}");
        }
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answer_is_recorded_by_status_never_by_its_body() {
    let world = World::new().await;
    let (addr, _) = start_receiver("127.0.0.1:0", Behaviour::FailFirst(usize::MAX), "whsec_1").await;
    let hook = world.register(1, url(addr), &[]).await;
    world.converse("u1", &["SessionOpened"]).await;
    world.outbox().catch_up().await.unwrap();
    let sender = world.sender(SenderOptions { max_attempts: 1, ..quick() });
    let settled = settle(&world, &sender, hook, 1).await;
    assert_eq!(settled[0].last_error.as_deref(), Some("the endpoint answered 503 Service Unavailable"));
}

/// The event ids a receiver accepted, first acceptance only, grouped per user.
fn accepted_per_user(seen: &Seen) -> BTreeMap<String, Vec<Uuid>> {
    let mut per_user: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for (event, _) in seen.accepted.lock().unwrap().iter() {
        let Some(user) = event.payload["user"].as_str().map(str::to_owned) else { continue };
        let ids = per_user.entry(user).or_default();
        if !ids.contains(&event.event_id) {
            ids.push(event.event_id);
        }
    }
    per_user
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_filtered_ordered_and_retried_until_accepted() {
    let world = World::new().await;
    let (flaky_addr, flaky) = start_receiver("127.0.0.1:0", Behaviour::FailFirst(3), "whsec_1").await;
    let (closes_addr, closes) = start_receiver("127.0.0.1:0", Behaviour::Ok, "whsec_2").await;
    let (slow_addr, slow) = start_receiver("127.0.0.1:0", Behaviour::SlowFirst, "whsec_3").await;
    let every = world.register(1, url(flaky_addr), &[]).await;
    let only_closes = world.register(2, url(closes_addr), &["SessionClosed"]).await;
    let slow_hook = world.register(3, url(slow_addr), &[]).await;

    let u1 = world.converse("u1", &["SessionOpened", "MessageReceived", "FaqMatched", "AnswerQueued"]).await;
    let u2 = world.converse("u2", &["SessionOpened", "MessageReceived", "SessionClosed"]).await;

    let stop = Arc::new(Notify::new());
    let outbox = world.outbox();
    let sender = world.sender(quick());
    let (stop_outbox, stop_sender) = (stop.clone(), stop.clone());
    let run = async {
        tokio::join!(
            async { outbox.run(stop_outbox.notified()).await },
            async { sender.run(stop_sender.notified()).await.unwrap() },
            async {
                // Hook 1 also gets the registrations of hooks 2 and 3, which came after it.
                let flaky_deliveries = world.settled(every, 9).await;
                world.settled(only_closes, 1).await;
                let slow_deliveries = world.settled(slow_hook, 7).await;
                stop.notify_waiters();
                (flaky_deliveries, slow_deliveries)
            },
        )
    };
    let (_, _, (flaky_deliveries, slow_deliveries)) = tokio::time::timeout(Duration::from_secs(30), run).await.unwrap();

    // Every endpoint got exactly its events, each conversation in order.
    let expected = BTreeMap::from([("u1".to_owned(), u1.clone()), ("u2".to_owned(), u2.clone())]);
    assert_eq!(accepted_per_user(&flaky), expected, "the flaky endpoint got everything once it recovered");
    assert_eq!(accepted_per_user(&slow), expected, "the slow endpoint too (deduplicated by event id)");
    assert_eq!(accepted_per_user(&closes), BTreeMap::from([("u2".to_owned(), vec![u2[2]])]), "only closes");
    assert_eq!(flaky.accepted.lock().unwrap().len(), 9, "nothing the flaky endpoint accepted came twice");
    let registrations: Vec<String> = flaky
        .accepted
        .lock()
        .unwrap()
        .iter()
        .filter(|(event, _)| event.event_type == "WebhookRegistered")
        .map(|(event, _)| event.payload["webhook_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(registrations, vec![Uuid::from_u128(2).to_string(), Uuid::from_u128(3).to_string()], "in order");

    // The first three answers were 503s: they fell on the first deliveries, which were retried.
    assert_eq!(flaky.requests.load(Ordering::SeqCst), 9 + 3);
    let retried: u32 = flaky_deliveries.iter().map(|d| d.attempts - 1).sum();
    assert_eq!(retried, 3, "each 503 cost one retry");
    assert!(flaky_deliveries.iter().all(|d| d.status == DeliveryStatus::Delivered && d.last_status == Some(204)));
    let late = flaky.accepted.lock().unwrap().iter().filter(|(_, attempt)| *attempt > 1).count();
    assert!(late >= 1, "retries say which attempt they are");

    // The slow endpoint's first answer came after the timeout: that attempt counts as failed.
    let timed_out = slow_deliveries.iter().find(|d| d.attempts > 1).expect("one delivery was retried");
    assert_eq!(timed_out.status, DeliveryStatus::Delivered);

    // Envelopes carry the published contract. Conversations and registrations are separate
    // streams delivered side by side, so any of them may have arrived first.
    for (event, _) in flaky.accepted.lock().unwrap().iter() {
        assert_eq!((event.envelope_version, &event.team), (1, &world.team), "{event:?}");
        let conversation = u1.contains(&event.event_id) || u2.contains(&event.event_id);
        assert!(conversation || event.event_type == "WebhookRegistered", "an event from elsewhere: {event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_stays_down_is_given_up_then_replayed_once_it_is_back() {
    let world = World::new().await;
    // A port nothing listens on: take one, then close it.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let hook = world.register(1, url(down), &[]).await;
    let ids = world.converse("u1", &["SessionOpened", "MessageReceived"]).await;
    let outbox = world.outbox();
    let sender = world.sender(SenderOptions { max_attempts: 3, ..quick() });
    outbox.catch_up().await.unwrap();
    let stop = Arc::new(Notify::new());
    let stopper = stop.clone();
    let (_, gave_up) = tokio::join!(async { sender.run(stop.notified()).await.unwrap() }, async {
        let settled = world.settled(hook, 2).await;
        stopper.notify_waiters();
        settled
    });
    for delivery in &gave_up {
        assert_eq!(delivery.status, DeliveryStatus::GaveUp);
        assert_eq!(delivery.attempts, 3);
        let error = delivery.last_error.as_deref().unwrap();
        assert!(error.starts_with("cannot reach the endpoint"), "{error}");
    }

    let (_, seen) = start_receiver(&down.to_string(), Behaviour::Ok, "whsec_1").await;
    for delivery in &gave_up {
        assert!(world.store.replay(&world.team, delivery.delivery.delivery_id, Utc::now()).await.unwrap());
    }
    let stop = Arc::new(Notify::new());
    let stopper = stop.clone();
    let (_, replayed) = tokio::join!(async { sender.run(stop.notified()).await.unwrap() }, async {
        let settled = world.settled(hook, 2).await;
        stopper.notify_waiters();
        settled
    });
    assert!(replayed.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1));
    assert_eq!(accepted_per_user(&seen), BTreeMap::from([("u1".to_owned(), ids)]), "replayed in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_outbox_resumes_where_it_stopped_and_follows_registrations() {
    let world = World::new().await;
    world.converse("u1", &["SessionOpened"]).await;
    let hook = world.register(1, "http://127.0.0.1:9/hook".into(), &[]).await;
    let before_restart = world.converse("u1", &["MessageReceived", "FaqMatched"]).await;
    assert_eq!(world.outbox().catch_up().await.unwrap(), world.log.head().await.unwrap());
    let queued = world.deliveries(hook).await;
    let mut queued_ids: Vec<Uuid> = queued.iter().map(|d| d.delivery.event_id).collect();
    queued_ids.reverse();
    assert_eq!(queued_ids, before_restart, "only events after the registration, and not the registration itself");

    // A new outbox (a restarted process) continues from the checkpoint: nothing twice.
    let after_restart = world.converse("u2", &["SessionOpened"]).await;
    world.outbox().catch_up().await.unwrap();
    assert_eq!(world.deliveries(hook).await.len(), 3);
    assert_eq!(world.deliveries(hook).await[0].delivery.event_id, after_restart[0]);

    // Removed: later events are not queued for it, and its queued ones are no longer due.
    let command = TeamCommand::RemoveWebhook { webhook_id: hook };
    world.runtime.team(&world.team, command, Causation::root(Uuid::now_v7())).await.unwrap();
    world.converse("u2", &["MessageReceived"]).await;
    world.outbox().catch_up().await.unwrap();
    assert_eq!(world.deliveries(hook).await.len(), 3);
    assert!(world.store.due(Utc::now(), 100).await.unwrap().is_empty());
}
