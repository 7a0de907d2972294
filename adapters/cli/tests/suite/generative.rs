//! Generative answers end to end: `switchboard serve --demo` configured for an
//! OpenAI-compatible service (the stand-in server, since no model runs here). A confident
//! answer goes out in the model's words; an unsure question never reaches the model; a
//! hallucination, a server error and a slow model all fall back to the FAQ's own words.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::Server;
use serde_json::{json, Value};
use switchboard_generative::standin::{Behaviour, StandIn};

const KEY: &str = "sk-generative-test-key";
const MODEL: &str = "gpt-test";
const CONFIDENT: &str = "奖品库存不足怎么办";

fn ask(server: &Server, user: &str, text: &str) -> Value {
    server.post("/api/v1/teams/demo/messages", json!({"user": user, "text": text}))
}

fn first_reply(answer: &Value) -> String {
    answer["replies"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn confident_answers_are_reworded_and_everything_else_falls_back_to_the_faq() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let standin = runtime.block_on(StandIn::start(KEY, MODEL)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{}"
[generative]
enabled = true
base_url = "{}"
model = "{MODEL}"
api_key_env = "SB_TEST_LLM_KEY"
timeout = "1s"
"#,
            dir.path().display(),
            standin.base_url()
        ),
    )
    .unwrap();
    let server = Server::start_with_env(dir.path(), Some(&config), &["--demo"], &[("SB_TEST_LLM_KEY", KEY)]);
    let health = server.get("/healthz");
    assert_eq!(health["generative"], format!("{MODEL} at {}", standin.base_url()));

    // Confident: in the model's words, and the match records which model wrote them.
    let answer = ask(&server, "g1", CONFIDENT);
    assert_eq!(answer["status"], "answered", "{answer}");
    let text = first_reply(&answer);
    assert!(text.starts_with("简单来说：") && text.contains("追加库存"), "{text}");
    let conversation = server.get("/api/v1/teams/demo/conversations/g1/events");
    let matched = conversation["events"].as_array().unwrap().iter().find(|e| e["event_type"] == "FaqMatched").unwrap();
    assert_eq!(matched["payload"]["rephrased_by"], "gpt-test-standin");
    assert_eq!(standin.requests().len(), 1);

    // Unsure: the model is never asked.
    let unsure = ask(&server, "g2", "今天中午食堂吃什么");
    assert_ne!(unsure["status"], "answered", "{unsure}");
    assert_eq!(standin.requests().len(), 1, "a question Switchboard is unsure of never reaches the model");

    // Every failure sends the FAQ's own words, promptly.
    for (user, behaviour) in [
        ("g3", Behaviour::Invent),
        ("g4", Behaviour::ServerError),
        ("g5", Behaviour::Slow(Duration::from_secs(3))),
        ("g6", Behaviour::NoAnswer),
    ] {
        standin.behave(behaviour.clone());
        let answer = ask(&server, user, CONFIDENT);
        let text = first_reply(&answer);
        assert_eq!(answer["status"], "answered", "{behaviour:?}: {answer}");
        assert!(
            text.contains("追加库存") && !text.starts_with("简单来说") && !text.contains("48"),
            "{behaviour:?}: {text}"
        );
    }
    assert_eq!(server.metric("switchboard_core_rephrased_total"), 1);
    assert_eq!(server.metric("switchboard_core_rephrase_fallbacks_total"), 4);

    // The key went to the service, never into the log.
    let all = crate::common::run(&config, &["events", "tail", "--json"]);
    assert!(all.status.success());
    assert!(!String::from_utf8_lossy(&all.stdout).contains(KEY), "the API key is not in the log");
    server.kill();
}
