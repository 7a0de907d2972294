//! Whether a generated reply stays within its FAQ.
//!
//! A model that rewords an answer can still invent the one thing operators act on: a
//! number (a limit, a time, an amount) or a link. A reply may therefore only contain
//! numbers and links that appear in the FAQ's question or answer; everything else about
//! the wording is the model's. The check is deliberately strict: refusing a good
//! rewording costs nothing (the FAQ's own words are sent), sending a wrong number does.

/// Why a reply is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ungrounded {
    /// Nothing but white space.
    #[error("the reply is empty")]
    Empty,
    /// The model said the FAQ does not answer the question.
    #[error("the model found that the FAQ does not answer the question")]
    NoAnswer,
    /// Longer than allowed.
    #[error("the reply has {chars} characters; at most {max} are sent")]
    TooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A number the FAQ does not state.
    #[error("the reply states {0:?}, which the FAQ does not")]
    InventedNumber(String),
    /// A link the FAQ does not give.
    #[error("the reply links to {0:?}, which the FAQ does not")]
    InventedLink(String),
}

/// The numbers in `text`: runs of digits, with a decimal point or separators inside
/// (`1,000`, `0.5`), full-width digits read as ASCII.
fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().map(half_width).collect();
    for (i, &c) in chars.iter().enumerate() {
        let inside =
            matches!(c, '.' | ',') && !current.is_empty() && chars.get(i + 1).is_some_and(|next| next.is_ascii_digit());
        if c.is_ascii_digit() {
            current.push(c);
        } else if inside {
            // A separator is not part of the value: "1,000" and "1000" are the same number.
            if c == '.' {
                current.push(c);
            }
        } else if !current.is_empty() {
            found.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        found.push(current);
    }
    found
}

fn half_width(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c),
        '．' => '.',
        '，' => ',',
        _ => c,
    }
}

/// The links in `text` (`http://…`, `https://…`, up to white space or closing punctuation).
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (start, _) in text.match_indices("http") {
        let rest = &text[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '）' | '」' | '>' | '"' | '\'' | '，' | '。' | '、'))
            .unwrap_or(rest.len());
        found.push(rest[..end].trim_end_matches(['.', ',', ';', ':']).to_owned());
    }
    found
}

/// The reply, trimmed, when it may be sent in place of `faq_answer`.
pub fn check(reply: &str, faq_question: &str, faq_answer: &str, max_chars: usize) -> Result<String, Ungrounded> {
    let reply = reply.trim();
    if reply.is_empty() {
        return Err(Ungrounded::Empty);
    }
    if reply.trim_matches(|c: char| !c.is_alphanumeric() && c != '_') == crate::NO_ANSWER {
        return Err(Ungrounded::NoAnswer);
    }
    let chars = reply.chars().count();
    if chars > max_chars {
        return Err(Ungrounded::TooLong { chars, max: max_chars });
    }
    let source = format!("{faq_question}\n{faq_answer}");
    let known_numbers = numbers(&source);
    if let Some(number) = numbers(reply).into_iter().find(|n| !known_numbers.contains(n)) {
        return Err(Ungrounded::InventedNumber(number));
    }
    let known_links = links(&source);
    if let Some(link) = links(reply).into_iter().find(|l| !known_links.contains(l)) {
        return Err(Ungrounded::InventedLink(link));
    }
    Ok(reply.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUESTION: &str = "奖品库存不足怎么办？";
    const ANSWER: &str = "在 奖品管理 → 库存 中追加库存，库存低于 10% 时会通知，详见 https://help.example.com/stock 。";

    fn check_reply(reply: &str) -> Result<String, Ungrounded> {
        check(reply, QUESTION, ANSWER, 200)
    }

    #[test]
    fn a_rewording_with_the_faqs_own_facts_passes() {
        let reply = "  到 奖品管理 → 库存 追加即可；低于 10% 会提醒你。说明见 https://help.example.com/stock\n";
        assert_eq!(
            check_reply(reply).as_deref(),
            Ok("到 奖品管理 → 库存 追加即可；低于 10% 会提醒你。说明见 https://help.example.com/stock")
        );
        assert!(check_reply("库存低于１０%会通知。").is_ok(), "full-width digits are the same number");
    }

    #[test]
    fn an_invented_number_or_link_is_refused() {
        assert_eq!(check_reply("追加库存，24 小时内生效。"), Err(Ungrounded::InventedNumber("24".into())));
        assert_eq!(check_reply("低于 15% 时通知。"), Err(Ungrounded::InventedNumber("15".into())));
        assert_eq!(check_reply("低于 10.5% 时通知。"), Err(Ungrounded::InventedNumber("10.5".into())));
        assert_eq!(
            check_reply("见 https://evil.example.com/stock。"),
            Err(Ungrounded::InventedLink("https://evil.example.com/stock".into()))
        );
    }

    #[test]
    fn empty_no_answer_and_overlong_replies_are_refused() {
        assert_eq!(check_reply(" \n "), Err(Ungrounded::Empty));
        assert_eq!(check_reply("NO_ANSWER"), Err(Ungrounded::NoAnswer));
        assert_eq!(check_reply("NO_ANSWER."), Err(Ungrounded::NoAnswer));
        assert_eq!(check_reply(&"长".repeat(201)), Err(Ungrounded::TooLong { chars: 201, max: 200 }));
    }

    #[test]
    fn separators_do_not_make_numbers_different() {
        assert_eq!(numbers("1,000 人，0.5 元，第3步"), vec!["1000", "0.5", "3"]);
        assert_eq!(numbers("版本 2.0."), vec!["2.0"]);
    }
}
