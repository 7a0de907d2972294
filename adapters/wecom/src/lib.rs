//! The WeCom (WeChat Work) channel: operators talk to Switchboard through a team's WeCom
//! application.
//!
//! - [`crypto`]: the callback cryptography (`WXBizMsgCrypt`): signatures, AES-256-CBC with
//!   32-byte PKCS#7 padding, the receive-id check; pure, so the simulator can encrypt too.
//! - [`xml`]: the callback envelope and the decrypted messages and events.
//! - [`config`]: a team's application ([`WecomApp`]) and the registry of teams ([`WecomApps`]).
//! - [`client`]: the WeCom API client (tokens, messages, template cards, app chats): the
//!   channel's notifier and group-chat port.
//! - [`simulator`]: the WeCom cloud's stand-in (API and operators) for tests and
//!   `switchboard simulate`.
//! - [`setup`]: applications set up from the console, with their secrets kept outside the
//!   log.
//! - [`callback`]: the poem routes WeCom calls (`/wecom/<team>/callback`), which append the
//!   inbound message durably before answering an empty 200.

pub mod callback;
pub mod client;
pub mod config;
pub mod crypto;
pub mod setup;
pub mod simulator;
pub mod verify;
pub mod xml;

pub use callback::{routes, CallbackOptions, DEFAULT_MOUNT_PATH};
pub use client::{RetryPolicy, WecomClient};
pub use config::{Action, WecomApp, WecomApps};
pub use crypto::{CryptoError, WecomCrypto};
