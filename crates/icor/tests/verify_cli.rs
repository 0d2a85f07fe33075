//! `icor verify` end to end: JSON report, dump files, bad arguments.

use std::process::Command;

fn icor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_icor"))
}

#[test]
fn json_report_lists_every_identity_passing_well_below_1e_10() {
    let out = icor()
        .args(["verify", "--cases", "50", "--seed", "9", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 9);
    for c in checks {
        assert_eq!(c["cases"], 50);
        assert_eq!(c["pass"], true, "{c}");
        assert!(c["max_rel_err"].as_f64().unwrap() <= 1e-10, "{c}");
    }
}

#[test]
fn dump_writes_inputs_weights_and_both_outputs() {
    let dir = std::env::temp_dir().join(format!("icor-verify-dump-{}", std::process::id()));
    let out = icor()
        .args([
            "verify",
            "--cases",
            "2",
            "--only",
            "lemma1-projection",
            "--dump",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for seed in 0..2 {
        let text =
            std::fs::read_to_string(dir.join("lemma1-projection").join(format!("{seed}.json")))
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "context",
            "queries",
            "W1",
            "W2",
            "W_d",
            "W_K",
            "W_Q",
            "W_V",
            "P",
            "lsa_output",
            "gd_output",
        ] {
            assert!(
                v["matrices"][key].is_array(),
                "missing {key} in seed {seed}"
            );
        }
        assert!(v["scalars"]["eta"].is_number());
        // The dumped weights reproduce the dumped GD output: y-slot of P·W_V·Σ(W_K e_i)(W_Q e_j).
        let m = |k: &str| -> Vec<Vec<f64>> {
            serde_json::from_value(v["matrices"][k].clone()).unwrap()
        };
        let (ctx, q, wk, wq, wv, p, gd) = (
            m("context"),
            m("queries"),
            m("W_K"),
            m("W_Q"),
            m("W_V"),
            m("P"),
            m("gd_output"),
        );
        let mv = |a: &Vec<Vec<f64>>, x: &Vec<f64>| -> Vec<f64> {
            a.iter()
                .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
                .collect()
        };
        let dim = q[0].len();
        let dy = gd[0].len();
        for (j, e_j) in q.iter().enumerate() {
            let qj = mv(&wq, e_j);
            let mut acc = vec![0.0; dim];
            for e_i in &ctx {
                let score: f64 = mv(&wk, e_i).iter().zip(&qj).map(|(a, b)| a * b).sum();
                for (a, v) in acc.iter_mut().zip(mv(&wv, e_i)) {
                    *a += score * v;
                }
            }
            let upd = mv(&p, &acc);
            for k in 0..dy {
                let (got, want) = (upd[dim - dy + k], gd[j][dim - dy + k] - e_j[dim - dy + k]);
                assert!(
                    (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                    "seed {seed} query {j}: {got} vs {want}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_identity_is_a_clear_error() {
    let out = icor()
        .args(["verify", "--only", "no-such-identity"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no identity name contains") && err.contains("lemma1-projection"),
        "{err}"
    );
}
