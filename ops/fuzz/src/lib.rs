//! Fuzz targets: each feeds arbitrary bytes to one entry point that faces the outside world
//! and checks what must hold for any input: no panic, a refusal that says why, and nothing
//! written to the log when a request is refused. A broken property panics, which is what a
//! fuzzer counts as a finding.
//!
//! The same functions run in two harnesses: libFuzzer, coverage-guided and for as long as
//! one likes (`ops/fuzz/run`), and the test suite, over the committed corpus and bounded
//! random mutations of it (`cargo nextest run -p switchboard-fuzz`), so every CI run
//! exercises every target on stable Rust.

pub mod api;
pub mod callback;
pub mod faq;
pub mod xml;

/// A fuzz target: the bytes in, how far they got out, a panic when a property breaks.
pub type Target = fn(&[u8]) -> Verdict;

/// How far an input got, so a corpus can be shown to reach both sides of every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The input was not of the shape this target feeds on (the harness could not send it).
    Skipped,
    /// Refused, with a reason and without a write.
    Refused,
    /// Accepted: parsed, imported or recorded.
    Accepted,
}

/// Every target, by the name its corpus directory (`ops/fuzz/corpus/<name>`) and its
/// libFuzzer binary carry.
pub const TARGETS: [(&str, Target); 4] =
    [("api", api::run), ("callback", callback::run), ("faq", faq::run), ("xml", xml::run)];

/// Percent-encodes every byte a URI's query may not hold as it is, keeping `&` and `=`, so
/// the fuzzer controls the parameters without the harness building an invalid request.
fn query(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'&' | b'=' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
