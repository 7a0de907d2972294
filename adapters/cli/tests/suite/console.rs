//! The admin console used as a person would: `ops/browser/console.mjs` drives headless
//! Chromium through the demo served by the real binary (log in, filter, watch a new session
//! arrive, remark, close, upload FAQ files good and bad, edit, approve a candidate, read the
//! statistics, switch language, onboard a team and verify its WeCom URL); and the chat widget
//! (`ops/browser/widget.mjs`): answer, feedback, transfer, live reply, reload, close, framed. Node, Chromium and
//! playwright-core come from `ops/setup.sh`; any of them missing fails the test.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use crate::common::{Server, ADMIN_KEY};
use serde_json::json;
use switchboard_schemas::attachment::AttachmentKind;
use switchboard_wecom::simulator::{CallbackSender, SimulatorConfig, WecomSimulator};
use switchboard_wecom::xml::{Body, Header, Message};
use switchboard_wecom::WecomCrypto;

/// The demo team's administrator key (`serve --demo` issues it).
const TEAM_ADMIN_KEY: &str = "sbk.demo.demo-team-admin";

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ops/browser")
}

#[test]
fn the_console_works_in_a_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(PathBuf::from(&chromium).exists(), "{chromium} is missing: run ops/setup.sh (Debian package chromium)");
    assert!(
        browser_dir().join("node_modules/playwright-core/package.json").exists(),
        "playwright-core is missing in ops/browser: run ops/setup.sh (npm ci there)"
    );

    let dir = tempfile::tempdir().unwrap();
    // The demo's WeCom application talks to the simulator, which keeps the screenshot an
    // operator sends.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let simulator = WecomSimulator::new(SimulatorConfig::new(DEMO_CORP_ID, "switchboard-demo-secret", DEMO_AGENT_ID));
    let api = runtime.block_on(simulator.serve(([127, 0, 0, 1], 0).into())).unwrap();
    let server = Server::start(dir.path(), None, &["--demo", "--demo-wecom-api", &format!("http://{api}/cgi-bin")]);
    send_screenshot(&runtime, &simulator, &server.base);
    // What the pages need to show: answered, handed over, and two unanswered questions of
    // the same meaning (one FAQ candidate).
    for (user, text) in [
        ("lisi", "活动页面打不开白屏怎么办"),
        ("zhangsan", "奖品库存不足怎么办"),
        ("a1", "发票什么时候能开出来"),
        ("a2", "发票多久能开出来"),
        ("wangwu", "转人工"),
    ] {
        server.post("/api/v1/teams/demo/messages", json!({"user": user, "text": text}));
    }
    let photo = server.eventually("/api/v1/teams/demo/conversations/photo_user", |v| {
        v["sessions"][0]["attachments"][0]["state"] == "stored"
    });
    assert_eq!(photo["sessions"][0]["attachments"][0]["inline"], true, "fetched from WeCom and shown: {photo}");
    let candidates = server.eventually("/api/v1/teams/demo/faq-candidates", |v| v.to_string().contains("发票"));
    assert!(candidates.to_string().contains("发票"), "the invoice questions became a candidate: {candidates}");

    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let output = Command::new("node")
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("BASE", &server.base)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .env("TEAM_KEY", TEAM_ADMIN_KEY)
        .env("ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap_or_else(|e| panic!("node could not be started ({e}): run ops/setup.sh"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the console walkthrough failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("steps passed"), "{stdout}");
    for page in ["02-sessions", "03-conversation", "05-attachment", "08-statistics", "12-team-wecom"] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "screenshot {page} in {}", screenshots.display());
    }
    server.kill();
}

/// The demo application's public settings, as `serve --demo` has them.
const DEMO_CORP_ID: &str = "wwswitchboarddemo";
const DEMO_AGENT_ID: u64 = 1_000_002;
const DEMO_TOKEN: &str = "SwitchboardDemo";
const DEMO_AES_KEY: &str = "nx7wPNT/tJgcCv0u4fWtLQz0AAE8ARVKyuNdaC5kq2I";

/// An operator (`photo_user`) sends a screenshot in WeCom: the simulator keeps the picture
/// and the encrypted image callback goes to the demo's callback endpoint.
fn send_screenshot(runtime: &tokio::runtime::Runtime, simulator: &WecomSimulator, base: &str) {
    let media_id = simulator.add_media(png(320, 200), "image/png", "screenshot.png");
    let crypto = WecomCrypto::new(DEMO_TOKEN, DEMO_AES_KEY, DEMO_CORP_ID).unwrap();
    let sender = CallbackSender::new(format!("{base}/wecom/demo/callback"), crypto, DEMO_CORP_ID, DEMO_AGENT_ID);
    let header = Header {
        to_user_name: DEMO_CORP_ID.into(),
        from_user_name: "photo_user".into(),
        create_time: chrono::Utc::now().timestamp(),
        agent_id: Some(DEMO_AGENT_ID.to_string()),
    };
    let body = Body::Media {
        msg_id: "770001".into(),
        kind: AttachmentKind::Image,
        media_id,
        file_name: None,
        recognition: None,
    };
    let outcome = runtime.block_on(sender.send(&Message { header, body })).unwrap();
    assert_eq!(outcome.status, 200, "the image callback is accepted");
}

/// A real PNG (stored, uncompressed deflate) of a blue-to-green gradient that Chromium
/// decodes, `width` × `height` pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend([40, (x * 255 / width) as u8, (y * 255 / height) as u8]);
        }
    }
    // zlib: a header, stored blocks of at most 65,535 bytes, the Adler-32 of the data.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn the_widget_works_in_a_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(PathBuf::from(&chromium).exists(), "{chromium} is missing: run ops/setup.sh (Debian package chromium)");
    assert!(
        browser_dir().join("node_modules/playwright-core/package.json").exists(),
        "playwright-core is missing in ops/browser: run ops/setup.sh (npm ci there)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--demo"]);
    let issued = server.post("/api/v1/teams/demo/channel/tokens", json!({"user": "widget-user"}));
    let token = issued["token"].as_str().expect("a channel token").to_owned();
    let renewed = server.post("/api/v1/teams/demo/channel/tokens", json!({"user": "widget-user", "ttl_seconds": 7200}));

    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("widget-screenshots");
    let output = Command::new("node")
        .arg("widget.mjs")
        .current_dir(browser_dir())
        .env("BASE", &server.base)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .env("TOKEN", &token)
        .env("TOKEN_RENEWED", renewed["token"].as_str().expect("a second channel token"))
        .env("TEAM_KEY", TEAM_ADMIN_KEY)
        .output()
        .unwrap_or_else(|e| panic!("node could not be started ({e}): run ops/setup.sh"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the widget walkthrough failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("steps passed"), "{stdout}");
    for page in ["w01-answered", "w02-transferred", "w03-human-reply", "w04-closed", "w05-framed"] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "screenshot {page} in {}", screenshots.display());
    }
    server.kill();
}
