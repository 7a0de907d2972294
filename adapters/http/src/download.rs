//! A file the API sends in one of several formats. poem-openapi keeps one media type per
//! status (a second `200` variant replaces the first in the document), so a download whose
//! format the caller picks is one response listing every media type it may carry.

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
        debug_assert!(K::CONTENT_TYPES.contains(&content_type), "{content_type} is not declared");
        let disposition = format!("attachment; filename=\"{file_name}\"");
        Self { content_type, bytes, disposition, kinds: PhantomData }
    }
}

impl<K: DownloadKinds> IntoResponse for Download<K> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::CONTENT_DISPOSITION, self.disposition)
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
                headers: vec![MetaHeader {
                    name: "Content-Disposition".into(),
                    description: Some("attachment, with the file's name".into()),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                }],
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
