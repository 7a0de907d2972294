//! Every fuzz target over its committed corpus, then over bounded random mutations of it
//! (bytes flipped, inserted and cut): the stable-Rust run of the targets that every CI run
//! does. libFuzzer runs the same targets coverage-guided, for longer: `ops/fuzz/run`.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use switchboard_fuzz::{Target, Verdict, TARGETS};

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(name);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {} is missing: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("a readable seed"))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "the seed corpus of {name} has only {} inputs", seeds.len());
    seeds
}

fn target(name: &str) -> Target {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).expect("a target of that name")
}

/// One edit of a seed: at a position (scaled to the seed's length), flip a byte, insert
/// bytes or cut the rest.
#[derive(Debug, Clone)]
enum Edit {
    Flip(u16, u8),
    Insert(u16, Vec<u8>),
    Cut(u16),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(at, mask)| Edit::Flip(at, mask | 1)),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        any::<u16>().prop_map(Edit::Cut),
    ]
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for edit in edits {
        let at = |raw: &u16, len: usize| usize::from(*raw) * len / usize::from(u16::MAX).max(1);
        match edit {
            Edit::Flip(raw, mask) if !bytes.is_empty() => {
                let i = at(raw, bytes.len() - 1);
                bytes[i] ^= mask;
            }
            Edit::Flip(..) => {}
            Edit::Insert(raw, inserted) => {
                let i = at(raw, bytes.len());
                bytes.splice(i..i, inserted.iter().copied());
            }
            Edit::Cut(raw) => bytes.truncate(at(raw, bytes.len())),
        }
    }
    bytes
}

/// The seeds as they are, then `cases` mutants (and fully random inputs) of them.
fn survives(name: &str, cases: u32) {
    let run = target(name);
    let seeds = corpus(name);
    let verdicts: std::collections::BTreeSet<Verdict> = seeds.iter().map(|seed| run(seed)).collect();
    assert!(
        verdicts.contains(&Verdict::Accepted) && verdicts.contains(&Verdict::Refused),
        "the {name} corpus must reach both an acceptance and a refusal, so the mutants start on both sides: {verdicts:?}"
    );
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    };
    let inputs = prop_oneof![
        4 => (0..seeds.len(), proptest::collection::vec(edit(), 1..4)).prop_map(move |(i, edits)| mutate(&seeds[i], &edits)),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ];
    TestRunner::new(config)
        .run(&inputs, |input| {
            run(&input);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("the {name} target failed: {e}"));
}

#[test]
fn the_api_target_holds_on_its_corpus_and_mutations() {
    survives("api", 400);
}

#[test]
fn the_callback_target_holds_on_its_corpus_and_mutations() {
    survives("callback", 2_000);
}

#[test]
fn the_faq_target_holds_on_its_corpus_and_mutations() {
    survives("faq", 2_000);
}

#[test]
fn the_xml_target_holds_on_its_corpus_and_mutations() {
    survives("xml", 5_000);
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("libfuzzer/fuzz_targets");
    for (name, _) in TARGETS {
        let source = std::fs::read_to_string(dir.join(format!("{name}.rs")))
            .unwrap_or_else(|e| panic!("ops/fuzz/libfuzzer/fuzz_targets/{name}.rs is missing: {e}"));
        assert!(source.contains(&format!("switchboard_fuzz::{name}::run")), "{name}.rs does not run the {name} target");
    }
}
