//! The process-level tests of `switchboard`: one test binary (linking the whole stack once
//! instead of once per file), one module per area. `cargo nextest run -p switchboard-cli
//! -E 'test(/^nats::/)'` runs one area.

mod common;
mod connections;
mod console;
mod eval;
mod faq;
mod faults;
mod generative;
mod load;
mod migrate;
mod nats;
mod oncall;
mod process;
mod runtime;
mod secrets;
mod subscriber;
mod upgrade;
mod wecom;
