//! Diamonds (ggplot2, via plotnine): 53,940 rows, target price. The ordered categories become
//! their ranks (cut Fair…Ideal = 1…5, color J…D = 1…7, clarity I1…IF = 1…8).

use std::path::Path;

use super::{Table, bad, column, csv_reader, headers, num, records};
use crate::error::Result;

const CUT: [&str; 5] = ["Fair", "Good", "Very Good", "Premium", "Ideal"];
const COLOR: [&str; 7] = ["J", "I", "H", "G", "F", "E", "D"];
const CLARITY: [&str; 8] = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"];

/// Reads the CSV.
pub fn read(path: &Path) -> Result<Table> {
    let mut r = csv_reader(path, b',')?;
    let header = headers(path, &mut r)?;
    let col = |name: &str| column(path, &header, name);
    let price = col("price")?;
    let ordinal: [(&str, &[&str]); 3] = [("cut", &CUT), ("color", &COLOR), ("clarity", &CLARITY)];
    let numeric = ["carat", "depth", "table", "x", "y", "z"];
    let ord_cols = ordinal
        .iter()
        .map(|(n, _)| col(n))
        .collect::<Result<Vec<_>>>()?;
    let num_cols = numeric.iter().map(|n| col(n)).collect::<Result<Vec<_>>>()?;
    let mut features: Vec<String> = numeric.iter().map(|s| s.to_string()).collect();
    features.extend(ordinal.iter().map(|(n, _)| n.to_string()));
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line, rec) in records(path, &mut r)? {
        for (&c, name) in num_cols.iter().zip(numeric) {
            x.push(num(path, line, name, &rec[c])?);
        }
        for (&c, (name, levels)) in ord_cols.iter().zip(ordinal) {
            let v = &rec[c];
            let k = levels
                .iter()
                .position(|l| *l == v)
                .ok_or_else(|| bad(path, line, format!("column {name}: unknown level {v:?}")))?;
            x.push((k + 1) as f64);
        }
        y.push(num(path, line, "price", &rec[price])?);
    }
    Ok(Table {
        name: "diamonds".into(),
        features,
        x,
        y,
    })
}
