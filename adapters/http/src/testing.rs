//! One in-process Switchboard for a test or a fuzz target: a real embedded log, read models
//! on SQLite, the keyword matcher and the real core, behind the HTTP application through
//! poem's test client; two teams with access keys of every role, and a global administrator.
//! Enabled by the `testing` feature; it panics with the cause when it cannot be set up.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::api_contract::ApiContract;
use crate::auth::{new_token, ADMIN_ACTOR};
use crate::{app, ApiChannel, AppState, Backends, GlobalAdmins, HttpLimits, LiveConversations, Onboarding};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::Value;
use switchboard_embedded::{FileBlobStore, SqliteEventLog, SqliteOptions};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::hit_test::HitTester;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Matcher, SystemClock};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::services::{Core, CoreConfig, CoreHandle};
use switchboard_engine::team::TeamCommand;
use switchboard_engine::threshold_replay::ThresholdReplayer;
use switchboard_outbound::{ClientBuilder, OutboundClient, OutboundPolicy};
use switchboard_projections::outbox::{DeliveryStore, Outbox};
use switchboard_projections::runtime::{Projection, ProjectionOptions, SESSIONS};
use switchboard_projections::store::ReadStore;
use switchboard_readstore::SqliteReadStore;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId};
use switchboard_search::KeywordMatcher;
use switchboard_wecom::setup::{ConsoleApps, SecretStore};
use switchboard_wecom::{RetryPolicy, WecomApps, WecomClient};
use uuid::Uuid;

/// The global administrator's key.
pub const ADMIN_KEY: &str = "test-administrator-key-0123456789";

/// Tokens of the keys the harness issues.
pub struct Keys {
    /// ops, role admin, staff zhao.
    pub ops_admin: String,
    /// ops, role agent, staff qian.
    pub ops_agent: String,
    /// ops, role viewer, staff sun.
    pub ops_viewer: String,
    /// games, role admin, staff li.
    pub games_admin: String,
}

/// The application and what it runs on; everything stops when it is dropped.
pub struct Harness {
    /// The application, called in process.
    pub client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    /// What the application was built from, to serve it on a real socket too.
    pub state: Arc<AppState>,
    /// The event log, to check what a request wrote.
    pub log: Arc<dyn EventLog>,
    /// The runtime the application commands.
    pub runtime: Arc<Runtime>,
    /// The read models the projection keeps.
    pub read_models: Arc<dyn ReadStore>,
    /// Access keys of every role.
    pub keys: Keys,
    /// Where the WeCom secrets set through the console are kept.
    pub secrets_path: std::path::PathBuf,
    /// The served OpenAPI document.
    pub document: Value,
    contract: ApiContract,
    _core: CoreHandle,
    _projection: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn issue(runtime: &Runtime, team: &TeamId, role: AccessRole, staff: &str) -> String {
    let token = new_token(team).unwrap();
    let command = TeamCommand::IssueKey {
        key_id: Uuid::now_v7(),
        label: format!("{staff}'s key"),
        role,
        staff: StaffId::new(staff).unwrap(),
        token_sha256: token.digest,
    };
    runtime.team(team, command, Causation::root(Uuid::now_v7())).await.unwrap();
    token.token
}

/// A harness whose HTTP edge has these limits.
pub async fn harness_with(limits: HttpLimits) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
    let cause = Causation::root(Uuid::now_v7());
    // A second team, to show nothing crosses teams.
    let games = TeamId::new("games").unwrap();
    let onboard = |name: &str, settings: TeamSettings, roster: Roster| TeamCommand::Onboard {
        on_call: None,
        name: name.into(),
        cloned_from: None,
        settings: Box::new(settings),
        roster,
    };
    runtime.team(&games, onboard("Games", TeamSettings::default(), Roster::default()), cause).await.unwrap();
    let team = TeamId::new("ops").unwrap();
    let settings = TeamSettings { max_message_chars: 200, ..TeamSettings::default() };
    let mut roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
    roster.categories.insert("prizes".into(), vec![StaffId::new("wang").unwrap()]);
    runtime.team(&team, onboard("Ops", settings, roster), cause).await.unwrap();
    let faq = FaqEntry {
        question: "奖品库存不足怎么办？".into(),
        answer: "在奖品管理里追加库存即可。".into(),
        category: Some("prizes".into()),
        paraphrases: vec!["The prize stock has run out".into()],
    };
    runtime
        .catalog(&team, CatalogCommand::Upsert { faq_id: FaqId::new("prize-stock").unwrap(), entry: faq }, cause)
        .await
        .unwrap();
    let keys = Keys {
        ops_admin: issue(&runtime, &team, AccessRole::Admin, "zhao").await,
        ops_agent: issue(&runtime, &team, AccessRole::Agent, "qian").await,
        ops_viewer: issue(&runtime, &team, AccessRole::Viewer, "sun").await,
        games_admin: issue(&runtime, &games, AccessRole::Admin, "li").await,
    };
    let matcher: Arc<dyn Matcher> = Arc::new(KeywordMatcher::new());
    let config = CoreConfig::default();
    let hit_tester = Arc::new(HitTester::new(runtime.clone(), matcher.clone(), config.match_limit));
    let core = Core::new(runtime.clone(), matcher, Arc::new(ApiChannel), config).spawn();
    let stores = Arc::new(SqliteReadStore::open(&dir.path().join("readmodels.sqlite")).await.unwrap());
    let read_models: Arc<dyn ReadStore> = stores.clone();
    let deliveries: Arc<dyn DeliveryStore> = stores;
    let mut projection = Projection::new(log.clone(), read_models.clone(), ProjectionOptions::default());
    let wake_webhooks = Arc::new(tokio::sync::Notify::new());
    let outbox = Outbox::new(log.clone(), deliveries.clone(), wake_webhooks.clone());
    let projection = tokio::spawn(async move {
        tokio::join!(projection.run(futures::future::pending()), outbox.run(futures::future::pending()));
    });
    let secrets_path = dir.path().join("secrets.json");
    let secrets = Arc::new(SecretStore::open(&secrets_path).unwrap());
    let wecom_apps = Arc::new(WecomApps::new([]).unwrap());
    let outbound = test_outbound_policy();
    let wecom_client = Arc::new(WecomClient::new([], RetryPolicy::default(), outbound.clone()).unwrap());
    let console = Arc::new(ConsoleApps::new(wecom_apps, wecom_client, secrets, []));
    let limits_copy = limits.clone();
    let state = Arc::new(AppState {
        runtime: runtime.clone(),
        read_models: read_models.clone(),
        health: core.health(),
        limits,
        backends: Backends {
            store: "embedded".into(),
            matcher: "keyword-bm25".into(),
            semantic: "none".into(),
            generative: "off".into(),
        },
        admins: GlobalAdmins::none().with_key(StaffId::new(ADMIN_ACTOR).unwrap(), ADMIN_KEY).unwrap(),
        onboarding: Onboarding {
            console,
            public_url: Some("https://sb.example.com".into()),
            local_url: "http://127.0.0.1:9".into(),
        },
        deliveries,
        wake_webhooks,
        live: Arc::new(LiveConversations::new(
            Arc::new(switchboard_engine::live::StreamWatches::new(log.clone())),
            limits_copy.channel_caps(),
        )),
        outbound: OutboundClient::new(outbound, ClientBuilder::new()).unwrap(),
        instruments: switchboard_telemetry::Instruments::default(),
        hit_tester,
        replayer: Arc::new(ThresholdReplayer::new(runtime.clone())),
        blobs: Arc::new(FileBlobStore::open(dir.path().join("blobs")).unwrap()),
    });
    let client = TestClient::new(poem::EndpointExt::boxed(app(state.clone(), true)));
    // Wait until the core has caught up so matching can run.
    for _ in 0..100 {
        if client.get("/healthz").send().await.0.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served = client.get("/openapi.json").send().await.0;
    assert_eq!(served.status(), StatusCode::OK, "the OpenAPI document is served");
    let document: Value = serde_json::from_str(&served.into_body().into_string().await.unwrap()).unwrap();
    let contract = ApiContract::new(document.clone());
    Harness {
        client,
        state,
        log,
        runtime,
        read_models,
        keys,
        secrets_path,
        document,
        contract,
        _core: core,
        _projection: projection,
        _dir: dir,
    }
}

/// A harness with a 4 KiB body limit and a 64 KiB upload limit.
pub async fn harness() -> Harness {
    harness_with(HttpLimits {
        max_body_bytes: 4096,
        max_upload_bytes: 64 * 1024,
        reply_wait: Duration::from_secs(5),
        ..HttpLimits::default()
    })
    .await
}

impl Harness {
    /// Serves the same application on a loopback port (for WebSocket clients); returns
    /// `host:port`. The server lives as long as the test's runtime.
    pub async fn serve(&self) -> String {
        use poem::listener::{Acceptor, Listener};
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let endpoint = app(self.state.clone(), true);
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        addr.to_string()
    }

    /// Waits until the read models have folded everything in the log.
    pub async fn read_models_caught_up(&self) {
        let head = self.log.head().await.unwrap();
        for _ in 0..200 {
            if self.read_models.checkpoint(SESSIONS).await.unwrap() >= head {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the read models did not reach position {head}");
    }

    /// Waits until the core has processed everything in the log (and what that wrote), so
    /// the log's head moves next only because of the next request.
    pub async fn settled(&self) {
        let mut stable = 0;
        // Generous: on a loaded machine the core may take seconds to answer what came in.
        for _ in 0..2000 {
            let head = self.log.head().await.unwrap();
            if self.state.health.position() >= head {
                stable += 1;
                if stable == 2 {
                    return;
                }
            } else {
                stable = 0;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the core did not catch up with the log within 10 s");
    }

    /// Every API operation that takes a JSON body, from the application's own OpenAPI
    /// document, as (method, path) with the path's parameters filled in for team `ops`.
    pub async fn json_operations(&self) -> Vec<(poem::http::Method, String)> {
        let spec = &self.document;
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let content = operation["requestBody"]["content"].as_object();
                if !content.is_some_and(|types| types.keys().any(|t| t.starts_with("application/json"))) {
                    continue;
                }
                let concrete = path
                    .split('/')
                    .map(|segment| match segment {
                        "{team}" => "ops",
                        "{user}" => "zhangsan",
                        "{faq_id}" => "prize-stock",
                        s if s.starts_with('{') => "00000000-0000-7000-8000-000000000000",
                        s => s,
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let method = method.to_uppercase().parse().unwrap();
                operations.push((method, format!("/api/v1{concrete}")));
            }
        }
        operations
    }

    /// Sends a request and checks the response against the served OpenAPI document
    /// ([`ApiContract`]): a response the document does not describe fails the test that
    /// received it. Returns the status and the JSON answer (or the text, when it is not JSON).
    pub async fn exchange(
        &self,
        method: poem::http::Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let (status, _, bytes) = self.exchange_raw(method, path, authorization, body).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// GETs a file at `path` with `key`, checked against the document like every exchange;
    /// returns the status, the headers and the bytes.
    pub async fn download(&self, key: &str, path: &str) -> (StatusCode, poem::http::HeaderMap, Vec<u8>) {
        self.exchange_raw(poem::http::Method::GET, path, Some(&format!("Bearer {key}")), None).await
    }

    /// Sends a request, checked against the document like every exchange; returns the
    /// status, the headers and the bytes.
    pub async fn exchange_raw(
        &self,
        method: poem::http::Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, poem::http::HeaderMap, Vec<u8>) {
        let mut request = self.client.request(method.clone(), path);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        if let Some((content_type, bytes)) = body {
            request = request.content_type(content_type).body(bytes);
        }
        let response = request.send().await.0;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().into_vec().await.unwrap();
        let problems = self.contract.check(&method, path, status, &headers, &bytes);
        assert!(
            problems.is_empty(),
            "the response disagrees with the OpenAPI document:\n  {}\nbody: {}",
            problems.join("\n  "),
            String::from_utf8_lossy(&bytes)
        );
        (status, headers, bytes)
    }

    /// Sends `body` with `content_type` to `path` with `key`; returns the status and the
    /// JSON answer (or the text, when it is not JSON).
    pub async fn request(
        &self,
        method: poem::http::Method,
        path: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.exchange(method, path, Some(&format!("Bearer {key}")), Some((content_type, body))).await
    }

    /// GETs `path` with `key`.
    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.exchange(poem::http::Method::GET, path, Some(&format!("Bearer {key}")), None).await
    }

    /// POSTs JSON to `path` with `key`.
    pub async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(poem::http::Method::POST, path, key, "application/json", body.to_string().into_bytes()).await
    }

    /// PUTs JSON to `path` with `key`.
    pub async fn put(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(poem::http::Method::PUT, path, key, "application/json", body.to_string().into_bytes()).await
    }

    /// DELETEs `path` with `key`.
    pub async fn delete(&self, key: &str, path: &str) -> (StatusCode, Value) {
        self.exchange(poem::http::Method::DELETE, path, Some(&format!("Bearer {key}")), None).await
    }

    /// Uploads a file body (`application/octet-stream`).
    pub async fn upload(&self, key: &str, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.request(poem::http::Method::POST, path, key, "application/octet-stream", bytes).await
    }

    /// An operator's message through the API channel, with the ops agent's key.
    pub async fn send(&self, team: &str, body: Value) -> (StatusCode, Value) {
        let key = if team == "games" { &self.keys.games_admin } else { &self.keys.ops_agent };
        self.post(key, &format!("/api/v1/teams/{team}/messages"), body).await
    }

    /// The operator's feedback on the last answer; returns the status.
    pub async fn feedback(&self, user: &str, resolved: bool) -> StatusCode {
        let path = format!("/api/v1/teams/ops/conversations/{user}/feedback");
        self.post(&self.keys.ops_agent, &path, serde_json::json!({ "resolved": resolved })).await.0
    }
}

/// The harness's address guard: public addresses only, as on a real instance, with the
/// names the tests use pinned so no lookup leaves the machine: `crm.example.com` is a
/// public address (never contacted: the harness runs no webhook sender),
/// `internal.example.com` a private one and `rebind.example.com` a public and a loopback
/// one. Any other name has no address: nothing is ever looked up.
pub fn test_outbound_policy() -> OutboundPolicy {
    let public: std::net::IpAddr = "93.184.215.14".parse().expect("an address");
    let private: std::net::IpAddr = "10.0.0.7".parse().expect("an address");
    let loopback: std::net::IpAddr = "127.0.0.1".parse().expect("an address");
    OutboundPolicy::public_only()
        .with_host("crm.example.com", [public])
        .with_host("internal.example.com", [private])
        .with_host("rebind.example.com", [public, loopback])
        .hosts_only()
}
