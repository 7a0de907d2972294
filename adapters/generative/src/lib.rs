//! Optional generative answers: a [`Rephraser`] for any service that speaks the OpenAI
//! chat-completions API (OpenAI, Azure OpenAI, vLLM, Ollama, DeepSeek, Qwen…).
//!
//! The engine asks only about a question it already answers confidently from one FAQ, and
//! sends the FAQ's own words whenever this adapter returns an error. This adapter keeps the
//! model on that FAQ: the prompt carries the FAQ's question and answer and the operator's
//! question and nothing else, and [`grounding::check`] refuses a reply that states a number
//! or a link the FAQ does not, that the model itself says the FAQ does not cover, or that
//! was cut off.

pub mod grounding;
#[cfg(feature = "standin")]
pub mod standin;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_engine::ports::{RephraseError, RephraseRequest, Rephrased, Rephraser};
use switchboard_outbound::{read_limited, OutboundClient, OutboundError, OutboundPolicy};
use switchboard_secret::Secret;

/// The longest reply read from the service; a chat completion of `max_tokens` is far shorter.
const MAX_REPLY_BYTES: usize = 256 * 1024;
/// The longest error answer read; its `error.message` is all that is used of it.
const MAX_ERROR_BYTES: usize = 4 * 1024;

/// What the model is told to answer when the FAQ does not answer the question.
pub const NO_ANSWER: &str = "NO_ANSWER";

/// The instructions sent with every request.
const SYSTEM_PROMPT: &str = "You reword a support FAQ answer so that it answers the operator's question directly. \
Use only the facts in the FAQ answer: add no steps, numbers, links, names, dates or promises that are not in it. \
Answer in the language of the operator's question, in at most a few sentences, without greetings. \
If the FAQ answer does not answer the question, reply exactly NO_ANSWER.";

/// How to reach the service.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API base, e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// The bearer key, when the service needs one.
    pub api_key: Option<Secret>,
    /// Sampling temperature; low, so the wording stays close to the FAQ.
    pub temperature: f32,
    /// The most tokens the reply may use.
    pub max_tokens: u32,
    /// Longer replies are refused (the plain answer is sent).
    pub max_output_chars: usize,
    /// How long one request may take (the engine has its own, shorter or equal, limit).
    pub timeout: Duration,
    /// Which addresses the service may have (public only, unless the operator allows more).
    pub outbound: OutboundPolicy,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("max_output_chars", &self.max_output_chars)
            .field("timeout", &self.timeout)
            .field("outbound", &self.outbound)
            .finish()
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key: None,
            temperature: 0.2,
            max_tokens: 400,
            max_output_chars: 800,
            timeout: Duration::from_secs(4),
            outbound: OutboundPolicy::public_only(),
        }
    }
}

/// Why the adapter cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The base URL is not http(s).
    #[error("generative.base_url must start with http:// or https:// (got {0:?})")]
    BadBaseUrl(String),
    /// The base URL names an address outbound requests may not go to.
    #[error("generative.base_url: {0}")]
    Refused(OutboundError),
    /// The HTTP client could not be made.
    #[error("the HTTP client could not be made: {0}")]
    Client(String),
}

/// The request body of `POST /chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model.
    pub model: String,
    /// The conversation: system instructions, then the user turn.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: f32,
    /// The most tokens of the reply.
    pub max_tokens: u32,
}

/// One message of a chat request or reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The parts of a `chat.completion` reply the adapter reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The choices; the first is used.
    pub choices: Vec<ChatChoice>,
    /// The model that answered (may name a more precise version than asked for).
    #[serde(default)]
    pub model: Option<String>,
}

/// One choice of a reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatChoice {
    /// The reply.
    pub message: ChatMessage,
    /// `stop` when complete, `length` when cut off.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The error body such services answer with.
#[derive(Debug, Clone, Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(Debug, Clone, Deserialize)]
struct ErrorDetail {
    message: String,
}

/// The user turn: the FAQ and the question, nothing else.
pub fn user_prompt(question: &str, faq_question: &str, faq_answer: &str) -> String {
    format!("FAQ question: {faq_question}\nFAQ answer: {faq_answer}\n\nOperator's question: {question}")
}

/// The rephraser over an OpenAI-compatible chat API.
#[derive(Debug, Clone)]
pub struct OpenAiRephraser {
    http: OutboundClient,
    url: String,
    config: OpenAiConfig,
}

impl OpenAiRephraser {
    /// A rephraser for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, SetupError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SetupError::BadBaseUrl(config.base_url.clone()));
        }
        let builder = reqwest::Client::builder().timeout(config.timeout);
        let http =
            OutboundClient::new(config.outbound.clone(), builder).map_err(|e| SetupError::Client(e.to_string()))?;
        let url = format!("{base}/chat/completions");
        http.parse(&url).map_err(SetupError::Refused)?;
        Ok(Self { url, http, config })
    }

    /// The model asked for, as recorded with each reworded answer.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    fn request(&self, request: &RephraseRequest<'_>) -> ChatRequest {
        let faq = request.faq;
        ChatRequest {
            model: self.config.model.clone(),
            messages: vec![
                ChatMessage { role: "system".into(), content: SYSTEM_PROMPT.into() },
                ChatMessage { role: "user".into(), content: user_prompt(request.question, &faq.question, &faq.answer) },
            ],
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
        }
    }
}

/// The service's own error message, or the status when it sent none.
async fn refusal(response: reqwest::Response) -> String {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let envelope = read_limited(response, MAX_ERROR_BYTES).await.ok();
    let detail = match envelope.and_then(|body| serde_json::from_slice::<ErrorEnvelope>(&body).ok()) {
        Some(body) => body.error.message.chars().take(200).collect(),
        None => status.canonical_reason().unwrap_or("no reason given").to_owned(),
    };
    match retry_after {
        Some(after) => format!("HTTP {}: {detail} (retry after {after} s)", status.as_u16()),
        None => format!("HTTP {}: {detail}", status.as_u16()),
    }
}

#[async_trait]
impl Rephraser for OpenAiRephraser {
    async fn rephrase(&self, request: RephraseRequest<'_>) -> Result<Rephrased, RephraseError> {
        let call = self.http.post(&self.url).map_err(|e| RephraseError::Unavailable(e.to_string()))?;
        let mut call = call.json(&self.request(&request));
        if let Some(key) = &self.config.api_key {
            call = call.bearer_auth(key.expose());
        }
        let response = call.send().await.map_err(|e| {
            if e.is_timeout() {
                RephraseError::Timeout(self.config.timeout)
            } else if let Some(refusal) = OutboundError::behind(&e) {
                RephraseError::Unavailable(refusal.to_string())
            } else {
                // Without the URL's query or the key: reqwest's message names the host only.
                RephraseError::Unavailable(e.without_url().to_string())
            }
        })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(RephraseError::Unavailable(refusal(response).await));
        }
        if !status.is_success() {
            return Err(RephraseError::Refused(refusal(response).await));
        }
        let body =
            read_limited(response, MAX_REPLY_BYTES).await.map_err(|e| RephraseError::Unavailable(e.to_string()))?;
        let body: ChatResponse = serde_json::from_slice(&body)
            .map_err(|e| RephraseError::Unavailable(format!("the reply is not a chat completion: {e}")))?;
        let choice = body
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| RephraseError::Unavailable("the reply has no choices".into()))?;
        if choice.finish_reason.as_deref() == Some("length") {
            return Err(RephraseError::Ungrounded("the reply was cut off at max_tokens".into()));
        }
        let faq = request.faq;
        let text = grounding::check(&choice.message.content, &faq.question, &faq.answer, self.config.max_output_chars)
            .map_err(|e| RephraseError::Ungrounded(e.to_string()))?;
        Ok(Rephrased {
            faq_id: faq.faq_id.clone(),
            text,
            model: body.model.unwrap_or_else(|| self.config.model.clone()),
        })
    }
}
