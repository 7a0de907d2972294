//! FAQ candidates: the questions Switchboard could not answer well (unanswered, transferred,
//! marked "not resolved", reopened), grouped by similar wording so the team writes one FAQ
//! per group, starting with the biggest.
//!
//! Grouping compares character bigrams (Dice coefficient), which needs no word segmenter
//! and holds up on short Chinese and English questions alike; each question joins the most
//! similar group whose first question it resembles enough, or starts a new one.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sessions::CandidateReason;

/// One candidate question as the store returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateRecord {
    /// The session it came from.
    pub session_id: Uuid,
    /// The operator's wording.
    pub query: String,
    /// Why it is a candidate.
    pub reason: CandidateReason,
    /// When it became one.
    pub at: DateTime<Utc>,
    /// The session's category, if known.
    pub category: Option<String>,
}

/// Questions with similar wording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateGroup {
    /// The wording that started the group (the most recent one), shown as its title.
    pub representative: String,
    /// How many questions fell into the group.
    pub count: usize,
    /// Distinct wordings, most recent first (at most [`MAX_EXAMPLES`]).
    pub examples: Vec<String>,
    /// How many questions per reason.
    pub reasons: BTreeMap<CandidateReason, usize>,
    /// The most frequent category among them.
    pub category: Option<String>,
    /// Sessions to read, most recent first (at most [`MAX_EXAMPLES`]).
    pub sessions: Vec<Uuid>,
    /// Every session in the group, most recent first, for approving or rejecting it whole.
    pub members: Vec<Uuid>,
    /// The most recent question's time.
    pub last_seen: DateTime<Utc>,
}

/// Wordings and sessions kept per group.
pub const MAX_EXAMPLES: usize = 5;

/// How similar (Dice over character bigrams) a question must be to a group's first one to
/// join it. Chosen on the LCQMC paraphrase groups (see the `grouping_on_paraphrases` test).
pub const DEFAULT_SIMILARITY: f64 = 0.5;

/// The character bigrams of a question, ignoring case, whitespace and punctuation; a
/// one-character question is its own "bigram".
pub fn bigrams(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    match chars.as_slice() {
        [] => HashSet::new(),
        [only] => HashSet::from([(*only, ' ')]),
        _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

/// The Dice coefficient of two bigram sets, in `[0, 1]`.
pub fn similarity(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.intersection(b).count();
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

/// Assigns each wording (given newest first) a group number: it joins the most similar
/// group whose first wording it resembles at least `threshold`, or starts a new one. Groups
/// are numbered in order of appearance. Wordings are compared with each group's first one
/// through an inverted index of bigrams, so the cost grows with the groups sharing a
/// bigram, not with every pair.
pub fn cluster<'a>(wordings: impl IntoIterator<Item = &'a str>, threshold: f64) -> Vec<usize> {
    let mut leaders: Vec<usize> = Vec::new();
    let mut index: HashMap<(char, char), Vec<usize>> = HashMap::new();
    let mut membership = Vec::new();
    for wording in wordings {
        let signature = bigrams(wording);
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for bigram in &signature {
            for &g in index.get(bigram).map(Vec::as_slice).unwrap_or_default() {
                *shared.entry(g).or_default() += 1;
            }
        }
        let best = shared
            .into_iter()
            .map(|(g, n)| (g, 2.0 * n as f64 / (signature.len() + leaders[g]) as f64))
            .filter(|(_, score)| *score >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let group = best.map_or_else(
            || {
                for bigram in &signature {
                    index.entry(*bigram).or_default().push(leaders.len());
                }
                leaders.push(signature.len());
                leaders.len() - 1
            },
            |(g, _)| g,
        );
        membership.push(group);
    }
    membership
}

/// Groups candidate questions given newest first; the groups come out biggest first (the
/// most recent first among equals).
pub fn group_candidates(records: &[CandidateRecord], threshold: f64) -> Vec<CandidateGroup> {
    let membership = cluster(records.iter().map(|r| r.query.as_str()), threshold);
    let mut groups: Vec<(CandidateGroup, HashMap<&str, usize>)> = Vec::new();
    for (record, &g) in records.iter().zip(&membership) {
        if g == groups.len() {
            let group = CandidateGroup {
                representative: record.query.clone(),
                count: 0,
                examples: Vec::new(),
                reasons: BTreeMap::new(),
                category: None,
                sessions: Vec::new(),
                members: Vec::new(),
                last_seen: record.at,
            };
            groups.push((group, HashMap::new()));
        }
        let (group, categories) = &mut groups[g];
        group.count += 1;
        *group.reasons.entry(record.reason).or_default() += 1;
        if let Some(category) = &record.category {
            *categories.entry(category.as_str()).or_default() += 1;
        }
        if group.examples.len() < MAX_EXAMPLES && !group.examples.contains(&record.query) {
            group.examples.push(record.query.clone());
        }
        if group.sessions.len() < MAX_EXAMPLES && !group.sessions.contains(&record.session_id) {
            group.sessions.push(record.session_id);
        }
        group.members.push(record.session_id);
        group.last_seen = group.last_seen.max(record.at);
    }
    let mut out: Vec<CandidateGroup> = groups
        .into_iter()
        .map(|(mut group, categories)| {
            group.category =
                categories.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(c, _)| c.to_owned());
            group
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(n: u128, query: &str, reason: CandidateReason, category: Option<&str>) -> CandidateRecord {
        CandidateRecord {
            session_id: Uuid::from_u128(n),
            query: query.to_owned(),
            reason,
            at: DateTime::from_timestamp(1_772_000_000 - i64::try_from(n).unwrap() * 60, 0).unwrap(),
            category: category.map(str::to_owned),
        }
    }

    #[test]
    fn similar_wordings_share_a_group_and_the_biggest_group_comes_first() {
        use CandidateReason::*;
        let records = vec![
            record(1, "活动报名失败怎么办？", Unanswered, Some("signup")),
            record(2, "How do I export the participant list?", Transferred, None),
            record(3, "活动报名失败怎么办", NotResolved, Some("signup")),
            record(4, "活动报名失败了怎么办", Unanswered, Some("payment")),
            record(5, "how do I export the participant list", Reopened, None),
            record(6, "发票什么时候开", Unanswered, None),
        ];
        let groups = group_candidates(&records, DEFAULT_SIMILARITY);
        let shape: Vec<(usize, &str)> = groups.iter().map(|g| (g.count, g.representative.as_str())).collect();
        assert_eq!(
            shape,
            vec![(3, "活动报名失败怎么办？"), (2, "How do I export the participant list?"), (1, "发票什么时候开")]
        );
        let signup = &groups[0];
        assert_eq!(signup.examples, vec!["活动报名失败怎么办？", "活动报名失败怎么办", "活动报名失败了怎么办"]);
        assert_eq!(signup.reasons, BTreeMap::from([(Unanswered, 2), (NotResolved, 1)]));
        assert_eq!(signup.category.as_deref(), Some("signup"));
        assert_eq!(signup.sessions, vec![Uuid::from_u128(1), Uuid::from_u128(3), Uuid::from_u128(4)]);
        assert_eq!(signup.last_seen, records[0].at);
        assert_eq!(groups[1].category, None, "no category among them");
    }

    #[test]
    fn examples_and_sessions_are_capped_and_wordings_counted_once() {
        let records: Vec<_> = (0..20).map(|n| record(n, "退款多久到账", CandidateReason::Unanswered, None)).collect();
        let groups = group_candidates(&records, DEFAULT_SIMILARITY);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].count, 20);
        assert_eq!(groups[0].examples, vec!["退款多久到账"]);
        assert_eq!(groups[0].sessions.len(), MAX_EXAMPLES);
        assert_eq!(groups[0].members.len(), 20, "every session can be approved with the group");
    }

    #[test]
    fn similarity_ignores_case_space_and_punctuation() {
        assert_eq!(similarity(&bigrams("Reset  password?"), &bigrams("reset password")), 1.0);
        assert_eq!(similarity(&bigrams("abc"), &bigrams("xyz")), 0.0);
        assert_eq!(bigrams("？"), HashSet::new());
        assert_eq!(bigrams("a"), HashSet::from([('a', ' ')]));
    }
}
