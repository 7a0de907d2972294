//! `switchboard keys issue|list|revoke`: a team's access keys to the API and the console.
//! A key's token is printed once, when it is issued; the log keeps only its digest.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_http::auth::new_token;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::{StaffId, TeamId};
use uuid::Uuid;

use crate::config::Config;
use crate::store::open_log;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key to a person and print its token (shown this once).
    Issue(IssueArgs),
    /// List a team's keys (never their tokens).
    List(TeamArg),
    /// Revoke a key: it stops working at once.
    Revoke(RevokeArgs),
}

/// The team a command is about.
#[derive(Debug, Args)]
pub struct TeamArg {
    /// The team.
    #[arg(long)]
    team: TeamId,
}

/// Options of `keys issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The team.
    #[arg(long)]
    team: TeamId,
    /// What the key allows.
    #[arg(long, value_enum)]
    role: Role,
    /// Who acts with it: their staff id (WeCom UserID), recorded on what they do.
    #[arg(long)]
    staff: StaffId,
    /// What the key is for, e.g. "Wang Fang's laptop".
    #[arg(long)]
    label: String,
}

/// Options of `keys revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The team.
    #[arg(long)]
    team: TeamId,
    /// The key (from `keys list`).
    #[arg(long)]
    key_id: Uuid,
}

/// Roles, as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Reads sessions, conversations, FAQ, candidates, statistics, settings.
    Viewer,
    /// Also works on sessions, the FAQ and its candidates.
    Agent,
    /// Also changes settings, roster, WeCom and keys.
    Admin,
}

impl From<Role> for AccessRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => AccessRole::Viewer,
            Role::Agent => AccessRole::Agent,
            Role::Admin => AccessRole::Admin,
        }
    }
}

/// Runs a `keys` subcommand.
pub async fn run(config: Config, command: KeysCommand) -> Result<()> {
    let runtime = Runtime::new(open_log(&config).await?, Arc::new(SystemClock));
    let causation = Causation::root(Uuid::now_v7());
    match command {
        KeysCommand::Issue(args) => {
            runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
            let issued = new_token(&args.team)?;
            let key_id = Uuid::now_v7();
            let command = TeamCommand::IssueKey {
                key_id,
                label: args.label,
                role: args.role.into(),
                staff: args.staff.clone(),
                token_sha256: issued.digest,
            };
            runtime.team(&args.team, command, causation).await.context("issuing the key")?;
            eprintln!(
                "issued key {key_id} ({}) to {} in team {}; its token (shown only now):",
                AccessRole::from(args.role).as_str(),
                args.staff,
                args.team
            );
            println!("{}", issued.token);
        }
        KeysCommand::List(args) => {
            let team = runtime.load_team(&args.team).await?;
            if team.name.is_none() {
                bail!("team {} does not exist", args.team);
            }
            println!("{:<36}  {:<6}  {:<20}  label", "key id", "role", "staff");
            for (id, key) in &team.keys {
                println!("{id}  {:<6}  {:<20}  {}", key.role.as_str(), key.staff, key.label);
            }
        }
        KeysCommand::Revoke(args) => {
            runtime
                .team(&args.team, TeamCommand::RevokeKey { key_id: args.key_id }, causation)
                .await
                .with_context(|| format!("revoking key {}", args.key_id))?;
            println!("revoked key {} of team {}", args.key_id, args.team);
        }
    }
    Ok(())
}
