//! `switchboard forward`: the forwarding mode for test environments. WeCom can call only
//! one public address per application; a forwarding instance receives those callbacks and
//! passes them, unchanged, to an internal Switchboard, adding a department flag. The
//! internal instance verifies and decrypts them as usual and keeps that environment's data
//! in its own team (`<team>-<department>`, see `departments` in the WeCom configuration).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, EndpointExt, Request, Response, Route};
use tracing::{info, warn};

/// Options of `forward`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Where WeCom's callbacks arrive (the public address).
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// The internal Switchboard (its HTTP address), e.g. http://10.0.0.5:8080.
    #[arg(long)]
    to: String,
    /// The department flag added to every forwarded callback (letters, digits, '-', '_').
    #[arg(long)]
    department: String,
    /// Largest body forwarded; WeCom's envelopes are a few KiB.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body_bytes: usize,
}

struct Forwarder {
    http: reqwest::Client,
    to: String,
    department: String,
    max_body_bytes: usize,
}

/// Forwards one callback (GET verification or POST message) and relays the answer. WeCom
/// waits 5 seconds; the internal call gets 4, and a failure answers 502 so WeCom retries.
#[handler]
async fn forward(
    req: &Request,
    Path(team): Path<String>,
    body: poem::Body,
    Data(forwarder): Data<&std::sync::Arc<Forwarder>>,
) -> Response {
    let query = req.uri().query().unwrap_or("");
    let url = format!(
        "{}/wecom/{team}/callback?{query}{}department={}",
        forwarder.to.trim_end_matches('/'),
        if query.is_empty() { "" } else { "&" },
        forwarder.department
    );
    let bytes = match body.into_bytes_limit(forwarder.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::builder().status(StatusCode::PAYLOAD_TOO_LARGE).finish(),
    };
    let request = if req.method() == poem::http::Method::GET {
        forwarder.http.get(&url)
    } else {
        forwarder.http.post(&url).body(bytes.to_vec())
    };
    match request.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = answer.bytes().await.unwrap_or_default();
            info!(%team, status = status.as_u16(), "callback forwarded");
            Response::builder().status(status).body(body.to_vec())
        }
        Err(e) => {
            warn!(%team, error = %e.without_url(), "the internal instance did not answer; WeCom will retry");
            Response::builder().status(StatusCode::BAD_GATEWAY).finish()
        }
    }
}

/// Runs the forwarder until Ctrl-C.
pub async fn run(args: ForwardArgs) -> Result<()> {
    let valid = !args.department.is_empty()
        && args.department.len() <= 32
        && args.department.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    anyhow::ensure!(valid, "--department {:?} must be 1..=32 letters, digits, '-' or '_'", args.department);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(4)).build()?;
    let forwarder = std::sync::Arc::new(Forwarder {
        http,
        to: args.to.clone(),
        department: args.department.clone(),
        max_body_bytes: args.max_body_bytes,
    });
    let app = Route::new().at("/wecom/:team/callback", poem::get(forward).post(forward)).data(forwarder);
    info!(listen = %args.listen, to = %args.to, department = %args.department, "forwarding WeCom callbacks");
    poem::Server::new(poem::listener::TcpListener::bind(args.listen))
        .run_with_graceful_shutdown(app, async { tokio::signal::ctrl_c().await.unwrap_or(()) }, None)
        .await
        .with_context(|| format!("the forwarder on {} failed (is the port in use?)", args.listen))
}
