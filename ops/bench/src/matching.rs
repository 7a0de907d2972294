//! Keyword match latency for one question against a 10,000-FAQ catalog built from the real
//! FAQ banks in `../shared/data/eval`, next to a brute-force scan of the same catalog with
//! the same analysed terms, in the same run.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use switchboard_schemas::event::FaqAdded;
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use switchboard_search::{analyze, KeywordMatcher};

/// Sizes of the matching benchmark.
#[derive(Debug, Clone, Args)]
pub struct MatchArgs {
    /// FAQs in the catalog (real entries, repeated with a distinguishing suffix to reach it).
    #[arg(long, default_value_t = 10_000)]
    pub faqs: usize,
}

impl Default for MatchArgs {
    fn default() -> Self {
        Self { faqs: 10_000 }
    }
}

fn eval_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/eval"))
}

fn lines(path: PathBuf) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines().map(|l| serde_json::from_str(l).context("a JSON line")).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark and prints its lines.
pub fn run(args: &MatchArgs) -> Result<()> {
    let dir = eval_dir();
    let mut bank = Vec::new();
    for set in ["lcqmc_faq", "stackfaq", "esun_faq"] {
        for faq in lines(dir.join(set).join("faqs.jsonl"))? {
            let question = faq["question"].as_str().unwrap_or_default().to_owned();
            let answer = faq["answer"].as_str().unwrap_or_default().chars().take(400).collect::<String>();
            bank.push((question, answer));
        }
    }
    let mut queries = Vec::new();
    for set in ["lcqmc_faq", "stackfaq"] {
        for q in lines(dir.join(set).join("queries-dev.jsonl"))? {
            queries.push(q["query"].as_str().unwrap_or_default().to_owned());
        }
    }
    println!("== match ({} FAQs from {} real entries, {} real queries)", args.faqs, bank.len(), queries.len());

    let team = TeamId::new("bench")?;
    let matcher = KeywordMatcher::new();
    let mut scan: Vec<(usize, HashSet<String>)> = Vec::with_capacity(args.faqs);
    for i in 0..args.faqs {
        let (question, answer) = &bank[i % bank.len()];
        let copy = i / bank.len();
        let question = if copy == 0 { question.clone() } else { format!("{question} v{copy}") };
        scan.push((i, analyze(&question).into_iter().collect()));
        let event: FaqEvent = FaqAdded {
            faq_id: FaqId::new(format!("faq-{i}"))?,
            question,
            answer: answer.clone(),
            category: None,
            paraphrases: Vec::new(),
        }
        .into();
        matcher.apply_sync(&team, &event)?;
    }

    let mut ours = Vec::with_capacity(queries.len());
    for q in &queries {
        let started = Instant::now();
        std::hint::black_box(matcher.rank_sync(&team, q, 10)?);
        ours.push(started.elapsed());
    }
    let mut brute = Vec::with_capacity(queries.len());
    for q in &queries {
        let started = Instant::now();
        let terms: Vec<String> = analyze(q);
        let mut scored: Vec<(usize, usize)> =
            scan.iter().map(|(i, doc)| (terms.iter().filter(|t| doc.contains(*t)).count(), *i)).collect();
        scored.sort_unstable_by(|a, b| b.cmp(a));
        std::hint::black_box(&scored[..10.min(scored.len())]);
        brute.push(started.elapsed());
    }
    ours.sort();
    brute.sort();
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (percentile(&ours, p), percentile(&brute, p));
        println!(
            "keyword rank (BM25F, posting lists) {label:<4} {:>9.3} ms   | brute-force term-overlap scan {label:<4} {:>9.3} ms   | {:.1}x faster",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    Ok(())
}
