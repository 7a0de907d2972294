//! A team admin is trusted with their team only: the review's exploits, and adversarial
//! values for the team-admin routes, are refused in the one error format with nothing
//! written, and other teams go on unaffected.

#![allow(clippy::unwrap_used)]

use poem::http::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_http::testing::{harness, Harness};

/// Sends a request that must be refused with `code`, and checks the log did not move.
async fn refused(h: &Harness, answer: (StatusCode, Value), status: StatusCode, code: &str, head: u64) {
    let (got, body) = answer;
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    assert!(!body["message"].as_str().unwrap_or_default().is_empty(), "a refusal says why: {body}");
    assert_eq!(h.log.head().await.unwrap(), head, "nothing was written: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_settings_and_rosters_are_refused_and_nothing_is_written() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let (_, team) = h.get(&admin, "/api/v1/teams/ops").await;
    let head = h.log.head().await.unwrap();
    let with = |path: &str, value: Value| {
        let mut settings = team["settings"].clone();
        let (parent, field) = path.split_once('.').map_or((None, path), |(p, f)| (Some(p), f));
        match parent {
            Some(parent) => settings[parent][field] = value,
            None => settings[field] = value,
        }
        json!({ "settings": settings })
    };
    for (path, value) in [
        // The review's exploit: this stopped every team's timers.
        ("close_after_secs", json!(10_000_000_000_000_u64)),
        ("reconfirm_after_secs", json!(u64::MAX)),
        ("max_message_chars", json!(4_000_000_000_u32)),
        ("answer_policy.max_choices", json!(200)),
        ("console.page_size", json!(1_000_000)),
        ("human_keywords", json!(vec!["人工"; 51])),
        ("texts.reconfirm", json!("x".repeat(1_001))),
        // A second review's: a retention of billions of days stopped every team's deletions.
        ("attachments.retention_days", json!(u32::MAX)),
        ("attachments.max_bytes", json!(0)),
        ("texts.describe_attachment", json!("x".repeat(1_001))),
    ] {
        let answer = h.put(&admin, "/api/v1/teams/ops/settings", with(path, value)).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "invalid_settings", head).await;
    }
    let huge: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
    let answer = h.put(&admin, "/api/v1/teams/ops/roster", json!({"roster": {"default": huge}})).await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    assert_eq!(h.log.head().await.unwrap(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_handed_only_to_the_teams_own_people() {
    let h = harness().await;
    let agent = h.keys.ops_agent.clone();
    let (status, _) =
        h.post(&agent, "/api/v1/teams/ops/messages", json!({"user": "bob", "text": "系统报错 500"})).await;
    assert_eq!(status, StatusCode::OK);
    let head = h.log.head().await.unwrap();
    let transfer = "/api/v1/teams/ops/conversations/bob/transfer";
    // "@all" is every member of the enterprise to WeCom, "a|b" several people.
    for to in ["@all", "@everyone", "zhao|qian", "a|b"] {
        let answer = h.post(&agent, transfer, json!({ "to": to })).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_staff_id", head).await;
    }
    // Well formed, but nobody of the team: not on the roster and holding no key.
    let answer = h.post(&agent, transfer, json!({"to": "stranger"})).await;
    refused(&h, answer, StatusCode::BAD_REQUEST, "not_staff", head).await;
    // A key holder of another team is no one here either.
    let answer = h.post(&agent, transfer, json!({"to": "li"})).await;
    refused(&h, answer, StatusCode::BAD_REQUEST, "not_staff", head).await;
    // The team's own people: a key holder (sun, a viewer) is.
    let (status, body) = h.post(&agent, transfer, json!({"to": "sun"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_names_cannot_be_taken_by_a_team() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let head = h.log.head().await.unwrap();
    for staff in ["admin", "Admin"] {
        let answer =
            h.post(&admin, "/api/v1/teams/ops/keys", json!({"label": "x", "role": "admin", "staff": staff})).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_key", head).await;
    }
    for faq_id in ["import", "export"] {
        let body = json!({"id": faq_id, "question": "q?", "answer": "a."});
        let answer = h.post(&admin, "/api/v1/teams/ops/faqs", body).await;
        refused(&h, answer, StatusCode::BAD_REQUEST, "bad_faq_id", head).await;
    }
    // The other team was never touched.
    let (status, games) = h.get(&h.keys.games_admin, "/api/v1/teams/games").await;
    assert_eq!(status, StatusCode::OK, "{games}");
}

/// One hostile request: the OpenAPI path it exercises, and the request itself.
struct Hostile {
    template: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn hostile(method: Method, template: &'static str, path: impl Into<String>, body: Option<Value>) -> Hostile {
    Hostile { template, method, path: path.into(), body }
}

/// The team-scoped writes that take no value to make hostile (their path is checked by the
/// key tests in `auth.rs`; removing a WeCom application that is not there is checked below).
const WITHOUT_INPUT: [&str; 2] = ["post /teams/{team}/channel/key", "delete /teams/{team}/wecom"];

/// The standing suite: every team-scoped route that writes, called by the team's own admin
/// with adversarial values — huge numbers and texts, private and metadata addresses, `@all`
/// and `a|b`, reserved names, another team's ids — is refused with a 4xx in the one error
/// format, writes nothing to the log, and leaves the other team as it was. A new writing
/// route fails the suite until it has a hostile case here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_team_route_refuses_hostile_values_and_writes_nothing() {
    let h = harness().await;
    let (admin, games_admin) = (h.keys.ops_admin.clone(), h.keys.games_admin.clone());
    let (status, _) =
        h.post(&h.keys.ops_agent, "/api/v1/teams/ops/messages", json!({"user": "zhangsan", "text": "系统报错"})).await;
    assert_eq!(status, StatusCode::OK);
    // Another team's ids, which must never reach that team.
    let body = json!({"label": "games CRM", "url": "https://crm.example.com/games"});
    let (status, games_hook) = h.post(&games_admin, "/api/v1/teams/games/webhooks", body).await;
    assert_eq!(status, StatusCode::OK, "{games_hook}");
    let games_hook = games_hook["webhook"]["webhook_id"].as_str().unwrap().to_owned();
    let (_, games_keys) = h.get(&games_admin, "/api/v1/teams/games/keys").await;
    let games_key = games_keys.as_array().unwrap()[0]["key_id"].as_str().unwrap().to_owned();
    h.settled().await;
    let head = h.log.head().await.unwrap();
    let games = switchboard_schemas::TeamId::new("games").unwrap();
    let games_before = h.runtime.load_team(&games).await.unwrap().version;
    let secrets_before = std::fs::read(&h.secrets_path).ok();

    let t = |path: &str| format!("/api/v1/teams/ops{path}");
    let c = |user: &str, path: &str| t(&format!("/conversations/{user}{path}"));
    let long = |n: usize| "x".repeat(n);
    let wecom = |extra: Value| {
        let mut body = json!({"corp_id": "ww1", "agent_id": 1000002, "token": "QDG6eK",
                              "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    use Method as M;
    let cases = vec![
        hostile(M::POST, "/teams/{team}/messages", t("/messages"), Some(json!({"user": "@all", "text": "hi"}))),
        hostile(M::POST, "/teams/{team}/messages", t("/messages"), Some(json!({"user": "a|b", "text": "hi"}))),
        hostile(M::POST, "/teams/{team}/messages", t("/messages"), Some(json!({"user": "lisi", "text": long(201)}))),
        hostile(M::POST, "/teams/{team}/messages", t("/messages"), Some(json!({"user": long(65), "text": "hi"}))),
        hostile(
            M::POST,
            "/teams/{team}/messages",
            t("/messages"),
            Some(json!({"user": "lisi", "text": "hi", "message_id": long(3000)})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/feedback",
            c("zhangsan", "/feedback"),
            Some(json!({"resolved": "maybe"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/feedback",
            c("%40all", "/feedback"),
            Some(json!({"resolved": true})),
        ),
        hostile(M::POST, "/teams/{team}/conversations/{user}/human", c("a%7Cb", "/human"), Some(json!({}))),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/transfer",
            c("zhangsan", "/transfer"),
            Some(json!({"to": "@all"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/transfer",
            c("zhangsan", "/transfer"),
            Some(json!({"to": "li"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/replies",
            c("zhangsan", "/replies"),
            Some(json!({"text": long(201)})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/remarks",
            c("zhangsan", "/remarks"),
            Some(json!({"text": long(201)})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/conversations/{user}/status",
            c("zhangsan", "/status"),
            Some(json!({"to": "flying"})),
        ),
        hostile(M::POST, "/teams/{team}/conversations/{user}/close", c("nobody", "/close"), Some(json!({}))),
        hostile(M::POST, "/teams/{team}/conversations/{user}/reopen", c("nobody", "/reopen"), Some(json!({}))),
        hostile(M::POST, "/teams/{team}/conversations/{user}/group-chat", c("@all", "/group-chat"), Some(json!({}))),
        hostile(
            M::POST,
            "/teams/{team}/faq-candidates/approve",
            t("/faq-candidates/approve"),
            Some(json!({"sessions": [], "into": "prize-stock"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/faq-candidates/approve",
            t("/faq-candidates/approve"),
            Some(json!({"sessions": ["01932f6e-0000-7000-8000-000000000001"], "into": "../../x"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/faq-candidates/reject",
            t("/faq-candidates/reject"),
            Some(json!({"sessions": []})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/faqs",
            t("/faqs"),
            Some(json!({"id": "long", "question": long(1001), "answer": "a"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/faqs",
            t("/faqs"),
            Some(json!({"id": "many", "question": "q", "answer": "a", "paraphrases": vec!["p"; 101]})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/faqs",
            t("/faqs"),
            Some(json!({"id": "export", "question": "q", "answer": "a"})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/faqs/{faq_id}",
            t("/faqs/prize-stock"),
            Some(json!({"question": "q", "answer": "a", "category": long(65)})),
        ),
        hostile(M::DELETE, "/teams/{team}/faqs/{faq_id}", t("/faqs/no-such-faq"), None),
        hostile(M::POST, "/teams/{team}/faqs/import", t("/faqs/import?format=csv"), None),
        hostile(
            M::POST,
            "/teams/{team}/threshold-replay",
            t("/threshold-replay"),
            Some(json!({"answer_at": 0.1, "clarify_at": 0.9})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/answer-target/derive",
            t("/answer-target/derive"),
            Some(json!({"precision": 2.0})),
        ),
        hostile(M::PUT, "/teams/{team}/answer-target", t("/answer-target"), Some(json!({"precision": 0.1}))),
        hostile(M::POST, "/teams/{team}/faq-hit-test", t("/faq-hit-test"), Some(json!({"question": long(20_001)}))),
        hostile(
            M::PUT,
            "/teams/{team}/settings",
            t("/settings"),
            Some(json!({"settings": {"close_after_secs": 10_000_000_000_000_u64}})),
        ),
        hostile(M::POST, "/teams/{team}/conversations/{user}/acknowledge", c("nobody-here", "/acknowledge"), None),
        hostile(
            M::PUT,
            "/teams/{team}/on-call",
            t("/on-call"),
            Some(json!({"on_call": {"time_zone": "Mars/Olympus"}})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/on-call",
            t("/on-call"),
            Some(json!({"on_call": {"escalation": {"steps": [{"notify": ["leads"], "wait_minutes": 0}]}}})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/on-call",
            t("/on-call"),
            Some(json!({"on_call": {"default": [{"name": "primary", "participants": ["zhao"],
                        "shift": {"count": 65535, "unit": "weeks"}}]}})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/on-call",
            t("/on-call"),
            Some(
                json!({"on_call": {"calendar": {"hours": [{"weekday": "mon", "from": "18:00:00", "until": "09:00:00"}]}}}),
            ),
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/overrides",
            t("/on-call/overrides"),
            Some(
                json!({"layer": "primary", "staff": "zhao", "from": "2026-12-08T00:00:00Z", "until": "2026-12-07T00:00:00Z"}),
            ),
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/overrides",
            t("/on-call/overrides"),
            Some(
                json!({"layer": "primary", "staff": "stranger", "from": "2026-12-07T00:00:00Z", "until": "2026-12-08T00:00:00Z"}),
            ),
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/overrides",
            t("/on-call/overrides"),
            Some(
                json!({"layer": "primary", "staff": "@all", "from": "2026-12-07T00:00:00Z", "until": "2026-12-08T00:00:00Z"}),
            ),
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/overrides",
            t("/on-call/overrides"),
            Some(
                json!({"layer": "primary", "staff": "zhao", "from": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}),
            ),
        ),
        hostile(
            M::DELETE,
            "/teams/{team}/on-call/overrides/{override_id}",
            t("/on-call/overrides/01932f6e-0000-7000-8000-000000000001"),
            None,
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/time-off",
            t("/on-call/time-off"),
            Some(json!({"staff": "zhao", "from": "2026-12-08T00:00:00Z", "until": "2026-12-08T00:00:00Z"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/on-call/time-off",
            t("/on-call/time-off"),
            Some(
                json!({"staff": "zhao", "from": "2026-12-07T00:00:00Z", "until": "2026-12-08T00:00:00Z", "note": long(201)}),
            ),
        ),
        hostile(
            M::DELETE,
            "/teams/{team}/on-call/time-off/{time_off_id}",
            t("/on-call/time-off/01932f6e-0000-7000-8000-000000000001"),
            None,
        ),
        hostile(
            M::PUT,
            "/teams/{team}/on-call/availability/{staff}",
            t("/on-call/availability/stranger"),
            Some(json!({"away": true})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/on-call/availability/{staff}",
            t("/on-call/availability/@all"),
            Some(json!({"away": true})),
        ),
        hostile(M::POST, "/teams/{team}/on-call/calendar/import", t("/on-call/calendar/import"), None),
        hostile(M::PUT, "/teams/{team}/roster", t("/roster"), Some(json!({"roster": {"default": ["@all"]}}))),
        hostile(
            M::PUT,
            "/teams/{team}/roster",
            t("/roster"),
            Some(json!({"roster": {"default": ["zhao"], "categories": {long(65): ["zhao"]}}})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/keys",
            t("/keys"),
            Some(json!({"label": "x", "role": "owner", "staff": "zhao"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/keys",
            t("/keys"),
            Some(json!({"label": long(101), "role": "agent", "staff": "zhao"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/keys",
            t("/keys"),
            Some(json!({"label": "x", "role": "agent", "staff": "@all"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/keys",
            t("/keys"),
            Some(json!({"label": "x", "role": "admin", "staff": "admin"})),
        ),
        hostile(M::DELETE, "/teams/{team}/keys/{key_id}", t(&format!("/keys/{games_key}")), None),
        hostile(
            M::PUT,
            "/teams/{team}/wecom",
            t("/wecom"),
            Some(wecom(json!({"api_base": "http://169.254.169.254/cgi-bin"}))),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/wecom",
            t("/wecom"),
            Some(wecom(json!({"api_base": "http://127.0.0.1:8080/cgi-bin"}))),
        ),
        hostile(M::PUT, "/teams/{team}/wecom", t("/wecom"), Some(wecom(json!({"corp_id": long(65)})))),
        hostile(M::PUT, "/teams/{team}/wecom", t("/wecom"), Some(wecom(json!({"greeting": long(1001)})))),
        hostile(M::PUT, "/teams/{team}/wecom", t("/wecom"), Some(wecom(json!({"console_url": "javascript:alert(1)"})))),
        hostile(M::PUT, "/teams/{team}/wecom", t("/wecom"), Some(wecom(json!({"encoding_aes_key": "short"})))),
        hostile(M::POST, "/teams/{team}/wecom/verify", t("/wecom/verify"), None),
        hostile(M::POST, "/teams/{team}/channel/tokens", t("/channel/tokens"), Some(json!({"user": "@all"}))),
        hostile(
            M::POST,
            "/teams/{team}/channel/tokens",
            t("/channel/tokens"),
            Some(json!({"user": "lisi", "ttl_seconds": 4_000_000_000_u32})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": "x", "url": "http://169.254.169.254/latest/meta-data"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": "x", "url": "http://10.0.0.7/hook"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": "x", "url": "file:///etc/passwd"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": "x", "url": "https://rebind.example.com/hook"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": long(101), "url": "https://crm.example.com/in"})),
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks",
            t("/webhooks"),
            Some(json!({"label": "x", "url": "https://crm.example.com/in", "event_types": ["NoSuchEvent"]})),
        ),
        hostile(
            M::PUT,
            "/teams/{team}/webhooks/{webhook_id}",
            t(&format!("/webhooks/{games_hook}")),
            Some(json!({"label": "mine now", "url": "https://crm.example.com/in"})),
        ),
        hostile(M::DELETE, "/teams/{team}/webhooks/{webhook_id}", t(&format!("/webhooks/{games_hook}")), None),
        hostile(
            M::POST,
            "/teams/{team}/webhooks/{webhook_id}/secret",
            t(&format!("/webhooks/{games_hook}/secret")),
            None,
        ),
        hostile(
            M::POST,
            "/teams/{team}/webhooks/deliveries/{delivery_id}/replay",
            t("/webhooks/deliveries/01932f6e-0000-7000-8000-000000000001/replay"),
            None,
        ),
    ];

    // Every writing team route of the served API has a case (or takes no input).
    let (_, spec) = h.get(&admin, "/openapi.json").await;
    let covered: std::collections::BTreeSet<String> =
        cases.iter().map(|c| format!("{} {}", c.method.as_str().to_lowercase(), c.template)).collect();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|m| ["post", "put", "delete"].contains(&m.as_str())) {
            let operation = format!("{method} {path}");
            if path.starts_with("/teams/{team}") && !WITHOUT_INPUT.contains(&operation.as_str()) {
                assert!(covered.contains(&operation), "{operation} has no hostile case in this suite");
            }
        }
    }

    for case in &cases {
        let (status, body) = match (&case.body, case.template) {
            (_, "/teams/{team}/on-call/calendar/import") => {
                let page = b"<html><body>not a calendar</body></html>".to_vec();
                h.request(case.method.clone(), &case.path, &admin, "application/octet-stream", page).await
            }
            (_, "/teams/{team}/faqs/import") => {
                let file = format!("id,question,answer\nlong,{},a\n", long(1001));
                h.upload(&admin, &case.path, file.into_bytes()).await
            }
            (Some(body), _) => {
                h.request(case.method.clone(), &case.path, &admin, "application/json", body.to_string().into_bytes())
                    .await
            }
            (None, _) => h.request(case.method.clone(), &case.path, &admin, "application/json", Vec::new()).await,
        };
        let what = format!("{} {}", case.method, case.path.chars().take(120).collect::<String>());
        assert!(status.is_client_error(), "{what}: answered {status} {body}");
        assert!(
            body["code"].as_str().is_some_and(|c| !c.is_empty())
                && body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: not the one error format: {body}"
        );
        assert_eq!(h.log.head().await.unwrap(), head, "{what} wrote to the log: {body}");
    }
    let (status, body) = h.delete(&admin, &t("/wecom")).await;
    assert_eq!(status, StatusCode::OK, "removing what is not there is done: {body}");
    assert_eq!(h.log.head().await.unwrap(), head, "and writes nothing");
    assert_eq!(h.runtime.load_team(&games).await.unwrap().version, games_before, "the other team is untouched");
    let (status, hooks) = h.get(&games_admin, "/api/v1/teams/games/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "{hooks}");
    assert_eq!(std::fs::read(&h.secrets_path).ok(), secrets_before, "no secret was written");
}
