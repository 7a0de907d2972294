//! Operators' attachments, served only to keys of their team: `GET
//! /api/v1/teams/{team}/attachments/{hash}` (the hash a conversation's attachment names).
//!
//! The type is read from the bytes again as they are served, never taken from a name. A
//! picture whose stated size a browser decodes safely is sent `inline` (the console shows
//! it); everything else — markup such as SVG and HTML (sent as `text/plain`), documents,
//! audio, a picture too large or unreadable — only as a download. Every answer carries
//! `nosniff` and a sandboxing content security policy (see [`crate::download`]).

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::OpenApi;
use switchboard_schemas::attachment::{ContentHash, MediaType};
use switchboard_schemas::event::AccessRole;

use crate::api::team_id;
use crate::auth::AccessKey;
use crate::download::{Download, DownloadKinds};
use crate::error::ApiError;
use crate::params::{ContentHashText, FileNameText, TeamParam, Text};
use crate::{ApiTags, AppState};

/// The attachment endpoints.
pub struct AttachmentsApi {
    pub(crate) state: Arc<AppState>,
}

/// Every type an attachment is served as.
pub struct AttachmentKinds;

impl DownloadKinds for AttachmentKinds {
    const DESCRIPTION: &'static str =
        "The attachment's bytes, as the type read from them (markup as text/plain, anything unknown as application/octet-stream).";
    const CONTENT_TYPES: &'static [&'static str] = &[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "application/pdf",
        "application/zip",
        "audio/amr",
        "audio/mpeg",
        "video/mp4",
        "text/plain; charset=utf-8",
        "application/octet-stream",
    ];
}

/// The name an attachment is saved as: the caller's, with an extension that fits the type
/// read from the bytes. Markup always ends in `.txt` (opened, it never renders), a name
/// whose extension does not fit the type gets the type's, and a file of unknown type keeps
/// its name only with an extension known to be inert (`.7z`, `.csv`, …); any other gains
/// `.bin`. Trailing dots and spaces, which some systems drop on saving, are removed first.
/// Without a name: the start of the hash.
fn saved_name(name: Option<&str>, hash: &ContentHash, media_type: MediaType) -> String {
    /// Extensions of files that neither run nor render when opened, for bytes of unknown type.
    const INERT: &[&str] = &[
        "7z", "rar", "gz", "tgz", "bz2", "xz", "tar", "csv", "tsv", "txt", "log", "heic", "heif", "tif", "tiff", "psd",
        "ai", "wav", "aac", "flac", "ogg", "opus", "silk", "avi", "mkv", "webm", "wmv", "flv", "3gp", "parquet",
    ];
    let trimmed = name.map(|n| n.trim().trim_end_matches(|c: char| c == '.' || c.is_whitespace()));
    let name = trimmed.filter(|n| !n.is_empty()).unwrap_or(&hash.as_str()[..12]);
    let (stem, given) = match name.rsplit_once('.') {
        Some((stem, ext)) => (stem, ext.to_ascii_lowercase()),
        None => (name, String::new()),
    };
    let fits = match media_type {
        MediaType::Png => &["png"][..],
        MediaType::Jpeg => &["jpg", "jpeg", "jfif"],
        MediaType::Gif => &["gif"],
        MediaType::Webp => &["webp"],
        MediaType::Bmp => &["bmp"],
        MediaType::Pdf => &["pdf"],
        MediaType::Zip => &["zip", "xlsx", "docx", "pptx", "odt", "ods"],
        MediaType::Amr => &["amr"],
        MediaType::Mp3 => &["mp3"],
        MediaType::Mp4 => &["mp4", "m4a", "m4v", "mov"],
        MediaType::Markup => &[],
        MediaType::Text => &["txt", "csv", "tsv", "log", "md", "json"],
        MediaType::Unknown => {
            return if INERT.contains(&given.as_str()) { name.to_owned() } else { format!("{name}.bin") };
        }
    };
    if fits.contains(&given.as_str()) {
        name.to_owned()
    } else {
        format!("{stem}.{}", extension(media_type))
    }
}

/// The extension a file of this type is saved with (markup as `.txt`, so that opening it
/// never renders it).
fn extension(media_type: MediaType) -> &'static str {
    match media_type {
        MediaType::Png => "png",
        MediaType::Jpeg => "jpg",
        MediaType::Gif => "gif",
        MediaType::Webp => "webp",
        MediaType::Bmp => "bmp",
        MediaType::Pdf => "pdf",
        MediaType::Zip => "zip",
        MediaType::Amr => "amr",
        MediaType::Mp3 => "mp3",
        MediaType::Mp4 => "mp4",
        MediaType::Markup | MediaType::Text => "txt",
        MediaType::Unknown => "bin",
    }
}

#[OpenApi(tag = "ApiTags::Conversations")]
impl AttachmentsApi {
    /// An operator's attachment (any key of the team): a picture inline, anything else as
    /// a download. The hash is the one the conversation's attachment names; `name` is what
    /// the file is saved as, with an extension that fits the type read from its bytes
    /// (default: the start of the hash).
    #[oai(path = "/teams/:team/attachments/:hash", method = "get")]
    async fn attachment(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        hash: Path<Text<ContentHashText>>,
        name: Query<Option<Text<FileNameText>>>,
    ) -> Result<Download<AttachmentKinds>, ApiError> {
        let team = team_id(&team)?;
        self.state.authorize(&key, &team, AccessRole::Viewer).await?;
        let hash: ContentHash = hash
            .parse()
            .map_err(|e| ApiError::bad_request("bad_hash", format!("{e}: name an attachment by its hash")))?;
        let bytes = self
            .state
            .blobs
            .get(&team, &hash)
            .await
            .map_err(|e| {
                tracing::error!(%team, %hash, error = %e, "the blob store failed serving an attachment");
                ApiError::unavailable("blob_store_unavailable", "the attachment store is unreachable; retry shortly")
            })?
            .ok_or_else(|| {
                ApiError::not_found(
                    "no_attachment",
                    format!("team {team} has no attachment {hash} (or it was removed)"),
                )
            })?;
        let media_type = MediaType::sniff(&bytes);
        let file_name = saved_name(name.0.as_deref(), &hash, media_type);
        Ok(if MediaType::shows_inline(&bytes) {
            Download::inline(media_type.mime(), bytes, &file_name)
        } else {
            Download::new(media_type.mime(), bytes, &file_name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_name_always_fits_the_type_read_from_the_bytes() {
        let hash = ContentHash::of(b"x");
        let name = |given: &str, media_type| saved_name(Some(given), &hash, media_type);
        assert_eq!(name("logo.svg", MediaType::Markup), "logo.txt");
        assert_eq!(name("prize.png", MediaType::Markup), "prize.txt", "a page named like a picture");
        assert_eq!(name("报名表.xlsx", MediaType::Zip), "报名表.xlsx");
        assert_eq!(name("photo.JPG", MediaType::Jpeg), "photo.JPG");
        assert_eq!(name("invoice.pdf.exe", MediaType::Pdf), "invoice.pdf.pdf");
        assert_eq!(name("setup.exe", MediaType::Unknown), "setup.exe.bin");
        assert_eq!(name("macro.xlsm", MediaType::Zip), "macro.zip");
        assert_eq!(name("help.chm", MediaType::Unknown), "help.chm.bin", "not known to be inert");
        assert_eq!(name("data.parquet", MediaType::Unknown), "data.parquet");
        assert_eq!(name("evil.html.", MediaType::Unknown), "evil.html.bin", "a trailing dot is dropped first");
        assert_eq!(name("evil.html .. ", MediaType::Unknown), "evil.html.bin");
        assert_eq!(name(".html", MediaType::Unknown), ".html.bin", "no stem is no excuse");
        assert_eq!(name(".htaccess", MediaType::Text), ".txt");
        assert_eq!(saved_name(None, &hash, MediaType::Png), format!("{}.png", &hash.as_str()[..12]));
    }
}
