//! `icor rag mechanism` end to end on SmolLM2 at a tiny size (4 contexts, the top-2
//! interface, short prompts): a study stopped part-way resumes without redoing finished
//! contexts and ends as one uninterrupted run; the run folder copied to another path, its
//! vectors left behind (as on another machine), resumes without recomputing anything and
//! gives the same analysis; bad settings are refused before any model loads. A study at
//! `W_0^ret` keeps its own copy of the adapter, named by sha256, draws none of its training
//! questions, and refuses a study without it, with another one, or with a copy that was
//! changed.

use std::path::Path;
use std::process::Command;

fn icor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icor"))
}

/// The tiny study's command line, with `extra` flags.
fn command<S: AsRef<std::ffi::OsStr>>(out: &Path, reports: &Path, extra: &[S]) -> Command {
    let mut c = icor();
    c.args([
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
    .args(extra);
    c
}

fn study(out: &Path, reports: &Path, extra: &[&str]) -> String {
    let o = command(out, reports, extra).output().unwrap();
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

/// A non-trivial `W_0^ret` on SmolLM2's top 2 layers (both factors non-zero), in PEFT's
/// layout, that says it was trained on `trained_on`.
fn write_w0(path: &Path, shift: f32, trained_on: &[String]) {
    let device = icor_llm::device_by_name("flex").unwrap();
    let m = icor_llm::load_model("smollm2-135m", &device).unwrap().model;
    let layout = icor_rag::method::params::LoraLayout::new(&m.config, 28, 4, 8.0);
    let flat: Vec<f32> = (0..layout.len)
        .map(|i| 0.05 * (i as f32 * 0.754_877 + shift).sin())
        .collect();
    let meta = [(
        icor_rag::experiment::run::TRAINED_ON.to_string(),
        trained_on.join("\n"),
    )];
    layout
        .adapter(&flat, &device)
        .save_with(path, &meta)
        .unwrap();
}

/// The questions the test study would draw without an adapter: context 0's query and
/// demonstrations.
fn first_context_keys() -> Vec<String> {
    let home = icor_assets::home(None).unwrap();
    let s = icor_rag::mechanism::Settings {
        contexts: 4,
        demos: 2,
        ..Default::default()
    };
    let c = &icor_rag::mechanism::contexts::draw(&home, &s, &Default::default()).unwrap()[0];
    std::iter::once(&c.query)
        .chain(&c.demos)
        .map(|q| q.key.clone())
        .collect()
}

/// `--adapter <p>`.
fn flag(p: &Path) -> [&std::ffi::OsStr; 2] {
    [std::ffi::OsStr::new("--adapter"), p.as_os_str()]
}

fn refused(out: &Path, reports: &Path, extra: &[&std::ffi::OsStr]) -> String {
    let o = command(out, reports, extra).output().unwrap();
    assert!(!o.status.success(), "accepted: {extra:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_study_at_w0_keeps_its_adapter_and_refuses_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let (out, reports) = (dir.path().join("run"), dir.path().join("reports"));
    let (w0, other) = (
        dir.path().join("w0.safetensors"),
        dir.path().join("w1.safetensors"),
    );
    // W_0^ret "was trained on" what context 0 would hold: the study draws none of it.
    let trained = first_context_keys();
    write_w0(&w0, 0.0, &trained);
    write_w0(&other, 1.0, &[]);
    let err = study(&out, &reports, &["--adapter", w0.to_str().unwrap()]);
    assert!(err.contains("0 measured, 4 to do now"), "{err}");
    assert_eq!(
        std::fs::read(out.join("w0.safetensors")).unwrap(),
        std::fs::read(&w0).unwrap(),
        "the run folder keeps W_0^ret"
    );
    let md = std::fs::read_to_string(reports.join("mechanism.md")).unwrap();
    assert!(
        md.contains("LoRA top2 at W_0^ret") && md.contains("LoRA factors of W_0^ret"),
        "{md}"
    );
    // The step moves the LoRA factors: every record holds a non-zero update of them.
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("contexts/0000.json")).unwrap()).unwrap();
    let norm = rec["value"]["update_norms"]["gd/top2/1e-1/right"]
        .as_f64()
        .unwrap();
    assert!(norm > 0.0, "{norm}");
    for e in std::fs::read_dir(out.join("contexts")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for k in &trained {
            assert!(
                !text.contains(&format!("\"{k}\"")),
                "{k}, trained on, was drawn"
            );
        }
    }
    // Without it, with another adapter: other settings.
    let err = refused(&out, &reports, &[]);
    assert!(err.contains("other settings"), "{err}");
    let err = refused(&out, &reports, &flag(&other));
    assert!(err.contains("other settings"), "{err}");
    // The folder's copy changed under the same settings: named, not used.
    std::fs::copy(&other, out.join("w0.safetensors")).unwrap();
    std::fs::remove_file(out.join("contexts/0003.json")).unwrap();
    let err = refused(&out, &reports, &flag(&w0));
    assert!(err.contains("w0.safetensors has sha256"), "{err}");
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
