//! Real tabular regression sets for the nonlinear study (§4.3, App. F) and synthetic tables with
//! chosen feature distributions, all as one [`Table`] type.
//!
//! | module | what |
//! |---|---|
//! | [`california`], [`bike`], [`wine`], [`abalone`], [`diamonds`] | one loader per file format |
//! | [`synthetic`] | tables with uniform / Gaussian / Laplace / Student-t(3) / log-normal features |
//! | [`normalise`] | z-score, min–max, rank and tanh normalisation, fitted on the training split |
//! | [`shape`] | scalar statistics of a feature distribution (kurtosis, max |z|, bottom-decile mass) |

pub mod abalone;
pub mod bike;
pub mod california;
pub mod diamonds;
pub mod normalise;
pub mod shape;
pub mod synthetic;
pub mod wine;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use normalise::{Norm, Normaliser};
pub use synthetic::Distribution;

/// A regression table: `n` rows of `p` features (row-major) and one target each.
#[derive(Debug, Clone)]
pub struct Table {
    /// Short name ("california", "uniform", …).
    pub name: String,
    /// Feature names, `p` of them.
    pub features: Vec<String>,
    /// `[n, p]` row-major.
    pub x: Vec<f64>,
    /// `[n]` targets.
    pub y: Vec<f64>,
}

impl Table {
    /// Rows.
    pub fn n(&self) -> usize {
        self.y.len()
    }
    /// Features per row.
    pub fn p(&self) -> usize {
        self.features.len()
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let p = self.p();
        &self.x[i * p..(i + 1) * p]
    }
    /// Column `j`.
    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.n()).map(|i| self.x[i * self.p() + j]).collect()
    }
    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Table {
        Table {
            name: self.name.clone(),
            features: self.features.clone(),
            x: idx.iter().flat_map(|&i| self.row(i).to_vec()).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
        }
    }
}

/// The real data sets of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// California Housing (8 features, target MedHouseVal): four heavy-tailed columns.
    California,
    /// Bike Sharing hourly, mapped back to the UCI codes (14 features, target cnt).
    Bike,
    /// Wine Quality, white (11 features, target quality): a few far outliers.
    Wine,
    /// Abalone (stand-in for the unavailable Calorie Expenditure set; bounded features).
    Abalone,
    /// Diamonds (9 features, target price): an extra heavy-tailed set.
    Diamonds,
}

impl Dataset {
    /// Every set, in report order.
    pub const ALL: [Dataset; 5] = [
        Dataset::California,
        Dataset::Bike,
        Dataset::Wine,
        Dataset::Abalone,
        Dataset::Diamonds,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::California => "california",
            Dataset::Bike => "bike",
            Dataset::Wine => "wine",
            Dataset::Abalone => "abalone",
            Dataset::Diamonds => "diamonds",
        }
    }

    /// The asset (`icor fetch NAME`) and the file in it.
    pub fn asset(self) -> (&'static str, &'static str) {
        match self {
            Dataset::California => ("california-housing", "california_housing.parquet.brotli"),
            Dataset::Bike => ("bike-sharing", "bike-rental-dataset.csv"),
            Dataset::Wine => ("wine-quality", "winequality-white.csv"),
            Dataset::Abalone => ("abalone", "abalone.csv"),
            Dataset::Diamonds => ("diamonds", "diamonds.csv"),
        }
    }

    /// Parses the set from its file.
    pub fn read(self, path: &Path) -> Result<Table> {
        match self {
            Dataset::California => california::read(path),
            Dataset::Bike => bike::read(path),
            Dataset::Wine => wine::read(path),
            Dataset::Abalone => abalone::read(path),
            Dataset::Diamonds => diamonds::read(path),
        }
    }

    /// Loads the set from the asset cache `home`, fetching it on first use; a failure names
    /// the command that fetches it.
    pub fn load(self, home: &Path) -> Result<Table> {
        let (asset, file) = self.asset();
        let path = icor_assets::ensure_file(home, asset, file).map_err(|e| Error::Data {
            path: home.join(asset).join(file),
            reason: format!(
                "not in the cache and could not be fetched ({e}); run `icor fetch {asset}`"
            ),
        })?;
        self.read(&path)
    }
}

/// A parse error at `path`, line `line` (1-based, header = line 1).
pub(crate) fn bad(path: &Path, line: usize, what: impl Into<String>) -> Error {
    Error::Data {
        path: PathBuf::from(format!("{}:{line}", path.display())),
        reason: what.into(),
    }
}

/// Parses a number of a CSV field.
pub(crate) fn num(path: &Path, line: usize, col: &str, s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| bad(path, line, format!("column {col}: {s:?} is not a number")))
}

/// Opens a CSV file with the given delimiter (headers read separately by the caller).
pub(crate) fn csv_reader(path: &Path, delimiter: u8) -> Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_path(path)
        .map_err(|e| Error::Data {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The header of a CSV reader.
pub(crate) fn headers(path: &Path, reader: &mut csv::Reader<std::fs::File>) -> Result<Vec<String>> {
    Ok(reader
        .headers()
        .map_err(|e| bad(path, 1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect())
}

/// The index of column `name` in `header`.
pub(crate) fn column(path: &Path, header: &[String], name: &str) -> Result<usize> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| bad(path, 1, format!("no column `{name}`")))
}

/// The records of a CSV reader, with 1-based line numbers (header = 1).
pub(crate) fn records(
    path: &Path,
    reader: &mut csv::Reader<std::fs::File>,
) -> Result<Vec<(usize, csv::StringRecord)>> {
    let mut v = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad(path, i + 2, e.to_string()))?;
        v.push((i + 2, rec));
    }
    Ok(v)
}
