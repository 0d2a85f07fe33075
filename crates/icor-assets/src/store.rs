//! The cache on disk: atomic file replacement, per-asset locks and scratch folders.
//!
//! Layout under the cache home:
//! - `<asset>/<file>` and `<asset>/<file>.sha256`: verified files and their sidecar records;
//! - `<asset>/…/.partial-*`: files being written (removed, under the asset lock, if a run died);
//! - `.locks/<asset>.lock`: held while an asset is being fetched, so two runs never clash;
//! - `.tmp/session-*/`: downloads of one run (wheels, unpacked crates, nested archives), each
//!   holding a locked `.lock`; a later run removes those whose lock is free (their run died).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempDir};

use crate::error::{Error, Result};

/// Prefix of files being written.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// Creates a folder and its parents.
pub fn create_dir(asset: &str, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(asset, "create folder", dir, e))
}

/// An exclusive lock on one asset, released on drop.
#[derive(Debug)]
pub struct AssetLock {
    _file: File,
}

/// Blocks until this process holds the asset's lock.
pub fn lock_asset(home: &Path, asset: &str) -> Result<AssetLock> {
    let dir = home.join(".locks");
    create_dir(asset, &dir)?;
    let path = dir.join(format!("{asset}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(asset, "open lock file", &path, e))?;
    file.lock()
        .map_err(|e| Error::io(asset, "lock", &path, e))?;
    Ok(AssetLock { _file: file })
}

/// Removes `.partial-*` files left anywhere under `dir` by a run that died.
///
/// Call only while holding the asset's lock: every live writer of the asset holds it too.
pub fn remove_stale_partials(asset: &str, dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            remove_stale_partials(asset, &path)?;
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX)
        {
            fs::remove_file(&path).map_err(|e| Error::io(asset, "remove stale", &path, e))?;
        }
    }
    Ok(())
}

/// A new, empty `.partial-*` file in the folder of `dest` (so the final rename is atomic).
pub fn new_partial(asset: &str, dest: &Path) -> Result<NamedTempFile> {
    let dir = parent(dest);
    create_dir(asset, dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(PARTIAL_PREFIX);
    // tempfile's default 0600 would stick to the final file; cached assets are plain data.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder
        .tempfile_in(dir)
        .map_err(|e| Error::io(asset, "create file in", dir, e))
}

/// Flushes `tmp` to disk and renames it onto `dest` atomically, then syncs the folder.
pub fn commit(asset: &str, tmp: NamedTempFile, dest: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(asset, "flush", tmp.path(), e))?;
    tmp.persist(dest)
        .map_err(|e| Error::io(asset, "rename onto", dest, e.error))?;
    sync_dir(parent(dest));
    Ok(())
}

/// Writes `bytes` to `dest` atomically (temp file, fsync, rename).
pub fn write_atomic(asset: &str, dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = new_partial(asset, dest)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io(asset, "write", tmp.path(), e))?;
    commit(asset, tmp, dest)
}

/// Best-effort fsync of a folder, so a rename survives a crash (a no-op where unsupported).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The scratch folder of one run, removed on drop (and by a later run if this one dies).
#[derive(Debug)]
pub struct Session {
    dir: TempDir,
    _lock: File,
}

impl Session {
    /// Creates `<home>/.tmp/session-*`, first removing those of runs that died.
    pub fn new(home: &Path) -> Result<Self> {
        let root = home.join(".tmp");
        create_dir("*", &root)?;
        remove_dead_sessions(&root);
        let dir = tempfile::Builder::new()
            .prefix("session-")
            .tempdir_in(&root)
            .map_err(|e| Error::io("*", "create scratch folder in", &root, e))?;
        let lock_path = dir.path().join(".lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io("*", "create", &lock_path, e))?;
        lock.lock()
            .map_err(|e| Error::io("*", "lock", &lock_path, e))?;
        Ok(Self { dir, _lock: lock })
    }

    /// The scratch folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh, empty sub-folder of the scratch folder.
    pub fn subdir(&self, asset: &str, prefix: &str) -> Result<PathBuf> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.path())
            .map(TempDir::keep)
            .map_err(|e| Error::io(asset, "create scratch folder in", self.path(), e))
    }
}

/// Removes session folders whose `.lock` no live process holds.
fn remove_dead_sessions(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(lock) = File::open(dir.join(".lock")) else {
            continue; // being created right now, or not ours
        };
        if lock.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a/b.txt");
        write_atomic("t", &dest, b"one").unwrap();
        write_atomic("t", &dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.txt")]);
    }

    #[test]
    fn stale_partials_are_removed_recursively() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join(".partial-x"), b"half").unwrap();
        fs::write(dir.path().join("sub/.partial-y"), b"half").unwrap();
        fs::write(dir.path().join("keep"), b"ok").unwrap();
        remove_stale_partials("t", dir.path()).unwrap();
        assert!(!dir.path().join(".partial-x").exists());
        assert!(!dir.path().join("sub/.partial-y").exists());
        assert!(dir.path().join("keep").exists());
    }

    #[test]
    fn dead_sessions_are_removed_live_ones_kept() {
        let home = tempfile::tempdir().unwrap();
        let dead = home.path().join(".tmp/session-dead");
        fs::create_dir_all(&dead).unwrap();
        fs::write(dead.join(".lock"), b"").unwrap();
        fs::write(dead.join("half.whl"), b"x").unwrap();
        let live = Session::new(home.path()).unwrap();
        assert!(!dead.exists(), "dead session removed");
        let other = Session::new(home.path()).unwrap();
        assert!(live.path().exists(), "live session kept");
        let live_path = live.path().to_owned();
        drop(live);
        assert!(!live_path.exists(), "session removed on drop");
        drop(other);
    }
}
