//! SQuAD answer normalisation, as FlashRAG's `normalize_answer` (Python) does it:
//!
//! ```python
//! white_space_fix(remove_articles(remove_punc(lower(s))))
//! ```
//!
//! - `lower`: full Unicode lower-casing (`str.lower`, which Rust's `to_lowercase` matches,
//!   final sigma included);
//! - `remove_punc`: drops the 32 ASCII characters of `string.punctuation` only (a curly quote
//!   or an en dash survives, as in Python);
//! - `remove_articles`: `re.sub(r"\b(a|an|the)\b", " ", text)` with Python's Unicode word
//!   boundaries (word characters: `isalnum()` or `_`);
//! - `white_space_fix`: `" ".join(text.split())` with Python's notion of whitespace (which,
//!   unlike Rust's, includes the separators U+001C–U+001F).

/// `string.punctuation` of Python: the ASCII punctuation characters.
pub fn is_ascii_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// Python's `str.isspace` for one character.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A word character of Python's `re` in Unicode mode: `isalnum()` or underscore.
///
/// Rust's `is_alphanumeric` differs from Python's `isalnum` only on a few combining vowel
/// signs (Unicode `Other_Alphabetic`), which never touch the ASCII articles in practice.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `re.sub(r"\b(a|an|the)\b", " ", text)`.
pub fn remove_articles(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let boundary_before = i == 0 || !is_word(chars[i - 1]);
        if boundary_before {
            // The alternation is tried in order a, an, the; the first one followed by a word
            // boundary wins (for "an" the "a" branch fails on the boundary, then "an" matches).
            let matched = ["a", "an", "the"].iter().find_map(|article| {
                let len = article.len();
                let fits =
                    i + len <= chars.len() && chars[i..i + len].iter().copied().eq(article.chars());
                let boundary_after = || i + len == chars.len() || !is_word(chars[i + len]);
                (fits && boundary_after()).then_some(len)
            });
            if let Some(len) = matched {
                out.push(' ');
                i += len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `" ".join(text.split())` with Python's whitespace.
pub fn white_space_fix(text: &str) -> String {
    text.split(is_python_space)
        .filter(|token| !token.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// FlashRAG's / SQuAD's `normalize_answer`.
pub fn normalize_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punct: String = lower
        .chars()
        .filter(|c| !is_ascii_punctuation(*c))
        .collect();
    white_space_fix(&remove_articles(&no_punct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_lowercases_strips_punctuation_and_articles() {
        assert_eq!(normalize_answer("The Beatles!"), "beatles");
        assert_eq!(
            normalize_answer("  A   tale of   an Apple "),
            "tale of apple"
        );
    }

    #[test]
    fn normalise_keeps_articles_inside_names_and_words() {
        // "theatre", "Anna", "Thea" keep their letters; only whole words go.
        assert_eq!(
            normalize_answer("Theatre of Anna and Thea"),
            "theatre of anna and thea"
        );
        // "The The" (a band) normalises to nothing, as in Python.
        assert_eq!(normalize_answer("The The"), "");
        assert_eq!(normalize_answer("a a a"), "");
        assert_eq!(normalize_answer("Catch-a-Ride"), "catcharide");
        // The hyphen goes before the articles are removed: "a" no longer stands alone.
        assert_eq!(normalize_answer("Rock-a-bye"), "rockabye");
        // Article next to non-ASCII punctuation (kept by Python) is still a whole word.
        assert_eq!(normalize_answer("«the» End"), "« » end");
    }

    #[test]
    fn normalise_punctuation_inside_numbers_joins_digits() {
        assert_eq!(normalize_answer("1,000,000"), "1000000");
        assert_eq!(normalize_answer("3.14"), "314");
        assert_eq!(normalize_answer("$5.2 billion"), "52 billion");
    }

    #[test]
    fn normalise_unicode_as_python() {
        assert_eq!(
            normalize_answer("Wilhelm Conrad Röntgen"),
            "wilhelm conrad röntgen"
        );
        // Curly apostrophe is not in string.punctuation; the straight one is.
        assert_eq!(normalize_answer("1930’s"), "1930’s");
        assert_eq!(normalize_answer("1930's"), "1930s");
        // Final sigma as in Python's str.lower().
        assert_eq!(normalize_answer("ΟΔΟΣ"), "\u{3bf}\u{3b4}\u{3bf}\u{3c2}");
        // Non-breaking space and U+001F are whitespace for Python's split().
        assert_eq!(normalize_answer("New\u{a0}York\u{1f}City"), "new york city");
        // Zero-width characters are not whitespace.
        assert_eq!(normalize_answer("Algeria\u{200e}"), "algeria\u{200e}");
    }

    #[test]
    fn normalise_empty_and_only_punctuation() {
        assert_eq!(normalize_answer(""), "");
        assert_eq!(normalize_answer("?!."), "");
        assert_eq!(normalize_answer("the."), "");
    }
}
