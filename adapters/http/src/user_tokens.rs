//! Channel tokens: how a web page proves which operator is talking on the WebSocket
//! channel without holding a team key.
//!
//! The team's own back end (which knows its logged-in user) asks Switchboard for a token
//! with an agent key and hands it to the page. A token is
//! `sbu.<team>.<payload>.<signature>`: the payload is base64url JSON `{"u": user, "exp":
//! unix seconds}`, the signature base64url HMAC-SHA256 over `sbu.<team>.<payload>` with the
//! team's channel key. The key lives in the instance's secret store (or an environment
//! variable of the same name, for several instances), never in the log; rotating it ends
//! every token of the team at once.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::{TeamId, UserId};
use switchboard_secret::Secret;
use switchboard_wecom::setup::{team_secret_name, SecretStore};

use crate::api::user_id;
use crate::auth::AccessKey;
use crate::error::ApiError;
use crate::params::{Count, TeamParam, UserParam};
use crate::{ApiTags, AppState};

/// The first part of every channel token.
pub const USER_TOKEN_PREFIX: &str = "sbu";
/// How long a token lives when the request does not say.
const DEFAULT_TTL_SECONDS: u64 = 3600;
/// The longest a token may live: a leaked token should not outlive a working week.
const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// The shortest, so a token survives the page load it is made for.
const MIN_TTL_SECONDS: u64 = 60;

type HmacSha256 = Hmac<Sha256>;

/// Why a token is not accepted; every case means "get a new token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not shaped like a channel token at all.
    #[error("this is not a channel token (expected sbu.<team>.<payload>.<signature>)")]
    Malformed,
    /// A token of another team.
    #[error("this token was issued by another team")]
    OtherTeam,
    /// The team has never issued a channel token on this instance's key.
    #[error("this team has no channel key on this instance; issue a token first (or share the key between instances)")]
    NoKey,
    /// Forged, altered, or signed with a key that was rotated since.
    #[error("the token's signature does not match (forged, altered, or the team's channel key was rotated)")]
    BadSignature,
    /// Past its expiry.
    #[error("the token expired at {0}")]
    Expired(DateTime<Utc>),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClaims {
    /// The operator.
    pub user: UserId,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    u: String,
    exp: i64,
}

/// The secret-store name (and environment variable) of a team's channel key.
pub fn channel_key_name(team: &TeamId) -> String {
    team_secret_name(team, "CHANNEL_KEY")
}

fn signature(key: &[u8], signed: &str) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(signed.as_bytes());
    mac
}

/// A token for `user` of `team`, valid until `expires_at`, signed with `key`.
pub fn mint(key: &[u8], team: &TeamId, claims: &UserClaims) -> String {
    let payload = Payload { u: claims.user.as_str().to_owned(), exp: claims.expires_at.timestamp() };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
    let signed = format!("{USER_TOKEN_PREFIX}.{team}.{payload}");
    let tag = URL_SAFE_NO_PAD.encode(signature(key, &signed).finalize().into_bytes());
    format!("{signed}.{tag}")
}

/// The claims of a token of `team`, checked against `key` (in constant time) and `now`.
pub fn verify(key: Option<&[u8]>, team: &TeamId, token: &str, now: DateTime<Utc>) -> Result<UserClaims, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(prefix), Some(token_team), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if prefix != USER_TOKEN_PREFIX {
        return Err(TokenError::Malformed);
    }
    if token_team != team.as_str() {
        return Err(TokenError::OtherTeam);
    }
    let key = key.ok_or(TokenError::NoKey)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
    signature(key, &format!("{prefix}.{token_team}.{payload}"))
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    // Only a signed payload is parsed: what fails below was made by the key's holder.
    let payload: Payload = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    let user = UserId::new(&payload.u).map_err(|_| TokenError::Malformed)?;
    let expires_at = Utc.timestamp_opt(payload.exp, 0).single().ok_or(TokenError::Malformed)?;
    if expires_at <= now {
        return Err(TokenError::Expired(expires_at));
    }
    Ok(UserClaims { user, expires_at })
}

/// The claims of a token of `team`, checked against the team's current channel key.
pub fn verify_with_store(
    secrets: &SecretStore,
    team: &TeamId,
    token: &str,
    now: DateTime<Utc>,
) -> Result<UserClaims, TokenError> {
    let key = secrets.get(&channel_key_name(team));
    verify(key.as_ref().map(|k| k.expose().as_bytes()), team, token, now)
}

fn new_key() -> Result<Secret, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness for a channel key: {e}")))?;
    Ok(Secret::new(format!("sbck_{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// Writes a new channel key for `team`, replacing any previous one.
fn store_new_key(secrets: &SecretStore, team: &TeamId) -> Result<Secret, ApiError> {
    let key = new_key()?;
    secrets
        .put(&[(channel_key_name(team), key.clone())])
        .map_err(|e| ApiError::secret_not_stored("the channel key", e))?;
    Ok(key)
}

/// A request for a channel token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenRequest {
    /// The operator the token speaks for.
    pub user: UserParam,
    /// Seconds until it expires: 60 to 604800 (7 days); default 3600.
    pub ttl_seconds: Option<Count<MIN_TTL_SECONDS, MAX_TTL_SECONDS>>,
}

/// A channel token, for the page that talks to the WebSocket channel as `user`.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IssuedUserToken {
    /// Send it in the `hello` frame (the widget takes it from the `#token=` fragment).
    pub token: String,
    /// The operator.
    pub user: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

debug_redacting!(IssuedUserToken { user, expires_at } hiding { token });

/// The outcome of rotating the channel key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeyRotated {
    /// The secret-store name (and environment variable) the key is kept under.
    pub key_name: String,
    /// When it was rotated; every token issued before is refused from now on.
    pub rotated_at: DateTime<Utc>,
}

/// The channel token endpoints.
pub struct UserTokensApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Channel")]
impl UserTokensApi {
    /// Issue a channel token for an operator (needs the agent role).
    ///
    /// The team's back end calls this for its logged-in user and gives the token to the
    /// page; the page never sees a team key. The team's channel key is made on the first
    /// call.
    #[oai(path = "/teams/:team/channel/tokens", method = "post")]
    async fn issue(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<TokenRequest>,
    ) -> Result<Json<IssuedUserToken>, ApiError> {
        let (team, _, _) = self.state.existing_team(&key, &team, AccessRole::Agent).await?;
        let user = user_id(&body.user)?;
        let ttl = body.ttl_seconds.map_or(DEFAULT_TTL_SECONDS, Count::get);
        if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err(ApiError::bad_request(
                "bad_ttl",
                format!("ttl_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}"),
            ));
        }
        let secrets = self.state.onboarding.console.secrets();
        let channel_key = match secrets.get(&channel_key_name(&team)) {
            Some(existing) => existing,
            None => store_new_key(secrets, &team)?,
        };
        let now = Utc::now();
        // Whole seconds, as the token carries them.
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX); // at most MAX_TTL_SECONDS, checked above
        let expires_at = Utc.timestamp_opt(now.timestamp().saturating_add(ttl), 0).single().unwrap_or(now);
        let claims = UserClaims { user, expires_at };
        let token = mint(channel_key.expose().as_bytes(), &team, &claims);
        Ok(Json(IssuedUserToken { token, user: claims.user.as_str().to_owned(), expires_at }))
    }

    /// Rotate the team's channel key (team admins): every channel token issued so far
    /// stops working, and open connections using one are closed.
    #[oai(path = "/teams/:team/channel/key", method = "post")]
    async fn rotate(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<KeyRotated>, ApiError> {
        let (team, principal, _) = self.state.existing_team(&key, &team, AccessRole::Admin).await?;
        store_new_key(self.state.onboarding.console.secrets(), &team)?;
        tracing::info!(team = %team, by = %principal.actor(), "channel key rotated");
        Ok(Json(KeyRotated { key_name: channel_key_name(&team), rotated_at: Utc::now() }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn team() -> TeamId {
        TeamId::new("ops").unwrap()
    }

    fn claims(expires_at: DateTime<Utc>) -> UserClaims {
        UserClaims { user: UserId::new("lisi").unwrap(), expires_at }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let token = mint(b"key", &team(), &claims(at(2000)));
        assert!(token.starts_with("sbu.ops."));
        assert_eq!(verify(Some(b"key"), &team(), &token, at(1999)), Ok(claims(at(2000))));
        assert_eq!(verify(Some(b"key"), &team(), &token, at(2000)), Err(TokenError::Expired(at(2000))));
    }

    #[test]
    fn another_key_or_team_or_an_altered_payload_is_refused() {
        let token = mint(b"key", &team(), &claims(at(2000)));
        assert_eq!(verify(Some(b"other"), &team(), &token, at(1)), Err(TokenError::BadSignature));
        assert_eq!(verify(None, &team(), &token, at(1)), Err(TokenError::NoKey));
        assert_eq!(verify(Some(b"key"), &TeamId::new("games").unwrap(), &token, at(1)), Err(TokenError::OtherTeam));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"u":"admin","exp":2000}"#);
        let altered = format!("{}.{}.{}.{}", parts[0], parts[1], forged, parts[3]);
        assert_eq!(verify(Some(b"key"), &team(), &altered, at(1)), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for garbage in ["", "sbu", "sbu.ops", "sbu.ops.x", "sbk.ops.a.b", "sbu.ops.a.b.c", "sbu.ops.!!.??", "\u{0}"] {
            assert_eq!(verify(Some(b"key"), &team(), garbage, at(1)), Err(TokenError::Malformed), "{garbage:?}");
        }
    }
}
