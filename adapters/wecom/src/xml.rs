//! The XML WeCom sends: the encrypted callback envelope and the decrypted messages and
//! events, parsed into types; plus the reverse, so the simulator and tests write exactly
//! what WeCom writes (CDATA included).

use serde::Deserialize;
use switchboard_schemas::attachment::AttachmentKind;

/// Why a payload could not be read as WeCom XML. Never carries the payload itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML, or not the expected shape.
    #[error("malformed {what} XML: {detail}")]
    Malformed {
        /// Which payload (envelope or message).
        what: &'static str,
        /// The parser's complaint (about structure; it does not quote content).
        detail: String,
    },
    /// A required element is missing or empty.
    #[error("the {what} has no {element}")]
    Missing {
        /// Which payload.
        what: &'static str,
        /// The element.
        element: &'static str,
    },
    /// A numeric element is not a number.
    #[error("the {what}'s {element} is not a number")]
    NotANumber {
        /// Which payload.
        what: &'static str,
        /// The element.
        element: &'static str,
    },
}

/// The outer body of an encrypted callback: `<xml><ToUserName/><AgentID/><Encrypt/></xml>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The CorpID the message was sent to.
    pub to_user_name: Option<String>,
    /// The application's agent id, when present.
    pub agent_id: Option<String>,
    /// The base64 ciphertext the signature covers.
    pub encrypt: String,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "AgentID")]
    agent_id: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

/// Fields every decrypted message and event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The CorpID.
    pub to_user_name: String,
    /// The member's UserID.
    pub from_user_name: String,
    /// Unix seconds when WeCom created it; with the sender, the dedupe key of events.
    pub create_time: i64,
    /// The application's agent id, when present.
    pub agent_id: Option<String>,
}

/// An event of the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The member opened the application.
    EnterAgent,
    /// A menu item of the application was clicked.
    Click {
        /// The menu item's key.
        key: String,
    },
    /// A menu link was opened.
    View {
        /// The link.
        url: String,
    },
    /// A button of a template card was clicked.
    TemplateCard {
        /// The button's key.
        key: String,
        /// The card's task id (unique per application).
        task_id: Option<String>,
        /// The card's type.
        card_type: Option<String>,
        /// The code to update the card with.
        response_code: Option<String>,
    },
    /// Any other event (subscribe, location, …), kept by name.
    Other {
        /// The `Event` value.
        name: String,
    },
}

/// What a decrypted callback says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A text message.
    Text {
        /// WeCom's message id (the dedupe key).
        msg_id: String,
        /// The text.
        content: String,
    },
    /// An image, voice, video or file message: its bytes are fetched with `media/get`.
    Media {
        /// WeCom's message id.
        msg_id: String,
        /// Which kind (the `MsgType`).
        kind: AttachmentKind,
        /// The media id for the media API (valid for three days).
        media_id: String,
        /// A file's name (`FileName`), when WeCom gives one.
        file_name: Option<String>,
        /// A voice message's recognised text (`Recognition`), when speech recognition is on.
        recognition: Option<String>,
    },
    /// An event.
    Event(Event),
    /// Another message type (location, link, …).
    Other {
        /// The `MsgType` value.
        msg_type: String,
        /// Its message id, when it has one.
        msg_id: Option<String>,
    },
}

/// A decrypted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender, recipient, time and agent.
    pub header: Header,
    /// The content.
    pub body: Body,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
    #[serde(rename = "MediaId")]
    media_id: Option<String>,
    #[serde(rename = "FileName")]
    file_name: Option<String>,
    #[serde(rename = "Recognition")]
    recognition: Option<String>,
    #[serde(rename = "AgentID")]
    agent_id: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "TaskId")]
    task_id: Option<String>,
    #[serde(rename = "CardType")]
    card_type: Option<String>,
    #[serde(rename = "ResponseCode")]
    response_code: Option<String>,
}

/// Checks that the document is well-formed with a single root element before serde sees
/// it (serde would ignore an unclosed root or trailing elements).
fn well_formed(xml: &str, what: &'static str) -> Result<(), XmlError> {
    use quick_xml::events::Event as X;
    let malformed = |detail: String| XmlError::Malformed { what, detail };
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event().map_err(|e| malformed(e.to_string()))? {
            X::Start(_) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            X::Empty(_) if depth == 0 => roots += 1,
            X::End(_) => depth = depth.saturating_sub(1),
            X::Text(t) if depth == 0 && !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(malformed("text outside the root element".into()));
            }
            X::CData(_) if depth == 0 => return Err(malformed("text outside the root element".into())),
            X::DocType(_) => return Err(malformed("a document type declaration is not allowed".into())),
            X::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(malformed("the document ends inside an element".into()));
    }
    if roots != 1 {
        return Err(malformed(format!("expected one root element, found {roots}")));
    }
    Ok(())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Parses the encrypted callback envelope.
pub fn parse_envelope(xml: &str) -> Result<Envelope, XmlError> {
    const WHAT: &str = "envelope";
    well_formed(xml, WHAT)?;
    let raw: RawEnvelope =
        quick_xml::de::from_str(xml).map_err(|e| XmlError::Malformed { what: WHAT, detail: e.to_string() })?;
    let encrypt = non_empty(raw.encrypt).ok_or(XmlError::Missing { what: WHAT, element: "Encrypt" })?;
    Ok(Envelope { to_user_name: non_empty(raw.to_user_name), agent_id: non_empty(raw.agent_id), encrypt })
}

/// Parses a decrypted message or event.
pub fn parse_message(xml: &str) -> Result<Message, XmlError> {
    const WHAT: &str = "message";
    well_formed(xml, WHAT)?;
    let raw: RawMessage =
        quick_xml::de::from_str(xml).map_err(|e| XmlError::Malformed { what: WHAT, detail: e.to_string() })?;
    let missing = |element| XmlError::Missing { what: WHAT, element };
    let create_time = non_empty(raw.create_time)
        .ok_or(missing("CreateTime"))?
        .parse::<i64>()
        .map_err(|_| XmlError::NotANumber { what: WHAT, element: "CreateTime" })?;
    let header = Header {
        to_user_name: non_empty(raw.to_user_name).unwrap_or_default(),
        from_user_name: non_empty(raw.from_user_name).ok_or(missing("FromUserName"))?,
        create_time,
        agent_id: non_empty(raw.agent_id),
    };
    let msg_type = non_empty(raw.msg_type).ok_or(missing("MsgType"))?;
    let body = match msg_type.as_str() {
        "text" => Body::Text {
            msg_id: non_empty(raw.msg_id).ok_or(missing("MsgId"))?,
            // The text is kept as sent (an empty text is the engine's to refuse).
            content: raw.content.unwrap_or_default(),
        },
        "image" | "voice" | "video" | "file" => Body::Media {
            msg_id: non_empty(raw.msg_id).ok_or(missing("MsgId"))?,
            kind: msg_type.parse().map_err(|_| missing("MsgType"))?,
            media_id: non_empty(raw.media_id).ok_or(missing("MediaId"))?,
            file_name: non_empty(raw.file_name),
            recognition: non_empty(raw.recognition),
        },
        "event" => {
            let name = non_empty(raw.event).ok_or(missing("Event"))?;
            Body::Event(match name.as_str() {
                "enter_agent" => Event::EnterAgent,
                "click" => Event::Click { key: non_empty(raw.event_key).ok_or(missing("EventKey"))? },
                "view" => Event::View { url: non_empty(raw.event_key).unwrap_or_default() },
                "template_card_event" => Event::TemplateCard {
                    key: non_empty(raw.event_key).ok_or(missing("EventKey"))?,
                    task_id: non_empty(raw.task_id),
                    card_type: non_empty(raw.card_type),
                    response_code: non_empty(raw.response_code),
                },
                _ => Event::Other { name },
            })
        }
        _ => Body::Other { msg_type, msg_id: non_empty(raw.msg_id) },
    };
    Ok(Message { header, body })
}

/// Escapes text for an element's content.
pub fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Makes text safe inside `<![CDATA[…]]>` (splits any `]]>`).
pub fn escape_cdata(text: &str) -> String {
    text.replace("]]>", "]]]]><![CDATA[>")
}

fn cdata(name: &str, value: &str) -> String {
    format!("<{name}><![CDATA[{}]]></{name}>", escape_cdata(value))
}

impl Envelope {
    /// Writes the envelope as WeCom does.
    pub fn to_xml(&self) -> String {
        let mut xml = String::from("<xml>");
        if let Some(to) = &self.to_user_name {
            xml.push_str(&cdata("ToUserName", to));
        }
        xml.push_str(&cdata("Encrypt", &self.encrypt));
        if let Some(agent) = &self.agent_id {
            xml.push_str(&cdata("AgentID", agent));
        }
        xml.push_str("</xml>");
        xml
    }
}

impl Message {
    /// Writes the message as WeCom does (strings in CDATA, numbers bare).
    pub fn to_xml(&self) -> String {
        let h = &self.header;
        let mut xml = String::from("<xml>");
        xml.push_str(&cdata("ToUserName", &h.to_user_name));
        xml.push_str(&cdata("FromUserName", &h.from_user_name));
        xml.push_str(&format!("<CreateTime>{}</CreateTime>", h.create_time));
        let push_opt = |xml: &mut String, name: &str, value: &Option<String>| {
            if let Some(v) = value {
                xml.push_str(&cdata(name, v));
            }
        };
        match &self.body {
            Body::Text { msg_id, content } => {
                xml.push_str(&cdata("MsgType", "text"));
                xml.push_str(&cdata("Content", content));
                xml.push_str(&format!("<MsgId>{}</MsgId>", escape_text(msg_id)));
            }
            Body::Media { msg_id, kind, media_id, file_name, recognition } => {
                xml.push_str(&cdata("MsgType", kind.as_str()));
                xml.push_str(&cdata("MediaId", media_id));
                push_opt(&mut xml, "FileName", file_name);
                push_opt(&mut xml, "Recognition", recognition);
                xml.push_str(&format!("<MsgId>{}</MsgId>", escape_text(msg_id)));
            }
            Body::Event(event) => {
                xml.push_str(&cdata("MsgType", "event"));
                match event {
                    Event::EnterAgent => {
                        xml.push_str(&cdata("Event", "enter_agent"));
                        xml.push_str("<EventKey><![CDATA[]]></EventKey>");
                    }
                    Event::Click { key } => {
                        xml.push_str(&cdata("Event", "click"));
                        xml.push_str(&cdata("EventKey", key));
                    }
                    Event::View { url } => {
                        xml.push_str(&cdata("Event", "view"));
                        xml.push_str(&cdata("EventKey", url));
                    }
                    Event::TemplateCard { key, task_id, card_type, response_code } => {
                        xml.push_str(&cdata("Event", "template_card_event"));
                        xml.push_str(&cdata("EventKey", key));
                        push_opt(&mut xml, "TaskId", task_id);
                        push_opt(&mut xml, "CardType", card_type);
                        push_opt(&mut xml, "ResponseCode", response_code);
                    }
                    Event::Other { name } => xml.push_str(&cdata("Event", name)),
                }
            }
            Body::Other { msg_type, msg_id } => {
                xml.push_str(&cdata("MsgType", msg_type));
                if let Some(id) = msg_id {
                    xml.push_str(&format!("<MsgId>{}</MsgId>", escape_text(id)));
                }
            }
        }
        if let Some(agent) = &h.agent_id {
            xml.push_str(&format!("<AgentID>{}</AgentID>", escape_text(agent)));
        }
        xml.push_str("</xml>");
        xml
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header() -> Header {
        Header {
            to_user_name: "ww1234".into(),
            from_user_name: "zhangsan".into(),
            create_time: 1_700_000_000,
            agent_id: Some("1000002".into()),
        }
    }

    #[test]
    fn text_with_and_without_cdata() {
        let with = "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
                    <CreateTime>1409659813</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                    <Content><![CDATA[奖品库存 <不足> & 怎么办]]></Content><MsgId>4561255354251345929</MsgId>\
                    <AgentID>218</AgentID></xml>";
        let m = parse_message(with).unwrap();
        assert_eq!(m.header.from_user_name, "lisi");
        assert_eq!(m.header.create_time, 1_409_659_813);
        assert_eq!(m.header.agent_id.as_deref(), Some("218"));
        assert_eq!(
            m.body,
            Body::Text { msg_id: "4561255354251345929".into(), content: "奖品库存 <不足> & 怎么办".into() }
        );
        let without = "<xml><ToUserName>ww1</ToUserName><FromUserName>lisi</FromUserName><CreateTime>1</CreateTime>\
                       <MsgType>text</MsgType><Content>a &amp; b</Content><MsgId>7</MsgId></xml>";
        let m = parse_message(without).unwrap();
        assert_eq!(m.body, Body::Text { msg_id: "7".into(), content: "a & b".into() });
        assert_eq!(m.header.agent_id, None);
    }

    #[test]
    fn media_and_events() {
        for (kind, file_name, recognition) in [
            (AttachmentKind::Image, None, None),
            (AttachmentKind::Voice, None, Some("奖品没到账".to_owned())),
            (AttachmentKind::Video, None, None),
            (AttachmentKind::File, Some("报名表 <2026>.xlsx".to_owned()), None),
        ] {
            let body = Body::Media { msg_id: "42".into(), kind, media_id: "MEDIA_1".into(), file_name, recognition };
            let media = Message { header: header(), body };
            assert_eq!(parse_message(&media.to_xml()).unwrap(), media);
        }
        // As WeCom writes an image: PicUrl beside the MediaId (not needed: the media API
        // serves the bytes).
        let image = "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
                     <CreateTime>1348831860</CreateTime><MsgType><![CDATA[image]]></MsgType>\
                     <PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId>\
                     <MsgId>1234567890123456</MsgId><AgentID>1</AgentID></xml>";
        assert!(matches!(parse_message(image).unwrap().body, Body::Media { kind: AttachmentKind::Image, .. }));
        let without_media = image.replace("<MediaId><![CDATA[media_id]]></MediaId>", "");
        assert_eq!(parse_message(&without_media), Err(XmlError::Missing { what: "message", element: "MediaId" }));
        for event in [
            Event::EnterAgent,
            Event::Click { key: "human".into() },
            Event::View { url: "https://example.com/x?a=1&b=2".into() },
            Event::TemplateCard {
                key: "resolved".into(),
                task_id: Some("task-1".into()),
                card_type: Some("button_interaction".into()),
                response_code: Some("rc".into()),
            },
            Event::Other { name: "subscribe".into() },
        ] {
            let message = Message { header: header(), body: Body::Event(event) };
            assert_eq!(parse_message(&message.to_xml()).unwrap(), message);
        }
        let other =
            Message { header: header(), body: Body::Other { msg_type: "location".into(), msg_id: Some("9".into()) } };
        assert_eq!(parse_message(&other.to_xml()).unwrap(), other);
    }

    #[test]
    fn a_template_card_event_with_nested_elements_parses() {
        let xml = "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
                   <CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                   <Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[not_resolved]]></EventKey>\
                   <TaskId><![CDATA[t1]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>\
                   <ResponseCode><![CDATA[rc]]></ResponseCode><AgentID>1</AgentID>\
                   <SelectedItems><SelectedItem><QuestionKey><![CDATA[q]]></QuestionKey>\
                   <OptionIds><OptionId><![CDATA[o]]></OptionId></OptionIds></SelectedItem></SelectedItems></xml>";
        let m = parse_message(xml).unwrap();
        assert!(matches!(m.body, Body::Event(Event::TemplateCard { ref key, .. }) if key == "not_resolved"));
    }

    #[test]
    fn cdata_containing_the_terminator_survives_a_round_trip() {
        let m = Message { header: header(), body: Body::Text { msg_id: "1".into(), content: "a ]]> b".into() } };
        assert_eq!(parse_message(&m.to_xml()).unwrap(), m);
    }

    #[test]
    fn envelopes_parse_and_round_trip() {
        let e = Envelope { to_user_name: Some("ww1".into()), agent_id: Some("218".into()), encrypt: "abc+/=".into() };
        assert_eq!(parse_envelope(&e.to_xml()).unwrap(), e);
        assert_eq!(
            parse_envelope("<xml><ToUserName>a</ToUserName></xml>"),
            Err(XmlError::Missing { what: "envelope", element: "Encrypt" })
        );
    }

    #[test]
    fn malformed_documents_are_typed_errors() {
        for bad in [
            "",
            "not xml",
            "<xml><Encrypt>abc</Encrypt>",
            "<xml><Encrypt>abc</Wrong></xml>",
            "<xml><Encrypt>abc</Encrypt></xml><xml/>",
            "<xml><Encrypt>abc</Encrypt></xml>trailing",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><xml><Encrypt>&a;</Encrypt></xml>",
            "<xml><Encrypt>&unknown;</Encrypt></xml>",
            "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
        ] {
            let result = parse_envelope(bad);
            assert!(
                matches!(result, Err(XmlError::Malformed { .. } | XmlError::Missing { .. })),
                "{bad:?} gave {result:?}"
            );
        }
        let no_time = "<xml><FromUserName>a</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>";
        assert_eq!(parse_message(no_time), Err(XmlError::Missing { what: "message", element: "CreateTime" }));
        let bad_time =
            "<xml><FromUserName>a</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>";
        assert_eq!(parse_message(bad_time), Err(XmlError::NotANumber { what: "message", element: "CreateTime" }));
        let no_id = "<xml><FromUserName>a</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
        assert_eq!(parse_message(no_id), Err(XmlError::Missing { what: "message", element: "MsgId" }));
    }
}
