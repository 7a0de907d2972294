//! `switchboard serve`: the engine, the timer service and the HTTP API in one process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use poem::listener::{Listener, TcpListener};
use poem::EndpointExt;
use switchboard_embed::{CachedEmbedder, ModelPaths, OrtEmbedder};
use switchboard_engine::follow::{stop_signal, Stopped};
use switchboard_engine::hit_test::HitTester;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Clock, SystemClock};
use switchboard_engine::threshold_replay::ThresholdReplayer;

use crate::clock::OffsetClock;
use switchboard_engine::ports::{Matcher, Rephraser};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, RephraseOptions};
use switchboard_engine::shards::{Shard, Shards};
use switchboard_engine::team::TeamCommand;
use switchboard_generative::{OpenAiConfig, OpenAiRephraser};
use switchboard_http::auth::ADMIN_ACTOR;
use switchboard_http::guard::{ConnectionLimits, GuardedAcceptor};
use switchboard_http::{AppState, Backends, GlobalAdmins, HttpLimits, LiveConversations, Onboarding};
use switchboard_jetstream::leases::ShardLeases;
use switchboard_jetstream::JetStreamEventLog;
use switchboard_projections::outbox::{DeliveryStore, Outbox};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::{StaffId, TeamId};
use switchboard_search::meili::ENGINE as MEILI_ENGINE;
use switchboard_search::{HybridMatcher, KeywordMatcher, MeiliMatcher, SemanticMatcher, ENGINE as KEYWORD_ENGINE};
use switchboard_secret::Secret;
use switchboard_telemetry::{Instruments, TimedLog, TimedMatcher};
use switchboard_webhooks::{SecretLookup, Sender};
use switchboard_wecom::setup::{ConsoleApps, SecretStore};
use switchboard_wecom::{CallbackOptions, RetryPolicy, WecomApps, WecomClient};
use tracing::{info, warn};
use uuid::Uuid;

use crate::channels::ChannelRouter;
use crate::config::{Config, GenerativeConfig, TeamConfig};
use crate::{demo, history};
use switchboard_outbound::{ClientBuilder, OutboundClient, OutboundPolicy};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `listen` in the configuration).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Seed a demo team ("demo") with an FAQ about running activities, in Chinese and English.
    #[arg(long)]
    demo: bool,
    /// The WeCom API the demo team's application calls (default: where `switchboard
    /// simulate` serves its simulator, http://127.0.0.1:9300/cgi-bin).
    #[arg(long, requires = "demo")]
    demo_wecom_api: Option<String>,
    /// With --demo, on a first start (an empty log): record four weeks of simulated traffic
    /// for the demo team through the engine, so the dashboards and reports have something
    /// to show.
    #[arg(long, env = "SWITCHBOARD_DEMO_HISTORY", default_value_t = true, action = clap::ArgAction::Set)]
    demo_history: bool,
    /// What this process runs, for scaling out on one JetStream log: `http` (the API and
    /// WeCom callbacks), `engine` (matching, deliveries and timers of its `core.shard`),
    /// `projector` (the read models and webhook deliveries; run one per read-model store).
    /// Every instance serves
    /// /healthz and /metrics.
    #[arg(long, value_delimiter = ',', default_values_t = [Role::Http, Role::Engine, Role::Projector])]
    roles: Vec<Role>,
}

/// A part of Switchboard one process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The API and WeCom callbacks.
    Http,
    /// Matching, deliveries and timers of this instance's shard.
    Engine,
    /// Keeps the read models following the log.
    Projector,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        f.write_str(self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default().as_str())
    }
}

/// The running lease keeper of an instance with leased parts.
struct LeaseKeeper {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    /// Gives every part back (after the core has stopped), so the other instances take them
    /// over at once instead of one lease term later.
    async fn give_back(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await.is_err() {
            warn!("giving the conversation parts back took over 5 s; the rest free themselves when they expire");
        }
    }
}

/// The conversation parts this instance works on: fixed by `core.shard = "i/N"`, or leased
/// from NATS with `core.shard = "auto"` (the lease keeper is started here).
async fn shards(config: &Config, jetstream: Option<&JetStreamEventLog>) -> Result<(Arc<Shards>, Option<LeaseKeeper>)> {
    if config.core.shard.trim() != "auto" {
        let shard: Shard = config.core.shard.parse().map_err(|e: String| anyhow::anyhow!("core.shard: {e}"))?;
        return Ok((Shards::fixed(shard), None));
    }
    let Some(log) = jetstream else {
        bail!("core.shard = \"auto\" leases the conversation parts from NATS: set store.kind = \"nats\", or give this instance a fixed part such as \"0/1\"");
    };
    if config.core.parts == 0 {
        bail!("core.parts must be at least 1");
    }
    let shards = Shards::leased(config.core.parts);
    let instance = Uuid::now_v7().simple().to_string();
    let bucket = format!("{}_parts", config.store.jetstream.stream);
    let leases = ShardLeases::open(
        log.jetstream(),
        &bucket,
        config.store.jetstream.replicas,
        instance.clone(),
        config.core.lease_term,
        shards.clone(),
    )
    .await
    .context("cannot lease conversation parts (core.shard = \"auto\")")?;
    info!(%instance, %bucket, parts = config.core.parts, lease_term = ?config.core.lease_term, "leasing conversation parts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(leases.run(async move {
        let _ = stopped.await;
    }));
    Ok((shards, Some(LeaseKeeper { stop, task })))
}

/// Where the model and the runtime library are, from the configuration or where
/// `ops/setup.sh` installs them.
pub fn model_paths(config: &Config) -> ModelPaths {
    let installed = ModelPaths::installed();
    ModelPaths {
        model_dir: config.matching.model_dir.clone().unwrap_or(installed.model_dir),
        runtime_library: config.matching.runtime_library.clone().unwrap_or(installed.runtime_library),
    }
}

/// The hybrid matcher when the semantic model loads, else the keyword matcher (said at
/// start-up and on /healthz): (matcher, its name, the semantic status).
async fn matcher(config: &Config) -> Result<(Arc<dyn Matcher>, String, String)> {
    if let Some(meili) = &config.matching.meilisearch {
        let key = meili.api_key_env.as_ref().map(|var| {
            std::env::var(var)
                .with_context(|| format!("matching.meilisearch.api_key_env names {var}, which is not set"))
        });
        let key = key.transpose()?;
        let matcher = MeiliMatcher::new(&meili.url, key.as_deref(), &meili.index_prefix)
            .with_context(|| format!("cannot use Meilisearch at {}", meili.url))?;
        info!(url = %meili.url, "matching on Meilisearch (keyword relevancy)");
        return Ok((Arc::new(matcher), MEILI_ENGINE.into(), "off: matching on Meilisearch".into()));
    }
    Ok(local_matcher(config).await)
}

/// The embedded matchers: hybrid when the model loads, keyword-only otherwise.
async fn local_matcher(config: &Config) -> (Arc<dyn Matcher>, String, String) {
    if !config.matching.semantic {
        warn!("semantic matching is off (matching.semantic = false): keyword-only");
        return (Arc::new(KeywordMatcher::new()), KEYWORD_ENGINE.into(), "off: keyword-only".into());
    }
    let paths = model_paths(config);
    let loaded = tokio::task::spawn_blocking(move || OrtEmbedder::open(&paths))
        .await
        .map_err(|e| e.to_string())
        .and_then(|opened| opened.map_err(|e| e.to_string()));
    match loaded {
        Ok(embedder) => {
            let fusion = config.matching.fusion_for(switchboard_engine::ports::Embedder::model_id(&embedder));
            // Kept across restarts, so a restart embeds only FAQ texts it has not seen.
            let embedder = CachedEmbedder::open(embedder, &config.data_dir.join("vectors"));
            let matcher = HybridMatcher::new(SemanticMatcher::new(Arc::new(embedder)), fusion);
            let name = matcher.engine();
            info!(matcher = %name, "matching with keyword and semantic evidence");
            (Arc::new(matcher), name, "ready".into())
        }
        Err(e) => {
            warn!(error = %e, "no semantic model: matching is keyword-only");
            (Arc::new(KeywordMatcher::new()), KEYWORD_ENGINE.into(), format!("unavailable: {e}"))
        }
    }
}

/// The WeCom API client for every team with an application whose secret is available
/// (from the environment variable its `secret_ref` names), including the teams of its
/// forwarded departments.
/// Generative answers as configured: the adapter, the core's options, and how `/healthz`
/// names them.
struct Generative {
    rephraser: Arc<dyn Rephraser>,
    options: RephraseOptions,
    described: String,
}

/// The rephraser `generative` asks for; none when generative answers are off.
fn rephraser(generative: &GenerativeConfig, outbound: &OutboundPolicy) -> Result<Option<Generative>> {
    if !generative.enabled {
        return Ok(None);
    }
    let api_key = std::env::var(&generative.api_key_env).ok().filter(|k| !k.is_empty()).map(Secret::new);
    if api_key.is_none() {
        warn!(
            variable = %generative.api_key_env,
            "generative answers are on but {} is not set: requests go without a key (fine for a local model server)",
            generative.api_key_env
        );
    }
    let adapter = OpenAiRephraser::new(OpenAiConfig {
        base_url: generative.base_url.clone(),
        model: generative.model.clone(),
        api_key,
        temperature: generative.temperature,
        max_tokens: generative.max_tokens,
        max_output_chars: generative.max_output_chars,
        timeout: generative.timeout,
        outbound: outbound.clone(),
    })
    .context("generative answers cannot be set up")?;
    let teams = if generative.teams.is_empty() {
        None
    } else {
        let teams = generative.teams.iter().map(|t| TeamId::new(t).with_context(|| format!("generative.teams: {t:?}")));
        Some(teams.collect::<Result<_>>()?)
    };
    let described = format!("{} at {}", generative.model, generative.base_url);
    let options = RephraseOptions { timeout: generative.timeout, teams };
    Ok(Some(Generative { rephraser: Arc::new(adapter), options, described }))
}

fn wecom_client(config: &Config, demo: bool, outbound: &OutboundPolicy) -> Result<WecomClient> {
    let mut apps = Vec::new();
    for (id, team) in &config.teams {
        let Some(app) = &team.wecom else { continue };
        let secret = match std::env::var(&app.secret_ref) {
            Ok(secret) => secret,
            Err(_) if demo && id == demo::DEMO_TEAM && app.secret_ref == demo::DEMO_SECRET_VAR => {
                demo::DEMO_SECRET.into()
            }
            Err(_) => {
                warn!(team = %id, variable = %app.secret_ref, "no WeCom secret in the environment: callbacks are received but nothing is sent; set the variable");
                continue;
            }
        };
        let team = TeamId::new(id.as_str()).with_context(|| format!("team id {id:?}"))?;
        for department in &app.departments {
            let derived = TeamId::new(format!("{id}-{department}"))
                .with_context(|| format!("team {id}: department {department:?} makes no valid team id"))?;
            apps.push((derived, app.clone(), Secret::new(secret.clone())));
        }
        apps.push((team, app.clone(), Secret::new(secret)));
    }
    WecomClient::new(apps, RetryPolicy::default(), outbound.clone()).context("cannot build the WeCom API client")
}

/// The address guard's policy: the operator's `[outbound] allow`, and for the demo the
/// WeCom simulator it talks to on this machine.
fn outbound_policy(config: &Config, demo: bool) -> Result<OutboundPolicy> {
    let mut outbound = config.outbound.clone();
    if demo {
        let simulator: std::net::SocketAddr = demo::SIMULATOR_ADDR.parse().context("the demo's simulator address")?;
        outbound.allow.push(format!("{}/32", simulator.ip()));
    }
    let policy = outbound.policy()?;
    if !policy.allowed().is_empty() {
        info!(allow = ?policy.allowed(), "outbound requests may also go to these ranges");
    }
    Ok(policy)
}

/// The WeCom applications of the configuration file, with those of forwarded departments.
fn configured_apps(config: &Config) -> Result<Vec<(TeamId, switchboard_wecom::WecomApp)>> {
    config
        .teams
        .iter()
        .filter_map(|(id, team)| team.wecom.clone().map(|app| (id, app)))
        .map(|(id, app)| Ok((TeamId::new(id.as_str()).with_context(|| format!("team id {id:?}"))?, app)))
        .collect()
}

/// The global administrators: the key in the variable `auth.admin_key_env` names (acting as
/// `admin`), the digests in `auth.admins`, and with `--demo` and no variable set, the demo's
/// public key.
fn admins(config: &Config, demo: bool) -> Result<GlobalAdmins> {
    let actor = |name: &str| StaffId::new(name).with_context(|| format!("administrator name {name:?}"));
    let mut admins = GlobalAdmins::none();
    let from_env = (!config.auth.admin_key_env.is_empty())
        .then(|| std::env::var(&config.auth.admin_key_env).ok())
        .flatten()
        .filter(|k| !k.is_empty());
    match (from_env, demo) {
        (Some(key), _) => {
            admins = admins
                .with_key(actor(ADMIN_ACTOR)?, key.trim())
                .with_context(|| format!("${}", config.auth.admin_key_env))?
        }
        (None, true) => {
            warn!("using the demo's public administrator key; set {} for a real one", config.auth.admin_key_env);
            admins = admins.with_key(actor(ADMIN_ACTOR)?, demo::DEMO_ADMIN_KEY)?;
        }
        (None, false) => {}
    }
    for admin in &config.auth.admins {
        admins = admins.with_digest(actor(&admin.name)?, &admin.key_sha256).context("auth.admins")?;
    }
    if admins.is_empty() {
        warn!(variable = %config.auth.admin_key_env, "no global administrator: teams can only be onboarded in the configuration; set the variable to an administrator key (24 characters or more) to onboard teams from the console");
    }
    Ok(admins)
}

/// How often WeCom applications set up on other instances are picked up.
const CONSOLE_APPS_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Serves the WeCom applications set up from the console (on any instance), as the team
/// streams say: at start and every [`CONSOLE_APPS_EVERY`].
async fn follow_console_apps(
    runtime: Arc<Runtime>,
    read_models: Arc<dyn switchboard_projections::store::ReadStore>,
    console: Arc<ConsoleApps>,
    stopped: Stopped,
) {
    let mut stopped = std::pin::pin!(stopped.wait());
    loop {
        match read_models.teams().await {
            Ok(teams) => {
                for row in teams {
                    let Ok(id) = TeamId::new(row.team) else { continue };
                    match runtime.load_team(&id).await {
                        Ok(team) => {
                            console.sync(&id, team.wecom.as_ref(), false);
                        }
                        Err(e) => warn!(team = %id, error = %e, "cannot read the team to serve its WeCom application"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot list the teams to serve their WeCom applications"),
        }
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(CONSOLE_APPS_EVERY) => {}
        }
    }
}

async fn onboard(runtime: &Runtime, id: &str, team: &TeamConfig) -> Result<()> {
    let team_id = TeamId::new(id).with_context(|| format!("team id {id:?} in the configuration"))?;
    let onboard = TeamCommand::Onboard {
        name: team.name.clone(),
        cloned_from: None,
        settings: Box::new(team.settings.clone()),
        roster: team.roster.clone(),
        on_call: team.on_call.clone().map(Box::new),
    };
    runtime
        .team(&team_id, onboard, Causation::root(Uuid::now_v7()))
        .await
        .with_context(|| format!("onboarding team {id}"))?;
    Ok(())
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(mut config: Config, args: ServeArgs) -> Result<()> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let (log, jetstream) = crate::store::open_store(&config).await?;
    // Every part records into these; /metrics reports them.
    let instruments = Instruments::default();
    let log: Arc<dyn EventLog> = Arc::new(TimedLog::new(log, instruments.append_seconds.clone()));
    let first_start = log.head().await.context("reading the event log")? == 0;
    let clock: Arc<dyn Clock> = match &config.core.clock_offset_file {
        Some(file) => {
            warn!(file = %file.display(), "the clock is shifted by the seconds in core.clock_offset_file: for rehearsals and tests only");
            Arc::new(OffsetClock::new(file.clone()))
        }
        None => Arc::new(SystemClock),
    };
    let runtime = Arc::new(Runtime::new(log.clone(), clock));
    if args.demo {
        let team = config.teams.entry(demo::DEMO_TEAM.into()).or_insert(demo::team()?);
        if let (Some(api), Some(app)) = (&args.demo_wecom_api, team.wecom.as_mut()) {
            app.api_base = api.clone();
        }
    }
    for (id, team) in &config.teams {
        onboard(&runtime, id, team).await?;
    }
    if args.demo {
        let written = demo::seed_faqs(&runtime).await? + demo::seed_keys(&runtime).await?;
        info!(team = demo::DEMO_TEAM, new_events = written, "demo FAQ and access keys seeded");
        if first_start && args.demo_history {
            eprintln!("Recording the demo team's last {} days of simulated traffic (first start only)…", history::DAYS);
            let recorded =
                history::record(log.clone(), chrono::Utc::now()).await.context("recording the demo history")?;
            info!(
                sessions = recorded.sessions,
                events = recorded.events,
                days = history::DAYS,
                "demo history recorded"
            );
        }
    }
    let admins = admins(&config, args.demo)?;
    if config.teams.is_empty() {
        warn!("no teams are configured: add [teams.<id>] to the configuration or run with --demo");
    }
    let (matcher, matcher_name, semantic_status) = matcher(&config).await?;
    let matcher: Arc<dyn Matcher> = Arc::new(TimedMatcher::new(matcher, instruments.match_seconds.clone()));
    let (shards, lease_keeper) = if args.roles.contains(&Role::Engine) {
        let (shards, keeper) = shards(&config, jetstream.as_deref()).await?;
        (Some(shards), keeper)
    } else {
        (None, None)
    };
    anyhow::ensure!(config.core.max_fetch_attempts >= 1, "core.max_fetch_attempts must be at least 1");
    anyhow::ensure!(
        (1..=switchboard_schemas::bounds::MAX_ATTACHMENT_BYTES).contains(&config.core.max_attachment_bytes),
        "core.max_attachment_bytes must be between 1 and {} (20 MiB, WeCom's own limit for files)",
        switchboard_schemas::bounds::MAX_ATTACHMENT_BYTES
    );
    let core_config = CoreConfig {
        match_limit: config.core.match_limit,
        max_delivery_attempts: config.core.max_delivery_attempts,
        retry_base: config.core.retry_base,
        shards,
        max_fetch_attempts: config.core.max_fetch_attempts,
        max_attachment_bytes: config.core.max_attachment_bytes,
        ..CoreConfig::default()
    };
    let blobs = crate::store::open_blobs(&config, jetstream.as_deref()).await?;
    let outbound = outbound_policy(&config, args.demo)?;
    let wecom = Arc::new(wecom_client(&config, args.demo, &outbound)?);
    let configured_wecom = configured_apps(&config)?;
    let configured_teams: Vec<TeamId> = configured_wecom.iter().map(|(id, _)| id.clone()).collect();
    let wecom_apps =
        Arc::new(WecomApps::new(configured_wecom).context("invalid WeCom application in the configuration")?);
    let secrets_path = config.data_dir.join("secrets.json");
    let secrets = Arc::new(SecretStore::open(&secrets_path).with_context(|| {
        format!("cannot read the secret file {} (console-made WeCom secrets)", secrets_path.display())
    })?);
    let console_apps = Arc::new(ConsoleApps::new(wecom_apps.clone(), wecom.clone(), secrets.clone(), configured_teams));
    let router = Arc::new(ChannelRouter { wecom: wecom.clone() });
    let hit_tester = Arc::new(HitTester::new(runtime.clone(), matcher.clone(), core_config.match_limit));
    let mut core = Core::new(runtime.clone(), matcher, router.clone(), core_config)
        .with_group_chats(router)
        .with_attachments(wecom.clone(), blobs.clone());
    let generative = match rephraser(&config.generative, &outbound)? {
        Some(Generative { rephraser, options, described }) => {
            info!(model = %described, "generative answers are on");
            core = core.with_rephraser(rephraser, options);
            described
        }
        None => "off".to_owned(),
    };
    let core = core.spawn();
    // The read models (session list, statistics, FAQ candidates) follow the log.
    let stores = crate::read_models::open(&config).await?;
    let read_models: Arc<dyn switchboard_projections::store::ReadStore> = stores.clone();
    let deliveries: Arc<dyn DeliveryStore> = stores;
    let mut projection = switchboard_projections::runtime::Projection::new(
        log.clone(),
        read_models.clone(),
        switchboard_projections::runtime::ProjectionOptions::default(),
    );
    let wake_webhooks = Arc::new(tokio::sync::Notify::new());
    // Every background part stops on this signal, after the HTTP server has drained.
    let (stop, stopped) = stop_signal();
    let mut background = tokio::task::JoinSet::new();
    if args.roles.contains(&Role::Projector) {
        let until = stopped.clone();
        background.spawn(async move { projection.run(until.wait()).await });
        let outbox = Outbox::new(log.clone(), deliveries.clone(), wake_webhooks.clone());
        let lookup: SecretLookup = Arc::new(move |name: &str| secrets.get(name).map(|s| s.expose().to_owned()));
        let sender = Sender::new(
            log.clone(),
            deliveries.clone(),
            lookup,
            Arc::new(SystemClock),
            wake_webhooks.clone(),
            config.webhooks.sender_options(outbound.clone())?,
        )?
        .with_instruments(instruments.clone());
        let until = stopped.clone();
        background.spawn(async move { outbox.run(until.wait()).await });
        let until = stopped.clone();
        background.spawn(async move {
            while let Err(e) = sender.run(until.clone().wait()).await {
                warn!(error = %e, "the webhook sender stopped; resuming from what its store holds");
                tokio::select! {
                    () = until.clone().wait() => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        });
    }
    background.spawn(follow_console_apps(runtime.clone(), read_models.clone(), console_apps.clone(), stopped));
    let local_host =
        if config.listen.ip().is_unspecified() { "127.0.0.1".to_owned() } else { config.listen.ip().to_string() };
    let local_url = match config.listen.ip() {
        std::net::IpAddr::V6(_) if !config.listen.ip().is_unspecified() => {
            format!("http://[{local_host}]:{}", config.listen.port())
        }
        _ => format!("http://{local_host}:{}", config.listen.port()),
    };
    let limits = HttpLimits {
        max_body_bytes: config.http.max_body_bytes,
        max_upload_bytes: config.http.max_upload_bytes,
        reply_wait: config.http.reply_wait,
        channel_max_connections: config.http.channel_max_connections,
        channel_max_frame_bytes: config.http.channel_max_frame_bytes,
        channel_max_per_user: config.http.channel_max_per_user,
        channel_max_per_token: config.http.channel_max_per_token,
        channel_idle_timeout: config.http.channel_idle_timeout,
        request_deadline: config.http.request_deadline,
        ..HttpLimits::default()
    };
    let watches = Arc::new(switchboard_engine::live::StreamWatches::new(runtime.log().clone()));
    let live = Arc::new(LiveConversations::new(watches, limits.channel_caps()));
    let replayer = Arc::new(ThresholdReplayer::new(runtime.clone()));
    let state = Arc::new(AppState {
        runtime,
        read_models,
        health: core.health(),
        limits,
        backends: Backends {
            store: format!("{:?}", config.store.kind).to_lowercase(),
            matcher: matcher_name,
            semantic: semantic_status,
            generative,
        },
        admins,
        onboarding: Onboarding { console: console_apps, public_url: config.http.public_url.clone(), local_url },
        deliveries,
        wake_webhooks,
        live,
        outbound: OutboundClient::new(outbound, ClientBuilder::new())
            .context("cannot build the address guard's client")?,
        instruments: instruments.clone(),
        hit_tester,
        replayer,
        blobs,
    });
    let serves_http = args.roles.contains(&Role::Http);
    let mut app = poem::Route::new();
    if serves_http {
        if !wecom_apps.is_empty() {
            info!(teams = wecom_apps.len(), "WeCom callbacks served at /wecom/<team>/callback");
        }
        let options = CallbackOptions { greeter: Some(wecom.clone()), ..CallbackOptions::default() };
        let wecom =
            switchboard_wecom::routes(state.runtime.clone(), wecom_apps, options).around(move |next, request| {
                let route = |_: &str| format!("{}/{{team}}/callback", switchboard_wecom::DEFAULT_MOUNT_PATH);
                switchboard_http::time_request(next, request, instruments.clone(), route)
            });
        app = app.nest(switchboard_wecom::DEFAULT_MOUNT_PATH, wecom);
    }
    let app = app.nest("/", switchboard_http::app(state, serves_http));
    let listener = TcpListener::bind(config.listen);
    let roles: Vec<String> = args.roles.iter().map(Role::to_string).collect();
    info!(listen = %config.listen, roles = %roles.join(","), shard = %config.core.shard, "switchboard is serving");
    if args.demo {
        eprintln!(
            "\n  Switchboard is up: http://{0}/console/ (console), http://{0}/docs (API explorer), http://{0}/healthz\n  \
             Demo access keys (public; demo only): team admin {1}, on-call engineer {2}, viewer {3};\n  \
             global administrator {4}\n  \
             Try: curl -s http://{0}/api/v1/teams/demo/messages -H 'authorization: Bearer {2}' \\\n         \
             -H 'content-type: application/json' -d '{{\"user\":\"zhangsan\",\"text\":\"奖品库存不足怎么办\"}}'\n",
            config.listen,
            demo::DEMO_KEYS[0].0,
            demo::DEMO_KEYS[1].0,
            demo::DEMO_KEYS[2].0,
            if std::env::var_os(&config.auth.admin_key_env).is_some() { "from $".to_owned() + &config.auth.admin_key_env } else { demo::DEMO_ADMIN_KEY.to_owned() },
        );
    } else {
        eprintln!("\n  Switchboard is up: http://{0}/console/ (console), http://{0}/docs (API explorer), http://{0}/healthz\n", config.listen);
    }
    let limits = ConnectionLimits {
        max_connections: config.http.max_connections,
        request_deadline: config.http.request_deadline,
    };
    raise_open_file_limit(limits.max_connections);
    let acceptor = listener
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {} failed (is the port in use?)", config.listen))?;
    poem::Server::new_with_acceptor(GuardedAcceptor::new(acceptor, limits))
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(std::time::Duration::from_secs(5)))
        .await
        .with_context(|| format!("the HTTP server on {} failed (is the port in use?)", config.listen))?;
    stop.stop();
    while background.join_next().await.is_some() {}
    core.shutdown().await;
    if let Some(keeper) = lease_keeper {
        keeper.give_back().await;
    }
    info!("stopped");
    Ok(())
}

/// Open files the process needs besides its connections: the stores, logs, outbound
/// connections to NATS, PostgreSQL, search and webhooks.
const FILE_HEADROOM: u64 = 1024;

/// Raises the soft limit on open files (often 1,024) as far as the hard limit allows, so
/// `http.max_connections` can be reached: past the soft limit, accepting fails with
/// "too many open files" instead of the cap's clear 503. Warns with what to do when even
/// the hard limit is too low.
fn raise_open_file_limit(max_connections: usize) {
    let wanted = u64::try_from(max_connections).unwrap_or(u64::MAX).saturating_add(FILE_HEADROOM);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit >= wanted => info!(open_files = limit, "open-file limit fits http.max_connections"),
        Ok(limit) if limit >= wanted - FILE_HEADROOM => info!(
            open_files = limit,
            wanted, "the open-file limit fits http.max_connections with little room for files and outbound connections"
        ),
        Ok(limit) => warn!(
            open_files = limit,
            wanted,
            "the open-file limit is below http.max_connections; raise the hard limit \
             (ulimit -Hn, or LimitNOFILE= in the systemd unit) or lower http.max_connections"
        ),
        Err(e) => warn!(error = %e, wanted, "the open-file limit could not be raised; connections may fail past it"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}
