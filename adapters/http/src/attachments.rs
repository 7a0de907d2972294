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

/// The extension a file of this type is saved with when the caller names none (markup
/// as `.txt`, so that opening it never renders it).
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
    /// the file is saved as (default: the start of the hash and an extension for its type).
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
            .map_err(|e| ApiError::unavailable("blob_store_unavailable", e))?
            .ok_or_else(|| {
                ApiError::not_found(
                    "no_attachment",
                    format!("team {team} has no attachment {hash} (or it was removed)"),
                )
            })?;
        let media_type = MediaType::sniff(&bytes);
        let file_name = match name.0.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => name.to_owned(),
            None => format!("{}.{}", &hash.as_str()[..12], extension(media_type)),
        };
        Ok(if MediaType::shows_inline(&bytes) {
            Download::inline(media_type.mime(), bytes, &file_name)
        } else {
            Download::new(media_type.mime(), bytes, &file_name)
        }
        .immutable())
    }
}
