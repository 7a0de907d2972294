//! The embeddable chat widget: a page with no build step, compiled into the binary, that
//! talks to the WebSocket channel as one operator. A team puts it in an `<iframe>` of its
//! own site: `/widget/{team}/#token=<channel token>` (the fragment never reaches a server
//! log). Unlike the console it may be framed by any site; the token is what grants access.

use poem::web::{Path, Redirect};
use poem::{get, handler, IntoResponse, Response, Route};

/// The widget's files: name, media type, content.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../widget/index.html")),
    ("widget.js", "text/javascript; charset=utf-8", include_str!("../widget/widget.js")),
    ("widget.css", "text/css; charset=utf-8", include_str!("../widget/widget.css")),
];

/// Its own files and its own origin's socket only; framing is allowed from anywhere.
const POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'";

#[handler]
fn page(Path(_team): Path<String>) -> Response {
    crate::console::compiled_file(FILES, "index.html", POLICY)
}

#[handler]
fn asset(Path((_team, name)): Path<(String, String)>) -> Response {
    crate::console::compiled_file(FILES, &name, POLICY)
}

/// `/widget/{team}` leads to `/widget/{team}/`, where the page's relative links work.
#[handler]
fn with_slash(Path(team): Path<String>) -> impl IntoResponse {
    Redirect::see_other(format!("/widget/{}/", urlencode(&team)))
}

/// Percent-encodes everything but unreserved characters, so a redirect cannot be bent.
fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The widget's routes, relative to `/widget`.
pub fn routes() -> Route {
    Route::new().at("/:team", get(with_slash)).at("/:team/", get(page)).at("/:team/:name", get(asset))
}
