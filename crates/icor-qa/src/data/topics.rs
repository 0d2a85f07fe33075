//! The Pyserini/DPR topic files shipped in the pyserini wheel, read into FlashRAG rows.
//!
//! Two layouts: `question<TAB>['answer', …]` (NQ-open, TriviaQA), parsed as TAB-separated CSV
//! with double-quote quoting (a few rows are quoted, with `""` for a quote) and then the answer
//! column as a Python list literal; and DPR jsonl `{"question": …, "answer": […]}` (WebQuestions,
//! SQuAD, CuratedTREC). Row `i` becomes `{"id": "<split>_<i>", …, "metadata": {}}`.

use std::path::Path;

use serde::Deserialize;

use super::pylist::parse_str_list;
use super::record::QaExample;
use crate::error::{Error, Result};

/// Reads a TAB-separated topic file.
pub fn read_tsv_topics(path: &Path, split: &str) -> Result<Vec<QaExample>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_tsv_topics(file, path, split)
}

/// Parses TAB-separated topics from `reader` (`path` only names the source in errors).
pub fn parse_tsv_topics(
    reader: impl std::io::Read,
    path: &Path,
    split: &str,
) -> Result<Vec<QaExample>> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .quoting(true)
        .double_quote(true)
        .flexible(true)
        .from_reader(reader);
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        let bad = |reason: String| Error::BadLine {
            path: path.to_path_buf(),
            line,
            reason,
        };
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(line, |p| p.line());
                return Err(Error::BadLine {
                    path: path.to_path_buf(),
                    line,
                    reason: err.to_string(),
                });
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        let bad_here = |reason: String| Error::BadLine {
            path: path.to_path_buf(),
            line,
            reason,
        };
        if record.len() != 2 {
            return Err(bad_here(format!(
                "{} fields, expected 2 (question, answers)",
                record.len()
            )));
        }
        let answers =
            parse_str_list(&record[1]).map_err(|e| bad_here(format!("answer list: {e}")))?;
        if answers.is_empty() {
            return Err(bad(format!("no golden answer for {:?}", &record[0])));
        }
        let id = format!("{split}_{}", rows.len());
        rows.push(QaExample::new(id, record[0].to_owned(), answers));
    }
    Ok(rows)
}

#[derive(Deserialize)]
struct DprTopic {
    question: String,
    answer: Vec<String>,
}

/// Reads a DPR jsonl topic file (`{"question", "answer": [...]}` per line).
pub fn read_jsonl_topics(path: &Path, split: &str) -> Result<Vec<QaExample>> {
    let options = super::jsonl::ReadOptions::default();
    super::jsonl::JsonlReader::<DprTopic>::open(path, options)?
        .enumerate()
        .map(|(i, row)| row.map(|t| QaExample::new(format!("{split}_{i}"), t.question, t.answer)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_quoted_rows_and_python_lists() {
        let text = "who got the first nobel prize in physics\t['Wilhelm Conrad Röntgen']\n\
                    In which decade?\t\"['1930’s', \"\"'30s\"\", '%6030s']\"\n\
                    where does patience come from\t['\"\"Psychomachia,\"\"']\n";
        let rows = parse_tsv_topics(text.as_bytes(), Path::new("t.txt"), "test").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].id, "test_0");
        assert_eq!(rows[0].golden_answers, vec!["Wilhelm Conrad Röntgen"]);
        assert_eq!(rows[1].golden_answers, vec!["1930’s", "'30s", "%6030s"]);
        // Quotes inside an unquoted field are literal (Python's csv does the same).
        assert_eq!(rows[2].golden_answers, vec!["\"\"Psychomachia,\"\""]);
    }

    #[test]
    fn tsv_errors_name_the_line() {
        let text = "q1\t['a']\nq2 without tab\nq3\t['c']\n";
        let err = parse_tsv_topics(text.as_bytes(), Path::new("t.txt"), "test").unwrap_err();
        assert!(err.to_string().starts_with("t.txt:2: 1 fields"), "{err}");
        let text = "q1\t['a']\nq2\t['b'\n";
        let err = parse_tsv_topics(text.as_bytes(), Path::new("t.txt"), "dev").unwrap_err();
        assert!(err.to_string().starts_with("t.txt:2: answer list"), "{err}");
    }
}
