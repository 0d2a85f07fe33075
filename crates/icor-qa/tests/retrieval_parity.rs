//! The burn MiniLM encoder against sentence-transformers: WordPiece ids equal, every embedding
//! component within 1e-4 of the reference, on the committed fixture written by
//! `scripts/retrieval_parity_fixture.py`. Needs the `minilm-l6-v2` asset (`icor fetch
//! minilm-l6-v2`; fetched on first use).

use burn::tensor::Device;
use icor_qa::retrieve::dense::SentenceEncoder;
use serde::Deserialize;

/// Largest allowed difference per embedding component (the bound).
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Case {
    kind: String,
    text: String,
    max_tokens: usize,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Fixture {
    model_sha256: String,
    cases: Vec<Case>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/retrieval/minilm_parity.json"
    );
    let text = std::fs::read_to_string(path)
        .expect("fixture present (scripts/retrieval_parity_fixture.py)");
    serde_json::from_str(&text).expect("fixture parses")
}

#[test]
fn minilm_embeddings_match_sentence_transformers_within_1e_4() {
    let fixture = fixture();
    let home = icor_assets::home(None).expect("asset home");
    let dir = icor_assets::ensure(&home, "minilm-l6-v2")
        .expect("minilm-l6-v2 asset (icor fetch minilm-l6-v2)");
    let sha = std::fs::read_to_string(dir.join("model.safetensors.sha256")).unwrap_or_default();
    assert!(
        sha.is_empty() || sha.contains(&fixture.model_sha256),
        "fixture made from other weights"
    );
    let encoder = SentenceEncoder::load(&dir, &Device::flex()).expect("encoder loads");

    let mut worst = 0f32;
    for kind in ["query", "passage"] {
        let cases: Vec<&Case> = fixture.cases.iter().filter(|c| c.kind == kind).collect();
        let budget = cases[0].max_tokens;
        for case in &cases {
            let ids = encoder
                .token_ids(&case.text, case.max_tokens)
                .expect("tokenises");
            assert_eq!(ids, case.token_ids, "token ids of {:?}", case.text);
        }
        // One padded batch, as retrieval encodes.
        let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
        let got = encoder
            .encode(&texts, budget, texts.len(), |_| {})
            .expect("encodes");
        let dim = encoder.dim();
        // Batches of one spread over the worker threads: identical to the single batch up to
        // padding (none here), i.e. to float rounding.
        let single = encoder.encode(&texts, budget, 1, |_| {}).expect("encodes");
        let spread = got
            .iter()
            .zip(&single)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            spread <= 1e-5,
            "{kind}: batch of {} vs batches of 1 differ by {spread:e}",
            texts.len()
        );
        for (i, case) in cases.iter().enumerate() {
            let row = &got[i * dim..(i + 1) * dim];
            assert_eq!(row.len(), case.embedding.len());
            let diff = row
                .iter()
                .zip(&case.embedding)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            worst = worst.max(diff);
            assert!(
                diff <= TOLERANCE,
                "{kind} {:?}: max |Δ| = {diff:e} > {TOLERANCE:e}",
                case.text
            );
        }
    }
    eprintln!("worst component difference over the fixture: {worst:e}");
}
