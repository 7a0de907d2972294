//! A JSON value the OpenAPI document describes by a schema type's JSON Schema.
//!
//! The on-call set-up and the team settings are types of the schema crate, which knows
//! nothing of poem. Their JSON Schema (derived by `schemars`, in OpenAPI 3.0's dialect, with
//! every bound of `switchboard_schemas::bounds`) is what the event files in `schemas/json`
//! are made of. poem's schema model cannot say all of it (`additionalProperties: false`,
//! for one), so poem registers a placeholder under each definition's name and
//! [`put_definitions`] replaces the placeholders in the built document with the definitions
//! themselves: a client sees every field, enum and bound instead of a free object, and the
//! contract tests check responses against it. The handler still reads the value itself,
//! keeping its own error codes.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};
use switchboard_schemas::event::{Roster, TeamSettings};
use switchboard_schemas::oncall::OnCallSettings;

/// A JSON value documented as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Described<T> {
    value: Value,
    of: PhantomData<fn() -> T>,
}

impl<T> Described<T> {
    /// `value`, taken to be a `T`.
    pub fn new(value: Value) -> Self {
        Self { value, of: PhantomData }
    }

    /// The value as sent.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// The schema name every definition is registered under, so a clash with a poem type of
/// the same name is caught when the document is built.
struct JsonSchemaDefinition;

impl<T: JsonSchema + Send + Sync + 'static> Type for Described<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Value;
    type RawElementValueType = Value;

    fn name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(T::schema_name().into_owned())
    }

    fn register(registry: &mut Registry) {
        for (name, _) in definitions::<T>() {
            registry.create_schema::<JsonSchemaDefinition, _>(name, |_| MetaSchema {
                description: Some(PLACEHOLDER),
                ..MetaSchema::new("object")
            });
        }
    }

    fn as_raw_value(&self) -> Option<&Value> {
        Some(&self.value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        Box::new(std::iter::once(&self.value))
    }
}

impl<T: JsonSchema + Send + Sync + 'static> ParseFromJSON for Described<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        value.map(Self::new).ok_or_else(|| ParseError::custom("a value is required"))
    }
}

impl<T: JsonSchema + Send + Sync + 'static> ToJSON for Described<T> {
    fn to_json(&self) -> Option<Value> {
        Some(self.value.clone())
    }
}

/// What a definition says until [`put_definitions`] replaces it.
const PLACEHOLDER: &str = "described::put_definitions replaces this";

/// The JSON Schema definitions of `T` and of the types it uses, by name.
fn definitions<T: JsonSchema>() -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<T>();
    generator.take_definitions(true)
}

/// Puts the definitions of every described type into `document`: in place of poem's
/// placeholders, and those poem left out (the types the described ones use, which poem
/// drops as unused since a placeholder refers to none); a poem type of the same name is
/// left alone. A placeholder left over (a type described but not listed here), or a
/// reference to nothing, fails the document test in `tests/api.rs`.
pub fn put_definitions(document: &mut Value) {
    let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<OnCallSettings>();
    generator.subschema_for::<TeamSettings>();
    generator.subschema_for::<Roster>();
    for (name, mut definition) in generator.take_definitions(true) {
        nullable_in_place(&mut definition);
        match schemas.get_mut(&name) {
            Some(placeholder) if placeholder.get("description") == Some(&Value::from(PLACEHOLDER)) => {
                *placeholder = definition;
            }
            Some(_) => {}
            None => {
                schemas.insert(name, definition);
            }
        }
    }
}

/// `Option<Struct>` is written as "any of the struct or null"; OpenAPI 3.0 says `nullable`
/// on the schema itself (a bare `null` enum is not valid there).
fn nullable_in_place(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(branches)) = object.get_mut(key) {
                    let before = branches.len();
                    branches.retain(|b| !is_null(b));
                    if branches.len() < before {
                        object.insert("nullable".into(), Value::Bool(true));
                    }
                }
            }
            object.values_mut().for_each(nullable_in_place);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_in_place),
        _ => {}
    }
}

fn is_null(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::from("null"))
        || (schema.get("type").is_none() && schema.get("enum") == Some(&Value::Array(vec![Value::Null])))
}
