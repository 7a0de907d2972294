//! WeCom applications set up from the console: the team stream records the application
//! (`WecomConfigured`) with references to its secrets; the secrets themselves live in the
//! environment or in the instance's secret file, never in the log.
//!
//! [`ConsoleApps`] keeps the callback registry and the API client in step with what the
//! team streams say. Applications from the configuration file win over the console's: a
//! team configured there is left alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use switchboard_schemas::event::WecomSettings;
use switchboard_schemas::TeamId;

use crate::config::{ConfigError, DEFAULT_API_BASE};
use crate::{WecomApp, WecomApps, WecomClient};
use switchboard_secret::Secret;

/// Why a console-made application cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A secret the application names is in neither the environment nor the secret file.
    #[error("the secret {0} is not set on this instance (neither as an environment variable nor in its secret file); enter it again in the console or set the variable")]
    SecretMissing(String),
    /// The application's settings or secrets cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The secret is set as an environment variable, which wins over the file: writing the
    /// file would change nothing.
    #[error("the secret {0} comes from this instance's environment, which the console cannot change; set the new value in the environment variable {0} and restart, or unset it to manage the secret here")]
    FromEnvironment(String),
    /// The secret file cannot be read or written.
    #[error("secret file {path}: {detail}")]
    SecretFile {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Secrets by name: the environment first, then a JSON file of this instance (written with
/// owner-only permissions, replaced atomically).
pub struct SecretStore {
    path: PathBuf,
    values: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SecretStore {
    /// The store backed by `path` (created on the first write).
    pub fn open(path: &Path) -> Result<Self, SetupError> {
        let fail = |detail: String| SetupError::SecretFile { path: path.display().to_string(), detail };
        let values = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a JSON object of strings: {e}")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(fail(e.to_string())),
        };
        Ok(Self { path: path.to_owned(), values: Mutex::new(values) })
    }

    /// A secret's value: the environment variable of that name, else the file's entry.
    pub fn get(&self, name: &str) -> Option<Secret> {
        if let Ok(value) = std::env::var(name) {
            return Some(Secret::new(value));
        }
        self.values.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned().map(Secret::new)
    }

    /// Whether [`put`](Self::put) could write all of `names`: refused for the first one set
    /// in the environment, so a caller can check before recording anything else.
    pub fn ensure_writable<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), SetupError> {
        match names.into_iter().find(|name| std::env::var_os(name).is_some()) {
            Some(name) => Err(SetupError::FromEnvironment(name.to_owned())),
            None => Ok(()),
        }
    }

    /// Writes secrets into the file (replacing same-named ones) and makes them available.
    /// Refused, with nothing written, when one of them is set in the environment (which
    /// would keep winning). The file is replaced atomically: written under a fresh name
    /// that must not exist yet (so no planted file or link is written through), synced, renamed
    /// over the old one, and the directory synced so the rename survives a crash.
    pub fn put(&self, entries: &[(String, Secret)]) -> Result<(), SetupError> {
        Self::ensure_writable(entries.iter().map(|(name, _)| name.as_str()))?;
        let fail = |detail: String| SetupError::SecretFile { path: self.path.display().to_string(), detail };
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = values.clone();
        for (name, secret) in entries {
            next.insert(name.clone(), secret.expose().to_owned());
        }
        let text = serde_json::to_vec_pretty(&next).map_err(|e| fail(e.to_string()))?;
        replace_file(&self.path, &text).map_err(|e| fail(e.to_string()))?;
        *values = next;
        Ok(())
    }
}

/// Replaces `path` with `bytes`, owner-only, atomically and durably.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // O_CREAT|O_EXCL: fails on any existing file, a symbolic link included, never follows one.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The secret-store name (and environment variable) of one of a team's secrets:
/// `SWITCHBOARD_TEAM_<TEAM>_<WHAT>`. Different teams never share a name, or one team's admin
/// could overwrite another's secrets. A team id of lower-case letters, digits and inner
/// single '-' (the usual kind) is written upper-cased with '-' as '_' (`ops-cn` →
/// `OPS_CN`); any other id (upper case, '_', leading, trailing or doubled '-') as `_` and
/// its bytes in hex (`ops_cn` → `_6F70735F636E`), which the first kind never starts with.
pub fn team_secret_name(team: &TeamId, what: &str) -> String {
    let id = team.as_str();
    let plain = id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--");
    let stem: String = if plain {
        id.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }).collect()
    } else {
        std::iter::once("_".to_owned()).chain(id.bytes().map(|b| format!("{b:02X}"))).collect()
    };
    format!("SWITCHBOARD_TEAM_{stem}_{what}")
}

/// The names a team's console-made secrets are kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretNames {
    /// The callback Token.
    pub token: String,
    /// The EncodingAESKey.
    pub encoding_aes_key: String,
    /// The application secret.
    pub secret: String,
}

impl SecretNames {
    /// `SWITCHBOARD_TEAM_<TEAM>_WECOM_{TOKEN,AES_KEY,SECRET}`, so the same names also work as
    /// environment variables on instances without the file.
    pub fn for_team(team: &TeamId) -> Self {
        let name = |what: &str| team_secret_name(team, &format!("WECOM_{what}"));
        Self { token: name("TOKEN"), encoding_aes_key: name("AES_KEY"), secret: name("SECRET") }
    }
}

/// A console-made application with its secrets resolved: the application (for callbacks)
/// and its secret (for sending), when available.
pub fn resolve(settings: &WecomSettings, secrets: &SecretStore) -> Result<(WecomApp, Option<Secret>), SetupError> {
    let need = |name: &str| secrets.get(name).ok_or_else(|| SetupError::SecretMissing(name.to_owned()));
    let mut app = WecomApp::new(
        settings.corp_id.clone(),
        settings.agent_id,
        need(&settings.token_ref)?,
        need(&settings.encoding_aes_key_ref)?,
        settings.secret_ref.clone(),
    );
    app.receive_id = settings.receive_id.clone();
    app.api_base = settings.api_base.clone().unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
    app.console_url = settings.console_url.clone();
    app.greeting = settings.greeting.clone();
    Ok((app, secrets.get(&settings.secret_ref)))
}

/// Where a team's WeCom application comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configuration file (the console shows it, and cannot change it).
    Configuration,
    /// The console (the team stream).
    Console,
    /// Nowhere: the team has none.
    None,
}

/// What this instance does with a team's application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// Where it comes from.
    pub source: Source,
    /// Callbacks are accepted.
    pub receiving: bool,
    /// Messages can be sent (the application secret is available).
    pub sending: bool,
    /// Why not, when it is set up but not fully served.
    pub problem: Option<String>,
}

/// Keeps the callback registry and the API client in step with the team streams.
pub struct ConsoleApps {
    apps: Arc<WecomApps>,
    client: Arc<WecomClient>,
    secrets: Arc<SecretStore>,
    configured: HashSet<TeamId>,
    applied: Mutex<HashMap<TeamId, (Option<WecomSettings>, Serving)>>,
}

impl ConsoleApps {
    /// Over the registry and client serving the configured teams (`configured`, never
    /// changed from here).
    pub fn new(
        apps: Arc<WecomApps>,
        client: Arc<WecomClient>,
        secrets: Arc<SecretStore>,
        configured: impl IntoIterator<Item = TeamId>,
    ) -> Self {
        Self { apps, client, secrets, configured: configured.into_iter().collect(), applied: Mutex::default() }
    }

    /// The secret store console-made secrets go to.
    pub fn secrets(&self) -> &Arc<SecretStore> {
        &self.secrets
    }

    /// The callback registry.
    pub fn apps(&self) -> &Arc<WecomApps> {
        &self.apps
    }

    /// Serves a team as its stream says (`wecom`), unless nothing changed since the last
    /// call or the team is configured in the file; `force` applies it again (after its
    /// secrets changed).
    pub fn sync(&self, team: &TeamId, wecom: Option<&WecomSettings>, force: bool) -> Serving {
        if self.configured.contains(team) {
            let sending = self.client.serves(team);
            let problem = (!sending).then(|| "no application secret in the environment".to_owned());
            return Serving { source: Source::Configuration, receiving: true, sending, problem };
        }
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((settings, serving)) = applied.get(team) {
            if !force && settings.as_ref() == wecom {
                return serving.clone();
            }
        }
        let serving = match wecom {
            None => {
                self.stop(team);
                Serving { source: Source::None, receiving: false, sending: false, problem: None }
            }
            Some(settings) => match self.start(team, settings) {
                Ok(serving) => serving,
                Err(e) => {
                    self.stop(team);
                    tracing::warn!(%team, error = %e, "the team's WeCom application cannot be served");
                    Serving { source: Source::Console, receiving: false, sending: false, problem: Some(e.to_string()) }
                }
            },
        };
        applied.insert(team.clone(), (wecom.cloned(), serving.clone()));
        serving
    }

    fn start(&self, team: &TeamId, settings: &WecomSettings) -> Result<Serving, SetupError> {
        let (app, secret) = resolve(settings, &self.secrets)?;
        self.apps.set(team, Some(app.clone()))?;
        let sending = secret.is_some();
        match secret {
            Some(secret) => self.client.set(team, Some((app, secret))),
            None => self.client.set(team, None),
        }
        let problem = (!sending).then(|| SetupError::SecretMissing(settings.secret_ref.clone()).to_string());
        tracing::info!(%team, sending, "serving the team's WeCom application set up in the console");
        Ok(Serving { source: Source::Console, receiving: true, sending, problem })
    }

    fn stop(&self, team: &TeamId) {
        // Removing an application that is not there cannot fail.
        let _ = self.apps.set(team, None);
        self.client.set(team, None);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::RetryPolicy;
    use switchboard_outbound::OutboundPolicy;

    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    fn settings(team: &TeamId) -> WecomSettings {
        let names = SecretNames::for_team(team);
        WecomSettings {
            corp_id: "ww1".into(),
            agent_id: 1_000_002,
            receive_id: None,
            token_ref: names.token,
            encoding_aes_key_ref: names.encoding_aes_key,
            secret_ref: names.secret,
            api_base: Some("http://127.0.0.1:9/cgi-bin".into()),
            console_url: None,
            greeting: None,
        }
    }

    #[test]
    fn secrets_are_kept_owner_only_and_read_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let store = SecretStore::open(&path).unwrap();
        assert!(store.get("SWITCHBOARD_TEST_NOT_SET").is_none());
        store.put(&[("A".into(), Secret::new("alpha")), ("B".into(), Secret::new("beta"))]).unwrap();
        store.put(&[("A".into(), Secret::new("again"))]).unwrap();
        let reopened = SecretStore::open(&path).unwrap();
        assert_eq!(reopened.get("A").unwrap().expose(), "again");
        assert_eq!(reopened.get("B").unwrap().expose(), "beta");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "[1, 2]").unwrap();
        assert!(matches!(SecretStore::open(&path), Err(SetupError::SecretFile { .. })), "a damaged file is an error");
    }

    #[test]
    fn names_fit_environment_variables() {
        let names = SecretNames::for_team(&TeamId::new("ops-cn").unwrap());
        assert_eq!(names.token, "SWITCHBOARD_TEAM_OPS_CN_WECOM_TOKEN");
        assert!(switchboard_engine::team::is_secret_ref(&names.secret));
        let odd = SecretNames::for_team(&TeamId::new("ops_cn").unwrap());
        assert_eq!(odd.token, "SWITCHBOARD_TEAM__6F70735F636E_WECOM_TOKEN");
        assert!(switchboard_engine::team::is_secret_ref(&odd.secret));
    }

    #[test]
    fn teams_whose_ids_differ_never_share_a_secret_name() {
        let ids = ["ops", "OPS", "Ops", "ops-cn", "ops_cn", "OPS_CN", "ops--cn", "-ops", "ops-", "_6f7073", "x6f7073"];
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            let team = TeamId::new(id).unwrap();
            for what in ["WECOM_TOKEN", "WECOM_AES_KEY", "WECOM_SECRET", "CHANNEL_KEY"] {
                let name = team_secret_name(&team, what);
                assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'), "{name}");
                if let Some(other) = seen.insert(name.clone(), id) {
                    panic!("{id} and {other} share {name}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn secret_names_are_one_to_one(a in "[a-zA-Z0-9_-]{1,12}", b in "[a-zA-Z0-9_-]{1,12}") {
            proptest::prop_assume!(a != b);
            let (a, b) = (TeamId::new(a).unwrap(), TeamId::new(b).unwrap());
            proptest::prop_assert_ne!(team_secret_name(&a, "WECOM_TOKEN"), team_secret_name(&b, "WECOM_TOKEN"));
        }
    }

    #[test]
    fn the_file_is_never_written_through_a_planted_link_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "untouched").unwrap();
        // The old fixed temporary name, planted as a link.
        std::os::unix::fs::symlink(&target, dir.path().join("secrets.tmp")).unwrap();
        let store = SecretStore::open(&path).unwrap();
        store.put(&[("A".into(), Secret::new("alpha"))]).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp") || n == "secrets.tmp"), "{names:?}");
    }

    #[test]
    fn a_secret_set_in_the_environment_is_not_overwritten_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(&dir.path().join("secrets.json")).unwrap();
        // PATH is set in every test process; nothing else here reads it as a secret.
        let refused = store.put(&[("A".into(), Secret::new("a")), ("PATH".into(), Secret::new("x"))]);
        assert!(matches!(&refused, Err(SetupError::FromEnvironment(name)) if name == "PATH"), "{refused:?}");
        assert!(refused.unwrap_err().to_string().contains("restart"));
        assert!(store.get("A").is_none(), "nothing written");
        assert!(!dir.path().join("secrets.json").exists());
    }

    #[test]
    fn console_apps_follow_the_stream_and_leave_configured_teams_alone() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(SecretStore::open(&dir.path().join("secrets.json")).unwrap());
        let (team, fixed) = (TeamId::new("ops").unwrap(), TeamId::new("fixed").unwrap());
        let configured = WecomApp::new("ww9", 9, Secret::new("tok"), Secret::new(KEY), "FIXED_SECRET");
        let apps = Arc::new(WecomApps::new([(fixed.clone(), configured)]).unwrap());
        let client = Arc::new(WecomClient::new([], RetryPolicy::default(), OutboundPolicy::public_only()).unwrap());
        let console = ConsoleApps::new(apps.clone(), client.clone(), secrets.clone(), [fixed.clone()]);
        let wecom = settings(&team);
        // Set up, but its secrets are not on this instance yet.
        let serving = console.sync(&team, Some(&wecom), false);
        assert!(!serving.receiving && serving.problem.unwrap().contains("SWITCHBOARD_TEAM_OPS_WECOM_TOKEN"));
        assert!(apps.get(&team).is_none());
        let names = SecretNames::for_team(&team);
        secrets.put(&[(names.token, Secret::new("QDG6eK")), (names.encoding_aes_key, Secret::new(KEY))]).unwrap();
        assert!(!console.sync(&team, Some(&wecom), false).receiving, "unchanged settings are not re-applied");
        let serving = console.sync(&team, Some(&wecom), true);
        assert!(serving.receiving && !serving.sending, "{serving:?}");
        assert_eq!(apps.get(&team).unwrap().app.corp_id, "ww1");
        secrets.put(&[(names.secret, Secret::new("app-secret"))]).unwrap();
        assert!(console.sync(&team, Some(&wecom), true).sending);
        assert!(client.serves(&team));
        let removed = console.sync(&team, None, false);
        assert_eq!(removed.source, Source::None);
        assert!(apps.get(&team).is_none() && !client.serves(&team));
        let kept = console.sync(&fixed, None, false);
        assert_eq!(kept.source, Source::Configuration);
        assert!(apps.get(&fixed).is_some(), "a configured team is never changed from the console");
    }
}
