//! The HTTP edge over a real loopback socket: an upload is refused on its key before a byte of
//! its body is taken in, and a body that does not arrive within the request deadline is
//! answered 408 with nothing written.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use poem::http::StatusCode;
use switchboard_http::testing::{harness_with, Harness};
use switchboard_http::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a request head (and `body_part` of its body), then waits for the answer without
/// sending the rest; the status line, the answer's body and how long it took.
async fn send_part(addr: &str, head: &str, body_part: &[u8]) -> (String, String, Duration) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_part).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    // The answer is complete when its JSON body is; the connection may stay open.
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    // The final status line (after any `100 Continue`) and the body after it.
    let status = answer.lines().rfind(|l| l.starts_with("HTTP/1.1 ")).unwrap_or_default().to_owned();
    let body = answer.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned();
    (status, body, started.elapsed())
}

fn upload_head(key: Option<&str>, length: usize) -> String {
    let auth = key.map(|k| format!("authorization: Bearer {k}\r\n")).unwrap_or_default();
    format!(
        "POST /api/v1/teams/ops/faqs/import?format=csv HTTP/1.1\r\nhost: sb\r\n{auth}\
         content-type: application/octet-stream\r\ncontent-length: {length}\r\n\r\n"
    )
}

async fn faq_count(h: &Harness) -> usize {
    let (status, faqs) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/faqs").await;
    assert_eq!(status, StatusCode::OK, "{faqs}");
    faqs["faqs"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_refused_on_its_key_before_its_body_is_read() {
    // A long deadline: an answer well before it shows the body was never waited for.
    let h = harness_with(HttpLimits { request_deadline: Duration::from_secs(30), ..HttpLimits::default() }).await;
    let addr = h.serve().await;
    let length = 8 * 1024 * 1024 - 1;
    for (key, expected) in [
        (None, "401"),
        (Some("sbk.ops.not-a-key"), "401"),
        (Some(h.keys.ops_viewer.as_str()), "403"),
        (Some(h.keys.games_admin.as_str()), "403"),
    ] {
        let (status, body, took) = send_part(&addr, &upload_head(key, length), b"id,question,answer\n").await;
        assert!(status.contains(expected), "{key:?}: {status} {body}");
        assert!(took < Duration::from_secs(5), "{key:?} answered after {took:?}: the body was waited for");
        assert!(body.contains("\"code\""), "the one error format: {body}");
    }
    assert_eq!(faq_count(&h).await, 1, "nothing imported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_deadline_is_answered_408_and_writes_nothing() {
    let deadline = Duration::from_millis(500);
    let h = harness_with(HttpLimits { request_deadline: deadline, ..HttpLimits::default() }).await;
    let addr = h.serve().await;
    // An upload by someone allowed to, who then stalls.
    let (status, body, took) =
        send_part(&addr, &upload_head(Some(&h.keys.ops_agent), 1_000), b"id,question,answer\nf,q,").await;
    assert!(status.contains("408"), "{status} {body}");
    assert!(body.contains("request_timeout") && body.contains("http.request_deadline"), "{body}");
    assert!(took >= deadline && took < Duration::from_secs(5), "{took:?}");
    assert_eq!(faq_count(&h).await, 1, "nothing imported");

    // Any other request body, including after asking for `100 Continue`.
    let head = format!(
        "POST /api/v1/teams/ops/messages HTTP/1.1\r\nhost: sb\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 200\r\n\r\n",
        h.keys.ops_agent
    );
    let (status, body, took) = send_part(&addr, &head, b"{\"user\": \"lisi\", \"text\": \"").await;
    assert!(status.contains("408"), "{status} {body}");
    assert!(body.contains("request_timeout"), "{body}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
