#![allow(clippy::unwrap_used)]
//! `switchboard faq import|export` through the binary: CSV (with a byte-order mark),
//! Excel and JSON Lines in; a bad row imports nothing and is named; re-importing changes
//! nothing; export gives the catalog back.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::Server;

fn switchboard(config: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .unwrap()
}

fn exported(config: &Path, data: &Path) -> Vec<csv::StringRecord> {
    let output = switchboard(config, data, &["faq", "export", "--team", "ops"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    csv::Reader::from_reader(output.stdout.as_slice()).records().map(Result::unwrap).collect()
}

#[test]
fn faqs_come_in_from_csv_excel_and_json_lines_and_go_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(&config, "[teams.ops]\nname = \"Ops\"\n[teams.ops.roster]\ndefault = [\"zhao\"]\n").unwrap();
    let data = dir.path().join("data");
    Server::start(&data, Some(&config), &[]).kill();

    let good = dir.path().join("faqs.csv");
    std::fs::write(
        &good,
        "\u{feff}id,question,answer,category,paraphrases\n\
         stock,奖品库存不足怎么办,在奖品管理里追加库存。,prizes,奖品没了|库存不够\n\
         data-export,\"How do I export, quickly?\",Click Export.,,\n",
    )
    .unwrap();
    let output = switchboard(&config, &data, &["faq", "import", "--team", "ops", good.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 2 FAQs into ops: 2 added or changed"));
    let again = switchboard(&config, &data, &["faq", "import", "--team", "ops", good.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 added or changed, 2 unchanged"), "idempotent");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,question,answer\nnew,新问题,新答案\nempty,没有答案,\nnew,重复,重复\nbad id,q,a\n")
        .unwrap();
    let output = switchboard(&config, &data, &["faq", "import", "--team", "ops", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: the answer is empty"), "{stderr}");
    assert!(stderr.contains("line 5: id \"bad id\""), "{stderr}");
    assert!(stderr.contains("line 4: id \"new\" already on line 2"), "{stderr}");
    assert!(stderr.contains("3 bad row(s)"), "{stderr}");
    assert_eq!(exported(&config, &data).len(), 2, "a bad file imports nothing, not even its good rows");

    let xlsx = dir.path().join("more.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["id", "question", "answer", "category"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["start-time", "如何修改活动的开始时间", "在活动设置里修改。", "activity"].iter().enumerate()
    {
        sheet.write_string(1, c as u16, *v).unwrap();
    }
    book.save(&xlsx).unwrap();
    let output = switchboard(&config, &data, &["faq", "import", "--team", "ops", xlsx.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let jsonl = dir.path().join("one.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":\"invoice\",\"question\":\"发票怎么开\",\"answer\":\"联系财务。\",\"paraphrases\":[\"开发票\"]}\n",
    )
    .unwrap();
    let output = switchboard(&config, &data, &["faq", "import", "--team", "ops", jsonl.to_str().unwrap(), "--dry-run"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("dry run"));
    assert_eq!(exported(&config, &data).len(), 3, "a dry run imports nothing");
    let output = switchboard(&config, &data, &["faq", "import", "--team", "ops", jsonl.to_str().unwrap()]);
    assert!(output.status.success());

    let rows = exported(&config, &data);
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, vec!["data-export", "invoice", "start-time", "stock"]);
    let stock = rows.iter().find(|r| &r[0] == "stock").unwrap();
    assert_eq!((&stock[3], &stock[4]), ("prizes", "奖品没了|库存不够"));
    let output = switchboard(&config, &data, &["faq", "export", "--team", "ops", "--format", "jsonl"]);
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 4);

    let unknown = switchboard(&config, &data, &["faq", "import", "--team", "nobody", good.to_str().unwrap()]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not onboarded"));
}

#[test]
fn training_pairs_come_from_resolved_and_unresolved_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, None, &["--demo"]);
    let ask = |user: &str, text: &str| {
        server.post("/api/v1/teams/demo/messages", serde_json::json!({"user": user, "text": text}))
    };
    let reply = ask("zhangsan", "奖品库存不够了怎么加");
    assert_eq!(reply["status"], "answered", "{reply}");
    server.post("/api/v1/teams/demo/conversations/zhangsan/feedback", serde_json::json!({"resolved": true}));
    let reply = ask("lisi", "活动审核要多久");
    assert_eq!(reply["status"], "answered", "{reply}");
    server.post("/api/v1/teams/demo/conversations/lisi/feedback", serde_json::json!({"resolved": false}));
    server.kill();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(&data)
        .args(["export", "training-pairs", "--team", "demo"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let pairs: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |source: &str| pairs.iter().filter(|p| p["source"] == source).collect::<Vec<_>>();
    let resolved = of("resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!((resolved[0]["query"].as_str(), resolved[0]["label"].as_u64()), (Some("奖品库存不够了怎么加"), Some(1)));
    assert!(!resolved[0]["faq_question"].as_str().unwrap().is_empty());
    let negatives = of("hard_negative");
    assert!(!negatives.is_empty() && negatives.iter().all(|p| p["label"] == 0 && p["faq_id"] != resolved[0]["faq_id"]));
    let unresolved = of("not_resolved");
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0]["query"], "活动审核要多久");
}

#[test]
fn past_matches_replay_against_new_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, None, &["--demo"]);
    for (user, text, resolved) in [("zhangsan", "奖品库存不够了怎么加", true), ("lisi", "活动审核要多久", false)]
    {
        let reply = server.post("/api/v1/teams/demo/messages", serde_json::json!({"user": user, "text": text}));
        assert_eq!(reply["status"], "answered", "{reply}");
        let path = format!("/api/v1/teams/demo/conversations/{user}/feedback");
        server.post(&path, serde_json::json!({"resolved": resolved}));
    }
    server.kill();
    let thresholds = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--data-dir")
            .arg(&data)
            .args(["thresholds", "--team", "demo"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let replay = |answer_at: &str| thresholds(&["--answer-at", answer_at, "--clarify-at", "0"]);
    let strict = replay("1.0");
    assert!(strict.contains("answers confirmed resolved: 0 still answered, 1 no longer answered"), "{strict}");
    assert!(strict.contains("answers marked not resolved: 0 still answered, 1 no longer answered"), "{strict}");
    assert!(strict.contains("answer     clarify           2"), "{strict}");
    let same = replay("0.0");
    assert!(same.contains("answers confirmed resolved: 1 still answered, 0 no longer answered"), "{same}");
    // A target precision: with few questions the threshold is the target itself, replayed.
    let target = thresholds(&["--target-precision", "0.95"]);
    assert!(target.contains("target precision 0.95 → answer_at 0.95 from the calibrated confidence"), "{target}");
    assert!(target.contains("→ 0.95, clarify_at"), "replayed at it: {target}");
}
