//! Who is calling: access keys per team with a role, and global administrators.
//!
//! A team key's token is `sbk.<team>.<secret>`: the team part says which team stream holds
//! the key, the secret is 256 random bits. The log records only a SHA-256 digest of the
//! token (`AccessKeyIssued`), so neither the log nor a backup of it can be used to log in.
//! Global administrators' keys come from the configuration, also as digests or from an
//! environment variable, and are compared in constant time.

use base64::Engine as _;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_schemas::event::AccessRole;
use switchboard_schemas::{StaffId, TeamId};
use uuid::Uuid;

use crate::error::ApiError;

/// The first part of every team key's token.
pub const TOKEN_PREFIX: &str = "sbk";

/// The staff id recorded when the administrator whose key comes from the environment acts
/// on a session.
pub const ADMIN_ACTOR: &str = switchboard_engine::team::RESERVED_STAFF;

/// An access key: `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "sbk.<team>.<secret>")]
pub struct AccessKey(pub(crate) Bearer);

/// A freshly made token and its digest; the token is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token to hand to the person.
    pub token: String,
    /// Lower-case hex SHA-256 of the token, for `AccessKeyIssued`.
    pub digest: String,
}

debug_redacting!(IssuedToken { digest } hiding { token });

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system gave no random bytes for a new access key: {0}")]
pub struct NoRandomness(String);

/// Makes a new token for a key of `team`.
pub fn new_token(team: &TeamId) -> Result<IssuedToken, NoRandomness> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| NoRandomness(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}.{team}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    Ok(IssuedToken { digest: digest_hex(&token), token })
}

/// Lower-case hex SHA-256 of a token.
pub fn digest_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The team a team key's token belongs to, if it has the team key's shape.
pub fn team_of(token: &str) -> Option<TeamId> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?.strip_prefix('.')?;
    let (team, secret) = rest.split_once('.')?;
    (!secret.is_empty()).then_some(())?;
    TeamId::new(team).ok()
}

/// The global administrators' keys, as SHA-256 digests, each with the staff id recorded on
/// what that administrator does.
#[derive(Clone, Default)]
pub struct GlobalAdmins {
    admins: Vec<(StaffId, [u8; 32])>,
}

impl std::fmt::Debug for GlobalAdmins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GlobalAdmins({} keys)", self.admins.len())
    }
}

/// Why a configured administrator key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    /// A digest that is not 64 hex digits.
    #[error("administrator {0}: the key digest must be 64 hex digits (what `sha256sum` prints for the key)")]
    BadDigest(StaffId),
    /// A key too short to resist guessing.
    #[error("administrator {0}: the key must have at least 24 characters")]
    TooShort(StaffId),
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

impl GlobalAdmins {
    /// No administrators: only team keys work.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds an administrator known by the digest of their key (hex, as `sha256sum` prints it).
    pub fn with_digest(mut self, name: StaffId, hex: &str) -> Result<Self, AdminKeyError> {
        let digest = parse_digest(hex).ok_or_else(|| AdminKeyError::BadDigest(name.clone()))?;
        self.admins.push((name, digest));
        Ok(self)
    }

    /// Adds an administrator known by their key itself (read from the environment).
    pub fn with_key(mut self, name: StaffId, key: &str) -> Result<Self, AdminKeyError> {
        if key.chars().count() < 24 {
            return Err(AdminKeyError::TooShort(name));
        }
        self.admins.push((name, Sha256::digest(key.as_bytes()).into()));
        Ok(self)
    }

    /// How many administrator keys are configured.
    pub fn len(&self) -> usize {
        self.admins.len()
    }

    /// True when no administrator key is configured.
    pub fn is_empty(&self) -> bool {
        self.admins.is_empty()
    }

    /// The administrator whose key this is; every digest is compared in constant time.
    pub fn recognise(&self, token: &str) -> Option<StaffId> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, known) in &self.admins {
            if bool::from(known.ct_eq(&digest)) && found.is_none() {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// Who a request comes from, once its key is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A global administrator: every team, and onboarding new ones.
    Admin {
        /// Who acts.
        name: StaffId,
    },
    /// A key of one team.
    Member {
        /// The team.
        team: TeamId,
        /// The key.
        key_id: Uuid,
        /// What it allows.
        role: AccessRole,
        /// Who acts with it.
        staff: StaffId,
        /// What the key is for.
        label: String,
    },
}

impl Principal {
    /// The staff id recorded on what this principal does to a session.
    pub fn actor(&self) -> StaffId {
        match self {
            Principal::Member { staff, .. } => staff.clone(),
            Principal::Admin { name } => name.clone(),
        }
    }

    /// Refuses with 403 unless this principal may act with `role` in `team`.
    pub fn require(&self, team: &TeamId, role: AccessRole) -> Result<(), ApiError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Member { team: own, .. } if own != team => Err(ApiError::forbidden(
                "other_team",
                format!("this access key belongs to team {own}; it cannot be used for team {team}"),
            )),
            Principal::Member { role: held, .. } if *held < role => Err(ApiError::forbidden(
                "role_too_low",
                format!("this needs the {} role; the access key has {}", role.as_str(), held.as_str()),
            )),
            Principal::Member { .. } => Ok(()),
        }
    }

    /// Refuses with 403 unless this is a global administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Member { .. } => {
                Err(ApiError::forbidden("admin_only", "only a global administrator can do this"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_name_their_team_and_are_never_alike() {
        let team = TeamId::new("ops-cn_1").unwrap();
        let a = new_token(&team).unwrap();
        let b = new_token(&team).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(team_of(&a.token), Some(team));
        assert_eq!(a.digest, digest_hex(&a.token));
        assert_eq!(a.digest.len(), 64);
        assert!(a.token.len() > 40, "{}", a.token);
        for bad in ["sbk.ops", "sbk.ops.", "sbx.ops.abc", "sbk.bad team.abc", "Bearer x"] {
            assert_eq!(team_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn administrators_are_recognised_by_key_or_digest_only() {
        let (env, lead) = (StaffId::new(ADMIN_ACTOR).unwrap(), StaffId::new("ops-lead").unwrap());
        let key = "a-long-administrator-key-0123";
        let digest = digest_hex("another-administrator-key-456");
        let admins =
            GlobalAdmins::none().with_key(env.clone(), key).unwrap().with_digest(lead.clone(), &digest).unwrap();
        assert_eq!(admins.len(), 2);
        assert_eq!(admins.recognise(key), Some(env));
        assert_eq!(admins.recognise("another-administrator-key-456"), Some(lead.clone()));
        assert_eq!(admins.recognise("a-long-administrator-key-012"), None);
        assert_eq!(GlobalAdmins::none().recognise(key), None);
        assert!(matches!(GlobalAdmins::none().with_digest(lead.clone(), "abc"), Err(AdminKeyError::BadDigest(_))));
        assert!(matches!(GlobalAdmins::none().with_key(lead, "short"), Err(AdminKeyError::TooShort(_))));
        assert!(!format!("{admins:?}").contains(&digest[..8]), "digests stay out of logs");
    }

    #[test]
    fn members_act_in_their_own_team_up_to_their_role() {
        let ops = TeamId::new("ops").unwrap();
        let games = TeamId::new("games").unwrap();
        let agent = Principal::Member {
            team: ops.clone(),
            key_id: Uuid::nil(),
            role: AccessRole::Agent,
            staff: StaffId::new("wang").unwrap(),
            label: "laptop".into(),
        };
        assert!(agent.require(&ops, AccessRole::Viewer).is_ok());
        assert!(agent.require(&ops, AccessRole::Agent).is_ok());
        assert!(agent.require(&ops, AccessRole::Admin).is_err());
        assert!(agent.require(&games, AccessRole::Viewer).is_err());
        assert!(agent.require_admin().is_err());
        let admin = Principal::Admin { name: StaffId::new("ops-lead").unwrap() };
        assert!(admin.require(&games, AccessRole::Admin).is_ok());
        assert!(admin.require_admin().is_ok());
        assert_eq!(agent.actor().as_str(), "wang");
        assert_eq!(admin.actor().as_str(), "ops-lead");
    }
}
