//! Text analysis shared by indexing and querying, so both sides see the same terms.
//!
//! 1. Normalise: full-width ASCII (`Ａ`, `１`, `？`) and the ideographic space become their
//!    half-width forms, and everything is lowercased.
//! 2. Split into runs: Han characters, other letters and digits ("words"), and separators
//!    (whitespace and punctuation, which never become terms).
//! 3. Han runs are segmented by jieba in search mode (with HMM for unknown words), so long
//!    words also yield their dictionary sub-words ("开始时间" also gives "开始", "时间").
//! 4. Word runs are English-like: a short stopword list is dropped and the rest is reduced
//!    by the Snowball English stemmer ("changing" and "change" both give "chang").
//! 5. Very common Chinese function words and greetings are dropped; question words such as
//!    "怎么", "什么" and "为什么" and negations ("不", "没") are kept because they change
//!    what is being asked.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};

/// English words too common to tell questions apart (compared before stemming).
const ENGLISH_STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "to", "of", "in",
    "on", "at", "for", "with", "by", "from", "and", "or", "but", "if", "so", "as", "it", "its", "it's", "this", "that",
    "these", "those", "i", "i'm", "me", "my", "we", "our", "us", "you", "your", "he", "she", "they", "them", "their",
    "there", "here", "please", "hi", "hello", "thanks", "thank", "just", "can", "could", "would", "should", "will",
    "shall", "s", "t",
];

/// Chinese function words, pronouns and greetings that carry no topic.
const CHINESE_STOPWORDS: &[&str] = &[
    "的", "了", "吗", "呢", "吧", "啊", "呀", "嘛", "哦", "是", "我", "你", "您", "在", "和", "请问", "你好", "您好",
    "谢谢", "一下", "麻烦", "我们", "你们",
];

/// The one process-wide segmenter: loading its dictionary takes a noticeable moment.
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// The one process-wide English stemmer.
fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// True for the CJK ideograph blocks jieba segments.
fn is_han(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2EBEF
            | 0x2F800..=0x2FA1F
    )
}

/// Full-width ASCII and the ideographic space to their half-width forms.
fn half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Normalises `text` (half-width, lowercase).
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(half_width) {
        out.extend(c.to_lowercase());
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Han,
    Word,
    Separator,
}

fn class_of(c: char) -> Class {
    if is_han(c) {
        Class::Han
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Separator
    }
}

fn push_chinese(run: &str, out: &mut Vec<String>) {
    for word in jieba().cut_for_search(run, true) {
        if !CHINESE_STOPWORDS.contains(&word) && word.chars().any(char::is_alphanumeric) {
            out.push(word.to_owned());
        }
    }
}

fn push_word(word: &str, out: &mut Vec<String>) {
    let word = word.trim_end_matches('\'');
    if word.is_empty() || ENGLISH_STOPWORDS.contains(&word) {
        return;
    }
    let stem = stemmer().stem(word);
    let stem = stem.trim_end_matches('\'');
    if !stem.is_empty() {
        out.push(stem.to_owned());
    }
}

/// The terms of `text`, in order and with repetitions, exactly as the index sees them.
///
/// Exposed so tests, tools and operators debugging a surprising match can see why two
/// wordings do or do not share terms.
pub fn analyze(text: &str) -> Vec<String> {
    let text = normalise(text);
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let class = class_of(c);
        let mut end = start + c.len_utf8();
        if class == Class::Separator {
            continue;
        }
        while let Some(&(i, next)) = chars.peek() {
            let next_class = class_of(next);
            let joins = next_class == class
                || (class == Class::Word && is_apostrophe(next) && {
                    // An apostrophe joins a word only between letters ("don't", "operator's").
                    let after = text[i + next.len_utf8()..].chars().next();
                    after.is_some_and(|a| class_of(a) == Class::Word)
                });
            if !joins {
                break;
            }
            end = i + next.len_utf8();
            chars.next();
        }
        let run = &text[start..end];
        match class {
            Class::Han => push_chinese(run, &mut out),
            Class::Word => push_word(&run.replace('\u{2019}', "'"), &mut out),
            Class::Separator => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_is_folded_and_lowercased() {
        assert_eq!(analyze("ＡＰＩ　Ｋｅｙ１２３"), vec!["api", "key123"]);
    }

    #[test]
    fn punctuation_and_stopwords_are_dropped() {
        assert!(analyze("？？！，。... ,;").is_empty());
        assert_eq!(analyze("The activity"), vec!["activ"]);
        assert!(!analyze("请问活动的时间").iter().any(|t| t == "的" || t == "请问"));
    }

    #[test]
    fn apostrophes_join_english_words() {
        let terms = analyze("the operator’s activity");
        assert_eq!(terms, vec!["oper", "activ"]);
    }

    #[test]
    fn mixed_scripts_split_into_runs() {
        let terms = analyze("活动ID怎么改 start time");
        for expected in ["活动", "id", "怎么", "改", "start", "time"] {
            assert!(terms.iter().any(|t| t == expected), "{expected} missing from {terms:?}");
        }
    }
}
