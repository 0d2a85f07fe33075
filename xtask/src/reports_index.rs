//! `cargo xtask reports-index [--check]`: `reports/README.md`, the index of every committed
//! report with its headline results (`icor_cli::index`, the same one `icor reproduce` writes).

use std::path::Path;

use anyhow::{Result, bail};

pub fn run(root: &Path, check: bool) -> Result<()> {
    let dir = root.join("reports");
    let path = dir.join("README.md");
    let fresh = icor_cli::index::render(&dir)?;
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            bail!(
                "{} is stale: run `cargo xtask reports-index` and commit it",
                path.display()
            );
        }
        println!("reports/README.md is up to date");
    } else {
        std::fs::write(&path, fresh)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
