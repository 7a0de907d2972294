//! Webhook signatures: HMAC-SHA256 with the endpoint's secret over `"<timestamp>.<body>"`,
//! sent as `Switchboard-Timestamp: <unix seconds>` and `Switchboard-Signature: v1=<hex>`.
//! Signing the timestamp with the body lets a receiver refuse old deliveries replayed by
//! someone who captured one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signing moment, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "Switchboard-Timestamp";
/// The header carrying `v1=<lower-case hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Switchboard-Signature` value of a body signed at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is not a number of seconds.
    #[error("the {TIMESTAMP_HEADER} header is not a Unix time in seconds")]
    BadTimestamp,
    /// The delivery was signed too long ago (or in the future): possibly replayed.
    #[error("the delivery was signed {age_secs} s from now, outside the {tolerance_secs} s tolerance")]
    Stale {
        /// Seconds between the signing and now (negative: in the future).
        age_secs: i64,
        /// The tolerance.
        tolerance_secs: i64,
    },
    /// The signature header has no `v1=` hex value.
    #[error("the {SIGNATURE_HEADER} header has no v1=<hex> signature")]
    Malformed,
    /// The signature does not match the body and the secret.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a delivery as a receiver would: the timestamp is within `tolerance_secs` of
/// `now` and the signature matches, compared in constant time.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let age_secs = now - timestamp;
    if age_secs.abs() > tolerance_secs {
        return Err(VerifyError::Stale { age_secs, tolerance_secs });
    }
    let hex = signature.trim().strip_prefix("v1=").ok_or(VerifyError::Malformed)?;
    let expected = decode_hex(hex).ok_or(VerifyError::Malformed)?;
    mac(secret, timestamp, body).verify_slice(&expected).map_err(|_| VerifyError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        // Independently computed: printf '1767225600.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign(b"whsec_test", 1_767_225_600, br#"{"a":1}"#),
            "v1=6d204545ff126a339c00513d93603299c984074ce1331c3537c3f6c976b49019"
        );
    }

    #[test]
    fn what_is_signed_verifies_and_any_change_does_not() {
        let body = br#"{"event_id":"x"}"#;
        let signature = sign(b"secret", 1_000, body);
        assert_eq!(verify(b"secret", "1000", &signature, body, 1_100, 300), Ok(()));
        assert_eq!(verify(b"other", "1000", &signature, body, 1_100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"secret", "1000", &signature, b"{}", 1_100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"secret", "1001", &signature, body, 1_100, 300), Err(VerifyError::Mismatch));
        assert_eq!(
            verify(b"secret", "1000", &signature, body, 2_000, 300),
            Err(VerifyError::Stale { age_secs: 1_000, tolerance_secs: 300 })
        );
        assert_eq!(verify(b"secret", "soon", &signature, body, 1_000, 300), Err(VerifyError::BadTimestamp));
        assert_eq!(verify(b"secret", "1000", "sha256=ab", body, 1_000, 300), Err(VerifyError::Malformed));
        assert_eq!(verify(b"secret", "1000", "v1=abc", body, 1_000, 300), Err(VerifyError::Malformed));
    }
}
