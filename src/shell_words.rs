//! Shell words, as Python's `shlex` (which Ansible uses) has them: [`quote`] one word
//! for a POSIX shell (`shlex.quote`), and [`split`] a line into words (`shlex.split`,
//! POSIX mode), with [`split_with_comments`] for the `comments=True` variant Ansible's INI
//! inventory reads host lines with. A leaf: it uses nothing of the crate, and `parse`,
//! `template`, `execute` and `commands` use it.

/// Why a line cannot be split; worded as Python's `ValueError`s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("no closing quotation")]
    NoClosingQuotation,
    #[error("no escaped character")]
    NoEscapedCharacter,
}

/// Quote for a POSIX shell, as Python's `shlex.quote`: a word of only safe characters
/// as is, anything else (the empty word too) in single quotes.
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// `shlex.split(line)`: words as a POSIX shell splits them, without its expansions.
/// Single quotes keep everything; in double quotes a backslash escapes only `"` and `\`
/// (`"\$x"` is `\$x`, unlike a shell); outside quotes a backslash escapes any
/// character. `#` is an ordinary character. This is how Ansible's `command` module
/// splits its command line.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    shlex(line, false)
}

/// `shlex.split(line, comments=True)`: as [`split`], and a `#` outside quotes starts a
/// comment that runs to the end of its line.
pub fn split_with_comments(line: &str) -> Result<Vec<String>, SplitError> {
    shlex(line, true)
}

const WHITESPACE: &str = " \t\r\n";

/// Python's `shlex.shlex.read_token` in POSIX mode with `whitespace_split`, every
/// token of the line.
fn shlex(line: &str, comments: bool) -> Result<Vec<String>, SplitError> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Space,
        Word,
        Quote(char),
        /// After a backslash; the state it returns to (`Word`, or `Quote('"')`).
        Escape(Back),
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Back {
        Word,
        Double,
    }
    let mut words = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut st = St::Space;
    let mut chars = line.chars();
    let skip_line = |chars: &mut std::str::Chars<'_>| {
        for c in chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
    };
    loop {
        let c = chars.next();
        match st {
            St::Space | St::Word => match c {
                None => break,
                Some(c) if WHITESPACE.contains(c) => {
                    if st == St::Word || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    st = St::Space;
                }
                Some('#') if comments => {
                    skip_line(&mut chars);
                    if st == St::Word || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    st = St::Space;
                }
                Some('\\') => st = St::Escape(Back::Word),
                Some(q @ ('\'' | '"')) => st = St::Quote(q),
                Some(c) => {
                    token.push(c);
                    st = St::Word;
                }
            },
            St::Quote(q) => {
                quoted = true;
                match c {
                    None => return Err(SplitError::NoClosingQuotation),
                    Some(c) if c == q => st = St::Word,
                    Some('\\') if q == '"' => st = St::Escape(Back::Double),
                    Some(c) => token.push(c),
                }
            }
            St::Escape(back) => {
                let Some(c) = c else {
                    return Err(SplitError::NoEscapedCharacter);
                };
                // In double quotes only `"` and `\` are escaped; the backslash stays
                // before anything else.
                if back == Back::Double && c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                st = match back {
                    Back::Word => St::Word,
                    Back::Double => St::Quote('"'),
                };
            }
        }
    }
    if st == St::Word || quoted {
        words.push(token);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line and what `python3 -c 'import shlex; print(shlex.split(LINE))'` gives
    /// (Python 3.12), or its error.
    #[test]
    fn splits_as_python_shlex() {
        let cases: &[(&str, Result<&[&str], SplitError>)] = &[
            (
                r#"echo 'a b' "c \"d\"" e\ f"#,
                Ok(&["echo", "a b", "c \"d\"", "e f"]),
            ),
            // In double quotes only `"` and `\` are escaped (a shell would drop these
            // backslashes).
            (
                r#"echo "\$x" "\`" "\\" "\a""#,
                Ok(&["echo", "\\$x", "\\`", "\\", "\\a"]),
            ),
            // Not comments in the default mode.
            ("a # b", Ok(&["a", "#", "b"])),
            ("a#b c", Ok(&["a#b", "c"])),
            ("x '' y", Ok(&["x", "", "y"])),
            (r#"a"b c"d"#, Ok(&["ab cd"])),
            ("tab\there\nnl", Ok(&["tab", "here", "nl"])),
            (r"it\'s", Ok(&["it's"])),
            (r"'a\b'", Ok(&[r"a\b"])),
            ("a\\\nb", Ok(&["a\nb"])),
            ("\"a\\\nb\"", Ok(&["a\\\nb"])),
            // Only ASCII whitespace separates words.
            ("é\u{a0}x", Ok(&["é\u{a0}x"])),
            ("  ", Ok(&[])),
            ("", Ok(&[])),
            ("trail\\", Err(SplitError::NoEscapedCharacter)),
            ("'oops", Err(SplitError::NoClosingQuotation)),
            ("\"oops", Err(SplitError::NoClosingQuotation)),
        ];
        for (line, want) in cases {
            let got = split(line);
            let want = want
                .clone()
                .map(|w| w.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "shlex.split({line:?})");
        }
    }

    /// `shlex.split(LINE, comments=True)`.
    #[test]
    fn comments_run_to_the_end_of_their_line() {
        let cases: &[(&str, &[&str])] = &[
            ("a # b", &["a"]),
            ("a#b c", &["a"]),
            ("a # b\nc", &["a", "c"]),
            (
                r#"h1 a="x y" b='1' c=d#e # comment"#,
                &["h1", "a=x y", "b=1", "c=d"],
            ),
            ("'#' \"#\" \\#", &["#", "#", "#"]),
            ("''#", &[""]),
            (r#"h "" x"#, &["h", "", "x"]),
            (r#"a=\"q\" b="\$x\"""#, &["a=\"q\"", "b=\\$x\""]),
        ];
        for (line, want) in cases {
            assert_eq!(
                split_with_comments(line).unwrap(),
                *want,
                "shlex.split({line:?}, comments=True)"
            );
        }
    }

    #[test]
    fn quotes_as_python_shlex_quote() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a'b"), r#"'a'"'"'b'"#);
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("@%+=:,./-_x"), "@%+=:,./-_x");
        assert_eq!(quote("é"), "'é'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn a_quoted_word_splits_back_to_itself() {
        for w in [
            "",
            "a b",
            "it's",
            "\"q\"",
            "\\",
            "$x `y`",
            "#c",
            "tab\tnl\n",
        ] {
            assert_eq!(split(&quote(w)).unwrap(), [w], "{w:?}");
        }
    }
}
