//! The guard end to end, against servers on loopback only: a refused address is never
//! contacted, a redirect is never followed, a long body is never read whole.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use poem::listener::TcpListener;
use poem::{handler, web::Data, EndpointExt, Route};
use switchboard_outbound::{read_limited, AddressClass, BodyError, OutboundClient, OutboundError, OutboundPolicy};

#[handler]
fn hit(Data(hits): Data<&Arc<AtomicUsize>>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    "internal secret"
}

#[handler]
fn bounce(Data(port): Data<&u16>) -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::FOUND)
        .header("location", format!("http://127.0.0.1:{port}/hit"))
        .finish()
}

#[handler]
fn large() -> Vec<u8> {
    vec![b'x'; 1 << 20]
}

/// A server on 127.0.0.1 counting the requests that reach `/hit`.
async fn server() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Route::new()
        .at("/hit", poem::get(hit))
        .at("/bounce", poem::get(bounce))
        .at("/large", poem::get(large))
        .data(hits.clone())
        .data(port);
    tokio::spawn(poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(app));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (port, hits)
}

fn client(policy: OutboundPolicy) -> OutboundClient {
    OutboundClient::new(policy, reqwest::Client::builder().timeout(std::time::Duration::from_secs(5))).unwrap()
}

#[tokio::test]
async fn a_literal_loopback_address_is_refused_before_anything_is_sent() {
    let (port, hits) = server().await;
    let guarded = client(OutboundPolicy::public_only());
    for url in [format!("http://127.0.0.1:{port}/hit"), format!("http://[::1]:{port}/hit")] {
        let refused = guarded.post(&url).err();
        assert!(matches!(refused, Some(OutboundError::Refused { class: AddressClass::Loopback, .. })), "{url}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_when_checked_and_when_sent() {
    let (port, hits) = server().await;
    let guarded = client(OutboundPolicy::public_only());
    let url = format!("http://localhost:{port}/hit");
    assert!(matches!(guarded.check(&url).await, Err(OutboundError::Refused { class: AddressClass::Loopback, .. })));
    let error = guarded.get(&url).unwrap().send().await.unwrap_err();
    let refusal = OutboundError::behind(&error).expect("the guard's refusal is the cause");
    assert!(matches!(refusal, OutboundError::Refused { host, .. } if host == "localhost"));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the server was never reached");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let (port, hits) = server().await;
    let guarded = client(OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap()]));
    let response = guarded.get(&format!("http://127.0.0.1:{port}/bounce")).unwrap().send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect's target was not asked");
}

#[tokio::test]
async fn an_allowed_range_is_reached_and_bodies_are_bounded() {
    let (port, hits) = server().await;
    let guarded = client(OutboundPolicy::allow(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]));
    let response = guarded.get(&format!("http://localhost:{port}/hit")).unwrap().send().await.unwrap();
    assert_eq!(read_limited(response, 64).await.unwrap().as_ref(), b"internal secret");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let response = guarded.get(&format!("http://127.0.0.1:{port}/large")).unwrap().send().await.unwrap();
    assert!(matches!(read_limited(response, 4_096).await, Err(BodyError::TooLarge(4_096))));
}

#[tokio::test]
async fn fixed_host_addresses_are_checked_like_resolved_ones() {
    let (port, hits) = server().await;
    let policy = OutboundPolicy::public_only()
        .with_host("crm.example.com", ["93.184.215.14".parse().unwrap()])
        .with_host("sneaky.example.com", ["93.184.215.14".parse().unwrap(), "127.0.0.1".parse().unwrap()]);
    let guarded = client(policy);
    assert_eq!(guarded.check("https://CRM.example.com/in").await, Ok(()), "a public address passes, nothing sent");
    let mixed = guarded.check(&format!("http://sneaky.example.com:{port}/hit")).await;
    assert!(matches!(mixed, Err(OutboundError::Refused { class: AddressClass::Loopback, .. })), "{mixed:?}");
    assert!(guarded.get(&format!("http://sneaky.example.com:{port}/hit")).unwrap().send().await.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn with_hosts_only_an_unknown_name_has_no_address_and_nothing_is_looked_up() {
    let guarded = client(OutboundPolicy::public_only().hosts_only());
    let answer = guarded.check("https://anything.example.org/hook").await;
    assert_eq!(answer, Err(OutboundError::NoAddress { host: "anything.example.org".into() }));
}
