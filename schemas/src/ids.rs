//! Identifiers as newtypes, so a team id can never be passed where a user id is expected.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why an identifier was refused; returned at the edge so bad ids never reach the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which kind of identifier.
        kind: &'static str,
    },
    /// The value was longer than the limit.
    #[error("{kind} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Which kind of identifier.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value had a character that is not allowed (ids end up in NATS subjects and URLs).
    #[error("{kind} {value:?} may only contain {allowed}")]
    BadCharacter {
        /// Which kind of identifier.
        kind: &'static str,
        /// The refused value.
        value: String,
        /// What it may contain.
        allowed: &'static str,
    },
    /// The value is reserved: it names a route or an actor of Switchboard's own.
    #[error("{kind} {value:?} is reserved; choose another")]
    Reserved {
        /// Which kind of identifier.
        kind: &'static str,
        /// The refused value.
        value: String,
    },
    /// A stream id did not have the `<team>.<aggregate>.<key>` shape.
    #[error("stream id {0:?} is not of the form <team>.<conversation|faq|team>.<key>")]
    BadStream(String),
}

/// Which characters an identifier may hold.
#[derive(Debug, Clone, Copy)]
enum Alphabet {
    /// Letters, digits, '-' and '_': one NATS subject token, safe in URLs.
    Token,
    /// Also '@' and '.' (not first, and '.' not last or doubled), as WeCom UserIDs may
    /// have: a '.' makes more subject tokens, none of them empty, and a stream id's key is
    /// everything after its second '.', so it still reads back unambiguously. A leading '@'
    /// is refused because WeCom reads `@all` as every member of the enterprise, and '|'
    /// (never allowed) because it joins several recipients into one.
    Member,
}

impl Alphabet {
    /// The alphabet's rule as a regular expression (ECMA-262 and Rust `regex` alike), for
    /// documents that declare it (the OpenAPI document's id parameters).
    const fn pattern(self) -> &'static str {
        match self {
            Self::Token => "^[A-Za-z0-9_-]+$",
            Self::Member => "^[A-Za-z0-9_-][A-Za-z0-9_@-]*(\\.[A-Za-z0-9_@-]+)*$",
        }
    }
}

fn check_id(kind: &'static str, value: &str, max: usize, alphabet: Alphabet) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong { kind, len: value.len(), max });
    }
    let token = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let ok = match alphabet {
        Alphabet::Token => value.chars().all(token),
        Alphabet::Member => {
            value.chars().all(|c| token(c) || c == '@' || c == '.')
                && !value.starts_with('.')
                && !value.starts_with('@')
                && !value.ends_with('.')
                && !value.contains("..")
        }
    };
    if !ok {
        let allowed = match alphabet {
            Alphabet::Token => "letters, digits, '-' and '_'",
            Alphabet::Member => {
                "letters, digits, '-', '_', '@' and '.' ('@' and '.' not first, '.' not last or twice in a row)"
            }
        };
        return Err(IdError::BadCharacter { kind, value: value.to_owned(), allowed });
    }
    Ok(())
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal, $alphabet:expr) => {
        token_id!($(#[$doc])* $name, $kind, $max, $alphabet, []);
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal, $alphabet:expr, [$($reserved:literal),*]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schemars(transform = $name::declare_rule)]
        pub struct $name(String);

        impl $name {
            /// Declares the id's rule in its JSON Schema (and so in the API document).
            fn declare_rule(schema: &mut schemars::Schema) {
                schema.insert("minLength".into(), 1.into());
                schema.insert("maxLength".into(), $max.into());
                schema.insert("pattern".into(), Self::PATTERN.into());
            }

            /// The most bytes (and characters: the alphabet is ASCII) it may have.
            pub const MAX_LEN: usize = $max;
            /// The characters it may have, as a regular expression (reserved words aside).
            pub const PATTERN: &'static str = $alphabet.pattern();

            /// Validates and wraps the value.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_id($kind, &value, $max, $alphabet)?;
                if [$($reserved),*].iter().any(|reserved: &&str| reserved.eq_ignore_ascii_case(&value)) {
                    return Err(IdError::Reserved { kind: $kind, value });
                }
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

token_id!(
    /// A team (tenant): every event, query and endpoint is scoped to one.
    TeamId, "team id", 64, Alphabet::Token
);
token_id!(
    /// An operator as the channel knows them (WeCom UserID, or an API caller's user).
    UserId, "user id", 64, Alphabet::Member
);
token_id!(
    /// An on-call engineer or admin who acts on sessions.
    StaffId, "staff id", 64, Alphabet::Member
);
token_id!(
    /// One entry of a team's FAQ catalog. `import` and `export` are refused: they are the
    /// routes beside `/faqs/{faq_id}`, so such an entry could never be read or changed.
    FaqId, "FAQ id", 64, Alphabet::Token, ["import", "export"]
);

/// The channel's id of an inbound message (WeCom MsgId, or FromUserName+CreateTime for
/// events); the engine deduplicates on it so a retried delivery changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of aggregate, each with its own streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// One stream per (team, user): the user's sessions, serialised.
    Conversation,
    /// One stream per team: its FAQ catalog.
    Faq,
    /// One stream per team: onboarding and configuration.
    Team,
}

impl AggregateKind {
    /// The name used in stream ids and NATS subjects.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::Conversation => "conversation",
            AggregateKind::Faq => "faq",
            AggregateKind::Team => "team",
        }
    }
}

/// The identity of one stream: `<team>.<aggregate>.<key>`. Its text form is also the NATS
/// subject suffix, so a team's events can be subscribed to with `<prefix>.<team>.>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId {
    team: TeamId,
    kind: AggregateKind,
    key: String,
}

/// The key of the singleton streams (one FAQ catalog and one team stream per team).
const SINGLETON_KEY: &str = "main";

impl StreamId {
    /// The conversation of one user with one team.
    pub fn conversation(team: &TeamId, user: &UserId) -> Self {
        Self { team: team.clone(), kind: AggregateKind::Conversation, key: user.as_str().to_owned() }
    }

    /// The FAQ catalog of a team.
    pub fn faq(team: &TeamId) -> Self {
        Self { team: team.clone(), kind: AggregateKind::Faq, key: SINGLETON_KEY.to_owned() }
    }

    /// The configuration stream of a team.
    pub fn team(team: &TeamId) -> Self {
        Self { team: team.clone(), kind: AggregateKind::Team, key: SINGLETON_KEY.to_owned() }
    }

    /// The team that owns the stream.
    pub fn team_id(&self) -> &TeamId {
        &self.team
    }

    /// The aggregate kind.
    pub fn kind(&self) -> AggregateKind {
        self.kind
    }

    /// The key within the team and kind (the user id for conversations).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator whose conversation this is; none for a stream of another kind (or a
    /// stored key that is not a valid user id).
    pub fn conversation_user(&self) -> Option<UserId> {
        match self.kind {
            AggregateKind::Conversation => UserId::new(self.key.as_str()).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.team, self.kind.as_str(), self.key)
    }
}

impl TryFrom<String> for StreamId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        value.parse()
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> String {
        value.to_string()
    }
}

impl std::str::FromStr for StreamId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::BadStream(s.to_owned());
        let mut parts = s.splitn(3, '.');
        let team = TeamId::new(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
        let kind = match parts.next().ok_or_else(bad)? {
            "conversation" => AggregateKind::Conversation,
            "faq" => AggregateKind::Faq,
            "team" => AggregateKind::Team,
            _ => return Err(bad()),
        };
        let key = parts.next().ok_or_else(bad)?;
        check_id("stream key", key, 64, Alphabet::Member).map_err(|_| bad())?;
        Ok(Self { team, kind, key: key.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_round_trip_through_text() {
        let team = TeamId::new("ops-cn").unwrap();
        let user = UserId::new("zhang_san").unwrap();
        let stream = StreamId::conversation(&team, &user);
        assert_eq!(stream.to_string(), "ops-cn.conversation.zhang_san");
        assert_eq!(stream.to_string().parse::<StreamId>().unwrap(), stream);
        assert_eq!(StreamId::faq(&team).to_string(), "ops-cn.faq.main");
    }

    #[test]
    fn wecom_user_ids_with_at_and_dot_round_trip_through_streams() {
        let team = TeamId::new("ops").unwrap();
        let user = UserId::new("zhang.san@corp").unwrap();
        let stream = StreamId::conversation(&team, &user);
        assert_eq!(stream.to_string(), "ops.conversation.zhang.san@corp");
        assert_eq!(stream.to_string().parse::<StreamId>().unwrap(), stream);
        assert_eq!(stream.key(), "zhang.san@corp");
        assert!(StaffId::new("li.lei").is_ok());
        for bad in [".lead", "trail.", "two..dots", "sp ace", "star*", "gt>", "@all", "@everyone", "a|b", "|"] {
            assert!(matches!(UserId::new(bad), Err(IdError::BadCharacter { .. })), "{bad:?}");
        }
        assert!("ops.conversation.a..b".parse::<StreamId>().is_err());
        assert!(matches!(FaqId::new("a@b"), Err(IdError::BadCharacter { .. })), "FAQ ids stay single tokens");
    }

    #[test]
    fn staff_ids_that_wecom_reads_as_many_recipients_are_refused() {
        for bad in ["@all", "@", "a|b", "zhang|li"] {
            assert!(matches!(StaffId::new(bad), Err(IdError::BadCharacter { .. })), "{bad:?}");
        }
        assert!(StaffId::new("zhang@corp").is_ok(), "an '@' inside an id stays allowed");
    }

    #[test]
    fn faq_ids_that_shadow_routes_are_reserved() {
        for reserved in ["import", "export", "IMPORT"] {
            assert!(matches!(FaqId::new(reserved), Err(IdError::Reserved { .. })), "{reserved:?}");
        }
        assert!(FaqId::new("importing").is_ok());
        assert!(serde_json::from_str::<FaqId>("\"export\"").is_err(), "refused when read as well");
    }

    #[test]
    fn ids_with_subject_breaking_characters_are_refused() {
        assert!(matches!(TeamId::new("a.b"), Err(IdError::BadCharacter { .. })));
        assert!(matches!(UserId::new(""), Err(IdError::Empty { .. })));
        assert!(matches!(UserId::new("x".repeat(65)), Err(IdError::TooLong { .. })));
        assert!("team.bogus.key".parse::<StreamId>().is_err());
        assert!("team.faq".parse::<StreamId>().is_err());
    }

    /// The declared patterns say exactly what `new` accepts: every string of up to five
    /// characters from an alphabet with each kind of character the rules treat differently.
    #[test]
    fn the_declared_patterns_agree_with_the_rules() {
        let alphabet = ['a', 'Z', '7', '-', '_', '.', '@', ' ', '|', '中'];
        let mut words = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..5 {
            words = words.iter().flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}"))).collect();
            all.extend(words.iter().cloned());
        }
        let team = regex::Regex::new(TeamId::PATTERN).unwrap();
        let user = regex::Regex::new(UserId::PATTERN).unwrap();
        for word in &all {
            assert_eq!(team.is_match(word), TeamId::new(word.as_str()).is_ok(), "team id {word:?}");
            assert_eq!(user.is_match(word), UserId::new(word.as_str()).is_ok(), "user id {word:?}");
            assert_eq!(user.is_match(word), StaffId::new(word.as_str()).is_ok(), "staff id {word:?}");
        }
        let long = "a".repeat(TeamId::MAX_LEN + 1);
        assert!(team.is_match(&long) && TeamId::new(long).is_err(), "the length is declared apart");
    }
}
