//! The reports index: what an empty folder and the committed `reports/` give.

use std::path::Path;

#[test]
fn an_empty_folder_says_what_did_not_run_and_still_checks_the_theory() {
    let dir = tempfile::tempdir().unwrap();
    let md = icor_cli::index::render(dir.path()).unwrap();
    assert!(
        md.contains("All 9 identities hold on 2000 random cases"),
        "{md}"
    );
    assert!(md.contains("Not run: `probe/docs.json` is missing"), "{md}");
    assert!(md.contains("Not run: no results under `rag/`"), "{md}");
    // Nothing is linked that is not there.
    assert!(!md.contains("](probe.md)"), "{md}");
}

#[test]
fn the_committed_reports_give_every_part_its_headline() {
    let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports");
    let md = icor_cli::index::render(&reports).unwrap();
    // The docs sweep: one row per protocol and document count, with converged seeds.
    for protocol in ["authors", "projection", "dot_product"] {
        assert_eq!(
            md.lines()
                .filter(|l| l.starts_with(&format!("| {protocol} |")))
                .count(),
            4,
            "{md}"
        );
    }
    // Every RAG results file with its claims table.
    assert!(md.contains("**Profile `quick`**"), "{md}");
    assert!(md.contains("| Gradient supervision matters"), "{md}");
    assert!(md.contains("](probe-tables.md)"), "{md}");
    // The all-layers ablation: one line pointing to its paired report, no claims table of its
    // own (it ran one method).
    assert!(
        md.contains("**Ablation `all-layers` of profile `quick`**"),
        "{md}"
    );
    assert!(md.contains("](rag-quick--all-layers.md)"), "{md}");
    assert!(
        !md.contains("**Profile `quick`** (`rag/quick--all-layers.json`"),
        "{md}"
    );
}
