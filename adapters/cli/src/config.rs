//! Configuration: defaults, then a TOML file, then `SWITCHBOARD_*` environment variables,
//! then command-line flags. Loaded and validated once, here; libraries never read the
//! environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use switchboard_embedded::SqliteOptions;
use switchboard_jetstream::JetStreamOptions;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_search::Fusion;

/// Everything `switchboard` can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// The event log backend.
    pub store: StoreConfig,
    /// Where the read models (session list, statistics, FAQ candidates) live.
    pub read_models: ReadModelConfig,
    /// HTTP limits and the public address.
    pub http: HttpConfig,
    /// Who may use the API and the console besides team access keys.
    pub auth: AuthConfig,
    /// The asynchronous core.
    pub core: CoreSettings,
    /// How questions are matched to FAQs.
    pub matching: MatchingConfig,
    /// Logging.
    pub log: LogConfig,
    /// How webhook deliveries are sent and retried.
    pub webhooks: WebhookConfig,
    /// Generative answers (off by default).
    pub generative: GenerativeConfig,
    /// Where outbound requests may go besides public addresses.
    pub outbound: OutboundConfig,
    /// Teams onboarded by configuration, by team id.
    pub teams: BTreeMap<String, TeamConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            store: StoreConfig::default(),
            read_models: ReadModelConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            core: CoreSettings::default(),
            matching: MatchingConfig::default(),
            log: LogConfig::default(),
            webhooks: WebhookConfig::default(),
            generative: GenerativeConfig::default(),
            outbound: OutboundConfig::default(),
            teams: BTreeMap::new(),
        }
    }
}

/// The event log backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Which backend.
    pub kind: StoreKind,
    /// Options of the embedded store.
    pub embedded: SqliteOptions,
    /// The NATS server(s) to connect to with `kind = "nats"`, comma-separated.
    pub nats_url: String,
    /// The JetStream stream's settings with `kind = "nats"`.
    pub jetstream: JetStreamOptions,
    /// The EventStoreDB / KurrentDB server with `kind = "eventstore"`
    /// (`esdb://host:2113?tls=false`, or `esdb+discover://…` for a cluster).
    pub eventstore_url: String,
    /// The prefix of Switchboard's stream names on EventStoreDB (`<prefix>.<team>.…`).
    pub eventstore_prefix: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::default(),
            embedded: SqliteOptions::default(),
            nats_url: "nats://127.0.0.1:4222".into(),
            jetstream: JetStreamOptions::default(),
            eventstore_url: "esdb://127.0.0.1:2113?tls=false".into(),
            eventstore_prefix: "sb".into(),
        }
    }
}

/// The event log backends this build can use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// SQLite in the data directory; no server needed.
    #[default]
    Embedded,
    /// NATS JetStream: several instances share one log.
    Nats,
    /// EventStoreDB / KurrentDB.
    Eventstore,
}

/// Where the read models live.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadModelConfig {
    /// Which backend.
    pub kind: ReadModelKind,
    /// PostgreSQL connection string (`host=.. port=.. user=.. dbname=..` or a
    /// `postgres://` URL); required with `kind = "postgres"`.
    pub url: Option<String>,
    /// PostgreSQL schema holding the tables (created if missing), so several deployments can
    /// share one database; the connection's default when absent.
    pub schema: Option<String>,
}

/// The read-model backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadModelKind {
    /// `readmodels.sqlite` in the data directory; for one instance.
    #[default]
    Embedded,
    /// A PostgreSQL database shared by several instances.
    Postgres,
}

/// HTTP limits and the public address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Larger FAQ files (console upload, `…/faqs/import`) are refused with 413.
    pub max_upload_bytes: usize,
    /// How long sending a message waits for the reply.
    #[serde(with = "humantime_serde")]
    pub reply_wait: Duration,
    /// Where WeCom and people reach this deployment (`https://switchboard.example.com`): the
    /// base of the callback URLs the console shows. This instance's address when absent.
    pub public_url: Option<String>,
    /// Open WebSocket channel connections one instance admits; more are refused with 503.
    pub channel_max_connections: usize,
    /// The largest frame a WebSocket channel client may send (its connection is closed
    /// with 1009 otherwise).
    pub channel_max_frame_bytes: usize,
    /// Open channel connections one operator may have; one more is closed with 4429.
    pub channel_max_per_user: usize,
    /// Open channel connections one channel token may have; one more is closed with 4429.
    pub channel_max_per_token: usize,
    /// A channel connection silent this long is closed with 4410 (the widget pings every 25 s).
    #[serde(with = "humantime_serde")]
    pub channel_idle_timeout: Duration,
    /// Open HTTP connections one instance admits, WebSockets included; one more is answered
    /// 503 and closed, so a flood cannot exhaust file descriptors.
    pub max_connections: usize,
    /// How long a client may take to send one whole request, from its first byte; slower
    /// connections are closed (slowloris). WebSockets are exempt once open.
    #[serde(with = "humantime_serde")]
    pub request_deadline: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let limits = switchboard_http::HttpLimits::default();
        let connections = switchboard_http::guard::ConnectionLimits::default();
        Self {
            max_body_bytes: limits.max_body_bytes,
            max_upload_bytes: limits.max_upload_bytes,
            reply_wait: limits.reply_wait,
            public_url: None,
            channel_max_connections: limits.channel_max_connections,
            channel_max_frame_bytes: limits.channel_max_frame_bytes,
            channel_max_per_user: limits.channel_max_per_user,
            channel_max_per_token: limits.channel_max_per_token,
            channel_idle_timeout: limits.channel_idle_timeout,
            max_connections: connections.max_connections,
            request_deadline: connections.request_deadline,
        }
    }
}

/// How webhook deliveries are sent and retried (endpoints are registered per team, in the
/// console or the API). The instance running the `projector` role sends them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// How long an endpoint may take to answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a delivery is given up (it can be replayed from the console).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    #[serde(with = "humantime_serde")]
    pub first_retry: Duration,
    /// The longest wait between attempts.
    #[serde(with = "humantime_serde")]
    pub max_retry: Duration,
    /// Deliveries in flight at once.
    pub concurrency: u32,
}

/// Generative answers: a model behind an OpenAI-compatible chat API rewords confident FAQ
/// answers for the question asked. Off unless `enabled`; never asked about a question
/// Switchboard is unsure of; the FAQ's own words are sent when it fails, is slower than
/// `timeout` or strays from the FAQ.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerativeConfig {
    /// Whether to use it at all.
    pub enabled: bool,
    /// The API base (`/chat/completions` is appended).
    pub base_url: String,
    /// The model.
    pub model: String,
    /// The NAME of the environment variable holding the API key (none needed for a local
    /// service that takes no key).
    pub api_key_env: String,
    /// The longest an answer waits for the model before the FAQ's own words are sent.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Sampling temperature.
    pub temperature: f32,
    /// The most tokens a reply may use.
    pub max_tokens: u32,
    /// Longer replies are not sent.
    pub max_output_chars: usize,
    /// The teams that use it; empty for every team.
    pub teams: Vec<String>,
}

impl Default for GenerativeConfig {
    fn default() -> Self {
        let defaults = switchboard_generative::OpenAiConfig::default();
        Self {
            enabled: false,
            base_url: defaults.base_url,
            model: defaults.model,
            api_key_env: "OPENAI_API_KEY".into(),
            timeout: Duration::from_secs(3),
            temperature: defaults.temperature,
            max_tokens: defaults.max_tokens,
            max_output_chars: defaults.max_output_chars,
            teams: Vec::new(),
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let defaults = switchboard_webhooks::SenderOptions::default();
        Self {
            timeout: defaults.timeout,
            max_attempts: defaults.max_attempts,
            first_retry: defaults.first_retry,
            max_retry: defaults.max_retry,
            concurrency: defaults.concurrency,
        }
    }
}

impl WebhookConfig {
    /// The sender's options, sending only where `outbound` allows.
    pub fn sender_options(
        &self,
        outbound: switchboard_outbound::OutboundPolicy,
    ) -> Result<switchboard_webhooks::SenderOptions> {
        anyhow::ensure!(self.max_attempts >= 1, "webhooks.max_attempts must be at least 1");
        anyhow::ensure!(self.concurrency >= 1, "webhooks.concurrency must be at least 1");
        anyhow::ensure!(!self.timeout.is_zero(), "webhooks.timeout must be longer than 0 s");
        Ok(switchboard_webhooks::SenderOptions {
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            first_retry: self.first_retry,
            max_retry: self.max_retry.max(self.first_retry),
            concurrency: self.concurrency,
            outbound,
            ..switchboard_webhooks::SenderOptions::default()
        })
    }
}

/// Where outbound requests (webhooks, the WeCom API, the generative model) may go. Public
/// addresses always; loopback, private, link-local, shared and other special ranges only
/// when the instance's operator lists them here (a team admin never can). Cloud metadata
/// addresses are refused even inside a listed range.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Ranges in CIDR notation, e.g. `["10.1.0.0/16"]` for an internal CRM receiving
    /// webhooks.
    pub allow: Vec<String>,
}

impl OutboundConfig {
    /// The address guard's policy.
    pub fn policy(&self) -> Result<switchboard_outbound::OutboundPolicy> {
        let ranges = self.allow.iter().map(|range| {
            range.trim().parse::<switchboard_outbound::IpNet>().with_context(|| {
                format!(
                    "outbound.allow: {range:?} is not a range in CIDR notation (e.g. \"10.1.0.0/16\" or \"fd00::/8\")"
                )
            })
        });
        Ok(switchboard_outbound::OutboundPolicy::allow(ranges.collect::<Result<Vec<_>>>()?))
    }
}

/// Global administrators: they see every team and onboard new ones. Team members use the
/// access keys their team admins issue (`switchboard keys issue`, or the console).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The NAME of the environment variable holding an administrator key (acting as
    /// `admin`); unset or empty: none from the environment.
    pub admin_key_env: String,
    /// Administrators by the SHA-256 of their keys (`printf %s "$KEY" | sha256sum`).
    pub admins: Vec<AdminConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { admin_key_env: "SWITCHBOARD_ADMIN_KEY".into(), admins: Vec::new() }
    }
}

/// One administrator known by the digest of their key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The staff id recorded on what they do.
    pub name: String,
    /// Lower-case hex SHA-256 of their key.
    pub key_sha256: String,
}

/// The asynchronous core.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreSettings {
    /// FAQ candidates asked of the matcher per question.
    pub match_limit: usize,
    /// Delivery attempts before giving up on a message.
    pub max_delivery_attempts: u32,
    /// Attempts to fetch an operator's attachment from WeCom before giving up on it (the
    /// pause between two doubles from `retry_base` up to ten minutes).
    pub max_fetch_attempts: u32,
    /// The largest attachment this instance stores, in bytes, whatever a team allows (at
    /// most 20 MiB, WeCom's own limit for files).
    pub max_attachment_bytes: u64,
    /// First retry delay, doubled per attempt.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// With several engine instances on one log: this instance's part of the conversations
    /// and how many parts there are, as `index/count` (e.g. `0/3`, `1/3`, `2/3`; every part
    /// must be run by exactly one instance), or `auto`: the instances lease the parts from
    /// NATS (`store.kind = "nats"`), share them evenly and take over a stopped one's.
    pub shard: String,
    /// With `shard = "auto"`: how many parts the conversations are split into, the most
    /// engine instances that can share the work; the same on every instance.
    pub parts: u32,
    /// With `shard = "auto"`: how long a part's lease lasts without renewal, so how soon a
    /// stopped instance's conversations are taken over; the same on every instance.
    #[serde(with = "humantime_serde")]
    pub lease_term: Duration,
    /// For rehearsals on a staging instance and for tests: a file holding a number of
    /// seconds this instance's clock runs ahead of the wall clock (re-read as it changes),
    /// so an escalation chain or a stale close can be walked through without waiting.
    /// Never set it in production.
    pub clock_offset_file: Option<std::path::PathBuf>,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            match_limit: 5,
            max_delivery_attempts: 5,
            max_fetch_attempts: switchboard_engine::services::CoreConfig::default().max_fetch_attempts,
            max_attachment_bytes: switchboard_schemas::bounds::MAX_ATTACHMENT_BYTES,
            retry_base: Duration::from_millis(500),
            shard: "0/1".into(),
            parts: 16,
            lease_term: Duration::from_secs(10),
            clock_offset_file: None,
        }
    }
}

/// How questions are matched to FAQs: keyword and, when the model is installed, semantic
/// evidence fused (see `switchboard eval --tune`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingConfig {
    /// Use the sentence-embedding model (keyword-only when false or not installed).
    pub semantic: bool,
    /// The model folder; where `ops/setup.sh` installs it when absent.
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library; where `ops/setup.sh` installs it (or `ORT_DYLIB_PATH`)
    /// when absent.
    pub runtime_library: Option<PathBuf>,
    /// Fusion weights and confidence calibration; when absent, the values tuned for the
    /// model that loads (see [`MatchingConfig::fusion_for`]).
    pub fusion: Option<Fusion>,
    /// Match on a Meilisearch server instead (keyword relevancy only).
    pub meilisearch: Option<MeiliConfig>,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self { semantic: true, model_dir: None, runtime_library: None, fusion: None, meilisearch: None }
    }
}

impl MatchingConfig {
    /// The fusion to match with for `model_id`: the configured one, else the values tuned
    /// for that model on the shared development sets, else (a model nobody tuned yet) the
    /// default model's, with a warning to tune it.
    pub fn fusion_for(&self, model_id: &str) -> Fusion {
        if let Some(fusion) = self.fusion {
            return fusion;
        }
        Fusion::tuned_for(model_id).unwrap_or_else(|| {
            tracing::warn!(
                model = model_id,
                "no fusion is tuned for this model: using the default model's; run `switchboard eval --tune` \
                 on labelled questions and put its [matching.fusion] in the configuration"
            );
            Fusion::default()
        })
    }
}

/// A Meilisearch server to match on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeiliConfig {
    /// Its address, e.g. `http://127.0.0.1:7700`.
    pub url: String,
    /// The NAME of the environment variable holding its API key (none for a server
    /// without one).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Index names are `<index_prefix>_<team>`.
    #[serde(default = "default_index_prefix")]
    pub index_prefix: String,
}

fn default_index_prefix() -> String {
    "switchboard".into()
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `switchboard_engine=debug,info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info".into() }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// A team onboarded by configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Display name.
    pub name: String,
    /// Behaviour; defaults suit a new team.
    #[serde(default)]
    pub settings: TeamSettings,
    /// On-call engineers per category.
    #[serde(default)]
    pub roster: Roster,
    /// The team's WeCom application, when operators reach it through WeCom; its callback
    /// is served at `/wecom/<team>/callback`.
    #[serde(default)]
    pub wecom: Option<switchboard_wecom::WecomApp>,
    /// The on-call set-up (schedules, calendar, escalation, targets; docs/on-call.md); when
    /// given, it is the team's at every start, replacing what the console saved.
    #[serde(default)]
    pub on_call: Option<switchboard_schemas::oncall::OnCallSettings>,
}

/// Whether `SWITCHBOARD_<key>` is a variable read by its name rather than a configuration
/// key: the file's path, the log filter, keys and secrets (`SWITCHBOARD_ADMIN_KEY`, a team's
/// console-made WeCom secrets and channel key `SWITCHBOARD_TEAM_<TEAM>_*`, webhook secrets
/// `SWITCHBOARD_WEBHOOK_<ID>`, the demo's secret and history switch, `simulate`'s key). Case
/// does not matter:
/// the environment keeps the variable's own.
fn is_read_by_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["config", "log", "admin_key", "api_key", "demo_wecom_secret", "demo_history"].contains(&key.as_str())
        || key.starts_with("team_")
        || key.starts_with("webhook_")
}

impl Config {
    /// Loads defaults, the file (if given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "configuration file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed("SWITCHBOARD_").filter(|key| !is_read_by_name(key.as_str())).split("__");
        figment = figment.merge(env);
        figment.extract().context("invalid configuration (check the file and SWITCHBOARD_* variables)")
    }
}

/// Installs the tracing subscriber (only the binary does this).
pub fn init_tracing(config: &LogConfig) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.filter))
        .context("invalid log filter")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_installed_model_matches_with_its_own_tuned_fusion_unless_one_is_configured() {
        let matching = MatchingConfig::default();
        let use_m3 = matching.fusion_for("use-multilingual-v3-int8");
        let e5 = matching.fusion_for("multilingual-e5-small-q4q8+query+passage");
        assert_eq!(e5, Fusion::default());
        assert_ne!(e5, use_m3);
        assert_eq!(Some(use_m3), Fusion::tuned_for("use-multilingual-v3-int8"));
        assert_eq!(matching.fusion_for("a-model-nobody-tuned"), Fusion::default());
        let configured = Fusion { semantic_weight: 0.5, ..Fusion::default() };
        let matching = MatchingConfig { fusion: Some(configured), ..MatchingConfig::default() };
        assert_eq!(matching.fusion_for("multilingual-e5-small-q4q8+query+passage"), configured);
    }

    #[test]
    fn secrets_read_by_name_are_not_taken_for_configuration_keys() {
        for secret in
            ["TEAM_OPS_WECOM_TOKEN", "TEAM_DEMO_CHANNEL_KEY", "WEBHOOK_0193ABCD", "ADMIN_KEY", "config", "LOG"]
        {
            assert!(is_read_by_name(secret), "{secret}");
        }
        for key in ["HTTP__REPLY_WAIT", "WEBHOOKS__TIMEOUT", "TEAMS__OPS__NAME", "STORE__KIND", "LISTEN"] {
            assert!(!is_read_by_name(key), "{key}");
        }
    }

    #[test]
    fn a_file_configures_teams_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(
            &path,
            r#"
listen = "127.0.0.1:9999"
[http]
reply_wait = "1s"
[[auth.admins]]
name = "ops-lead"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[teams.ops]
name = "Ops"
[teams.ops.settings]
reconfirm_after_secs = 60
[teams.ops.roster]
default = ["zhao"]
"#,
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.http.reply_wait, Duration::from_secs(1));
        assert_eq!(config.auth.admins[0].name, "ops-lead");
        assert_eq!(config.auth.admin_key_env, "SWITCHBOARD_ADMIN_KEY", "the default variable stays");
        assert_eq!(config.teams["ops"].settings.reconfirm_after_secs, 60);
        assert_eq!(config.teams["ops"].roster.default.len(), 1);

        std::fs::write(&path, "listne = \"127.0.0.1:1\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("listne"), "{err}");
        assert!(Config::load(Some(&dir.path().join("missing.toml"))).is_err());

        std::fs::write(&path, "[read_models]\nkind = \"postgres\"\nurl = \"host=db\"\nschema = \"ops\"\n").unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.read_models.kind, ReadModelKind::Postgres);
        assert_eq!(config.read_models.schema.as_deref(), Some("ops"));

        std::fs::write(&path, "[matching.meilisearch]\nurl = \"http://meili:7700\"\napi_key_env = \"MEILI_KEY\"\n")
            .unwrap();
        let meili = Config::load(Some(&path)).unwrap().matching.meilisearch.unwrap();
        assert_eq!((meili.url.as_str(), meili.index_prefix.as_str()), ("http://meili:7700", "switchboard"));
    }
}
