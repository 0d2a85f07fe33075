//! `icor rag mechanism` end to end on SmolLM2 at a tiny size (4 contexts, the top-2
//! interface, short prompts): a study stopped part-way resumes without redoing finished
//! contexts and ends as one uninterrupted run; the run folder copied to another path, its
//! vectors left behind (as on another machine), resumes without recomputing anything and
//! gives the same analysis; bad settings are refused before any model loads.

use std::path::Path;
use std::process::Command;

fn icor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icor"))
}

fn study(out: &Path, reports: &Path, extra: &[&str]) -> String {
    let o = icor()
        .args([
            "rag",
            "mechanism",
            "--contexts",
            "4",
            "--demos",
            "2",
            "--docs",
            "1",
            "--doc-tokens",
            "8",
            "--interface",
            "top2=0.1,1",
            "--fit-every",
            "2",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .arg("--report-dir")
        .arg(reports)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "icor rag mechanism failed:\n{err}");
    err
}

fn records(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("contexts"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The analysis without its timing fields.
fn analysis(reports: &Path) -> serde_json::Value {
    let p = reports.join("mechanism").join("smollm2-135m.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("seconds_median");
    v
}

#[test]
fn a_stopped_study_resumes_and_its_folder_moves_between_machines() {
    let dir = tempfile::tempdir().unwrap();
    let (out, reports) = (dir.path().join("run"), dir.path().join("reports"));
    let err = study(&out, &reports, &["--max-new", "2"]);
    assert!(err.contains("0 measured, 2 to do now"), "{err}");
    let first = records(&out);
    assert_eq!(first.len(), 2);
    assert!(
        !reports.join("mechanism.md").exists(),
        "two contexts are too few to analyse"
    );
    let err = study(&out, &reports, &[]);
    assert!(err.contains("2 measured, 2 to do now"), "{err}");
    let all = records(&out);
    assert_eq!(all.len(), 4);
    assert_eq!(&all[..2], &first[..], "finished contexts are not redone");
    // Other settings in the same folder are refused, and the records stay.
    let o = icor()
        .args([
            "rag",
            "mechanism",
            "--contexts",
            "4",
            "--demos",
            "3",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other settings") && err.contains("--name"),
        "{err}"
    );
    assert_eq!(records(&out), all);
    let md = std::fs::read_to_string(reports.join("mechanism.md")).unwrap();
    assert!(
        md.contains("## smollm2-135m") && md.contains("### Interface `top2`"),
        "{md}"
    );
    let before = analysis(&reports);
    // Another machine: the folder at another path, without the git-ignored vectors.
    let moved = dir.path().join("elsewhere");
    std::fs::create_dir_all(&moved).unwrap();
    for sub in ["contexts", "retrieval"] {
        std::fs::create_dir_all(moved.join(sub)).unwrap();
        for e in std::fs::read_dir(out.join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, moved.join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(out.join("cross.json"), moved.join("cross.json")).unwrap();
    let reports2 = dir.path().join("reports2");
    let err = study(&moved, &reports2, &[]);
    assert!(err.contains("4 measured, 0 to do now"), "{err}");
    assert_eq!(records(&moved), all);
    let after = analysis(&reports2);
    assert_eq!(after, before, "the moved folder gives the same analysis");
}

#[test]
fn bad_settings_are_refused_before_any_model_loads() {
    for (args, says) in [
        (vec!["--contexts", "5"], "even number"),
        (vec!["--interface", "top2"], "expected <all|topL>"),
        (vec!["--interface", "all=-1"], "positive"),
        (vec!["--fit-every", "1"], "fit_every"),
    ] {
        let o = icor()
            .args(["rag", "mechanism"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
