//! `Allow` on every 405: poem answers a method a route does not take with a bare 405, and
//! HTTP requires the methods it does take. They are read from the API's own OpenAPI
//! document, so the header and the document cannot disagree.

use std::sync::Arc;

use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::Value;

/// A path of the document, such as `/teams/{team}/faqs/{faq_id}`, split for matching.
#[derive(Debug, Clone)]
pub struct PathTemplate(Vec<Option<String>>);

impl PathTemplate {
    /// The template of a document path (`{name}` segments match any one segment).
    pub fn parse(path: &str) -> Self {
        Self(
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(|s| if s.starts_with('{') { None } else { Some(s.to_owned()) })
                .collect(),
        )
    }

    /// How literally the template matches the segments of a request path (more literal
    /// segments win: `/faqs/export` over `/faqs/{faq_id}`); none when it does not.
    pub fn matches(&self, segments: &[&str]) -> Option<usize> {
        if self.0.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (template, segment) in self.0.iter().zip(segments) {
            match template {
                Some(text) if text == segment => literal += 1,
                Some(_) => return None,
                None => {}
            }
        }
        Some(literal)
    }
}

/// The non-empty segments of a request path, without its query.
pub fn segments(path: &str) -> Vec<&str> {
    path.split(['?', '#']).next().unwrap_or_default().split('/').filter(|s| !s.is_empty()).collect()
}

/// The methods each path of the API takes.
#[derive(Debug, Default)]
pub struct RouteTable {
    base: String,
    /// Each documented path's template, its text and the methods it takes.
    routes: Vec<(PathTemplate, String, Vec<Method>)>,
}

impl RouteTable {
    /// The table of an OpenAPI document whose paths are served below `base`.
    pub fn from_document(document: &Value, base: &str) -> Self {
        let mut routes = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            let mut methods: Vec<Method> = item
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(method, _)| method.to_uppercase().parse().ok())
                .collect();
            methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            routes.push((PathTemplate::parse(path), path.clone(), methods));
        }
        Self { base: base.to_owned(), routes }
    }

    /// The documented path and methods of a request path, by the most literal template
    /// that matches it.
    fn find(&self, path: &str) -> Option<(&str, &[Method])> {
        let below = path.strip_prefix(&self.base)?;
        let parts = segments(below);
        self.routes
            .iter()
            .filter_map(|(template, text, methods)| template.matches(&parts).map(|literal| (literal, text, methods)))
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, text, methods)| (text.as_str(), methods.as_slice()))
    }

    /// The methods the path takes.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.find(path).map(|(_, methods)| methods)
    }

    /// The route a request path belongs to, as a metric label: the documented path of an
    /// API operation, the mount point of everything else, `other` for unknown paths.
    pub fn route(&self, path: &str) -> String {
        if let Some((documented, _)) = self.find(path) {
            return format!("{}{documented}", self.base);
        }
        let parts = segments(path);
        let fixed = match parts.as_slice() {
            [] => "/",
            ["healthz"] => "/healthz",
            ["metrics"] => "/metrics",
            ["openapi.json"] => "/openapi.json",
            ["docs", ..] => "/docs",
            ["console", ..] => "/console",
            ["widget", ..] => "/widget/{team}",
            ["api", "v1", "teams", _, "channel", "ws"] => "/api/v1/teams/{team}/channel/ws",
            _ => "other",
        };
        fixed.to_owned()
    }
}

/// Adds `Allow` to a 405 for a path the table knows.
pub async fn add_allow<E: Endpoint>(next: E, request: Request, table: Arc<RouteTable>) -> poem::Result<Response> {
    let path = request.uri().path().to_owned();
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) if error.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let mut response = crate::error::json_error(error).await;
            allow(&table, &path, &mut response);
            return Ok(response);
        }
        Err(error) => return Err(error),
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        allow(&table, &path, &mut response);
    }
    Ok(response)
}

fn allow(table: &RouteTable, path: &str, response: &mut Response) {
    if let Some(methods) = table.allowed(path) {
        let list = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        if let Ok(value) = list.parse() {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
}
