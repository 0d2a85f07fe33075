//! DPR's `has_answer` (the test behind FlashRAG's retrieval recall): does a golden answer occur
//! in a passage?
//!
//! Both texts are NFD-normalised and split by DPR's `SimpleTokenizer`
//! (`[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]`), lower-cased; an answer occurs when its token sequence
//! is a contiguous sub-sequence of the passage's. Regex answers (CuratedTREC) are searched in the
//! NFD text, ignoring case.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use super::pattern::AnswerPattern;

fn tokenizer() -> &'static regex::Regex {
    static TOKEN: OnceLock<regex::Regex> = OnceLock::new();
    TOKEN.get_or_init(|| {
        // A fixed, valid pattern: building it cannot fail.
        regex::Regex::new(r"[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]").expect("static DPR token regex")
    })
}

/// DPR's uncased tokens of `text` (NFD first).
pub fn dpr_tokens(text: &str) -> Vec<String> {
    let nfd: String = text.nfd().collect();
    tokenizer()
        .find_iter(&nfd)
        .map(|m| m.as_str().to_lowercase())
        .collect()
}

/// Whether one of `answers` occurs in `passage` (tokens of the passage given, see
/// [`dpr_tokens`], so that a passage is tokenised once for all its questions).
pub fn has_answer_tokens(
    passage_tokens: &[String],
    passage: &str,
    answers: &[AnswerPattern],
) -> bool {
    answers.iter().any(|answer| match answer {
        AnswerPattern::Text(text) => {
            let needle = dpr_tokens(text);
            !needle.is_empty()
                && needle.len() <= passage_tokens.len()
                && passage_tokens
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
        }
        AnswerPattern::Regex(regex) => regex.search(&passage.nfd().collect::<String>()),
    })
}

/// Whether one of `answers` occurs in `passage`.
pub fn has_answer(passage: &str, answers: &[AnswerPattern]) -> bool {
    has_answer_tokens(&dpr_tokens(passage), passage, answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(answers: &[&str]) -> Vec<AnswerPattern> {
        AnswerPattern::texts(answers)
    }

    #[test]
    fn tokens_split_punctuation_and_keep_marks() {
        assert_eq!(
            dpr_tokens("Röntgen's X-rays, 1901."),
            vec![
                "ro\u{308}ntgen",
                "'",
                "s",
                "x",
                "-",
                "rays",
                ",",
                "1901",
                "."
            ]
        );
    }

    #[test]
    fn answer_must_be_whole_token_sequence() {
        let passage = "\"Paris\"\nParis is the capital of France; population 2,100,000.";
        assert!(has_answer(passage, &texts(&["capital of France"])));
        assert!(has_answer(passage, &texts(&["2,100,000"])));
        assert!(!has_answer(passage, &texts(&["Pari"])));
        assert!(!has_answer(passage, &texts(&["2100000"])));
        // Composed and decomposed forms match each other.
        assert!(has_answer("Wilhelm Ro\u{308}ntgen", &texts(&["RÖNTGEN"])));
        assert!(!has_answer(passage, &texts(&[""])));
    }

    #[test]
    fn regex_answers_search_ignoring_case() {
        let answers = vec![AnswerPattern::regex("after the fall|finishing the play").unwrap()];
        assert!(has_answer("Miller wrote AFTER THE FALL in 1964", &answers));
    }
}
