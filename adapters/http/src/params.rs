//! Ids in paths and request bodies: declared in the OpenAPI document with the id's rule
//! (pattern and length, from `switchboard_schemas::ids`), so a client can tell a valid id
//! before sending, and checked by the handler as before (`bad_team_id`, `bad_user_id`,
//! `bad_faq_id`, `not_staff`), so the error stays the one the API documents.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use switchboard_schemas::{FaqId, StaffId, TeamId, UserId};

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
