//! The JSON bodies of every API operation that takes one, through the whole application
//! (authentication, poem's parsing, validation, the runtime, a real embedded log and the
//! running core), every operation listed by the application's own OpenAPI document. An
//! input is `METHOD /path` on its first line and the body after it (so seeds read like
//! requests); any other input picks an operation by its first byte and is the body after it. An answer is never a server error; a refusal is the
//! `{code, message}` body and writes nothing to the log.

use std::sync::OnceLock;

use poem::http::Method;
use switchboard_http::testing::{harness, Harness, ADMIN_KEY};

use crate::Verdict;

struct Target {
    tokio: tokio::runtime::Runtime,
    harness: Harness,
    operations: Vec<(Method, String)>,
}

static TARGET: OnceLock<Target> = OnceLock::new();

impl Target {
    fn new() -> Target {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (harness, operations) = tokio.block_on(async {
            let harness = harness().await;
            let operations = harness.json_operations().await;
            (harness, operations)
        });
        assert!(!operations.is_empty(), "the OpenAPI document lists no operation with a JSON body");
        Target { tokio, harness, operations }
    }
}

impl Target {
    /// The operation an input names, and its body.
    fn operation<'a>(&self, data: &'a [u8]) -> Option<(&(Method, String), &'a [u8])> {
        if let Some(newline) = data.iter().position(|&b| b == b'\n') {
            let head = String::from_utf8_lossy(&data[..newline]);
            let named = self.operations.iter().find(|(method, path)| head == format!("{method} {path}"));
            if let Some(operation) = named {
                return Some((operation, &data[newline + 1..]));
            }
        }
        let (&pick, body) = data.split_first()?;
        Some((&self.operations[usize::from(pick) % self.operations.len()], body))
    }
}

/// Sends the input's body to the operation it names or picks.
pub fn run(data: &[u8]) -> Verdict {
    let target = TARGET.get_or_init(Target::new);
    let Some(((method, path), body)) = target.operation(data) else { return Verdict::Skipped };
    let h = &target.harness;
    // Creating teams is the global administrator's; everything else the team's admin may do.
    let key = if path == "/api/v1/teams" { ADMIN_KEY } else { h.keys.ops_admin.as_str() };
    target.tokio.block_on(async {
        let before = h.log.head().await.expect("the log answers");
        let (status, answer) = h.request(method.clone(), path, key, "application/json", body.to_vec()).await;
        assert!(!status.is_server_error(), "{method} {path} answered {status} {answer}");
        if status.is_success() {
            // The core may now react to what was written; let it finish before the next
            // input, so a later refusal is judged on its own writes.
            h.settled().await;
            return Verdict::Accepted;
        }
        let said = |field: &str| answer[field].as_str().is_some_and(|s| !s.is_empty());
        assert!(
            said("code") && said("message"),
            "{method} {path} refused with {status} without code and message: {answer}"
        );
        let after = h.log.head().await.expect("the log answers");
        assert_eq!(after, before, "{method} {path} refused with {status} ({answer}) but wrote to the log");
        Verdict::Refused
    })
}
