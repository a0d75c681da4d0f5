//! Building remote command lines: quoting and `become` (sudo).

/// Quote for a POSIX shell, as Python's `shlex.quote`.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// How a command is run on the host: as the login user, or through sudo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Become {
    pub enabled: bool,
    pub user: Option<String>,
    /// Fed to sudo on standard input, never on the command line.
    pub password: Option<String>,
}

impl Become {
    /// The command line to send, and what must precede the command's own standard input.
    /// `login_user` is the SSH user: becoming the same user needs no sudo.
    pub fn wrap(&self, command: &str, login_user: Option<&str>) -> (String, Option<Vec<u8>>) {
        let target = self.user.as_deref().unwrap_or("root");
        if !self.enabled || login_user == Some(target) {
            return (command.to_string(), None);
        }
        let inner = format!("/bin/sh -c {}", quote(command));
        match &self.password {
            // -S reads the password from stdin; -p '' keeps the prompt out of stderr.
            Some(pw) => (
                format!("sudo -H -S -p '' -u {} -- {inner}", quote(target)),
                Some(format!("{pw}\n").into_bytes()),
            ),
            // -n fails at once instead of waiting for a password nobody will type.
            None => (format!("sudo -H -n -u {} -- {inner}", quote(target)), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;
    use crate::transport::{ExecRequest, Transport};

    #[test]
    fn quotes_like_shlex() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
    }

    #[tokio::test]
    async fn quoted_strings_survive_the_shell() {
        let tricky = "a 'b' \"c\" $HOME `x` \\ ; | &";
        let out = LocalTransport
            .exec(ExecRequest::new(&format!("printf %s {}", quote(tricky))))
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), tricky);
    }

    #[test]
    fn become_password_goes_to_stdin_not_the_command_line() {
        let b = Become {
            enabled: true,
            user: None,
            password: Some("s3cret".into()),
        };
        let (cmd, stdin) = b.wrap("id -u", Some("deploy"));
        assert!(!cmd.contains("s3cret"));
        assert_eq!(stdin.as_deref(), Some(&b"s3cret\n"[..]));
        assert!(
            cmd.starts_with("sudo -H -S -p '' -u root -- /bin/sh -c "),
            "{cmd}"
        );
    }

    #[test]
    fn becoming_the_login_user_needs_no_sudo() {
        let b = Become {
            enabled: true,
            user: Some("root".into()),
            password: None,
        };
        assert_eq!(b.wrap("id", Some("root")).0, "id");
        assert!(
            b.wrap("id", Some("deploy"))
                .0
                .starts_with("sudo -H -n -u root")
        );
    }
}

/// Split a command line into words as a POSIX shell would (quotes and backslashes), for
/// the `command` action, which runs a program with arguments and no shell features.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x)
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words(r#"echo 'a b' "c \"d\"" e\ f"#).unwrap(),
            ["echo", "a b", "c \"d\"", "e f"]
        );
        assert!(split_words("echo 'oops").is_err());
    }
}
