//! The WeCom callback route, whole: a query and a body as anyone on the internet could send
//! them, and ciphertexts and plaintexts sealed and signed with the team's real credentials
//! (or another team's), so the fuzzer reaches the decryption, the message parser and the
//! engine behind the signature check. A refusal must be one of the documented statuses and
//! write nothing; another team's credentials are always refused.

use std::sync::{Arc, OnceLock};

use poem::http::{Method, StatusCode, Uri};
use poem::{Endpoint, EndpointExt, Request, Route};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_schemas::{StaffId, TeamId};
use switchboard_secret::Secret;
use switchboard_wecom::{routes, CallbackOptions, WecomApp, WecomApps, WecomCrypto, DEFAULT_MOUNT_PATH};
use uuid::Uuid;

use crate::Verdict;

/// Tencent's published sample credentials, for team `ops`.
const OPS: (&str, &str) = ("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
/// Another team's.
const GAMES: (&str, &str) = ("gAmEsToKeN", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFA");
const CORP: &str = "wx5823bf96d3bd56c7";
const AGENT: u64 = 218;

struct Harness {
    tokio: tokio::runtime::Runtime,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    log: Arc<dyn EventLog>,
    ops: WecomCrypto,
    games: WecomCrypto,
    _dir: tempfile::TempDir,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let log: Arc<dyn EventLog> = Arc::new(
            SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).expect("an event log"),
        );
        let runtime = Arc::new(Runtime::new(log.clone(), Arc::new(SystemClock)));
        let mut apps = Vec::new();
        for (name, (token, key)) in [("ops", OPS), ("games", GAMES)] {
            let team = TeamId::new(name).expect("a team id");
            let cause = Causation::root(Uuid::now_v7());
            let roster = Roster { default: vec![StaffId::new("zhao").expect("a staff id")], ..Roster::default() };
            tokio.block_on(async {
                let commands = [
                    TeamCommand::Create { name: name.into(), cloned_from: None },
                    TeamCommand::Configure { settings: Box::new(TeamSettings::default()) },
                    TeamCommand::UpdateRoster { roster },
                ];
                for command in commands {
                    runtime.team(&team, command, cause).await.expect("the team is set up");
                }
            });
            apps.push((team, WecomApp::new(CORP, AGENT, Secret::new(token), Secret::new(key), "WECOM_SECRET")));
        }
        let apps = Arc::new(WecomApps::new(apps).expect("valid applications"));
        let endpoint = Route::new().nest(DEFAULT_MOUNT_PATH, routes(runtime, apps, CallbackOptions::default())).boxed();
        let crypto = |(token, key)| WecomCrypto::new(token, key, CORP).expect("valid credentials");
        Harness { tokio, endpoint, log, ops: crypto(OPS), games: crypto(GAMES), _dir: dir }
    }
}

/// A body and query as WeCom sends them: `encrypted` in an envelope, signed by `crypto`.
fn sealed(crypto: &WecomCrypto, encrypted: &str) -> (String, Vec<u8>) {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = "1372623149";
    let signature = crypto.signature(&timestamp, nonce, encrypted);
    let envelope = switchboard_wecom::xml::Envelope {
        to_user_name: Some(CORP.into()),
        agent_id: Some(AGENT.to_string()),
        encrypt: encrypted.into(),
    };
    (format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"), envelope.to_xml().into_bytes())
}

/// The first byte picks how the rest is sent: as a raw query line and body; as a
/// ciphertext, signed; as a plaintext, sealed and signed with team `ops`'s credentials; or
/// the same with team `games`'s, posted to `ops`.
pub fn run(data: &[u8]) -> Verdict {
    let h = HARNESS.get_or_init(Harness::new);
    let Some((&pick, rest)) = data.split_first() else { return Verdict::Skipped };
    let text = String::from_utf8_lossy(rest);
    let foreign = pick % 4 == 3;
    let (query, body) = match pick % 4 {
        0 => {
            let (line, body) = rest.split_at(rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()));
            (super::query(line), body.get(1..).unwrap_or_default().to_vec())
        }
        1 => sealed(&h.ops, &text),
        2 => match h.ops.encrypt(&text, [7; 16]) {
            Ok(encrypted) => sealed(&h.ops, &encrypted),
            Err(_) => return Verdict::Skipped,
        },
        _ => match h.games.encrypt(&text, [7; 16]) {
            Ok(encrypted) => sealed(&h.games, &encrypted),
            Err(_) => return Verdict::Skipped,
        },
    };
    let Ok(uri) = format!("{DEFAULT_MOUNT_PATH}/ops/callback?{query}").parse::<Uri>() else { return Verdict::Skipped };
    h.tokio.block_on(async {
        let before = h.log.head().await.expect("the log answers");
        let request = Request::builder().method(Method::POST).uri(uri).body(body);
        let response = h.endpoint.get_response(request).await;
        let status = response.status();
        let answer = response.into_body().into_string().await.unwrap_or_default();
        if foreign {
            assert_eq!(status, StatusCode::FORBIDDEN, "another team's credentials were not refused: {answer}");
        }
        if status == StatusCode::OK {
            return Verdict::Accepted;
        }
        assert!(
            matches!(status.as_u16(), 400 | 403 | 413),
            "a callback was answered {status} ({answer}), which is not a documented refusal"
        );
        assert!(!answer.is_empty(), "the {status} refusal does not say why");
        assert_eq!(
            h.log.head().await.expect("the log answers"),
            before,
            "a callback refused with {status} wrote to the log"
        );
        Verdict::Refused
    })
}
