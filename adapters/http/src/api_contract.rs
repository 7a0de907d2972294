//! Checks a response against the served OpenAPI document, so every response a test sees
//! proves the document right (or names where it is wrong): the status is declared for the
//! operation, the content type is one the document lists, and a JSON body validates against
//! the declared schema — types, `nullable`, required properties, enums, string lengths,
//! patterns and formats (`uuid`, `date-time`), number ranges, array sizes. A 405 must say
//! what is allowed (`Allow`).
//!
//! The validator covers the part of OpenAPI 3.0's schema language poem-openapi emits:
//! `$ref` to `#/components/schemas`, `allOf`, `oneOf`, `anyOf`, `type`, `nullable`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum` and the constraints
//! above, and `minProperties`/`maxProperties`. Tests only (the `testing` feature).

use std::collections::HashMap;

use poem::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::allow::{segments, PathTemplate};

/// The served document, indexed by operation.
pub struct ApiContract {
    document: Value,
    operations: Vec<Operation>,
    patterns: std::sync::Mutex<HashMap<String, Option<regex::Regex>>>,
}

struct Operation {
    method: Method,
    template: PathTemplate,
    /// The document's path, for messages.
    path: String,
    responses: Value,
}

/// Where the document's paths are mounted.
const API_BASE: &str = "/api/v1";

impl ApiContract {
    /// Indexes `document` (the JSON of `/openapi.json`).
    pub fn new(document: Value) -> Self {
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                operations.push(Operation {
                    method,
                    template: PathTemplate::parse(path),
                    path: path.clone(),
                    responses: operation["responses"].clone(),
                });
            }
        }
        Self { document, operations, patterns: std::sync::Mutex::default() }
    }

    /// The disagreements between one response and the document; empty when it conforms.
    /// Requests outside the API (`/console/`, `/openapi.json`) and to paths the document
    /// does not know are not checked, except that a 405 must carry `Allow`.
    pub fn check(
        &self,
        method: &Method,
        uri: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if status == StatusCode::METHOD_NOT_ALLOWED && !headers.contains_key("allow") {
            problems.push(format!("{method} {uri}: a 405 without an Allow header"));
        }
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let Some(path) = path.strip_prefix(API_BASE) else { return problems };
        let Some(operation) = self.operation(method, path) else { return problems };
        let what = format!("{method} {} ({status})", operation.path);
        let declared = &operation.responses[status.as_str()];
        let declared = if declared.is_null() { &operation.responses["default"] } else { declared };
        let declared = self.resolve(declared);
        if declared.is_null() {
            problems.push(format!("{what}: the status is not declared"));
            return problems;
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(media_type);
        let Some(content) = declared["content"].as_object() else {
            if !body.is_empty() {
                problems.push(format!("{what}: a body is sent where the document declares none"));
            }
            return problems;
        };
        let Some(content_type) = content_type else {
            if !body.is_empty() {
                problems.push(format!("{what}: a body without a content type"));
            }
            return problems;
        };
        // Media types match on type and subtype; parameters (`charset`) do not matter.
        let media = content.iter().find(|(declared, _)| media_type(declared) == content_type).map(|(_, m)| m);
        let Some(media) = media else {
            let listed: Vec<&String> = content.keys().collect();
            problems.push(format!("{what}: content type {content_type} is not declared (declared: {listed:?})"));
            return problems;
        };
        if content_type == "application/json" || content_type.ends_with("+json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(value) => self.validate(&media["schema"], &value, "$", &mut problems),
                Err(e) => problems.push(format!("{what}: declared JSON, but the body is not JSON: {e}")),
            }
            for problem in &mut problems {
                if !problem.starts_with(method.as_str()) {
                    *problem = format!("{what}: {problem}");
                }
            }
        }
        problems
    }

    /// The operation for `path` (below the API base), the most literal match first.
    fn operation(&self, method: &Method, path: &str) -> Option<&Operation> {
        let parts = segments(path);
        self.operations
            .iter()
            .filter(|op| op.method == *method)
            .filter_map(|op| op.template.matches(&parts).map(|literal| (literal, op)))
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    /// Follows `$ref`s into the document's components.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(reference) = schema["$ref"].as_str() else { return schema };
            let Some(pointer) = reference.strip_prefix('#') else { return &Value::Null };
            schema = self.document.pointer(pointer).unwrap_or(&Value::Null);
        }
        schema
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if schema.is_null() || schema.as_object().is_some_and(|s| s.is_empty()) {
            return;
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.validate(part, value, at, problems);
            }
        }
        if let (Some(property), Some(mapping)) =
            (schema["discriminator"]["propertyName"].as_str(), schema["discriminator"]["mapping"].as_object())
        {
            // The discriminator names the one choice that applies.
            match value[property].as_str().and_then(|tag| mapping.get(tag)) {
                Some(reference) => {
                    self.validate(&serde_json::json!({ "$ref": reference }), value, at, problems);
                }
                None => {
                    problems.push(format!("{at}: {property} = {} names no declared choice", brief(&value[property])))
                }
            }
            return;
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(choices) = schema[keyword].as_array() {
                if value.is_null() && schema["nullable"] == true {
                    return;
                }
                let fits = choices
                    .iter()
                    .filter(|choice| {
                        let mut inner = Vec::new();
                        self.validate(choice, value, at, &mut inner);
                        inner.is_empty()
                    })
                    .count();
                if fits == 0 || (exactly_one && fits > 1) {
                    problems.push(format!("{at}: {fits} of the {keyword} choices fit {}", brief(value)));
                }
            }
        }
        if value.is_null() {
            let typed = schema.get("type").is_some() || schema.get("allOf").is_some();
            if typed && schema["nullable"] != true {
                problems.push(format!("{at}: null where the document does not declare it nullable"));
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                problems.push(format!("{at}: {} is not one of {allowed:?}", brief(value)));
            }
        }
        match schema["type"].as_str() {
            Some("object") => self.validate_object(schema, value, at, problems),
            Some("array") => {
                let Some(items) = value.as_array() else {
                    return problems.push(format!("{at}: {} is not an array", brief(value)));
                };
                check_range(schema, "minItems", "maxItems", items.len() as f64, at, "items", problems);
                for (index, item) in items.iter().enumerate() {
                    self.validate(&schema["items"], item, &format!("{at}[{index}]"), problems);
                }
            }
            Some("string") => {
                let Some(text) = value.as_str() else {
                    return problems.push(format!("{at}: {} is not a string", brief(value)));
                };
                check_range(schema, "minLength", "maxLength", text.chars().count() as f64, at, "characters", problems);
                if let Some(pattern) = schema["pattern"].as_str() {
                    if !self.matches(pattern, text) {
                        problems.push(format!("{at}: {text:?} does not match the pattern {pattern}"));
                    }
                }
                check_format(schema["format"].as_str(), text, at, problems);
            }
            Some("integer") => match value.as_f64() {
                Some(n) if value.is_i64() || value.is_u64() => {
                    check_range(schema, "minimum", "maximum", n, at, "", problems)
                }
                _ => problems.push(format!("{at}: {} is not an integer", brief(value))),
            },
            Some("number") => match value.as_f64() {
                Some(n) => check_range(schema, "minimum", "maximum", n, at, "", problems),
                None => problems.push(format!("{at}: {} is not a number", brief(value))),
            },
            Some("boolean") if !value.is_boolean() => problems.push(format!("{at}: {} is not a boolean", brief(value))),
            _ => {}
        }
    }

    fn validate_object(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let Some(object) = value.as_object() else {
            return problems.push(format!("{at}: {} is not an object", brief(value)));
        };
        check_range(schema, "minProperties", "maxProperties", object.len() as f64, at, "properties", problems);
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(required) {
                problems.push(format!("{at}: the required property {required} is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.validate(property, item, &format!("{at}.{name}"), problems),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => problems.push(format!("{at}: the property {name} is not declared")),
                    Value::Object(_) => {
                        self.validate(&schema["additionalProperties"], item, &format!("{at}.{name}"), problems)
                    }
                    // Not stated: poem-openapi objects list every field they send.
                    _ if properties.is_some() => problems.push(format!("{at}: the property {name} is not declared")),
                    _ => {}
                },
            }
        }
    }

    fn matches(&self, pattern: &str, text: &str) -> bool {
        let mut patterns = self.patterns.lock().unwrap_or_else(|e| e.into_inner());
        let compiled = patterns.entry(pattern.to_owned()).or_insert_with(|| regex::Regex::new(pattern).ok());
        compiled.as_ref().is_none_or(|regex| regex.is_match(text))
    }
}

fn check_range(schema: &Value, low: &str, high: &str, n: f64, at: &str, unit: &str, problems: &mut Vec<String>) {
    if let Some(min) = schema[low].as_f64() {
        if n < min {
            problems.push(format!("{at}: {n} {unit} is below the declared {low} {min}"));
        }
    }
    if let Some(max) = schema[high].as_f64() {
        if n > max {
            problems.push(format!("{at}: {n} {unit} is above the declared {high} {max}"));
        }
    }
}

fn check_format(format: Option<&str>, text: &str, at: &str, problems: &mut Vec<String>) {
    let fits = match format {
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        _ => true,
    };
    if !fits {
        problems.push(format!("{at}: {text:?} is not a {}", format.unwrap_or_default()));
    }
}

/// A media type without its parameters, in lower case.
fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// A value, cut short for a message.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One operation answering a `Thing` (an id, an optional nullable note, a bounded count)
    /// or an error, as poem-openapi writes such a document.
    fn contract() -> ApiContract {
        ApiContract::new(json!({
            "openapi": "3.0.0",
            "paths": {"/teams/{team}/things/{id}": {"get": {"responses": {
                "200": {"content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "404": {"content": {"application/json; charset=utf-8": {"schema": {"type": "object"}}}},
                "204": {}
            }}}},
            "components": {"schemas": {"Thing": {
                "type": "object",
                "required": ["id", "count"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "note": {"type": "string", "nullable": true, "maxLength": 5},
                    "label": {"type": "string", "pattern": "^[a-z]+$"},
                    "count": {"type": "integer", "minimum": 0, "maximum": 10},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "at": {"type": "string", "format": "date-time"}
                }
            }}}
        }))
    }

    fn check(status: u16, content_type: Option<&str>, body: &str) -> Vec<String> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = content_type {
            headers.insert("content-type", content_type.parse().unwrap());
        }
        let status = StatusCode::from_u16(status).unwrap();
        contract().check(&Method::GET, "/api/v1/teams/ops/things/7?x=1", status, &headers, body.as_bytes())
    }

    const JSON: Option<&str> = Some("application/json");
    const ID: &str = "01932f6e-0000-7000-8000-000000000001";

    #[test]
    fn a_response_as_declared_passes() {
        let body =
            json!({"id": ID, "note": null, "label": "abc", "count": 3, "kind": "a", "at": "2026-12-07T08:00:00Z"});
        assert_eq!(check(200, JSON, &body.to_string()), Vec::<String>::new());
        assert_eq!(check(200, JSON, &json!({"id": ID, "count": 0}).to_string()), Vec::<String>::new());
        assert_eq!(check(204, None, ""), Vec::<String>::new());
    }

    #[test]
    fn every_kind_of_disagreement_is_named() {
        let cases = [
            (json!({"id": ID, "count": 3, "label": null}), "null where the document does not declare it nullable"),
            (json!({"id": ID}), "required property count is missing"),
            (json!({"id": "seven", "count": 3}), "is not a uuid"),
            (json!({"id": ID, "count": 11}), "above the declared maximum"),
            (json!({"id": ID, "count": -1}), "below the declared minimum"),
            (json!({"id": ID, "count": 1.5}), "is not an integer"),
            (json!({"id": ID, "count": 3, "note": "too long"}), "above the declared maxLength"),
            (json!({"id": ID, "count": 3, "label": "ABC"}), "does not match the pattern"),
            (json!({"id": ID, "count": 3, "kind": "c"}), "is not one of"),
            (json!({"id": ID, "count": 3, "at": "yesterday"}), "is not a date-time"),
            (json!({"id": ID, "count": 3, "extra": 1}), "the property extra is not declared"),
            (json!([1]), "is not an object"),
        ];
        for (body, expected) in cases {
            let problems = check(200, JSON, &body.to_string());
            assert!(problems.iter().any(|p| p.contains(expected)), "{body}: expected {expected:?}, got {problems:?}");
        }
    }

    #[test]
    fn undeclared_statuses_content_types_and_bodies_are_named() {
        assert!(check(500, JSON, "{}")[0].contains("the status is not declared"));
        assert!(check(200, Some("text/csv"), "a,b")[0].contains("content type text/csv is not declared"));
        assert!(check(200, JSON, "not json")[0].contains("the body is not JSON"));
        assert!(check(204, JSON, "{}")[0].contains("a body is sent where the document declares none"));
    }

    #[test]
    fn a_405_must_say_what_is_allowed_and_other_paths_are_not_checked() {
        let contract = contract();
        let refused =
            contract.check(&Method::PATCH, "/api/v1/teams/ops", StatusCode::METHOD_NOT_ALLOWED, &HeaderMap::new(), b"");
        assert!(refused[0].contains("405 without an Allow header"), "{refused:?}");
        let mut allow = HeaderMap::new();
        allow.insert("allow", "GET".parse().unwrap());
        assert!(contract.check(&Method::PATCH, "/api/v1/x", StatusCode::METHOD_NOT_ALLOWED, &allow, b"").is_empty());
        assert!(contract.check(&Method::GET, "/console/", StatusCode::OK, &HeaderMap::new(), b"<html>").is_empty());
    }
}
