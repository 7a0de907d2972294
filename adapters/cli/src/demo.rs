//! The demo team: an activity platform's FAQ in Chinese and English, an on-call roster and
//! schedule with escalation and response targets, so a newcomer gets answers at once.

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, Roster, TeamSettings};
use switchboard_schemas::oncall::{
    ClockKind, EscalationPolicy, EscalationStep, EscalationTarget, Handoff, Layer, OnCallSettings, ResponseTargets,
    ShiftLength, ShiftUnit, Weekday,
};
use switchboard_schemas::{FaqId, StaffId, TeamId};
use uuid::Uuid;

use switchboard_secret::Secret;
use switchboard_wecom::WecomApp;

use crate::config::TeamConfig;

/// The demo team's id.
pub const DEMO_TEAM: &str = "demo";

const DEMO_FAQS: &str = include_str!("../demo/faqs.jsonl");

#[derive(Deserialize)]
struct DemoFaq {
    id: String,
    question: String,
    answer: String,
    category: Option<String>,
    #[serde(default)]
    paraphrases: Vec<String>,
}

/// The demo team's configuration.
pub fn team() -> Result<TeamConfig> {
    let staff = |id: &str| StaffId::new(id).context("demo staff id");
    let mut roster = Roster::default();
    roster.categories.insert("activity".into(), vec![staff("li_lei")?, staff("han_meimei")?]);
    roster.categories.insert("prizes".into(), vec![staff("wang_fang")?]);
    roster.categories.insert("tech".into(), vec![staff("zhang_wei")?, staff("chen_jie")?]);
    roster.default = vec![staff("zhao_min")?];
    Ok(TeamConfig {
        name: "Demo activity platform".into(),
        settings: TeamSettings::default(),
        roster,
        wecom: Some(wecom_app()),
        on_call: Some(on_call()?),
    })
}

/// The demo team's on-call set-up: per category a weekly primary rotation and zhao_min as
/// the secondary, handed over on Mondays at 09:00 Shanghai time; an unacknowledged hand-over
/// calls the next layer after 10 minutes and the lead after 15 more; targets of 15 minutes to
/// acknowledge, 30 to a first reply and 4 hours to resolution. Around the clock, so the
/// demo behaves the same at any hour.
fn on_call() -> Result<OnCallSettings> {
    let people =
        |ids: &[&str]| ids.iter().map(|id| StaffId::new(*id).context("demo staff id")).collect::<Result<Vec<_>>>();
    let layer = |name: &str, participants: Vec<StaffId>| Layer {
        name: name.into(),
        participants,
        shift: ShiftLength { count: 1, unit: ShiftUnit::Weeks },
        handoff: Handoff { weekday: Some(Weekday::Mon), time: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default() },
        starts_on: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default(),
    };
    let layers = |primary: &[&str]| -> Result<Vec<Layer>> {
        Ok(vec![layer("primary", people(primary)?), layer("secondary", people(&["zhao_min"])?)])
    };
    let step = |notify: Vec<EscalationTarget>, wait_minutes| EscalationStep { notify, wait_minutes };
    Ok(OnCallSettings {
        default: vec![layer("primary", people(&["zhao_min"])?)],
        categories: [
            ("activity".to_owned(), layers(&["li_lei", "han_meimei"])?),
            ("prizes".to_owned(), layers(&["wang_fang"])?),
            ("tech".to_owned(), layers(&["zhang_wei", "chen_jie"])?),
        ]
        .into(),
        escalation: EscalationPolicy {
            steps: vec![
                step(vec![EscalationTarget::Assignee], 10),
                step(vec![EscalationTarget::NextLayer], 15),
                step(vec![EscalationTarget::Leads], 30),
            ],
            clock: ClockKind::Wall,
        },
        targets: ResponseTargets {
            acknowledge_minutes: Some(15),
            first_reply_minutes: Some(30),
            resolution_minutes: Some(240),
            clock: ClockKind::Wall,
        },
        leads: people(&["zhao_min"])?,
        ..OnCallSettings::default()
    })
}

/// The demo team's WeCom application: it talks to the WeCom simulator that
/// `switchboard simulate` runs on [`SIMULATOR_ADDR`] (the real WeCom cannot be reached from
/// a demo). Its secret is public: set [`DEMO_SECRET_VAR`] to override it.
pub fn wecom_app() -> WecomApp {
    let mut app =
        WecomApp::new(DEMO_CORP_ID, DEMO_AGENT_ID, Secret::new(DEMO_TOKEN), Secret::new(DEMO_AES_KEY), DEMO_SECRET_VAR);
    app.api_base = format!("http://{SIMULATOR_ADDR}/cgi-bin");
    app.greeting =
        Some("你好！我是活动平台的值班助手，直接描述你的问题即可。Hi! Describe your problem and I will help.".into());
    app
}

/// Where `switchboard simulate` serves the simulated WeCom API by default.
pub const SIMULATOR_ADDR: &str = "127.0.0.1:9300";
/// The demo application's CorpID.
pub const DEMO_CORP_ID: &str = "wwswitchboarddemo";
/// The demo application's AgentId.
pub const DEMO_AGENT_ID: u64 = 1_000_002;
/// The demo application's callback token.
pub const DEMO_TOKEN: &str = "SwitchboardDemo";
/// The demo application's EncodingAESKey.
pub const DEMO_AES_KEY: &str = "nx7wPNT/tJgcCv0u4fWtLQz0AAE8ARVKyuNdaC5kq2I";
/// The environment variable naming the demo application's secret.
pub const DEMO_SECRET_VAR: &str = "SWITCHBOARD_DEMO_WECOM_SECRET";
/// The demo application's secret when the variable is not set (public; demo only).
pub const DEMO_SECRET: &str = "switchboard-demo-secret";

/// Seeds the demo FAQ (re-running changes nothing).
pub async fn seed_faqs(runtime: &Runtime) -> Result<usize> {
    let team = TeamId::new(DEMO_TEAM)?;
    let mut written = 0;
    for (line, text) in DEMO_FAQS.lines().enumerate() {
        let faq: DemoFaq = serde_json::from_str(text).with_context(|| format!("demo FAQ line {}", line + 1))?;
        let command = CatalogCommand::Upsert {
            faq_id: FaqId::new(faq.id)?,
            entry: FaqEntry {
                question: faq.question,
                answer: faq.answer,
                category: faq.category,
                paraphrases: faq.paraphrases,
            },
        };
        written += runtime.catalog(&team, command, Causation::root(Uuid::now_v7())).await?.events;
    }
    Ok(written)
}

/// The demo's global administrator key when `SWITCHBOARD_ADMIN_KEY` is not set (public;
/// demo only).
pub const DEMO_ADMIN_KEY: &str = "switchboard-demo-admin-key";

/// The demo team's access keys: (token, label, role, staff). Public, like the rest of the
/// demo; a real team's keys are issued with `switchboard keys issue` or in the console.
pub const DEMO_KEYS: [(&str, &str, AccessRole, &str); 3] = [
    ("sbk.demo.demo-team-admin", "demo team admin", AccessRole::Admin, "zhao_min"),
    ("sbk.demo.demo-agent", "demo on-call engineer", AccessRole::Agent, "wang_fang"),
    ("sbk.demo.demo-viewer", "demo viewer", AccessRole::Viewer, "guest"),
];

/// The key a command reads a team's data with: the one given, else the demo team's viewer
/// key when the team is the demo's.
pub fn reading_key(given: Option<String>, team: &str) -> Option<String> {
    given.or_else(|| (team == DEMO_TEAM).then(|| DEMO_KEYS[2].0.to_owned()))
}

/// Records the demo team's access keys (once; re-running changes nothing).
pub async fn seed_keys(runtime: &Runtime) -> Result<usize> {
    let team = TeamId::new(DEMO_TEAM)?;
    let state = runtime.load_team(&team).await?;
    let mut written = 0;
    for (n, (token, label, role, staff)) in DEMO_KEYS.into_iter().enumerate() {
        let digest = switchboard_http::auth::digest_hex(token);
        if state.key_by_digest(&digest).is_some() {
            continue;
        }
        let command = TeamCommand::IssueKey {
            key_id: Uuid::from_u128(0xdeed_0000 + n as u128),
            label: label.into(),
            role,
            staff: StaffId::new(staff)?,
            token_sha256: digest,
        };
        written += runtime.team(&team, command, Causation::root(Uuid::now_v7())).await?.events;
    }
    Ok(written)
}
