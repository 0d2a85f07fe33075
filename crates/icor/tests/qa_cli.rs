//! `icor score`, `icor retrieve` and `icor data check` end to end on small inputs (QA side).

use std::process::Command;

fn icor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icor"))
}

fn score(args: &[&str]) -> serde_json::Value {
    let out = icor()
        .arg("score")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn score_prints_em_and_f1_as_flashrag() {
    let v = score(&[
        "--prediction",
        "The Denver Broncos!",
        "--answer",
        "Denver Broncos",
    ]);
    assert_eq!(v, serde_json::json!({"em": 1.0, "f1": 1.0}));
    let v = score(&[
        "--prediction",
        "Paris, France",
        "--answer",
        "Lyon",
        "--answer",
        "paris",
    ]);
    assert_eq!(v["em"], 0.0);
    assert!((v["f1"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12, "{v}");
    let v = score(&[
        "--prediction",
        "20,320 feet",
        "--answer",
        r"20\s?,?\s?(32|40)0\s?-?\s?f(ee|oo)t",
        "--regex",
    ]);
    assert_eq!(v["em"], 1.0);
}

#[test]
fn score_rejects_a_bad_regex_and_needs_an_answer() {
    let out = icor()
        .args(["score", "--prediction", "x", "--answer", "(", "--regex"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answer pattern `(`"));
    let out = icor()
        .args(["score", "--prediction", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn retrieve_bm25_over_a_user_corpus_writes_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(
        &corpus,
        concat!(
            "{\"id\":\"10\",\"contents\":\"\\\"Paris\\\"\\nParis is the capital of France.\"}\n",
            "{\"id\":\"11\",\"contents\":\"\\\"Berlin\\\"\\nBerlin is the capital of Germany.\"}\n",
            "{\"id\":\"12\",\"contents\":\"\\\"Cats\\\"\\nCats are mammals.\"}\n",
        ),
    )
    .unwrap();
    let home = dir.path().join("home");
    let base = |args: &[&str]| {
        let mut cmd = icor();
        cmd.args(["retrieve", "--retriever", "bm25", "--quiet", "--home"])
            .arg(&home)
            .arg("--corpus")
            .arg(&corpus);
        cmd.args(args);
        cmd
    };
    let out = base(&["--query", "capital of Germany", "--k", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hits"][0]["id"], "11");
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
    assert!(
        v["hits"][0]["contents"]
            .as_str()
            .unwrap()
            .starts_with("\"Berlin\"")
    );

    let questions = dir.path().join("qs.jsonl");
    std::fs::write(
        &questions,
        concat!(
            "{\"id\":\"q0\",\"question\":\"capital of France\",\"golden_answers\":[\"Paris\"],\"metadata\":{}}\n",
            "not json\n",
            "{\"id\":\"q1\",\"question\":\"what are cats\",\"golden_answers\":[\"mammals\"],\"metadata\":{}}\n",
        ),
    )
    .unwrap();
    let cache = dir.path().join("cache.jsonl");
    let out = base(&["--dataset-file"])
        .arg(&questions)
        .arg("--out")
        .arg(&cache)
        .args(["--k", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("qs.jsonl:2:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = base(&["--dataset-file"])
        .arg(&questions)
        .arg("--out")
        .arg(&cache)
        .args(["--k", "1", "--skip-bad-lines", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 malformed lines"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["recall"]["@1"], 1.0);
    let cache = std::fs::read_to_string(&cache).unwrap();
    let first: serde_json::Value = serde_json::from_str(cache.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "q0");
    assert_eq!(first["doc_ids"], serde_json::json!(["10"]));
}

#[test]
fn data_check_names_the_bad_line_or_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corpus.jsonl");
    std::fs::write(
        &file,
        "{\"id\":\"0\",\"contents\":\"\\\"A\\\"\\na\"}\n{\"id\":1}\n{\"id\":\"2\",\"contents\":\"x\"}\n",
    )
    .unwrap();
    let check = |extra: &[&str]| {
        icor()
            .args(["data", "check", "--corpus", "--file"])
            .arg(&file)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corpus.jsonl:2:"), "{err}");
    let out = check(&["--skip-bad-lines"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(": 2 rows") && text.contains("skipped 1 malformed lines"),
        "{text}"
    );
}
