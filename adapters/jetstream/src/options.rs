//! How the JetStream log finds and shapes its stream, as read from configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::JetStreamError;

/// Settings of the JetStream event log. Every field has a default, so an empty section is
/// valid; unknown fields are refused so a typo does not silently fall back to a default.
///
/// The stream is created with these settings on connect, or updated to them if it exists
/// (JetStream refuses some changes, such as fewer subjects or another storage type; the
/// error says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JetStreamOptions {
    /// Name of the JetStream stream holding every event (default `SWITCHBOARD`).
    pub stream: String,
    /// First subject token(s): a Switchboard stream `<team>.<kind>.<key>` is stored on
    /// `<prefix>.<team>.<kind>.<key>`, and a team can be followed on `<prefix>.<team>.>`
    /// (default `sb`).
    pub subject_prefix: String,
    /// Copies JetStream keeps of every message (1 on a single server; 3 on a cluster for
    /// durability across a lost node).
    pub replicas: usize,
    /// Age after which JetStream deletes events; `0s` (the default) keeps them forever.
    /// An event log that forgets its start cannot be replayed, so only set this when an
    /// archive or snapshot holds what is dropped.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Size at which JetStream deletes the oldest events; absent (the default) means no
    /// limit. Same caveat as `max_age`.
    pub max_bytes: Option<u64>,
    /// How long a commit id is remembered: a commit retried within this window is
    /// acknowledged as a duplicate instead of appended again. Must exceed the longest
    /// retry span of any caller (WeCom retries a callback for well under a minute);
    /// default 10 minutes.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// How long one request to the server (an append's acknowledgement, a read) may take
    /// before the log reports itself unavailable (default 5 s).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long connecting may take (default 5 s).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long an append (and the read of a stream before it) keeps trying while the log
    /// is unavailable — a stream leader being elected, the connection moving to another
    /// server of the cluster — before it is refused (default 15 s). A retried append carries
    /// the same commit id, so it is never stored twice. Must not exceed `duplicate_window`.
    #[serde(with = "humantime_serde")]
    pub failover_deadline: Duration,
    /// A NATS credentials file (`.creds`, user JWT and NKey seed) for servers that require
    /// them; absent for servers without authentication or with credentials in the URL.
    pub credentials_file: Option<PathBuf>,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        Self {
            stream: "SWITCHBOARD".to_owned(),
            subject_prefix: "sb".to_owned(),
            replicas: 1,
            max_age: Duration::ZERO,
            max_bytes: None,
            duplicate_window: Duration::from_secs(600),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            failover_deadline: Duration::from_secs(15),
            credentials_file: None,
        }
    }
}

impl JetStreamOptions {
    /// Refuses settings JetStream would refuse later or that would break the subject
    /// layout, with a message naming the field.
    pub(crate) fn validate(&self) -> Result<(), JetStreamError> {
        let bad = |field: &str, why: String| Err(JetStreamError::Config(format!("{field}: {why}")));
        if self.stream.is_empty() || !self.stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("stream", format!("{:?} may only contain letters, digits, '-' and '_'", self.stream));
        }
        let tokens_ok = !self.subject_prefix.is_empty()
            && self.subject_prefix.split('.').all(|token| {
                !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !tokens_ok {
            return bad(
                "subject_prefix",
                format!(
                    "{:?} must be one or more dot-separated tokens of letters, digits, '-' and '_'",
                    self.subject_prefix
                ),
            );
        }
        if !(1..=5).contains(&self.replicas) {
            return bad("replicas", format!("{} is not between 1 and 5", self.replicas));
        }
        if self.duplicate_window.is_zero() {
            return bad("duplicate_window", "must be longer than zero, or retried commits are appended twice".into());
        }
        if !self.max_age.is_zero() && self.duplicate_window > self.max_age {
            return bad("duplicate_window", "must not be longer than max_age (JetStream refuses it)".into());
        }
        if self.max_bytes.is_some_and(|bytes| i64::try_from(bytes).is_err()) {
            return bad("max_bytes", "is larger than JetStream accepts".into());
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("request_timeout/connect_timeout", "must be longer than zero".into());
        }
        if self.failover_deadline > self.duplicate_window {
            return bad(
                "failover_deadline",
                "must not be longer than duplicate_window, or a retried commit could be stored twice".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_gives_the_defaults() {
        let options: JetStreamOptions = serde_json::from_str("{}").expect("an empty section is valid");
        assert_eq!(options, JetStreamOptions::default());
        assert_eq!(options.duplicate_window, Duration::from_secs(600));
        assert!(options.validate().is_ok());
    }

    #[test]
    fn durations_are_read_as_text() {
        let options: JetStreamOptions = serde_json::from_str(
            r#"{"stream": "EVENTS", "subject_prefix": "acme.sb", "replicas": 3, "max_age": "365days",
                "duplicate_window": "30m", "request_timeout": "2s"}"#,
        )
        .expect("valid settings");
        assert_eq!(options.replicas, 3);
        assert_eq!(options.duplicate_window, Duration::from_secs(1800));
        assert_eq!(options.request_timeout, Duration::from_secs(2));
        assert!(options.validate().is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(serde_json::from_str::<JetStreamOptions>(r#"{"replica": 3}"#).is_err());
        let bad_prefix = JetStreamOptions { subject_prefix: "sb.>".into(), ..JetStreamOptions::default() };
        assert!(bad_prefix.validate().is_err());
        let bad_stream = JetStreamOptions { stream: "a.b".into(), ..JetStreamOptions::default() };
        assert!(bad_stream.validate().is_err());
        let no_window = JetStreamOptions { duplicate_window: Duration::ZERO, ..JetStreamOptions::default() };
        assert!(no_window.validate().is_err());
    }
}
