//! A stand-in for an OpenAI-compatible chat service, for tests (no model can run here).
//!
//! It follows the documented `POST /v1/chat/completions` protocol: bearer-key auth
//! (`401 invalid_api_key`), the model must exist (`404 model_not_found`), a malformed body
//! is `400 invalid_request_error`, a per-minute request budget answers
//! `429 rate_limit_exceeded` with `retry-after`, server trouble is
//! `500 server_error`, and a reply is a `chat.completion` object with `choices`,
//! `finish_reason` and `usage`. What it writes is chosen by [`Behaviour`]; every request it
//! accepted is kept for the test to inspect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{handler, post, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::json;

use crate::{ChatRequest, NO_ANSWER};

/// What the stand-in answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// A faithful rewording: the FAQ answer, introduced as a summary.
    Reword,
    /// The FAQ answer plus a time limit it never stated (a hallucination).
    Invent,
    /// `NO_ANSWER`, as told to when the FAQ does not answer the question.
    NoAnswer,
    /// A reply cut off at `max_tokens` (`finish_reason: length`).
    CutOff,
    /// `500 server_error`.
    ServerError,
    /// A body that is not a chat completion.
    Garbage,
    /// A faithful rewording after this long.
    Slow(Duration),
}

struct State {
    key: String,
    model: String,
    behaviour: Mutex<Behaviour>,
    per_minute: Mutex<Option<u32>>,
    window: Mutex<(Instant, u32)>,
    requests: Mutex<Vec<ChatRequest>>,
}

/// A running stand-in on a loopback port.
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<State>,
}

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    Json(body).with_status(status).into_response()
}

/// The FAQ answer inside the user turn the adapter sends (see [`crate::user_prompt`]).
fn faq_answer(prompt: &str) -> &str {
    let after = prompt.split_once("FAQ answer: ").map_or(prompt, |(_, rest)| rest);
    after.split_once("\n\nOperator's question: ").map_or(after, |(answer, _)| answer)
}

#[handler]
async fn completions(request: &Request, body: poem::Body, Data(state): Data<&Arc<State>>) -> Response {
    let authorised =
        request.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|key| key == state.key);
    if !authorised {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. You can find your API key in your account settings.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let Ok(bytes) = body.into_bytes().await else {
        return error(StatusCode::BAD_REQUEST, "The request body could not be read.", "invalid_request_error", None);
    };
    let chat: ChatRequest = match serde_json::from_slice(&bytes) {
        Ok(chat) => chat,
        Err(e) => {
            let message = format!("We could not parse the JSON body of your request: {e}");
            return error(StatusCode::BAD_REQUEST, &message, "invalid_request_error", None);
        }
    };
    if chat.model != state.model {
        let message = format!("The model `{}` does not exist or you do not have access to it.", chat.model);
        return error(StatusCode::NOT_FOUND, &message, "invalid_request_error", Some("model_not_found"));
    }
    let roles_ok = !chat.messages.is_empty()
        && chat.messages.iter().all(|m| matches!(m.role.as_str(), "system" | "user" | "assistant"));
    if !roles_ok {
        let message = "messages must be a non-empty array of system, user and assistant messages.";
        return error(StatusCode::BAD_REQUEST, message, "invalid_request_error", None);
    }
    if let Some(limit) = *state.per_minute.lock().unwrap_or_else(|e| e.into_inner()) {
        let mut window = state.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.0.elapsed() >= Duration::from_secs(60) {
            *window = (Instant::now(), 0);
        }
        if window.1 >= limit {
            let message = format!("Rate limit reached for {} on requests per min: Limit {limit}.", chat.model);
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, &message, "requests", Some("rate_limit_exceeded"));
            response.headers_mut().insert("retry-after", poem::http::HeaderValue::from_static("20"));
            return response;
        }
        window.1 += 1;
    }
    let behaviour = state.behaviour.lock().unwrap_or_else(|e| e.into_inner()).clone();
    state.requests.lock().unwrap_or_else(|e| e.into_inner()).push(chat.clone());
    let user = chat.messages.iter().rev().find(|m| m.role == "user").map_or("", |m| m.content.as_str());
    let answer = faq_answer(user);
    let (content, finish) = match behaviour {
        Behaviour::Reword => (format!("简单来说：{answer}"), "stop"),
        Behaviour::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (format!("简单来说：{answer}"), "stop")
        }
        Behaviour::Invent => (format!("简单来说：{answer} 通常 48 小时内生效。"), "stop"),
        Behaviour::NoAnswer => (NO_ANSWER.to_owned(), "stop"),
        Behaviour::CutOff => (answer.chars().take(8).collect(), "length"),
        Behaviour::ServerError => {
            let message = "The server had an error while processing your request. Sorry about that!";
            return error(StatusCode::INTERNAL_SERVER_ERROR, message, "server_error", None);
        }
        Behaviour::Garbage => return "<html>502 Bad Gateway</html>".with_status(StatusCode::OK).into_response(),
    };
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let prompt_tokens = chat.messages.iter().map(|m| m.content.chars().count()).sum::<usize>();
    let completion_tokens = content.chars().count();
    Json(json!({
        "id": format!("chatcmpl-standin-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": format!("{}-standin", chat.model),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }))
    .into_response()
}

impl StandIn {
    /// Serves on a free loopback port, accepting `key` for `model`.
    pub async fn start(key: &str, model: &str) -> std::io::Result<StandIn> {
        let state = Arc::new(State {
            key: key.to_owned(),
            model: model.to_owned(),
            behaviour: Mutex::new(Behaviour::Reword),
            per_minute: Mutex::new(None),
            window: Mutex::new((Instant::now(), 0)),
            requests: Mutex::new(Vec::new()),
        });
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the stand-in has no address"))?;
        let routes = Route::new().at("/v1/chat/completions", post(completions)).data(state.clone());
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(routes).await });
        Ok(StandIn { addr, state })
    }

    /// The API base to configure (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Changes what it answers from now on.
    pub fn behave(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap_or_else(|e| e.into_inner()) = behaviour;
    }

    /// Allows at most `per_minute` requests a minute (none: unlimited).
    pub fn limit(&self, per_minute: Option<u32>) {
        *self.state.per_minute.lock().unwrap_or_else(|e| e.into_inner()) = per_minute;
        *self.state.window.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), 0);
    }

    /// Every request it accepted (authorised, well-formed, within the budget), in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.state.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
