//! Attachments an operator sends (screenshots, files, voice, video): the events record what
//! was sent and where its bytes are, never the bytes. The bytes live in a blob store under
//! their [`ContentHash`].

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::Channel;
use crate::MessageId;

/// What kind of attachment the operator sent, as the channel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A picture (a screenshot, a photo).
    Image,
    /// A file (a spreadsheet, a document).
    File,
    /// A voice message.
    Voice,
    /// A video.
    Video,
}

crate::spelled!(AttachmentKind { Image => "image", File => "file", Voice => "voice", Video => "video" });

/// What the bytes are, read from the bytes themselves (never from a name or a declared
/// type). Only the raster images a browser decodes safely are ever shown inline; everything
/// else is served as a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// BMP image.
    Bmp,
    /// PDF document.
    Pdf,
    /// A ZIP container (also Office documents: xlsx, docx, pptx).
    Zip,
    /// AMR audio (WeCom's voice messages).
    Amr,
    /// MP3 audio.
    Mp3,
    /// MP4 or QuickTime video.
    Mp4,
    /// Text that may carry script when rendered: HTML, SVG, XML.
    Markup,
    /// Plain UTF-8 text.
    Text,
    /// Anything else.
    Unknown,
}

crate::spelled!(MediaType {
    Png => "png",
    Jpeg => "jpeg",
    Gif => "gif",
    Webp => "webp",
    Bmp => "bmp",
    Pdf => "pdf",
    Zip => "zip",
    Amr => "amr",
    Mp3 => "mp3",
    Mp4 => "mp4",
    Markup => "markup",
    Text => "text",
    Unknown => "unknown",
});

impl MediaType {
    /// The type the bytes are served with. Markup is served as `text/plain`, so that even a
    /// browser that ignored `Content-Disposition` would never run its script.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Pdf => "application/pdf",
            Self::Zip => "application/zip",
            Self::Amr => "audio/amr",
            Self::Mp3 => "audio/mpeg",
            Self::Mp4 => "video/mp4",
            Self::Markup | Self::Text => "text/plain; charset=utf-8",
            Self::Unknown => "application/octet-stream",
        }
    }

    /// True for the raster images shown inline (thumbnails, full size on click); everything
    /// else is only ever a download.
    pub fn is_inline_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Gif | Self::Webp | Self::Bmp)
    }

    /// Reads the type from the first bytes. A name or a declared type is never consulted:
    /// a file named `a.png` that holds HTML is markup.
    pub fn sniff(bytes: &[u8]) -> Self {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(b"\x89PNG\r\n\x1a\n") {
            Self::Png
        } else if starts(b"\xff\xd8\xff") {
            Self::Jpeg
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            Self::Gif
        } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            Self::Webp
        } else if starts(b"BM")
            && bytes.get(6..10) == Some(&[0; 4])
            && matches!(bytes.get(14), Some(12 | 40 | 52 | 56 | 108 | 124))
        {
            Self::Bmp
        } else if starts(b"%PDF-") {
            Self::Pdf
        } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
            Self::Zip
        } else if starts(b"#!AMR") {
            Self::Amr
        } else if starts(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xff && bytes[1] & 0xe0 == 0xe0) {
            Self::Mp3
        } else if bytes.get(4..8) == Some(b"ftyp") {
            Self::Mp4
        } else {
            Self::sniff_text(bytes)
        }
    }

    /// Text is UTF-8 without control characters other than white space, in the first 4 KiB;
    /// markup is text whose first tag-like token could make a browser render it.
    fn sniff_text(bytes: &[u8]) -> Self {
        let head = &bytes[..bytes.len().min(4096)];
        let text = match std::str::from_utf8(head) {
            Ok(text) => text,
            // The 4 KiB cut may split a character: accept an incomplete last one.
            Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
            Err(_) => return Self::Unknown,
        };
        if bytes.is_empty() || text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Self::Unknown;
        }
        let lower = text.trim_start_matches('\u{feff}').trim_start().to_ascii_lowercase();
        let markup = ["<!doctype", "<html", "<svg", "<?xml", "<script", "<head", "<body", "<iframe", "<!--"];
        if markup.iter().any(|tag| lower.starts_with(tag)) || lower.contains("<script") || lower.contains("<svg") {
            Self::Markup
        } else {
            Self::Text
        }
    }
}

/// The SHA-256 of a blob's bytes, in lower-case hex: its name in every blob store, so the
/// same bytes are stored once and a name always means the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(transform = ContentHash::declare_rule)]
pub struct ContentHash(String);

/// A string that is not 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 64 lower-case hex digits, not {0:?}")]
pub struct BadContentHash(pub String);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        Self(hex)
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn declare_rule(schema: &mut schemars::Schema) {
        schema.insert("pattern".into(), "^[0-9a-f]{64}$".into());
    }
}

impl TryFrom<String> for ContentHash {
    type Error = BadContentHash;

    fn try_from(value: String) -> Result<Self, BadContentHash> {
        if value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(value))
        } else {
            Err(BadContentHash(value))
        }
    }
}

impl std::str::FromStr for ContentHash {
    type Err = BadContentHash;

    fn from_str(value: &str) -> Result<Self, BadContentHash> {
        Self::try_from(value.to_owned())
    }
}

impl From<ContentHash> for String {
    fn from(hash: ContentHash) -> String {
        hash.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.0[..12])
    }
}

/// Where an attachment's bytes are to be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttachmentSource {
    /// WeCom's media API (`media/get`) with the team's application; WeCom forgets the media
    /// three days after the message.
    WecomMedia {
        /// WeCom's `MediaId`.
        #[schemars(length(min = 1, max = crate::bounds::MAX_MEDIA_ID_BYTES))]
        media_id: String,
    },
}

/// An operator sent an attachment. Its bytes are fetched and stored afterwards
/// ([`AttachmentStored`]) or the fetch fails ([`AttachmentFetchFailed`]); the event itself
/// never holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentReceived {
    /// The session.
    pub session_id: Uuid,
    /// The channel's id of the message, for deduplication.
    pub message_id: MessageId,
    /// The attachment, named in the events that follow.
    pub attachment_id: Uuid,
    /// What the channel says it is.
    pub kind: AttachmentKind,
    /// The name the sender gave a file; shown to staff, never used to decide the type.
    #[schemars(length(max = crate::bounds::MAX_FILE_NAME_CHARS))]
    pub name: Option<String>,
    /// Where the bytes are fetched from.
    pub source: AttachmentSource,
    /// The channel it came through.
    pub channel: Channel,
}

/// An attachment's bytes are in the blob store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentStored {
    /// The session the attachment was sent in.
    pub session_id: Uuid,
    /// The attachment.
    pub attachment_id: Uuid,
    /// The blob's name.
    pub hash: ContentHash,
    /// Its size in bytes.
    pub size: u64,
    /// What the bytes are.
    pub media_type: MediaType,
}

/// An attachment's bytes could not be fetched, after every retry; staff see why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentFetchFailed {
    /// The session the attachment was sent in.
    pub session_id: Uuid,
    /// The attachment.
    pub attachment_id: Uuid,
    /// How many attempts were made.
    pub attempts: u32,
    /// Why the last one failed.
    #[schemars(length(max = crate::bounds::MAX_TEXT_CHARS))]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(MediaType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), MediaType::Png);
        assert_eq!(MediaType::sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), MediaType::Jpeg);
        assert_eq!(MediaType::sniff(b"GIF89a\x01\0\x01\0"), MediaType::Gif);
        assert_eq!(MediaType::sniff(b"RIFF\0\0\0\0WEBPVP8 "), MediaType::Webp);
        assert_eq!(MediaType::sniff(b"%PDF-1.7\n"), MediaType::Pdf);
        assert_eq!(MediaType::sniff(b"PK\x03\x04\x14\0"), MediaType::Zip);
        assert_eq!(MediaType::sniff(b"#!AMR\n"), MediaType::Amr);
        assert_eq!(MediaType::sniff(b"\0\0\0\x18ftypmp42"), MediaType::Mp4);
        assert_eq!(MediaType::sniff("活动页报错了\n".as_bytes()), MediaType::Text);
        assert_eq!(MediaType::sniff(b"\0\x01\x02binary"), MediaType::Unknown);
        assert_eq!(MediaType::sniff(b""), MediaType::Unknown);
    }

    #[test]
    fn anything_that_can_carry_script_is_markup_and_never_inline() {
        for hostile in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"\xef\xbb\xbf  <!DOCTYPE html><p>hi",
            b"<?xml version='1.0'?><svg/>",
            b"hello <script>alert(1)</script>",
            b"<HTML><BODY onload=alert(1)>",
        ] {
            let sniffed = MediaType::sniff(hostile);
            assert_eq!(sniffed, MediaType::Markup, "{:?}", String::from_utf8_lossy(hostile));
            assert!(!sniffed.is_inline_image());
            assert!(sniffed.mime().starts_with("text/plain"));
        }
        // A GIF header followed by script (a polyglot) is a GIF: served as an image with
        // nosniff, a browser decodes it as a picture and never runs it.
        assert!(MediaType::sniff(b"GIF89a/*<script>alert(1)</script>*/").is_inline_image());
    }

    #[test]
    fn a_cut_multibyte_character_at_the_sniffing_limit_is_still_text() {
        let mut bytes = "a".repeat(4095).into_bytes();
        bytes.extend_from_slice("好".as_bytes());
        assert_eq!(MediaType::sniff(&bytes), MediaType::Text);
    }

    #[test]
    fn content_hashes_are_sha256_hex_and_nothing_else_parses() {
        let hash = ContentHash::of(b"abc");
        assert_eq!(hash.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hash.as_str().parse::<ContentHash>(), Ok(hash.clone()));
        for bad in [
            "",
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "../../etc/passwd",
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<ContentHash>().is_err(), "{bad}");
        }
    }
}
