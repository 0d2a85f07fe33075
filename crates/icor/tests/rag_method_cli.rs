//! `icor rag …` on bad input: clear errors before any model is loaded, nothing overwritten.
//! (The smoke profile end to end runs in `.ci/run`.)

use std::process::Command;

fn icor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icor"))
}

#[test]
fn unknown_profile_is_refused_with_the_known_ones() {
    let out = icor()
        .args(["rag", "run", "--profile", "huge"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smoke") && err.contains("quick"), "{err}");
}

#[test]
fn a_run_folder_with_artefacts_is_not_reused_or_wiped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("adapter-bm25.safetensors");
    std::fs::write(&marker, b"earlier run").unwrap();
    let out = icor()
        .args(["rag", "run", "--profile", "smoke", "--out"])
        .arg(dir.path())
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--resume") && err.contains("--fresh"), "{err}");
    assert_eq!(std::fs::read(&marker).unwrap(), b"earlier run");
}

#[test]
fn show_lists_the_profile_and_every_method() {
    let out = icor()
        .args(["rag", "show", "--profile", "quick"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for m in [
        "query-only",
        "vanilla-rag",
        "base-adapter",
        "rag-gd-k1",
        "rag-gd-k5",
        "rag-gd-k10",
        "prompt-tuning",
        "hypertuning",
        "tt-sgd-k5",
    ] {
        assert!(text.contains(m), "{m} missing from:\n{text}");
    }
}

#[test]
fn an_unknown_method_is_refused_with_the_registered_ones_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = icor()
        .args([
            "rag",
            "run",
            "--profile",
            "quick",
            "--methods",
            "prompt-tuning,lora-xl",
        ])
        .arg("--out")
        .arg(dir.path().join("run"))
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`lora-xl`") && err.contains("prompt-tuning") && err.contains("tt-sgd-k5"),
        "{err}"
    );
    // Nothing was started: no run folder, no results.
    assert!(!dir.path().join("run").exists());
    assert!(!dir.path().join("rag").exists());
}

#[test]
fn report_of_a_malformed_results_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("quick.json");
    std::fs::write(&bad, b"{\"profile\": 3").unwrap();
    let out = icor().args(["rag", "report"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quick.json"), "{err}");
}
