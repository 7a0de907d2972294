//! What every test of Switchboard shares.
//!
//! - [`MemoryEventLog`]: an event log in memory that passes the event-log contract suite,
//!   with failures that can be switched on, so the asynchronous core and the followers are
//!   tested in-process under tokio's paused time — milliseconds per test, no real sleeps.
//! - [`MemoryBlobStore`]: a blob store in memory that passes the blob store contract.
//! - [`ManualClock`]: the [`Clock`](switchboard_engine::ports::Clock) a test moves by hand.
//! - The contract suites, one per port, that every backend runs:
//!   [`event_log_contract!`] ([`log_contract`]), [`matcher_contract!`] ([`matcher_contract`]),
//!   [`read_store_contract!`] ([`read_store_contract`]), [`outbox_contract!`]
//!   ([`outbox_contract`]) and [`blob_store_contract!`] ([`blob_contract`]).
//!
//! Tests only: nothing here is linked into the product.

pub mod blob_contract;
mod clock;
pub mod log_contract;
pub mod matcher_contract;
mod memory;
mod memory_blobs;
pub mod outbox_contract;
pub mod read_store_contract;

pub use clock::ManualClock;
pub use memory::MemoryEventLog;
pub use memory_blobs::MemoryBlobStore;
