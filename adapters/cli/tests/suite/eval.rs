#![allow(clippy::unwrap_used)]
//! `switchboard eval` on the shared development sets (../shared/data/eval), with the
//! installed semantic model: the figures docs/answering.md reports, and --tune writing settings
//! the binary accepts. Fails, never skips, without the data or the model.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn eval_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/eval")
}

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard")).args(args).env("SWITCHBOARD_LOG", "warn").output().unwrap()
}

fn set_args(sets: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    for set in sets {
        let dir = eval_dir().join(set);
        assert!(dir.is_dir(), "evaluation data {} is missing", dir.display());
        args.extend(["--faqs".into(), dir.join("faqs.jsonl").display().to_string()]);
        args.extend(["--queries".into(), dir.join("queries-dev.jsonl").display().to_string()]);
    }
    args
}

#[test]
fn hybrid_beats_either_engine_alone_on_the_dev_sets() {
    let mut args = vec!["eval".to_owned(), "--format".into(), "json".into(), "--learning".into()];
    args.extend(set_args(&["lcqmc_faq", "stackfaq"]));
    let output = switchboard(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "multilingual-e5-small-q4q8+query+passage", "the default model is E5-small");
    let sets = report["sets"].as_array().unwrap();
    let p1 = |set: &Value, engine: &str| set[engine]["p_at_1"].as_f64().unwrap();
    for set in sets {
        assert!(p1(set, "hybrid") > p1(set, "keyword") && p1(set, "hybrid") > p1(set, "semantic"), "{set}");
        assert_eq!(set["hybrid"]["thresholds"].as_array().unwrap().len(), 9);
    }
    let (lcqmc, stackfaq) = (&sets[0], &sets[1]);
    assert_eq!((lcqmc["hybrid"]["matched"].as_u64(), lcqmc["hybrid"]["unmatched"].as_u64()), (Some(883), Some(341)));
    // Measured: stackfaq hybrid P@1 0.873 (target 0.75); lcqmc end-to-end accuracy with
    // hand-over 0.801 on an Intel Xeon, 0.799 on an AMD EPYC (keyword 0.740, semantic 0.788):
    // ONNX Runtime's kernels differ by CPU in the last bits, which flips a few near ties, so
    // the floors below sit a point under the figures.
    assert!(p1(stackfaq, "hybrid") >= 0.86, "{stackfaq}");
    assert!(p1(lcqmc, "hybrid") >= 0.955, "{lcqmc}");
    let accuracy = |engine: &str| lcqmc[engine]["best_accuracy"].as_f64().unwrap();
    assert!(accuracy("hybrid") >= 0.79, "{lcqmc}");
    assert!(accuracy("hybrid") > accuracy("semantic") && accuracy("semantic") > accuracy("keyword"), "{lcqmc}");
    // The honest figures: at the shipped threshold and with a cross-validated one (measured
    // 0.795 and 0.796 on the Xeon, 0.796 and 0.787 on the EPYC), never above the best on the
    // same questions.
    let honest = |engine: &str, how: &str| lcqmc[engine][how]["accuracy"].as_f64().unwrap();
    assert!(honest("hybrid", "at_configured") >= 0.79 && honest("hybrid", "cross_validated") >= 0.78, "{lcqmc}");
    assert_eq!(lcqmc["hybrid"]["at_configured"]["threshold"].as_f64().map(|t| (t * 100.0).round()), Some(40.0));
    assert_eq!(lcqmc["hybrid"]["cross_validated_thresholds"].as_array().map(Vec::len), Some(5));
    assert!(honest("hybrid", "cross_validated") <= accuracy("hybrid") + 1e-9, "{lcqmc}");
    // Calibration (ECE, ten bins; measured on an AMD EPYC): the shipped hybrid calibration
    // means what it says on lcqmc (0.036), where it was fit, and not on stackfaq (0.80: it
    // learned lcqmc's hand-overs). Fit on the other folds of each set, with the threshold,
    // it is within 0.05 on both (0.029 and 0.035), at lcqmc accuracy 0.785.
    let ece = |set: &Value| set["hybrid"]["calibration_error"].as_f64().unwrap();
    assert!(ece(lcqmc) <= 0.05, "{lcqmc}");
    assert!(ece(stackfaq) > ece(lcqmc), "the shipped calibration does not transfer to stackfaq: {stackfaq}");
    for set in [lcqmc, stackfaq] {
        let fitted = &set["hybrid_cross_fitted"];
        assert!(fitted["calibration_error"].as_f64().unwrap() <= 0.05, "{fitted}");
        assert_eq!(fitted["thresholds"].as_array().map(Vec::len), Some(5));
    }
    assert!(lcqmc["hybrid_cross_fitted"]["operating"]["accuracy"].as_f64().unwrap() >= 0.77, "{lcqmc}");
    // The learning loop: half the questions learned as confirmed resolutions lift the other
    // half (measured: stackfaq 0.799 → 0.942; lcqmc, one or two questions per FAQ, 0.957 → 0.959).
    let lift = |set: &Value| {
        let l = &set["learning"];
        (l["p_at_1_before"].as_f64().unwrap(), l["p_at_1_after"].as_f64().unwrap())
    };
    let (before, after) = lift(stackfaq);
    assert!(after >= before + 0.1, "stackfaq {before} → {after}");
    let (before, after) = lift(lcqmc);
    assert!(after >= before - 0.005, "lcqmc {before} → {after}");
}

#[test]
fn the_faster_use_model_matches_with_its_own_tuned_fusion() {
    let model_dir = switchboard_embed::ModelPaths::setup_model(switchboard_embed::USE_MODEL).model_dir;
    let mut args = vec!["eval".to_owned(), "--format".into(), "json".into()];
    args.extend(set_args(&["lcqmc_faq", "stackfaq"]));
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(&args)
        .env("SWITCHBOARD_LOG", "warn")
        .env("SWITCHBOARD_MATCHING__MODEL_DIR", &model_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "use-multilingual-v3-int8");
    assert_eq!(report["fusion"]["semantic_weight"].as_f64().map(|w| (w * 100.0).round()), Some(60.0));
    let (lcqmc, stackfaq) = (&report["sets"][0], &report["sets"][1]);
    let figure = |set: &Value, engine: &str, name: &str| set[engine][name].as_f64().unwrap();
    // Measured: stackfaq hybrid P@1 0.809; lcqmc end-to-end accuracy with hand-over 0.777
    // (keyword 0.740): better than either engine, short of E5-small.
    assert!(figure(stackfaq, "hybrid", "p_at_1") >= 0.80, "{stackfaq}");
    assert!(figure(lcqmc, "hybrid", "p_at_1") >= 0.95, "{lcqmc}");
    assert!(figure(lcqmc, "hybrid", "best_accuracy") >= 0.77, "{lcqmc}");
}

#[test]
fn tuning_writes_settings_the_binary_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let tuned = dir.path().join("tuned.toml");
    let mut args = vec![
        "eval".to_owned(),
        "--tune".into(),
        "--write".into(),
        tuned.display().to_string(),
        "--team".into(),
        "support".into(),
    ];
    args.extend(set_args(&["stackfaq"]));
    let output = switchboard(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("hybrid P@1 by language: en"), "{text}");
    let written = std::fs::read_to_string(&tuned).unwrap();
    assert!(written.contains("[matching.fusion]") && written.contains("[teams.support.settings.answer_policy]"));
    let data = dir.path().join("data");
    let check = switchboard(&["--config", tuned.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "replay"]);
    assert!(check.status.success(), "the tuned settings load: {}", String::from_utf8_lossy(&check.stderr));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": \"a\"}\n").unwrap();
    let output = switchboard(&["eval", "--faqs", bad.to_str().unwrap(), "--queries", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("bad.jsonl line 1: no question"),
        "a bad row is named by its line"
    );
}
