//! Attachments' bytes in and out of both blob stores, 1 MB pictures one after another (as
//! the core fetches them), next to the same bytes written and read without the store:
//!
//! - the embedded store (content-addressed files: hash, temporary file, flush, rename,
//!   directory flush) against a raw file copy (write and flush one file per picture) and a
//!   raw read of it;
//! - the JetStream object store (hash, put in 128 KiB chunks, metadata) against a raw
//!   object-store put and get of the same bytes, in another bucket on the same server.
//!
//! Starts its own nats-server (`$NATS_SERVER_BIN`, else `nats-server` on `PATH`).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use async_nats::jetstream::object_store;
use clap::Args;
use switchboard_embedded::FileBlobStore;
use switchboard_engine::blobs::{Blob, BlobStore};
use switchboard_jetstream::testing::NatsServer;
use switchboard_jetstream::{JetStreamEventLog, JetStreamOptions};
use switchboard_schemas::TeamId;
use tokio::io::AsyncReadExt;

/// Sizes of the blob benchmark.
#[derive(Debug, Clone, Args)]
pub struct BlobsArgs {
    /// Pictures stored and read back in each measurement.
    #[arg(long, default_value_t = 200)]
    pub pictures: usize,
    /// Bytes per picture.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub bytes: usize,
}

impl Default for BlobsArgs {
    fn default() -> Self {
        Self { pictures: 200, bytes: 1024 * 1024 }
    }
}

/// Pictures that differ everywhere, so no store can shortcut one.
fn pictures(args: &BlobsArgs) -> Vec<Blob> {
    (0..args.pictures)
        .map(|i| {
            let mut state = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let bytes = (0..args.bytes)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            Blob::new(bytes)
        })
        .collect()
}

/// Pictures per second and megabytes per second of `count` pictures in `seconds`.
fn rate(count: usize, bytes: usize, seconds: f64) -> (f64, f64) {
    (count as f64 / seconds, (count * bytes) as f64 / seconds / 1_048_576.0)
}

fn report(name: &str, ours: (f64, f64), baseline_name: &str, baseline: (f64, f64)) {
    crate::report(name, ours.0, baseline_name, baseline.0, "pictures/s");
    println!("{:<44} {:>12.0} MB/s           | {:<40} {:>12.0} MB/s", "", ours.1, "", baseline.1);
}

/// Runs the benchmark and prints its lines.
pub fn run(args: &BlobsArgs) -> Result<()> {
    let blobs = pictures(args);
    let team = TeamId::new("bench").context("team id")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!("== blobs ({} pictures of {} bytes, one after another)", args.pictures, args.bytes);

    // The embedded store against raw files on the same disk.
    let dir = tempfile::tempdir()?;
    let store = FileBlobStore::open(dir.path().join("blobs"))?;
    let now = chrono::Utc::now();
    let started = Instant::now();
    for blob in &blobs {
        rt.block_on(store.put(&team, blob, now))?;
    }
    let ours_write = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir_all(&raw_dir)?;
    let started = Instant::now();
    for (i, blob) in blobs.iter().enumerate() {
        let mut file = std::fs::File::create(raw_dir.join(i.to_string()))?;
        file.write_all(blob.bytes())?;
        file.sync_all()?;
    }
    let raw_write = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
    report("embedded blob store put (1 MB picture)", ours_write, "raw file write + flush", raw_write);
    let started = Instant::now();
    for blob in &blobs {
        let bytes = rt.block_on(store.get(&team, blob.hash()))?.context("a stored picture")?;
        assert_eq!(bytes.len(), args.bytes);
    }
    let ours_read = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
    let started = Instant::now();
    for i in 0..blobs.len() {
        let bytes = std::fs::read(raw_dir.join(i.to_string()))?;
        assert_eq!(bytes.len(), args.bytes);
    }
    let raw_read = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
    report("embedded blob store get", ours_read, "raw file read", raw_read);

    // The object store against raw object-store calls on the same server.
    let server = NatsServer::try_start().context("starting nats-server for the benchmark")?;
    rt.block_on(async {
        let log = JetStreamEventLog::connect(&server.url(), JetStreamOptions::default()).await?;
        let store = log.blob_store().await?;
        let raw = log
            .jetstream()
            .create_object_store(object_store::Config { bucket: "BENCH_RAW".into(), ..Default::default() })
            .await?;
        let started = Instant::now();
        for blob in &blobs {
            store.put(&team, blob, now).await?;
        }
        let ours_write = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
        let started = Instant::now();
        for (i, blob) in blobs.iter().enumerate() {
            raw.put(i.to_string().as_str(), &mut blob.bytes()).await?;
        }
        let raw_write = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
        report("JetStream object store put (1 MB picture)", ours_write, "raw object-store put", raw_write);
        let started = Instant::now();
        for blob in &blobs {
            let bytes = store.get(&team, blob.hash()).await?.context("a stored picture")?;
            assert_eq!(bytes.len(), args.bytes);
        }
        let ours_read = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
        let started = Instant::now();
        for i in 0..blobs.len() {
            let mut bytes = Vec::new();
            raw.get(i.to_string().as_str()).await?.read_to_end(&mut bytes).await?;
            assert_eq!(bytes.len(), args.bytes);
        }
        let raw_read = rate(blobs.len(), args.bytes, started.elapsed().as_secs_f64());
        report("JetStream object store get", ours_read, "raw object-store get", raw_read);
        anyhow::Ok(())
    })?;
    drop(server);
    Ok(())
}
