//! Events survive a SIGKILL and restart of nats-server: versions and positions continue,
//! and a commit retried within the duplicate window is still a duplicate. An append rides
//! through the server being away for less than its `failover_deadline`; past it (here, with
//! no deadline at all) the log answers `LogError::Unavailable` instead of hanging.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use switchboard_engine::log::{AppendError, Appended, Commit, EventLog, ExpectedVersion, LogError};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamError, JetStreamEventLog, JetStreamOptions};
use switchboard_schemas::StreamId;

mod common;
use common::{commit, stream};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A log that does not ride through failures, so a test sees them at once.
async fn connect(server: &NatsServer) -> JetStreamEventLog {
    let options = JetStreamOptions {
        request_timeout: REQUEST_TIMEOUT,
        failover_deadline: Duration::ZERO,
        ..JetStreamOptions::default()
    };
    JetStreamEventLog::connect(&server.url(), options).await.unwrap()
}

/// Retries `append` while the log reports itself unavailable (the client reconnecting).
async fn append_when_back(
    log: &JetStreamEventLog,
    stream: &StreamId,
    expected: ExpectedVersion,
    commit: &Commit,
) -> Appended {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match log.append(stream, expected, commit.clone()).await {
            Ok(appended) => return appended,
            Err(AppendError::Log(LogError::Unavailable(e))) if Instant::now() < deadline => {
                tracing::debug!("still unavailable: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("append after the restart failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_killed_server_and_appends_fail_fast_while_it_is_down() {
    let mut server = NatsServer::start();
    let log = connect(&server).await;
    let alice = stream("restart", "alice");
    let bob = stream("restart", "bob");

    let first = commit(2);
    let a1 = log.append(&alice, ExpectedVersion::Exact(0), first.clone()).await.unwrap();
    let second = commit(1);
    let b1 = log.append(&bob, ExpectedVersion::Exact(0), second.clone()).await.unwrap();
    let a2 = log.append(&alice, ExpectedVersion::Exact(2), commit(1)).await.unwrap();
    let before = log.read_all(0, 1000, None).await.unwrap();
    assert_eq!(before.len(), 4);
    assert_eq!(log.head().await.unwrap(), a2.position);

    server.kill();

    let pending = commit(1);
    let started = Instant::now();
    let outcome =
        tokio::time::timeout(Duration::from_secs(30), log.append(&alice, ExpectedVersion::Exact(3), pending.clone()))
            .await
            .expect("an append while the server is down must return, not hang");
    assert!(
        matches!(outcome, Err(AppendError::Log(LogError::Unavailable(_)))),
        "an append while the server is down must be Unavailable, got {outcome:?}"
    );
    assert!(started.elapsed() < REQUEST_TIMEOUT * 4, "the append took {:?}", started.elapsed());
    if let Err(AppendError::Log(LogError::Unavailable(message))) = &outcome {
        assert!(message.contains("nats-server"), "the message says what to check: {message}");
    }
    let read = tokio::time::timeout(Duration::from_secs(30), log.read_stream(&alice, 0)).await.unwrap();
    assert!(matches!(read, Err(LogError::Unavailable(_))), "a read while down must be Unavailable, got {read:?}");
    let head = tokio::time::timeout(Duration::from_secs(30), log.head()).await.unwrap();
    assert!(matches!(head, Err(LogError::Unavailable(_))), "head while down must be Unavailable, got {head:?}");

    server.restart();

    // The commit refused while the server was down is retried with the same id. The
    // client may have sent it once it reconnected, so it is either new or a duplicate,
    // but it is stored exactly once, at version 4.
    let landed = append_when_back(&log, &alice, ExpectedVersion::Exact(3), &pending).await;
    assert_eq!(landed.version, 4, "versions continue after the restart");
    assert!(landed.position > a2.position, "positions continue after the restart");

    let after = log.read_all(0, 1000, None).await.unwrap();
    assert_eq!(after[..before.len()], before[..], "every event written before the kill is still there");
    assert_eq!(after.len(), before.len() + 1, "the retried commit is stored once");

    let retried = log.append(&alice, ExpectedVersion::Exact(0), first.clone()).await.unwrap();
    assert_eq!(retried, Appended { duplicate: true, ..a1 }, "a stale retry within the window is a duplicate");
    let retried = log.append(&bob, ExpectedVersion::Exact(1), second.clone()).await.unwrap();
    assert_eq!(retried, Appended { duplicate: true, ..b1 }, "the server still knows the commit id after a restart");

    let next = log.append(&bob, ExpectedVersion::Exact(1), commit(1)).await.unwrap();
    assert_eq!(next.version, 2);
    assert!(next.position > landed.position);
    assert_eq!(log.head().await.unwrap(), next.position);

    // Another process sees the same log.
    let other = connect(&server).await;
    let versions: Vec<u64> = other.read_stream(&alice, 0).await.unwrap().iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    assert_eq!(other.read_all(0, 1000, None).await.unwrap(), log.read_all(0, 1000, None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_without_a_server_says_what_to_start() {
    let server = NatsServer::start();
    let url = server.url();
    drop(server);
    let options = JetStreamOptions { connect_timeout: Duration::from_secs(1), ..JetStreamOptions::default() };
    match JetStreamEventLog::connect(&url, options).await {
        Err(e @ JetStreamError::Connect { .. }) => {
            let message = e.to_string();
            assert!(message.contains("nats-server") && message.contains("-js"), "{message}");
        }
        Err(other) => panic!("expected a connection error, got {other}"),
        Ok(_) => panic!("connecting to a stopped server must fail"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_rides_through_a_server_restart_within_its_deadline() {
    let mut server = NatsServer::start();
    let options = JetStreamOptions {
        request_timeout: REQUEST_TIMEOUT,
        failover_deadline: Duration::from_secs(20),
        ..JetStreamOptions::default()
    };
    let log = std::sync::Arc::new(JetStreamEventLog::connect(&server.url(), options).await.unwrap());
    let alice = stream("ride", "alice");
    log.append(&alice, ExpectedVersion::Exact(0), commit(1)).await.unwrap();
    server.kill();
    let pending = tokio::spawn({
        let (log, alice) = (log.clone(), alice.clone());
        async move { log.append(&alice, ExpectedVersion::Exact(1), commit(2)).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!pending.is_finished(), "the append waits for the server instead of failing");
    server.restart();
    let appended = pending.await.unwrap().expect("the append lands once the server is back");
    assert_eq!(appended.version, 3);
    let versions: Vec<u64> = log.read_stream(&alice, 0).await.unwrap().iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3], "stored once");
}
