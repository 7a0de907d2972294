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
use reqwest::Url;
use switchboard_schemas::TeamId;
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
    to: Url,
    department: String,
    max_body_bytes: usize,
}

/// The internal instance's callback address for `team`, or `None` when `team` is not a
/// team id. The id is checked after the router has percent-decoded it, and the address is
/// built segment by segment, so `%2e%2e%2f` or `%23` can neither leave `/wecom/<team>/callback`
/// nor cut off the department flag. A `department` the caller put in the query is dropped:
/// only the forwarder says which environment a callback comes from.
fn internal_url(to: &Url, team: &str, query: &str, department: &str) -> Option<Url> {
    let team = TeamId::new(team).ok()?;
    let mut url = to.clone();
    url.path_segments_mut().ok()?.pop_if_empty().extend(["wecom", team.as_str(), "callback"]);
    // WeCom's parameters are passed through byte for byte (echostr is already encoded).
    let mut kept: Vec<&str> =
        query.split('&').filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("department")).collect();
    let flag = format!("department={department}");
    kept.push(&flag);
    url.set_query(Some(&kept.join("&")));
    url.set_fragment(None);
    Some(url)
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
    let Some(url) = internal_url(&forwarder.to, &team, query, &forwarder.department) else {
        warn!(team = %team.escape_debug(), "a callback for something that is not a team id was refused");
        return Response::builder().status(StatusCode::NOT_FOUND).finish();
    };
    let bytes = match body.into_bytes_limit(forwarder.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::builder().status(StatusCode::PAYLOAD_TOO_LARGE).finish(),
    };
    let request = if req.method() == poem::http::Method::GET {
        forwarder.http.get(url)
    } else {
        forwarder.http.post(url).body(bytes.to_vec())
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
    let to = Url::parse(&args.to)
        .ok()
        .filter(|to| matches!(to.scheme(), "http" | "https") && to.host().is_some() && !to.cannot_be_a_base())
        .with_context(|| format!("--to {:?} must be an http(s) address such as http://10.0.0.5:8080", args.to))?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(4)).build()?;
    let forwarder = std::sync::Arc::new(Forwarder {
        http,
        to,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> Url {
        Url::parse("http://10.0.0.5:8080/").unwrap()
    }

    #[test]
    fn a_team_callback_keeps_wecoms_parameters_and_gets_the_flag() {
        let url = internal_url(&to(), "ops", "msg_signature=a%2Bb&timestamp=1&echostr=x%3D", "test").unwrap();
        assert_eq!(
            url.as_str(),
            "http://10.0.0.5:8080/wecom/ops/callback?msg_signature=a%2Bb&timestamp=1&echostr=x%3D&department=test"
        );
        let bare = internal_url(&Url::parse("http://10.0.0.5:8080/base").unwrap(), "ops", "", "test").unwrap();
        assert_eq!(bare.as_str(), "http://10.0.0.5:8080/base/wecom/ops/callback?department=test");
    }

    #[test]
    fn encoded_traversal_and_fragments_are_not_team_ids() {
        // What the router hands over for /wecom/%2e%2e%2f%2e%2e%2fmetrics%23/callback.
        for team in ["../../metrics#", "..", ".", "ops/../metrics", "ops#", "ops?x=1", "ops%2f", ""] {
            assert_eq!(internal_url(&to(), team, "nonce=1", "test"), None, "{team:?}");
        }
    }

    #[test]
    fn a_department_in_the_query_cannot_choose_the_environment() {
        let url = internal_url(&to(), "ops", "department=prod&nonce=1&department", "test").unwrap();
        assert_eq!(url.query(), Some("nonce=1&department=test"));
    }
}
