//! The timed event log is still an event log (the whole contract), and what the parts record
//! comes out of the exposition: histograms by route, counters with `_total`, gauges read at
//! the scrape.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use switchboard_engine::log::EventLog;
use switchboard_telemetry::{status_class, Exposition, HttpRequest, Instruments, TimedLog};
use switchboard_testkit::MemoryEventLog;

async fn fresh_log() -> Arc<dyn EventLog> {
    Arc::new(TimedLog::new(Arc::new(MemoryEventLog::new()), Instruments::default().append_seconds))
}

switchboard_testkit::event_log_contract!(fresh_log());

#[test]
fn recorded_values_come_out_of_the_exposition() {
    let instruments = Instruments::default();
    let labels =
        HttpRequest { method: "POST".into(), route: "/api/v1/teams/{team}/messages".into(), status: status_class(200) };
    instruments.http_seconds.get_or_create(&labels).observe(0.003);
    instruments.http_seconds.get_or_create(&labels).observe(0.020);
    instruments.append_seconds.observe(0.0004);
    instruments.webhook_failures.inc();
    let mut exposition = Exposition::new(&instruments);
    exposition.counter("switchboard_core_sends", "Sends.", 7).gauge("switchboard_pending_questions", "Waiting.", 3);
    let text = exposition.encode();
    let lines: Vec<&str> = text.lines().collect();
    let route = r#"method="POST",route="/api/v1/teams/{team}/messages",status="2xx""#;
    for expected in [
        format!("switchboard_http_request_seconds_count{{{route}}} 2"),
        format!("switchboard_http_request_seconds_bucket{{le=\"0.004\",{route}}} 1"),
        "switchboard_log_append_seconds_count 1".to_owned(),
        "switchboard_webhook_failures_total 1".to_owned(),
        "switchboard_core_sends_total 7".to_owned(),
        "switchboard_pending_questions 3".to_owned(),
        "# EOF".to_owned(),
    ] {
        assert!(lines.contains(&expected.as_str()), "{expected} missing from:\n{text}");
    }
    assert_eq!(status_class(503), "5xx");
}
