//! The webhook outbox contract: the same checks against every [`DeliveryStore`], run by
//! each backend's tests through [`outbox_contract!`](crate::outbox_contract).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_schemas::event::WebhookRegistered;
use switchboard_schemas::TeamId;
use uuid::Uuid;

use switchboard_projections::outbox::{
    Attempt, DeliveryQuery, DeliveryStatus, DeliveryStore, Endpoint, NewDelivery, OutboxBatch,
};

/// Runs every outbox check against stores made by `$factory` (an expression evaluating to a
/// future of a `TestStore<dyn DeliveryStore>`), one test function per check.
#[macro_export]
macro_rules! outbox_contract {
    (@tests $factory:expr; $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let test_store: $crate::read_store_contract::TestStore<dyn ::switchboard_projections::outbox::DeliveryStore> = $factory.await;
                $crate::outbox_contract::$check(::std::sync::Arc::clone(&test_store.store)).await;
                if let ::core::option::Option::Some(cleanup) = test_store.cleanup {
                    cleanup.await;
                }
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::outbox_contract!(@tests $factory;
            deliveries_commit_with_the_checkpoint_once => check_commit_once,
            one_open_delivery_per_stream_and_endpoint_is_due => check_ordering,
            failures_wait_for_their_retry_and_give_up_unblocks => check_retry_and_give_up,
            replay_queues_again_within_the_team_only => check_replay,
            removed_endpoints_get_nothing_and_changes_apply => check_endpoint_changes,
            listing_filters_pages_and_stays_in_the_team => check_listing,
        );
    };
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn team(name: &str) -> TeamId {
    TeamId::new(name).unwrap()
}

fn endpoint(id: u128, team_name: &str, url: &str) -> Endpoint {
    Endpoint {
        team: team(team_name),
        webhook: WebhookRegistered {
            webhook_id: Uuid::from_u128(id),
            label: format!("hook {id}"),
            url: url.into(),
            event_types: vec!["SessionOpened".into()],
            secret_ref: format!("SECRET_{id}"),
        },
    }
}

fn delivery(webhook: u128, team_name: &str, stream: &str, position: u64) -> NewDelivery {
    NewDelivery {
        delivery_id: Uuid::from_u128((webhook << 64) | u128::from(position)),
        webhook_id: Uuid::from_u128(webhook),
        team: team(team_name),
        event_id: Uuid::from_u128(u128::from(position)),
        event_type: "SessionOpened".into(),
        stream: stream.into(),
        position,
        occurred_at: t0() + Duration::seconds(position as i64),
    }
}

fn later() -> DateTime<Utc> {
    t0() + Duration::hours(1)
}

/// The positions of the due deliveries, ascending.
async fn due_ids(store: &dyn DeliveryStore, now: DateTime<Utc>) -> Vec<u64> {
    let mut due: Vec<u64> = store.due(now, 100).await.unwrap().iter().map(|d| d.delivery.delivery.position).collect();
    due.sort_unstable();
    due
}

async fn seed(store: &dyn DeliveryStore) {
    let batch = OutboxBatch {
        registered: vec![endpoint(1, "ops", "http://127.0.0.1:1/a")],
        removed: vec![],
        deliveries: vec![
            delivery(1, "ops", "ops.conversation.u1", 10),
            delivery(1, "ops", "ops.conversation.u2", 11),
            delivery(1, "ops", "ops.conversation.u1", 12),
        ],
    };
    store.commit_outbox(&batch, 12).await.unwrap();
}

pub async fn check_commit_once(store: Arc<dyn DeliveryStore>) {
    assert_eq!(store.outbox_checkpoint().await.unwrap(), 0);
    assert!(store.endpoints().await.unwrap().is_empty());
    seed(store.as_ref()).await;
    assert_eq!(store.outbox_checkpoint().await.unwrap(), 12);
    assert_eq!(store.endpoints().await.unwrap(), vec![endpoint(1, "ops", "http://127.0.0.1:1/a")]);
    let first = store.due(later(), 100).await.unwrap()[0].clone();
    store
        .record_attempt(first.delivery.delivery.delivery_id, later(), &Attempt::Delivered { status: 204 })
        .await
        .unwrap();
    // The same deliveries again (a batch routed twice) change nothing, not even the status.
    seed(store.as_ref()).await;
    let query = DeliveryQuery { team: team("ops"), webhook_id: None, status: None, before: None, limit: 100 };
    let listed = store.deliveries(&query).await.unwrap();
    assert_eq!(listed.len(), 3, "no delivery is queued twice");
    let again = listed.iter().find(|d| d.delivery.delivery_id == first.delivery.delivery.delivery_id).unwrap();
    assert_eq!((again.status, again.attempts, again.last_status), (DeliveryStatus::Delivered, 1, Some(204)));
}

pub async fn check_ordering(store: Arc<dyn DeliveryStore>) {
    seed(store.as_ref()).await;
    assert!(due_ids(store.as_ref(), t0()).await.is_empty(), "nothing is due before its event happened");
    assert_eq!(due_ids(store.as_ref(), later()).await, vec![10, 11], "u1's second event waits for its first");
    let due = store.due(later(), 100).await.unwrap();
    assert_eq!(due[0].url, "http://127.0.0.1:1/a");
    assert_eq!(due[0].secret_ref, "SECRET_1");
    assert_eq!(due[0].delivery.status, DeliveryStatus::Pending);
    assert_eq!(store.due(later(), 1).await.unwrap().len(), 1, "the limit holds");
    store
        .record_attempt(due[0].delivery.delivery.delivery_id, later(), &Attempt::Delivered { status: 200 })
        .await
        .unwrap();
    assert_eq!(due_ids(store.as_ref(), later()).await, vec![11, 12]);
}

pub async fn check_retry_and_give_up(store: Arc<dyn DeliveryStore>) {
    seed(store.as_ref()).await;
    let id = store.due(later(), 100).await.unwrap()[0].delivery.delivery.delivery_id;
    let retry_at = later() + Duration::seconds(30);
    let failed =
        Attempt::Failed { status: Some(503), error: "503 Service Unavailable".into(), retry_at: Some(retry_at) };
    store.record_attempt(id, later(), &failed).await.unwrap();
    assert_eq!(due_ids(store.as_ref(), later()).await, vec![11], "the failed one and what follows it wait");
    let due = store.due(retry_at, 100).await.unwrap();
    let retried = due.iter().find(|d| d.delivery.delivery.delivery_id == id).unwrap();
    assert_eq!(retried.delivery.status, DeliveryStatus::Failed);
    assert_eq!(retried.delivery.attempts, 1);
    assert_eq!(retried.delivery.last_status, Some(503));
    assert_eq!(retried.delivery.last_error.as_deref(), Some("503 Service Unavailable"));
    assert_eq!(retried.delivery.next_attempt_at, Some(retry_at));
    let gave_up = Attempt::Failed { status: None, error: "timed out".into(), retry_at: None };
    store.record_attempt(id, retry_at, &gave_up).await.unwrap();
    assert_eq!(due_ids(store.as_ref(), retry_at).await, vec![11, 12], "giving up lets the stream go on");
    let stored = store.delivery(&team("ops"), id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.next_attempt_at), (DeliveryStatus::GaveUp, 2, None));
    // An attempt recorded on a delivery no longer open changes nothing.
    store.record_attempt(id, retry_at, &Attempt::Delivered { status: 200 }).await.unwrap();
    assert_eq!(store.delivery(&team("ops"), id).await.unwrap().unwrap().status, DeliveryStatus::GaveUp);
}

pub async fn check_replay(store: Arc<dyn DeliveryStore>) {
    seed(store.as_ref()).await;
    let id = store.due(later(), 100).await.unwrap()[0].delivery.delivery.delivery_id;
    let gave_up = Attempt::Failed { status: Some(500), error: "500".into(), retry_at: None };
    store.record_attempt(id, later(), &gave_up).await.unwrap();
    assert!(!store.replay(&team("other"), id, later()).await.unwrap(), "another team cannot replay it");
    assert!(!store.replay(&team("ops"), Uuid::from_u128(999), later()).await.unwrap());
    assert_eq!(store.delivery(&team("ops"), id).await.unwrap().unwrap().status, DeliveryStatus::GaveUp);
    let replayed_at = later() + Duration::minutes(5);
    assert!(store.replay(&team("ops"), id, replayed_at).await.unwrap());
    let stored = store.delivery(&team("ops"), id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempts, stored.next_attempt_at),
        (DeliveryStatus::Pending, 0, Some(replayed_at))
    );
    assert_eq!(stored.last_error.as_deref(), Some("500"), "the last failure stays visible");
    assert!(!due_ids(store.as_ref(), later()).await.contains(&10), "due at the replay moment, not before");
    assert_eq!(due_ids(store.as_ref(), replayed_at).await, vec![10, 11], "and it holds back its stream again");
}

pub async fn check_endpoint_changes(store: Arc<dyn DeliveryStore>) {
    seed(store.as_ref()).await;
    let moved =
        OutboxBatch { registered: vec![endpoint(1, "ops", "https://new.example.com/in")], ..OutboxBatch::default() };
    store.commit_outbox(&moved, 13).await.unwrap();
    assert!(store.due(later(), 100).await.unwrap().iter().all(|d| d.url == "https://new.example.com/in"));
    let removed = OutboxBatch { removed: vec![Uuid::from_u128(1)], ..OutboxBatch::default() };
    store.commit_outbox(&removed, 14).await.unwrap();
    assert!(store.endpoints().await.unwrap().is_empty());
    assert!(store.due(later(), 100).await.unwrap().is_empty(), "a removed endpoint is sent nothing");
    assert_eq!(store.outbox_checkpoint().await.unwrap(), 14);
}

pub async fn check_listing(store: Arc<dyn DeliveryStore>) {
    seed(store.as_ref()).await;
    let other = OutboxBatch {
        registered: vec![endpoint(2, "other", "http://127.0.0.1:2/b")],
        removed: vec![],
        deliveries: vec![delivery(2, "other", "other.conversation.u9", 13)],
    };
    store.commit_outbox(&other, 13).await.unwrap();
    let query = |status, before, limit| DeliveryQuery { team: team("ops"), webhook_id: None, status, before, limit };
    let positions = |list: Vec<switchboard_projections::outbox::Delivery>| {
        list.iter().map(|d| d.delivery.position).collect::<Vec<_>>()
    };
    assert_eq!(positions(store.deliveries(&query(None, None, 100)).await.unwrap()), vec![12, 11, 10]);
    assert_eq!(positions(store.deliveries(&query(None, None, 2)).await.unwrap()), vec![12, 11]);
    assert_eq!(positions(store.deliveries(&query(None, Some(11), 100)).await.unwrap()), vec![10]);
    let id = store.due(later(), 100).await.unwrap()[0].delivery.delivery.delivery_id;
    store.record_attempt(id, later(), &Attempt::Delivered { status: 200 }).await.unwrap();
    assert_eq!(
        positions(store.deliveries(&query(Some(DeliveryStatus::Delivered), None, 100)).await.unwrap()),
        vec![10]
    );
    assert_eq!(
        positions(store.deliveries(&query(Some(DeliveryStatus::Pending), None, 100)).await.unwrap()),
        vec![12, 11]
    );
    let by_hook = DeliveryQuery { webhook_id: Some(Uuid::from_u128(2)), ..query(None, None, 100) };
    assert!(store.deliveries(&by_hook).await.unwrap().is_empty(), "another team's endpoint lists nothing here");
    let theirs = DeliveryQuery { team: team("other"), ..query(None, None, 100) };
    assert_eq!(positions(store.deliveries(&theirs).await.unwrap()), vec![13]);
    assert!(store.delivery(&team("other"), id).await.unwrap().is_none());
}
