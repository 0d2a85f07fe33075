//! `icor logits` and `icor generate` on the real SmolLM2 weights (fetched by `.ci/run`), and the
//! Röntgen acceptance example on Qwen2.5-Coder-0.5B (opt-in: `-- --ignored`).

use std::process::Command;

fn icor(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_icor"))
        .args(args)
        .output()
        .expect("icor runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn logits_json_has_the_documented_fields_and_paris_on_top() {
    let (ok, out, err) = icor(&[
        "logits",
        "--model",
        "smollm2-135m",
        "--text",
        "The capital of France is",
        "--top-k",
        "5",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["model"], "smollm2-135m");
    assert_eq!(
        v["token_ids"],
        serde_json::json!([504, 3575, 282, 4649, 314])
    );
    let top = v["top"].as_array().expect("top");
    assert_eq!(top.len(), 5);
    assert_eq!(top[0]["token"], " Paris");
    let lp = top[0]["logprob"].as_f64().expect("logprob");
    assert!(lp < 0.0 && lp > -1.0, "{lp}");
    assert_eq!(
        v["argmax_per_position"].as_array().expect("argmax").len(),
        5
    );
}

#[test]
fn generate_prints_only_the_continuation() {
    let (ok, out, err) = icor(&[
        "generate",
        "--model",
        "smollm2-135m",
        "--prompt",
        "The capital of France is",
        "--max-new-tokens",
        "1",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, " Paris\n");
}

#[test]
fn unknown_model_and_bad_file_are_clear_errors() {
    let (ok, _, err) = icor(&["generate", "--model", "no-such-model", "--prompt", "x"]);
    assert!(!ok);
    assert!(err.contains("no-such-model"), "{err}");
    let bad = std::env::temp_dir().join(format!("icor-cli-bad-{}.gguf", std::process::id()));
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00trunc").expect("write");
    let (ok, _, err) = icor(&[
        "logits",
        "--model",
        bad.to_str().expect("utf8"),
        "--text",
        "x",
    ]);
    let _ = std::fs::remove_file(&bad);
    assert!(!ok);
    assert!(
        err.contains("malformed GGUF") && err.contains("icor-cli-bad"),
        "{err}"
    );
}

#[test]
#[ignore = "loads Qwen2.5-Coder-0.5B; run with --ignored"]
fn generate_answers_the_rontgen_question_with_the_flashrag_prompt() {
    let system = "Answer the question based on the given document. Only give me the answer and do not output any other words. The following are given documents:\n\nDoc 1(Title: Nobel Prize in Physics) The Nobel Prize in Physics is a yearly award given by the Royal Swedish Academy of Sciences for those who have made the most outstanding contributions to mankind in the field of physics. The first Nobel Prize in Physics was awarded in 1901 to Wilhelm Conrad Röntgen, in recognition of the extraordinary services he rendered by the discovery of X-rays.\n";
    let (ok, out, err) = icor(&[
        "generate",
        "--model",
        "qwen2.5-0.5b",
        "--chat",
        "--system",
        system,
        "--prompt",
        "Question: who got the first nobel prize in physics",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim_end(), "Wilhelm Conrad Röntgen");
}
