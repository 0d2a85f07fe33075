//! Where the cache lives: `--home DIR`, else `ICOR_HOME`, else the platform cache folder
//! (`~/.cache/icor` on Linux) — never inside the icor repository.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable overriding the cache folder.
pub const HOME_VAR: &str = "ICOR_HOME";

/// The cache folder: `explicit` if given, else `$ICOR_HOME`, else `<platform cache>/icor`.
///
/// Refuses a folder inside the icor repository (one holding `crates/icor-assets/catalogue.toml`),
/// so multi-hundred-megabyte weights never end up next to the sources.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    let home = match explicit {
        Some(p) => p.to_owned(),
        None => match std::env::var_os(HOME_VAR).filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => dirs::cache_dir().ok_or(Error::NoHome)?.join("icor"),
        },
    };
    let home = std::path::absolute(&home).unwrap_or(home);
    if let Some(repo) = repository_above(&home) {
        return Err(Error::HomeInsideRepo { home, repo });
    }
    Ok(home)
}

/// The icor repository root at or above `path`, if any.
fn repository_above(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| dir.join("crates/icor-assets/catalogue.toml").is_file())
        .map(Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_home_wins_and_repo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(Some(dir.path())).unwrap(), dir.path());
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let err = resolve(Some(&repo.join("data/cache"))).unwrap_err();
        assert!(matches!(err, Error::HomeInsideRepo { .. }), "{err}");
    }
}
