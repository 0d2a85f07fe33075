//! The two FlashRAG row types.

use serde::{Deserialize, Serialize};

/// One question of a FlashRAG data set: `{id, question, golden_answers, metadata}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaExample {
    /// Row id, `"<split>_<i>"` for the shipped sets.
    pub id: String,
    /// The question text.
    pub question: String,
    /// Acceptable answers (regular expressions for CuratedTREC).
    pub golden_answers: Vec<String>,
    /// Free-form extra fields (FlashRAG keeps e.g. supporting facts here).
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl QaExample {
    /// A row with empty metadata.
    pub fn new(id: String, question: String, golden_answers: Vec<String>) -> Self {
        Self {
            id,
            question,
            golden_answers,
            metadata: empty_object(),
        }
    }
}

/// One passage of a FlashRAG corpus: `{id, contents}`, `contents = "\"Title\"\ntext"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Passage id (a decimal string in wiki-18 and in the shipped corpus).
    pub id: String,
    /// Quoted title, a newline, then the text.
    pub contents: String,
}

impl Passage {
    /// A passage from a title and a text, in FlashRAG's layout.
    pub fn from_title_text(id: String, title: &str, text: &str) -> Self {
        Self {
            id,
            contents: format!("\"{title}\"\n{text}"),
        }
    }

    /// The title: the first line without its surrounding quotes (FlashRAG:
    /// `contents.split("\n")[0].strip("\"")`).
    pub fn title(&self) -> &str {
        self.contents
            .split('\n')
            .next()
            .unwrap_or("")
            .trim_matches('"')
    }

    /// The text: everything after the first line (FlashRAG: `"\n".join(split("\n")[1:])`).
    pub fn text(&self) -> &str {
        self.contents.split_once('\n').map_or("", |(_, text)| text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passage_title_and_text_split_like_flashrag() {
        let p = Passage::from_title_text("7".into(), "Paris", "Capital of France.\nSecond line.");
        assert_eq!(p.contents, "\"Paris\"\nCapital of France.\nSecond line.");
        assert_eq!(p.title(), "Paris");
        assert_eq!(p.text(), "Capital of France.\nSecond line.");
        let bare = Passage {
            id: "1".into(),
            contents: "no title line".into(),
        };
        assert_eq!(bare.title(), "no title line");
        assert_eq!(bare.text(), "");
    }

    #[test]
    fn qa_example_metadata_defaults_to_empty_object() {
        let q: QaExample =
            serde_json::from_str(r#"{"id":"a","question":"q","golden_answers":["x"]}"#).unwrap();
        assert_eq!(q.metadata, serde_json::json!({}));
        let line = serde_json::to_string(&q).unwrap();
        assert_eq!(
            line,
            r#"{"id":"a","question":"q","golden_answers":["x"],"metadata":{}}"#
        );
    }
}
