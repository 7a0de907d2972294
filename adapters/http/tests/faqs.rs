//! The FAQ catalog through the API: edits that carry the revision they saw, file imports
//! with a preview and row-level errors, export, FAQ candidates approved into entries; and
//! staff actions refused when the conversation moved since it was read.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use poem::http::StatusCode;
use serde_json::json;
use switchboard_http::testing::harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_is_refused_and_changes_nothing() {
    let h = harness().await;
    let agent = &h.keys.ops_agent;
    let (status, created) = h
        .post(
            agent,
            "/api/v1/teams/ops/faqs",
            json!({"id": "refund", "question": "退款多久到账", "answer": "三个工作日", "category": "pay"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let seen = created["revision"].as_u64().unwrap();
    let (status, again) =
        h.post(agent, "/api/v1/teams/ops/faqs", json!({"id": "refund", "question": "q", "answer": "a"})).await;
    assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("faq_exists")));
    // Two people edit what they both read; the second is refused.
    let first =
        json!({"question": "退款多久到账？", "answer": "三个工作日内", "category": "pay", "expected_revision": seen});
    let (status, edited) = h.put(agent, "/api/v1/teams/ops/faqs/refund", first).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert!(edited["revision"].as_u64().unwrap() > seen);
    let second = json!({"question": "退款", "answer": "马上", "expected_revision": seen});
    let (status, refused) = h.put(&h.keys.ops_admin, "/api/v1/teams/ops/faqs/refund", second).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("reload"), "{refused}");
    let (status, deleted) = h.delete(agent, &format!("/api/v1/teams/ops/faqs/refund?expected_revision={seen}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{deleted}");
    let (_, now) = h.get(agent, "/api/v1/teams/ops/faqs/refund").await;
    assert_eq!(now["answer"], "三个工作日内", "the refused edits changed nothing");
    let revision = now["revision"].as_u64().unwrap();
    assert_eq!(
        h.delete(agent, &format!("/api/v1/teams/ops/faqs/refund?expected_revision={revision}")).await.0,
        StatusCode::OK
    );
    let (status, gone) = h.get(agent, "/api/v1/teams/ops/faqs/refund").await;
    assert_eq!((status, gone["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_faq")));
    for (body, code) in [
        (json!({"question": " ", "answer": "a"}), "empty_field"),
        (json!({"id": "bad id", "question": "q", "answer": "a"}), "bad_faq_id"),
    ] {
        let (status, answer) = h.post(agent, "/api/v1/teams/ops/faqs", body).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_action_on_a_stale_view_is_refused() {
    let h = harness().await;
    h.send("ops", json!({"user": "lisi", "text": "系统报错 500 了"})).await;
    let (_, view) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/lisi").await;
    let seen = view["version"].as_u64().unwrap();
    let close = format!("/api/v1/teams/ops/conversations/lisi/close?expected_version={seen}");
    // Someone else adds a remark first.
    let (status, _) =
        h.post(&h.keys.ops_admin, "/api/v1/teams/ops/conversations/lisi/remarks", json!({"text": "看过了"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = h.post(&h.keys.ops_agent, &close, json!({})).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{refused}");
    let (_, after) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/lisi").await;
    assert_ne!(after["sessions"][0]["status"], "closed", "nothing changed");
    let current = after["version"].as_u64().unwrap();
    let close = format!("/api/v1/teams/ops/conversations/lisi/close?expected_version={current}");
    assert_eq!(h.post(&h.keys.ops_agent, &close, json!({})).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_of_a_conversation_can_be_followed() {
    let h = harness().await;
    h.send("ops", json!({"user": "lisi", "text": "系统报错 500 了"})).await;
    let (status, page) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/lisi/events").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events[0]["event_type"], "SessionOpened");
    assert_eq!(events[0]["stream"], "ops.conversation.lisi");
    assert!(events.iter().all(|e| e["payload"].is_object() && e["event_id"].is_string()));
    let version = page["version"].as_u64().unwrap();
    assert_eq!(version, events.last().unwrap()["version"].as_u64().unwrap());
    // A waiting reader gets the next event as soon as it is appended.
    let path = format!("/api/v1/teams/ops/conversations/lisi/events?after={version}&wait=10");
    let waiting = h.get(&h.keys.ops_viewer, &path);
    let remark = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.post(&h.keys.ops_agent, "/api/v1/teams/ops/conversations/lisi/remarks", json!({"text": "on it"})).await
    };
    let started = std::time::Instant::now();
    let ((status, next), _) = tokio::join!(waiting, remark);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["events"][0]["event_type"], "RemarkAdded", "{next}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered when the event came, not at the deadline");
    let (status, empty) =
        h.get(&h.keys.ops_viewer, &format!("/api/v1/teams/ops/conversations/lisi/events?after={}", version + 5)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty["events"].as_array().unwrap().is_empty());
    let (status, body) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/lisi/events?wait=31").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_wait")));
}

fn xlsx(rows: &[[&str; 5]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in (0u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(row) {
            sheet.write_string(r, c, *cell).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_previews_names_every_bad_row_and_imports_all_or_nothing() {
    let h = harness().await;
    let agent = &h.keys.ops_agent;
    let head = h.log.head().await.unwrap();
    let bad = "id,question,answer,category\n\
               prize-stock,奖品库存不足怎么办？,在奖品管理里追加库存即可。,prizes\n\
               bad id,q,a,\n\
               refund,退款多久到账,,pay\n";
    let (status, report) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv&dry_run=true", bad.into()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], false);
    let lines: Vec<u64> = report["problems"].as_array().unwrap().iter().map(|p| p["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4], "{report}");
    let (status, refused) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv", bad.into()).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_rows")), "{refused}");
    assert_eq!(refused["problems"][1]["message"], "the answer is empty");
    assert_eq!(h.log.head().await.unwrap(), head, "a file with a bad row imports nothing");

    let good = xlsx(&[
        ["id", "question", "answer", "category", "paraphrases"],
        ["prize-stock", "奖品库存不足怎么办？", "在奖品管理里追加库存即可。", "prizes", "The prize stock has run out"],
        ["refund", "退款多久到账", "三个工作日内到账。", "pay", "退款什么时候到|how long does a refund take"],
    ]);
    let (status, preview) =
        h.upload(agent, "/api/v1/teams/ops/faqs/import?format=xlsx&dry_run=true", good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!((preview["added"].as_u64(), preview["unchanged"].as_u64()), (Some(1), Some(1)), "{preview}");
    assert_eq!(preview["preview"][1]["change"], "added");
    assert_eq!(preview["preview"][1]["paraphrases"][1], "how long does a refund take");
    assert_eq!(h.log.head().await.unwrap(), head, "a preview writes nothing");
    let (status, done) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=xlsx", good.clone()).await;
    assert_eq!((status, done["imported"].as_bool()), (StatusCode::OK, Some(true)), "{done}");
    let (_, again) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=xlsx", good).await;
    assert_eq!(again["unchanged"], 2, "importing the same file again changes nothing");
    let (_, faqs) = h.get(agent, "/api/v1/teams/ops/faqs").await;
    assert_eq!(faqs["faqs"].as_array().unwrap().len(), 2);

    // Export reads back as the same catalog.
    // Each format is sent as the document declares (the harness checks every exchange).
    let viewer = &h.keys.ops_viewer;
    let (status, headers, csv) = h.download(viewer, "/api/v1/teams/ops/faqs/export?format=csv").await;
    assert_eq!((status, &headers["content-type"]), (StatusCode::OK, &"text/csv; charset=utf-8".parse().unwrap()));
    let (status, headers, xlsx) = h.download(viewer, "/api/v1/teams/ops/faqs/export?format=xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(xlsx.starts_with(b"PK"), "a zip container");
    let (status, headers, jsonl) = h.download(viewer, "/api/v1/teams/ops/faqs/export?format=jsonl").await;
    assert_eq!((status, &headers["content-type"]), (StatusCode::OK, &"application/x-ndjson".parse().unwrap()));
    assert_eq!(jsonl.iter().filter(|b| **b == b'\n').count(), 2, "one line per FAQ");
    let (_, round) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv&dry_run=true", csv).await;
    assert_eq!((round["unchanged"].as_u64(), round["rows"].as_u64()), (Some(2), Some(2)), "{round}");

    // Unreadable, empty and oversized files are refused clearly.
    let (status, body) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=xlsx", b"not a workbook".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unreadable_file")),
        "{body}"
    );
    let (status, body) =
        h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv", b"question,answer\nq,a\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("id, question, answer"), "{body}");
    let (status, body) =
        h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv", b"id,question,answer\n".to_vec()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("empty_file")));
    let (status, body) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=pdf", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = format!("id,question,answer\n{}", "f,q,a\n".repeat(20_000)).into_bytes();
    let (status, body) = h.upload(agent, "/api/v1/teams/ops/faqs/import?format=csv", huge).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_are_approved_into_faqs_and_leave_the_list() {
    let h = harness().await;
    for (user, text) in [
        ("lisi", "活动页面打不开白屏怎么办"),
        ("wangwu", "活动页面打不开，白屏了怎么办"),
        ("zhaoliu", "发票什么时候开"),
    ] {
        h.send("ops", json!({"user": user, "text": text})).await;
    }
    h.read_models_caught_up().await;
    let (_, groups) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/faq-candidates").await;
    let groups = groups.as_array().unwrap().clone();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let blank = groups.iter().find(|g| g["count"] == 2).unwrap();
    assert_eq!(blank["members"].as_array().unwrap().len(), 2);
    let approve = json!({
        "sessions": blank["members"],
        "faq": {"id": "blank-page", "question": "活动页面白屏怎么办", "answer": "清除缓存后重新打开。", "category": "tech"},
    });
    let (status, approved) =
        h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faq-candidates/approve", approve.clone()).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["faq_id"], "blank-page");
    let (_, again) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faq-candidates/approve", approve).await;
    assert_eq!(again["events"], 0, "approving twice changes nothing");
    let (_, faq) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/faqs/blank-page").await;
    assert_eq!(faq["answer"], "清除缓存后重新打开。");
    let invoice = groups.iter().find(|g| g["count"] == 1).unwrap();
    let reject = json!({"sessions": invoice["members"]});
    // Another team cannot settle ops's candidates.
    let (status, _) = h.post(&h.keys.games_admin, "/api/v1/teams/games/faq-candidates/reject", reject.clone()).await;
    assert_eq!(status, StatusCode::OK);
    h.read_models_caught_up().await;
    let (_, left) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/faq-candidates").await;
    assert_eq!(
        left.as_array().unwrap().len(),
        1,
        "the approved group left, the other team's rejection settled nothing: {left}"
    );
    assert_eq!(h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faq-candidates/reject", reject).await.0, StatusCode::OK);
    h.read_models_caught_up().await;
    let (_, none) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/faq-candidates").await;
    assert!(none.as_array().unwrap().is_empty(), "{none}");
    for (body, code) in [
        (json!({"sessions": [], "into": "prize-stock"}), "no_candidates"),
        (json!({"sessions": invoice["members"]}), "approve_what"),
    ] {
        let (status, answer) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faq-candidates/approve", body).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
    let into_missing = json!({"sessions": ["01932f6e-0000-7000-8000-000000000009"], "into": "missing"});
    let (status, answer) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faq-candidates/approve", into_missing).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_faq")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_tries_questions_and_sees_why_each_would_be_answered_or_handed_over() {
    let h = harness().await;
    let viewer = &h.keys.ops_viewer;
    let path = "/api/v1/teams/ops/faq-hit-test";
    let head = h.log.head().await.unwrap();
    // The catalog's question, worded as the FAQ words it: answered from it.
    let (status, hit) = h.post(viewer, path, json!({"question": "奖品库存不足怎么办？"})).await;
    assert_eq!(status, StatusCode::OK, "{hit}");
    assert_eq!(hit["question"], "奖品库存不足怎么办？");
    assert_eq!(
        (hit["decision"].as_str(), hit["answer_faq_id"].as_str()),
        (Some("answer"), Some("prize-stock")),
        "{hit}"
    );
    assert!(hit.get("hand_over_reason").is_none(), "{hit}");
    let first = &hit["candidates"][0];
    assert_eq!((first["faq_id"].as_str(), first["category"].as_str()), (Some("prize-stock"), Some("prizes")));
    assert!(first["keyword_score"].as_f64().unwrap() > 0.0, "the keyword engine's evidence is shown: {hit}");
    assert!(first["answer"].as_str().unwrap().contains("追加库存"), "what would be sent is shown");
    let confidence = hit["confidence"].as_f64().unwrap();
    assert!(confidence >= hit["answer_at"].as_f64().unwrap(), "{hit}");
    assert_eq!(hit["clarify_at"].as_f64().unwrap(), f64::from(0.2f32));
    // Nothing in the FAQ: handed over, and why.
    let (_, miss) = h.post(viewer, path, json!({"question": "服务器证书什么时候过期"})).await;
    assert_eq!(
        (miss["decision"].as_str(), miss["hand_over_reason"].as_str()),
        (Some("transfer"), Some("no_candidates"))
    );
    assert_eq!(miss["candidates"], json!([]));
    // Asking for a person goes to one whatever the FAQ says.
    let (_, person) = h.post(viewer, path, json!({"question": "转人工"})).await;
    assert_eq!(
        (person["decision"].as_str(), person["hand_over_reason"].as_str()),
        (Some("transfer"), Some("asked_for_person")),
        "{person}"
    );
    // Refusals: empty, longer than the team accepts (counted untrimmed, as a message is),
    // another team's key, no key.
    let (status, empty) = h.post(viewer, path, json!({"question": "  "})).await;
    assert_eq!((status, empty["code"].as_str()), (StatusCode::BAD_REQUEST, Some("empty_question")), "{empty}");
    let (status, long) = h.post(viewer, path, json!({"question": format!("问{}", " ".repeat(200))})).await;
    assert_eq!((status, long["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("question_too_long")), "{long}");
    assert!(long["message"].as_str().unwrap().contains("max_message_chars"), "{long}");
    let (status, _) = h.post(&h.keys.games_admin, path, json!({"question": "奖品库存不足怎么办"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = json!({"question": "奖品"}).to_string().into_bytes();
    let (status, _) = h.exchange(poem::http::Method::POST, path, None, Some(("application/json", body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.log.head().await.unwrap(), head, "hit testing writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_questions_are_replayed_at_other_thresholds_before_they_go_live() {
    let h = harness().await;
    // A neighbouring FAQ, so the keyword engine is less than certain.
    let neighbour = json!({"id": "prize-stock-view", "question": "奖品库存在哪里查看", "answer": "奖品管理 → 库存。"});
    let (status, _) = h.post(&h.keys.ops_agent, "/api/v1/teams/ops/faqs", neighbour).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answered) = h.send("ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办"})).await;
    assert_eq!((status, answered["status"].as_str()), (StatusCode::OK, Some("answered")), "{answered}");
    let (status, closed) = h.send("ops", json!({"user": "zhangsan", "text": "解决了"})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    let viewer = &h.keys.ops_viewer;
    let path = "/api/v1/teams/ops/threshold-replay";
    // The core still records deliveries of the closing message; wait until it is done.
    let mut head = h.log.head().await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = h.log.head().await.unwrap();
        if now == head {
            break;
        }
        head = now;
    }
    // At the team's own thresholds nothing changes.
    let (status, same) = h.post(viewer, path, json!({"answer_at": 0.4, "clarify_at": 0.2})).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!((same["total"].as_u64(), same["with_feedback"].as_u64()), (Some(1), Some(1)), "{same}");
    assert_eq!(same["changes"], json!([{"was": "answer", "now": "answer", "count": 1}]));
    assert_eq!(same["judged"]["kept_good"], 1);
    assert_eq!(same["flips"], json!([]));
    // Demanding certainty withholds the answer the operator confirmed.
    let (_, strict) = h.post(viewer, path, json!({"answer_at": 1.0, "clarify_at": 0.0})).await;
    assert_eq!(strict["changes"], json!([{"was": "answer", "now": "clarify", "count": 1}]), "{strict}");
    assert_eq!(strict["judged"]["lost_good"], 1);
    let flip = &strict["flips"][0];
    assert_eq!((flip["faq_id"].as_str(), flip["resolved"].as_bool()), (Some("prize-stock"), Some(true)), "{flip}");
    assert!(flip["question"].as_str().unwrap().contains("奖品库存"));
    let curve = strict["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 21);
    assert_eq!((curve[0]["coverage"].as_f64(), curve[0]["precision"].as_f64()), (Some(1.0), Some(1.0)));
    assert!(curve[20].get("precision").is_none(), "nothing answered at 1.00 has feedback: {strict}");
    assert_eq!(
        (strict["current_answer_at"].as_f64(), strict["current_clarify_at"].as_f64()),
        (Some(f64::from(0.4f32)), Some(f64::from(0.2f32)))
    );
    // Refusals: inverted or out-of-range thresholds, another team's key.
    for (body, code) in [
        (json!({"answer_at": 0.3, "clarify_at": 0.5}), "bad_thresholds"),
        (json!({"answer_at": 1.5, "clarify_at": 0.2}), "bad_request"),
    ] {
        let (status, refused) = h.post(viewer, path, body.clone()).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}: {refused}");
    }
    let (status, _) = h.post(&h.keys.games_admin, path, json!({"answer_at": 0.4, "clarify_at": 0.2})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.log.head().await.unwrap(), head, "a replay writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_precision_sets_the_answer_threshold_derived_from_the_team_s_questions() {
    let h = harness().await;
    let (status, answered) = h.send("ops", json!({"user": "zhangsan", "text": "奖品库存不足了怎么办"})).await;
    assert_eq!((status, answered["status"].as_str()), (StatusCode::OK, Some("answered")), "{answered}");
    let (viewer, admin) = (&h.keys.ops_viewer, &h.keys.ops_admin);
    let derive = "/api/v1/teams/ops/answer-target/derive";
    // With one recorded question and no 200 verdicts, the calibration is the basis: the
    // confidence is taken as the probability of being right. A viewer may ask.
    let (status, derived) = h.post(viewer, derive, json!({"precision": 0.9})).await;
    assert_eq!(status, StatusCode::OK, "{derived}");
    let target = &derived["target"];
    assert_eq!((target["basis"].as_str(), target["count"].as_u64()), (Some("calibration"), Some(1)), "{derived}");
    // Fewer than 50 questions: the target itself, where each answer is that likely right.
    let answer_at = target["answer_at"].as_f64().unwrap();
    assert_eq!(answer_at, f64::from(0.9f32), "{derived}");
    assert!(target["expected_precision"].as_f64().unwrap() >= 0.9 - 1e-6, "{derived}");
    assert_eq!(
        (derived["current_answer_at"].as_f64(), derived["min_outcomes"].as_u64()),
        (Some(f64::from(0.4f32)), Some(200))
    );
    assert!(derived.get("current_target").is_none(), "the team's threshold was set by hand: {derived}");
    // The bounds are inclusive, as declared.
    for edge in [0.5, 0.99] {
        let (status, at_edge) = h.post(viewer, derive, json!({ "precision": edge })).await;
        assert_eq!(status, StatusCode::OK, "{edge}: {at_edge}");
    }
    // Refusals, nothing written: a precision out of bounds, a viewer setting one, another
    // team's admin, a stale version.
    let head = h.log.head().await.unwrap();
    let set = "/api/v1/teams/ops/answer-target";
    let (status, low) = h.post(viewer, derive, json!({"precision": 0.3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{low}");
    let (status, _) = h.put(viewer, set, json!({"precision": 0.9})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.put(&h.keys.games_admin, set, json!({"precision": 0.9})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, stale) = h.put(admin, set, json!({"precision": 0.9, "expected_version": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    // A threshold other than the one shown (the questions changed since) is not saved.
    let (status, changed) = h.put(admin, set, json!({"precision": 0.9, "answer_at": 0.5})).await;
    assert_eq!((status, changed["code"].as_str()), (StatusCode::CONFLICT, Some("target_changed")), "{changed}");
    assert_eq!(h.log.head().await.unwrap(), head, "refusals write nothing");
    // The team admin sets it: the threshold is the derived one, recorded with its basis.
    let (status, saved) = h.put(admin, set, json!({"precision": 0.9, "answer_at": answer_at})).await;
    assert_eq!((status, saved["events"].as_u64()), (StatusCode::OK, Some(1)), "{saved}");
    assert_eq!(saved["target"], *target);
    let (_, team) = h.get(viewer, "/api/v1/teams/ops").await;
    let policy = &team["settings"]["answer_policy"];
    assert_eq!(policy["answer_at"].as_f64(), Some(answer_at), "{policy}");
    assert_eq!(
        (policy["target"]["precision"].as_f64(), policy["target"]["basis"].as_str()),
        (Some(f64::from(0.9f32)), Some("calibration"))
    );
    let (_, again) = h.post(viewer, derive, json!({"precision": 0.9})).await;
    assert_eq!(again["current_target"], *target, "{again}");
    // Settings may keep the target as read or drop it, never bring their own,
    let version = team["version"].clone();
    let mut forged = team["settings"].clone();
    forged["answer_policy"]["target"]["count"] = json!(10_000);
    let (status, refused) =
        h.put(admin, "/api/v1/teams/ops/settings", json!({"settings": forged, "expected_version": version})).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some("target_not_derived")), "{refused}");
    // nor a threshold by hand beside it.
    let mut by_hand = team["settings"].clone();
    by_hand["answer_policy"]["answer_at"] = json!(0.5);
    let (status, refused) =
        h.put(admin, "/api/v1/teams/ops/settings", json!({"settings": by_hand, "expected_version": version})).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_settings")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("remove answer_policy.target"), "{refused}");
    // Without it, the threshold by hand is the team's.
    by_hand["answer_policy"]["target"] = json!(null);
    let (status, _) =
        h.put(admin, "/api/v1/teams/ops/settings", json!({"settings": by_hand, "expected_version": version})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, team) = h.get(viewer, "/api/v1/teams/ops").await;
    assert_eq!(team["settings"]["answer_policy"]["answer_at"].as_f64(), Some(0.5));
    assert!(team["settings"]["answer_policy"].get("target").is_none());
}
