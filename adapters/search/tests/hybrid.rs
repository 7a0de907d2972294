#![allow(clippy::unwrap_used)]
//! The semantic index and the hybrid matcher with each installed model (each with the fusion
//! tuned for it): catalog events keep the vectors current, a question in another language
//! finds its FAQ, and every candidate carries both engines' scores.

use std::sync::Arc;

use switchboard_embed::{ModelPaths, OrtEmbedder, E5_MODEL, USE_MODEL};
use switchboard_engine::ports::Embedder;
use switchboard_schemas::event::{FaqAdded, FaqParaphraseAdded, FaqRemoved};
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use switchboard_search::{Fusion, HybridMatcher, SemanticMatcher};

const MODELS: [&str; 2] = [E5_MODEL, USE_MODEL];

fn matcher(model: &str) -> HybridMatcher {
    let embedder =
        OrtEmbedder::open(&ModelPaths::setup_model(model)).unwrap_or_else(|e| panic!("model {model} required: {e}"));
    let fusion = Fusion::tuned_for(embedder.model_id()).unwrap_or_else(|| panic!("{model} has a tuned fusion"));
    HybridMatcher::new(SemanticMatcher::new(Arc::new(embedder)), fusion)
}

fn add(m: &HybridMatcher, team: &TeamId, id: &str, question: &str, answer: &str) {
    let event: FaqEvent = FaqAdded {
        faq_id: FaqId::new(id).unwrap(),
        question: question.into(),
        answer: answer.into(),
        category: None,
        paraphrases: vec![],
    }
    .into();
    m.apply_sync(team, &event).unwrap();
}

fn first(m: &HybridMatcher, team: &TeamId, query: &str) -> Option<String> {
    m.rank_all(team, query, 5).unwrap().hybrid.candidates.first().map(|c| c.faq_id.as_str().to_owned())
}

#[test]
fn catalog_events_keep_the_vectors_current_and_languages_cross() {
    for model in MODELS {
        catalog_events_keep_the_vectors_current_and_languages_cross_with(model);
    }
}

fn catalog_events_keep_the_vectors_current_and_languages_cross_with(model: &str) {
    let m = matcher(model);
    let team = TeamId::new("ops").unwrap();
    add(&m, &team, "start-time", "如何修改活动的开始时间", "在活动设置里修改开始时间。");
    add(&m, &team, "stock", "奖品库存不足怎么办", "在奖品管理里追加库存。");
    add(&m, &team, "export-list", "怎么导出参与者名单", "在数据页点击导出。");
    assert_eq!(m.semantic().document_count(&team), 3);

    // No shared words with the Chinese question: the semantic evidence finds it.
    let rankings = m.rank_all(&team, "Where can I edit when the activity begins?", 5).unwrap();
    assert_eq!(rankings.hybrid.candidates[0].faq_id.as_str(), "start-time");
    for candidate in &rankings.hybrid.candidates {
        assert!(candidate.semantic_score.is_some(), "every candidate has its semantic score");
    }
    assert!(rankings.hybrid.engine.starts_with(&format!("hybrid:keyword-bm25+{}", m.semantic().model_id())));

    // A Chinese paraphrase that shares words: both engines score it.
    let rankings = m.rank_all(&team, "奖品库存不够了", 5).unwrap();
    let top = &rankings.hybrid.candidates[0];
    assert_eq!(top.faq_id.as_str(), "stock");
    assert!(top.keyword_score.is_some() && top.semantic_score.is_some(), "{top:?}");

    // A learned paraphrase pulls an unrelated wording to its FAQ.
    let odd = "prize pool empty";
    let before = first(&m, &team, odd);
    let event: FaqEvent =
        FaqParaphraseAdded { faq_id: FaqId::new("export-list").unwrap(), text: odd.into(), session_id: None }.into();
    m.apply_sync(&team, &event).unwrap();
    assert_eq!(first(&m, &team, odd).as_deref(), Some("export-list"), "was {before:?}");

    // Removed FAQs are never ranked again; other teams see nothing of this one.
    m.apply_sync(&team, &FaqRemoved { faq_id: FaqId::new("export-list").unwrap() }.into()).unwrap();
    assert_eq!(m.semantic().document_count(&team), 2);
    assert_ne!(first(&m, &team, odd).as_deref(), Some("export-list"));
    assert_eq!(first(&m, &TeamId::new("other").unwrap(), "奖品库存不够了"), None);
}

#[test]
fn an_exact_question_is_confident_and_nonsense_is_not() {
    for model in MODELS {
        an_exact_question_is_confident_and_nonsense_is_not_with(model);
    }
}

fn an_exact_question_is_confident_and_nonsense_is_not_with(model: &str) {
    let m = matcher(model);
    let team = TeamId::new("ops").unwrap();
    add(&m, &team, "start-time", "如何修改活动的开始时间", "");
    add(&m, &team, "stock", "奖品库存不足怎么办", "");
    let exact = m.rank_all(&team, "如何修改活动的开始时间", 5).unwrap().hybrid;
    let nonsense = m.rank_all(&team, "明天天气怎么样", 5).unwrap().hybrid;
    assert!(exact.confidence > 0.8, "{model}: {}", exact.confidence);
    assert!(nonsense.confidence < 0.3, "{model}: {}", nonsense.confidence);
}
