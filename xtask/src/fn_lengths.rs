//! `cargo xtask fn-lengths [--check]`: the longest functions of `crates/icor-rag` (issue 23:
//! "no function in icor-rag over ~150 lines"), measured on the rustfmt-formatted sources.
//!
//! How it measures: a function starts at a line whose first token (after `pub`, `pub(crate)`,
//! `pub(super)`, `const`, `async`, `unsafe`) is `fn`, and ends at the first later line that is
//! exactly its indentation followed by `}`; its length is the lines from the `fn` line to that
//! brace, both counted (doc comments and attributes above it not counted). rustfmt puts every
//! function's closing brace alone on a line at the indentation of its `fn`, so this finds the
//! end without parsing Rust. `--check` fails when one is longer than [`LIMIT`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The longest a function of icor-rag may be, in lines.
pub const LIMIT: usize = 150;

/// One function: where it is and how many lines it spans.
struct Span {
    file: PathBuf,
    line: usize,
    name: String,
    lines: usize,
}

pub fn run(root: &Path, check: bool) -> Result<()> {
    let crate_src = root.join("crates/icor-rag/src");
    let mut spans = Vec::new();
    for file in rust_files(&crate_src)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        spans.extend(
            functions(&text)
                .into_iter()
                .map(|(line, name, lines)| Span {
                    file: rel.clone(),
                    line,
                    name,
                    lines,
                }),
        );
    }
    spans.sort_by(|a, b| b.lines.cmp(&a.lines));
    println!(
        "the 5 longest of {} functions in crates/icor-rag/src:",
        spans.len()
    );
    for s in spans.iter().take(5) {
        println!(
            "  {:>4} lines  {}:{}  fn {}",
            s.lines,
            s.file.display(),
            s.line,
            s.name
        );
    }
    let over: Vec<&Span> = spans.iter().filter(|s| s.lines > LIMIT).collect();
    if check && !over.is_empty() {
        bail!(
            "{} function(s) of icor-rag longer than {LIMIT} lines, the longest {}:{} ({} lines)",
            over.len(),
            over[0].file.display(),
            over[0].line,
            over[0].lines
        );
    }
    Ok(())
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// (first line, 1-based; name; length in lines) of every function in `text`.
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let indent = &line[..line.len() - line.trim_start().len()];
        let close = format!("{indent}}}");
        if let Some(end) = (i + 1..lines.len()).find(|&j| lines[j] == close) {
            out.push((i + 1, name, end - i + 1));
        }
    }
    out
}

/// The function named on `line`, if the line starts a function definition with a body.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    if line.trim_end().ends_with(';') {
        return None; // a declaration in a trait, without a body
    }
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_from_fn_to_its_closing_brace() {
        let text = "/// doc\npub fn a(x: u8) -> u8 {\n    x\n}\n\nimpl T {\n    pub(crate) fn b() {\n        if true {\n        }\n    }\n    fn c();\n}\n";
        assert_eq!(
            functions(text),
            vec![(2, "a".into(), 3), (7, "b".into(), 4)]
        );
    }
}
