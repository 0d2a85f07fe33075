//! Which data set is which shipped file, how many rows it must have (`shared/assets.md`), and
//! its role in the method; where the prepared FlashRAG files live in the asset cache.
//!
//! The layout follows FlashRAG's: `<home>/prepared/flashrag/<name>/<split>.jsonl` for data sets
//! and `<home>/prepared/flashrag/corpus/wiki-summaries.jsonl` for the corpus, so a user's
//! FlashRAG benchmark folder can be used the same way.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// What a data set is used for in RAG-GD (§5 of the paper; `shared/paper.md` §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Questions the interface is trained on (NQ dev, TriviaQA dev, SQuAD dev).
    TrainingPool,
    /// In-domain evaluation (NQ test, TriviaQA test).
    InDomainEval,
    /// Never seen in training (WebQuestions, CuratedTREC: stand-ins for PopQA and Bamboogle).
    HeldOut,
}

/// How a shipped topic file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// `question<TAB>['answer', …]`.
    Tsv,
    /// `{"question": …, "answer": […]}` per line.
    DprJsonl,
}

/// One shipped QA data set.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DatasetSpec {
    /// FlashRAG data set name (`nq`, `triviaqa`, `web_questions`, `squad`, `curatedtrec`).
    pub name: &'static str,
    /// FlashRAG split name (`test`, `dev`).
    pub split: &'static str,
    /// The topic file inside the `qa-topics` asset.
    pub source: &'static str,
    /// Its layout.
    pub format: SourceFormat,
    /// Rows it must have.
    pub rows: usize,
    /// Role in the method.
    pub role: Role,
    /// Golden answers are regular expressions (CuratedTREC).
    pub regex_answers: bool,
}

impl DatasetSpec {
    /// `name/split`, the way the CLI and reports name a data set.
    pub fn key(&self) -> String {
        format!("{}/{}", self.name, self.split)
    }
}

const fn spec(
    name: &'static str,
    split: &'static str,
    source: &'static str,
    format: SourceFormat,
    rows: usize,
    role: Role,
) -> DatasetSpec {
    DatasetSpec {
        name,
        split,
        source,
        format,
        rows,
        role,
        regex_answers: false,
    }
}

/// The shipped data sets (rows as counted in `shared/assets.md`).
pub const DATASETS: [DatasetSpec; 7] = [
    spec(
        "nq",
        "test",
        "topics.nq.test.txt",
        SourceFormat::Tsv,
        3_610,
        Role::InDomainEval,
    ),
    spec(
        "nq",
        "dev",
        "topics.nq.dev.txt",
        SourceFormat::Tsv,
        8_757,
        Role::TrainingPool,
    ),
    spec(
        "triviaqa",
        "test",
        "topics.dpr.trivia.test.txt",
        SourceFormat::Tsv,
        11_313,
        Role::InDomainEval,
    ),
    spec(
        "triviaqa",
        "dev",
        "topics.dpr.trivia.dev.txt",
        SourceFormat::Tsv,
        8_837,
        Role::TrainingPool,
    ),
    spec(
        "web_questions",
        "test",
        "topics.dpr.wq.test.txt",
        SourceFormat::DprJsonl,
        2_032,
        Role::HeldOut,
    ),
    spec(
        "squad",
        "dev",
        "topics.dpr.squad.test.txt",
        SourceFormat::DprJsonl,
        10_570,
        Role::TrainingPool,
    ),
    DatasetSpec {
        regex_answers: true,
        ..spec(
            "curatedtrec",
            "test",
            "topics.dpr.curated.test.txt",
            SourceFormat::DprJsonl,
            694,
            Role::HeldOut,
        )
    },
];

/// Passages in the shipped corpus.
pub const CORPUS_ROWS: usize = 10_033;

/// Name of the shipped corpus (file stem and retriever-cache key).
pub const CORPUS_NAME: &str = "wiki-summaries";

/// Finds a data set by `name` and `split`; `name` may also be `name/split`.
pub fn find_dataset(name: &str, split: Option<&str>) -> Result<&'static DatasetSpec> {
    let (name, split) = match name.split_once('/') {
        Some((n, s)) => (n, Some(s)),
        None => (name, split),
    };
    let found = DATASETS
        .iter()
        .find(|d| d.name == name && split.is_none_or(|s| d.split == s));
    // Without a split, prefer the test split when there is one.
    let found = match split {
        None => DATASETS
            .iter()
            .find(|d| d.name == name && d.split == "test")
            .or(found),
        Some(_) => found,
    };
    found.ok_or_else(|| Error::UnknownName {
        kind: "data set",
        name: match split {
            Some(s) => format!("{name}/{s}"),
            None => name.to_owned(),
        },
        known: DATASETS
            .iter()
            .map(DatasetSpec::key)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The folder of prepared FlashRAG files in the asset cache at `home`.
pub fn prepared_root(home: &Path) -> PathBuf {
    home.join("prepared").join("flashrag")
}

/// The prepared jsonl of a data set.
pub fn dataset_path(home: &Path, spec: &DatasetSpec) -> PathBuf {
    prepared_root(home)
        .join(spec.name)
        .join(format!("{}.jsonl", spec.split))
}

/// The prepared corpus jsonl.
pub fn corpus_path(home: &Path) -> PathBuf {
    prepared_root(home)
        .join("corpus")
        .join(format!("{CORPUS_NAME}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_method() {
        let role = |key: &str| find_dataset(key, None).unwrap().role;
        assert_eq!(role("nq/dev"), Role::TrainingPool);
        assert_eq!(role("triviaqa/dev"), Role::TrainingPool);
        assert_eq!(role("squad/dev"), Role::TrainingPool);
        assert_eq!(role("nq"), Role::InDomainEval);
        assert_eq!(role("triviaqa/test"), Role::InDomainEval);
        assert_eq!(role("web_questions"), Role::HeldOut);
        assert_eq!(role("curatedtrec"), Role::HeldOut);
        assert!(find_dataset("curatedtrec", None).unwrap().regex_answers);
        assert_eq!(find_dataset("squad", None).unwrap().split, "dev");
        assert_eq!(find_dataset("nq", Some("dev")).unwrap().rows, 8_757);
        let err = find_dataset("popqa", None).unwrap_err().to_string();
        assert!(
            err.contains("unknown data set `popqa`") && err.contains("nq/test"),
            "{err}"
        );
    }
}
