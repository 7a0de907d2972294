#![allow(clippy::unwrap_used)]
//! The weekly report from real stores: the CSV and the workbook read back say what the
//! read models hold, on SQLite and PostgreSQL alike.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use switchboard_projections::report::{Week, WeeklyReport, SESSION_COLUMNS};
use switchboard_projections::sessions::RowChange;
use switchboard_projections::store::{Batch, ReadStore};
use switchboard_schemas::oncall::TargetKind;
use switchboard_schemas::TeamId;
use switchboard_testkit::read_store_contract::known_rows;

async fn check_weekly_report(store: Arc<dyn ReadStore>) {
    let changes: Vec<RowChange> = known_rows().into_iter().map(|after| RowChange { before: None, after }).collect();
    store.commit_batch("sessions", &Batch::sessions(&changes), 42).await.unwrap();
    let alpha = TeamId::new("alpha").unwrap();
    let week = Week::parse("2026-W10").unwrap();
    let tracked = [TargetKind::Acknowledge, TargetKind::FirstReply];
    let report = WeeklyReport::assemble(store.as_ref(), &alpha, week, &tracked).await.unwrap();
    assert_eq!(report.sessions.len(), 5, "alpha's five sessions, not beta's");
    assert_eq!(report.statistics.opened, 5);
    let groups: Vec<(&str, usize)> = report.candidates.iter().map(|g| (g.representative.as_str(), g.count)).collect();
    assert_eq!(groups, vec![("Prize stock is LOW", 1), ("invoice is wrong", 1)]);

    let csv_bytes = report.to_csv().unwrap();
    assert!(csv_bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for spreadsheet programs");
    let mut reader = csv::Reader::from_reader(&csv_bytes[3..]);
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), SESSION_COLUMNS.to_vec());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let questions: Vec<&str> = records.iter().map(|r| &r[6]).collect();
    assert_eq!(
        questions,
        vec!["discount 50 off?", "invoice is wrong", "anyone there", "Discount 50% OFF", "Prize stock is LOW"],
        "oldest first"
    );
    assert_eq!((&records[1][5], &records[1][9], &records[1][10]), ("zhao", "manual", "600"));

    let xlsx = report.to_xlsx().unwrap();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    assert_eq!(
        book.sheet_names(),
        vec!["Summary", "Per day", "Categories", "On-call", "Hand-overs", "Top FAQs", "FAQ candidates", "Sessions"]
    );
    let summary = book.worksheet_range("Summary").unwrap();
    let figure =
        |name: &str| summary.rows().find(|r| r[0] == Data::String(name.to_owned())).map(|r| r[1].clone()).unwrap();
    assert_eq!(figure("Sessions opened"), Data::Float(5.0));
    assert_eq!(figure("Transfer rate"), Data::Float(0.4));
    assert_eq!(figure("Time to resolution, median (s)"), Data::Float(600.0));
    // Of the two hand-overs one missed the acknowledgment target; the tracked targets only.
    assert_eq!(figure("acknowledge target met (share)"), Data::Float(0.5));
    assert_eq!(figure("first_reply target met (share)"), Data::Float(1.0));
    assert!(summary.rows().all(|r| r[0] != Data::String("resolution target met (share)".into())));
    // Per engineer and per category: zhao had both (s5 first) and missed s5's
    // acknowledgment; qian acknowledged s5 30 s after it came to her.
    let handovers = book.worksheet_range("Hand-overs").unwrap();
    let rows: Vec<Vec<String>> = handovers.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    let columns = [
        "Engineer or category",
        "Per",
        "Handed over",
        "Acknowledge p50 (s)",
        "Acknowledge p90 (s)",
        "First reply p50 (s)",
        "First reply p90 (s)",
        "acknowledge target missed",
        "first_reply target missed",
        "resolution target missed",
        "acknowledge target met (share)",
        "first_reply target met (share)",
    ];
    assert_eq!(rows[0], columns);
    assert_eq!(rows[1], ["zhao", "engineer", "2", "30", "30", "120", "120", "1", "0", "0", "0.5", "1"]);
    assert_eq!(rows[2], ["qian", "engineer", "1", "30", "30", "", "", "0", "0", "0", "1", "1"]);
    // sun was notified by an escalation step and acknowledged: a time, no hand-over, no share.
    assert_eq!(rows[3], ["sun", "engineer", "0", "50", "50", "", "", "0", "0", "0", "", ""]);
    let categories: Vec<(&str, &str)> = rows[4..].iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(categories, [("billing", "category"), ("export", "category")]);
    let per_day = book.worksheet_range("Per day").unwrap();
    let days: Vec<Vec<String>> = per_day.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(days, vec![vec!["Day", "Opened", "Closed"], vec!["2026-03-02", "2", "2"], vec!["2026-03-03", "3", "1"]]);
    let sessions = book.worksheet_range("Sessions").unwrap();
    assert_eq!(sessions.height(), 6, "header and five sessions");
    assert_eq!(sessions.get((2, 10)), Some(&Data::Float(600.0)), "durations are numbers");
    let candidates = book.worksheet_range("FAQ candidates").unwrap();
    assert_eq!(candidates.get((1, 1)), Some(&Data::String("Prize stock is LOW".into())));

    // Operator text that a spreadsheet program would run as a formula stays text.
    let mut hostile = report;
    hostile.sessions[0].question = Some("=HYPERLINK(\"http://evil\",\"open\")".into());
    hostile.sessions[1].user = "@SUM(1+1)".into();
    hostile.sessions[2].category = Some("-2+3".into());
    hostile.candidates[0].representative = "+cmd|' /C calc'!A0".into();
    let csv_bytes = hostile.to_csv().unwrap();
    for record in csv::Reader::from_reader(&csv_bytes[3..]).records() {
        for field in record.unwrap().iter() {
            assert!(!field.starts_with(['=', '+', '-', '@', '\t', '\r']), "{field:?} would run as a formula");
        }
    }
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(hostile.to_xlsx().unwrap())).unwrap();
    let sessions = book.worksheet_range("Sessions").unwrap();
    assert_eq!(sessions.get((1, 6)), Some(&Data::String("=HYPERLINK(\"http://evil\",\"open\")".into())));
    assert_eq!(sessions.get((2, 2)), Some(&Data::String("@SUM(1+1)".into())));
    let candidates = book.worksheet_range("FAQ candidates").unwrap();
    assert_eq!(candidates.get((1, 1)), Some(&Data::String("+cmd|' /C calc'!A0".into())), "text, not a formula");

    let empty = WeeklyReport::assemble(store.as_ref(), &alpha, week.previous(), &tracked).await.unwrap();
    assert!(empty.sessions.is_empty() && empty.candidates.is_empty());
    assert_eq!(empty.to_csv().unwrap().iter().filter(|b| **b == b'\n').count(), 1, "the header alone");
}

#[tokio::test]
async fn weekly_report_on_sqlite() {
    let (store, _dir) = common::sqlite().await;
    check_weekly_report(store).await;
}

#[tokio::test]
async fn weekly_report_on_postgres() {
    let (store, schema) = common::postgres().await;
    check_weekly_report(store.clone()).await;
    common::drop_schema(&store, &schema).await;
}
