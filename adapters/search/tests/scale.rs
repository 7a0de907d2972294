//! A 10,000-FAQ catalog: ranking stays correct at scale, through additions and removals.
//! How fast it is lives in the benchmark (`switchboard-bench match`), not here.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use switchboard_schemas::event::{FaqAdded, FaqRemoved};
use switchboard_schemas::{FaqEvent, FaqId, TeamId};
use switchboard_search::KeywordMatcher;

const ZH: &[&str] = &[
    "活动",
    "报名",
    "签到",
    "退款",
    "发票",
    "场地",
    "门票",
    "海报",
    "直播",
    "抽奖",
    "优惠券",
    "会员",
    "积分",
    "审核",
    "发布",
    "取消",
    "修改",
    "导出",
    "名单",
    "时间",
    "地点",
    "人数",
    "上限",
    "通知",
    "短信",
    "二维码",
    "支付",
    "结算",
    "提现",
    "账户",
    "权限",
    "管理员",
    "团队",
    "模板",
    "表单",
    "问卷",
    "评价",
    "分享",
];
const EN: &[&str] = &[
    "activity",
    "signup",
    "checkin",
    "refund",
    "invoice",
    "venue",
    "ticket",
    "poster",
    "stream",
    "raffle",
    "coupon",
    "member",
    "points",
    "review",
    "publish",
    "cancel",
    "change",
    "export",
    "list",
    "schedule",
    "location",
    "capacity",
    "limit",
    "notify",
    "message",
    "payment",
    "payout",
    "account",
    "permission",
    "admin",
    "team",
    "template",
    "form",
    "survey",
    "rating",
    "share",
    "host",
    "waitlist",
];

/// A small deterministic generator, so the catalog is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn question(rng: &mut Lcg, i: usize) -> String {
    if i % 2 == 1 {
        let words: Vec<&str> = (0..4).map(|_| EN[rng.next(EN.len())]).collect();
        format!("How do I {} the {} {} for {}? ref{i}", words[0], words[1], words[2], words[3])
    } else {
        let words: Vec<&str> = (0..4).map(|_| ZH[rng.next(ZH.len())]).collect();
        format!("如何{}{}的{}和{}？编号{i}", words[0], words[1], words[2], words[3])
    }
}

#[test]
fn ten_thousand_faqs_rank_correctly() {
    let team = TeamId::new("big").unwrap();
    let matcher = KeywordMatcher::new();
    let mut rng = Lcg(7);
    let questions: Vec<String> = (0..10_000).map(|i| question(&mut rng, i)).collect();
    for (i, q) in questions.iter().enumerate() {
        let event: FaqEvent = FaqAdded {
            faq_id: FaqId::new(format!("faq-{i:05}")).unwrap(),
            question: q.clone(),
            answer: format!("答案 answer {i}: {q}"),
            category: None,
            paraphrases: vec![],
        }
        .into();
        matcher.apply_sync(&team, &event).unwrap();
    }
    assert_eq!(matcher.document_count(&team), 10_000);

    let probes: Vec<usize> = (0..200).map(|k| k * 50 + 3).collect();
    for &i in &probes {
        let ranking = matcher.rank_sync(&team, &questions[i], 10).unwrap();
        // The unique reference number makes the exact question the only perfect match.
        assert_eq!(ranking.candidates[0].faq_id.as_str(), format!("faq-{i:05}"), "query {:?}", questions[i]);
        assert_eq!(ranking.candidates.len(), 10);
    }
    // A one-word query touches thousands of postings: the worst case for the scoring loop.
    let broad = matcher.rank_sync(&team, "活动 activity", 10).unwrap();
    assert_eq!(broad.candidates.len(), 10);
    assert!(broad.confidence < 0.6);

    for i in 0..5_000 {
        matcher.apply_sync(&team, &FaqRemoved { faq_id: FaqId::new(format!("faq-{i:05}")).unwrap() }.into()).unwrap();
    }
    assert_eq!(matcher.document_count(&team), 5_000);
    let ranking = matcher.rank_sync(&team, &questions[7_777], 3).unwrap();
    assert_eq!(ranking.candidates[0].faq_id.as_str(), "faq-07777");
}
