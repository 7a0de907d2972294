//! The on-call API end to end over the in-process application: a schedule with a swap and
//! a holiday, who is on call now and next, time off and "away" passed over by routing, an
//! `.ics` import, the iCalendar feed (parsed by an independent parser) and acknowledging a
//! hand-over. Every exchange is checked against the served OpenAPI document.

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use serde_json::{json, Value};
use switchboard_http::testing::harness;

const MONDAY_NOON_SHANGHAI: &str = "2026-12-07T04:00:00Z";

fn set_up() -> Value {
    json!({
        "time_zone": "Asia/Shanghai",
        "default": [
            {"name": "primary", "participants": ["zhao", "qian"], "shift": {"count": 1, "unit": "weeks"},
             "handoff": {"weekday": "mon", "time": "09:00:00"}, "starts_on": "2026-12-07"},
            {"name": "secondary", "participants": ["wang"], "shift": {"count": 1, "unit": "weeks"},
             "handoff": {"weekday": "mon", "time": "09:00:00"}, "starts_on": "2026-12-07"}
        ],
        "calendar": {
            "hours": [{"weekday": "mon", "from": "09:00:00", "until": "18:00:00"},
                      {"weekday": "tue", "from": "09:00:00", "until": "18:00:00"}],
            "holidays": [{"date": "2026-12-08", "name": "团建 Team day"}]
        },
        "escalation": {"steps": [{"notify": ["assignee"], "wait_minutes": 5}, {"notify": ["next_layer", "leads"], "wait_minutes": 10}]},
        "targets": {"acknowledge_minutes": 10, "first_reply_minutes": 30},
        "leads": ["zhao"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_lead_sets_up_on_call_with_a_swap_a_holiday_and_time_off() {
    let h = harness().await;
    let (admin, agent, viewer) = (h.keys.ops_admin.clone(), h.keys.ops_agent.clone(), h.keys.ops_viewer.clone());

    // Before any set-up, the roster's weekly rotation is shown as one.
    let (status, before) = h.get(&viewer, "/api/v1/teams/ops/on-call").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before["configured"], false);
    assert_eq!(before["on_call"]["default"][0]["participants"], json!(["zhao"]));

    // A viewer may not change it; the admin saves it at the version read.
    let body = json!({"on_call": set_up(), "expected_version": before["version"]});
    assert_eq!(h.put(&viewer, "/api/v1/teams/ops/on-call", body.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, saved) = h.put(&admin, "/api/v1/teams/ops/on-call", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // Saving again at the old version is refused: someone changed it meanwhile.
    assert_eq!(h.put(&admin, "/api/v1/teams/ops/on-call", body).await.0, StatusCode::CONFLICT);

    // Monday noon: zhao is primary, wang secondary, qian next from Monday 14 09:00.
    let now = |at: &str| format!("/api/v1/teams/ops/on-call/now?at={at}");
    let (status, monday) = h.get(&viewer, &now(MONDAY_NOON_SHANGHAI)).await;
    assert_eq!(status, StatusCode::OK, "{monday}");
    assert_eq!((monday["working"].clone(), monday["routed_to"].clone()), (json!(true), json!("zhao")));
    assert_eq!(monday["layers"][0]["on_call"], "zhao");
    assert_eq!(monday["layers"][0]["next"], "qian");
    assert_eq!(monday["layers"][0]["until"], "2026-12-14T01:00:00+00:00");
    assert_eq!(monday["layers"][1]["on_call"], "wang");
    // Tuesday is the team day: not working, back on Monday 14 at 09:00 Shanghai.
    let (_, tuesday) = h.get(&viewer, &now("2026-12-08T04:00:00Z")).await;
    assert_eq!(tuesday["working"], false);
    assert_eq!(tuesday["back_at"], "2026-12-14T01:00:00+00:00");

    // A swap: qian covers Monday afternoon for zhao.
    let swap = json!({"layer": "primary", "staff": "qian", "from": "2026-12-07T05:00:00Z",
                      "until": "2026-12-07T10:00:00Z", "note": "换班 swap"});
    let (status, added) = h.post(&admin, "/api/v1/teams/ops/on-call/overrides", swap.clone()).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let (_, afternoon) = h.get(&viewer, &now("2026-12-07T06:00:00Z")).await;
    assert_eq!(afternoon["layers"][0]["on_call"], "qian");
    assert_eq!(afternoon["layers"][0]["scheduled"], "zhao");
    assert_eq!(afternoon["layers"][0]["override_id"], added["id"]);
    // An overlapping override of the same layer is refused, nothing written.
    let head = h.log.head().await.unwrap();
    let (status, clash) = h.post(&admin, "/api/v1/teams/ops/on-call/overrides", swap).await;
    assert_eq!((status, clash["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_on_call")));
    assert_eq!(h.log.head().await.unwrap(), head);

    // The calendar shows the swap cut into zhao's week.
    let (_, shifts) = h.get(&viewer, "/api/v1/teams/ops/on-call/shifts?from=2026-12-07T01:00:00Z&days=7").await;
    let primary: Vec<(&str, &str)> = shifts
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["layer"] == "primary")
        .map(|s| (s["staff"].as_str().unwrap(), s["from"].as_str().unwrap()))
        .collect();
    assert_eq!(
        primary,
        [
            ("zhao", "2026-12-07T01:00:00+00:00"),
            ("qian", "2026-12-07T05:00:00+00:00"),
            ("zhao", "2026-12-07T10:00:00+00:00")
        ]
    );

    // zhao takes Monday evening off (admin) and qian marks themselves away (agent): a
    // hand-over then goes to the secondary layer.
    let off = json!({"staff": "zhao", "from": "2026-12-07T10:00:00Z", "until": "2026-12-07T16:00:00Z"});
    assert_eq!(h.post(&admin, "/api/v1/teams/ops/on-call/time-off", off).await.0, StatusCode::OK);
    let (status, away) = h.put(&agent, "/api/v1/teams/ops/on-call/availability/qian", json!({"away": true})).await;
    assert_eq!(status, StatusCode::OK, "{away}");
    let (_, evening) = h.get(&viewer, &now("2026-12-07T11:00:00Z")).await;
    assert_eq!(evening["routed_to"], "wang");
    // An agent cannot mark someone else away.
    let (status, refused) = h.put(&agent, "/api/v1/teams/ops/on-call/availability/zhao", json!({"away": true})).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_yours")));

    // The make-up workday from a holiday file.
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261227\r\nSUMMARY:调休上班\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:元旦\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (status, imported) = h.upload(&admin, "/api/v1/teams/ops/on-call/calendar/import", ics.into()).await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!((imported["holidays"].as_u64(), imported["workdays"].as_u64()), (Some(1), Some(1)));
    let (_, after) = h.get(&viewer, "/api/v1/teams/ops/on-call").await;
    assert_eq!(after["on_call"]["calendar"]["workdays"][0]["date"], "2026-12-27");
    assert_eq!(after["away"], json!(["qian"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shift_feed_is_icalendar_behind_a_revocable_key() {
    let h = harness().await;
    let admin = h.keys.ops_admin.clone();
    let (_, before) = h.get(&admin, "/api/v1/teams/ops/on-call").await;
    let body = json!({"on_call": set_up(), "expected_version": before["version"]});
    assert_eq!(h.put(&admin, "/api/v1/teams/ops/on-call", body).await.0, StatusCode::OK);
    // A viewer key issued for the feed.
    let (status, issued) = h
        .post(&admin, "/api/v1/teams/ops/keys", json!({"label": "calendar feed", "role": "viewer", "staff": "zhao"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let token = issued["token"].as_str().unwrap();
    let path = format!("/api/v1/teams/ops/on-call/feed.ics?key={token}&staff=zhao");
    let (status, headers, bytes) = h.exchange_raw(poem::http::Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let mut parser = ical::IcalParser::new(bytes.as_slice());
    let calendar = parser.next().unwrap().expect("the feed parses");
    assert!(!calendar.events.is_empty());
    for event in &calendar.events {
        let summary = event.properties.iter().find(|p| p.name == "SUMMARY").and_then(|p| p.value.clone()).unwrap();
        assert!(summary.contains("zhao"), "only zhao's shifts: {summary}");
    }
    // A key that can act (the team admin's) is refused in an address: it would leak with it.
    let with_admin_key = format!("/api/v1/teams/ops/on-call/feed.ics?key={admin}");
    let (status, _, body) = h.exchange_raw(poem::http::Method::GET, &with_admin_key, None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("viewer_key_required"));
    // Without a key, or once the key is revoked, the feed is refused.
    let bare = "/api/v1/teams/ops/on-call/feed.ics";
    assert_eq!(h.exchange_raw(poem::http::Method::GET, bare, None, None).await.0, StatusCode::UNAUTHORIZED);
    let revoke = format!("/api/v1/teams/ops/keys/{}", issued["key_id"].as_str().unwrap());
    assert_eq!(h.delete(&admin, &revoke).await.0, StatusCode::OK);
    assert_eq!(h.exchange_raw(poem::http::Method::GET, &path, None, None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_acknowledges_a_hand_over_once() {
    let h = harness().await;
    let agent = h.keys.ops_agent.clone();
    let (status, _) = h.post(&agent, "/api/v1/teams/ops/messages", json!({"user": "zhangsan", "text": "人工"})).await;
    assert!(status.is_success());
    h.settled().await;
    let (status, first) = h.post(&agent, "/api/v1/teams/ops/conversations/zhangsan/acknowledge", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first["events"].as_u64().unwrap() >= 1);
    let (status, again) = h.post(&agent, "/api/v1/teams/ops/conversations/zhangsan/acknowledge", json!({})).await;
    assert_eq!((status, again["events"].as_u64()), (StatusCode::OK, Some(0)));
    let (_, events) = h.get(&agent, "/api/v1/teams/ops/conversations/zhangsan/events").await;
    let acknowledged: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["event_type"] == "HandoverAcknowledged").collect();
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(acknowledged[0]["payload"]["by"], "qian");
}
