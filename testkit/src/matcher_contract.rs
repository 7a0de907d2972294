//! The contract every [`Matcher`] honours, written once and run against each of them
//! (the keyword index, the hybrid matcher with the installed model, Meilisearch when
//! `MEILI_URL` is set): catalog events take effect, removed FAQs are never ranked, teams are
//! isolated, and a question worded like an FAQ is ranked first with more confidence than an
//! unrelated one. [`matcher_contract!`](crate::matcher_contract) makes one test per check.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use switchboard_schemas::event::{FaqAdded, FaqParaphraseAdded, FaqRemoved, FaqUpdated};
use switchboard_schemas::{FaqEvent, FaqId, TeamId};

use switchboard_engine::ports::Matcher;

/// Runs every check against matchers made by `$factory` (an expression evaluating to a
/// future of an `Arc<dyn Matcher>`, fresh and empty for each test — or of an `Option` of
/// one, for a backend whose server is reached through an environment variable: `None`
/// runs nothing, and the factory says why).
#[macro_export]
macro_rules! matcher_contract {
    (@tests $factory:expr; $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let matcher: ::core::option::Option<::std::sync::Arc<dyn ::switchboard_engine::ports::Matcher>> =
                    $factory.await.into();
                if let ::core::option::Option::Some(matcher) = matcher {
                    $crate::matcher_contract::$check(matcher).await;
                }
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::matcher_contract!(@tests $factory;
            an_faq_worded_like_the_question_comes_first => check_exact_question_first,
            an_update_replaces_the_old_wording => check_update,
            a_removed_faq_is_never_ranked => check_remove,
            a_learned_paraphrase_finds_its_faq => check_paraphrase,
            teams_see_only_their_own_faqs => check_team_isolation,
            candidates_carry_the_faq_and_respect_the_limit => check_candidates,
        );
    };
}

/// A team id unique to one test run, so matchers backed by a shared server start empty.
pub fn fresh_team(name: &str) -> TeamId {
    TeamId::new(format!("{name}{}", uuid::Uuid::now_v7().simple())).unwrap()
}

async fn add(m: &Arc<dyn Matcher>, team: &TeamId, id: &str, question: &str, answer: &str, category: Option<&str>) {
    let event: FaqEvent = FaqAdded {
        faq_id: FaqId::new(id).unwrap(),
        question: question.into(),
        answer: answer.into(),
        category: category.map(str::to_owned),
        paraphrases: vec![],
    }
    .into();
    m.apply(team, &event).await.unwrap();
}

async fn catalog(m: &Arc<dyn Matcher>, team: &TeamId) {
    add(
        m,
        team,
        "start-time",
        "How do I change the start time of an activity?",
        "Edit it in the activity settings.",
        Some("activity"),
    )
    .await;
    add(
        m,
        team,
        "prize-stock",
        "What do I do when the prize stock runs out?",
        "Add stock under prize management.",
        Some("prizes"),
    )
    .await;
    add(m, team, "export-list", "How do I export the participant list?", "Click export on the data page.", None).await;
}

async fn first(m: &Arc<dyn Matcher>, team: &TeamId, query: &str) -> Option<String> {
    m.rank(team, query, 5).await.unwrap().candidates.first().map(|c| c.faq_id.as_str().to_owned())
}

pub async fn check_exact_question_first(m: Arc<dyn Matcher>) {
    let team = fresh_team("exact");
    catalog(&m, &team).await;
    let exact = m.rank(&team, "How do I export the participant list?", 5).await.unwrap();
    assert_eq!(exact.candidates[0].faq_id.as_str(), "export-list");
    let unrelated = m.rank(&team, "weather forecast tomorrow", 5).await.unwrap();
    assert!(exact.confidence > unrelated.confidence, "{} vs {}", exact.confidence, unrelated.confidence);
    assert!((0.0..=1.0).contains(&exact.confidence));
    assert!(!exact.engine.is_empty(), "the engine is named for the audit");
}

pub async fn check_update(m: Arc<dyn Matcher>) {
    let team = fresh_team("update");
    catalog(&m, &team).await;
    let event: FaqEvent = FaqUpdated {
        faq_id: FaqId::new("export-list").unwrap(),
        question: "Where can I download the invoice?".into(),
        answer: "Invoices are under billing.".into(),
        category: Some("billing".into()),
        paraphrases: vec![],
    }
    .into();
    m.apply(&team, &event).await.unwrap();
    assert_eq!(first(&m, &team, "Where can I download the invoice?").await.as_deref(), Some("export-list"));
    let old = m.rank(&team, "How do I export the participant list?", 5).await.unwrap();
    assert!(old.candidates.first().is_none_or(|c| c.question != "How do I export the participant list?"));
}

pub async fn check_remove(m: Arc<dyn Matcher>) {
    let team = fresh_team("remove");
    catalog(&m, &team).await;
    m.apply(&team, &FaqRemoved { faq_id: FaqId::new("export-list").unwrap() }.into()).await.unwrap();
    for query in ["How do I export the participant list?", "export participants"] {
        let ranked = m.rank(&team, query, 10).await.unwrap();
        assert!(ranked.candidates.iter().all(|c| c.faq_id.as_str() != "export-list"), "{query}: {ranked:?}");
    }
}

pub async fn check_paraphrase(m: Arc<dyn Matcher>) {
    let team = fresh_team("paraphrase");
    catalog(&m, &team).await;
    let wording = "gifts all gone what now";
    let event: FaqEvent =
        FaqParaphraseAdded { faq_id: FaqId::new("prize-stock").unwrap(), text: wording.into(), session_id: None }
            .into();
    m.apply(&team, &event).await.unwrap();
    assert_eq!(first(&m, &team, wording).await.as_deref(), Some("prize-stock"));
}

pub async fn check_team_isolation(m: Arc<dyn Matcher>) {
    let (a, b) = (fresh_team("teama"), fresh_team("teamb"));
    catalog(&m, &a).await;
    add(&m, &b, "only-b", "How do I reset my password?", "Use the reset link.", None).await;
    let ranked = m.rank(&b, "How do I export the participant list?", 10).await.unwrap();
    assert!(ranked.candidates.iter().all(|c| c.faq_id.as_str() == "only-b"), "{ranked:?}");
    let empty = m.rank(&fresh_team("nobody"), "anything", 10).await.unwrap();
    assert!(empty.candidates.is_empty());
}

pub async fn check_candidates(m: Arc<dyn Matcher>) {
    let team = fresh_team("candidates");
    catalog(&m, &team).await;
    let ranked = m.rank(&team, "What do I do when the prize stock runs out?", 2).await.unwrap();
    assert!(ranked.candidates.len() <= 2);
    let top = &ranked.candidates[0];
    assert_eq!(top.faq_id.as_str(), "prize-stock");
    assert_eq!(top.answer, "Add stock under prize management.");
    assert_eq!(top.category.as_deref(), Some("prizes"));
    assert!(ranked.candidates.windows(2).all(|w| w[0].score >= w[1].score), "best first");
}
