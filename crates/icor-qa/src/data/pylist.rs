//! Python list-of-strings literals (`['a', "b's", '\xad']`), as `ast.literal_eval` reads them.
//!
//! Only what the topic files use is accepted: a list of string literals in single or double
//! quotes, optional `u`/`r` prefixes, adjacent literals concatenated, the standard escapes
//! (`\\ \' \" \n \t \r \a \b \f \v \ooo \xhh \uhhhh \Uhhhhhhhh`, backslash-newline); an unknown
//! escape keeps its backslash, as in Python. Surrogate pairs written as two `\u` escapes are
//! combined; a lone surrogate is an error.

/// Parses a Python list of strings; the error says what was wrong and at which character.
pub fn parse_str_list(text: &str) -> Result<Vec<String>, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    parser.skip_space();
    parser.expect('[')?;
    let mut items = Vec::new();
    loop {
        parser.skip_space();
        if parser.peek() == Some(']') {
            parser.pos += 1;
            break;
        }
        items.push(parser.string()?);
        parser.skip_space();
        match parser.bump() {
            Some(',') => continue,
            Some(']') => break,
            other => return Err(parser.unexpected(other, "',' or ']'")),
        }
    }
    parser.skip_space();
    if parser.pos != parser.chars.len() {
        return Err(format!(
            "trailing text after the list at character {}",
            parser.pos
        ));
    }
    Ok(items)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, found: Option<char>, wanted: &str) -> String {
        match found {
            Some(c) => format!(
                "expected {wanted} at character {}, found {c:?}",
                self.pos - 1
            ),
            None => format!("expected {wanted}, found the end of the text"),
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        match self.bump() {
            Some(c) if c == wanted => Ok(()),
            other => Err(self.unexpected(other, &format!("{wanted:?}"))),
        }
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn string(&mut self) -> Result<String, String> {
        let mut out = self.literal()?;
        loop {
            let save = self.pos;
            self.skip_space();
            match self.peek() {
                Some('\'' | '"' | 'u' | 'U' | 'r' | 'R') => out.push_str(&self.literal()?),
                _ => {
                    self.pos = save;
                    return Ok(out);
                }
            }
        }
    }

    fn literal(&mut self) -> Result<String, String> {
        let mut raw = false;
        while let Some(prefix @ ('u' | 'U' | 'r' | 'R')) = self.peek() {
            raw |= matches!(prefix, 'r' | 'R');
            self.pos += 1;
        }
        let quote = match self.bump() {
            Some(q @ ('\'' | '"')) => q,
            other => return Err(self.unexpected(other, "a string literal")),
        };
        let mut units: Vec<u32> = Vec::new();
        loop {
            let c = self
                .bump()
                .ok_or_else(|| "unterminated string literal".to_owned())?;
            if c == quote {
                break;
            }
            if c != '\\' {
                units.push(c as u32);
                continue;
            }
            let e = self
                .bump()
                .ok_or_else(|| "unterminated escape".to_owned())?;
            if raw {
                units.extend(['\\' as u32, e as u32]);
                continue;
            }
            match e {
                '\n' => {}
                '\\' | '\'' | '"' => units.push(e as u32),
                'n' => units.push('\n' as u32),
                't' => units.push('\t' as u32),
                'r' => units.push('\r' as u32),
                'a' => units.push(7),
                'b' => units.push(8),
                'f' => units.push(12),
                'v' => units.push(11),
                'x' => units.push(self.hex(2)?),
                'u' => units.push(self.hex(4)?),
                'U' => units.push(self.hex(8)?),
                '0'..='7' => {
                    let mut value = e.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                value = value * 8 + d;
                                self.pos += 1;
                            }
                            None => break,
                        }
                    }
                    units.push(value);
                }
                other => units.extend(['\\' as u32, other as u32]),
            }
        }
        decode(&units)
    }

    fn hex(&mut self, digits: usize) -> Result<u32, String> {
        let mut value = 0u32;
        for _ in 0..digits {
            let d = self.bump().and_then(|c| c.to_digit(16));
            value = value * 16
                + d.ok_or_else(|| format!("bad \\x/\\u escape near character {}", self.pos))?;
        }
        Ok(value)
    }
}

/// Code points (possibly surrogate pairs from `\u` escapes) → a Rust string.
fn decode(units: &[u32]) -> Result<String, String> {
    let mut out = String::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        let unit = units[i];
        let code = if (0xD800..0xDC00).contains(&unit)
            && units
                .get(i + 1)
                .is_some_and(|low| (0xDC00..0xE000).contains(low))
        {
            i += 1;
            0x10000 + ((unit - 0xD800) << 10) + (units[i] - 0xDC00)
        } else {
            unit
        };
        out.push(char::from_u32(code).ok_or_else(|| format!("invalid code point U+{code:04X}"))?);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_str_list;

    #[test]
    fn parses_both_quote_styles_and_escapes() {
        let parsed =
            parse_str_list(r#"['""Nelson\'s Sparrow""', "Nelson's Sparrow", 'Hydro\xadgen']"#);
        assert_eq!(
            parsed.unwrap(),
            vec![
                "\"\"Nelson's Sparrow\"\"".to_owned(),
                "Nelson's Sparrow".to_owned(),
                "Hydro\u{ad}gen".to_owned()
            ]
        );
        assert_eq!(
            parse_str_list(r"['Algeria\u200e', '\U0001F681', '\ud83d\ude81', 'a\\b', '\d']")
                .unwrap(),
            vec!["Algeria\u{200e}", "🚁", "🚁", "a\\b", "\\d"]
        );
        assert_eq!(parse_str_list("[ ]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_str_list("['a' 'b', u'c',]").unwrap(), vec!["ab", "c"]);
        assert_eq!(parse_str_list("['\\101\\x41']").unwrap(), vec!["AA"]);
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in [
            "",
            "'a'",
            "['a'",
            "['a' 'b'",
            "['a'] x",
            "[1]",
            "['\\x4']",
            "['\\udc00']",
        ] {
            assert!(parse_str_list(bad).is_err(), "{bad:?} should fail");
        }
    }
}
