//! The dense embedding cache is built in atomic shards: a build stopped part-way (as a killed
//! one would be) resumes at its first missing shard and ends with the same bytes as an
//! uninterrupted build; temporary files a killed process left are removed; shards made from
//! another corpus are not reused. Needs the `minilm-l6-v2` asset (fetched on first use).

use std::path::Path;

use burn::tensor::Device;
use icor_qa::data::ReadOptions;
use icor_qa::error::Error;
use icor_qa::retrieve::dense::{BuildOptions, EmbeddingStore, SentenceEncoder};

fn write_corpus(path: &Path, n: usize, salt: &str) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": i.to_string(),
                "contents": format!("\"Title {i}\"\nPassage number {i} about {salt} and rivers.")
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_stopped_build_resumes_to_the_same_cache_and_leaves_nothing_partial() {
    let home = icor_assets::home(None).expect("asset home");
    let dir = icor_assets::ensure(&home, "minilm-l6-v2").expect("minilm-l6-v2 asset");
    let encoder = SentenceEncoder::load(&dir, &Device::flex()).expect("encoder loads");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus.jsonl");
    write_corpus(&corpus, 7, "lakes");
    let shards = BuildOptions {
        shard_rows: 2,
        stop_after: None,
    };
    let build = |base: &Path, options: BuildOptions| {
        EmbeddingStore::load_or_build(
            base,
            &corpus,
            &encoder,
            32,
            4,
            ReadOptions::default(),
            options,
            |_| {},
        )
    };
    let whole = build(&tmp.path().join("a/dense"), shards).unwrap();
    assert_eq!(whole.meta.rows, 7);
    assert_eq!(whole.data.len(), 7 * encoder.dim());

    // Stopped after 2 of 4 shards.
    let base = tmp.path().join("b/dense");
    let stopped = build(
        &base,
        BuildOptions {
            stop_after: Some(2),
            ..shards
        },
    );
    assert!(
        matches!(stopped, Err(Error::Interrupted { done: 2, .. })),
        "{:?}",
        stopped.as_ref().err()
    );
    let shard_dir = base.with_extension("shards");
    assert_eq!(
        names(&shard_dir),
        vec!["000000.f32", "000001.f32", "progress.json"]
    );
    // What a killed process leaves: temporary files beside the cache and among the shards.
    std::fs::write(tmp.path().join("b/.tmpA1b2C3"), b"junk").unwrap();
    std::fs::write(shard_dir.join(".partial-x9"), b"junk").unwrap();
    let resumed = build(&base, shards).unwrap();
    assert_eq!(resumed.data, whole.data, "resumed cache differs");
    assert_eq!(
        names(&tmp.path().join("b")),
        vec!["dense.f32", "dense.json"]
    );
    // A finished cache loads without encoding again.
    let loaded = build(&base, shards).unwrap();
    assert_eq!(loaded.data, whole.data);

    // Shards of another corpus are not reused.
    let base = tmp.path().join("c/dense");
    let _ = build(
        &base,
        BuildOptions {
            stop_after: Some(2),
            ..shards
        },
    );
    write_corpus(&corpus, 7, "mountains");
    let other = build(&base, shards).unwrap();
    let fresh = build(&tmp.path().join("d/dense"), shards).unwrap();
    assert_eq!(other.data, fresh.data);
    assert_ne!(other.data, whole.data);
}
