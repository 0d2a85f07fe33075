//! The shipped Wikipedia corpus: `summaries_en-us.json`, a JSON object title → `{title,
//! extract, description, topic}`, read in file order (as Python's `json.load` keeps it) into
//! FlashRAG passages `{"id": "<n>", "contents": "\"<title>\"\n<extract>"}`, `n` from 0.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use super::record::Passage;
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Summary {
    title: String,
    extract: String,
}

/// The entries of the object, in file order.
struct Ordered(Vec<(String, Summary)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of title → summary")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, Summary>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// Reads the summaries file into passages.
pub fn read_summaries(path: &Path) -> Result<Vec<Passage>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_summaries(&bytes, path)
}

/// Parses summaries JSON (`path` only names the source in errors).
pub fn parse_summaries(bytes: &[u8], path: &Path) -> Result<Vec<Passage>> {
    let Ordered(entries) = serde_json::from_slice(bytes).map_err(|e| Error::BadLine {
        path: path.to_path_buf(),
        line: e.line() as u64,
        reason: e.to_string(),
    })?;
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(n, (_, summary))| {
            Passage::from_title_text(n.to_string(), &summary.title, &summary.extract)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_file_order() {
        let text = br#"{"Zeta": {"title": "Zeta", "extract": "Last letter. ", "description": "", "topic": "x"},
                        "Alpha": {"title": "Alpha", "extract": "First letter.", "description": "", "topic": "x"}}"#;
        let passages = parse_summaries(text, Path::new("s.json")).unwrap();
        assert_eq!(
            passages[0],
            Passage {
                id: "0".into(),
                contents: "\"Zeta\"\nLast letter. ".into()
            }
        );
        assert_eq!(passages[1].title(), "Alpha");
        let err = parse_summaries(b"{\n\"A\": {\"title\": 1}}", Path::new("s.json")).unwrap_err();
        assert!(err.to_string().starts_with("s.json:2:"), "{err}");
    }
}
