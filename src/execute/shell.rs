//! Building remote command lines: `become` (sudo) and time limits. Words are quoted
//! with [`crate::shell_words::quote`].

pub use crate::shell_words::quote;

/// How a command is run on the host: as the login user, or through sudo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Become {
    pub enabled: bool,
    pub user: Option<String>,
    /// Fed to sudo on standard input, never on the command line.
    pub password: Option<String>,
}

impl Become {
    /// Whether commands go through sudo: `login_user` is the SSH user, and becoming
    /// that same user needs no sudo.
    pub fn uses_sudo(&self, login_user: Option<&str>) -> bool {
        self.enabled && login_user != Some(self.target())
    }

    /// The user to become (`root` unless `become_user` says otherwise).
    pub fn target(&self) -> &str {
        self.user.as_deref().unwrap_or("root")
    }

    /// The command line to send, and what must precede the command's own standard input.
    ///
    /// Without a password, `sudo -n` fails at once where sudo would ask for one. With a
    /// password, the line first asks sudo whether it needs one (`sudo -n` on the same
    /// command, `true`): if so, `sudo -S -p ''` reads the password line from standard
    /// input; if not (NOPASSWD, or sudo from root), the line reads and drops the
    /// password itself, so that it never reaches the command's input. The password is
    /// on no command line either way, only on standard input.
    pub fn wrap(&self, command: &str, login_user: Option<&str>) -> (String, Option<Vec<u8>>) {
        if !self.uses_sudo(login_user) {
            return (command.to_string(), None);
        }
        let target = quote(self.target());
        match &self.password {
            None => (
                format!("sudo -H -n -u {target} -- /bin/sh -c {}", quote(command)),
                None,
            ),
            Some(pw) => {
                // In /bin/sh whatever the login shell: `read` and `set --` are POSIX.
                let script = format!(
                    "c={command}; \
                     if sudo -n -u {target} -- /bin/sh -c true </dev/null >/dev/null 2>&1; \
                     then IFS= read -r _; set -- -n; else set -- -S -p ''; fi; \
                     exec sudo -H \"$@\" -u {target} -- /bin/sh -c \"$c\"",
                    command = quote(command),
                );
                (
                    format!("/bin/sh -c {}", quote(&script)),
                    Some(format!("{pw}\n").into_bytes()),
                )
            }
        }
    }

    /// Why sudo did not run the command, when its output says so: the command never
    /// ran, sudo exited 1 with nothing on standard output and its own message on
    /// standard error (sudo's English wording, as Ansible's sudo plugin matches it).
    pub fn refusal(
        &self,
        login_user: Option<&str>,
        status: i32,
        stdout: &[u8],
        stderr: &[u8],
    ) -> Option<String> {
        if !self.uses_sudo(login_user) || status != 1 || !stdout.is_empty() {
            return None;
        }
        let err = String::from_utf8_lossy(stderr);
        let who = login_user.map_or_else(|| "the login user".to_string(), |u| format!("`{u}`"));
        let target = self.target();
        let why = if err.contains("incorrect password attempt") || err.contains("Sorry, try again.")
        {
            format!(
                "incorrect become password: sudo rejected `ansible_become_password` for {who} (becoming `{target}`)"
            )
        } else if err.contains("a password is required") {
            format!(
                "sudo needs a password for {who} to become `{target}`: set `ansible_become_password`, or allow it NOPASSWD in sudoers"
            )
        } else if err.contains("is not in the sudoers file")
            || err.contains("is not allowed to execute")
            || err.contains("may not run sudo")
        {
            format!("{who} may not run commands as `{target}` through sudo on this host (sudoers)")
        } else {
            return None;
        };
        // sudo's own words follow, on one line.
        let said: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Some(format!("{why}; sudo said: {}", said.join(" / ")))
    }
}

/// Seconds a command gets after the TERM of its time limit before it is killed.
pub const KILL_AFTER_SECS: u64 = 5;

/// Exit statuses of coreutils `timeout` when it stopped the command: 124 after TERM,
/// 128 + 9 when the command outlived TERM by [`KILL_AFTER_SECS`] and was killed.
pub const TIMED_OUT_STATUSES: [i32; 2] = [124, 137];

/// The command under a time limit enforced on the host itself, with coreutils
/// `timeout`: when the limit passes, the command and every process of its group get
/// TERM, then KILL after [`KILL_AFTER_SECS`], so nothing keeps running there after the
/// task has failed. (Closing the SSH channel does not stop a command, and sshd ignores
/// the `signal` request for root logins.) A host without `timeout` runs the command
/// unlimited; the controller then gives up on it after its own, longer limit.
pub fn with_time_limit(command: &str, limit: std::time::Duration) -> String {
    let secs = if limit.subsec_millis() == 0 {
        limit.as_secs().to_string()
    } else {
        format!("{:.3}", limit.as_secs_f64())
    };
    format!(
        "exec $(command -v timeout >/dev/null 2>&1 && echo timeout -k {KILL_AFTER_SECS} {secs}) /bin/sh -c {}",
        quote(command)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;
    use crate::transport::{ExecRequest, Transport};

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
        assert!(cmd.starts_with("/bin/sh -c "), "{cmd}");
    }

    /// A fake `sudo` on PATH, as the real one behaves: when `nopasswd`, it never reads
    /// a password; otherwise `-n` fails and `-S` reads one password line and fails
    /// unless it is `right`. It then runs the command with what is left of stdin.
    fn fake_sudo(dir: &std::path::Path, nopasswd: bool) -> String {
        let script = format!(
            "#!/bin/sh\n\
             mode=\n\
             while [ \"$1\" != -- ]; do case $1 in -n) mode=n;; -S) mode=S;; esac; shift; done; shift\n\
             if [ $mode = n ] && [ {nopasswd} = false ]; then echo 'sudo: a password is required' >&2; exit 1; fi\n\
             if [ $mode = S ] && [ {nopasswd} = false ]; then IFS= read -r pw; [ \"$pw\" = right ] || {{ echo 'sudo: 1 incorrect password attempt' >&2; exit 1; }}; fi\n\
             exec \"$@\"\n"
        );
        let path = dir.join("sudo");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!("PATH={}:$PATH; ", dir.display())
    }

    async fn run_become(b: &Become, path: &str, input: &[u8]) -> crate::transport::ExecOutput {
        let (line, pre) = b.wrap("cat; echo done", Some("deploy"));
        let mut stdin = pre.unwrap_or_default();
        stdin.extend_from_slice(input);
        LocalTransport
            .exec(ExecRequest {
                command: &format!("{path}{line}"),
                stdin: crate::transport::Stdin::Bytes(&stdin),
                stdout: crate::transport::Stdout::Capture,
            })
            .await
            .unwrap()
    }

    // Guards: with a become password for a host whose sudo does not ask for one
    // (NOPASSWD), the password line reached the command's standard input and was
    // written into uploaded files.
    #[tokio::test]
    async fn a_password_sudo_does_not_ask_for_never_reaches_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_sudo(dir.path(), true);
        let b = Become {
            enabled: true,
            user: None,
            password: Some("right".into()),
        };
        let out = run_become(&b, &path, b"data\n").await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "data\ndone\n");
        assert_eq!(out.status, 0);
    }

    #[tokio::test]
    async fn a_password_sudo_asks_for_is_read_by_sudo_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_sudo(dir.path(), false);
        let mut b = Become {
            enabled: true,
            user: None,
            password: Some("right".into()),
        };
        let out = run_become(&b, &path, b"data\n").await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "data\ndone\n");

        b.password = Some("wrong".into());
        let out = run_become(&b, &path, b"data\n").await;
        assert_eq!(out.status, 1);
        let why = b
            .refusal(Some("deploy"), out.status, &out.stdout, &out.stderr)
            .unwrap();
        assert!(why.starts_with("incorrect become password"), "{why}");
        assert!(
            why.ends_with("sudo said: sudo: 1 incorrect password attempt"),
            "{why}"
        );

        b.password = None;
        let out = run_become(&b, &path, b"data\n").await;
        let why = b
            .refusal(Some("deploy"), out.status, &out.stdout, &out.stderr)
            .unwrap();
        assert!(why.starts_with("sudo needs a password"), "{why}");
    }

    #[test]
    fn a_failing_command_is_not_taken_for_a_sudo_refusal() {
        let b = Become {
            enabled: true,
            user: None,
            password: None,
        };
        let err = b"sudo: a password is required\n";
        assert!(b.refusal(Some("deploy"), 1, b"", err).is_some());
        assert!(
            b.refusal(Some("deploy"), 1, b"partial output", err)
                .is_none()
        );
        assert!(b.refusal(Some("deploy"), 2, b"", err).is_none());
        assert!(b.refusal(Some("root"), 1, b"", err).is_none());
    }

    #[tokio::test]
    async fn a_time_limit_stops_the_command_on_the_host() {
        let line = with_time_limit("sleep 30", std::time::Duration::from_millis(300));
        let out = LocalTransport.exec(ExecRequest::new(&line)).await.unwrap();
        assert!(TIMED_OUT_STATUSES.contains(&out.status), "{out:?}");
        let fast = with_time_limit("echo hi; exit 3", std::time::Duration::from_secs(5));
        let out = LocalTransport.exec(ExecRequest::new(&fast)).await.unwrap();
        assert_eq!((out.status, &out.stdout[..]), (3, &b"hi\n"[..]));
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
