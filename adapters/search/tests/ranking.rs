//! Behaviour of the keyword matcher on a small, realistic catalog of activity-platform FAQs.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use switchboard_engine::ports::{Matcher, Ranking};
use switchboard_schemas::event::{
    FaqAdded, FaqCandidateApproved, FaqCandidateHarvested, FaqParaphraseAdded, FaqRemoved, FaqUpdated,
};
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use switchboard_search::{analyze, KeywordMatcher, ENGINE};

fn team(name: &str) -> TeamId {
    TeamId::new(name).unwrap()
}

fn id(name: &str) -> FaqId {
    FaqId::new(name).unwrap()
}

fn added(faq_id: &str, question: &str, answer: &str, paraphrases: &[&str]) -> FaqEvent {
    FaqAdded {
        faq_id: id(faq_id),
        question: question.into(),
        answer: answer.into(),
        category: Some("activity".into()),
        paraphrases: paraphrases.iter().map(|p| p.to_string()).collect(),
    }
    .into()
}

/// Ten FAQs an activity platform's operators ask about, in Chinese and English.
fn catalog() -> Vec<FaqEvent> {
    vec![
        added(
            "zh-start-time",
            "如何修改活动的开始时间？",
            "进入活动管理后台，打开活动详情，点击「编辑」→「时间设置」修改开始时间并保存。已经开始的活动不能再改开始时间。",
            &[],
        ),
        added(
            "zh-cancel",
            "活动发布后可以取消吗？",
            "可以。在活动详情页点击「取消活动」，已报名的用户会收到通知，报名费会自动全额退还。",
            &[],
        ),
        added(
            "zh-refund",
            "用户申请退款后多久到账？",
            "退款审核通过后，款项会在 1 到 3 个工作日内原路退回到用户的支付账户。",
            &[],
        ),
        added(
            "zh-capacity",
            "怎样设置活动的报名人数上限？",
            "在编辑活动页面的「报名设置」里填写人数上限，达到上限后报名自动关闭，用户可以选择候补。",
            &[],
        ),
        added(
            "zh-export",
            "如何导出活动的报名名单？",
            "在「报名管理」页面点击右上角的「导出 Excel」，可以下载包含姓名、手机号和签到状态的名单。",
            &[],
        ),
        added(
            "zh-checkin",
            "现场签到二维码在哪里生成？",
            "在活动详情页选择「签到」→「生成签到码」，打印或投屏给参与者扫码即可完成签到。",
            &["签到码怎么弄"],
        ),
        added(
            "en-start-time",
            "How do I change the start time of an activity?",
            "Open the activity in the console, choose Edit → Schedule and set a new start time. Registered participants are notified automatically.",
            &[],
        ),
        added(
            "en-payout",
            "When will I receive the payout for ticket sales?",
            "Payouts are transferred to your bank account seven days after the activity ends, minus the platform fee.",
            &[],
        ),
        added(
            "en-cohost",
            "How can I add a co-host to my activity?",
            "In the activity settings open Team, enter the co-host's email address and send the invitation; they can edit the activity once they accept.",
            &[],
        ),
        added(
            "en-private",
            "How do I make an activity private or invite-only?",
            "Set Visibility to Private in the activity settings. Only people with the invitation link can see and join it.",
            &[],
        ),
    ]
}

async fn matcher_with(team_id: &TeamId, events: &[FaqEvent]) -> KeywordMatcher {
    let matcher = KeywordMatcher::new();
    for event in events {
        matcher.apply(team_id, event).await.unwrap();
    }
    matcher
}

async fn top(matcher: &KeywordMatcher, team_id: &TeamId, query: &str) -> Option<String> {
    let ranking = matcher.rank(team_id, query, 5).await.unwrap();
    ranking.candidates.first().map(|c| c.faq_id.to_string())
}

#[test]
fn chinese_is_segmented_into_words() {
    let terms = analyze("如何修改活动的开始时间");
    for word in ["修改", "活动", "开始", "时间"] {
        assert!(terms.iter().any(|t| t == word), "{word} missing from {terms:?}");
    }
    assert!(!terms.iter().any(|t| t == "的"), "function word kept: {terms:?}");
}

#[test]
fn english_is_stemmed_and_stopwords_dropped() {
    let mut a = analyze("Changing the starting times");
    let mut b = analyze("change start time");
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(!a.iter().any(|t| t == "the"));
}

#[test]
fn mixed_chinese_and_english_text_is_analysed() {
    let terms = analyze("活动ID怎么改 start time？");
    for word in ["活动", "id", "改", "start", "time"] {
        assert!(terms.iter().any(|t| t == word), "{word} missing from {terms:?}");
    }
}

#[tokio::test]
async fn english_stemming_matches_inflected_queries() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    assert_eq!(top(&matcher, &t, "Changing the starting times").await.as_deref(), Some("en-start-time"));
}

#[tokio::test]
async fn paraphrased_questions_rank_the_right_faq_first() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    let cases = [
        ("活动开始时间能改吗", "zh-start-time"),
        ("怎么取消已经发布的活动", "zh-cancel"),
        ("退款一般几天能到账", "zh-refund"),
        ("报名人数上限在哪设置", "zh-capacity"),
        ("报名名单怎么导出来", "zh-export"),
        ("签到的二维码怎么生成", "zh-checkin"),
        ("can I change when my activity starts", "en-start-time"),
        ("when do I receive money from ticket sales", "en-payout"),
        ("add another host to the activity", "en-cohost"),
        ("make my activity invite only", "en-private"),
        ("报名名单怎么导出 Excel", "zh-export"),
    ];
    for (query, expected) in cases {
        assert_eq!(top(&matcher, &t, query).await.as_deref(), Some(expected), "query {query:?}");
    }
}

#[tokio::test]
async fn ranking_reports_engine_scores_and_respects_limit() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    let ranking = matcher.rank(&t, "活动", 3).await.unwrap();
    assert_eq!(ranking.engine, ENGINE);
    assert!(!ranking.candidates.is_empty() && ranking.candidates.len() <= 3);
    for pair in ranking.candidates.windows(2) {
        assert!(pair[0].keyword_score >= pair[1].keyword_score);
    }
    for c in &ranking.candidates {
        assert!((0.0..=1.0).contains(&c.score));
        assert!(c.keyword_score.unwrap() > 0.0);
        assert!(c.semantic_score.is_none());
    }
    assert!((0.0..=1.0).contains(&ranking.confidence));
    // One word that many FAQs share is not enough to answer automatically.
    assert!(ranking.confidence < 0.6, "confidence {}", ranking.confidence);
    assert!(matcher.rank(&t, "活动", 0).await.unwrap().candidates.is_empty());
}

#[tokio::test]
async fn candidates_carry_the_faq_content() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    let ranking = matcher.rank(&t, "如何导出活动的报名名单？", 1).await.unwrap();
    let c = &ranking.candidates[0];
    assert_eq!(c.faq_id.as_str(), "zh-export");
    assert_eq!(c.question, "如何导出活动的报名名单？");
    assert!(c.answer.contains("导出 Excel"));
    assert_eq!(c.category.as_deref(), Some("activity"));
}

#[tokio::test]
async fn exact_questions_are_confident_and_unrelated_ones_are_not() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    for question in
        ["如何修改活动的开始时间？", "How can I add a co-host to my activity?", "现场签到二维码在哪里生成？"]
    {
        let ranking = matcher.rank(&t, question, 5).await.unwrap();
        assert!(ranking.confidence > 0.85, "{question:?}: confidence {}", ranking.confidence);
    }
    for unrelated in
        ["今天北京天气怎么样", "What is the capital of France?", "推荐一部好看的电影", "How do I bake bread?"]
    {
        let ranking = matcher.rank(&t, unrelated, 5).await.unwrap();
        assert!(ranking.confidence < 0.1, "{unrelated:?}: confidence {}", ranking.confidence);
    }
    let nothing = matcher.rank(&t, "？？？", 5).await.unwrap();
    assert!(nothing.candidates.is_empty());
    assert_eq!(nothing.confidence, 0.0);
}

#[tokio::test]
async fn unknown_and_empty_teams_give_an_empty_ranking() {
    let matcher = KeywordMatcher::new();
    let ranking = matcher.rank(&team("nobody"), "如何修改活动的开始时间", 5).await.unwrap();
    assert_eq!(ranking, Ranking { candidates: vec![], confidence: 0.0, engine: ENGINE.into() });
    assert_eq!(matcher.document_count(&team("nobody")), 0);

    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()[..1]).await;
    matcher.apply(&t, &FaqRemoved { faq_id: id("zh-start-time") }.into()).await.unwrap();
    assert_eq!(matcher.document_count(&t), 0);
    let ranking = matcher.rank(&t, "如何修改活动的开始时间", 5).await.unwrap();
    assert!(ranking.candidates.is_empty());
    assert_eq!(ranking.confidence, 0.0);
}

#[tokio::test]
async fn updates_and_removals_change_results() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    assert_eq!(matcher.document_count(&t), 10);

    // Rewording the FAQ moves it to the new wording, and the old wording stops matching it.
    let update: FaqEvent = FaqUpdated {
        faq_id: id("zh-refund"),
        question: "退款需要提供哪些材料？".into(),
        answer: "请提供订单号和付款截图。".into(),
        category: Some("payment".into()),
        paraphrases: vec![],
    }
    .into();
    matcher.apply(&t, &update).await.unwrap();
    assert_eq!(matcher.document_count(&t), 10);
    let ranking = matcher.rank(&t, "退款要准备什么材料", 5).await.unwrap();
    assert_eq!(ranking.candidates[0].faq_id.as_str(), "zh-refund");
    assert_eq!(ranking.candidates[0].answer, "请提供订单号和付款截图。");
    assert_eq!(ranking.candidates[0].category.as_deref(), Some("payment"));
    let ranking = matcher.rank(&t, "多久到账", 5).await.unwrap();
    assert!(ranking.candidates.iter().all(|c| c.faq_id.as_str() != "zh-refund"), "{ranking:?}");

    // A removed FAQ is never returned again.
    matcher.apply(&t, &FaqRemoved { faq_id: id("zh-export") }.into()).await.unwrap();
    assert_eq!(matcher.document_count(&t), 9);
    let ranking = matcher.rank(&t, "如何导出活动的报名名单？", 10).await.unwrap();
    assert!(ranking.candidates.iter().all(|c| c.faq_id.as_str() != "zh-export"));
    assert!(ranking.confidence < 0.6, "confidence {}", ranking.confidence);

    // Removing twice, or removing an unknown FAQ, changes nothing.
    matcher.apply(&t, &FaqRemoved { faq_id: id("zh-export") }.into()).await.unwrap();
    matcher.apply(&t, &FaqRemoved { faq_id: id("never-existed") }.into()).await.unwrap();
    assert_eq!(matcher.document_count(&t), 9);
}

#[tokio::test]
async fn statistics_after_removals_equal_a_fresh_build() {
    let t = team("ops");
    let all = catalog();
    let mut churned = all.clone();
    churned.push(added("temp-1", "临时问题：活动海报怎么上传？", "在活动设置里上传海报图片。", &["poster upload"]));
    churned.push(added("temp-2", "How do I delete my account?", "Contact support to delete the account.", &[]));
    churned.push(FaqRemoved { faq_id: id("temp-1") }.into());
    churned.push(FaqRemoved { faq_id: id("zh-cancel") }.into());
    churned.push(FaqRemoved { faq_id: id("temp-2") }.into());
    churned.push(all[1].clone()); // zh-cancel again, into a reused slot
    let churned = matcher_with(&t, &churned).await;
    let fresh = matcher_with(&t, &all).await;
    for query in ["活动开始时间能改吗", "poster upload", "取消活动 refund", "change the start time", "活动"]
    {
        let a = churned.rank(&t, query, 10).await.unwrap();
        let b = fresh.rank(&t, query, 10).await.unwrap();
        let ids = |r: &Ranking| r.candidates.iter().map(|c| c.faq_id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "query {query:?}");
        for (x, y) in a.candidates.iter().zip(&b.candidates) {
            let (x, y) = (x.keyword_score.unwrap(), y.keyword_score.unwrap());
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "query {query:?}: {x} vs {y}");
        }
        assert!((a.confidence - b.confidence).abs() < 1e-5, "query {query:?}");
    }
}

#[tokio::test]
async fn a_learned_paraphrase_makes_a_new_wording_match() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    let query = "Can I postpone my meetup?";
    let before = matcher.rank(&t, query, 5).await.unwrap();
    assert!(before.candidates.is_empty(), "{before:?}");
    assert_eq!(before.confidence, 0.0);

    let learned: FaqEvent =
        FaqParaphraseAdded { faq_id: id("en-start-time"), text: "Can I postpone a meetup?".into(), session_id: None }
            .into();
    matcher.apply(&t, &learned).await.unwrap();
    let after = matcher.rank(&t, query, 5).await.unwrap();
    assert_eq!(after.candidates[0].faq_id.as_str(), "en-start-time");
    assert!(after.confidence > 0.6, "confidence {}", after.confidence);
    // The candidate still shows the canonical question.
    assert_eq!(after.candidates[0].question, "How do I change the start time of an activity?");
    assert_eq!(matcher.document_count(&t), 10);

    // A paraphrase for an unknown FAQ is ignored rather than failing the projection.
    let orphan: FaqEvent =
        FaqParaphraseAdded { faq_id: id("missing"), text: "whatever".into(), session_id: None }.into();
    matcher.apply(&t, &orphan).await.unwrap();
    assert_eq!(matcher.document_count(&t), 10);
}

#[tokio::test]
async fn candidate_events_are_ignored() {
    let t = team("ops");
    let matcher = matcher_with(&t, &catalog()).await;
    let before = matcher.rank(&t, "活动开始时间能改吗", 5).await.unwrap();
    let candidate_id = "0191d7e0-0000-7000-8000-000000000001".parse().unwrap();
    let harvested: FaqEvent =
        FaqCandidateHarvested { candidate_id, query: "活动开始时间能改吗".into(), session_id: candidate_id }.into();
    let approved: FaqEvent = FaqCandidateApproved { candidate_id, faq_id: id("zh-cancel") }.into();
    matcher.apply(&t, &harvested).await.unwrap();
    matcher.apply(&t, &approved).await.unwrap();
    assert_eq!(matcher.rank(&t, "活动开始时间能改吗", 5).await.unwrap(), before);
}

#[tokio::test]
async fn teams_are_isolated() {
    let (a, b) = (team("team-a"), team("team-b"));
    let matcher = matcher_with(&a, &catalog()).await;
    assert_eq!(matcher.document_count(&b), 0);
    assert!(matcher.rank(&b, "如何修改活动的开始时间？", 5).await.unwrap().candidates.is_empty());

    matcher.apply(&b, &added("b-only", "发票怎么开？", "在订单页申请电子发票。", &[])).await.unwrap();
    assert_eq!(matcher.document_count(&b), 1);
    assert_eq!(matcher.document_count(&a), 10);
    assert_eq!(top(&matcher, &b, "发票怎么开").await.as_deref(), Some("b-only"));
    assert!(matcher.rank(&a, "发票怎么开", 5).await.unwrap().candidates.iter().all(|c| c.faq_id.as_str() != "b-only"));

    // Removing from one team leaves the same id in another untouched.
    matcher.apply(&b, &added("zh-start-time", "如何修改活动的开始时间？", "b 团队的答案", &[])).await.unwrap();
    matcher.apply(&a, &FaqRemoved { faq_id: id("zh-start-time") }.into()).await.unwrap();
    assert_eq!(top(&matcher, &b, "如何修改活动的开始时间？").await.as_deref(), Some("zh-start-time"));
    assert_ne!(top(&matcher, &a, "如何修改活动的开始时间？").await.as_deref(), Some("zh-start-time"));
}

#[tokio::test]
async fn the_index_is_a_deterministic_projection() {
    let t = team("ops");
    let mut events = catalog();
    events
        .push(FaqParaphraseAdded { faq_id: id("zh-refund"), text: "钱什么时候退回来".into(), session_id: None }.into());
    events.push(FaqRemoved { faq_id: id("en-private") }.into());
    events.push(added("en-private", "Can an activity be hidden from search?", "Yes: set Visibility to Private.", &[]));
    let queries =
        ["活动开始时间能改吗", "退款", "activity", "钱什么时候退", "how do I change it", "活动 activity 时间"];
    let first = matcher_with(&t, &events).await;
    let second = matcher_with(&t, &events).await;
    for query in queries {
        let a = first.rank(&t, query, 10).await.unwrap();
        let b = second.rank(&t, query, 10).await.unwrap();
        assert_eq!(a, b, "query {query:?}");
        // Ranking the same query again gives the same answer too.
        assert_eq!(first.rank(&t, query, 10).await.unwrap(), a);
    }
}

#[tokio::test]
async fn ties_are_broken_by_faq_id_and_lower_confidence() {
    let t = team("ops");
    let events = [
        added("faq-c", "如何开具发票？", "答案 C", &[]),
        added("faq-a", "如何开具发票？", "答案 A", &[]),
        added("faq-b", "如何开具发票？", "答案 B", &[]),
        added("faq-z", "活动报名怎么收费？", "答案 Z", &[]),
    ];
    let matcher = matcher_with(&t, &events).await;
    let ranking = matcher.rank(&t, "如何开具发票", 3).await.unwrap();
    let ids: Vec<_> = ranking.candidates.iter().map(|c| c.faq_id.as_str()).collect();
    assert_eq!(ids, ["faq-a", "faq-b", "faq-c"]);
    // Three identical FAQs: the operator should choose, not get one at random.
    assert!(ranking.confidence < 0.6 && ranking.confidence >= 0.3, "confidence {}", ranking.confidence);
}

#[test]
fn ranking_while_the_catalog_changes_from_other_threads() {
    use std::sync::Arc;

    let t = team("ops");
    let matcher = Arc::new(KeywordMatcher::new());
    for event in catalog() {
        matcher.apply_sync(&t, &event).unwrap();
    }
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let matcher = Arc::clone(&matcher);
            let t = t.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let ranking = matcher.rank_sync(&t, "如何修改活动的开始时间？", 5).unwrap();
                    // The FAQ is never removed, so it always wins whatever else changes.
                    assert_eq!(ranking.candidates[0].faq_id.as_str(), "zh-start-time");
                    assert!((0.0..=1.0).contains(&ranking.confidence));
                }
            })
        })
        .collect();
    for round in 0..50 {
        let faq = format!("churn-{round}");
        matcher.apply_sync(&t, &added(&faq, "活动海报怎么上传？", "在活动设置里上传海报。", &[])).unwrap();
        matcher.apply_sync(&t, &FaqRemoved { faq_id: id(&faq) }.into()).unwrap();
    }
    for reader in readers {
        reader.join().unwrap();
    }
    assert_eq!(matcher.document_count(&t), 10);
}
