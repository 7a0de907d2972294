//! A projection rebuilt from position 0 equals the one that followed the log live (and was
//! interrupted and resumed midway), on the embedded store and on PostgreSQL. The log is
//! written by the real engine with real commands.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use switchboard_embedded::{SqliteEventLog, SqliteOptions};
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::conversation::Command;
use switchboard_engine::log::EventLog;
use switchboard_engine::ports::{Clock, Ranking};
use switchboard_engine::runtime::Runtime;
use switchboard_engine::team::TeamCommand;
use switchboard_projections::runtime::{Projection, ProjectionOptions, SESSIONS};
use switchboard_projections::sessions::{CandidateReason, SessionRow};
use switchboard_projections::store::{Period, ReadStore, SessionQuery, Statistics, TeamRow};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{Actor, Channel, MatchCandidate, Roster, TeamSettings};
use switchboard_schemas::{FaqId, MessageId, StaffId, TeamId, UserId};
use switchboard_testkit::ManualClock;
use uuid::Uuid;

fn cause() -> Causation {
    Causation::root(Uuid::now_v7())
}

fn candidate(n: usize) -> MatchCandidate {
    MatchCandidate {
        faq_id: FaqId::new(format!("faq-{}", n % 3)).unwrap(),
        question: format!("question {n}"),
        answer: format!("answer {n}"),
        category: Some(if n.is_multiple_of(2) { "billing" } else { "export" }.to_owned()),
        score: 1.0,
        keyword_score: Some(1.0),
        semantic_score: None,
    }
}

fn ranking(n: usize, confidence: f32) -> Ranking {
    Ranking { candidates: vec![candidate(n), candidate(n + 1)], confidence, engine: "test".into() }
}

struct World {
    log: Arc<dyn EventLog>,
    runtime: Runtime,
    clock: Arc<ManualClock>,
    teams: Vec<TeamId>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(&dir.path().join("events.sqlite"), SqliteOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()));
    let runtime = Runtime::new(log.clone(), clock.clone());
    let mut teams = Vec::new();
    for name in ["ops", "games"] {
        let team = TeamId::new(name).unwrap();
        runtime.team(&team, TeamCommand::Create { name: name.into(), cloned_from: None }, cause()).await.unwrap();
        runtime
            .team(&team, TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }, cause())
            .await
            .unwrap();
        let mut roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        roster.categories.insert("export".into(), vec![StaffId::new("qian").unwrap()]);
        // Sun takes no category's tickets but is staff, so transfers to sun are accepted.
        roster.categories.insert("escalations".into(), vec![StaffId::new("sun").unwrap()]);
        runtime.team(&team, TeamCommand::UpdateRoster { roster }, cause()).await.unwrap();
        for n in 0..3 {
            let entry = FaqEntry {
                question: format!("question {n}"),
                answer: format!("answer {n}"),
                category: None,
                paraphrases: vec![],
            };
            let faq_id = FaqId::new(format!("faq-{n}")).unwrap();
            runtime.catalog(&team, CatalogCommand::Upsert { faq_id, entry }, cause()).await.unwrap();
        }
        teams.push(team);
    }
    World { log, runtime, clock, teams, _dir: dir }
}

impl World {
    async fn run(&self, team: &TeamId, user: &UserId, command: Command) {
        self.clock.advance(chrono::Duration::seconds(7));
        self.runtime.conversation(team, user, command, cause()).await.unwrap();
    }

    async fn message(&self, team: &TeamId, user: &UserId, id: String, text: &str) {
        let command = Command::ReceiveMessage {
            user: user.clone(),
            message_id: MessageId(id),
            text: text.into(),
            channel: Channel::Api,
        };
        self.run(team, user, command).await;
    }

    async fn fire_pending_timer(&self, team: &TeamId, user: &UserId) {
        let state = self.runtime.load_conversation(team, user).await.unwrap();
        let timer = state.session.as_ref().and_then(|s| s.pending_timer).unwrap();
        let now = self.clock.now();
        self.clock.advance(chrono::Duration::seconds((timer.due_at - now).num_seconds().max(0) + 1));
        self.run(team, user, Command::FireTimer { timer_id: timer.timer_id }).await;
    }

    /// One user's story; the shape depends on `n`.
    async fn story(&self, n: usize, round: usize) {
        let team = &self.teams[n % 2];
        let user = UserId::new(format!("user{n}")).unwrap();
        let id = format!("m{n}-{round}");
        self.message(team, &user, id.clone(), &format!("Round {round}: problem number {n}")).await;
        let matched = |confidence| Command::ApplyMatch {
            message_id: MessageId(id.clone()),
            ranking: ranking(n, confidence),
            rephrased: None,
        };
        let staff = StaffId::new("sun").unwrap();
        match n % 5 {
            0 if round == 0 => {
                self.run(team, &user, matched(0.9)).await;
                self.run(team, &user, Command::GiveFeedback { resolved: true }).await;
            }
            0 => {
                // Unsure between two; the second choice resolves it.
                self.run(team, &user, matched(0.3)).await;
                self.message(team, &user, format!("{id}-choice"), "2").await;
                self.run(team, &user, Command::GiveFeedback { resolved: true }).await;
            }
            1 => {
                self.run(team, &user, matched(0.9)).await;
                self.run(team, &user, Command::GiveFeedback { resolved: false }).await;
                self.run(team, &user, Command::HumanReply { staff: staff.clone(), text: "looking".into() }).await;
                self.run(team, &user, Command::Close { by: staff }).await;
            }
            2 => {
                self.run(team, &user, matched(0.1)).await;
                self.run(team, &user, Command::AddRemark { author: staff.clone(), text: "note".into() }).await;
                self.run(team, &user, Command::Transfer { by: staff.clone(), to: Some(staff.clone()) }).await;
                self.run(team, &user, Command::HumanReply { staff: staff.clone(), text: "done".into() }).await;
                self.run(team, &user, Command::Close { by: staff.clone() }).await;
                if round == 0 {
                    self.run(team, &user, Command::Reopen { by: Actor::Staff(staff.clone()) }).await;
                    self.run(team, &user, Command::Close { by: staff }).await;
                }
            }
            3 => {
                self.run(team, &user, matched(0.9)).await;
                self.fire_pending_timer(team, &user).await;
                self.fire_pending_timer(team, &user).await;
            }
            _ if round == 0 => {
                // Unsure: two numbered choices; the operator picks the second, then asks
                // for a person anyway.
                self.run(team, &user, matched(0.3)).await;
                self.message(team, &user, format!("{id}-choice"), "2").await;
                self.run(team, &user, Command::RequestHuman).await;
            }
            _ => {
                // The first round's session is still with a person: the message joined it.
                let waiting = switchboard_schemas::event::SessionStatus::Waiting;
                self.run(team, &user, Command::ChangeStatus { by: staff.clone(), to: waiting }).await;
                self.run(team, &user, Command::Close { by: staff }).await;
            }
        }
    }
}

async fn all_rows(store: &Arc<dyn ReadStore>, team: &TeamId) -> Vec<SessionRow> {
    let mut query = SessionQuery::team(team.clone(), 7);
    let mut rows = Vec::new();
    loop {
        let page = store.sessions(&query).await.unwrap();
        rows.extend(page.rows);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return rows,
        }
    }
}

type Snapshot = (Vec<(Vec<SessionRow>, Statistics)>, Vec<TeamRow>);

async fn snapshot(store: &Arc<dyn ReadStore>, teams: &[TeamId]) -> Snapshot {
    let period = Period {
        from: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
    };
    let mut out = Vec::new();
    for team in teams {
        out.push((all_rows(store, team).await, store.statistics(team, period).await.unwrap()));
    }
    (out, store.teams().await.unwrap())
}

async fn wait_for_checkpoint(store: &Arc<dyn ReadStore>, head: u64) {
    for _ in 0..400 {
        if store.checkpoint(SESSIONS).await.unwrap() >= head {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the live projection did not reach position {head}");
}

fn spawn_live(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<u64>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Small batches and cache, so batching, eviction and reloads from the store all happen.
    let options = ProjectionOptions { batch: 16, cache: 8 };
    let handle = tokio::spawn(async move {
        let mut projection = Projection::new(log, store, options);
        projection.run(async { stopped.await.unwrap_or(()) }).await;
        projection.store().checkpoint(SESSIONS).await.unwrap()
    });
    (stop, handle)
}

async fn replay_equals_live(live: Arc<dyn ReadStore>, rebuilt: Arc<dyn ReadStore>) {
    let world = world().await;
    let (stop, handle) = spawn_live(world.log.clone(), live.clone());
    for n in 0..20 {
        world.story(n, 0).await;
    }
    // Interrupt the live projection midway, append more, then resume it.
    stop.send(()).unwrap();
    let stopped_at = handle.await.unwrap();
    assert!(stopped_at > 0);
    for n in 0..20 {
        world.story(n, 1).await;
    }
    let (stop, handle) = spawn_live(world.log.clone(), live.clone());
    for n in 20..30 {
        world.story(n, 0).await;
    }
    // user2's latest unanswered question becomes an FAQ; another team naming user12's
    // session (of ops) settles nothing.
    let (ops, games) = (&world.teams[0], &world.teams[1]);
    let runtime = &world.runtime;
    let latest = |n: usize| async move {
        let user = UserId::new(format!("user{n}")).unwrap();
        runtime.load_conversation(ops, &user).await.unwrap().session.unwrap().id
    };
    let approve = CatalogCommand::ApproveCandidates {
        candidates: vec![latest(2).await],
        faq_id: FaqId::new("learned-2").unwrap(),
        new_entry: Some(FaqEntry {
            question: "problem 2".into(),
            answer: "fix".into(),
            category: None,
            paraphrases: vec![],
        }),
        wordings: vec![],
    };
    world.runtime.catalog(ops, approve, cause()).await.unwrap();
    let hostile = CatalogCommand::RejectCandidates { candidates: vec![latest(12).await] };
    world.runtime.catalog(games, hostile, cause()).await.unwrap();
    let head = world.log.head().await.unwrap();
    wait_for_checkpoint(&live, head).await;
    stop.send(()).unwrap();
    assert_eq!(handle.await.unwrap(), head);

    let mut projection = Projection::new(world.log.clone(), rebuilt.clone(), ProjectionOptions::default());
    let mut batches = 0;
    assert_eq!(projection.rebuild(|_, _| batches += 1).await.unwrap(), head);
    assert!(batches >= 1);

    let (live_view, live_teams) = snapshot(&live, &world.teams).await;
    let rebuilt_view = snapshot(&rebuilt, &world.teams).await;
    assert_eq!((live_view.clone(), live_teams.clone()), rebuilt_view);
    let directory: Vec<&str> = live_teams.iter().map(|t| t.team.as_str()).collect();
    assert_eq!(directory, ["games", "ops"], "every onboarded team, once");

    // The data set is what the stories say, so the comparison is not between two empties.
    let (ops_rows, ops_stats) = &live_view[0];
    assert_eq!(ops_rows.len(), 15 + 8, "first sessions of 30 users, second ones of 20 (minus two still open), by team");
    assert!(ops_rows.iter().all(|r| r.team == "ops"));
    assert!(ops_stats.transferred > 0 && ops_stats.resolved_automatically > 0 && ops_stats.auto_closed > 0);
    assert!(ops_stats.reconfirmed > 0 && !ops_stats.top_faqs.is_empty());
    assert!(ops_stats.time_to_first_answer.median_secs.is_some());

    // Each conversation's latest session has the status, assignee and category the
    // engine itself holds.
    for n in 0..30 {
        let team = &world.teams[n % 2];
        let user = UserId::new(format!("user{n}")).unwrap();
        let state = world.runtime.load_conversation(team, &user).await.unwrap();
        let session = state.session.unwrap();
        let row = live.load_session(session.id).await.unwrap().unwrap();
        assert_eq!(row.status, session.status(), "status of user{n}");
        assert_eq!(row.assignee.as_deref(), session.assignee.as_ref().map(|a| a.as_str()), "assignee of user{n}");
        assert_eq!(row.category, session.category, "category of user{n}");
    }

    // FAQ candidates: every session's question the engine could not answer well, with why.
    for row in ops_rows.iter().chain(&live_view[1].0) {
        let n: usize = row.user.trim_start_matches("user").parse().unwrap();
        let approved = n == 2 && row.question.as_deref().is_some_and(|q| q.starts_with("Round 1"));
        let expected = match n % 5 {
            _ if approved => None,
            1 => Some(CandidateReason::NotResolved),
            2 => Some(CandidateReason::Unanswered),
            4 => Some(CandidateReason::Transferred),
            _ => None,
        };
        assert_eq!(row.candidate.as_ref().map(|c| c.reason), expected, "candidate of {}", row.user);
        if let Some(candidate) = &row.candidate {
            assert!(candidate.query.ends_with(&format!("problem number {n}")), "{candidate:?}");
        }
    }
    // user10's second session was offered faq-1 (billing, first) and faq-2 (export) and
    // the second was chosen, with no transfer after it.
    let chose = ops_rows.iter().find(|r| r.user == "user10" && r.question.as_deref().unwrap().starts_with("Round 1"));
    assert_eq!(chose.unwrap().category.as_deref(), Some("export"), "the chosen candidate's category, not the first's");

    // Rebuilding the live copy itself gives the same again.
    let mut again = Projection::new(world.log.clone(), live.clone(), ProjectionOptions { batch: 100, cache: 4 });
    again.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(snapshot(&live, &world.teams).await, rebuilt_view);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_equals_live_on_sqlite() {
    let (live, _a) = common::sqlite().await;
    let (rebuilt, _b) = common::sqlite().await;
    replay_equals_live(live, rebuilt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_equals_live_on_postgres() {
    let (live, live_schema) = common::postgres().await;
    let (rebuilt, rebuilt_schema) = common::postgres().await;
    replay_equals_live(live.clone(), rebuilt.clone()).await;
    common::drop_schema(&live, &live_schema).await;
    common::drop_schema(&rebuilt, &rebuilt_schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_agree() {
    let world = world().await;
    for n in 0..10 {
        world.story(n, 0).await;
    }
    let (sqlite, _dir) = common::sqlite().await;
    let (postgres, schema) = common::postgres().await;
    let sqlite: Arc<dyn ReadStore> = sqlite;
    let pg: Arc<dyn ReadStore> = postgres.clone();
    for store in [&sqlite, &pg] {
        Projection::new(world.log.clone(), store.clone(), ProjectionOptions::default())
            .catch_up(|_, _| {})
            .await
            .unwrap();
    }
    assert_eq!(snapshot(&sqlite, &world.teams).await, snapshot(&pg, &world.teams).await);
    common::drop_schema(&postgres, &schema).await;
}
