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
    if matches!(cx.task.action, Action::Command(_)) {
        let words = split(&cmd).map_err(|e| located(&c.cmd.location, e))?;
        cmd = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
    } else if let Some(exe) = cx.opt_text(&c.executable)? {
        cmd = format!("{} -c {}", quote(&exe), quote(&cmd));
    }
    let mut environment = Vec::new();
    for (k, v) in &cx.task.environment {
        environment.push((k.clone(), cx.text(v)?));
    }
    let args = ShellArgs {
        cmd,
        chdir: cx.opt_text(&c.chdir)?,
        creates: cx.opt_text(&c.creates)?,
        removes: cx.opt_text(&c.removes)?,
        stdin: cx.opt_text(&c.stdin)?,
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
fn not_run(msg: &Value) -> Value {
    json!({"changed": false, "skipped": true, "msg": msg, "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []})
}

/// `shell`/`command`. Returns the raw output too, for `changed_when`/`failed_when`.
/// In check mode the command is not run (Ansible's rule), unless `run_in_check`.
pub async fn shell(
    remote: &Remote<'_>,
    args: &ShellArgs,
    check: bool,
) -> Result<(TaskResult, Option<ExecOutput>), TransportError> {
    let line = args.command_line();
    if let Some(path) = &args.creates
        && exists(remote, path).await?
    {
        let mut r =
            TaskResult::new(TaskStatus::Skipped).with_msg(format!("skipped, since {path} exists"));
        r.registered = not_run(&json!(r.msg));
        return Ok((r, None));
    }
    if let Some(path) = &args.removes
        && !exists(remote, path).await?
    {
        let mut r = TaskResult::new(TaskStatus::Skipped)
            .with_msg(format!("skipped, since {path} does not exist"));
        r.registered = not_run(&json!(r.msg));
        return Ok((r, None));
    }
    if check {
        let mut r = TaskResult::new(TaskStatus::Skipped).with_msg("would run (check mode)");
        r.cmd = Some(line.clone());
        r.registered = not_run(&json!("check mode"));
        return Ok((r, None));
    }
    let started = Instant::now();
    let out = match &args.stdin {
        Some(input) => {
            let mut data = input.clone().into_bytes();
            if !data.ends_with(b"\n") {
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

async fn exists(remote: &Remote<'_>, path: &str) -> Result<bool, TransportError> {
    Ok(remote
        .run(&format!("test -e {}", quote(path)))
        .await?
        .status
        == 0)
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
        assert_eq!(r.status, TaskStatus::Skipped);
    }
}
