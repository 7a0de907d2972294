//! Ids in paths and request bodies: declared in the OpenAPI document with the id's rule
//! (pattern and length, from `switchboard_schemas::ids`), so a client can tell a valid id
//! before sending, and checked by the handler as before (`bad_team_id`, `bad_user_id`,
//! `bad_faq_id`, `not_staff`), so the error stays the one the API documents.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use switchboard_schemas::{
    bounds, FaqId, StaffId, TeamId, UserId, CONVERSATION_EVENT_TYPES, FAQ_EVENT_TYPES, TEAM_EVENT_TYPES,
};

macro_rules! id_param {
    ($(#[$doc:meta])* $name:ident, $id:ty, $description:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(String);

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    description: Some($description),
                    min_length: Some(1),
                    max_length: Some(<$id>::MAX_LEN),
                    pattern: Some(<$id>::PATTERN.to_owned()),
                    ..MetaSchema::new("string")
                }))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromParameter for $name {
            /// Any text: the handler checks it and answers with the id's own error.
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_owned()))
            }
        }

        impl ParseFromJSON for $name {
            /// Any string: the handler checks it and answers with the id's own error.
            fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
                match value {
                    Some(serde_json::Value::String(text)) => Ok(Self(text)),
                    other => Err(ParseError::expected_type(other.unwrap_or_default())),
                }
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }
    };
}

id_param!(
    /// A team id in a path.
    TeamParam,
    TeamId,
    "The team's id: letters, digits, '-' and '_'."
);
id_param!(
    /// An operator's user id in a path.
    UserParam,
    UserId,
    "The operator's user id: letters, digits, '-', '_', '@' and '.' ('@' and '.' not first, '.' not last or twice in a row)."
);
id_param!(
    /// A staff id in a path or a body.
    StaffParam,
    StaffId,
    "A staff id (the WeCom UserID): letters, digits, '-', '_', '@' and '.' ('@' and '.' not first, '.' not last or twice in a row)."
);
id_param!(
    /// An FAQ id in a path.
    FaqIdParam,
    FaqId,
    "The FAQ's id: letters, digits, '-' and '_' (not `import` or `export`)."
);

/// A whole number in a query, declared with its range (`minimum` and `maximum`), so a client can tell a valid value before sending; the handler checks the
/// range and answers with its own error code, as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<const MIN: u64, const MAX: u64>(u64);

/// A stream version or revision in a query.
pub type Version = Count<0, { u64::MAX }>;

/// 2^64 − 2048: the largest double a u64 holds.
const LARGEST_DOUBLE_IN_U64: f64 = 18_446_744_073_709_549_568.0;

impl<const MIN: u64, const MAX: u64> From<u64> for Count<MIN, MAX> {
    fn from(n: u64) -> Self {
        Self(n)
    }
}

impl<const MIN: u64, const MAX: u64> Count<MIN, MAX> {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<const MIN: u64, const MAX: u64> Type for Count<MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("integer_{MIN}_{MAX}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        // Whole numbers up to 2^53 are exact as JSON numbers; the bounds here are far below
        // that, or u64::MAX, declared as the largest double under 2^64 (the double nearest
        // u64::MAX is 2^64 itself, which does not parse).
        #[allow(clippy::cast_precision_loss)]
        let (minimum, maximum) = (MIN as f64, if MAX == u64::MAX { LARGEST_DOUBLE_IN_U64 } else { MAX as f64 });
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("uint64"),
            minimum: Some(minimum),
            maximum: Some(maximum),
            ..MetaSchema::new("integer")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<const MIN: u64, const MAX: u64> ParseFromJSON for Count<MIN, MAX> {
    /// Any whole number: the handler checks the range and answers with its own error.
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => Ok(Self(n.as_u64().unwrap_or_default())),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<const MIN: u64, const MAX: u64> ToJSON for Count<MIN, MAX> {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(self.0.into())
    }
}

impl<const MIN: u64, const MAX: u64> ParseFromParameter for Count<MIN, MAX> {
    /// Any whole number: the handler checks the range and answers with its own error.
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value.parse().map(Self).map_err(|e: std::num::ParseIntError| ParseError::custom(e.to_string()))
    }
}

/// The rule a text in a body or a query follows: declared in the document (length in
/// characters, and a pattern for some) and checked where it always was, by the handler or
/// the engine, which keep their own error codes. A declared rule is never looser than the
/// check, so a value the document allows is never refused as malformed.
pub trait TextRule: Send + Sync + 'static {
    /// The rule's name, for poem's registry.
    const NAME: &'static str;
    /// The fewest characters.
    const MIN_CHARS: usize;
    /// The most characters.
    const MAX_CHARS: usize;
    /// A pattern the text matches (ECMA 262, unanchored unless it says so).
    const PATTERN: Option<&'static str>;

    /// The only texts allowed, when the rule is a list of names (none: any text).
    fn choices() -> Vec<&'static str> {
        Vec::new()
    }
}

/// A text declared by the rule `R` and accepted as any string (see [`TextRule`]).
pub struct Text<R> {
    text: String,
    rule: PhantomData<fn() -> R>,
}

impl<R> Text<R> {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<R> Deref for Text<R> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl<R> Clone for Text<R> {
    fn clone(&self) -> Self {
        Self::from(self.text.clone())
    }
}

impl<R> std::fmt::Debug for Text<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text.fmt(f)
    }
}

impl<R> From<String> for Text<R> {
    fn from(text: String) -> Self {
        Self { text, rule: PhantomData }
    }
}

impl<R> From<&str> for Text<R> {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl<R: TextRule> Type for Text<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        format!("string_{}", R::NAME).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: (R::MIN_CHARS > 0).then_some(R::MIN_CHARS),
            max_length: Some(R::MAX_CHARS),
            pattern: R::PATTERN.map(str::to_owned),
            enum_items: R::choices().into_iter().map(serde_json::Value::from).collect(),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<R: TextRule> ParseFromJSON for Text<R> {
    /// Any string: the handler or the engine checks the rule with its own error.
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(text)) => Ok(Self::from(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<R: TextRule> ParseFromParameter for Text<R> {
    /// Any text: the handler checks the rule with its own error.
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self::from(value.to_owned()))
    }
}

impl<R: TextRule> ToJSON for Text<R> {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.text.clone()))
    }
}

macro_rules! text_rules {
    ($($(#[$doc:meta])* $name:ident: $min:expr, $max:expr, $pattern:expr;)*) => {$(
        $(#[$doc])*
        pub enum $name {}

        impl TextRule for $name {
            const NAME: &'static str = stringify!($name);
            const MIN_CHARS: usize = $min;
            const MAX_CHARS: usize = $max;
            const PATTERN: Option<&'static str> = $pattern;
        }
    )*};
}

/// Holds a character other than white space (the server trims what it is sent; U+0085 is
/// white space to it but not to ECMA 262's `\s`).
const NOT_BLANK: Option<&str> = Some(r"[^\s\u0085]");
/// An http:// or https:// address naming a host, in printable ASCII (so its characters
/// are its bytes, which the server counts).
const WEB_ADDRESS: Option<&str> = Some(r"^https?://[!-.0-~][!-~]*$");

text_rules! {
    /// A message from an operator.
    MessageText: 1, bounds::MAX_MESSAGE_CHARS as usize, NOT_BLANK;
    /// A caller's id for a message (printable ASCII, so its characters are its bytes).
    MessageIdText: 1, bounds::MAX_MESSAGE_ID_BYTES, Some("^[!-~]+$");
    /// A routing category.
    CategoryName: 1, bounds::MAX_CATEGORY_CHARS, None;
    /// A team's display name.
    TeamName: 1, bounds::MAX_TEAM_NAME_CHARS, NOT_BLANK;
    /// The label of an access key or a webhook.
    Label: 1, bounds::MAX_LABEL_CHARS, NOT_BLANK;
    /// An address a team enters: a webhook, the WeCom API base, the console link.
    WebAddress: 8, bounds::MAX_URL_BYTES, WEB_ADDRESS;
    /// A WeCom CorpID.
    CorpId: 1, bounds::MAX_WECOM_ID_CHARS, NOT_BLANK;
    /// A WeCom receive id (empty: the CorpID).
    ReceiveId: 0, bounds::MAX_WECOM_ID_CHARS, None;
    /// A WeCom callback Token: 1 to 32 letters or digits.
    CallbackToken: 1, 32, Some("^[A-Za-z0-9]{1,32}$");
    /// A WeCom EncodingAESKey: 43 characters of base64.
    EncodingAesKey: 43, 43, Some("^[A-Za-z0-9+/]{43}$");
    /// A WeCom application Secret.
    AppSecret: 0, bounds::MAX_APP_SECRET_CHARS, None;
    /// A text Switchboard sends (a greeting).
    SentText: 0, bounds::MAX_TEXT_CHARS, None;
    /// An FAQ question or one of its other wordings.
    FaqQuestion: 1, bounds::MAX_QUESTION_CHARS, NOT_BLANK;
    /// An FAQ answer.
    FaqAnswer: 1, bounds::MAX_ANSWER_CHARS, NOT_BLANK;
    /// An FAQ's routing category (blank: none).
    FaqCategory: 0, bounds::MAX_CATEGORY_CHARS, None;
    /// An ISO week such as `2026-W47`; week 53 exists only in some years.
    IsoWeek: 8, 8, Some("^[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])$");
    /// The name of an attachment's blob: the SHA-256 of its bytes in lower-case hex.
    ContentHashText: 64, 64, Some("^[0-9a-f]{64}$");
    /// The name a downloaded attachment is saved as.
    FileNameText: 1, bounds::MAX_FILE_NAME_CHARS, None;
    /// The `next` of a page of sessions, passed back as it was.
    SessionCursor: 38, 56, Some(r"^-?[0-9]{1,18}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
}

/// The name of an event type a webhook may ask for.
pub enum EventTypeName {}

impl TextRule for EventTypeName {
    const NAME: &'static str = "EventTypeName";
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: usize = 64;
    const PATTERN: Option<&'static str> = None;

    fn choices() -> Vec<&'static str> {
        [CONVERSATION_EVENT_TYPES, FAQ_EVENT_TYPES, TEAM_EVENT_TYPES]
            .into_iter()
            .flat_map(|types| types.iter().map(|(name, _)| *name))
            .collect()
    }
}

/// A list declared with its fewest and most items (`minItems`, `maxItems`) and accepted at
/// any length: the engine checks the count with its own error, as for [`Text`].
pub struct List<T, const MIN: usize, const MAX: usize>(Vec<T>);

impl<T, const MIN: usize, const MAX: usize> Deref for List<T, MIN, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: std::fmt::Debug, const MIN: usize, const MAX: usize> std::fmt::Debug for List<T, MIN, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T, const MIN: usize, const MAX: usize> Default for List<T, MIN, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const MIN: usize, const MAX: usize> From<Vec<T>> for List<T, MIN, MAX> {
    fn from(items: Vec<T>) -> Self {
        Self(items)
    }
}

impl<T: Type, const MIN: usize, const MAX: usize> Type for List<T, MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = T::RawValueType;

    fn name() -> Cow<'static, str> {
        format!("[{}; {MIN}..={MAX}]", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(T::schema_ref())),
            min_items: (MIN > 0).then_some(MIN),
            max_items: Some(MAX),
            ..MetaSchema::new("array")
        }))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(Type::as_raw_value))
    }
}

impl<T: ParseFromJSON, const MIN: usize, const MAX: usize> ParseFromJSON for List<T, MIN, MAX> {
    /// Any number of items: the count is checked by the handler or the engine.
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        Vec::<T>::parse_from_json(value).map(Self).map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, const MIN: usize, const MAX: usize> ToJSON for List<T, MIN, MAX> {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}
