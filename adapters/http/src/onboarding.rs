//! Onboarding a team's WeCom application from the console: its settings go into the team
//! stream with references to its secrets, the secrets into the instance's secret store
//! (never the log), the callback endpoint serves it at once, and the URL verification WeCom
//! will perform can be tried from the page before it is saved in WeCom's admin console.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use switchboard_engine::team::{Team, TeamCommand};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, WecomSettings};
use switchboard_schemas::TeamId;
use switchboard_secret::Secret;
use switchboard_wecom::crypto::{decode_aes_key, validate_token};
use switchboard_wecom::setup::{ConsoleApps, SecretNames, SecretStore, Source};
use switchboard_wecom::verify::verify_callback_url;
use uuid::Uuid;

use crate::auth::AccessKey;
use crate::error::ApiError;
use crate::params::{
    AppSecret, CallbackToken, CorpId, Count, EncodingAesKey, ReceiveId, SentText, TeamParam, Text, Version, WebAddress,
};
use crate::{ApiTags, AppState};
use switchboard_schemas::bounds::MAX_APP_SECRET_CHARS;

/// What the console needs to onboard WeCom applications.
pub struct Onboarding {
    /// Keeps the callback registry and the API client in step with the team streams.
    pub console: Arc<ConsoleApps>,
    /// Where WeCom reaches this deployment (`https://switchboard.example.com`), for the
    /// callback URL shown; this instance's own address when absent.
    pub public_url: Option<String>,
    /// Where this instance's callback endpoint answers, for the verification test.
    pub local_url: String,
}

/// Where a team's WeCom application comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WecomSource {
    /// The configuration file (not editable from the console).
    Configuration,
    /// Set up from the console.
    Console,
    /// Not set up.
    None,
}

/// A team's WeCom application as the console shows it (never a secret).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WecomStatus {
    /// Where it comes from.
    pub source: WecomSource,
    /// The URL to enter as the application's callback ("接收消息服务器配置 → URL").
    pub callback_url: String,
    /// This instance accepts the team's callbacks.
    pub receiving: bool,
    /// This instance can send for the team (the application secret is available).
    pub sending: bool,
    /// Why not, when set up but not fully served.
    pub problem: Option<String>,
    /// The CorpID, when set up from the console.
    pub corp_id: Option<String>,
    /// The AgentId, when set up from the console.
    pub agent_id: Option<u64>,
    /// The API address, when set up from the console with another than WeCom's.
    pub api_base: Option<String>,
    /// The console address posted in group chats.
    pub console_url: Option<String>,
    /// The greeting sent when an operator opens the application.
    pub greeting: Option<String>,
}

/// One thing to do before a team is ready.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChecklistItem {
    /// A stable key (`faq`, `roster`, `wecom`, `verify`, `keys`).
    pub key: String,
    /// Whether it is done.
    pub done: bool,
}

/// A WeCom application to set up. Secrets left out keep the values saved before.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WecomSetup {
    /// The enterprise's CorpID ("我的企业 → 企业ID").
    pub corp_id: Text<CorpId>,
    /// The application's AgentId.
    pub agent_id: Count<1, { u64::MAX }>,
    /// The callback Token (1 to 32 letters or digits).
    pub token: Option<Text<CallbackToken>>,
    /// The callback EncodingAESKey (43 characters).
    pub encoding_aes_key: Option<Text<EncodingAesKey>>,
    /// The application Secret, for sending; without it callbacks are received only.
    pub secret: Option<Text<AppSecret>>,
    /// The receive id, when not the CorpID (third-party applications).
    pub receive_id: Option<Text<ReceiveId>>,
    /// Another API address than WeCom's (a proxy, or the simulator).
    pub api_base: Option<Text<WebAddress>>,
    /// Where the console is reachable, for the link posted in group chats.
    pub console_url: Option<Text<WebAddress>>,
    /// Sent when an operator opens the application outside a session.
    pub greeting: Option<Text<SentText>>,
    /// The team version the form was filled on; refused (409) if the team changed since.
    pub expected_version: Option<Version>,
}

debug_redacting!(WecomSetup { corp_id, agent_id, receive_id, api_base, console_url, greeting, expected_version } hiding { token, encoding_aes_key, secret });

/// The outcome of the URL verification test.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationReport {
    /// WeCom would accept the URL.
    pub ok: bool,
    /// The URL tried (this instance's own callback endpoint).
    pub tried_url: String,
    /// The HTTP status it answered (0 when it did not answer).
    pub status: u16,
    /// What to do when it failed.
    pub message: String,
}

/// The checklist of a team, from its state.
pub fn checklist(team: &Team, faqs: usize, wecom: &WecomStatus) -> Vec<ChecklistItem> {
    let people = !team.roster.default.is_empty() || team.roster.categories.values().any(|s| !s.is_empty());
    let agents = team.keys.values().any(|k| k.role >= AccessRole::Agent);
    [
        ("faq", faqs > 0),
        ("roster", people),
        ("wecom", wecom.source != WecomSource::None),
        ("verify", wecom.receiving),
        ("keys", agents),
    ]
    .into_iter()
    .map(|(key, done)| ChecklistItem { key: key.to_owned(), done })
    .collect()
}

fn optional<R>(value: &Option<Text<R>>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl Onboarding {
    fn callback_url(&self, team: &TeamId) -> String {
        let base = self.public_url.as_deref().unwrap_or(&self.local_url).trim_end_matches('/');
        format!("{base}/wecom/{team}/callback")
    }

    /// How this instance serves the team's application, brought in step with its stream.
    pub async fn status(&self, id: &TeamId, team: &Team) -> WecomStatus {
        let serving = self.console.sync(id, team.wecom.as_ref(), false);
        let settings = team.wecom.as_ref().filter(|_| serving.source == Source::Console);
        WecomStatus {
            source: match serving.source {
                Source::Configuration => WecomSource::Configuration,
                Source::Console => WecomSource::Console,
                Source::None => WecomSource::None,
            },
            callback_url: self.callback_url(id),
            receiving: serving.receiving,
            sending: serving.sending,
            problem: serving.problem,
            corp_id: settings.map(|s| s.corp_id.clone()),
            agent_id: settings.map(|s| s.agent_id),
            api_base: settings.and_then(|s| s.api_base.clone()),
            console_url: settings.and_then(|s| s.console_url.clone()),
            greeting: settings.and_then(|s| s.greeting.clone()),
        }
    }
}

/// The WeCom onboarding endpoints.
pub struct WecomApi {
    pub(crate) state: Arc<AppState>,
}

impl WecomApi {
    async fn admin(&self, key: &AccessKey, raw: &str) -> Result<(TeamId, Team), ApiError> {
        let (id, _, team) = self.state.existing_team(key, raw, AccessRole::Admin).await?;
        Ok((id, team))
    }

    fn refuse_configured(&self, id: &TeamId, team: &Team) -> Result<(), ApiError> {
        let serving = self.state.onboarding.console.sync(id, team.wecom.as_ref(), false);
        if serving.source == Source::Configuration {
            return Err(ApiError::conflict(
                "configured_in_file",
                "this team's WeCom application is set in the configuration file; change it there",
            ));
        }
        Ok(())
    }
}

#[OpenApi(tag = "ApiTags::Teams")]
impl WecomApi {
    /// Set up (or change) the team's WeCom application (team admins). The token, key and
    /// secret are checked, kept in the instance's secret store (never in the log), and the
    /// callback URL works at once.
    #[oai(path = "/teams/:team/wecom", method = "put")]
    async fn set(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<WecomSetup>,
    ) -> Result<Json<WecomStatus>, ApiError> {
        let (id, state) = self.admin(&key, &team).await?;
        self.refuse_configured(&id, &state)?;
        let names = SecretNames::for_team(&id);
        let secrets = self.state.onboarding.console.secrets();
        let mut entries = Vec::new();
        for (value, name, check) in [
            (optional(&body.token), &names.token, Check::Token),
            (optional(&body.encoding_aes_key), &names.encoding_aes_key, Check::AesKey),
            (optional(&body.secret), &names.secret, Check::AppSecret),
        ] {
            match (value, check) {
                (Some(value), Check::Token) => {
                    validate_token(&value).map_err(|e| ApiError::bad_request("bad_token", e))?;
                    entries.push((name.clone(), Secret::new(value)));
                }
                (Some(value), Check::AesKey) => {
                    decode_aes_key(&value).map_err(|e| ApiError::bad_request("bad_encoding_aes_key", e))?;
                    entries.push((name.clone(), Secret::new(value)));
                }
                (Some(value), Check::AppSecret) => {
                    if value.chars().count() > MAX_APP_SECRET_CHARS {
                        return Err(ApiError::bad_request(
                            "bad_secret",
                            format!("the Secret must be at most {MAX_APP_SECRET_CHARS} characters long"),
                        ));
                    }
                    entries.push((name.clone(), Secret::new(value)));
                }
                (None, Check::Token | Check::AesKey) if secrets.get(name).is_none() => {
                    let field = if *name == names.token { "token" } else { "encoding_aes_key" };
                    return Err(ApiError::bad_request(
                        "secret_required",
                        format!("{field} is required the first time"),
                    ));
                }
                (None, _) => {}
            }
        }
        let settings = WecomSettings {
            corp_id: body.corp_id.trim().to_owned(),
            agent_id: body.agent_id.get(),
            receive_id: optional(&body.receive_id),
            token_ref: names.token.clone(),
            encoding_aes_key_ref: names.encoding_aes_key.clone(),
            secret_ref: names.secret.clone(),
            api_base: optional(&body.api_base),
            console_url: optional(&body.console_url),
            greeting: optional(&body.greeting),
        };
        SecretStore::ensure_writable(entries.iter().map(|(name, _)| name.as_str()))
            .map_err(|e| ApiError::secret_not_stored("the WeCom secrets", e))?;
        // Checked by the team and the address guard first, and the settings recorded (with
        // the expected version) before any secret is written: a refused form, or one made
        // on a stale version, leaves the stored secrets as they were.
        state
            .decide(&TeamCommand::ConfigureWecom { wecom: Some(Box::new(settings.clone())) })
            .map_err(|e| ApiError::from(switchboard_engine::runtime::CommandError::from(e)))?;
        if let Some(api_base) = &settings.api_base {
            self.state
                .outbound
                .check(api_base)
                .await
                .map_err(|e| ApiError::bad_request("refused_address", format!("api_base: {e}")))?;
        }
        let command = TeamCommand::ConfigureWecom { wecom: Some(Box::new(settings)) };
        self.state
            .runtime
            .team_expecting(&id, command, Causation::root(Uuid::now_v7()), body.expected_version.map(Version::get))
            .await?;
        secrets.put(&entries).map_err(|e| ApiError::secret_not_stored("the WeCom secrets", e))?;
        let state = self.state.runtime.load_team(&id).await?;
        self.state.onboarding.console.sync(&id, state.wecom.as_ref(), true);
        tracing::info!(team = %id, secrets = entries.len(), "WeCom application set up from the console");
        Ok(Json(self.state.onboarding.status(&id, &state).await))
    }

    /// Remove the team's WeCom application (team admins): its callbacks are refused from now on.
    #[oai(path = "/teams/:team/wecom", method = "delete")]
    async fn remove(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<WecomStatus>, ApiError> {
        let (id, state) = self.admin(&key, &team).await?;
        self.refuse_configured(&id, &state)?;
        let command = TeamCommand::ConfigureWecom { wecom: None };
        self.state.runtime.team(&id, command, Causation::root(Uuid::now_v7())).await?;
        let state = self.state.runtime.load_team(&id).await?;
        Ok(Json(self.state.onboarding.status(&id, &state).await))
    }

    /// Try the URL verification WeCom performs when the callback URL is saved: a signed,
    /// encrypted `echostr` sent to this instance's callback endpoint, which must answer it
    /// decrypted (team admins).
    #[oai(path = "/teams/:team/wecom/verify", method = "post")]
    async fn verify(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<VerificationReport>, ApiError> {
        let (id, state) = self.admin(&key, &team).await?;
        let status = self.state.onboarding.status(&id, &state).await;
        let Some(registered) = self.state.onboarding.console.apps().get(&id) else {
            let why = status.problem.unwrap_or_else(|| "the team has no WeCom application".into());
            return Err(ApiError::conflict("not_receiving", format!("nothing to verify: {why}")));
        };
        let url = format!("{}/wecom/{id}/callback", self.state.onboarding.local_url.trim_end_matches('/'));
        let outcome =
            verify_callback_url(&url, &registered.crypto).await.map_err(|e| ApiError::internal(e.to_string()))?;
        let message = if outcome.echoed {
            format!("the callback endpoint answered the check; enter {} in WeCom and save", status.callback_url)
        } else if outcome.status == 0 {
            format!("the callback endpoint did not answer: {}", outcome.answer)
        } else {
            format!("the callback endpoint refused the check with {} ({})", outcome.status, outcome.answer)
        };
        Ok(Json(VerificationReport { ok: outcome.echoed, tried_url: url, status: outcome.status, message }))
    }
}

/// How a secret field is checked before it is stored.
enum Check {
    Token,
    AesKey,
    AppSecret,
}
