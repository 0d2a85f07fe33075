//! `cargo xtask mechanism-report [--check]`: `reports/mechanism.md` from every
//! `reports/mechanism/<name>.json` that `icor rag mechanism` wrote, rendered by the same code
//! the command uses (`icor_rag::mechanism::files`). `--check` fails when the committed report
//! is stale.

use std::path::Path;

use anyhow::{Context, Result, bail};
use icor_rag::mechanism::files::{rendered, report_path, write_report};

pub fn run(root: &Path, check: bool) -> Result<()> {
    let dir = root.join("reports");
    if !dir.join("mechanism").is_dir() {
        println!("no reports/mechanism/ yet: nothing to render");
        return Ok(());
    }
    let md = report_path(&dir);
    if check {
        let fresh = rendered(&dir)?;
        let committed =
            std::fs::read_to_string(&md).with_context(|| format!("reading {}", md.display()))?;
        if committed != fresh {
            bail!(
                "{} is stale: run `cargo xtask mechanism-report` and commit it",
                md.display()
            );
        }
        println!("{} is up to date", md.display());
    } else {
        write_report(&dir)?;
        println!("wrote {}", md.display());
    }
    Ok(())
}
