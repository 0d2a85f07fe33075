//! A golden answer: plain text, or (CuratedTREC) a regular expression.

use crate::error::{Error, Result};

/// Rewrites the Python `re` escapes that Rust's `regex` spells differently: Python accepts a
/// backslash before any non-alphanumeric character as that literal character (`\,`, `\%`,
/// `\ `; CuratedTREC uses them), Rust only before its meta characters, so each becomes
/// `\x{…}`, which means the same inside and outside classes; Python's `\Z` is Rust's `\z`.
pub fn translate_python_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Z') => out.push_str("\\z"),
            Some(next) if next.is_ascii_alphanumeric() => {
                out.push('\\');
                out.push(next);
            }
            Some(next) => out.push_str(&format!("\\x{{{:X}}}", next as u32)),
            None => out.push('\\'),
        }
    }
    out
}

/// A compiled CuratedTREC answer pattern, matched case-insensitively as Python's `re` with
/// `re.IGNORECASE` (FlashRAG) / `re.IGNORECASE | re.UNICODE | re.MULTILINE` (DPR's recall).
#[derive(Debug, Clone)]
pub struct AnswerRegex {
    source: String,
    full: regex::Regex,
    anywhere: regex::Regex,
}

impl AnswerRegex {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self> {
        let translated = translate_python_regex(pattern);
        let compile = |text: String| {
            regex::RegexBuilder::new(&text)
                .case_insensitive(true)
                .multi_line(true)
                .build()
                .map_err(|source| Error::BadPattern {
                    pattern: pattern.to_owned(),
                    source,
                })
        };
        Ok(Self {
            source: pattern.to_owned(),
            full: compile(format!(r"\A(?:{translated})\z"))?,
            anywhere: compile(translated.clone())?,
        })
    }

    /// `re.fullmatch`.
    pub fn full_match(&self, text: &str) -> bool {
        self.full.is_match(text)
    }

    /// `re.search`.
    pub fn search(&self, text: &str) -> bool {
        self.anywhere.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// One golden answer.
#[derive(Debug, Clone)]
pub enum AnswerPattern {
    /// A string compared after normalisation.
    Text(String),
    /// A regular expression (CuratedTREC).
    Regex(AnswerRegex),
}

impl AnswerPattern {
    /// Plain-text golden answers.
    pub fn texts(answers: &[&str]) -> Vec<Self> {
        answers
            .iter()
            .map(|a| Self::Text((*a).to_owned()))
            .collect()
    }

    /// A regex answer.
    pub fn regex(pattern: &str) -> Result<Self> {
        Ok(Self::Regex(AnswerRegex::new(pattern)?))
    }

    /// Golden answers of one question, as regexes when `regex` is set.
    pub fn all(answers: &[String], regex: bool) -> Result<Vec<Self>> {
        answers
            .iter()
            .map(|a| {
                if regex {
                    Self::regex(a)
                } else {
                    Ok(Self::Text(a.clone()))
                }
            })
            .collect()
    }

    /// The answer text (for a regex, its source).
    pub fn text(&self) -> &str {
        match self {
            Self::Text(text) => text,
            Self::Regex(regex) => regex.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_escapes_of_punctuation_compile_and_match_literally() {
        assert_eq!(
            translate_python_regex(r"6\,194\ m\Z"),
            r"6\x{2C}194\x{20}m\z"
        );
        let regex = AnswerRegex::new(r"6\,194\ m|20\%|A\&P|[\-\.]x").unwrap();
        assert!(regex.full_match("6,194 m"));
        assert!(regex.full_match("a&p"));
        assert!(regex.full_match("-x") && regex.full_match(".x"));
        assert!(!regex.full_match("6194 m"));
        assert!(
            AnswerRegex::new(r"\d+\s?(feet|ft)\b")
                .unwrap()
                .search("about 20 ft.")
        );
    }
}
