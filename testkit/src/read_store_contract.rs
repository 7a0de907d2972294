//! The read-store contract: the same checks against every [`ReadStore`], run by each
//! backend's tests through [`read_store_contract!`](crate::read_store_contract).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::BoxFuture;
use switchboard_schemas::event::{CloseReason, SessionStatus};
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::TeamId;
use uuid::Uuid;

use switchboard_projections::sessions::{
    CandidateQuestion, CandidateReason, Handover, MissedTarget, RowChange, SessionRow, TargetDue,
};
use switchboard_projections::store::{Batch, Count, Period, ReadStore, SessionQuery, TeamRow};

/// A store made for one test, and how to clean up after it (e.g. drop a schema).
pub struct TestStore<S: ?Sized = dyn ReadStore> {
    /// The store under test, empty.
    pub store: Arc<S>,
    /// Run after the check passed.
    pub cleanup: Option<BoxFuture<'static, ()>>,
}

/// Runs every contract check against stores made by `$factory` (an expression evaluating to
/// a future of a [`TestStore`]), one test function per check.
#[macro_export]
macro_rules! read_store_contract {
    (@tests $factory:expr; $($test:ident => $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let test_store: $crate::read_store_contract::TestStore = $factory.await;
                $crate::read_store_contract::$check(::std::sync::Arc::clone(&test_store.store)).await;
                if let ::core::option::Option::Some(cleanup) = test_store.cleanup {
                    cleanup.await;
                }
            }
        )*
    };
    ($factory:expr $(,)?) => {
        $crate::read_store_contract!(@tests $factory;
            checkpoint_starts_at_zero_and_commits_with_rows => check_commit_batch,
            failed_batch_leaves_old_rows_and_checkpoint => check_failed_batch_is_atomic,
            reset_forgets_rows_and_checkpoint => check_reset,
            every_filter_of_the_session_list => check_filters,
            paging_is_newest_first_and_stable => check_paging,
            no_query_returns_another_teams_data => check_team_isolation,
            statistics_on_a_known_data_set => check_statistics,
            candidate_questions_newest_first_within_the_team => check_candidate_questions,
            teams_are_listed_by_id_and_reset_with_the_rest => check_teams,
        );
    };
}

/// Monday 2 March 2026, 00:00 UTC: day 1 of the known data set.
pub fn day1() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn row(team: &str, n: u128, opened_at: DateTime<Utc>, question: &str) -> SessionRow {
    let mut row = SessionRow::opened(team, id(n), &format!("user{n}"), opened_at);
    row.question = Some(question.to_owned());
    row.messages_in = 1;
    row
}

fn close(row: &mut SessionRow, after_secs: i64, reason: CloseReason) {
    row.closed_at = Some(row.opened_at + Duration::seconds(after_secs));
    row.close_reason = Some(reason);
    row.status = SessionStatus::Closed;
    row.phase = SessionStatus::Closed;
}

fn answer(row: &mut SessionRow, after_secs: i64, faq: Option<&str>) {
    row.first_answer_at = Some(row.opened_at + Duration::seconds(after_secs));
    row.messages_out += 1;
    if let Some(faq) = faq {
        row.auto_answered = true;
        row.last_faq = Some(faq.to_owned());
        row.status = SessionStatus::Answered;
        row.phase = SessionStatus::Answered;
    }
}

fn transfer(row: &mut SessionRow, to: &str, category: &str) {
    row.transferred = true;
    row.handed_over_at = Some(row.opened_at + Duration::seconds(60));
    row.assignee = Some(to.to_owned());
    row.handovers.push(Handover {
        to: to.to_owned(),
        at: row.opened_at + Duration::seconds(60),
        assigned: true,
        acknowledged_at: None,
        first_reply_at: None,
        ended: false,
    });
    row.category = Some(category.to_owned());
    row.status = SessionStatus::WithHuman;
    row.phase = SessionStatus::WithHuman;
}

fn candidate(row: &mut SessionRow, query: &str, reason: CandidateReason, after_secs: i64) {
    row.last_query = Some(query.to_owned());
    row.candidate =
        Some(CandidateQuestion { query: query.to_owned(), reason, at: row.opened_at + Duration::seconds(after_secs) });
}

/// The known data set: five sessions of team `alpha` over two days, one of team `beta`.
/// Rows are returned in opening order (s1..s6).
pub fn known_rows() -> Vec<SessionRow> {
    let d1 = day1();
    let d2 = d1 + Duration::days(1);
    let mut s1 = row("alpha", 1, d1 + Duration::hours(9), "discount 50 off?");
    answer(&mut s1, 30, Some("f1"));
    s1.category = Some("billing".into());
    close(&mut s1, 60, CloseReason::Resolved);
    let mut s2 = row("alpha", 2, d1 + Duration::hours(10), "invoice is wrong");
    answer(&mut s2, 10, Some("f1"));
    transfer(&mut s2, "zhao", "billing");
    s2.acknowledged_at = Some(s2.opened_at + Duration::seconds(90));
    s2.first_human_reply_at = Some(s2.opened_at + Duration::seconds(180));
    s2.handovers[0].acknowledged_at = s2.acknowledged_at;
    s2.handovers[0].first_reply_at = s2.first_human_reply_at;
    close(&mut s2, 600, CloseReason::Manual);
    let mut s3 = row("alpha", 3, d2 + Duration::hours(8), "anyone there");
    s3.reconfirmed = true;
    close(&mut s3, 3600, CloseReason::Stale);
    candidate(&mut s2, "invoice is wrong", CandidateReason::Transferred, 700);
    let mut s4 = row("alpha", 4, d2 + Duration::hours(12), "Discount 50% OFF");
    answer(&mut s4, 20, Some("f2"));
    s4.category = Some("export".into());
    s4.last_query = Some("Discount 50% OFF".into());
    s4.offered = vec![("f2".into(), Some("export".into())), ("f3".into(), None)];
    let mut s5 = row("alpha", 5, d2 + Duration::hours(13), "Prize stock is LOW");
    transfer(&mut s5, "qian", "export");
    // Handed to zhao first, who missed the acknowledgment, then to qian at 20:00, who
    // acknowledged 30 s later (1,170 s after the session's first hand-over).
    let qian_at = s5.opened_at + Duration::minutes(20);
    s5.handovers.insert(0, Handover { to: "zhao".into(), ended: true, ..s5.handovers[0].clone() });
    s5.handovers[1].at = qian_at;
    s5.handovers[1].acknowledged_at = Some(qian_at + Duration::seconds(30));
    s5.acknowledged_at = s5.handovers[1].acknowledged_at;
    // sun, notified by an escalation step at 20:10, acknowledged at 21:00: times, no hand-over.
    s5.handovers.push(Handover {
        to: "sun".into(),
        at: qian_at + Duration::seconds(10),
        assigned: false,
        acknowledged_at: Some(qian_at + Duration::seconds(60)),
        first_reply_at: None,
        ended: false,
    });
    s5.missed_targets = vec![MissedTarget { target: TargetKind::Acknowledge, assignee: Some("zhao".into()) }];
    s5.targets_due = vec![TargetDue {
        timer_id: id(50),
        target: TargetKind::FirstReply,
        due_at: s5.opened_at + Duration::minutes(31),
    }];
    candidate(&mut s5, "Prize stock is LOW", CandidateReason::Unanswered, 5);
    let mut s6 = row("beta", 6, d1 + Duration::hours(11), "prize stock low too");
    transfer(&mut s6, "zhao", "billing");
    candidate(&mut s6, "prize stock low too", CandidateReason::Transferred, 5);
    vec![s1, s2, s3, s4, s5, s6]
}

fn team(name: &str) -> TeamId {
    TeamId::new(name).unwrap()
}

async fn ids(store: &Arc<dyn ReadStore>, query: SessionQuery) -> Vec<u128> {
    let page = store.sessions(&query).await.unwrap();
    page.rows.iter().map(|r| r.session_id.as_u128() - id(0).as_u128()).collect()
}

fn new_rows(rows: &[SessionRow]) -> Vec<RowChange> {
    rows.iter().map(|row| RowChange { before: None, after: row.clone() }).collect()
}

async fn load_known(store: &Arc<dyn ReadStore>) {
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&known_rows())), 42).await.unwrap();
}

/// Loads the known data set in two batches, as the projection would: every session as just
/// opened, then each moved to its final state (so the statistics rollup is moved by
/// differences, not only written fresh).
async fn load_known_in_steps(store: &Arc<dyn ReadStore>) {
    let finals = known_rows();
    let opened: Vec<SessionRow> =
        finals.iter().map(|r| SessionRow::opened(&r.team, r.session_id, &r.user, r.opened_at)).collect();
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&opened)), 40).await.unwrap();
    let changes: Vec<RowChange> =
        opened.into_iter().zip(finals).map(|(before, after)| RowChange { before: Some(before), after }).collect();
    store.commit_batch("sessions", &Batch::sessions(&changes), 42).await.unwrap();
}

pub async fn check_commit_batch(store: Arc<dyn ReadStore>) {
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 0);
    assert_eq!(store.load_session(id(1)).await.unwrap(), None);
    let rows = known_rows();
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&rows[..2])), 7).await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 7);
    assert_eq!(store.checkpoint("other").await.unwrap(), 0, "checkpoints are per projection");
    for row in &rows[..2] {
        assert_eq!(store.load_session(row.session_id).await.unwrap().as_ref(), Some(row), "round trip");
    }
    let mut changed = rows[0].clone();
    changed.messages_in = 9;
    reopen(&mut changed);
    let change = RowChange { before: Some(rows[0].clone()), after: changed.clone() };
    store.commit_batch("sessions", &Batch::sessions(&[change]), 9).await.unwrap();
    assert_eq!(store.load_session(changed.session_id).await.unwrap(), Some(changed), "upsert replaces");
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 9);
    store.commit_batch("sessions", &Batch::sessions(&[]), 12).await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 12, "an empty batch still moves the checkpoint");
}

pub async fn check_teams(store: Arc<dyn ReadStore>) {
    assert!(store.teams().await.unwrap().is_empty());
    let team = |id: &str, template: Option<&str>| TeamRow {
        team: id.to_owned(),
        name: format!("Team {id} 团队"),
        created_at: day1(),
        cloned_from: template.map(str::to_owned),
    };
    let rows = known_rows();
    let teams = [team("zeta", Some("alpha")), team("alpha", None)];
    store.commit_batch("sessions", &Batch { sessions: &new_rows(&rows[..1]), teams: &teams }, 3).await.unwrap();
    assert_eq!(store.teams().await.unwrap(), vec![teams[1].clone(), teams[0].clone()], "by id");
    store.commit_batch("sessions", &Batch { sessions: &[], teams: &teams[..1] }, 4).await.unwrap();
    assert_eq!(store.teams().await.unwrap().len(), 2, "recording a team again keeps one row");
    store.reset("sessions").await.unwrap();
    assert!(store.teams().await.unwrap().is_empty(), "a rebuild starts from no teams");
}

/// The row as it reads once its session is open again, with a person.
fn reopen(row: &mut SessionRow) {
    row.closed_at = None;
    row.close_reason = None;
    row.status = SessionStatus::WithHuman;
    row.phase = SessionStatus::WithHuman;
}

pub async fn check_failed_batch_is_atomic(store: Arc<dyn ReadStore>) {
    let rows = known_rows();
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&rows[..2])), 10).await.unwrap();
    let period = Period { from: day1(), to: day1() + Duration::days(2) };
    let stats_before = store.statistics(&team("alpha"), period).await.unwrap();
    let mut changed = rows[0].clone();
    changed.messages_in = 5;
    // The second row breaks a constraint: the whole batch must be refused.
    let mut broken = rows[2].clone();
    broken.messages_in = -1;
    let batch = [
        RowChange { before: Some(rows[0].clone()), after: changed },
        RowChange { before: None, after: broken },
        RowChange { before: None, after: rows[3].clone() },
    ];
    let result = store.commit_batch("sessions", &Batch::sessions(&batch), 20).await;
    assert!(result.is_err(), "a row breaking a constraint fails the batch");
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 10, "the checkpoint did not move");
    assert_eq!(store.load_session(rows[0].session_id).await.unwrap().as_ref(), Some(&rows[0]), "old row kept");
    assert_eq!(store.load_session(rows[2].session_id).await.unwrap(), None, "no partial insert");
    assert_eq!(store.load_session(rows[3].session_id).await.unwrap(), None, "no partial insert");
    assert_eq!(store.statistics(&team("alpha"), period).await.unwrap(), stats_before, "rollup unchanged");
    // The store is still usable afterwards.
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&rows[2..4])), 20).await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 20);
}

pub async fn check_reset(store: Arc<dyn ReadStore>) {
    load_known(&store).await;
    store.reset("sessions").await.unwrap();
    assert_eq!(store.checkpoint("sessions").await.unwrap(), 0);
    assert!(store.sessions(&SessionQuery::team(team("alpha"), 10)).await.unwrap().rows.is_empty());
    let period = Period { from: day1(), to: day1() + Duration::days(2) };
    assert_eq!(store.statistics(&team("alpha"), period).await.unwrap().opened, 0, "rollup forgotten");
    assert_eq!(store.load_session(id(1)).await.unwrap(), None);
    load_known(&store).await;
    assert_eq!(ids(&store, SessionQuery::team(team("alpha"), 10)).await, vec![5, 4, 3, 2, 1], "rebuilt");
    let period = Period { from: day1(), to: day1() + Duration::days(2) };
    assert_eq!(store.statistics(&team("alpha"), period).await.unwrap().opened, 5, "rollup rebuilt, not doubled");
}

pub async fn check_filters(store: Arc<dyn ReadStore>) {
    load_known(&store).await;
    let all = || SessionQuery::team(team("alpha"), 100);
    assert_eq!(ids(&store, all()).await, vec![5, 4, 3, 2, 1]);
    assert_eq!(ids(&store, SessionQuery { status: Some(SessionStatus::Closed), ..all() }).await, vec![3, 2, 1]);
    assert_eq!(ids(&store, SessionQuery { status: Some(SessionStatus::WithHuman), ..all() }).await, vec![5]);
    assert_eq!(ids(&store, SessionQuery { assignee: Some("zhao".into()), ..all() }).await, vec![2]);
    assert_eq!(ids(&store, SessionQuery { category: Some("export".into()), ..all() }).await, vec![5, 4]);
    let d2 = day1() + Duration::days(1);
    assert_eq!(ids(&store, SessionQuery { opened_from: Some(d2), ..all() }).await, vec![5, 4, 3]);
    assert_eq!(ids(&store, SessionQuery { opened_to: Some(d2), ..all() }).await, vec![2, 1]);
    let window = SessionQuery {
        opened_from: Some(day1() + Duration::hours(10)),
        opened_to: Some(d2 + Duration::hours(12)),
        ..all()
    };
    assert_eq!(ids(&store, window).await, vec![3, 2], "from inclusive, to exclusive");
    assert_eq!(ids(&store, SessionQuery { text: Some("prize STOCK".into()), ..all() }).await, vec![5]);
    assert_eq!(ids(&store, SessionQuery { text: Some("discount 50".into()), ..all() }).await, vec![4, 1]);
    assert_eq!(ids(&store, SessionQuery { text: Some("50%".into()), ..all() }).await, vec![4], "% is literal");
    assert_eq!(ids(&store, SessionQuery { text: Some("5_".into()), ..all() }).await, Vec::<u128>::new());
    assert_eq!(ids(&store, SessionQuery { breached: Some(true), ..all() }).await, vec![5]);
    assert_eq!(ids(&store, SessionQuery { breached: Some(false), ..all() }).await, vec![4, 3, 2, 1]);
    let combined = SessionQuery { category: Some("billing".into()), status: Some(SessionStatus::Closed), ..all() };
    assert_eq!(ids(&store, combined).await, vec![2, 1]);
}

pub async fn check_paging(store: Arc<dyn ReadStore>) {
    load_known(&store).await;
    let mut query = SessionQuery::team(team("alpha"), 2);
    let mut pages = Vec::new();
    loop {
        let page = store.sessions(&query).await.unwrap();
        pages.push(page.rows.iter().map(|r| r.session_id.as_u128() - id(0).as_u128()).collect::<Vec<_>>());
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, vec![vec![5, 4], vec![3, 2], vec![1]]);
    // A session opened at the same moment as the cursor's row is ordered by id, and newer
    // sessions arriving meanwhile do not shift later pages.
    let first = store.sessions(&SessionQuery::team(team("alpha"), 2)).await.unwrap();
    let mut twin = row("alpha", 7, known_rows()[2].opened_at, "same moment as s3");
    twin.messages_in = 2;
    let newer = row("alpha", 8, day1() + Duration::days(5), "newest");
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&[twin, newer])), 43).await.unwrap();
    let second = SessionQuery { cursor: first.next.clone(), ..SessionQuery::team(team("alpha"), 3) };
    assert_eq!(ids(&store, second).await, vec![7, 3, 2]);
    let exact = SessionQuery::team(team("alpha"), 7);
    assert_eq!(store.sessions(&exact).await.unwrap().next, None, "no next page when all rows fit");
    let bad = SessionQuery { cursor: Some("garbage".into()), ..SessionQuery::team(team("alpha"), 2) };
    assert!(store.sessions(&bad).await.is_err(), "a malformed cursor is refused");
}

pub async fn check_team_isolation(store: Arc<dyn ReadStore>) {
    load_known(&store).await;
    assert_eq!(ids(&store, SessionQuery::team(team("beta"), 100)).await, vec![6]);
    assert_eq!(ids(&store, SessionQuery::team(team("gamma"), 100)).await, Vec::<u128>::new());
    let alpha_text = SessionQuery { text: Some("prize".into()), ..SessionQuery::team(team("alpha"), 100) };
    assert_eq!(ids(&store, alpha_text).await, vec![5]);
    let alpha_zhao = SessionQuery { assignee: Some("zhao".into()), ..SessionQuery::team(team("alpha"), 100) };
    assert_eq!(ids(&store, alpha_zhao).await, vec![2]);
    let period = Period { from: day1(), to: day1() + Duration::days(2) };
    let beta = store.statistics(&team("beta"), period).await.unwrap();
    assert_eq!((beta.opened, beta.transferred, beta.closed), (1, 1, 0));
    assert_eq!(beta.per_assignee, vec![count("zhao", 1)]);
    let gamma = store.statistics(&team("gamma"), period).await.unwrap();
    assert_eq!((gamma.opened, gamma.closed), (0, 0));
    assert_eq!(gamma.time_to_first_answer.median_secs, None);
}

fn count(key: &str, count: u64) -> Count {
    Count { key: Some(key.to_owned()), count }
}

pub async fn check_statistics(store: Arc<dyn ReadStore>) {
    load_known_in_steps(&store).await;
    let period = Period { from: day1(), to: day1() + Duration::days(2) };
    let stats = store.statistics(&team("alpha"), period).await.unwrap();
    assert_eq!(stats.opened, 5);
    assert_eq!(stats.closed, 3);
    assert_eq!(stats.opened_per_day, vec![count("2026-03-02", 2), count("2026-03-03", 3)]);
    assert_eq!(stats.closed_per_day, vec![count("2026-03-02", 2), count("2026-03-03", 1)]);
    assert_eq!(stats.resolved_automatically, 1);
    assert!((stats.automatic_resolution_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats.transferred, 2);
    assert!((stats.transfer_rate - 0.4).abs() < 1e-9);
    assert_eq!(stats.time_to_first_answer.samples, 3);
    assert_eq!(stats.time_to_first_answer.median_secs, Some(20.0));
    assert_eq!(stats.time_to_first_answer.p90_secs, Some(30.0));
    assert_eq!(stats.time_to_resolution.samples, 3);
    assert_eq!(stats.time_to_resolution.median_secs, Some(600.0));
    assert_eq!(stats.time_to_resolution.p90_secs, Some(3600.0));
    assert_eq!(stats.top_faqs, vec![count("f1", 2), count("f2", 1)]);
    assert_eq!(stats.per_category, vec![count("billing", 2), count("export", 2), Count { key: None, count: 1 }]);
    assert_eq!(stats.per_assignee, vec![count("zhao", 2), count("qian", 1)], "every person a session was handed to");
    assert_eq!(stats.reconfirmed, 1);
    assert_eq!(stats.auto_closed, 1);
    // Hand-overs: zhao acknowledged s2 after 30 s and replied after 120 s; qian has s5 now,
    // but zhao had it when its acknowledgment target fell due: the miss is zhao's, and qian's
    // time is from the hand-over to her (30 s), the session's from its first (1,170 s).
    let handover = &stats.handover;
    assert_eq!((handover.key.clone(), handover.handed_over), (None, 2));
    let acknowledge = &handover.time_to_acknowledge;
    assert_eq!((acknowledge.samples, acknowledge.median_secs, acknowledge.p90_secs), (2, Some(30.0), Some(1170.0)));
    assert_eq!((handover.time_to_first_reply.samples, handover.time_to_first_reply.p90_secs), (1, Some(120.0)));
    assert_eq!(handover.missed, vec![count("acknowledge", 1)]);
    let [zhao, qian, sun] = stats.handover_per_assignee.as_slice() else { panic!("three engineers") };
    // sun was only notified: no hand-over, his own time from the notice.
    assert_eq!(
        (sun.key.as_deref(), sun.handed_over, sun.time_to_acknowledge.median_secs),
        (Some("sun"), 0, Some(50.0))
    );
    assert_eq!(
        (qian.key.as_deref(), qian.handed_over, qian.time_to_acknowledge.median_secs),
        (Some("qian"), 1, Some(30.0))
    );
    assert_eq!(qian.time_to_first_reply.samples, 0);
    assert!(qian.missed.is_empty());
    assert_eq!(
        (zhao.key.as_deref(), zhao.handed_over, zhao.time_to_acknowledge.median_secs),
        (Some("zhao"), 2, Some(30.0))
    );
    assert_eq!(zhao.time_to_acknowledge.samples, 1, "s5's acknowledgment is qian's, not zhao's");
    assert_eq!(zhao.missed, vec![count("acknowledge", 1)]);
    let categories: Vec<(Option<&str>, u64)> =
        stats.handover_per_category.iter().map(|h| (h.key.as_deref(), h.handed_over)).collect();
    assert_eq!(categories, vec![(Some("billing"), 1), (Some("export"), 1)]);
    // Whole months are read from the month rollup, partial ones from days: same figures.
    let march = Period { from: day1() - Duration::days(1), to: day1() + Duration::days(30) };
    assert_eq!(store.statistics(&team("alpha"), march).await.unwrap(), stats, "March as a month");
    let wide = Period { from: day1() - Duration::days(15), to: day1() + Duration::days(40) };
    assert_eq!(store.statistics(&team("alpha"), wide).await.unwrap(), stats, "partial February and April");
    // A narrower period: day 2 only.
    let day2 = Period { from: day1() + Duration::days(1), to: day1() + Duration::days(2) };
    let stats = store.statistics(&team("alpha"), day2).await.unwrap();
    assert_eq!((stats.opened, stats.closed, stats.transferred), (3, 1, 1));
    assert_eq!(stats.time_to_resolution.median_secs, Some(3600.0));
    assert_eq!(stats.automatic_resolution_rate, 0.0);
    // Periods cover whole UTC days: a period inside day 2 reports day 2.
    let inside = Period { from: day1() + Duration::hours(30), to: day1() + Duration::hours(31) };
    assert_eq!(store.statistics(&team("alpha"), inside).await.unwrap().opened, 3);
    let empty = Period { from: day1(), to: day1() };
    assert_eq!(store.statistics(&team("alpha"), empty).await.unwrap().opened, 0);
    // Three significant digits above 1,000 seconds.
    let mut slow = row("alpha", 9, day1() + Duration::days(1), "slow");
    close(&mut slow, 3725, CloseReason::Manual);
    store.commit_batch("sessions", &Batch::sessions(&new_rows(&[slow])), 43).await.unwrap();
    let stats = store.statistics(&team("alpha"), day2).await.unwrap();
    assert_eq!(stats.time_to_resolution.p90_secs, Some(3720.0));
}

pub async fn check_candidate_questions(store: Arc<dyn ReadStore>) {
    load_known_in_steps(&store).await;
    let (from, to) = (day1(), day1() + Duration::days(2));
    let found = store.candidate_questions(&team("alpha"), from, to, 10).await.unwrap();
    let shape: Vec<(u128, &str, CandidateReason)> =
        found.iter().map(|c| (c.session_id.as_u128() - id(0).as_u128(), c.query.as_str(), c.reason)).collect();
    assert_eq!(
        shape,
        vec![
            (5, "Prize stock is LOW", CandidateReason::Unanswered),
            (2, "invoice is wrong", CandidateReason::Transferred)
        ]
    );
    assert_eq!(found[0].category.as_deref(), Some("export"));
    assert_eq!(found[1].at, day1() + Duration::hours(10) + Duration::seconds(700));
    let limited = store.candidate_questions(&team("alpha"), from, to, 1).await.unwrap();
    assert_eq!(limited.len(), 1, "limit");
    let exact_end = found[1].at;
    let before = store.candidate_questions(&team("alpha"), from, exact_end, 10).await.unwrap();
    assert!(before.is_empty(), "the end is exclusive and exact, not a whole day");
    let beta = store.candidate_questions(&team("beta"), from, to, 10).await.unwrap();
    assert_eq!(beta.iter().map(|c| c.query.as_str()).collect::<Vec<_>>(), vec!["prize stock low too"]);
    assert!(store.candidate_questions(&team("gamma"), from, to, 10).await.unwrap().is_empty());
}
