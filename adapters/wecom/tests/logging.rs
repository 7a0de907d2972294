//! Refusals and accepted callbacks log ids, codes and lengths, never the token, the key or
//! the message text.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::SystemClock;
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::TeamId;
use switchboard_secret::Secret;
use switchboard_wecom::xml::{Body, Envelope, Header, Message};
use switchboard_wecom::{routes, CallbackOptions, WecomApp, WecomApps, WecomCrypto, DEFAULT_MOUNT_PATH};
use uuid::Uuid;

const TOKEN: &str = "SecretTok3n";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const TEXT: &str = "confidential-question-text";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime, so the thread-local subscriber sees every handler's lines.
#[tokio::test]
async fn log_lines_carry_codes_and_ids_but_no_secrets_or_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let runtime = Arc::new(Runtime::new(log, Arc::new(SystemClock)));
    let team = TeamId::new("ops").unwrap();
    runtime
        .team(&team, TeamCommand::Create { name: "Ops".into(), cloned_from: None }, Causation::root(Uuid::now_v7()))
        .await
        .unwrap();
    let app = WecomApp::new("ww1", 7, Secret::new(TOKEN), Secret::new(KEY), "WECOM_SECRET");
    let apps = Arc::new(WecomApps::new([(team, app)]).unwrap());
    let client = TestClient::new(
        Route::new().nest(DEFAULT_MOUNT_PATH, routes(runtime, apps, CallbackOptions::default())).boxed(),
    );
    let crypto = WecomCrypto::new(TOKEN, KEY, "ww1").unwrap();

    let message = |content: &str, agent: &str| Message {
        header: Header {
            to_user_name: "ww1".into(),
            from_user_name: "zhangsan".into(),
            create_time: 1_700_000_000,
            agent_id: Some(agent.into()),
        },
        body: Body::Text { msg_id: "m-77".into(), content: content.into() },
    };
    let post = |encrypted: String, signature_ok: bool| {
        let ts = chrono::Utc::now().timestamp().to_string();
        let mut signature = crypto.signature(&ts, "n", &encrypted);
        if !signature_ok {
            signature = "0".repeat(40);
        }
        let body = Envelope { to_user_name: None, agent_id: None, encrypt: encrypted }.to_xml();
        client.post(format!("/wecom/ops/callback?msg_signature={signature}&timestamp={ts}&nonce=n")).body(body).send()
    };
    let good = crypto.encrypt(&message(TEXT, "7").to_xml(), [5; 16]).unwrap();
    assert_eq!(post(good.clone(), true).await.0.status(), StatusCode::OK);
    assert_eq!(post(good, true).await.0.status(), StatusCode::OK);
    let bad_sig = crypto.encrypt(&message(TEXT, "7").to_xml(), [6; 16]).unwrap();
    assert_eq!(post(bad_sig, false).await.0.status(), StatusCode::FORBIDDEN);
    let wrong_agent = crypto.encrypt(&message(TEXT, "8").to_xml(), [6; 16]).unwrap();
    assert_eq!(post(wrong_agent, true).await.0.status(), StatusCode::FORBIDDEN);
    let broken = crypto.encrypt(&format!("<xml><Content>{TEXT}</Wrong></xml>"), [6; 16]).unwrap();
    assert_eq!(post(broken, true).await.0.status(), StatusCode::BAD_REQUEST);
    let empty = crypto.encrypt(&message(" ", "7").to_xml(), [6; 16]).unwrap();
    assert_eq!(post(empty, true).await.0.status(), StatusCode::OK);

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "code=\"bad_signature\"",
        "code=\"wrong_agent\"",
        "code=\"bad_message_xml\"",
        "duplicate",
        "refused by the engine",
    ] {
        assert!(output.contains(needle), "no {needle:?} in:\n{output}");
    }
    for secret in [TOKEN, KEY, TEXT] {
        assert!(!output.contains(secret), "{secret:?} leaked into the log:\n{output}");
    }
}
