//! WeCom's callback cryptography (the scheme of Tencent's `WXBizMsgCrypt` libraries).
//!
//! - `msg_signature` = hex SHA-1 of token, timestamp, nonce and the encrypted text, sorted
//!   and concatenated.
//! - AES key = base64(EncodingAESKey + "="), decoded allowing non-zero trailing bits (the
//!   published keys have them), but only for exactly 43 characters of the standard alphabet.
//! - AES-256-CBC with IV = the first 16 key bytes; PKCS#7 padding with a block size of 32.
//! - Plaintext = 16 random bytes ‖ big-endian u32 message length ‖ message ‖ receive id.
//!
//! Everything here is pure: the random prefix of [`WecomCrypto::encrypt`] is a parameter,
//! so encryption is reproducible in tests.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use sha1::{Digest, Sha1};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The padding block size WeCom uses (PKCS#7 over 32-byte blocks, not AES's 16).
pub const PAD_BLOCK: usize = 32;
/// Length of an EncodingAESKey in characters.
pub const ENCODING_AES_KEY_LEN: usize = 43;
/// Length of the random prefix of every plaintext.
pub const RANDOM_PREFIX_LEN: usize = 16;

/// Why a key could not be used or a ciphertext could not be opened. The variants never carry
/// key material or message text, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 characters of standard base64.
    #[error("the EncodingAESKey must be {ENCODING_AES_KEY_LEN} characters of base64; got {len} characters")]
    BadKey {
        /// Its length in characters.
        len: usize,
    },
    /// The token is empty, longer than 32 characters or not letters and digits.
    #[error("the token must be 1 to 32 ASCII letters or digits; got {len} characters")]
    BadToken {
        /// Its length in characters.
        len: usize,
    },
    /// The signature does not match.
    #[error("msg_signature does not match")]
    BadSignature,
    /// The encrypted text is not valid base64.
    #[error("the encrypted text is not valid base64 ({len} characters)")]
    Base64 {
        /// Its length in characters.
        len: usize,
    },
    /// The ciphertext is empty or not a whole number of 32-byte blocks.
    #[error("the ciphertext has {len} bytes; it must be a non-zero multiple of {PAD_BLOCK}")]
    CiphertextLength {
        /// Its length in bytes.
        len: usize,
    },
    /// The PKCS#7 padding (block size 32) is malformed; also what a wrong key looks like.
    #[error("the decrypted padding is invalid (wrong key or corrupted ciphertext)")]
    BadPadding,
    /// The plaintext is shorter than its 20-byte header.
    #[error("the decrypted text has {len} bytes, fewer than the 20-byte header")]
    Truncated {
        /// Its length in bytes.
        len: usize,
    },
    /// The length field points past the end of the plaintext.
    #[error("the decrypted message length {declared} does not fit in {available} bytes")]
    BadLength {
        /// The declared message length.
        declared: usize,
        /// Bytes available after the header.
        available: usize,
    },
    /// The message or receive id is not UTF-8.
    #[error("the decrypted {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The receive id (CorpID or suite id) is not the configured one.
    #[error("the receive id does not match the configured one ({actual_len} bytes received)")]
    ReceiveIdMismatch {
        /// Length of the receive id found (the id itself is not secret, but is kept out of logs).
        actual_len: usize,
    },
    /// The message is too long to encode (over 4 GiB).
    #[error("the message is too long to encrypt")]
    TooLong,
}

/// Decodes an EncodingAESKey into the 32-byte AES key.
///
/// Lenient only where WeCom requires it: the last character's unused bits may be non-zero.
/// Anything but exactly 43 characters of the standard alphabet is refused.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let len = encoding_aes_key.chars().count();
    let bad = || CryptoError::BadKey { len };
    if len != ENCODING_AES_KEY_LEN
        || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err(bad());
    }
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let bytes = lenient.decode(format!("{encoding_aes_key}=")).map_err(|_| bad())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())
}

/// The `msg_signature` of a callback: hex SHA-1 of the four values sorted and concatenated.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypted];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time independent of where they differ, so a signature cannot be
/// guessed byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks that a token has WeCom's shape (1..=32 ASCII letters or digits).
pub fn validate_token(token: &str) -> Result<(), CryptoError> {
    let len = token.chars().count();
    if (1..=32).contains(&len) && token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(CryptoError::BadToken { len })
    }
}

/// One application's callback crypto: token, AES key and the receive id to insist on.
#[derive(Clone)]
pub struct WecomCrypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for WecomCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomCrypto")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

/// A decrypted plaintext split into its parts, before the receive id is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The message (XML for callbacks, digits for a URL check's echostr).
    pub message: String,
    /// The receive id found after the message.
    pub receive_id: String,
}

impl WecomCrypto {
    /// Builds the crypto for one application; refuses a malformed token or key.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        validate_token(token)?;
        let key = decode_aes_key(encoding_aes_key)?;
        Ok(Self { token: token.to_owned(), key, receive_id: receive_id.to_owned() })
    }

    /// The receive id decrypted messages must carry.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The signature this application's token gives the values.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypted)
    }

    /// Checks a `msg_signature` (case-insensitive hex, compared in constant time).
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypted);
        if constant_time_eq(expected.as_bytes(), msg_signature.to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Decrypts and splits a ciphertext without checking the receive id.
    pub fn open(&self, encrypted: &str) -> Result<Opened, CryptoError> {
        let mut buf = STANDARD.decode(encrypted).map_err(|_| CryptoError::Base64 { len: encrypted.len() })?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(CryptoError::CiphertextLength { len: buf.len() });
        }
        let len = buf.len();
        let iv = <&[u8; 16]>::try_from(&self.key[..16]).map_err(|_| CryptoError::BadPadding)?;
        let plain = Aes256CbcDec::new(&self.key.into(), iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::CiphertextLength { len })?;
        let plain = unpad(plain)?;
        let header = RANDOM_PREFIX_LEN + 4;
        if plain.len() < header {
            return Err(CryptoError::Truncated { len: plain.len() });
        }
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&plain[RANDOM_PREFIX_LEN..header]);
        let declared = u32::from_be_bytes(len_bytes) as usize;
        let rest = &plain[header..];
        if declared > rest.len() {
            return Err(CryptoError::BadLength { declared, available: rest.len() });
        }
        let (message, receive_id) = rest.split_at(declared);
        let message = std::str::from_utf8(message).map_err(|_| CryptoError::NotUtf8("message"))?;
        let receive_id = std::str::from_utf8(receive_id).map_err(|_| CryptoError::NotUtf8("receive id"))?;
        Ok(Opened { message: message.to_owned(), receive_id: receive_id.to_owned() })
    }

    /// Decrypts a ciphertext and insists on this application's receive id.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let opened = self.open(encrypted)?;
        if opened.receive_id != self.receive_id {
            return Err(CryptoError::ReceiveIdMismatch { actual_len: opened.receive_id.len() });
        }
        Ok(opened.message)
    }

    /// Verifies the signature, then decrypts: the whole inbound check in the right order.
    pub fn verify_and_decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<String, CryptoError> {
        self.verify_signature(msg_signature, timestamp, nonce, encrypted)?;
        self.decrypt(encrypted)
    }

    /// Encrypts a message for this application (the simulator's callbacks, passive replies).
    /// `random` is the 16-byte prefix; pass fresh random bytes outside tests.
    pub fn encrypt(&self, message: &str, random: [u8; RANDOM_PREFIX_LEN]) -> Result<String, CryptoError> {
        self.encrypt_with_receive_id(message, &self.receive_id, random)
    }

    /// Encrypts with another receive id; only useful to build wrong inputs for tests.
    pub fn encrypt_with_receive_id(
        &self,
        message: &str,
        receive_id: &str,
        random: [u8; RANDOM_PREFIX_LEN],
    ) -> Result<String, CryptoError> {
        let len = u32::try_from(message.len()).map_err(|_| CryptoError::TooLong)?;
        let mut plain = Vec::with_capacity(RANDOM_PREFIX_LEN + 4 + message.len() + receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        // `pad` is in 1..=32, so it fits in a byte.
        plain.resize(plain.len() + pad, pad as u8);
        let iv = <&[u8; 16]>::try_from(&self.key[..16]).map_err(|_| CryptoError::TooLong)?;
        let total = plain.len();
        let cipher = Aes256CbcEnc::new(&self.key.into(), iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, total)
            .map_err(|_| CryptoError::TooLong)?;
        Ok(STANDARD.encode(cipher))
    }

    /// Builds an encrypted passive reply:
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
    pub fn passive_reply(
        &self,
        message: &str,
        timestamp: &str,
        nonce: &str,
        random: [u8; RANDOM_PREFIX_LEN],
    ) -> Result<String, CryptoError> {
        let encrypted = self.encrypt(message, random)?;
        let signature = self.signature(timestamp, nonce, &encrypted);
        Ok(format!(
            "<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>\
             <TimeStamp>{}</TimeStamp><Nonce><![CDATA[{}]]></Nonce></xml>",
            crate::xml::escape_text(timestamp),
            crate::xml::escape_cdata(nonce),
        ))
    }
}

/// Strips PKCS#7 padding with block size 32, strictly: the pad length is 1..=32, no longer
/// than the data, and every pad byte equals it.
fn unpad(data: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = data.last().ok_or(CryptoError::BadPadding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > data.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = data.split_at(data.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    #[test]
    fn the_published_key_decodes_despite_its_trailing_bits() {
        assert!(STANDARD.decode(format!("{KEY}=")).is_err(), "a strict decoder refuses the published key");
        let key = decode_aes_key(KEY).unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused() {
        for bad in ["", "abc", &KEY[..42], &format!("{KEY}A"), &format!("{}=", &KEY[..42]), &format!("{}*", &KEY[..42])]
        {
            assert!(matches!(decode_aes_key(bad), Err(CryptoError::BadKey { .. })), "{bad:?}");
        }
        let spaced = format!("{} ", &KEY[..42]);
        assert!(decode_aes_key(&spaced).is_err());
    }

    #[test]
    fn tokens_are_checked() {
        assert!(validate_token("QDG6eK").is_ok());
        assert!(validate_token("").is_err());
        assert!(validate_token(&"a".repeat(33)).is_err());
        assert!(validate_token("has space").is_err());
    }

    #[test]
    fn unpad_is_strict() {
        assert_eq!(unpad(&[1, 2, 3, 1]).unwrap(), &[1, 2, 3]);
        assert_eq!(unpad(&[32; 32]).unwrap(), &[] as &[u8]);
        assert_eq!(unpad(&[0; 32]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[33; 64]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[1, 2, 3, 3]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[3, 3]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[]), Err(CryptoError::BadPadding));
    }

    #[test]
    fn debug_output_redacts_the_secrets() {
        let crypto = WecomCrypto::new("QDG6eK", KEY, "wx5823bf96d3bd56c7").unwrap();
        let shown = format!("{crypto:?}");
        assert!(!shown.contains("QDG6eK") && shown.contains("redacted"), "{shown}");
    }
}
