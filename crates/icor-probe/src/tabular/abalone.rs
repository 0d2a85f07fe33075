//! Abalone (UCI; sklego's copy): 4,177 rows, sex plus seven bounded measurements, target rings.
//! Stand-in for the paper's Calorie Expenditure set, which is not shipped anywhere reachable.
//! Sex (M / F / I) becomes two indicators, infant being the baseline.

use std::path::Path;

use super::{Table, bad, csv_reader, headers, num, records};
use crate::error::Result;

/// Reads the CSV.
pub fn read(path: &Path) -> Result<Table> {
    let mut r = csv_reader(path, b',')?;
    let header = headers(path, &mut r)?;
    if header.first().map(String::as_str) != Some("sex")
        || header.last().map(String::as_str) != Some("rings")
    {
        return Err(bad(path, 1, "expected columns sex, …, rings"));
    }
    let measures = &header[1..header.len() - 1];
    let mut features = vec!["sex_male".to_string(), "sex_female".to_string()];
    features.extend(measures.iter().cloned());
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line, rec) in records(path, &mut r)? {
        if rec.len() != header.len() {
            return Err(bad(
                path,
                line,
                format!("{} fields, the header has {}", rec.len(), header.len()),
            ));
        }
        let (m, f) = match rec[0].trim() {
            "M" => (1.0, 0.0),
            "F" => (0.0, 1.0),
            "I" => (0.0, 0.0),
            other => {
                return Err(bad(
                    path,
                    line,
                    format!("column sex: {other:?} is not M, F or I"),
                ));
            }
        };
        x.extend([m, f]);
        for (j, name) in measures.iter().enumerate() {
            x.push(num(path, line, name, &rec[j + 1])?);
        }
        y.push(num(path, line, "rings", &rec[header.len() - 1])?);
    }
    Ok(Table {
        name: "abalone".into(),
        features,
        x,
        y,
    })
}
