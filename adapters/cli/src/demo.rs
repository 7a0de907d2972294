//! The demo team: an activity platform's FAQ in Chinese and English, an on-call roster,
//! so a newcomer gets answers at once.

use anyhow::{Context, Result};
use serde::Deserialize;
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::runtime::Runtime;
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId};
use uuid::Uuid;

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
    Ok(TeamConfig { name: "Demo activity platform".into(), settings: TeamSettings::default(), roster, wecom: None })
}

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
