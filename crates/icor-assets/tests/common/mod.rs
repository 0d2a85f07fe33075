//! Test fixtures: wheels built with the zip crate, fake `pip`/`cargo` scripts, tiny catalogues.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use icor_assets::source::ToolCommand;
use icor_assets::source::cargo::Cargo;
use icor_assets::source::pip::Pip;
use icor_assets::{Catalogue, Fetcher};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Lower-case hex sha256.
pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes).as_slice())
}

/// Bytes of a zip holding `members` (deflated).
pub fn zip_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("start member");
        w.write_all(data).expect("write member");
    }
    w.finish().expect("finish zip").into_inner()
}

/// A test world: a cache home, a folder of prepared wheels and fake registry clients.
pub struct World {
    pub root: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        for dir in ["home", "wheels", "bin", "crates"] {
            fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        Self { root }
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn log(&self) -> PathBuf {
        self.root.path().join("calls.log")
    }

    /// How many times a fake client ran.
    pub fn calls(&self) -> usize {
        fs::read_to_string(self.log()).map_or(0, |s| s.lines().count())
    }

    /// The logged argument lines.
    pub fn call_lines(&self) -> Vec<String> {
        fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Serves `bytes` as the wheel of `pin` (`NAME==VERSION`).
    pub fn add_wheel(&self, pin: &str, bytes: &[u8]) {
        fs::write(
            self.root.path().join("wheels").join(format!("{pin}.whl")),
            bytes,
        )
        .expect("write wheel");
    }

    /// Writes an executable script `bin/NAME` with `body` (after a shebang) and returns it.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.root.path().join("bin").join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write script");
        let mut perm = fs::metadata(&path).expect("stat").permissions();
        perm.set_mode(0o755);
        fs::set_permissions(&path, perm).expect("chmod");
        path
    }

    /// A fake pip that logs its arguments and copies the prepared wheel into `-d DIR`
    /// (exit 1 with pip's message when none is prepared).
    pub fn good_pip(&self) -> Pip {
        let body = format!(
            r#"echo "$@" >> '{log}'
dest=""; spec=""
while [ $# -gt 0 ]; do
  case "$1" in
    -d) dest="$2"; shift 2 ;;
    --retries|--timeout) shift 2 ;;
    *) spec="$1"; shift ;;
  esac
done
if [ ! -f '{wheels}'/"$spec.whl" ]; then
  echo "ERROR: Could not find a version that satisfies the requirement $spec (from versions: none)" >&2
  echo "ERROR: No matching distribution found for $spec" >&2
  exit 1
fi
cp '{wheels}'/"$spec.whl" "$dest/fake-$(echo "$spec" | tr '=' '_').whl"
"#,
            log = self.log().display(),
            wheels = self.root.path().join("wheels").display()
        );
        self.pip_from(&self.script("pip", &body))
    }

    /// A fake pip that logs its arguments, prints `stderr` and exits with `code`.
    pub fn failing_pip(&self, stderr: &str, code: i32) -> Pip {
        let body = format!(
            "echo \"$@\" >> '{}'\ncat >&2 <<'MSG'\n{stderr}\nMSG\nexit {code}\n",
            self.log().display()
        );
        self.pip_from(&self.script("failing-pip", &body))
    }

    pub fn pip_from(&self, program: &Path) -> Pip {
        Pip::new(ToolCommand::new([program]).expect("command"))
    }

    /// A fake cargo whose `vendor` unpacks crate `dir_name` (`NAME-VERSION`) holding `files`.
    pub fn fake_cargo(&self, dir_name: &str, files: &[(&str, &[u8])]) -> Cargo {
        let src = self.root.path().join("crates").join(dir_name);
        for (path, data) in files {
            let p = src.join(path);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, data).expect("write crate file");
        }
        let body = format!(
            r#"echo "$@" >> '{log}'
for last in "$@"; do :; done
mkdir -p "$last" && cp -r '{src}' "$last/"
"#,
            log = self.log().display(),
            src = src.display()
        );
        Cargo::new(ToolCommand::new([self.script("cargo", &body)]).expect("command"))
    }

    /// A fetcher over `catalogue` with `pip`, no progress bars and a cargo that must not run.
    pub fn fetcher(&self, catalogue: &str, pip: Pip) -> Fetcher {
        let catalogue = Catalogue::from_toml(catalogue).expect("test catalogue");
        let no_cargo = Cargo::new(ToolCommand::new(["/nonexistent/cargo"]).expect("command"));
        Fetcher::new(self.home(), catalogue)
            .with_pip(pip)
            .with_cargo(no_cargo)
            .with_progress(false)
    }

    /// Every file under the home folder (relative paths), excluding lock files.
    pub fn files_in_home(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.home(), &self.home(), &mut out);
        out.retain(|p| !p.starts_with(".locks/"));
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// `(path, size, sha256, parts)` of a test file; a part is `(source, member)`.
pub type TestFile<'a> = (&'a str, u64, &'a str, &'a [(&'a str, &'a str)]);

/// A one-asset catalogue: asset `name`, one file `path` made of `parts` (`(source, member)`
/// with source like `pypi = "p==1"`), with the given size and sha256.
pub fn catalogue(name: &str, files: &[TestFile<'_>]) -> String {
    let mut s = format!(
        "[[asset]]\nname = \"{name}\"\nkind = \"data\"\nsummary = \"test\"\nlicence = \"MIT\"\n"
    );
    for (path, size, sha256, parts) in files {
        s += &format!(
            "[[asset.file]]\npath = \"{path}\"\nsize = {size}\nsha256 = \"{sha256}\"\nparts = [\n"
        );
        for (source, member) in *parts {
            s += &format!("  {{ {source}, member = \"{member}\" }},\n");
        }
        s += "]\n";
    }
    s
}

/// Reads a file, panicking with its path.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Touches nothing; just a File handle for set_modified.
pub fn open_rw(path: &Path) -> File {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open rw")
}
