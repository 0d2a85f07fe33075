//! Taking one Rust raw string literal (`r#"…"#`) out of a source file: how a data set that a
//! crate embeds in code (rustyml's wine quality tables) becomes a plain file.

/// The contents of the `index`-th (from 0) raw string literal in `source`, with surrounding white
/// space trimmed and one final newline; `None` if there are fewer literals.
///
/// Recognises `r"…"`, `r#"…"#`, `r##"…"##` and so on, where the `r` does not end an identifier.
pub fn rust_raw_string(source: &[u8], index: usize) -> Option<Vec<u8>> {
    let mut i = 0;
    let mut found = 0;
    while i < source.len() {
        if source[i] == b'r' && (i == 0 || !is_ident(source[i - 1])) {
            let mut j = i + 1;
            while j < source.len() && source[j] == b'#' {
                j += 1;
            }
            if j < source.len() && source[j] == b'"' {
                let hashes = j - i - 1;
                let start = j + 1;
                let mut closing = vec![b'"'];
                closing.extend(std::iter::repeat_n(b'#', hashes));
                let len = find(&source[start..], &closing)?;
                if found == index {
                    let mut text = source[start..start + len].trim_ascii().to_vec();
                    text.push(b'\n');
                    return Some(text);
                }
                found += 1;
                i = start + len + closing.len();
                continue;
            }
        }
        i += 1;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::rust_raw_string;

    #[test]
    fn picks_the_nth_literal_and_trims() {
        let src = b"fn a() -> &'static str { r#\"\nh1,h2\n1;2\n    \"# }\nlet var = 1; fn b() { r##\"x\"#y\"## }";
        assert_eq!(rust_raw_string(src, 0).unwrap(), b"h1,h2\n1;2\n");
        assert_eq!(rust_raw_string(src, 1).unwrap(), b"x\"#y\n");
        assert_eq!(rust_raw_string(src, 2), None);
    }

    #[test]
    fn ignores_identifiers_ending_in_r() {
        assert_eq!(rust_raw_string(b"for\"x\" r\"y\"", 0).unwrap(), b"y\n");
    }
}
