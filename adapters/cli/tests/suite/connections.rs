//! Hostile connections against a real `serve`: a client trickling its request (slowloris) is
//! cut off at `http.request_deadline`, unanswered; a flood of connections past
//! `http.max_connections` is told 503 with the setting to raise, and the instance answers
//! again once they are gone; an idle keep-alive connection between requests is left alone; a
//! body trickled after `100 Continue` is answered 408; HTTP/2 over cleartext is not served.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::Server;

const LIMITS: &[(&str, &str)] =
    &[("SWITCHBOARD_HTTP__MAX_CONNECTIONS", "8"), ("SWITCHBOARD_HTTP__REQUEST_DEADLINE", "1s")];

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads until the server closes the connection (or it resets); what it sent.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("the server kept the connection open past the read timeout")
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Writes `count` bytes of `pattern`, one every 100 ms, until done or the server closes.
fn trickle(stream: &TcpStream, pattern: &'static [u8], count: usize) -> std::thread::JoinHandle<()> {
    let mut slow = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for byte in pattern.iter().cycle().take(count) {
            if slow.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn get_healthz(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: switchboard\r\n\r\n").unwrap();
    let mut chunk = [0; 4096];
    let n = stream.read(&mut chunk).unwrap();
    String::from_utf8_lossy(&chunk[..n]).into_owned()
}

#[test]
fn a_trickled_request_is_cut_off_at_the_deadline_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), None, &[], LIMITS);
    let mut slow = connect(&server);
    slow.write_all(b"POST /api/v1/teams/demo/messages HTTP/1.1\r\nhost: switchboard\r\n").unwrap();
    let started = Instant::now();
    // One header byte every 100 ms: never idle, never done.
    let trickle = trickle(&slow, b"x-slow: ", 100);
    let answer = read_to_close(&mut slow);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "cut off after {took:?}, the deadline is 1 s");
    assert!(!answer.contains("200 OK"), "no request was served: {answer:?}");
    trickle.join().unwrap();
    assert!(answer.is_empty(), "a cut-off request gets no answer to act on: {answer:?}");
    assert_eq!(server.health_status(), 200, "the instance is fine");
}

#[test]
fn a_body_trickled_after_100_continue_is_answered_408_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), None, &[], LIMITS);
    let mut slow = connect(&server);
    slow.write_all(
        b"POST /api/v1/teams/demo/messages HTTP/1.1\r\nhost: switchboard\r\ncontent-type: application/json\r\n\
          expect: 100-continue\r\ncontent-length: 1000\r\n\r\n",
    )
    .unwrap();
    let started = Instant::now();
    let trickle = trickle(&slow, b"{\"user\": \"x\"", 60);
    let mut answer = Vec::new();
    let mut chunk = [0; 1024];
    while !String::from_utf8_lossy(&answer).contains("request_timeout") {
        match slow.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.contains("HTTP/1.1 408"), "{answer:?}");
    assert!(took < Duration::from_secs(4), "answered after {took:?}, the deadline is 1 s");
    drop(slow);
    trickle.join().unwrap();
}

#[test]
fn http2_over_cleartext_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), None, &[], LIMITS);
    let mut h2 = connect(&server);
    // The HTTP/2 connection preface and an empty SETTINGS frame.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut h2);
    assert!(answer.is_empty(), "not a byte of HTTP/2 is spoken: {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "closed at once, not left open");
    assert_eq!(server.health_status(), 200, "HTTP/1.1 is served as before");
}

#[test]
fn connections_past_the_cap_are_told_503_and_the_instance_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), None, &[], LIMITS);
    // Wait for the health check's own connection to be released.
    std::thread::sleep(Duration::from_millis(200));
    let held: Vec<TcpStream> = (0..8).map(|_| connect(&server)).collect();
    let mut refused = connect(&server);
    let answer = read_to_close(&mut refused);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("http.max_connections"), "the refusal names the setting: {answer:?}");
    // The held connections never sent a request: the deadline frees their slots.
    for mut stream in held {
        let _ = read_to_close(&mut stream);
    }
    assert_eq!(server.health_status(), 200, "slots are released when connections end");
}

#[test]
fn an_idle_keep_alive_connection_between_requests_is_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), None, &[], LIMITS);
    let mut stream = connect(&server);
    assert!(get_healthz(&mut stream).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(get_healthz(&mut stream).starts_with("HTTP/1.1 200"), "the deadline counts a request, not idle time");
}

/// The soft limit on open files `serve` was started with (often 1,024) would cut
/// connections off long before `http.max_connections`: `serve` raises it for the cap.
#[test]
fn serve_raises_its_open_file_limit_to_fit_the_connection_cap() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let mut child = std::process::Command::new("sh")
        .args(["-c", "ulimit -Sn 256 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("SWITCHBOARD_HTTP__MAX_CONNECTIONS", "2000")
        .env("SWITCHBOARD_DEMO_HISTORY", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call().is_err() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited before becoming healthy");
        assert!(Instant::now() < deadline, "serve did not become healthy within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id();
    let soft_limit = || -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok())
            .unwrap_or_else(|| panic!("no open-file limit in {limits}"))
    };
    // 2,000 connections and 1,024 for files and outbound connections, if the hard limit allows.
    let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap().1;
    // Under a loaded suite another test's server may answer on a port reused that quickly;
    // the limit is then read again until this process has raised it (or the deadline).
    let mut soft = soft_limit();
    while soft != 3024.min(hard) && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(100));
        soft = soft_limit();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, 3024.min(hard), "the soft open-file limit after start (started at 256)");
}
