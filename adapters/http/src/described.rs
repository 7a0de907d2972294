//! A JSON value the OpenAPI document describes by a schema type's JSON Schema.
//!
//! The on-call set-up and the team settings are types of the schema crate, which knows
//! nothing of poem. Their JSON Schema (derived once, by `schemars`, in OpenAPI 3.0's dialect)
//! is what the event files in `schemas/json` are made of; this puts the same schema into
//! the served document, so a client sees every field, enum and bound instead of a free
//! object, and the contract tests check responses against it. The handler still reads the
//! value itself, keeping its own error codes.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

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
        let mut generator = SchemaSettings::openapi3().into_generator();
        generator.subschema_for::<T>();
        for (name, definition) in generator.take_definitions(true) {
            if definition.get("additionalProperties") == Some(&Value::Bool(false)) {
                closed().insert(name.clone());
            }
            registry.create_schema::<JsonSchemaDefinition, _>(name, |_| meta_schema(&definition));
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

/// The definitions whose objects take no other fields (serde's `deny_unknown_fields`).
fn closed() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    static CLOSED: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    CLOSED.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Says `additionalProperties: false` in the document for the described objects that refuse
/// unknown fields: poem's schema model cannot say it, and without it a client (or a
/// generated test) would take extra fields for valid.
pub fn close_objects(document: &mut Value) {
    let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    for name in closed().iter() {
        if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            schema.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
}

/// One schema of OpenAPI 3.0's dialect (as `schemars` writes it) as poem's.
fn meta_schema(schema: &Value) -> MetaSchema {
    let Some(object) = schema.as_object() else { return MetaSchema::ANY };
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let count = |key: &str| object.get(key).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
    let mut meta = MetaSchema {
        ty: text("type").map_or("", interned),
        format: text("format").map(interned),
        title: text("title").map(str::to_owned),
        description: text("description").map(interned),
        default: object.get("default").cloned(),
        required: strings(object.get("required")).into_iter().map(interned).collect(),
        properties: object
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.iter().map(|(name, s)| (interned(name), schema_ref(s))).collect())
            .unwrap_or_default(),
        items: object.get("items").map(|s| Box::new(schema_ref(s))),
        additional_properties: object
            .get("additionalProperties")
            .filter(|s| s.is_object())
            .map(|s| Box::new(schema_ref(s))),
        enum_items: object.get("enum").and_then(Value::as_array).cloned().unwrap_or_default(),
        nullable: object.get("nullable").and_then(Value::as_bool).unwrap_or(false),
        all_of: branches(object, "allOf"),
        any_of: branches(object, "anyOf"),
        one_of: branches(object, "oneOf"),
        maximum: object.get("maximum").and_then(Value::as_f64),
        minimum: object.get("minimum").and_then(Value::as_f64),
        max_length: count("maxLength"),
        min_length: count("minLength"),
        pattern: text("pattern").map(str::to_owned),
        max_items: count("maxItems"),
        min_items: count("minItems"),
        unique_items: object.get("uniqueItems").and_then(Value::as_bool),
        ..MetaSchema::ANY
    };
    // `Option<Struct>` is written as "one of the struct or null": poem's dialect says
    // `nullable` on the schema itself.
    for branches in [&mut meta.any_of, &mut meta.one_of] {
        let before = branches.len();
        branches.retain(|b| !matches!(b, MetaSchemaRef::Inline(s) if is_null(s)));
        if branches.len() < before {
            meta.nullable = true;
        }
    }
    meta
}

fn is_null(schema: &MetaSchema) -> bool {
    schema.ty.is_empty() && schema.enum_items == [Value::Null]
}

fn schema_ref(schema: &Value) -> MetaSchemaRef {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(path) => MetaSchemaRef::Reference(path.rsplit('/').next().unwrap_or(path).to_owned()),
        None => MetaSchemaRef::Inline(Box::new(meta_schema(schema))),
    }
}

fn branches(object: &Map<String, Value>, key: &str) -> Vec<MetaSchemaRef> {
    object.get(key).and_then(Value::as_array).map(|all| all.iter().map(schema_ref).collect()).unwrap_or_default()
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value.and_then(Value::as_array).map(|all| all.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// poem keeps names and texts as `&'static str`; the same few hundred are asked for every
/// time a document is built, so each is leaked once.
fn interned(text: &str) -> &'static str {
    static TEXTS: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = texts.get(text) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    texts.insert(leaked);
    leaked
}
