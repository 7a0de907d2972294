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
    let server = Server::start(dir.path(), None, &["--demo"]);
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
    for page in ["02-sessions", "03-conversation", "08-statistics", "12-team-wecom"] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "screenshot {page} in {}", screenshots.display());
    }
    server.kill();
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
