//! The log on a three-node JetStream cluster (routes on loopback, the stream replicated
//! three times) under failure: writers keep appending while the stream's leader is killed
//! and restarted, then a follower, then the server the client is connected to. With a
//! quorum up, no append is refused, none is lost and none is stored twice. Attachments'
//! bytes, in the object store beside the log, are served through every server.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_engine::log::{EventLog, ExpectedVersion};
use switchboard_jetstream::testing::NatsCluster;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};

mod common;
use common::{commit, stream};

const WRITERS: usize = 6;

/// The log's settings on the cluster: three replicas, riding through a lost server.
fn cluster_options() -> JetStreamOptions {
    JetStreamOptions {
        replicas: 3,
        request_timeout: Duration::from_secs(2),
        failover_deadline: Duration::from_secs(30),
        ..JetStreamOptions::default()
    }
}

/// The server name of the stream's leader, asked of the cluster.
async fn leader(log: &JetStreamEventLog) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = log.jetstream().get_stream("SWITCHBOARD").await;
        if let Ok(Some(leader)) = info.map(|s| s.cached_info().cluster.as_ref().and_then(|c| c.leader.clone())) {
            return leader;
        }
        assert!(Instant::now() < deadline, "the stream has no leader after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_ride_through_the_loss_of_the_leader_a_follower_and_the_connected_server() {
    let mut cluster = NatsCluster::start();
    let options = cluster_options();
    let log = Arc::new(JetStreamEventLog::connect(&cluster.url(), options).await.unwrap());
    let running = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (log, running) = (log.clone(), running.clone());
            tokio::spawn(async move {
                let stream = stream("cluster", &format!("writer{w}"));
                let (mut version, mut slowest) = (0_u64, Duration::ZERO);
                while running.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let appended = log
                        .append(&stream, ExpectedVersion::Exact(version), commit(1))
                        .await
                        .unwrap_or_else(|e| panic!("writer {w}: append {} refused: {e}", version + 1));
                    assert_eq!(appended.version, version + 1, "writer {w}: one version per commit");
                    version = appended.version;
                    slowest = slowest.max(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (version, slowest)
            })
        })
        .collect();

    let pause = || tokio::time::sleep(Duration::from_secs(3));
    pause().await;
    let first_leader = cluster.index_of(&leader(&log).await).unwrap();
    cluster.kill(first_leader);
    pause().await;
    cluster.restart(first_leader);
    pause().await;
    let now_leading = cluster.index_of(&leader(&log).await);
    let follower = (0..3).find(|&i| Some(i) != now_leading).unwrap();
    cluster.kill(follower);
    pause().await;
    cluster.restart(follower);
    pause().await;
    let connected = log.connected_server().and_then(|name| cluster.index_of(&name)).unwrap();
    cluster.kill(connected);
    pause().await;
    cluster.restart(connected);
    pause().await;
    running.store(false, Ordering::Relaxed);

    for (w, writer) in writers.into_iter().enumerate() {
        let (written, slowest) = writer.await.unwrap();
        let stored = log.read_stream(&stream("cluster", &format!("writer{w}")), 0).await.unwrap();
        let versions: Vec<u64> = stored.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=written).collect::<Vec<_>>(), "writer {w}: every commit stored once, in order");
        assert!(written > 20, "writer {w} kept writing: {written} commits");
        eprintln!("writer {w}: {written} commits, none refused; slowest append {slowest:?}");
    }
}

/// Attachments on a cluster: a picture stored through one server is served by every other,
/// also after the server it was stored through is gone (the bucket has three replicas, like
/// the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_serves_every_blob_and_a_lost_server_loses_none() {
    use switchboard_engine::blobs::{Blob, BlobStore};
    use switchboard_schemas::TeamId;

    let mut cluster = NatsCluster::start();
    let options = cluster_options();
    let urls: Vec<String> = (0..3).map(|member| cluster.member_url(member)).collect();
    // An instance on one server; the first may wait for the cluster to elect its leaders.
    let instance = |member: usize| {
        let (url, options) = (urls[member].clone(), options.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match JetStreamEventLog::connect(&url, options.clone()).await {
                    Ok(log) => return log,
                    Err(e) => assert!(Instant::now() < deadline, "an instance connects to {url}: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let (first, second) = (instance(0).await, instance(1).await);
    let team = TeamId::new("ops").unwrap();
    let picture = Blob::new((0..1_500_000u32).map(|i| (i % 253) as u8).collect());
    first.blob_store().await.unwrap().put(&team, &picture, chrono::Utc::now()).await.unwrap();
    let served = second.blob_store().await.unwrap().get(&team, picture.hash()).await.unwrap();
    assert_eq!(served.as_deref(), Some(picture.bytes()), "another instance on another server serves it");
    drop(first);
    cluster.kill(0);
    let third = instance(2).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let served = loop {
        match third.blob_store().await {
            Ok(store) => match store.get(&team, picture.hash()).await {
                Ok(served) => break served,
                Err(e) => assert!(Instant::now() < deadline, "the bucket stays readable: {e}"),
            },
            Err(e) => assert!(Instant::now() < deadline, "the bucket opens: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        served.as_deref(),
        Some(picture.bytes()),
        "the server it was stored through is gone; the picture is not"
    );
}
