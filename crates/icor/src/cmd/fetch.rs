//! `icor fetch [NAME…] [--all] [--list] [--home DIR]`: bring the real models and data sets into
//! the cache (verified by sha256), or show what is there.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use icor_assets::{Catalogue, Fetcher, FileState};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Assets to fetch (see --list for the names).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Fetch every asset of the catalogue.
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Show every asset (present / missing / corrupt, size, licence, source), re-hashing files.
    #[arg(long, conflicts_with_all = ["names", "all"])]
    list: bool,
    /// Re-hash present files instead of trusting their `.sha256` records.
    #[arg(long)]
    verify: bool,
    /// Cache folder [default: $ICOR_HOME, else the platform cache folder + /icor].
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let home = icor_assets::home(args.home.as_deref())?;
    let catalogue = Catalogue::builtin()?;
    if args.list {
        return list(&home, &catalogue);
    }
    let names: Vec<String> = if args.all {
        catalogue.names().into_iter().map(str::to_owned).collect()
    } else if args.names.is_empty() {
        anyhow::bail!(
            "name the assets to fetch, or pass --all (or --list); known assets: {}",
            catalogue.names().join(", ")
        );
    } else {
        // Reject unknown names before fetching anything.
        for name in &args.names {
            catalogue.get(name)?;
        }
        args.names.clone()
    };

    let fetcher = Fetcher::new(&home, catalogue).with_progress(!args.quiet);
    let start = Instant::now();
    let mut failures = 0usize;
    for name in &names {
        match fetcher.fetch(name, args.verify) {
            Ok(outcome) if outcome.was_present() => {
                println!("{name}: present ({})", outcome.dir.display());
            }
            Ok(outcome) => {
                let repaired = if outcome.repaired.is_empty() {
                    String::new()
                } else {
                    format!(", replaced corrupt {}", outcome.repaired.join(", "))
                };
                println!(
                    "{name}: fetched {} in {:.1} s{repaired} ({})",
                    human(outcome.bytes),
                    outcome.elapsed.as_secs_f64(),
                    outcome.dir.display()
                );
            }
            Err(err) => {
                failures += 1;
                eprintln!("error: {err}");
            }
        }
    }
    if failures > 0 {
        eprintln!(
            "{failures} of {} assets failed; the cache at {} keeps only verified files",
            names.len(),
            home.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{} assets ready in {} ({:.1} s)",
        names.len(),
        home.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--list`: one line per asset, one more per corrupt file; exit 1 if anything is corrupt.
fn list(home: &std::path::Path, catalogue: &Catalogue) -> anyhow::Result<ExitCode> {
    println!("cache: {}", home.display());
    println!(
        "{:<20} {:<8} {:<6} {:>10}  {:<38} licence",
        "asset", "status", "kind", "size", "source"
    );
    let mut corrupt = false;
    for status in icor_assets::list(home, catalogue)? {
        let asset = status.asset;
        println!(
            "{:<20} {:<8} {:<6} {:>10}  {:<38} {}",
            asset.name,
            status.summary(),
            asset.kind,
            human(asset.size()),
            asset.source(),
            asset.licence
        );
        for file in &status.files {
            if let FileState::Corrupt { size, sha256 } = &file.state {
                corrupt = true;
                println!(
                    "  corrupt: {} ({size} bytes, sha256 {sha256}); `icor fetch {}` replaces it",
                    file.local.display(),
                    asset.name
                );
            }
        }
    }
    Ok(if corrupt {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Bytes in binary units (MiB, KiB), as the progress bars show them.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}
