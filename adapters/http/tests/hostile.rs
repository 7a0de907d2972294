//! Hostile requests on every API operation that takes a JSON body, listed from the
//! application's own OpenAPI document so a new operation is covered the day it is added:
//! bodies that are not UTF-8, cut short, of the wrong JSON type, nested past reason or with
//! numbers past every range; no credentials; another team's. Each is refused with the
//! `{code, message}` body, never a server error, and nothing is written to the log.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::Value;
use switchboard_http::testing::{harness, Harness, ADMIN_KEY};

fn key_for<'a>(h: &'a Harness, path: &str) -> &'a str {
    if path == "/api/v1/teams" {
        ADMIN_KEY
    } else {
        &h.keys.ops_admin
    }
}

fn refusal_is_explained(answer: &Value) -> bool {
    ["code", "message"].iter().all(|field| answer[field].as_str().is_some_and(|s| !s.is_empty()))
}

#[tokio::test]
async fn every_json_operation_refuses_hostile_bodies_and_writes_nothing() {
    let h = harness().await;
    let operations = h.json_operations().await;
    assert!(operations.len() >= 15, "only {} operations with a JSON body were listed", operations.len());
    let nested = format!("{}{}", "[".repeat(1500), "]".repeat(1500));
    let bodies: [(&str, Vec<u8>); 7] = [
        ("bytes that are not UTF-8", b"{\"user\": \"zhangsan\", \"text\": \"\xff\xfe\xc3\x28\"}".to_vec()),
        ("a lone surrogate escape", br#"{"user": "zhangsan", "text": "\ud800", "id": "\ud800"}"#.to_vec()),
        ("JSON cut short", br#"{"user": "zhang"#.to_vec()),
        ("an array instead of an object", b"[]".to_vec()),
        ("nesting 1,500 deep", nested.into_bytes()),
        (
            "numbers past every range",
            br#"{"resolved": 1e999999, "ttl_seconds": 1e999999, "agent_id": -1e999999}"#.to_vec(),
        ),
        ("an empty body", Vec::new()),
    ];
    let head = h.log.head().await.unwrap();
    for (method, path) in &operations {
        for (what, body) in &bodies {
            let (status, answer) =
                h.request(method.clone(), path, key_for(&h, path), "application/json", body.clone()).await;
            assert!(
                status.is_client_error() && refusal_is_explained(&answer),
                "{what} to {method} {path} was answered {status} {answer}"
            );
        }
    }
    assert_eq!(h.log.head().await.unwrap(), head, "a refused request wrote to the log");
}

#[tokio::test]
async fn every_json_operation_refuses_a_caller_without_a_key_or_with_another_teams() {
    let h = harness().await;
    let head = h.log.head().await.unwrap();
    for (method, path) in h.json_operations().await {
        let (status, answer) =
            h.exchange(method.clone(), &path, None, Some(("application/json", b"{}".to_vec()))).await;
        assert!(
            status == StatusCode::UNAUTHORIZED && refusal_is_explained(&answer),
            "{method} {path} without a key: {status} {answer}"
        );
        // Another team's administrator: refused, whether for the body or the key.
        let (status, answer) =
            h.request(method.clone(), &path, &h.keys.games_admin, "application/json", b"{}".to_vec()).await;
        assert!(
            status.is_client_error() && refusal_is_explained(&answer),
            "{method} {path} with another team's key: {status} {answer}"
        );
    }
    // With a body that would be accepted, another team's key is what is refused.
    let message = r#"{"user": "zhangsan", "text": "奖品库存不足怎么办"}"#.as_bytes().to_vec();
    let (status, answer) = h
        .request(
            poem::http::Method::POST,
            "/api/v1/teams/ops/messages",
            &h.keys.games_admin,
            "application/json",
            message,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(h.log.head().await.unwrap(), head, "a refused request wrote to the log");
}

/// Every id a path parameter declares valid (pattern and length in the served document) is
/// taken as an id — answered, or not found, but never refused as malformed — and a value the
/// declaration excludes is refused with the id's own code.
#[tokio::test]
async fn path_ids_are_taken_exactly_when_the_document_says_they_are_valid() {
    let h = harness().await;
    let head = h.log.head().await.unwrap();
    let admin = format!("Bearer {ADMIN_KEY}");
    let (t64, t65, u64, f64, f65) = ("t".repeat(64), "t".repeat(65), "u".repeat(64), "f".repeat(64), "f".repeat(65));
    let cases = [
        ("team", "bad_team_id", vec!["Zz_9-x", t64.as_str()], vec!["a b", "a.b", t65.as_str()]),
        ("user", "bad_user_id", vec!["li.lei@corp", "a@", "A-_9", u64.as_str()], vec![".a", "a.", "a..b", "@all"]),
        ("faq_id", "bad_faq_id", vec!["Q-1_x", f64.as_str()], vec!["a.b", "a b", f65.as_str()]),
    ];
    let mut checked = 0;
    for (path, item) in h.document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<(&str, &Value)> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| (p["name"].as_str().unwrap(), &p["schema"]))
                .collect();
            for (name, code, valid, invalid) in &cases {
                let Some((_, schema)) = declared.iter().find(|(n, _)| n == name) else { continue };
                let pattern =
                    regex::Regex::new(schema["pattern"].as_str().expect("an id parameter declares its pattern"))
                        .unwrap();
                let max = schema["maxLength"].as_u64().expect("an id parameter declares its length") as usize;
                let fits = |value: &str| pattern.is_match(value) && value.len() <= max;
                let method: poem::http::Method = method.to_uppercase().parse().unwrap();
                for (value, must_fit) in valid.iter().map(|v| (*v, true)).chain(invalid.iter().map(|v| (*v, false))) {
                    assert_eq!(fits(value), must_fit, "the document's rule for {name} on {value:?}");
                    let concrete = fill(path, name, value);
                    let (status, answer) = h.exchange(method.clone(), &concrete, Some(&admin), None).await;
                    let refused_as_malformed = answer["code"] == *code;
                    if must_fit {
                        assert!(
                            !refused_as_malformed,
                            "{method} {concrete}: a declared-valid {name} was refused: {answer}"
                        );
                    } else if method == poem::http::Method::GET {
                        assert_eq!(
                            (status, refused_as_malformed),
                            (StatusCode::BAD_REQUEST, true),
                            "{method} {concrete}: {answer}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} requests were made");
    assert_eq!(h.log.head().await.unwrap(), head, "nothing was written");
}

/// `path` with `name` set to `value` and every other parameter to a valid value of the
/// harness's team `ops`.
fn fill(path: &str, name: &str, value: &str) -> String {
    let filled: Vec<String> = path
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) if param == name => escaped(value),
            Some("team") => "ops".to_owned(),
            Some("user") => "zhangsan".to_owned(),
            Some("faq_id") => "prize-stock".to_owned(),
            Some(_) => "00000000-0000-7000-8000-000000000000".to_owned(),
            None => segment.to_owned(),
        })
        .collect();
    format!("/api/v1{}", filled.join("/"))
}

/// `value` as one path segment: every byte but unreserved ones and '@' percent-encoded.
fn escaped(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every whole-number query parameter declares its range, so no negative or out-of-range
/// number is valid by the document; the range's ends are taken, a number below it is not.
#[tokio::test]
async fn query_numbers_declare_their_range_and_the_server_keeps_to_it() {
    let h = harness().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let mut checked = 0;
    for (path, item) in h.document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method != "get" {
                continue; // reads only: nothing is written whatever the number
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                if parameter["in"] != "query" || schema["type"] != "integer" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                // The document writes bounds as JSON numbers (`0.0`).
                let bound = |key: &str| schema[key].as_f64().map(|n| n as u64);
                let minimum = bound("minimum").unwrap_or_else(|| panic!("{path} {name}: no minimum"));
                let concrete = fill(path, "", "");
                let mut ends = vec![minimum];
                // (`wait`'s maximum is a 30-second long poll: its bound is tested in faqs.rs.)
                ends.extend(bound("maximum").filter(|_| name != "wait"));
                for value in ends {
                    let (status, answer) = h
                        .exchange(poem::http::Method::GET, &format!("{concrete}?{name}={value}"), Some(&admin), None)
                        .await;
                    assert_ne!(status, StatusCode::BAD_REQUEST, "{path}?{name}={value} is declared valid: {answer}");
                }
                let below = format!("{concrete}?{name}=-1");
                let (status, _) = h.exchange(poem::http::Method::GET, &below, Some(&admin), None).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{below}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} number parameters were found");
}
