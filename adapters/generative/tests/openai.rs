//! The OpenAI-compatible rephraser against the stand-in server: the request it sends, a
//! grounded rewording, and every way the service can fail or stray, each an error the
//! engine answers with the FAQ's own words.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use switchboard_engine::ports::{RephraseError, RephraseRequest, Rephraser};
use switchboard_generative::standin::{Behaviour, StandIn};
use switchboard_generative::{OpenAiConfig, OpenAiRephraser};
use switchboard_outbound::OutboundPolicy;
use switchboard_schemas::event::MatchCandidate;
use switchboard_schemas::{FaqId, TeamId};

const KEY: &str = "sk-test-0123456789";
const MODEL: &str = "gpt-4o-mini";

fn faq() -> MatchCandidate {
    MatchCandidate {
        faq_id: FaqId::new("prize-stock").unwrap(),
        question: "奖品库存不足怎么办？".into(),
        answer: "在 奖品管理 → 库存 中追加库存即可，库存低于 10% 时会通知。".into(),
        category: Some("prizes".into()),
        score: 0.9,
        keyword_score: Some(9.0),
        semantic_score: Some(0.8),
    }
}

fn rephraser(standin: &StandIn, key: &str, timeout: Duration) -> OpenAiRephraser {
    let config = OpenAiConfig {
        base_url: standin.base_url(),
        model: MODEL.into(),
        api_key: Some(switchboard_secret::Secret::new(key)),
        timeout,
        outbound: loopback(),
        ..OpenAiConfig::default()
    };
    OpenAiRephraser::new(config).unwrap()
}

/// The stand-in runs on loopback, which only the instance's operator can allow.
fn loopback() -> OutboundPolicy {
    OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap()])
}

#[test]
fn a_base_url_on_a_refused_address_is_refused_at_start() {
    for base_url in ["http://127.0.0.1:9/v1", "http://[::1]:9/v1", "http://169.254.169.254/v1"] {
        let config = OpenAiConfig { base_url: base_url.into(), ..OpenAiConfig::default() };
        let error = OpenAiRephraser::new(config).unwrap_err().to_string();
        assert!(error.contains("[outbound] allow"), "{base_url}: {error}");
    }
}

#[test]
fn the_api_key_never_shows_in_debug_output() {
    let config =
        OpenAiConfig { api_key: Some(switchboard_secret::Secret::new("sk-very-secret")), ..OpenAiConfig::default() };
    let shown = format!("{config:?}");
    assert!(!shown.contains("sk-very-secret") && shown.contains("<redacted>"), "{shown}");
}

async fn ask(rephraser: &OpenAiRephraser) -> Result<switchboard_engine::ports::Rephrased, RephraseError> {
    let (team, faq) = (TeamId::new("ops").unwrap(), faq());
    rephraser.rephrase(RephraseRequest { team: &team, question: "奖品没库存了咋整", faq: &faq }).await
}

#[tokio::test]
async fn a_grounded_rewording_comes_back_with_the_model_that_wrote_it() {
    let standin = StandIn::start(KEY, MODEL).await.unwrap();
    let rephraser = rephraser(&standin, KEY, Duration::from_secs(5));
    let reworded = ask(&rephraser).await.unwrap();
    assert_eq!(reworded.faq_id.as_str(), "prize-stock");
    assert_eq!(reworded.text, "简单来说：在 奖品管理 → 库存 中追加库存即可，库存低于 10% 时会通知。");
    assert_eq!(reworded.model, "gpt-4o-mini-standin", "the model the service says answered");

    let sent = standin.requests();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!((request.model.as_str(), request.messages.len()), (MODEL, 2));
    assert_eq!(request.messages[0].role, "system");
    assert!(request.messages[0].content.contains("Use only the facts in the FAQ answer"));
    let user = &request.messages[1].content;
    assert!(user.contains("奖品没库存了咋整") && user.contains(&faq().answer) && user.contains(&faq().question));
    assert!(!user.contains("prizes") && !user.contains("ops"), "nothing but the FAQ and the question: {user}");
    assert!(request.temperature <= 0.3, "low temperature keeps to the FAQ's wording");
}

#[tokio::test]
async fn what_strays_from_the_faq_is_refused() {
    let standin = StandIn::start(KEY, MODEL).await.unwrap();
    let rephraser = rephraser(&standin, KEY, Duration::from_secs(5));
    for (behaviour, expected) in
        [(Behaviour::Invent, "\"48\""), (Behaviour::NoAnswer, "does not answer"), (Behaviour::CutOff, "cut off")]
    {
        standin.behave(behaviour.clone());
        match ask(&rephraser).await {
            Err(RephraseError::Ungrounded(why)) => assert!(why.contains(expected), "{behaviour:?}: {why}"),
            other => panic!("{behaviour:?} must be refused as ungrounded: {other:?}"),
        }
    }
}

#[tokio::test]
async fn service_failures_are_errors_that_say_what_happened() {
    let standin = StandIn::start(KEY, MODEL).await.unwrap();
    match ask(&rephraser(&standin, "sk-wrong", Duration::from_secs(5))).await {
        Err(RephraseError::Refused(why)) => assert!(why.contains("401") && why.contains("Incorrect API key"), "{why}"),
        other => panic!("a wrong key: {other:?}"),
    }
    let config = OpenAiConfig {
        base_url: standin.base_url(),
        model: "gpt-nope".into(),
        api_key: Some(switchboard_secret::Secret::new(KEY)),
        outbound: loopback(),
        ..OpenAiConfig::default()
    };
    match ask(&OpenAiRephraser::new(config).unwrap()).await {
        Err(RephraseError::Refused(why)) => assert!(why.contains("404") && why.contains("gpt-nope"), "{why}"),
        other => panic!("an unknown model: {other:?}"),
    }

    let rephraser = rephraser(&standin, KEY, Duration::from_millis(300));
    standin.limit(Some(1));
    ask(&rephraser).await.unwrap();
    match ask(&rephraser).await {
        Err(RephraseError::Refused(why)) => assert!(why.contains("429") && why.contains("retry after 20"), "{why}"),
        other => panic!("over the rate limit: {other:?}"),
    }
    standin.limit(None);

    standin.behave(Behaviour::ServerError);
    assert!(matches!(ask(&rephraser).await, Err(RephraseError::Unavailable(why)) if why.contains("500")));
    standin.behave(Behaviour::Garbage);
    assert!(
        matches!(ask(&rephraser).await, Err(RephraseError::Unavailable(why)) if why.contains("not a chat completion"))
    );
    standin.behave(Behaviour::Slow(Duration::from_secs(2)));
    assert!(matches!(ask(&rephraser).await, Err(RephraseError::Timeout(_))), "slower than the timeout");

    // Nobody listening.
    let closed = OpenAiConfig {
        base_url: "http://127.0.0.1:9/v1".into(),
        model: MODEL.into(),
        outbound: loopback(),
        ..OpenAiConfig::default()
    };
    assert!(matches!(ask(&OpenAiRephraser::new(closed).unwrap()).await, Err(RephraseError::Unavailable(_))));
}

#[test]
fn a_base_url_that_is_not_http_is_refused_at_start() {
    let config = OpenAiConfig { base_url: "api.openai.com/v1".into(), ..OpenAiConfig::default() };
    let error = OpenAiRephraser::new(config).unwrap_err().to_string();
    assert!(error.contains("http://"), "{error}");
}
