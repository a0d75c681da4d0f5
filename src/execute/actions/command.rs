//! `shell` and `command`: run a command on the host. `creates`/`removes` are the query
//! (the command is skipped when the path says it already ran); in check mode the
//! command is not run (Ansible's rule) unless the task says `check_mode: false`.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Cx, TResult, located, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{Action, Command};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::{quote, split};
use crate::transport::{ExecOutput, TransportError};

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, c: &Command) -> TResult<TaskResult> {
    let mut cmd = cx.text(&c.cmd)?;
    if !c.argv.is_empty() {
        let mut words = Vec::new();
        for w in &c.argv {
            words.push(quote(&cx.text(w)?));
        }
        cmd = words.join(" ");
    } else if matches!(cx.task.action, Action::Command(_)) {
        let words = split(&cmd).map_err(|e| located(&c.cmd.location, e))?;
        cmd = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    } else if let Some(exe) = cx.opt_text(&c.executable)? {
        cmd = format!("{} -c {}", quote(&exe), quote(&cmd));
    }
    // The play's then the task's (the task's win), as for every other action: a handler
    // has the play's `environment` too (it was run without it).
    let environment = cx.environment()?;
    let args = ShellArgs {
        cmd,
        chdir: cx.opt_text(&c.chdir)?,
        creates: cx.opt_text(&c.creates)?,
        removes: cx.opt_text(&c.removes)?,
        stdin: cx.opt_text(&c.stdin)?,
        stdin_add_newline: c.stdin_add_newline,
        environment,
    };
    Ok(match shell(remote, &args, cx.check_unless_forced()).await {
        Ok((r, _)) => r,
        Err(e) => transport_failure(&e),
    })
}

/// The value `register:` stores for a command, shaped as Ansible's.
pub fn command_registered(
    cmd: &str,
    out: &ExecOutput,
    changed: bool,
    failed: bool,
    ms: u64,
) -> Value {
    let stdout = output_text(&out.stdout);
    let stderr = output_text(&out.stderr);
    let stdout_t = stdout.strip_suffix('\n').unwrap_or(&stdout).to_string();
    let stderr_t = stderr.strip_suffix('\n').unwrap_or(&stderr).to_string();
    json!({
        "cmd": cmd,
        "rc": out.status,
        "stdout": stdout_t,
        "stderr": stderr_t,
        "stdout_lines": stdout_t.lines().collect::<Vec<_>>(),
        "stderr_lines": stderr_t.lines().collect::<Vec<_>>(),
        "changed": changed,
        "failed": failed,
        "delta_ms": ms,
    })
}

#[derive(Debug, Clone, Default)]
pub struct ShellArgs {
    pub cmd: String,
    pub chdir: Option<String>,
    pub creates: Option<String>,
    pub removes: Option<String>,
    pub stdin: Option<String>,
    /// Ansible's `stdin_add_newline` (its default is true; `ShellArgs::default()`'s
    /// false sends `stdin` as is).
    pub stdin_add_newline: bool,
    pub environment: Vec<(String, String)>,
}

impl ShellArgs {
    /// The command line sent to the host.
    pub fn command_line(&self) -> String {
        let mut line = String::new();
        for (k, v) in &self.environment {
            line.push_str(&format!("export {}={}; ", k, quote(v)));
        }
        if let Some(dir) = &self.chdir {
            line.push_str(&format!("cd {} && ", quote(dir)));
        }
        line.push_str(&self.cmd);
        line
    }
}

/// What `register:` stores for a command that did not run.
fn not_run(msg: &str, stdout: &str, changed: bool) -> Value {
    json!({"changed": changed, "msg": msg, "rc": 0, "stdout": stdout, "stderr": "", "stdout_lines": [], "stderr_lines": []})
}

/// `shell`/`command`. Returns the raw output too, for `changed_when`/`failed_when`.
/// As Ansible's module: `creates`/`removes` (host globs) that say the command already
/// ran give ok (not changed); in check mode the command is not run (unless the caller
/// passes `check: false` for `check_mode: false`): changed when `creates`/`removes`
/// were given and say it would run, skipped when there were none to ask.
pub async fn shell(
    remote: &Remote<'_>,
    args: &ShellArgs,
    check: bool,
) -> Result<(TaskResult, Option<ExecOutput>), TransportError> {
    let line = args.command_line();
    let would = if check { "Would" } else { "Did" };
    let already = if let Some(path) = &args.creates
        && matches_glob(remote, path).await?
    {
        Some((
            format!("{would} not run command since '{path}' exists"),
            format!("skipped, since {path} exists"),
        ))
    } else if let Some(path) = &args.removes
        && !matches_glob(remote, path).await?
    {
        Some((
            format!("{would} not run command since '{path}' does not exist"),
            format!("skipped, since {path} does not exist"),
        ))
    } else {
        None
    };
    if let Some((msg, stdout)) = already {
        let mut r = TaskResult::new(TaskStatus::Ok).with_msg(&msg);
        r.rc = Some(0);
        r.registered = not_run(&msg, &stdout, false);
        r.registered["stdout_lines"] = json!([stdout]);
        return Ok((r, None));
    }
    if check {
        let asked = args.creates.is_some() || args.removes.is_some();
        let msg = "Command would have run if not in check mode";
        let mut r = if asked {
            TaskResult::new(TaskStatus::Changed).with_msg(msg)
        } else {
            TaskResult::new(TaskStatus::Skipped).with_msg(msg)
        };
        r.cmd = Some(line.clone());
        r.registered = not_run(msg, "", asked);
        if !asked {
            r.registered["skipped"] = json!(true);
        }
        return Ok((r, None));
    }
    let started = Instant::now();
    let out = match &args.stdin {
        Some(input) => {
            let mut data = input.clone().into_bytes();
            if args.stdin_add_newline {
                data.push(b'\n');
            }
            remote
                .run_with(
                    &line,
                    crate::transport::Stdin::Bytes(&data),
                    crate::transport::Stdout::Capture,
                )
                .await?
        }
        None => remote.run(&line).await?,
    };
    let ms = started.elapsed().as_millis() as u64;
    let failed = out.status != 0;
    let mut r = TaskResult::new(if failed {
        TaskStatus::Failed
    } else {
        TaskStatus::Changed
    });
    r.cmd = Some(line.clone());
    r.rc = Some(out.status);
    r.stdout = output_text(&out.stdout);
    r.stderr = output_text(&out.stderr);
    if failed {
        r.msg = Some("non-zero return code".into());
    }
    r.registered = command_registered(&line, &out, true, failed, ms);
    Ok((r, Some(out)))
}

/// Whether anything on the host matches `pattern` (Python's `glob.glob`, as Ansible's
/// `creates`/`removes` take it): `*`, `?` and `[...]` are the shell's, the rest is
/// quoted.
async fn matches_glob(remote: &Remote<'_>, pattern: &str) -> Result<bool, TransportError> {
    let word = glob_word(pattern);
    let command = format!(
        "for f in {word}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then exit 0; fi; done; exit 1"
    );
    Ok(remote.run(&command).await?.status == 0)
}

/// `pattern` as one shell word whose glob characters stay active.
fn glob_word(pattern: &str) -> String {
    let mut word = String::new();
    let mut plain = String::new();
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !plain.is_empty() {
                word.push_str(&quote(&plain));
                plain.clear();
            }
            word.push(c);
        } else {
            plain.push(c);
        }
    }
    if !plain.is_empty() || word.is_empty() {
        word.push_str(&quote(&plain));
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn shell_registers_ansible_shaped_results() {
        let t = LocalTransport;
        let args = ShellArgs {
            cmd: "echo a; echo b; echo e >&2; exit 3".into(),
            ..Default::default()
        };
        let (r, _) = shell(&remote(&t), &args, false).await.unwrap();
        assert_eq!(r.status, TaskStatus::Failed);
        assert_eq!(r.registered["rc"], 3);
        assert_eq!(r.registered["stdout_lines"], json!(["a", "b"]));
        assert_eq!(r.registered["stderr"], "e");
    }

    #[tokio::test]
    async fn shell_creates_skips_and_check_mode_does_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("m");
        let t = LocalTransport;
        let args = ShellArgs {
            cmd: format!("touch {}", marker.display()),
            ..Default::default()
        };
        let (r, _) = shell(&remote(&t), &args, true).await.unwrap();
        assert_eq!(r.status, TaskStatus::Skipped);
        assert!(!marker.exists(), "check mode ran the command");
        shell(&remote(&t), &args, false).await.unwrap();
        let again = ShellArgs {
            creates: Some(marker.display().to_string()),
            ..args
        };
        let (r, _) = shell(&remote(&t), &again, false).await.unwrap();
        assert_eq!(r.status, TaskStatus::Ok);
        assert_eq!(
            r.msg.unwrap(),
            format!("Did not run command since '{}' exists", marker.display())
        );
    }

    /// Ansible's check mode: with `creates`/`removes` asked, a command that would run
    /// is changed and one that would not is ok; without them it is skipped.
    #[tokio::test]
    async fn check_mode_with_creates_and_removes_as_ansible() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "").unwrap();
        let t = LocalTransport;
        let glob = format!("{}/*.conf", dir.path().display());
        let args = |creates: Option<String>, removes: Option<String>| ShellArgs {
            cmd: "false".into(),
            creates,
            removes,
            ..Default::default()
        };
        let status = async |a: ShellArgs| shell(&remote(&t), &a, true).await.unwrap().0;
        let r = status(args(Some(glob.clone()), None)).await;
        assert_eq!(r.status, TaskStatus::Ok);
        assert!(r.msg.unwrap().starts_with("Would not run command since"));
        let none = format!("{}/*.none", dir.path().display());
        assert_eq!(
            status(args(Some(none.clone()), None)).await.status,
            TaskStatus::Changed
        );
        assert_eq!(status(args(None, Some(none))).await.status, TaskStatus::Ok);
        assert_eq!(
            status(args(None, Some(glob))).await.status,
            TaskStatus::Changed
        );
        assert_eq!(status(args(None, None)).await.status, TaskStatus::Skipped);
    }

    #[tokio::test]
    async fn stdin_gets_a_newline_unless_told_not_to() {
        let t = LocalTransport;
        let mut args = ShellArgs {
            cmd: "od -c | head -1".into(),
            stdin: Some("x".into()),
            stdin_add_newline: true,
            ..Default::default()
        };
        let (r, _) = shell(&remote(&t), &args, false).await.unwrap();
        assert!(r.stdout.contains("x  \\n"), "{}", r.stdout);
        args.stdin_add_newline = false;
        let (r, _) = shell(&remote(&t), &args, false).await.unwrap();
        assert!(!r.stdout.contains("\\n"), "{}", r.stdout);
    }

    #[test]
    fn glob_words_keep_their_wildcards_only() {
        assert_eq!(glob_word("/a b/*.conf"), "'/a b/'*.conf");
        assert_eq!(glob_word("/x"), "/x");
    }
}
