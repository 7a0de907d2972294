//! Per-team WeCom application settings and the registry the callback endpoint looks teams
//! up in. Secrets stay out of `Debug` output; the application secret is never held at all,
//! only the name of where to find it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use switchboard_schemas::TeamId;
use switchboard_secret::Secret;

use crate::crypto::{CryptoError, WecomCrypto};

/// What a menu click or template-card button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Hand the session to a person (`Command::RequestHuman`).
    RequestHuman,
    /// Close the session (`Command::CloseByOperator`).
    Close,
    /// Feedback "resolved" (`Command::GiveFeedback { resolved: true }`).
    Resolved,
    /// Feedback "not resolved" (`Command::GiveFeedback { resolved: false }`).
    NotResolved,
    /// A group chat with the on-call engineers (`Command::RequestGroupChat`).
    GroupChat,
    /// An engineer marks themselves away: routing passes them over
    /// (`TeamCommand::SetAvailability { away: true }`).
    Away,
    /// An engineer is back (`TeamCommand::SetAvailability { away: false }`).
    Back,
}

fn default_menu_keys() -> BTreeMap<String, Action> {
    BTreeMap::from([
        ("human".to_owned(), Action::RequestHuman),
        ("close".to_owned(), Action::Close),
        ("group_chat".to_owned(), Action::GroupChat),
        ("away".to_owned(), Action::Away),
        ("back".to_owned(), Action::Back),
    ])
}

/// WeCom's API address.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com/cgi-bin";

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

fn default_card_keys() -> BTreeMap<String, Action> {
    BTreeMap::from([("resolved".to_owned(), Action::Resolved), ("not_resolved".to_owned(), Action::NotResolved)])
}

/// One team's WeCom application, as written in the configuration (serialisable so it can sit
/// in a configuration with defaults; its secrets serialise redacted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WecomApp {
    /// The enterprise's CorpID (also the receive id of an internal application).
    pub corp_id: String,
    /// The application's AgentId.
    pub agent_id: u64,
    /// The callback Token (1..=32 letters or digits).
    pub token: Secret,
    /// The callback EncodingAESKey (43 characters).
    pub encoding_aes_key: Secret,
    /// The NAME of the environment variable or configuration key holding the application
    /// secret — never the secret itself, so configurations can be shared and logged.
    pub secret_ref: String,
    /// The receive id decrypted callbacks must carry; the CorpID when absent (a third-party
    /// application uses its suite id).
    #[serde(default)]
    pub receive_id: Option<String>,
    /// Menu item keys (`click` events) and what they ask for.
    #[serde(default = "default_menu_keys")]
    pub menu_keys: BTreeMap<String, Action>,
    /// Template-card button keys (`template_card_event`) and what they ask for.
    #[serde(default = "default_card_keys")]
    pub card_keys: BTreeMap<String, Action>,
    /// The API address (`…/cgi-bin`); WeCom's own by default, the simulator's in tests and
    /// `switchboard simulate`.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Where the admin console is reachable, for the conversation link sent into group
    /// chats; no link without it.
    #[serde(default)]
    pub console_url: Option<String>,
    /// Sent when an operator opens the application outside a session; none for silence.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Test environments whose callbacks a forwarding instance may flag
    /// (`switchboard forward --department <name>`); each one's data lives in its own team,
    /// `<team>-<name>`, which must be configured too.
    #[serde(default)]
    pub departments: Vec<String>,
}

/// Why an application's settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The token or key is malformed.
    #[error("team {team}: {source}")]
    Crypto {
        /// The team.
        team: TeamId,
        /// What is wrong.
        #[source]
        source: CryptoError,
    },
    /// A required value is empty or malformed.
    #[error("team {team}: {field} {problem}")]
    Invalid {
        /// The team.
        team: TeamId,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl WecomApp {
    /// An application with the default menu and card keys.
    pub fn new(
        corp_id: impl Into<String>,
        agent_id: u64,
        token: Secret,
        encoding_aes_key: Secret,
        secret_ref: impl Into<String>,
    ) -> Self {
        Self {
            corp_id: corp_id.into(),
            agent_id,
            token,
            encoding_aes_key,
            secret_ref: secret_ref.into(),
            receive_id: None,
            menu_keys: default_menu_keys(),
            card_keys: default_card_keys(),
            api_base: default_api_base(),
            console_url: None,
            greeting: None,
            departments: Vec::new(),
        }
    }

    /// The card button key for an action (the first configured one), to put on answers.
    pub fn card_key(&self, action: Action) -> Option<&str> {
        self.card_keys.iter().find(|(_, a)| **a == action).map(|(k, _)| k.as_str())
    }

    /// The receive id callbacks must carry.
    pub fn receive_id(&self) -> &str {
        self.receive_id.as_deref().unwrap_or(&self.corp_id)
    }

    /// Checks the settings and builds the application's crypto.
    pub fn crypto(&self, team: &TeamId) -> Result<WecomCrypto, ConfigError> {
        let invalid = |field, problem| ConfigError::Invalid { team: team.clone(), field, problem };
        if self.corp_id.trim().is_empty() {
            return Err(invalid("corp_id", "must not be empty"));
        }
        let name_ok = |s: &str| {
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        };
        if !name_ok(&self.secret_ref) {
            return Err(invalid("secret_ref", "must name an environment variable or key ([A-Za-z0-9_.-], 1..=128)"));
        }
        WecomCrypto::new(self.token.expose(), self.encoding_aes_key.expose(), self.receive_id())
            .map_err(|source| ConfigError::Crypto { team: team.clone(), source })
    }
}

/// A configured application with its crypto ready.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The settings.
    pub app: WecomApp,
    /// Its crypto.
    pub crypto: WecomCrypto,
}

/// The teams served by the callback endpoint: team id → application. The configured ones
/// are validated at start-up so a malformed key is found then, not on the first callback;
/// applications set up from the console join and leave while running ([`WecomApps::set`]).
/// Deserialises from a map of team id to [`WecomApp`], validating every entry.
#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "BTreeMap<TeamId, WecomApp>")]
pub struct WecomApps {
    apps: RwLock<HashMap<TeamId, Arc<Registered>>>,
}

impl WecomApps {
    /// Validates every application and builds the registry.
    pub fn new(apps: impl IntoIterator<Item = (TeamId, WecomApp)>) -> Result<Self, ConfigError> {
        let mut registry = HashMap::new();
        for (team, app) in apps {
            let crypto = app.crypto(&team)?;
            registry.insert(team, Arc::new(Registered { app, crypto }));
        }
        Ok(Self { apps: RwLock::new(registry) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TeamId, Arc<Registered>>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The application of a team, if it has one.
    pub fn get(&self, team: &TeamId) -> Option<Arc<Registered>> {
        self.read().get(team).cloned()
    }

    /// Serves a team's application from now on (validated first), or with `None` stops
    /// serving the team.
    pub fn set(&self, team: &TeamId, app: Option<WecomApp>) -> Result<(), ConfigError> {
        let registered =
            app.map(|app| app.crypto(team).map(|crypto| Arc::new(Registered { app, crypto }))).transpose()?;
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        match registered {
            Some(registered) => apps.insert(team.clone(), registered),
            None => apps.remove(team),
        };
        Ok(())
    }

    /// The teams served, sorted.
    pub fn teams(&self) -> Vec<TeamId> {
        let mut teams: Vec<TeamId> = self.read().keys().cloned().collect();
        teams.sort();
        teams
    }

    /// How many teams are served.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no team is served.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
}

impl TryFrom<BTreeMap<TeamId, WecomApp>> for WecomApps {
    type Error = ConfigError;
    fn try_from(map: BTreeMap<TeamId, WecomApp>) -> Result<Self, ConfigError> {
        Self::new(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    #[test]
    fn an_application_deserialises_with_defaults_and_redacts_its_secrets() {
        let json = serde_json::json!({
            "corp_id": "ww1", "agent_id": 1000002, "token": "QDG6eK",
            "encoding_aes_key": KEY, "secret_ref": "WECOM_OPS_SECRET"
        });
        let app: WecomApp = serde_json::from_value(json).unwrap();
        assert_eq!(app.menu_keys.get("human"), Some(&Action::RequestHuman));
        assert_eq!(app.card_keys.get("not_resolved"), Some(&Action::NotResolved));
        assert_eq!(app.receive_id(), "ww1");
        let shown = format!("{app:?}");
        assert!(!shown.contains("QDG6eK") && !shown.contains(KEY), "{shown}");
        let written = serde_json::to_string(&app).unwrap();
        assert!(
            !written.contains("QDG6eK") && !written.contains(KEY) && written.contains(switchboard_secret::REDACTED),
            "{written}"
        );
        let reread: WecomApp = serde_json::from_str(&written).unwrap();
        assert!(reread.crypto(&TeamId::new("ops").unwrap()).is_err(), "a redacted secret is not usable");
        let team = TeamId::new("ops").unwrap();
        let apps = WecomApps::new([(team.clone(), app)]).unwrap();
        assert!(apps.get(&team).is_some());
        assert_eq!(apps.teams(), vec![team]);
        let registry = serde_json::json!({
            "ops": {"corp_id": "ww1", "agent_id": 1, "token": "t", "encoding_aes_key": KEY, "secret_ref": "S",
                    "menu_keys": {"staff": "request_human", "bye": "close"}},
            "sales": {"corp_id": "ww2", "agent_id": 2, "token": "t", "encoding_aes_key": KEY, "secret_ref": "S2"}
        });
        let apps: WecomApps = serde_json::from_value(registry).unwrap();
        assert_eq!(apps.len(), 2);
        let ops = apps.get(&TeamId::new("ops").unwrap()).unwrap();
        assert_eq!(ops.app.menu_keys.get("bye"), Some(&Action::Close));
        assert!(!ops.app.menu_keys.contains_key("human"), "configured keys replace the defaults");
        let bad = serde_json::json!({"ops": {"corp_id": "ww1", "agent_id": 1, "token": "t",
                                              "encoding_aes_key": "short", "secret_ref": "S"}});
        assert!(serde_json::from_value::<WecomApps>(bad).is_err(), "a bad key fails at load time");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let unknown = serde_json::json!({
            "corp_id": "ww1", "agent_id": 1, "token": "t", "encoding_aes_key": KEY,
            "secret_ref": "S", "secret": "oops"
        });
        assert!(serde_json::from_value::<WecomApp>(unknown).is_err());
        let team = TeamId::new("ops").unwrap();
        let bad_key = WecomApp::new("ww1", 1, Secret::new("tok"), Secret::new("short"), "S");
        assert!(matches!(WecomApps::new([(team.clone(), bad_key)]), Err(ConfigError::Crypto { .. })));
        let bad_ref = WecomApp::new("ww1", 1, Secret::new("tok"), Secret::new(KEY), "not a name");
        assert!(matches!(WecomApps::new([(team, bad_ref)]), Err(ConfigError::Invalid { field: "secret_ref", .. })));
    }
}
