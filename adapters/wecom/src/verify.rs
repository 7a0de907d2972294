//! WeCom's URL verification, done from the console before the admin saves the callback
//! URL in WeCom: a signed `GET` with an encrypted `echostr`, answered correctly only by an
//! endpoint holding the same token, key and receive id. Production code (the console's
//! *verify* button), so it lives apart from the simulator.

use std::time::Duration;

use crate::crypto::{CryptoError, WecomCrypto};

/// What the verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlVerification {
    /// The HTTP status (0 when the endpoint never answered).
    pub status: u16,
    /// Whether the answer was the decrypted string, as WeCom requires.
    pub echoed: bool,
    /// The answer's first 200 characters (a refusal's code), for telling what went wrong.
    pub answer: String,
}

/// How long the endpoint may take to answer (WeCom waits 5 seconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Sends WeCom's verification to `url` (this instance's own callback endpoint) with the
/// application's `crypto`.
pub async fn verify_callback_url(url: &str, crypto: &WecomCrypto) -> Result<UrlVerification, CryptoError> {
    let echo = format!("switchboard-check-{}", uuid::Uuid::new_v4().simple());
    let encrypted = crypto.encrypt(&echo, *uuid::Uuid::new_v4().as_bytes())?;
    let nonce = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = crypto.signature(&timestamp, &nonce, &encrypted);
    let query = [("msg_signature", signature), ("timestamp", timestamp), ("nonce", nonce), ("echostr", encrypted)];
    let http = reqwest::Client::builder().timeout(ANSWER_WITHIN).build().unwrap_or_default();
    match http.get(url).query(&query).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Ok(UrlVerification {
                status,
                echoed: status == 200 && body == echo,
                answer: body.chars().take(200).collect(),
            })
        }
        Err(e) => Ok(UrlVerification { status: 0, echoed: false, answer: e.without_url().to_string() }),
    }
}
