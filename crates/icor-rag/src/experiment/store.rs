//! Artefacts on disk: written atomically (temporary file in the same folder, then rename, so
//! a kill never leaves a partial file under the final name), each carrying the stamp it was
//! made under, so a stale artefact (other model, configuration or code) is detected and
//! rebuilt instead of silently reused.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result, io_err};

/// What an artefact was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The stage (`adapter`, `targets`, …) and what it depends on, hashed.
    pub stage: String,
    /// FNV-1a of the canonical JSON of the settings that determine the artefact.
    pub config_hash: String,
    /// sha256 of the backbone's weights file.
    pub model_sha256: String,
    /// The crate version that wrote it.
    pub code_version: String,
}

impl Stamp {
    /// The stamp of `stage` under `settings` (any serialisable value) and `model_sha256`.
    pub fn new(stage: &str, settings: &impl Serialize, model_sha256: &str) -> Self {
        let json = serde_json::to_string(settings).unwrap_or_default();
        Self {
            stage: stage.to_string(),
            config_hash: format!("{:016x}", fnv1a(json.as_bytes())),
            model_sha256: model_sha256.to_string(),
            code_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// FNV-1a, 64 bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Writes `bytes` to `path` atomically, creating the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Removes partial files a killed run left in `dir` (named `.partial-*` by [`write_atomic`]).
pub fn remove_partials(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".partial-") {
            std::fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// A JSON artefact with its stamp.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub stamp: Stamp,
    pub value: T,
}

/// Writes `value` with `stamp` as JSON, atomically.
pub fn save_json<T: Serialize>(path: &Path, stamp: &Stamp, value: &T) -> Result<()> {
    #[derive(Serialize)]
    struct Ref<'a, T> {
        stamp: &'a Stamp,
        value: &'a T,
    }
    let bytes = serde_json::to_vec(&Ref { stamp, value }).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

/// Reads a stamped JSON artefact: `Ok(None)` when absent; `Err(Stale)` when made under
/// another stamp; `Err(Format)` when unreadable.
pub fn load_json<T: DeserializeOwned>(path: &Path, stamp: &Stamp) -> Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let s: Stamped<T> = serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if &s.stamp != stamp {
        return Err(Error::Stale {
            path: path.to_path_buf(),
            reason: stale_reason(&s.stamp, stamp),
        });
    }
    Ok(Some(s.value))
}

/// Like [`load_json`], but a stale or unreadable artefact is removed and reported as absent
/// (the caller rebuilds it), with a note on stderr.
pub fn load_or_rebuild<T: DeserializeOwned>(path: &Path, stamp: &Stamp) -> Result<Option<T>> {
    match load_json(path, stamp) {
        Err(e @ (Error::Stale { .. } | Error::Format { .. })) => {
            eprintln!("note: rebuilding {e}");
            std::fs::remove_file(path).map_err(io_err(path))?;
            Ok(None)
        }
        other => other,
    }
}

fn stale_reason(found: &Stamp, want: &Stamp) -> String {
    let mut parts = Vec::new();
    if found.stage != want.stage {
        parts.push(format!("stage {} ≠ {}", found.stage, want.stage));
    }
    if found.config_hash != want.config_hash {
        parts.push(format!(
            "settings hash {} ≠ {}",
            found.config_hash, want.config_hash
        ));
    }
    if found.model_sha256 != want.model_sha256 {
        parts.push("other model weights".to_string());
    }
    if found.code_version != want.code_version {
        parts.push(format!(
            "code {} ≠ {}",
            found.code_version, want.code_version
        ));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A resumed run reads back what it wrote: every f64 digit survives the JSON round trip
    /// (serde_json's `float_roundtrip`; without it about one value in eight here comes back
    /// one ulp off, measured with serde_json 1.0.154).
    #[test]
    fn stamped_json_keeps_every_digit_of_every_f64() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let values: Vec<f64> = (0..20_000)
            .map(|_| {
                let mantissa: f64 = rng.random_range(1.0..2.0);
                mantissa
                    * 2f64.powi(rng.random_range(-40..40))
                    * if rng.random() { 1.0 } else { -1.0 }
            })
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("values.json");
        let stamp = Stamp::new("test", &"settings", "sha");
        save_json(&path, &stamp, &values).expect("save");
        let back: Vec<f64> = load_json(&path, &stamp).expect("load").expect("present");
        let off: Vec<(f64, f64)> = values
            .iter()
            .zip(&back)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .map(|(a, b)| (*a, *b))
            .take(3)
            .collect();
        assert_eq!(back.len(), values.len());
        assert!(off.is_empty(), "values changed by the round trip: {off:?}");
    }
}
