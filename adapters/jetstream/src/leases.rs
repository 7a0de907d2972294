//! Conversation parts leased in a JetStream key-value bucket, so engine instances share the
//! work without a fixed `i/N` each and a stopped instance's parts move to the others.
//!
//! The bucket holds, with a time to live of one lease term:
//! - `member.<instance>`: every running instance, rewritten each renewal;
//! - `part.<n>`: the holder of part `n`, created only where absent (compare-and-set) and
//!   renewed by its holder against the revision it last wrote.
//!
//! Each instance aims at an even share, `ceil(parts / members)`: it renews what it holds,
//! releases what is above its share (a newcomer then finds free parts) and takes free parts
//! up to it. An instance that stops gracefully gives every part back, so the others take
//! them over at their next renewal; one that crashes loses its parts when their entries
//! expire, one term later. An instance that cannot reach the bucket for
//! half a term gives its parts up on its own, so two instances hold a part at the same time
//! only across a pause longer than that; even then every state change carries an expected
//! version, so a conversation cannot record the same step twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use futures::TryStreamExt;
use switchboard_engine::shards::Shards;
use tracing::{info, warn};

/// Why the lease bucket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease term is too short to renew within.
    #[error("a lease term of {0:?} is too short; use at least one second")]
    Term(Duration),
    /// The bucket could not be created or opened.
    #[error("cannot open the lease bucket {bucket}: {detail}")]
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// What the server reported.
        detail: String,
    },
}

/// Keeps this instance's share of the parts leased and tells `shards` what it holds.
pub struct ShardLeases {
    kv: kv::Store,
    instance: String,
    /// Where this instance starts looking for free parts, its own place so instances
    /// starting together do not all race for the same parts.
    first_part: u32,
    term: Duration,
    shards: Arc<Shards>,
}

impl ShardLeases {
    /// Opens (or creates, with `replicas`) the lease bucket `bucket` for `instance`
    /// (letters, digits, `-` and `_`) with leases lasting `term`.
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        bucket: &str,
        replicas: usize,
        instance: String,
        term: Duration,
        shards: Arc<Shards>,
    ) -> Result<Self, LeaseError> {
        if term < Duration::from_secs(1) {
            return Err(LeaseError::Term(term));
        }
        let failed =
            |e: &dyn std::fmt::Display| LeaseError::Bucket { bucket: bucket.to_owned(), detail: e.to_string() };
        // The bucket's stream is made here with the key-value conventions (the client's own
        // bucket creation asks for account details nats-server 2.9 does not send).
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("Switchboard: which engine instance works on which conversation part".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age: term,
            storage: StorageType::File,
            num_replicas: replicas.max(1),
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: DiscardPolicy::New,
            ..Default::default()
        };
        if jetstream.get_stream(&config.name).await.is_err() {
            jetstream.create_stream(config).await.map_err(|e| failed(&e))?;
        }
        let kv = jetstream.get_key_value(bucket).await.map_err(|e| failed(&e))?;
        let age = kv.status().await.map_err(|e| failed(&e))?.max_age();
        if age != term {
            return Err(failed(&format!(
                "it keeps entries for {age:?} but this instance's lease term is {term:?}; every instance on \
                 one log must use the same core.lease_term (delete the bucket to change it)"
            )));
        }
        let first_part =
            instance.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % shards.count();
        Ok(Self { kv, instance, first_part, term, shards })
    }

    /// Renews, releases and takes parts every third of a term until `stop` resolves, then
    /// gives every part back at once.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut held: BTreeMap<u32, u64> = BTreeMap::new();
        let mut last_renewed = Instant::now();
        tokio::pin!(stop);
        loop {
            match self.renew(&mut held).await {
                Ok(()) => last_renewed = Instant::now(),
                Err(e) => {
                    warn!(error = %e, instance = %self.instance, "renewing the conversation part leases failed");
                    if last_renewed.elapsed() > self.term / 2 && !held.is_empty() {
                        warn!(instance = %self.instance, "giving up every part: its leases may have expired");
                        held.clear();
                    }
                }
            }
            self.shards.hold(held.keys().copied().collect());
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(self.term / 3) => {}
            }
        }
        self.give_back(held).await;
    }

    /// Stops working on every part, then releases them and deletes this instance's
    /// membership, so the others' shares grow at their next renewal.
    async fn give_back(&self, held: BTreeMap<u32, u64>) {
        self.shards.hold(std::collections::BTreeSet::new());
        let count = held.len();
        for (part, revision) in held {
            self.release(part, revision).await;
        }
        if let Err(e) = self.kv.delete(format!("member.{}", self.instance)).await {
            warn!(error = %e, "leaving the lease bucket failed; the membership expires after one term");
        }
        info!(parts = count, instance = %self.instance, "gave every conversation part back");
    }

    /// Deletes the lease of `part` if it is still at the revision this instance wrote (a
    /// part someone else already took stays theirs).
    async fn release(&self, part: u32, revision: u64) {
        if let Err(e) = self.kv.delete_expect_revision(part_key(part), Some(revision)).await {
            warn!(part, error = %e, "releasing a conversation part failed; it frees itself when it expires");
        }
    }

    /// One round: announce this instance, renew what it holds, then release or take parts
    /// towards an even share.
    async fn renew(&self, held: &mut BTreeMap<u32, u64>) -> Result<(), String> {
        let me = || self.instance.clone().into();
        self.kv.put(format!("member.{}", self.instance), me()).await.map_err(|e| e.to_string())?;
        let members = self
            .kv
            .keys()
            .await
            .map_err(|e| e.to_string())?
            .try_filter(|key| futures::future::ready(key.starts_with("member.")))
            .try_fold(0u32, |n, _| futures::future::ready(Ok(n + 1)))
            .await
            .map_err(|e| e.to_string())?
            .max(1);
        let count = self.shards.count();
        let share = count.div_ceil(members) as usize;
        for (part, revision) in held.clone() {
            match self.kv.update(part_key(part), me(), revision).await {
                Ok(revision) => {
                    held.insert(part, revision);
                }
                Err(e) => {
                    warn!(part, error = %e, instance = %self.instance, "lost the lease of a conversation part");
                    held.remove(&part);
                }
            }
        }
        while held.len() > share {
            let Some((part, revision)) = held.pop_last() else { break };
            // Stop working on it before anyone else can take it.
            self.shards.hold(held.keys().copied().collect());
            self.release(part, revision).await;
            info!(part, instance = %self.instance, members, "released a conversation part for a newer instance");
        }
        for part in (0..count).map(|n| (n + self.first_part) % count) {
            if held.len() >= share {
                break;
            }
            if held.contains_key(&part) {
                continue;
            }
            match self.kv.create(part_key(part), me()).await {
                Ok(revision) => {
                    info!(part, instance = %self.instance, "took a conversation part");
                    held.insert(part, revision);
                }
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                    // Still ours from before a lost connection: take it back at its revision.
                    if let Ok(Some(entry)) = self.kv.entry(part_key(part)).await {
                        if entry.value.as_ref() == self.instance.as_bytes() && entry.operation == kv::Operation::Put {
                            held.insert(part, entry.revision);
                        }
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }
}

fn part_key(part: u32) -> String {
    format!("part.{part}")
}
