//! A team's policies, compiled once from its settings and roster: the answer policy
//! (confidence → answer / clarify / transfer), field extraction, how operators ask for a
//! person or give feedback in words, and on-call routing. Pure: time comes in as an argument.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use regex::{Regex, RegexBuilder};
use switchboard_oncall::{from_roster, Schedule, Staffing};
use switchboard_schemas::event::{AnswerPolicy, AnswerTarget, MatchDecision, RequiredField, Roster, TeamSettings};
use switchboard_schemas::StaffId;

use crate::ports::Ranking;

/// Why a team's settings cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// A required field's pattern is not a valid regular expression.
    #[error("required field {field:?}: pattern is not a valid regular expression: {reason}")]
    BadPattern {
        /// The field.
        field: String,
        /// The regex parser's explanation.
        reason: String,
    },
    /// Thresholds outside `[0, 1]` or `clarify_at > answer_at`.
    #[error(
        "answer policy needs 0 <= clarify_at <= answer_at <= 1 (got clarify_at {clarify_at}, answer_at {answer_at})"
    )]
    BadThresholds {
        /// Configured clarify threshold.
        clarify_at: f32,
        /// Configured answer threshold.
        answer_at: f32,
    },
    /// `answer_at` is not the threshold derived from the target precision set with it.
    #[error(
        "answer_at {answer_at} is not {derived}, the threshold derived from the target precision; \
         remove answer_policy.target to set a threshold by hand, or set a new target precision"
    )]
    TargetThreshold {
        /// The answer threshold given.
        answer_at: f32,
        /// The one the target gave.
        derived: f32,
    },
    /// The on-call set-up cannot be used.
    #[error(transparent)]
    OnCall(#[from] switchboard_oncall::OnCallError),
    /// A duration, count or size outside what the engine accepts from a team.
    #[error(transparent)]
    OutOfBounds(#[from] OutOfBounds),
}

/// The bounds on every value a team admin sets (declared in the documents' JSON Schema too).
pub use switchboard_schemas::bounds;
use switchboard_schemas::bounds::OutOfBounds;

/// Checks every bound on a team's settings (see [`bounds`]).
fn check_settings(settings: &TeamSettings) -> Result<(), PolicyError> {
    use bounds::*;
    within("reconfirm_after_secs", settings.reconfirm_after_secs, 1..=MAX_TIMER_SECS)?;
    within("close_after_secs", settings.close_after_secs, 1..=MAX_TIMER_SECS)?;
    within("max_message_chars", settings.max_message_chars, 1..=MAX_MESSAGE_CHARS)?;
    within("answer_policy.max_choices", settings.answer_policy.max_choices, 0..=MAX_CHOICES)?;
    if let Some(target) = &settings.answer_policy.target {
        check_target(target)?;
        if target.answer_at != settings.answer_policy.answer_at {
            return Err(PolicyError::TargetThreshold {
                answer_at: settings.answer_policy.answer_at,
                derived: target.answer_at,
            });
        }
    }
    few("human_keywords", settings.human_keywords.len(), MAX_HUMAN_KEYWORDS)?;
    for keyword in &settings.human_keywords {
        short("human_keywords[]", keyword, MAX_KEYWORD_CHARS)?;
    }
    few("required_fields", settings.required_fields.len(), MAX_REQUIRED_FIELDS)?;
    for field in &settings.required_fields {
        within("required_fields[].key", field.key.chars().count(), 1..=MAX_FIELD_KEY_CHARS)?;
        short("required_fields[].prompt", &field.prompt, MAX_TEXT_CHARS)?;
        short("required_fields[].pattern", &field.pattern, MAX_TEXT_CHARS)?;
    }
    let texts = &settings.texts;
    for (setting, text) in [
        ("texts.feedback_hint", &texts.feedback_hint),
        ("texts.clarify_intro", &texts.clarify_intro),
        ("texts.transfer_notice", &texts.transfer_notice),
        ("texts.nobody_on_call", &texts.nobody_on_call),
        ("texts.reconfirm", &texts.reconfirm),
        ("texts.closed_stale", &texts.closed_stale),
        ("texts.closed_resolved", &texts.closed_resolved),
        ("texts.after_hours", &texts.after_hours),
        ("texts.describe_attachment", &texts.describe_attachment),
    ] {
        short(setting, text, MAX_TEXT_CHARS)?;
    }
    within("console.page_size", settings.console.page_size, 1..=MAX_PAGE_SIZE)?;
    within("console.refresh_secs", settings.console.refresh_secs, 1..=MAX_REFRESH_SECS)?;
    within("attachments.max_bytes", settings.attachments.max_bytes, 1..=MAX_ATTACHMENT_BYTES)?;
    if let Some(days) = settings.attachments.retention_days {
        within("attachments.retention_days", days, 1..=MAX_RETENTION_DAYS)?;
    }
    Ok(())
}

/// Checks every bound on a roster (see [`bounds`]).
pub fn check_roster(roster: &Roster) -> Result<(), PolicyError> {
    use bounds::*;
    few("roster.categories", roster.categories.len(), MAX_CATEGORIES)?;
    for (category, rotation) in &roster.categories {
        within("roster.categories (name)", category.chars().count(), 1..=MAX_CATEGORY_CHARS)?;
        few("roster.categories[]", rotation.len(), MAX_PARTICIPANTS)?;
    }
    Ok(few("roster.default", roster.default.len(), MAX_PARTICIPANTS)?)
}

/// Checks a target precision and what was derived from it.
fn check_target(target: &AnswerTarget) -> Result<(), PolicyError> {
    use bounds::{within, MAX_TARGET_PRECISION, MIN_TARGET_PRECISION};
    within("answer_policy.target.precision", target.precision, MIN_TARGET_PRECISION..=MAX_TARGET_PRECISION)?;
    within("answer_policy.target.answer_at", target.answer_at, 0.0..=1.0)?;
    within("answer_policy.target.expected_precision", target.expected_precision, 0.0..=1.0)?;
    Ok(within("answer_policy.target.coverage", target.coverage, 0.0..=1.0)?)
}

/// Refuses thresholds outside `[0, 1]` or a clarify threshold above the answer threshold.
pub fn check_thresholds(policy: &AnswerPolicy) -> Result<(), PolicyError> {
    let in_range = |x: f32| (0.0..=1.0).contains(&x);
    if !in_range(policy.clarify_at) || !in_range(policy.answer_at) || policy.clarify_at > policy.answer_at {
        return Err(PolicyError::BadThresholds { clarify_at: policy.clarify_at, answer_at: policy.answer_at });
    }
    Ok(())
}

/// Applies the thresholds of `policy` to a ranking: answer, offer choices or hand over.
pub fn decide_match(policy: &AnswerPolicy, ranking: &Ranking) -> MatchDecision {
    let Some(top) = ranking.candidates.first() else {
        return MatchDecision::Transfer;
    };
    if ranking.confidence >= policy.answer_at {
        MatchDecision::Answer { faq_id: top.faq_id.clone() }
    } else if ranking.confidence >= policy.clarify_at && policy.max_choices > 0 {
        let choices =
            ranking.candidates.iter().take(usize::from(policy.max_choices)).map(|c| c.faq_id.clone()).collect();
        MatchDecision::Clarify { choices }
    } else {
        MatchDecision::Transfer
    }
}

/// A team's settings and roster, validated and compiled for use in every decision.
#[derive(Debug, Clone)]
pub struct TeamPolicy {
    settings: TeamSettings,
    roster: Roster,
    fields: Vec<(RequiredField, Regex)>,
    key_holders: BTreeSet<StaffId>,
    schedule: Schedule,
    staffing: Staffing,
}

impl TeamPolicy {
    /// Validates and compiles settings and roster.
    pub fn new(settings: TeamSettings, roster: Roster) -> Result<Self, PolicyError> {
        check_thresholds(&settings.answer_policy)?;
        check_settings(&settings)?;
        check_roster(&roster)?;
        let fields = settings
            .required_fields
            .iter()
            .map(|field| {
                RegexBuilder::new(&field.pattern)
                    .size_limit(bounds::MAX_PATTERN_BYTES)
                    .build()
                    .map(|re| (field.clone(), re))
                    .map_err(|e| PolicyError::BadPattern { field: field.key.clone(), reason: e.to_string() })
            })
            .collect::<Result<_, _>>()?;
        let schedule = Schedule::new(from_roster(&roster))?;
        Ok(Self { settings, roster, fields, key_holders: BTreeSet::new(), schedule, staffing: Staffing::default() })
    }

    /// Routes by this on-call schedule and staffing instead of the roster's rotation.
    pub fn with_on_call(mut self, schedule: Schedule, staffing: Staffing) -> Self {
        self.schedule = schedule;
        self.staffing = staffing;
        self
    }

    /// The on-call schedule in force.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The overrides, time off and availability in force.
    pub fn staffing(&self) -> &Staffing {
        &self.staffing
    }

    /// Also counts these people (the holders of the team's access keys) as the team's
    /// staff, to whom a session may be transferred.
    pub fn with_key_holders(mut self, holders: impl IntoIterator<Item = StaffId>) -> Self {
        self.key_holders = holders.into_iter().collect();
        self
    }

    /// Whether `staff` belongs to the team: on its roster or holding one of its keys. Only
    /// they may be handed a session, so an assignee can never address anyone else.
    pub fn is_staff(&self, staff: &StaffId) -> bool {
        self.key_holders.contains(staff)
            || self.roster.default.contains(staff)
            || self.roster.categories.values().any(|rotation| rotation.contains(staff))
            || self.schedule.people().any(|person| person == staff)
    }

    /// The settings in force.
    pub fn settings(&self) -> &TeamSettings {
        &self.settings
    }

    /// The roster in force.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The required fields in the order they are asked for.
    pub fn required_fields(&self) -> impl Iterator<Item = &RequiredField> {
        self.fields.iter().map(|(field, _)| field)
    }

    /// Finds the value of `field` in `text`: the first capture group, or the whole match.
    pub fn extract(&self, field: &str, text: &str) -> Option<String> {
        let (_, re) = self.fields.iter().find(|(f, _)| f.key == field)?;
        let caps = re.captures(text)?;
        caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str().to_owned())
    }

    /// Applies the thresholds to a ranking.
    pub fn decide_match(&self, ranking: &Ranking) -> MatchDecision {
        decide_match(&self.settings.answer_policy, ranking)
    }

    /// True when the operator asks for a person: the whole message is one of the team's
    /// keywords, or a short message contains a non-ASCII keyword ("我要转人工").
    pub fn is_human_request(&self, text: &str) -> bool {
        let text = normalise(text);
        self.settings.human_keywords.iter().any(|keyword| {
            let keyword = normalise(keyword);
            !keyword.is_empty()
                && (text == keyword
                    || (!keyword.is_ascii() && text.chars().count() <= 12 && text.contains(keyword.as_str())))
        })
    }

    /// Whom a session of `category` goes to at `at`: whoever is on call and available,
    /// passing over people away or off to the next in the layer, then the next layer.
    pub fn on_call(&self, category: Option<&str>, at: DateTime<Utc>) -> Option<StaffId> {
        self.schedule.route(&self.staffing, category, at)
    }
}

/// Reads feedback given in words: `Some(true)` for "resolved", `Some(false)` for "not
/// resolved", `None` for anything else (which is then treated as a new question).
pub fn feedback_in_words(text: &str) -> Option<bool> {
    const NOT_RESOLVED: &[&str] = &["没解决", "未解决", "没有解决", "还是不行", "not resolved", "unresolved", "no"];
    const RESOLVED: &[&str] = &["解决了", "已解决", "好的谢谢", "谢谢", "resolved", "solved", "yes", "thanks"];
    let text = normalise(text);
    if NOT_RESOLVED.contains(&text.as_str()) {
        Some(false)
    } else if RESOLVED.contains(&text.as_str()) {
        Some(true)
    } else {
        None
    }
}

/// Reads a numbered choice ("2", "２", " 2. ") within `1..=count`.
pub fn choice_in_words(text: &str, count: usize) -> Option<u8> {
    let text = normalise(text);
    let digits: String = text.chars().filter(|c| !matches!(c, '.' | '。' | '、' | ')' | '）')).collect();
    let n: u8 = digits.parse().ok()?;
    (1..=count).contains(&usize::from(n)).then_some(n)
}

/// Lowercase, full-width ASCII folded to half-width, surrounding blanks and end punctuation
/// removed.
fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect();
    folded.trim().trim_end_matches(['!', '?', '.', '。', '！', '？', '~']).trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use switchboard_schemas::event::MatchCandidate;
    use switchboard_schemas::FaqId;

    fn staff(id: &str) -> StaffId {
        StaffId::new(id).unwrap()
    }

    fn ranking(confidence: f32, n: usize) -> Ranking {
        let candidates = (0..n)
            .map(|i| MatchCandidate {
                faq_id: FaqId::new(format!("f{i}")).unwrap(),
                question: format!("q{i}"),
                answer: format!("a{i}"),
                category: None,
                score: 1.0,
                keyword_score: None,
                semantic_score: None,
            })
            .collect();
        Ranking { candidates, confidence, engine: "test".into() }
    }

    #[test]
    fn thresholds_choose_answer_clarify_or_transfer() {
        let policy = TeamPolicy::new(TeamSettings::default(), Roster::default()).unwrap();
        assert!(matches!(policy.decide_match(&ranking(0.9, 3)), MatchDecision::Answer { .. }));
        assert!(
            matches!(policy.decide_match(&ranking(0.3, 5)), MatchDecision::Clarify { choices } if choices.len() == 3)
        );
        assert_eq!(policy.decide_match(&ranking(0.1, 3)), MatchDecision::Transfer);
        assert_eq!(policy.decide_match(&ranking(0.99, 0)), MatchDecision::Transfer);
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let mut settings = TeamSettings::default();
        settings.required_fields.push(RequiredField {
            key: "activity_id".into(),
            prompt: "?".into(),
            pattern: "(".into(),
        });
        assert!(matches!(TeamPolicy::new(settings, Roster::default()), Err(PolicyError::BadPattern { .. })));
        let mut settings = TeamSettings::default();
        settings.answer_policy.clarify_at = 0.9;
        assert!(matches!(TeamPolicy::new(settings, Roster::default()), Err(PolicyError::BadThresholds { .. })));
    }

    #[test]
    fn every_value_a_team_sets_is_bounded() {
        let refused = |change: fn(&mut TeamSettings)| {
            let mut settings = TeamSettings::default();
            change(&mut settings);
            match TeamPolicy::new(settings, Roster::default()) {
                Err(PolicyError::OutOfBounds(OutOfBounds { setting, .. })) => setting,
                other => panic!("expected a bound to refuse, got {other:?}"),
            }
        };
        // The exploit of the review: one team's huge timer overflowed the core's clock.
        assert_eq!(refused(|s| s.close_after_secs = 10_000_000_000_000), "close_after_secs");
        assert_eq!(refused(|s| s.reconfirm_after_secs = u64::MAX), "reconfirm_after_secs");
        assert_eq!(refused(|s| s.reconfirm_after_secs = 0), "reconfirm_after_secs");
        assert_eq!(refused(|s| s.max_message_chars = u32::MAX), "max_message_chars");
        assert_eq!(refused(|s| s.answer_policy.max_choices = 200), "answer_policy.max_choices");
        assert_eq!(refused(|s| s.human_keywords = vec!["x".into(); 51]), "human_keywords");
        assert_eq!(refused(|s| s.human_keywords = vec!["长".repeat(33)]), "human_keywords[]");
        assert_eq!(refused(|s| s.texts.reconfirm = "x".repeat(1_001)), "texts.reconfirm");
        assert_eq!(refused(|s| s.console.page_size = 1_000_000), "console.page_size");
        assert_eq!(refused(|s| s.console.refresh_secs = 0), "console.refresh_secs");
        // A retention of billions of days overflowed the sweep's date arithmetic; none at
        // all would delete what was just sent.
        assert_eq!(refused(|s| s.attachments.retention_days = Some(u32::MAX)), "attachments.retention_days");
        assert_eq!(refused(|s| s.attachments.retention_days = Some(0)), "attachments.retention_days");
        assert_eq!(refused(|s| s.attachments.max_bytes = 0), "attachments.max_bytes");
        assert_eq!(refused(|s| s.attachments.max_bytes = u64::MAX), "attachments.max_bytes");
        assert_eq!(refused(|s| s.texts.describe_attachment = "x".repeat(1_001)), "texts.describe_attachment");
        let field = RequiredField { key: "k".into(), prompt: "?".into(), pattern: "\\d+".into() };
        let many = vec![field; 11];
        let mut settings = TeamSettings { required_fields: many, ..TeamSettings::default() };
        assert!(matches!(
            TeamPolicy::new(settings.clone(), Roster::default()),
            Err(PolicyError::OutOfBounds(OutOfBounds { setting, .. })) if setting == "required_fields"
        ));
        settings.required_fields.truncate(1);
        settings.required_fields[0].pattern = "(a{1000}){1000}".into();
        assert!(
            matches!(TeamPolicy::new(settings, Roster::default()), Err(PolicyError::BadPattern { .. })),
            "a pattern that compiles to a huge automaton is refused"
        );
        let at_the_limit = TeamSettings {
            reconfirm_after_secs: bounds::MAX_TIMER_SECS,
            close_after_secs: bounds::MAX_TIMER_SECS,
            ..TeamSettings::default()
        };
        assert!(TeamPolicy::new(at_the_limit, Roster::default()).is_ok());
    }

    #[test]
    fn rosters_are_bounded() {
        let roster = Roster { default: (0..101).map(|i| staff(&format!("e{i}"))).collect(), ..Roster::default() };
        assert!(
            matches!(check_roster(&roster), Err(PolicyError::OutOfBounds(OutOfBounds { setting, .. })) if setting == "roster.default")
        );
        let categories = (0..101).map(|i| (format!("c{i}"), vec![staff("wang")])).collect();
        let roster = Roster { categories, ..Roster::default() };
        assert!(check_roster(&roster).is_err());
        let mut roster = Roster::default();
        roster.categories.insert(String::new(), vec![staff("wang")]);
        assert!(check_roster(&roster).is_err(), "a category needs a name");
    }

    #[test]
    fn staff_are_the_roster_and_the_key_holders() {
        let mut roster = Roster::default();
        roster.categories.insert("prizes".into(), vec![staff("wang")]);
        roster.default = vec![staff("zhao")];
        let policy = TeamPolicy::new(TeamSettings::default(), roster).unwrap().with_key_holders([staff("li")]);
        for member in ["wang", "zhao", "li"] {
            assert!(policy.is_staff(&staff(member)), "{member}");
        }
        assert!(!policy.is_staff(&staff("stranger")));
    }

    #[test]
    fn the_on_call_engineer_rotates_weekly_per_category() {
        let mut roster = Roster::default();
        roster.categories.insert("prizes".into(), vec![staff("wang"), staff("li")]);
        roster.default = vec![staff("zhao")];
        let policy = TeamPolicy::new(TeamSettings::default(), roster).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let this_week = policy.on_call(Some("prizes"), monday).unwrap();
        let next_week = policy.on_call(Some("prizes"), monday + Duration::weeks(1)).unwrap();
        assert_ne!(this_week, next_week);
        assert_eq!(policy.on_call(Some("prizes"), monday + Duration::days(6)), Some(this_week));
        assert_eq!(policy.on_call(Some("unknown"), monday), Some(staff("zhao")));
        assert_eq!(policy.on_call(None, monday), Some(staff("zhao")));
    }

    #[test]
    fn operators_ask_for_a_person_in_either_language() {
        let policy = TeamPolicy::new(TeamSettings::default(), Roster::default()).unwrap();
        for text in ["人工", "我要转人工！", "Human", " agent. ", "ＨＵＭＡＮ"] {
            assert!(policy.is_human_request(text), "{text}");
        }
        for text in ["human resources activity setup", "如何设置活动的人工审核流程以及审核时限"] {
            assert!(!policy.is_human_request(text), "{text}");
        }
    }

    #[test]
    fn feedback_and_choices_are_read_from_words() {
        assert_eq!(feedback_in_words("解决了"), Some(true));
        assert_eq!(feedback_in_words("没解决"), Some(false));
        assert_eq!(feedback_in_words("Not resolved."), Some(false));
        assert_eq!(feedback_in_words("活动怎么解决了"), None);
        assert_eq!(choice_in_words("２", 3), Some(2));
        assert_eq!(choice_in_words("3.", 3), Some(3));
        assert_eq!(choice_in_words("4", 3), None);
        assert_eq!(choice_in_words("0", 3), None);
    }

    #[test]
    fn fields_are_extracted_with_the_first_capture_group() {
        let mut settings = TeamSettings::default();
        settings.required_fields.push(RequiredField {
            key: "activity_id".into(),
            prompt: "请提供活动ID".into(),
            pattern: r"(?i)(?:活动\s*id|activity\s*id)?\D*(\d{5,})".into(),
        });
        let policy = TeamPolicy::new(settings, Roster::default()).unwrap();
        assert_eq!(policy.extract("order_id", "活动ID 123456 的时间怎么改"), None);
        assert_eq!(policy.extract("activity_id", "活动ID 123456 的时间怎么改").as_deref(), Some("123456"));
        assert_eq!(policy.extract("activity_id", "不知道"), None);
    }
}
