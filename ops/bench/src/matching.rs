//! Keyword match latency for one question against a 10,000-FAQ catalog built from the real
//! FAQ banks in `../shared/data/eval`, next to a brute-force scan of the same catalog with
//! the same analysed terms, in the same run; with the model installed, semantic and hybrid
//! ranking, and the FAQ page's hit test (the team's policy and the hybrid rank through the
//! runtime) next to the hybrid rank alone, the match latency budget.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use std::sync::Arc;
use switchboard_schemas::event::FaqAdded;
use switchboard_schemas::{FaqEvent, FaqId, TeamId};

use switchboard_embed::{ModelPaths, OrtEmbedder};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::hit_test::HitTester;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Embedder, SystemClock};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_search::{analyze, Fusion, HybridMatcher, KeywordMatcher, SemanticMatcher};
use uuid::Uuid;

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

/// The benchmark catalog: `args.faqs` FAQs from the real banks, repeated with a
/// distinguishing suffix to reach the size.
fn catalog(args: &MatchArgs, bank: &[(String, String)]) -> Result<Vec<FaqEvent>> {
    (0..args.faqs)
        .map(|i| {
            let (question, answer) = &bank[i % bank.len()];
            let copy = i / bank.len();
            let question = if copy == 0 { question.clone() } else { format!("{question} v{copy}") };
            let faq = FaqAdded {
                faq_id: FaqId::new(format!("faq-{i}"))?,
                question,
                answer: answer.clone(),
                category: None,
                paraphrases: Vec::new(),
            };
            Ok(faq.into())
        })
        .collect()
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
    let catalog = catalog(args, &bank)?;
    let mut scan: Vec<(usize, HashSet<String>)> = Vec::with_capacity(args.faqs);
    for (i, event) in catalog.iter().enumerate() {
        if let FaqEvent::FaqAdded(faq) = event {
            scan.push((i, analyze(&faq.question).into_iter().collect()));
        }
        matcher.apply_sync(&team, event)?;
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
        let (a, b) = (crate::percentile_ms(&ours, p), crate::percentile_ms(&brute, p));
        println!(
            "keyword rank (BM25F, posting lists) {label:<4} {a:>9.3} ms   | brute-force term-overlap scan {label:<4} {b:>9.3} ms   | {:.1}x faster",
            b / a
        );
    }
    match OrtEmbedder::open(&ModelPaths::installed()) {
        Ok(embedder) => semantic(args, &bank, &catalog, &queries, embedder),
        Err(e) => {
            println!("semantic and hybrid: SKIPPED, the model is not installed ({e}); run ops/setup.sh");
            Ok(())
        }
    }
}

/// Semantic and hybrid latency with the real model over the same catalog, next to an
/// embedding plus a naive scan (one allocation per vector, a full sort) of the questions.
fn semantic(
    args: &MatchArgs,
    bank: &[(String, String)],
    catalog: &[FaqEvent],
    queries: &[String],
    embedder: OrtEmbedder,
) -> Result<()> {
    let embedder: Arc<dyn Embedder> = Arc::new(embedder);
    let team = TeamId::new("bench")?;
    let hybrid = Arc::new(HybridMatcher::new(SemanticMatcher::new(embedder.clone()), Fusion::default()));
    let started = Instant::now();
    let mut texts = 0usize;
    for event in catalog {
        if let FaqEvent::FaqAdded(faq) = event {
            texts += 1 + usize::from(!faq.answer.trim().is_empty());
        }
        hybrid.apply_sync(&team, event)?;
    }
    let indexing = started.elapsed();
    println!(
        "embedding while indexing: {texts} texts in {:.1} s = {:.0} texts/s (one text per run, one intra-op thread for FAQ texts)",
        indexing.as_secs_f64(),
        texts as f64 / indexing.as_secs_f64()
    );
    let naive: Vec<Vec<f32>> = (0..args.faqs.min(bank.len()))
        .map(|i| embedder.embed_documents(&[bank[i].0.as_str()]).map(|mut v| v.remove(0)))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    let naive: Vec<Vec<f32>> = (0..args.faqs).map(|i| naive[i % naive.len()].clone()).collect();
    let sample: Vec<&String> = queries.iter().step_by((queries.len() / 400).max(1)).collect();
    let (mut semantic, mut fused, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for q in &sample {
        let started = Instant::now();
        let vector = hybrid.semantic().embed_query(q)?;
        std::hint::black_box(hybrid.semantic().score(&team, &vector, 10, &[])?);
        semantic.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(hybrid.rank_all(&team, q, 10)?);
        fused.push(started.elapsed());
        let started = Instant::now();
        let vector = embedder.embed(&[q.as_str()]).map_err(|e| anyhow::anyhow!(e))?.remove(0);
        let mut scored: Vec<(f32, usize)> =
            naive.iter().enumerate().map(|(i, v)| (v.iter().zip(&vector).map(|(a, b)| a * b).sum(), i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        std::hint::black_box(&scored[..10]);
        baseline.push(started.elapsed());
    }
    let hits = hit_tests(&team, hybrid.clone(), &sample)?;
    for list in [&mut semantic, &mut fused, &mut baseline] {
        list.sort();
    }
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let ms = |sorted: &[Duration]| crate::percentile_ms(sorted, p);
        println!(
            "semantic rank (embed + scan) {label:<4} {:>9.3} ms | hybrid rank {label:<4} {:>9.3} ms | embed + naive scan and sort {label:<4} {:>9.3} ms",
            ms(&semantic),
            ms(&fused),
            ms(&baseline),
        );
    }
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let ms = |sorted: &[Duration]| crate::percentile_ms(sorted, p);
        println!(
            "hit test (policy + hybrid rank, through the runtime) {label:<4} {:>9.3} ms | hybrid rank alone {label:<4} {:>9.3} ms",
            ms(&hits),
            ms(&fused),
        );
    }
    Ok(())
}

/// The FAQ page's hit test of each question (the team's compiled policy from an embedded
/// log, the hybrid rank, the decision), sorted.
fn hit_tests(team: &TeamId, hybrid: Arc<HybridMatcher>, sample: &[&String]) -> Result<Vec<Duration>> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let log: Arc<dyn EventLog> =
            Arc::new(SqliteEventLog::open(&dir.path().join("log.sqlite"), SqliteOptions::default())?);
        let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
        let onboard = TeamCommand::Onboard {
            name: "Bench".into(),
            cloned_from: None,
            settings: Box::new(TeamSettings::default()),
            roster: Roster::default(),
            on_call: None,
        };
        runtime.team(team, onboard, Causation::root(Uuid::now_v7())).await?;
        let tester = HitTester::new(runtime, hybrid, 5);
        let mut took = Vec::with_capacity(sample.len());
        for q in sample {
            let started = Instant::now();
            std::hint::black_box(tester.try_question(team, q).await?);
            took.push(started.elapsed());
        }
        took.sort();
        Ok(took)
    })
}
