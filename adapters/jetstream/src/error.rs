//! Errors of connecting to JetStream, and how NATS failures become [`LogError`]s.

use std::error::Error as StdError;
use std::path::PathBuf;

use async_nats::connection::State;
use async_nats::jetstream::context::{PublishError, PublishErrorKind, RequestError, RequestErrorKind};
use async_nats::jetstream::stream::{LastRawMessageError, LastRawMessageErrorKind};
use switchboard_engine::log::LogError;

/// Why the JetStream event log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// A setting is invalid; nothing was contacted.
    #[error("invalid JetStream event log settings: {0}")]
    Config(String),
    /// The credentials file could not be read.
    #[error("cannot read the NATS credentials file {}: {source}", .path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What reading it reported.
        #[source]
        source: std::io::Error,
    },
    /// No NATS server answered at the URL.
    #[error(
        "cannot connect to NATS at {url}: {source} (is nats-server running with JetStream \
         enabled, `nats-server -js`, at that address?)"
    )]
    Connect {
        /// The URL given.
        url: String,
        /// What the client reported.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The server answered but JetStream is not enabled for this account.
    #[error(
        "the NATS server at {url} does not offer JetStream ({detail}); start it with `-js` \
         (or `jetstream {{}}` in its configuration) and give this account JetStream limits"
    )]
    JetStreamDisabled {
        /// The URL given.
        url: String,
        /// What the server reported.
        detail: String,
    },
    /// The stream could not be created, or not updated to the configured settings.
    #[error(
        "cannot create or update JetStream stream {stream} at {url}: {source} (an existing \
         stream can only be changed in ways JetStream allows: keep its storage type and \
         subjects, or choose another stream name)"
    )]
    Stream {
        /// The stream name.
        stream: String,
        /// The URL given.
        url: String,
        /// What the server reported.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
}

/// What a failure is about, so its message can tell an operator where to look.
pub(crate) struct Place<'a> {
    /// The server URL.
    pub url: &'a str,
    /// The client's connection state when the failure was seen.
    pub state: State,
}

/// Turns a failure of the client while `doing` something into the port's error: timeouts,
/// missing responders and a lost connection become [`LogError::Unavailable`] (retrying
/// later may work), anything else [`LogError::Backend`].
pub(crate) fn log_error(error: &(dyn StdError + 'static), doing: &str, place: &Place<'_>) -> LogError {
    let disconnected = place.state != State::Connected;
    if disconnected || is_transient(error) {
        let why = if disconnected { "the connection to NATS is down" } else { "NATS did not answer in time" };
        return LogError::Unavailable(format!(
            "{doing}: {why} ({error}); is nats-server running with -js at {}? The client \
             reconnects on its own; retry the operation (an append retried with the same \
             commit id is not applied twice)",
            place.url
        ));
    }
    LogError::Backend(format!("{doing}: {error}"))
}

/// Whether the error, or any error it was caused by, is a timeout, a request nobody
/// answered or JetStream saying it is temporarily unavailable (JetStream not running yet, or
/// a stream leader being elected).
fn is_transient(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(e) = error.downcast_ref::<RequestError>() {
            if matches!(e.kind(), RequestErrorKind::TimedOut | RequestErrorKind::NoResponders) {
                return true;
            }
        }
        if let Some(e) = error.downcast_ref::<async_nats::RequestError>() {
            if matches!(e.kind(), async_nats::RequestErrorKind::TimedOut | async_nats::RequestErrorKind::NoResponders) {
                return true;
            }
        }
        if let Some(e) = error.downcast_ref::<PublishError>() {
            if matches!(
                e.kind(),
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound
            ) {
                return true;
            }
        }
        if error.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        // 503 "JetStream system temporarily unavailable" (10008): the cluster is electing a
        // stream leader after losing one; asked again shortly, it answers.
        if let Some(e) = error.downcast_ref::<LastRawMessageError>() {
            if matches!(e.kind(), LastRawMessageErrorKind::JetStream(js) if js.code() == 503) {
                return true;
            }
        }
        if error.downcast_ref::<async_nats::jetstream::Error>().is_some_and(|js| js.code() == 503) {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(state: State) -> Place<'static> {
        Place { url: "nats://127.0.0.1:4222", state }
    }

    #[test]
    fn a_cluster_electing_its_leader_is_unavailable_not_broken() {
        let answer = serde_json::json!({"code": 503, "err_code": 10008, "description": "JetStream system temporarily unavailable"});
        let js: async_nats::jetstream::Error = serde_json::from_value(answer).unwrap_or_else(|e| panic!("{e}"));
        let error = LastRawMessageError::new(LastRawMessageErrorKind::JetStream(js));
        assert!(matches!(log_error(&error, "read", &place(State::Connected)), LogError::Unavailable(_)));
        let missing = serde_json::json!({"code": 404, "err_code": 10037, "description": "no message found"});
        let js: async_nats::jetstream::Error = serde_json::from_value(missing).unwrap_or_else(|e| panic!("{e}"));
        let error = LastRawMessageError::new(LastRawMessageErrorKind::JetStream(js));
        assert!(matches!(log_error(&error, "read", &place(State::Connected)), LogError::Backend(_)));
    }

    #[test]
    fn timeouts_are_unavailable_and_say_what_to_check() {
        let error = PublishError::new(PublishErrorKind::TimedOut);
        match log_error(&error, "append", &place(State::Connected)) {
            LogError::Unavailable(message) => {
                assert!(message.contains("nats-server running with -js at nats://127.0.0.1:4222"), "{message}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn nested_request_timeouts_are_found() {
        let inner = RequestError::new(RequestErrorKind::TimedOut);
        let outer = async_nats::jetstream::stream::RawMessageError::with_source(
            async_nats::jetstream::stream::RawMessageErrorKind::Other,
            inner,
        );
        assert!(matches!(log_error(&outer, "read", &place(State::Connected)), LogError::Unavailable(_)));
    }

    #[test]
    fn other_errors_are_backend_errors_unless_disconnected() {
        let error = PublishError::new(PublishErrorKind::Other);
        assert!(matches!(log_error(&error, "append", &place(State::Connected)), LogError::Backend(_)));
        assert!(matches!(log_error(&error, "append", &place(State::Disconnected)), LogError::Unavailable(_)));
    }
}
