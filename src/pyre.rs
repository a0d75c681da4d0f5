//! Python `re` patterns and replacement templates (what Ansible's `lineinfile`,
//! `replace` and `blockinfile` take) for the `regex` crate. A leaf: it uses nothing of
//! the crate.
//!
//! Patterns: `(?P<name>...)`, classes, anchors and flags mean the same in both; `\Z`
//! becomes `\z`. The `regex` crate has no look-around and no backreference inside a
//! pattern (`(?=...)`, `(?<!...)`, `\1`, `(?P=name)`): such a pattern is refused with
//! the crate's message, never matched differently.
//!
//! Templates: Python's `\1`, `\g<1>`, `\g<name>` and the escapes `\n`, `\t`, `\\`
//! become `${1}`, `${name}` and the characters; a `$` is kept literal.

use regex::bytes::{Regex, RegexBuilder};

/// A Python pattern compiled for bytes; `multi_line` is Python's `re.MULTILINE`,
/// `dot_all` its `re.DOTALL`.
pub fn compile(pattern: &str, multi_line: bool, dot_all: bool) -> Result<Regex, String> {
    let translated = translate_pattern(pattern);
    RegexBuilder::new(&translated)
        .multi_line(multi_line)
        .dot_matches_new_line(dot_all)
        .build()
        .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

/// `\Z` (Python's end of text) as the `regex` crate writes it; every other escape is
/// left as it is.
fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Z') => out.push_str("\\z"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A Python replacement template (`re.sub`'s, `match.expand`'s) in the `regex` crate's
/// syntax (for [`regex::bytes::Captures::expand`] and `replace_all`).
pub fn template(python: &str) -> String {
    let mut out = String::with_capacity(python.len());
    let chars: Vec<char> = python.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c == '$' {
            out.push_str("$$");
            continue;
        }
        if c != '\\' || i >= chars.len() {
            out.push(c);
            continue;
        }
        let n = chars[i];
        i += 1;
        match n {
            '0'..='9' => {
                let mut group = n.to_string();
                if let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    group.push(*d);
                    i += 1;
                }
                out.push_str(&format!("${{{group}}}"));
            }
            'g' if chars.get(i) == Some(&'<') => {
                match chars[i + 1..].iter().position(|c| *c == '>') {
                    Some(end) => {
                        let name: String = chars[i + 1..i + 1 + end].iter().collect();
                        out.push_str(&format!("${{{name}}}"));
                        i += end + 2;
                    }
                    None => out.push_str("\\g"),
                }
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'a' => out.push('\x07'),
            '\\' => out.push('\\'),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_templates_become_regex_templates() {
        assert_eq!(template(r"\1=\g<2> \g<name>"), "${1}=${2} ${name}");
        assert_eq!(template(r"a\tb\\c\n"), "a\tb\\c\n");
        assert_eq!(template("cost: $5"), "cost: $$5");
        assert_eq!(template(r"\12"), "${12}");
        // Unfinished escapes are kept as written, never a panic.
        assert_eq!(template(r"a\g<"), r"a\g<");
        assert_eq!(template("a\\"), "a\\");
    }

    #[test]
    fn expanded_like_python() {
        let re = compile(r"^(?P<key>\w+)=(\d+)$", false, false).unwrap();
        let caps = re.captures(b"port=22").unwrap();
        let mut out = Vec::new();
        caps.expand(template(r"\g<key> = \2$").as_bytes(), &mut out);
        assert_eq!(out, b"port = 22$");
    }

    #[test]
    fn end_of_text_and_refused_lookaround() {
        let re = compile(r"a\Z", false, false).unwrap();
        assert!(re.is_match(b"ba") && !re.is_match(b"a\n"));
        let err = compile(r"(?<!x)a", false, false).unwrap_err();
        assert!(err.contains("(?<!x)a"), "{err}");
    }
}
