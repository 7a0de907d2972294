//! The callback crypto against Tencent's published sample values and random round trips.

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use serde::Deserialize;
use switchboard_wecom::crypto::{signature, CryptoError, WecomCrypto};
use switchboard_wecom::xml::{parse_envelope, parse_message, Body};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/wecom-official-vectors.json");
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

#[derive(Deserialize)]
struct Vector {
    id: String,
    kind: String,
    token: String,
    encoding_aes_key: String,
    receive_id: String,
    timestamp: String,
    nonce: String,
    msg_signature: String,
    expected_plaintext: String,
    encrypt: String,
    post_body: Option<String>,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(VECTORS)
        .unwrap_or_else(|e| panic!("the official WeCom vectors must be at {VECTORS}: {e}"));
    let vectors: Vec<Vector> = serde_json::from_str(&text).unwrap();
    assert!(!vectors.is_empty(), "{VECTORS} holds no vectors");
    vectors
}

#[test]
fn every_official_vector_verifies_and_decrypts() {
    for v in vectors() {
        let crypto = WecomCrypto::new(&v.token, &v.encoding_aes_key, &v.receive_id).unwrap();
        assert_eq!(signature(&v.token, &v.timestamp, &v.nonce, &v.encrypt), v.msg_signature, "{}", v.id);
        let encrypted = match &v.post_body {
            Some(body) => {
                assert_eq!(v.kind, "decrypt_msg(xml)");
                let envelope = parse_envelope(body).unwrap();
                assert_eq!(envelope.encrypt, v.encrypt, "{}", v.id);
                envelope.encrypt
            }
            None => v.encrypt.clone(),
        };
        let plain = crypto.verify_and_decrypt(&v.msg_signature, &v.timestamp, &v.nonce, &encrypted).unwrap();
        assert_eq!(plain, v.expected_plaintext, "{}", v.id);
        assert_eq!(
            crypto.verify_and_decrypt(&v.msg_signature.to_uppercase(), &v.timestamp, &v.nonce, &encrypted).unwrap(),
            v.expected_plaintext,
            "hex case does not matter"
        );
        // A wrong token, nonce or timestamp breaks the signature.
        let other = WecomCrypto::new("other", &v.encoding_aes_key, &v.receive_id).unwrap();
        assert_eq!(
            other.verify_signature(&v.msg_signature, &v.timestamp, &v.nonce, &encrypted),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            crypto.verify_signature(&v.msg_signature, &v.timestamp, "1", &encrypted),
            Err(CryptoError::BadSignature)
        );
        // Another receive id is refused after decryption.
        let elsewhere = WecomCrypto::new(&v.token, &v.encoding_aes_key, "wwsomeoneelse").unwrap();
        assert!(matches!(elsewhere.decrypt(&encrypted), Err(CryptoError::ReceiveIdMismatch { .. })), "{}", v.id);
        // Re-encrypting with the random prefix of the original gives the original back.
        let random: [u8; 16] = {
            use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
            let key = switchboard_wecom::crypto::decode_aes_key(&v.encoding_aes_key).unwrap();
            let mut buf = STANDARD.decode(&encrypted).unwrap();
            let plain = cbc::Decryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .unwrap();
            plain[..16].try_into().unwrap()
        };
        assert_eq!(crypto.encrypt(&v.expected_plaintext, random).unwrap(), encrypted, "{}", v.id);
    }
}

#[test]
fn the_official_message_parses() {
    let v = vectors().into_iter().find(|v| v.post_body.is_some()).expect("a decrypt_msg vector");
    let message = parse_message(&v.expected_plaintext).unwrap();
    assert_eq!(message.header.from_user_name, "mycreate");
    assert_eq!(message.header.create_time, 1_409_659_813);
    assert_eq!(message.header.agent_id.as_deref(), Some("218"));
    assert_eq!(message.body, Body::Text { msg_id: "4561255354251345929".into(), content: "hello".into() });
}

fn crypto() -> WecomCrypto {
    WecomCrypto::new("QDG6eK", KEY, "wx5823bf96d3bd56c7").unwrap()
}

#[test]
fn tampering_is_detected() {
    let c = crypto();
    let encrypted = c.encrypt("<xml>hi</xml>", [7; 16]).unwrap();
    assert!(matches!(c.decrypt("not base64!"), Err(CryptoError::Base64 { .. })));
    assert!(matches!(c.decrypt(&STANDARD.encode([0u8; 16])), Err(CryptoError::CiphertextLength { len: 16 })));
    assert!(matches!(c.decrypt(&STANDARD.encode([0u8; 48])), Err(CryptoError::CiphertextLength { len: 48 })));
    assert!(matches!(c.decrypt(""), Err(CryptoError::CiphertextLength { len: 0 })));
    // Flipping a bit of the last block garbles the padding.
    let mut bytes = STANDARD.decode(&encrypted).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert_eq!(c.decrypt(&STANDARD.encode(&bytes)), Err(CryptoError::BadPadding));
    // The wrong key almost always fails on the padding (or, rarely, on the length).
    let other =
        WecomCrypto::new("QDG6eK", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx5823bf96d3bd56c7").unwrap();
    assert!(other.decrypt(&encrypted).is_err());
    // A wrong receive id is told apart from corruption.
    let wrong = c.encrypt_with_receive_id("<xml>hi</xml>", "wwother", [7; 16]).unwrap();
    assert_eq!(c.decrypt(&wrong), Err(CryptoError::ReceiveIdMismatch { actual_len: 7 }));
    assert_eq!(c.open(&wrong).unwrap().receive_id, "wwother");
}

#[test]
fn a_length_field_past_the_end_is_refused() {
    use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    let key = switchboard_wecom::crypto::decode_aes_key(KEY).unwrap();
    let mut plain = vec![0u8; 16];
    plain.extend_from_slice(&1000u32.to_be_bytes());
    plain.extend_from_slice(b"short");
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, pad as u8);
    let n = plain.len();
    let cipher = cbc::Encryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, n)
        .unwrap()
        .to_vec();
    assert!(matches!(crypto().decrypt(&STANDARD.encode(cipher)), Err(CryptoError::BadLength { declared: 1000, .. })));
}

#[test]
fn a_plaintext_shorter_than_its_header_is_refused() {
    use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    let key = switchboard_wecom::crypto::decode_aes_key(KEY).unwrap();
    // 10 bytes of data and 22 bytes of padding: one valid 32-byte block, too short to split.
    let mut plain = vec![0u8; 10];
    plain.resize(32, 22);
    let cipher = cbc::Encryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, 32)
        .unwrap()
        .to_vec();
    assert_eq!(crypto().decrypt(&STANDARD.encode(cipher)), Err(CryptoError::Truncated { len: 10 }));
}

#[test]
fn passive_replies_verify_and_decrypt() {
    let c = crypto();
    let reply = c.passive_reply("<xml><Content>好</Content></xml>", "1409659813", "nonce1", [3; 16]).unwrap();
    let encrypted = reply.split("<Encrypt><![CDATA[").nth(1).unwrap().split("]]>").next().unwrap();
    let signature = reply.split("<MsgSignature><![CDATA[").nth(1).unwrap().split("]]>").next().unwrap();
    assert_eq!(
        c.verify_and_decrypt(signature, "1409659813", "nonce1", encrypted).unwrap(),
        "<xml><Content>好</Content></xml>"
    );
}

#[test]
fn many_random_round_trips() {
    // A small deterministic generator, so a failure reproduces.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let c = crypto();
    for round in 0..2000 {
        let len = (next() % 300) as usize;
        let text: String = (0..len)
            .map(|_| match next() % 4 {
                0 => char::from_u32(0x4E00 + (next() % 0x5000) as u32).unwrap_or('中'),
                _ => char::from(b' ' + (next() % 94) as u8),
            })
            .collect();
        let mut random = [0u8; 16];
        random.iter_mut().for_each(|b| *b = next() as u8);
        let encrypted = c.encrypt(&text, random).unwrap();
        assert_eq!(STANDARD.decode(&encrypted).unwrap().len() % 32, 0, "round {round}");
        let sig = c.signature("1700000000", "n", &encrypted);
        assert_eq!(c.verify_and_decrypt(&sig, "1700000000", "n", &encrypted).unwrap(), text, "round {round}");
    }
}

proptest! {
    #[test]
    fn round_trips_any_text_prefix_and_receive_id(
        text in ".{0,200}",
        random in proptest::array::uniform16(any::<u8>()),
        receive_id in "[a-zA-Z0-9]{1,40}",
        token in "[a-zA-Z0-9]{1,32}",
    ) {
        let c = WecomCrypto::new(&token, KEY, &receive_id).unwrap();
        let encrypted = c.encrypt(&text, random).unwrap();
        let sig = c.signature("1", "2", &encrypted);
        prop_assert_eq!(c.verify_and_decrypt(&sig, "1", "2", &encrypted).unwrap(), text.clone());
        let opened = c.open(&encrypted).unwrap();
        prop_assert_eq!(opened.message, text);
        prop_assert_eq!(opened.receive_id, receive_id);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let c = crypto();
        let _ = c.decrypt(&STANDARD.encode(&bytes));
        let _ = c.decrypt(&String::from_utf8_lossy(&bytes));
        let _ = parse_envelope(&String::from_utf8_lossy(&bytes));
        let _ = parse_message(&String::from_utf8_lossy(&bytes));
    }
}
