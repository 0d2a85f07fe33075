//! The text analyser, close to Lucene's `EnglishAnalyzer` that Pyserini uses by default:
//! split on non-alphanumerics, drop tokens over 40 bytes, lower-case, remove Lucene's 33
//! English stop words, stem. Differences from Lucene (documented, small): tantivy's tokenizer
//! splits `2,100` into `2` and `100` (Lucene's StandardTokenizer keeps numbers whole), there is
//! no possessive filter (`'s` becomes the token `s`), and the stemmer is Snowball English
//! (Porter 2) instead of Porter 1.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};

/// Name under which the analyser is registered in the index.
pub const ANALYZER_NAME: &str = "icor_en";

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`.
pub const LUCENE_ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// A fresh analyser.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            LUCENE_ENGLISH_STOP_WORDS.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analysed terms of `text`, in order, repeats kept.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyser_lowercases_stems_and_drops_stop_words() {
        let mut a = analyzer();
        assert_eq!(
            terms(&mut a, "Who got the first Nobel Prizes in Physics?"),
            vec!["who", "got", "first", "nobel", "prize", "physic"]
        );
    }
}
