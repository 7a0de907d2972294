//! `switchboard faq import|export`: a team's FAQ catalog in and out of files. Importing
//! appends catalog events (added, updated; unchanged rows change nothing), so the indexes
//! of a running Switchboard follow at once. Rows are checked first: a file with a bad row
//! imports nothing and names every bad row.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use switchboard_engine::catalog::{split_advice, CatalogCommand, FaqEntry};
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::{CommandError, Runtime};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{FaqId, TeamId};
use uuid::Uuid;

use crate::config::Config;
use crate::store::open_log;
use switchboard_tabular::{faq, Format};

/// `faq` subcommands.
#[derive(Debug, Subcommand)]
pub enum FaqCommand {
    /// Add or update FAQs from a file: CSV or Excel (.xlsx) with a header row
    /// id,question,answer[,category][,paraphrases] (paraphrases separated by "|"), or JSON
    /// Lines with those fields (paraphrases as a list).
    Import(ImportArgs),
    /// Write a team's FAQs to standard output.
    Export(ExportArgs),
}

/// Options of `faq import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The team.
    #[arg(long)]
    team: TeamId,
    /// The file (.csv, .xlsx or .jsonl).
    file: PathBuf,
    /// Check the file and report, without importing.
    #[arg(long)]
    dry_run: bool,
}

/// Options of `faq export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The team.
    #[arg(long)]
    team: TeamId,
    /// The format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header (paraphrases joined by "|").
    Csv,
    /// JSON Lines.
    Jsonl,
    /// An Excel workbook (write it to a file: `> faqs.xlsx`).
    Xlsx,
}

/// Runs a `faq` subcommand.
pub async fn run(config: Config, command: FaqCommand) -> Result<()> {
    let log = open_log(&config).await?;
    let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
    match command {
        FaqCommand::Import(args) => {
            runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
            let file = args.file.display().to_string();
            let format = Format::from_extension(&file)
                .with_context(|| format!("{file}: unknown file type; use .csv, .xlsx or .jsonl"))?;
            let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {file}"))?;
            let checked = faq::parse(&bytes, format).with_context(|| file.clone())?;
            if !checked.problems.is_empty() {
                for problem in &checked.problems {
                    eprintln!("{file}: line {}: {}", problem.line, problem.message);
                }
                bail!("{} bad row(s) in {file}; nothing was imported", checked.problems.len());
            }
            let entries: Vec<(FaqId, FaqEntry)> = checked.rows.into_iter().map(|r| (r.faq_id, r.entry)).collect();
            if args.dry_run {
                println!("{} FAQs in {} are valid (dry run: nothing imported)", entries.len(), args.file.display());
                return Ok(());
            }
            // One commit: the whole file or nothing.
            let total = entries.len();
            let command = CatalogCommand::Import { rows: entries };
            let committed = match runtime.catalog(&args.team, command, Causation::root(Uuid::now_v7())).await {
                Ok(committed) => committed,
                Err(CommandError::TooLarge { bytes, max }) => bail!("{file}: {}", split_advice(total, bytes, max)),
                Err(e) => return Err(e).with_context(|| format!("importing {file}; nothing was imported")),
            };
            println!(
                "imported {total} FAQs into {}: {} added or changed, {} unchanged",
                args.team,
                committed.events,
                total - committed.events
            );
        }
        FaqCommand::Export(args) => {
            let catalog = runtime.load_catalog(&args.team).await?;
            let format = match args.format {
                ExportFormat::Csv => Format::Csv,
                ExportFormat::Jsonl => Format::Jsonl,
                ExportFormat::Xlsx => Format::Xlsx,
            };
            let bytes = faq::write(&catalog, format)?;
            std::io::stdout().lock().write_all(&bytes).context("cannot write to standard output")?;
        }
    }
    Ok(())
}
