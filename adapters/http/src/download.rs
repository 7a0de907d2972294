//! A file the API sends in one of several formats. poem-openapi keeps one media type per
//! status (a second `200` variant replaces the first in the document), so a download whose
//! format the caller picks is one response listing every media type it may carry.
//!
//! Every file is sent with `X-Content-Type-Options: nosniff` and a sandboxing
//! `Content-Security-Policy`, so a browser never runs what a file holds, and with a
//! `Content-Disposition` that names it (RFC 6266, the name UTF-8 encoded as RFC 8187 says).

use std::marker::PhantomData;

use poem::http::header;
use poem::IntoResponse;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

/// The media types of one kind of download.
pub trait DownloadKinds: Send {
    /// What the file is, for the document.
    const DESCRIPTION: &'static str;
    /// Every media type it may be sent as.
    const CONTENT_TYPES: &'static [&'static str];
}

/// A file in one of the media types `K` lists, with a `Content-Disposition` naming it.
pub struct Download<K: DownloadKinds> {
    content_type: &'static str,
    bytes: Vec<u8>,
    disposition: String,
    kinds: PhantomData<K>,
}

impl<K: DownloadKinds> Download<K> {
    /// `bytes` as `content_type` (one of `K::CONTENT_TYPES`), saved as `file_name`.
    pub fn new(content_type: &'static str, bytes: Vec<u8>, file_name: &str) -> Self {
        Self::with_disposition("attachment", content_type, bytes, file_name)
    }

    /// `bytes` as `content_type`, shown by the browser (a picture) and saved as `file_name`.
    pub fn inline(content_type: &'static str, bytes: Vec<u8>, file_name: &str) -> Self {
        Self::with_disposition("inline", content_type, bytes, file_name)
    }

    fn with_disposition(kind: &str, content_type: &'static str, bytes: Vec<u8>, file_name: &str) -> Self {
        debug_assert!(K::CONTENT_TYPES.contains(&content_type), "{content_type} is not declared");
        let disposition = disposition(kind, file_name);
        Self { content_type, bytes, disposition, kinds: PhantomData }
    }
}

/// A `Content-Disposition` naming `file_name`: an ASCII `filename` (other characters as
/// `_`) for old browsers and the exact name as `filename*`; quotes, backslashes, path
/// separators and control characters never reach the header.
fn disposition(kind: &str, file_name: &str) -> String {
    let name: String =
        file_name.chars().map(|c| if c.is_control() || matches!(c, '/' | '\\') { '_' } else { c }).collect();
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

impl<K: DownloadKinds> IntoResponse for Download<K> {
    fn into_response(self) -> poem::Response {
        // Never kept: a file is read with a key that may be revoked, and an attachment may
        // be deleted under its team's retention.
        poem::Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::CONTENT_DISPOSITION, self.disposition)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox")
            .header(header::CACHE_CONTROL, "no-store")
            .body(self.bytes)
    }
}

impl<K: DownloadKinds> ApiResponse for Download<K> {
    fn meta() -> MetaResponses {
        let binary = MetaSchemaRef::Inline(Box::new(poem_openapi::registry::MetaSchema {
            format: Some("binary"),
            ..poem_openapi::registry::MetaSchema::new("string")
        }));
        MetaResponses {
            responses: vec![MetaResponse {
                description: K::DESCRIPTION,
                status: Some(200),
                status_range: None,
                content: K::CONTENT_TYPES
                    .iter()
                    .map(|&content_type| MetaMediaType { content_type, schema: binary.clone() })
                    .collect(),
                headers: [
                    (
                        "Content-Disposition",
                        "`attachment` (or `inline` for a picture the console shows), with the file's name",
                    ),
                    ("X-Content-Type-Options", "`nosniff`: the type is never guessed from the bytes"),
                    ("Content-Security-Policy", "`default-src 'none'; sandbox`: nothing in the file runs"),
                    (
                        "Cache-Control",
                        "`no-store`: kept by no cache, since the key may be revoked and the file deleted",
                    ),
                ]
                .into_iter()
                .map(|(name, description)| MetaHeader {
                    name: name.into(),
                    description: Some(description.into()),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                })
                .collect(),
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// The media type of CSV (UTF-8).
pub const CSV: &str = "text/csv; charset=utf-8";
/// The media type of an Excel workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The media type of JSON Lines.
pub const JSONL: &str = "application/x-ndjson";

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn a_file_name_never_breaks_out_of_its_header() {
        assert_eq!(
            disposition("attachment", "report.xlsx"),
            "attachment; filename=\"report.xlsx\"; filename*=UTF-8''report.xlsx"
        );
        let hostile = disposition("attachment", "a\"; filename=evil.html\r\n/../报名表.xlsx");
        assert_eq!(hostile.matches('"').count(), 2, "{hostile}");
        assert!(!hostile.contains('\r') && !hostile.contains('\n') && !hostile.contains('/'), "{hostile}");
        assert!(hostile.ends_with("%E6%8A%A5%E5%90%8D%E8%A1%A8.xlsx"), "{hostile}");
    }
}
