//! A secret value (a WeCom token or EncodingAESKey, a webhook signing secret, a generative
//! service's API key): readable by the code that needs it, redacted in `Debug` and when
//! serialised (as `<redacted>`, which no key or token accepts), so a logged or written-out
//! configuration never shows it. One type for every adapter, so redaction is written once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value; see the crate documentation.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a serialised or debug-printed [`Secret`] reads.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the code that needs it (never for logs).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_to_whoever_asks_for_it() {
        let secret = Secret::new("sentinel-7f3a");
        assert_eq!(secret.expose(), "sentinel-7f3a");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(<redacted>))");
        assert_eq!(serde_json::to_string(&secret).ok().as_deref(), Some("\"<redacted>\""));
        let read: Secret = serde_json::from_str("\"sentinel-7f3a\"").unwrap_or_else(|_| Secret::new(""));
        assert_eq!(read, secret, "read from configuration as is");
    }
}
