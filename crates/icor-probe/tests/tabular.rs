//! The tabular sets of the nonlinear study: every real set parses with its documented size
//! (from the asset cache, which `.ci/run` fills), malformed files are reported with file, line
//! and column, and retrieved tasks hold the top-scoring rows with the GD reference equal to the
//! score-weighted sum of their labels.

use std::io::Write;

use icor_probe::reference::gd_predictions;
use icor_probe::tabular::{Dataset, Distribution, Norm, Normaliser, Table};
use icor_probe::task::{Readout, Retrieved, rng};

fn home() -> std::path::PathBuf {
    icor_assets::home(None).expect("asset cache")
}

#[test]
fn every_real_set_parses_with_its_documented_shape() {
    let expected = [
        (Dataset::California, 20_640, 8),
        (Dataset::Bike, 17_379, 14),
        (Dataset::Wine, 4_898, 11),
        (Dataset::Abalone, 4_177, 9),
        (Dataset::Diamonds, 53_940, 9),
    ];
    for (d, n, p) in expected {
        let t = d
            .load(&home())
            .unwrap_or_else(|e| panic!("{}: {e}", d.name()));
        assert_eq!((t.n(), t.p()), (n, p), "{}", d.name());
        assert_eq!(t.x.len(), n * p);
        assert!(
            t.x.iter().chain(&t.y).all(|v| v.is_finite()),
            "{}",
            d.name()
        );
    }
}

#[test]
fn bike_rows_carry_uci_codes() {
    let t = Dataset::Bike.load(&home()).unwrap();
    let col = |name: &str| t.column(t.features.iter().position(|f| f == name).unwrap());
    let within = |name: &str, lo: f64, hi: f64| {
        let c = col(name);
        let (min, max) = c
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        assert_eq!((min, max), (lo, hi), "{name}");
    };
    within("season", 1.0, 4.0);
    within("yr", 0.0, 1.0);
    within("mnth", 1.0, 12.0);
    within("hr", 0.0, 23.0);
    within("weekday", 0.0, 6.0);
    within("weathersit", 1.0, 4.0);
    // casual + registered = cnt in every row (the paper keeps both as features)
    let (c, r) = (col("casual"), col("registered"));
    assert!((0..t.n()).all(|i| c[i] + r[i] == t.y[i]));
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn malformed_files_name_file_line_and_column() {
    let f = write("sex,length,rings\nM,0.4,7\nF,abc,9\n");
    let e = Dataset::Abalone.read(f.path()).unwrap_err().to_string();
    assert!(
        e.contains(&format!("{}:3", f.path().display())) && e.contains("length"),
        "{e}"
    );

    let f = write("sex,length,rings\nX,0.4,7\n");
    let e = Dataset::Abalone.read(f.path()).unwrap_err().to_string();
    assert!(e.contains(":2") && e.contains("sex"), "{e}");

    let f = write("a,quality\n1;2\n3\n");
    let e = Dataset::Wine.read(f.path()).unwrap_err().to_string();
    assert!(e.contains(":3") && e.contains("1 fields"), "{e}");

    let header = "dteday,season,hr,holiday,weekday,workingday,weathersit,temp,atemp,hum,windspeed,casual,registered,cnt\n";
    let f = write(&format!(
        "{header}2011-01-01,spring,1am,No,Mon,No,Clear,1,1,1,1,1,1,2\n"
    ));
    let e = Dataset::Bike.read(f.path()).unwrap_err().to_string();
    assert!(
        e.contains(":2") && e.contains("weekday") && e.contains("Sat"),
        "{e}"
    );

    let missing = std::path::Path::new("/nonexistent/abalone.csv");
    let e = Dataset::Abalone.read(missing).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/abalone.csv"), "{e}");
}

#[test]
fn retrieved_contexts_are_the_top_scoring_rows_and_gd_weights_labels_by_score() {
    let table = Distribution::Laplace.table(400, 4, &mut rng(5, 0));
    let idx: Vec<usize> = (0..400).collect();
    let (train, test) = (table.select(&idx[40..]), table.select(&idx[..40]));
    for norm in Norm::ALL {
        let task = Retrieved::new(&train, &test, norm, 6);
        let batch = task.test_batch(40);
        let (n, d, p) = (batch.n(), batch.d, batch.dx());
        let z = Normaliser::fit(Norm::ZScore, &train).apply_table(&train);
        let eta = 0.37;
        let gd = gd_predictions(&batch, eta, 1, Readout::WithBase);
        for (i, &gd_i) in gd.iter().enumerate().take(batch.b) {
            let tok = &batch.tokens[i * batch.t * d..(i + 1) * batch.t * d];
            let q: Vec<f64> = tok[n * d..n * d + p]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let score = |row: &[f64]| row.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            // the worst retrieved score is at least the best score of any other corpus row
            let ctx_scores: Vec<f64> = (0..n)
                .map(|k| {
                    score(
                        &tok[k * d..k * d + p]
                            .iter()
                            .map(|&v| f64::from(v))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            let mut all: Vec<f64> = (0..train.n())
                .map(|r| score(&z[r * p..(r + 1) * p]))
                .collect();
            all.sort_by(|a, b| b.total_cmp(a));
            let worst = ctx_scores.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                worst >= all[n - 1] - 1e-4,
                "{norm:?}: {worst} < {}",
                all[n - 1]
            );
            // one GD step from 0 = (η/N) Σ yᵢ · score(xᵢ)
            let by_hand: f64 = (0..n)
                .map(|k| f64::from(tok[k * d + p]) * ctx_scores[k])
                .sum::<f64>()
                * eta
                / n as f64;
            assert!(
                (gd_i - by_hand).abs() < 1e-4 * (1.0 + by_hand.abs()),
                "{} vs {by_hand}",
                gd_i
            );
        }
    }
}

#[test]
fn normalised_tables_keep_rows_and_columns() {
    let t = Table {
        name: "t".into(),
        features: vec!["a".into(), "b".into()],
        x: vec![1.0, 10.0, 2.0, 20.0, 3.0, 40.0],
        y: vec![0.0; 3],
    };
    let mm = Normaliser::fit(Norm::MinMax, &t).apply_table(&t);
    assert_eq!(mm, vec![0.0, 0.0, 0.5, 1.0 / 3.0, 1.0, 1.0]);
}
