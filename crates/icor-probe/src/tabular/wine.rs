//! Wine Quality, white (Cortez et al. 2009): 4,898 rows, 11 physicochemical features, target
//! quality. The shipped file has a comma-separated header and semicolon-separated rows.

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{Table, bad, num};
use crate::error::{Error, Result};

/// Reads the CSV (by hand: its header and rows use different delimiters, which no CSV reader
/// configuration covers; the fields are plain numbers without quoting).
pub fn read(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(Ok(h)) => h,
        _ => return Err(bad(path, 1, "empty file: no header")),
    };
    let names: Vec<String> = header
        .split([',', ';'])
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let target = names
        .iter()
        .position(|n| n == "quality")
        .ok_or_else(|| bad(path, 1, "no column `quality`"))?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let line = line.map_err(|e| bad(path, line_no, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(';').collect();
        if fields.len() != names.len() {
            return Err(bad(
                path,
                line_no,
                format!("{} fields, the header has {}", fields.len(), names.len()),
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let v = num(path, line_no, &names[j], f)?;
            if j == target {
                y.push(v);
            } else {
                x.push(v);
            }
        }
    }
    let features = names
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != target)
        .map(|(_, n)| n.clone())
        .collect();
    Ok(Table {
        name: "wine".into(),
        features,
        x,
        y,
    })
}
