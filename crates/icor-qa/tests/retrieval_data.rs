//! The shipped QA sets and corpus, prepared for real: every row count as catalogued, tricky
//! rows parsed as Python would, CuratedTREC patterns compile, BM25 finds an obvious passage.
//! Needs the `qa-topics` and `wiki-summaries` assets (fetched on first use).

use icor_qa::data::{
    self, DATASETS, Passage, QaExample, ReadOptions, corpus_path, dataset_path, find_dataset,
    read_all,
};
use icor_qa::metrics::AnswerPattern;
use icor_qa::retrieve::setup::{OpenOptions, open_bm25};
use icor_qa::retrieve::{Corpus, Retriever};

#[test]
fn prepare_converts_every_shipped_file_with_catalogued_counts_then_bm25_finds_rontgen() {
    let assets = icor_assets::home(None).expect("asset home");
    let topics = icor_assets::ensure(&assets, "qa-topics").expect("qa-topics asset");
    let summaries = icor_assets::ensure(&assets, "wiki-summaries").expect("wiki-summaries asset");
    let summaries = if summaries.is_dir() {
        summaries.join("summaries_en-us.json")
    } else {
        summaries
    };
    let home = tempfile::tempdir().unwrap();
    let files = data::prepare_all(home.path(), &topics, &summaries, |_| {}).expect("prepare");
    assert_eq!(files.len(), DATASETS.len() + 1);
    for spec in &DATASETS {
        let (rows, skipped) =
            read_all::<QaExample>(&dataset_path(home.path(), spec), ReadOptions::default())
                .unwrap();
        assert_eq!((rows.len(), skipped), (spec.rows, 0), "{}", spec.key());
        assert!(
            rows.iter()
                .all(|r| !r.golden_answers.is_empty() && !r.question.is_empty())
        );
    }
    let nq = read_all::<QaExample>(
        &dataset_path(home.path(), find_dataset("nq", None).unwrap()),
        ReadOptions::default(),
    )
    .unwrap()
    .0;
    assert_eq!(nq[0].id, "test_0");
    assert_eq!(nq[0].question, "who got the first nobel prize in physics");
    assert_eq!(nq[0].golden_answers, vec!["Wilhelm Conrad Röntgen"]);
    let trivia_dev = read_all::<QaExample>(
        &dataset_path(home.path(), find_dataset("triviaqa/dev", None).unwrap()),
        ReadOptions::default(),
    )
    .unwrap()
    .0;
    assert_eq!(trivia_dev[0].id, "dev_0");
    assert_eq!(trivia_dev[0].golden_answers[0], "🚁");
    // The quoted TSV row of TriviaQA test with a double-quoted Python string inside.
    let trivia = read_all::<QaExample>(
        &dataset_path(home.path(), find_dataset("triviaqa", None).unwrap()),
        ReadOptions::default(),
    )
    .unwrap()
    .0;
    let decade = trivia
        .iter()
        .find(|q| q.question == "In which decade did stereo records first go on sale?")
        .unwrap();
    assert!(
        decade.golden_answers.contains(&"'30s".to_owned())
            && decade.golden_answers.contains(&"1930’s".to_owned())
    );
    // Every CuratedTREC answer pattern compiles.
    let curated = read_all::<QaExample>(
        &dataset_path(home.path(), find_dataset("curatedtrec", None).unwrap()),
        ReadOptions::default(),
    )
    .unwrap()
    .0;
    for q in &curated {
        AnswerPattern::all(&q.golden_answers, true).unwrap_or_else(|e| panic!("{}: {e}", q.id));
    }

    let corpus_file = corpus_path(home.path());
    let (passages, _) = read_all::<Passage>(&corpus_file, ReadOptions::default()).unwrap();
    assert_eq!(passages.len(), data::CORPUS_ROWS);
    assert_eq!(passages[0].id, "0");
    assert!(
        passages[0]
            .contents
            .starts_with("\"20th-century classical music\"\n20th-century classical music is")
    );

    let corpus = Corpus::open(&corpus_file, false, |_| {}).unwrap();
    let options = OpenOptions {
        progress: false,
        ..OpenOptions::new(home.path())
    };
    let bm25 = open_bm25(&corpus_file, corpus.len(), &options).expect("bm25 index");
    let hits = bm25
        .search("Wilhelm Röntgen X-rays Nobel Prize physics", 5)
        .unwrap();
    let titles: Vec<String> = hits
        .iter()
        .map(|h| corpus.get(h.row as usize).unwrap().title().to_owned())
        .collect();
    assert!(titles.iter().any(|t| t.contains("Röntgen")), "{titles:?}");
}
