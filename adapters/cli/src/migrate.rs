//! `switchboard migrate --from URL --to URL`: copies the whole log between any two
//! backends, commit by commit, keeping every stream's versions, event ids, commit ids and
//! metadata; then compares every stream on both sides.
//!
//! Each commit is appended with the version it had, and with its commit id, so a migration
//! that was interrupted is simply run again: what was copied comes back as duplicates.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use switchboard_engine::log::{AppendError, Commit, EventLog, ExpectedVersion};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{NewEvent, RecordedEvent, StreamId};

use crate::config::{Config, StoreKind};
use crate::store::open_log;

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The log to copy: `embedded:DATA_DIR`, `nats://host:4222` (stream and prefix from
    /// `store.jetstream`), or `esdb://host:2113?tls=false` (prefix from
    /// `store.eventstore_prefix`).
    #[arg(long)]
    from: String,
    /// The log to copy into, in the same forms; it must not hold other events in the
    /// copied streams.
    #[arg(long)]
    to: String,
    /// Events read per batch.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Skip comparing every stream on both sides after the copy.
    #[arg(long)]
    no_verify: bool,
}

/// The configuration that opens the log at `location`.
fn located(config: &Config, location: &str) -> Result<Config> {
    let mut config = config.clone();
    if let Some(dir) = location.strip_prefix("embedded:") {
        config.store.kind = StoreKind::Embedded;
        config.data_dir = dir.into();
    } else if location.starts_with("nats://") || location.starts_with("tls://") {
        config.store.kind = StoreKind::Nats;
        config.store.nats_url = location.to_owned();
    } else if location.starts_with("esdb://") || location.starts_with("esdb+discover://") {
        config.store.kind = StoreKind::Eventstore;
        config.store.eventstore_url = location.to_owned();
    } else {
        bail!("{location:?} names no event log: use embedded:DATA_DIR, nats://host:4222 or esdb://host:2113?tls=false");
    }
    Ok(config)
}

/// Event type names as the `'static` strings new events carry; each distinct name is
/// allocated once (a log has a few dozen).
#[derive(Default)]
struct TypeNames(HashMap<String, &'static str>);

impl TypeNames {
    fn get(&mut self, name: &str) -> &'static str {
        if let Some(known) = self.0.get(name) {
            return known;
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        self.0.insert(name.to_owned(), leaked);
        leaked
    }
}

/// Copies one commit (events of one stream with one commit id, in order).
async fn copy_commit(to: &dyn EventLog, events: &[RecordedEvent], names: &mut TypeNames) -> Result<bool> {
    let Some(first) = events.first() else { return Ok(false) };
    let commit = Commit::new(
        first.commit_id,
        events
            .iter()
            .map(|e| NewEvent {
                event_id: e.event_id,
                event_type: names.get(&e.event_type),
                schema_version: e.schema_version,
                occurred_at: e.occurred_at,
                causation: Causation { correlation_id: e.correlation_id, causation_id: e.causation_id },
                payload: e.payload.clone(),
            })
            .collect(),
    )?;
    match to.append(&first.stream, ExpectedVersion::Exact(first.version - 1), commit).await {
        Ok(appended) => Ok(appended.duplicate),
        Err(AppendError::Conflict { stream, expected, actual }) => bail!(
            "the target's stream {stream} is at version {actual} where the copy expects {expected}: \
             it holds events the source does not; migrate into an empty log"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot append to {} on the target", first.stream)),
    }
}

/// What a stream holds, without the backend-specific positions.
fn comparable(events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    events.into_iter().map(|e| RecordedEvent { position: 0, ..e }).collect()
}

/// Copies the log, printing progress, then verifies.
pub async fn run(config: Config, args: MigrateArgs) -> Result<()> {
    let from = open_log(&located(&config, &args.from)?).await.context("cannot open the source log (--from)")?;
    let to = open_log(&located(&config, &args.to)?).await.context("cannot open the target log (--to)")?;
    let (copied, duplicates, streams) = copy(from.clone(), to.clone(), args.batch.max(1)).await?;
    eprintln!("\rcopied {copied} commits ({duplicates} were already there) of {} streams", streams.len());
    if args.no_verify {
        return Ok(());
    }
    let mut events = 0usize;
    for stream in &streams {
        let source = comparable(from.read_stream(stream, 0).await?);
        let target = comparable(to.read_stream(stream, 0).await?);
        if source != target {
            bail!(
                "stream {stream} differs after the copy ({} events in the source, {} in the target)",
                source.len(),
                target.len()
            );
        }
        events += source.len();
    }
    println!("verified: {} streams, {events} events identical in both logs", streams.len());
    Ok(())
}

/// Copies every commit in log order; returns (commits copied, of which already there, the
/// streams seen).
async fn copy(from: Arc<dyn EventLog>, to: Arc<dyn EventLog>, batch: usize) -> Result<(u64, u64, BTreeSet<StreamId>)> {
    let head = from.head().await?;
    let mut names = TypeNames::default();
    let (mut copied, mut duplicates) = (0u64, 0u64);
    let mut streams = BTreeSet::new();
    let mut position = 0;
    // The commit being gathered: a batch may end in the middle of one.
    let mut pending: Vec<RecordedEvent> = Vec::new();
    loop {
        let events = from.read_all(position, batch, None).await?;
        let Some(last) = events.last().map(|e| e.position) else { break };
        for event in events {
            let same = pending.first().is_some_and(|p| p.commit_id == event.commit_id && p.stream == event.stream);
            if !same && !pending.is_empty() {
                duplicates += u64::from(copy_commit(to.as_ref(), &pending, &mut names).await?);
                copied += 1;
                pending.clear();
            }
            streams.insert(event.stream.clone());
            pending.push(event);
        }
        position = last;
        let percent = (position.min(head) * 100).checked_div(head).unwrap_or(100);
        eprint!("\rmigrating: {percent:>3}% ({copied} commits)");
        let _ = std::io::stderr().flush();
    }
    if !pending.is_empty() {
        duplicates += u64::from(copy_commit(to.as_ref(), &pending, &mut names).await?);
        copied += 1;
    }
    Ok((copied, duplicates, streams))
}
