//! `switchboard faq import|export`: a team's FAQ catalog in and out of files. Importing
//! appends catalog events (added, updated; unchanged rows change nothing), so the indexes
//! of a running Switchboard follow at once. Rows are checked first: a file with a bad row
//! imports nothing and names every bad row.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{FaqId, TeamId};
use uuid::Uuid;

use crate::config::Config;
use crate::records;
use crate::serve::open_log;

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
}

/// One row as read, before checking.
#[derive(Debug, Default)]
struct Row {
    line: usize,
    id: String,
    question: String,
    answer: String,
    category: String,
    paraphrases: Vec<String>,
}

fn read(path: &Path) -> Result<Vec<Row>> {
    let records = records::read(path, &["id", "question", "answer"])?;
    let text = |record: &records::Record, name: &str| record.text(name).unwrap_or_default();
    Ok(records
        .iter()
        .map(|record| Row {
            line: record.line,
            id: text(record, "id"),
            question: text(record, "question"),
            answer: text(record, "answer"),
            category: text(record, "category"),
            paraphrases: record.list("paraphrases"),
        })
        .collect())
}

/// Checks every row; returns the commands, or every problem with its line.
fn check(rows: Vec<Row>) -> Result<Vec<(FaqId, FaqEntry)>, Vec<String>> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut entries = Vec::new();
    for row in rows {
        let mut bad = |what: String| problems.push(format!("line {}: {what}", row.line));
        let id = match FaqId::new(row.id.clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                bad(format!("id {:?}: {e}", row.id));
                None
            }
        };
        if row.question.is_empty() {
            bad("the question is empty".into());
        }
        if row.answer.is_empty() {
            bad("the answer is empty".into());
        }
        if let Some(first) = seen.insert(row.id.clone(), row.line) {
            bad(format!("id {:?} already on line {first}", row.id));
        }
        if let (Some(id), false, false) = (id, row.question.is_empty(), row.answer.is_empty()) {
            let category = (!row.category.is_empty()).then_some(row.category);
            entries.push((
                id,
                FaqEntry { question: row.question, answer: row.answer, category, paraphrases: row.paraphrases },
            ));
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Runs a `faq` subcommand.
pub async fn run(config: Config, command: FaqCommand) -> Result<()> {
    let log = open_log(&config).await?;
    let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
    match command {
        FaqCommand::Import(args) => {
            runtime.policy(&args.team).await.with_context(|| format!("team {} is not onboarded", args.team))?;
            let entries = match check(read(&args.file)?) {
                Ok(entries) => entries,
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{}: {problem}", args.file.display());
                    }
                    bail!("{} bad row(s) in {}; nothing was imported", problems.len(), args.file.display());
                }
            };
            if args.dry_run {
                println!("{} FAQs in {} are valid (dry run: nothing imported)", entries.len(), args.file.display());
                return Ok(());
            }
            let causation = Causation::root(Uuid::now_v7());
            let (mut changed, total) = (0usize, entries.len());
            for (n, (faq_id, entry)) in entries.into_iter().enumerate() {
                let committed = runtime
                    .catalog(&args.team, CatalogCommand::Upsert { faq_id: faq_id.clone(), entry }, causation)
                    .await
                    .with_context(|| format!("importing {faq_id}"))?;
                changed += usize::from(committed.events > 0);
                if (n + 1) % 100 == 0 || n + 1 == total {
                    eprint!("\rimporting: {}/{total}", n + 1);
                    let _ = std::io::stderr().flush();
                }
            }
            eprintln!();
            println!(
                "imported {total} FAQs into {}: {changed} added or changed, {} unchanged",
                args.team,
                total - changed
            );
        }
        FaqCommand::Export(args) => {
            let catalog = runtime.load_catalog(&args.team).await?;
            let mut out = std::io::stdout().lock();
            match args.format {
                ExportFormat::Csv => {
                    let mut writer = csv::Writer::from_writer(&mut out);
                    writer.write_record(["id", "question", "answer", "category", "paraphrases"])?;
                    for (id, e) in &catalog.entries {
                        let category = e.category.clone().unwrap_or_default();
                        writer.write_record([
                            id.as_str(),
                            &e.question,
                            &e.answer,
                            &category,
                            &e.paraphrases.join("|"),
                        ])?;
                    }
                    writer.flush()?;
                }
                ExportFormat::Jsonl => {
                    for (id, e) in &catalog.entries {
                        let line = serde_json::json!({
                            "id": id.as_str(), "question": e.question, "answer": e.answer,
                            "category": e.category, "paraphrases": e.paraphrases,
                        });
                        writeln!(out, "{line}")?;
                    }
                }
            }
        }
    }
    Ok(())
}
