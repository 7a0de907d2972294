//! `switchboard audit <team>/<user> [--at TIME]`: a conversation's timeline and its state at
//! any moment, rebuilt from the log.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use switchboard_projections::conversation::audit;
use switchboard_schemas::{StreamId, TeamId, UserId};

use crate::config::Config;
use crate::store::open_log;

/// Options of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The conversation as `<team>/<user>`.
    conversation: String,
    /// Rebuild the state as it was at this moment (RFC 3339, e.g. 2026-11-28T09:30:00Z).
    #[arg(long)]
    at: Option<DateTime<Utc>>,
    /// Print the view as JSON.
    #[arg(long)]
    json: bool,
}

/// Prints the timeline and the state.
pub async fn run(config: Config, args: AuditArgs) -> Result<()> {
    let Some((team, user)) = args.conversation.split_once('/') else {
        bail!("name the conversation as <team>/<user>, e.g. demo/zhangsan");
    };
    let stream = StreamId::conversation(&TeamId::new(team)?, &UserId::new(user)?);
    let log = open_log(&config).await?;
    let events = log.read_stream(&stream, 0).await?;
    if events.is_empty() {
        bail!("no conversation {stream} in {}", config.data_dir.display());
    }
    let audit = audit(&events, args.at).context("rebuilding the conversation")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&audit.view)?);
        return Ok(());
    }
    for line in &audit.view.timeline {
        println!(
            "{:>4}  {}  {:<20} {}",
            line.version,
            line.at.format("%Y-%m-%d %H:%M:%S"),
            line.event_type,
            line.summary
        );
    }
    let when = args.at.map_or("now".to_owned(), |at| at.to_rfc3339());
    match &audit.state.session {
        Some(session) => println!(
            "\nstate at {when}: session {} {:?}, assignee {}, {} pending deliveries",
            session.id,
            session.status(),
            session.assignee.as_ref().map_or("none".to_owned(), |a| a.to_string()),
            audit.state.pending_deliveries.len()
        ),
        None => println!("\nstate at {when}: no session yet"),
    }
    Ok(())
}
