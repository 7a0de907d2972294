//! The admin console: a single page with no build step, compiled into the binary, so every
//! instance serves it at `/console/` without files to deploy. It talks to the same REST
//! API as any other client, with the access key its user logs in with.

use poem::http::{header, StatusCode};
use poem::web::{Path, Redirect};
use poem::{get, handler, IntoResponse, Response, Route};

/// The console's files: name, media type, content.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../console/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../console/app.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../console/i18n.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_str!("../console/charts.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../console/style.css")),
];

/// The console's content security policy: its own files only, never framed.
/// Pictures come from the console's own origin, as data URLs (charts) or as blob URLs the
/// console makes of attachments it fetched with the key (an `<img>` cannot send the key).
const POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'";

fn file(name: &str) -> Response {
    compiled_file(FILES, name, POLICY)
}

/// One of `files` (name, media type, content) as a response with `policy` as its content
/// security policy; 404 for a name not among them.
pub(crate) fn compiled_file(files: &[(&str, &str, &'static str)], name: &str, policy: &str) -> Response {
    match files.iter().find(|(n, _, _)| *n == name) {
        Some((_, media_type, body)) => Response::builder()
            .header(header::CONTENT_TYPE, *media_type)
            // The files change with the binary; a reload after an upgrade must see the new ones.
            .header(header::CACHE_CONTROL, "no-cache")
            .header("x-content-type-options", "nosniff")
            .header("content-security-policy", policy)
            .body(*body),
        None => Response::builder().status(StatusCode::NOT_FOUND).body("no such file"),
    }
}

#[handler]
fn index() -> Response {
    file("index.html")
}

#[handler]
fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

/// `/` leads to the console.
#[handler]
pub fn to_console() -> impl IntoResponse {
    Redirect::see_other("/console/")
}

/// The console's routes, relative to `/console`.
pub fn routes() -> Route {
    Route::new().at("/", get(index)).at("/:name", get(asset))
}
