//! The WeCom XML parsers: the callback envelope and the decrypted message. Whatever they
//! accept survives being written the way WeCom writes it and read again, which is what the
//! simulator and the tests rely on.

use switchboard_wecom::xml::{parse_envelope, parse_message};

use crate::Verdict;

/// Parses the bytes as an envelope and as a message.
pub fn run(data: &[u8]) -> Verdict {
    // Bytes that are not UTF-8 are refused before any XML is parsed (the callback target
    // covers that); here the parsers get text.
    let Ok(text) = std::str::from_utf8(data) else { return Verdict::Skipped };
    let mut verdict = Verdict::Refused;
    match parse_envelope(text) {
        Ok(envelope) => {
            assert!(!envelope.encrypt.is_empty(), "an envelope without a ciphertext was accepted");
            let written = envelope.to_xml();
            let again = parse_envelope(&written).unwrap_or_else(|e| panic!("{written:?} does not parse: {e}"));
            assert_eq!(again, envelope, "the envelope changed when written and read again");
            verdict = Verdict::Accepted;
        }
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal says why"),
    }
    match parse_message(text) {
        Ok(message) => {
            let written = message.to_xml();
            let again = parse_message(&written).unwrap_or_else(|e| panic!("{written:?} does not parse: {e}"));
            assert_eq!(again, message, "the message changed when written and read again");
            verdict = Verdict::Accepted;
        }
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal says why"),
    }
    verdict
}
