//! Operators' attachments in the API: the conversation lists them, and their bytes are
//! served to keys of the team only, inertly (the type from the bytes, `nosniff`, a sandbox,
//! pictures inline only at a size a browser decodes safely).

#![allow(clippy::unwrap_used)]

use poem::http::StatusCode;
use switchboard_engine::blobs::Blob;
use switchboard_engine::conversation::{AttachmentOutcome, Command, IncomingAttachment};
use switchboard_http::testing::{harness, Harness};
use switchboard_schemas::attachment::{image_size, AttachmentKind, AttachmentSource, MediaType};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::Channel;
use switchboard_schemas::{MessageId, TeamId, UserId};
use uuid::Uuid;

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(width.to_be_bytes());
    png.extend(height.to_be_bytes());
    png.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    png
}

/// Records an attachment in `user`'s conversation of `ops` as the core would after
/// fetching `bytes`; returns the path the conversation names for it.
async fn attach(h: &Harness, user: &str, message_id: &str, name: Option<&str>, bytes: Vec<u8>) -> String {
    let (team, user) = (TeamId::new("ops").unwrap(), UserId::new(user).unwrap());
    let command = Command::ReceiveAttachment {
        user: user.clone(),
        message_id: MessageId(message_id.into()),
        attachment: IncomingAttachment {
            kind: AttachmentKind::File,
            name: name.map(String::from),
            source: AttachmentSource::WecomMedia { media_id: format!("media-{message_id}") },
        },
        text: None,
        channel: Channel::Wecom,
    };
    let cause = Causation::root(Uuid::now_v7());
    h.runtime.conversation(&team, &user, command, cause).await.unwrap();
    let state = h.runtime.load_conversation(&team, &user).await.unwrap();
    let attachment_id = *state.pending_attachments.keys().next().unwrap();
    let blob = Blob::new(bytes);
    let info = h.state.blobs.put(&team, &blob, chrono::Utc::now()).await.unwrap();
    let outcome = AttachmentOutcome::Stored {
        hash: info.hash.clone(),
        size: info.size,
        media_type: MediaType::sniff(blob.bytes()),
        image_size: image_size(blob.bytes()),
    };
    h.runtime.conversation(&team, &user, Command::RecordAttachment { attachment_id, outcome }, cause).await.unwrap();
    format!("/api/v1/teams/ops/attachments/{}", info.hash)
}

fn header<'a>(headers: &'a poem::http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_is_listed_and_served_inline_to_the_team_only() {
    let h = harness().await;
    let bytes = png(1280, 720);
    let path = attach(&h, "zhangsan", "m1", None, bytes.clone()).await;
    let (status, view) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/conversations/zhangsan").await;
    assert_eq!(status, StatusCode::OK);
    let attachment = &view["sessions"][0]["attachments"][0];
    assert_eq!(attachment["state"], "stored", "{view}");
    assert_eq!((attachment["kind"].as_str(), attachment["media_type"].as_str()), (Some("file"), Some("image/png")));
    assert_eq!((attachment["inline"].as_bool(), attachment["url"].as_str()), (Some(true), Some(path.as_str())));

    let (status, headers, served) = h.download(&h.keys.ops_viewer, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, bytes);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert!(header(&headers, "content-disposition").starts_with("inline;"), "{headers:?}");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "content-security-policy"), "default-src 'none'; sandbox");
    assert_eq!(header(&headers, "cache-control"), "no-store", "kept by no cache: keys are revoked, files deleted");

    // Another team's key, no key, a hash the team does not have, a malformed hash.
    assert_eq!(h.download(&h.keys.games_admin, &path).await.0, StatusCode::FORBIDDEN);
    let games_path = path.replace("/teams/ops/", "/teams/games/");
    let (status, _, body) = h.download(&h.keys.games_admin, &games_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = h.exchange_raw(poem::http::Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unknown = format!("/api/v1/teams/ops/attachments/{}", "0".repeat(64));
    let (status, body) = h.get(&h.keys.ops_viewer, &unknown).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_attachment")), "{body}");
    let (status, body) = h.get(&h.keys.ops_viewer, "/api/v1/teams/ops/attachments/..%2f..%2fevents.sqlite").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_only_ever_downloads() {
    let h = harness().await;
    // A page named like a picture, an SVG with script, a picture claiming 100,000² pixels.
    for (i, (name, bytes, content_type)) in [
        ("prize.png", b"<html><script>alert(document.cookie)</script>".to_vec(), "text/plain; charset=utf-8"),
        (
            "logo.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec(),
            "text/plain; charset=utf-8",
        ),
        ("bomb.png", png(100_000, 100_000), "image/png"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("op{i}");
        let path = attach(&h, &user, &format!("h{i}"), Some(name), bytes.clone()).await;
        let (_, view) = h.get(&h.keys.ops_viewer, &format!("/api/v1/teams/ops/conversations/{user}")).await;
        assert_eq!(view["sessions"][0]["attachments"][0]["inline"], false, "{name}: {view}");
        let (status, headers, served) = h.download(&h.keys.ops_viewer, &format!("{path}?name={name}")).await;
        assert_eq!((status, served), (StatusCode::OK, bytes), "{name}");
        assert_eq!(header(&headers, "content-type"), content_type, "{name}");
        let disposition = header(&headers, "content-disposition");
        assert!(disposition.starts_with("attachment;"), "{name}: {disposition}");
        let saved =
            if name == "bomb.png" { name.to_owned() } else { name.replace(".png", ".txt").replace(".svg", ".txt") };
        assert!(
            disposition.contains(&format!("filename=\"{saved}\"")),
            "saved as {saved}, never as markup: {disposition}"
        );
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    }
    // A file's own name is kept, encoded, whatever it holds.
    let path = attach(&h, "op9", "h9", None, b"%PDF-1.7".to_vec()).await;
    let (_, headers, _) = h.download(&h.keys.ops_viewer, &format!("{path}?name=%E6%8A%A5%E5%90%8D%22.pdf")).await;
    let disposition = header(&headers, "content-disposition");
    assert!(disposition.ends_with("filename*=UTF-8''%E6%8A%A5%E5%90%8D%22.pdf"), "{disposition}");
    assert_eq!(header(&headers, "content-type"), "application/pdf");
}
