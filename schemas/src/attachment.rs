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

    /// Whether these bytes may be shown in a browser: a raster image whose header states a
    /// size a browser decodes without trouble. A picture that claims 100,000 × 100,000
    /// pixels (a decompression bomb in a few kilobytes) or whose size cannot be read is
    /// only ever a download.
    pub fn shows_inline(bytes: &[u8]) -> bool {
        Self::sniff(bytes).is_shown_inline(image_size(bytes))
    }

    /// Whether a file of this type whose header states `size` may be shown in a browser
    /// (see [`MediaType::shows_inline`]).
    pub fn is_shown_inline(self, size: Option<ImageSize>) -> bool {
        self.is_inline_image()
            && size.is_some_and(|ImageSize { width: w, height: h }| {
                w > 0
                    && h > 0
                    && w <= MAX_INLINE_SIDE
                    && h <= MAX_INLINE_SIDE
                    && u64::from(w) * u64::from(h) <= MAX_INLINE_PIXELS
            })
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

/// The longest side of a picture shown inline, in pixels.
pub const MAX_INLINE_SIDE: u32 = 16_384;
/// The most pixels of a picture shown inline (40 megapixels: a phone photo is 12 to 50).
pub const MAX_INLINE_PIXELS: u64 = 40_000_000;

/// A picture's size as its header states it, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageSize {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

/// The width and height a raster image's header states, read from at most its first 64 KiB
/// (a JPEG's size follows its metadata); none when the header cannot be read.
pub fn image_size(bytes: &[u8]) -> Option<ImageSize> {
    image_dimensions(bytes).map(|(width, height)| ImageSize { width, height })
}

fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let u16_be = |at: usize| bytes.get(at..at + 2).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])));
    let u16_le = |at: usize| bytes.get(at..at + 2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])));
    let u32_be = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let i32_le = |at: usize| bytes.get(at..at + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).unsigned_abs());
    let u24_le = |at: usize| bytes.get(at..at + 3).map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0]));
    match MediaType::sniff(bytes) {
        MediaType::Png if bytes.get(12..16) == Some(b"IHDR") => Some((u32_be(16)?, u32_be(20)?)),
        MediaType::Gif => Some((u16_le(6)?, u16_le(8)?)),
        MediaType::Bmp => Some((i32_le(18)?, i32_le(22)?)),
        MediaType::Webp => match bytes.get(12..16)? {
            b"VP8 " => Some((u16_le(26)? & 0x3fff, u16_le(28)? & 0x3fff)),
            b"VP8L" => {
                let b = bytes.get(21..25)?;
                let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((u24_le(24)? + 1, u24_le(27)? + 1)),
            _ => None,
        },
        MediaType::Jpeg => {
            // Walk the segments to the first start-of-frame marker.
            let mut at = 2;
            while at + 9 < bytes.len().min(64 * 1024) {
                if bytes[at] != 0xff {
                    return None;
                }
                let marker = bytes[at + 1];
                if marker == 0xff {
                    at += 1;
                    continue;
                }
                let length = usize::try_from(u16_be(at + 2)?).ok()?;
                let start_of_frame = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
                if start_of_frame {
                    return Some((u16_be(at + 7)?, u16_be(at + 5)?));
                }
                if length < 2 {
                    return None;
                }
                at += 2 + length;
            }
            None
        }
        _ => None,
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
    /// Its length in characters.
    pub const MAX_LEN: usize = 64;
    /// Its rule as a regular expression, for documents that declare it.
    pub const PATTERN: &'static str = "^[0-9a-f]{64}$";

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
        schema.insert("pattern".into(), Self::PATTERN.into());
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
    /// A picture's size as its header states it (none for anything else, or a header that
    /// cannot be read); the console shows a picture only when the size is safe to decode.
    pub image_size: Option<ImageSize>,
}

/// An attachment's bytes were deleted: the team keeps attachments for `retention_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentRemoved {
    /// The session the attachment was sent in.
    pub session_id: Uuid,
    /// The attachment.
    pub attachment_id: Uuid,
    /// The blob that was deleted.
    pub hash: ContentHash,
    /// The team's retention when they were deleted, in days.
    pub retention_days: u32,
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

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(width.to_be_bytes());
        png.extend(height.to_be_bytes());
        png.extend([8, 6, 0, 0, 0]);
        png
    }

    #[test]
    fn pictures_show_inline_only_at_a_size_a_browser_decodes_safely() {
        assert_eq!(image_size(&png(640, 480)), Some(ImageSize { width: 640, height: 480 }));
        assert!(MediaType::shows_inline(&png(4032, 3024)), "a phone photo");
        assert!(!MediaType::shows_inline(&png(100_000, 100_000)), "a decompression bomb is a download");
        assert!(!MediaType::shows_inline(&png(20_000, 10)), "too wide");
        assert!(!MediaType::shows_inline(&png(0, 10)));
        assert!(!MediaType::shows_inline(&png(640, 480)[..20]), "a truncated header is a download");
        let gif = b"GIF89a\x80\x02\xe0\x01\0\0\0";
        assert_eq!(image_dimensions(gif), Some((640, 480)));
        // A JPEG: SOI, an APP0 segment, then a baseline frame of 480 rows × 640 columns.
        let jpeg =
            b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xc0\0\x11\x08\x01\xe0\x02\x80\x03\x01\x22\0";
        assert_eq!(image_dimensions(jpeg), Some((640, 480)));
        assert!(MediaType::shows_inline(jpeg));
        // A JPEG whose segment lengths loop or run off the end is read as no size.
        assert_eq!(image_size(b"\xff\xd8\xff\xe0\0\x00\xff\xe0\0\x00\0\0\0\0"), None);
        assert_eq!(image_size(b"\xff\xd8\xff\xe0\xff\xff\0\0\0\0\0\0\0\0"), None);
        let webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x7f\x02\0\xdf\x01\0";
        assert_eq!(image_dimensions(webp), Some((640, 480)));
        assert!(!MediaType::shows_inline(b"<svg width='10' height='10'/>"), "markup never shows");
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
