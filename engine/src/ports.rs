//! The other ports the engine needs from the outside world: answering, delivering, time
//! and identity. Each has one trait; adapters implement them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_schemas::attachment::AttachmentSource;
use switchboard_schemas::event::{Channel, MatchCandidate, OutboundPurpose, Recipient};
use switchboard_schemas::{FaqEvent, FaqId, StaffId, TeamId, UserId};
use uuid::Uuid;

/// The answering port's view of a question: ranked FAQ candidates and one confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Candidates, best first, with per-engine scores.
    pub candidates: Vec<MatchCandidate>,
    /// Calibrated confidence that the first candidate answers the question, in `[0, 1]`.
    pub confidence: f32,
    /// The engine (and model version) that ranked them, recorded with the match.
    pub engine: String,
}

/// Why the answering port failed.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// The index for the team is not ready (still rebuilding).
    #[error("FAQ index for team {0} is not ready")]
    NotReady(TeamId),
    /// The backend failed.
    #[error("matcher backend error: {0}")]
    Backend(String),
}

/// An FAQ answer reworded for the operator's question by a generative model, from that
/// FAQ's text alone. The engine uses it only for a confident answer from the same FAQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rephrased {
    /// The FAQ it was made from.
    pub faq_id: FaqId,
    /// The reworded answer.
    pub text: String,
    /// The model that wrote it, recorded with the match for audit.
    pub model: String,
}

/// What a rephrasing is grounded in: the question and the one FAQ that answers it.
#[derive(Debug, Clone, Copy)]
pub struct RephraseRequest<'a> {
    /// The team (for routing and logs; never sent to the model).
    pub team: &'a TeamId,
    /// The operator's question as matched.
    pub question: &'a str,
    /// The matched FAQ: its question and answer are the only facts the model may use.
    pub faq: &'a MatchCandidate,
}

/// Why no rephrased answer came; the plain FAQ answer is sent instead.
#[derive(Debug, thiserror::Error)]
pub enum RephraseError {
    /// The service did not answer in time.
    #[error("the generative service did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The service refused the request (bad key, unknown model, rate limit, server error).
    #[error("the generative service refused: {0}")]
    Refused(String),
    /// The service could not be reached or answered something unreadable.
    #[error("the generative service is unavailable: {0}")]
    Unavailable(String),
    /// The text it wrote says something the FAQ does not (a number, a link) or is unusable.
    #[error("the generated text was not grounded in the FAQ: {0}")]
    Ungrounded(String),
}

/// Rewords a confident FAQ answer for the question asked (an optional generative model).
#[async_trait]
pub trait Rephraser: Send + Sync + 'static {
    /// A rephrased answer grounded in `request.faq`, or why there is none.
    async fn rephrase(&self, request: RephraseRequest<'_>) -> Result<Rephrased, RephraseError>;
}

/// Ranks a team's FAQs for a question; indexes are projections of the FAQ events.
#[async_trait]
pub trait Matcher: Send + Sync + 'static {
    /// Ranks up to `limit` FAQ candidates of `team` for `query`.
    async fn rank(&self, team: &TeamId, query: &str, limit: usize) -> Result<Ranking, MatchError>;

    /// Applies one FAQ catalog event to the team's index.
    async fn apply(&self, team: &TeamId, event: &FaqEvent) -> Result<(), MatchError>;
}

/// An outbound message handed to a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The team whose application sends it.
    pub team: TeamId,
    /// The conversation's operator.
    pub user: UserId,
    /// The session.
    pub session_id: Uuid,
    /// Idempotency key: a channel must not deliver the same id twice.
    pub outbound_id: Uuid,
    /// Who receives it.
    pub to: Recipient,
    /// Why it is sent.
    pub purpose: OutboundPurpose,
    /// The text.
    pub text: String,
    /// The channel the operator uses.
    pub channel: Channel,
}

/// Why a delivery failed; the dispatcher retries only what can succeed later.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later (rate limits, system busy, network).
    #[error("delivery failed, will retry: {0}")]
    Retryable(String),
    /// Will never succeed (unknown user, message refused).
    #[error("delivery failed permanently: {0}")]
    Permanent(String),
}

/// Delivers outbound messages to people. Implementations deduplicate on `outbound_id`, so
/// a delivery retried after a crash is not seen twice.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers one message.
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError>;
}

/// The source of "now", so decisions are reproducible and tests control time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A group chat to create: the operator and the engineers of a session, with a summary of
/// the conversation so far.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupChatOrder {
    /// The team whose application creates it.
    pub team: TeamId,
    /// The session.
    pub session_id: Uuid,
    /// The chat id to use, fixed per session so a retried creation finds the same chat
    /// instead of making a second one.
    pub chat_id: String,
    /// The chat's name.
    pub name: String,
    /// The operator.
    pub operator: UserId,
    /// The engineers (the first one owns the chat).
    pub staff: Vec<StaffId>,
    /// What was said so far, to post first.
    pub summary: String,
}

/// Creates group chats between operators and engineers (WeCom app chats).
#[async_trait]
pub trait GroupChats: Send + Sync + 'static {
    /// Creates the chat (or finds the one made by an earlier attempt) and posts the
    /// summary; returns the chat id.
    async fn create(&self, order: &GroupChatOrder) -> Result<String, DeliveryError>;
}

/// For deployments without a channel that has group chats: every request fails plainly.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGroupChats;

#[async_trait]
impl GroupChats for NoGroupChats {
    async fn create(&self, order: &GroupChatOrder) -> Result<String, DeliveryError> {
        Err(DeliveryError::Permanent(format!("team {} has no channel that can create group chats", order.team)))
    }
}

/// Why an attachment's bytes could not be fetched from its channel.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Try again later (rate limits, system busy, network, an expired token).
    #[error("fetching failed, will retry: {0}")]
    Retryable(String),
    /// Will never succeed (an unknown or expired media id, no application for the team).
    #[error("fetching failed: {0}")]
    Permanent(String),
    /// Larger than the limit; nothing more than the limit was read.
    #[error("the attachment is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
}

/// Fetches an attachment's bytes from where its channel keeps them (WeCom's `media/get`).
#[async_trait]
pub trait MediaFetcher: Send + Sync + 'static {
    /// The bytes of `source` for `team`, reading at most `max_bytes`.
    async fn fetch(&self, team: &TeamId, source: &AttachmentSource, max_bytes: u64) -> Result<Vec<u8>, FetchError>;
}

/// Why embedding failed.
#[derive(Debug, thiserror::Error)]
#[error("embedding failed: {0}")]
pub struct EmbedError(pub String);

/// Turns texts into unit-length vectors whose dot product measures similarity of meaning
/// across languages. Synchronous and CPU-bound: call it from a blocking context.
pub trait Embedder: Send + Sync + 'static {
    /// The model's id, recorded with matches and stored with embeddings, so a model change
    /// is seen and embeddings are rebuilt.
    fn model_id(&self) -> &str;

    /// Embeds each question (in order). Implementations give the same vector for the same
    /// text every time.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Embeds each text that questions are matched against (FAQ wordings and answers), in
    /// order. Models trained with separate query and passage instructions (E5) embed the
    /// two sides differently; for others both are the same.
    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts)
    }

    /// Embeds questions that become part of the catalog (learned paraphrases): the same
    /// vectors as [`Embedder::embed`], told apart so that a caching embedder keeps these
    /// across restarts without keeping every live question.
    fn embed_learned(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts)
    }
}
