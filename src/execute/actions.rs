//! The actions' bodies, on plain already-rendered arguments: each checks the host's
//! state before it acts, honours check mode, and returns a [`TaskResult`]. The task
//! runner renders the playbook's arguments and calls these.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::files::{self, FileSpec};
use super::remote::Remote;
use super::shell::quote;
use crate::report::{TaskResult, TaskStatus};
use crate::transport::{ExecOutput, TransportError};

/// A transport failure as a task result: unreachable, or failed for a timeout.
pub fn transport_failure(err: &TransportError) -> TaskResult {
    let status = if err.is_unreachable() {
        TaskStatus::Unreachable
    } else {
        TaskStatus::Failed
    };
    TaskResult::new(status).with_msg(err.to_string())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The value `register:` stores for a command, shaped as Ansible's.
pub fn command_registered(
    cmd: &str,
    out: &ExecOutput,
    changed: bool,
    failed: bool,
    ms: u64,
) -> Value {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
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

/// `shell`/`command`. Returns the raw output too, for `changed_when`/`failed_when`.
/// In check mode the command is not run (Ansible's rule), unless `run_in_check`.
pub async fn shell(
    remote: &Remote<'_>,
    args: &ShellArgs,
    check: bool,
) -> Result<(TaskResult, Option<ExecOutput>), TransportError> {
    let line = args.command_line();
    if let Some(path) = &args.creates {
        if exists(remote, path).await? {
            let mut r = TaskResult::new(TaskStatus::Skipped)
                .with_msg(format!("skipped, since {path} exists"));
            r.registered = json!({"changed": false, "skipped": true, "msg": r.msg, "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []});
            return Ok((r, None));
        }
    }
    if let Some(path) = &args.removes {
        if !exists(remote, path).await? {
            let mut r = TaskResult::new(TaskStatus::Skipped)
                .with_msg(format!("skipped, since {path} does not exist"));
            r.registered = json!({"changed": false, "skipped": true, "msg": r.msg, "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []});
            return Ok((r, None));
        }
    }
    if check {
        let mut r = TaskResult::new(TaskStatus::Skipped).with_msg("would run (check mode)");
        r.cmd = Some(line.clone());
        r.registered = json!({"changed": false, "skipped": true, "msg": "check mode", "rc": 0, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []});
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
    r.stdout = text(&out.stdout);
    r.stderr = text(&out.stderr);
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

fn file_result(outcome: Result<files::FileOutcome, files::FileError>, dest: &str) -> TaskResult {
    match outcome {
        Ok(o) => {
            let mut r = TaskResult::new(if o.changed {
                TaskStatus::Changed
            } else {
                TaskStatus::Ok
            });
            r.diff = o.diff;
            r.registered = json!({"changed": o.changed, "dest": dest, "backup_file": o.backup, "failed": false});
            r
        }
        Err(files::FileError::Transport(e)) => transport_failure(&e),
        Err(e) => {
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(e.to_string());
            r.registered = json!({"changed": false, "failed": true, "msg": e.to_string()});
            r
        }
    }
}

/// `template` and `copy content=`: put rendered bytes at the destination.
pub async fn put_content(
    remote: &Remote<'_>,
    content: &[u8],
    spec: &FileSpec,
    check: bool,
    diff: bool,
) -> TaskResult {
    file_result(
        files::put_content(remote, content, spec, check, diff).await,
        &spec.dest,
    )
}

/// `copy src=`: a file from the controller.
pub async fn put_file(
    remote: &Remote<'_>,
    src: &Path,
    spec: &FileSpec,
    check: bool,
    diff: bool,
) -> TaskResult {
    file_result(
        files::put_file(remote, src, spec, check, diff).await,
        &spec.dest,
    )
}

/// `transfer`: a file from another host, through the controller, verified by sha256.
pub async fn transfer(
    from: &Remote<'_>,
    src: &str,
    to: &Remote<'_>,
    spec: &FileSpec,
    check: bool,
) -> TaskResult {
    file_result(
        files::transfer(from, src, to, spec, check).await,
        &spec.dest,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Directory,
    Absent,
    Touch,
    File,
}

/// `file`: a directory, an absent path, a touched file, or attributes of an existing file.
pub async fn file(
    remote: &Remote<'_>,
    path: &str,
    state: FileState,
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
    check: bool,
) -> TaskResult {
    let p = quote(path);
    let probe = format!(
        "if [ -L {p} ]; then echo link; elif [ -d {p} ]; then echo directory; elif [ -e {p} ]; then echo file; else echo absent; fi; \
         [ -e {p} ] && stat -c '%a %U %G' {p} || true"
    );
    let out = match remote.run(&probe).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let kind = lines.next().unwrap_or("absent").to_string();
    let attrs: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mode_ok = mode.is_none_or(|m| {
        !m.chars().all(|c| c.is_ascii_digit())
            || attrs
                .first()
                .is_some_and(|a| a.trim_start_matches('0') == m.trim_start_matches('0'))
    });
    let owner_ok = owner.is_none_or(|o| attrs.get(1).is_some_and(|a| a == o));
    let group_ok = group.is_none_or(|g| attrs.get(2).is_some_and(|a| a == g));
    let mut attr_cmd = String::new();
    if let Some(m) = mode {
        attr_cmd.push_str(&format!(" && chmod {} {p}", quote(m)));
    }
    if let Some(o) = owner {
        attr_cmd.push_str(&format!(" && chown {} {p}", quote(o)));
    }
    if let Some(g) = group {
        attr_cmd.push_str(&format!(" && chgrp {} {p}", quote(g)));
    }
    let (needed, action) = match state {
        FileState::Absent => (kind != "absent", format!("rm -rf {p}")),
        FileState::Directory => {
            if kind != "absent" && kind != "directory" {
                return TaskResult::new(TaskStatus::Failed)
                    .with_msg(format!("`{path}` exists and is not a directory"));
            }
            (
                kind == "absent" || !(mode_ok && owner_ok && group_ok),
                format!("mkdir -p {p}{attr_cmd}"),
            )
        }
        // Ansible's touch always reports changed (it updates the times).
        FileState::Touch => (true, format!("touch {p}{attr_cmd}")),
        FileState::File => {
            if kind == "absent" {
                return TaskResult::new(TaskStatus::Failed).with_msg(format!(
                    "file `{path}` is absent, cannot continue (use state=touch to create it)"
                ));
            }
            (
                !(mode_ok && owner_ok && group_ok),
                format!("true{attr_cmd}"),
            )
        }
    };
    let mut r = TaskResult::new(if needed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    });
    if needed && !check {
        r.cmd = Some(action.clone());
        match remote.run(&action).await {
            Ok(o) if o.status == 0 => {}
            Ok(o) => {
                r = TaskResult::new(TaskStatus::Failed)
                    .with_msg(text(&o.stderr).trim().to_string());
                r.rc = Some(o.status);
            }
            Err(e) => return transport_failure(&e),
        }
    }
    r.registered = json!({"changed": r.status == TaskStatus::Changed, "path": path, "failed": r.status == TaskStatus::Failed});
    r
}

/// `fetch`: a file from the host to the controller. Ansible's layout: `dest/<host>/<src>`,
/// or `dest` itself with `flat`.
pub async fn fetch(
    remote: &Remote<'_>,
    src: &str,
    dest: &str,
    flat: bool,
    check: bool,
) -> TaskResult {
    let target = if flat {
        std::path::PathBuf::from(dest)
    } else {
        Path::new(dest)
            .join(remote.host)
            .join(src.trim_start_matches('/'))
    };
    if check {
        return TaskResult::new(TaskStatus::Changed)
            .with_msg(format!("would fetch to {}", target.display()));
    }
    let fail = |msg: String| TaskResult::new(TaskStatus::Failed).with_msg(msg);
    if let Some(dir) = target.parent() {
        if let Err(e) = tokio::fs::create_dir_all(dir).await {
            return fail(format!("cannot create `{}`: {e}", dir.display()));
        }
    }
    let tmp = target.with_extension("rtmig-part");
    let mut file = match tokio::fs::File::create(&tmp).await {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot write `{}`: {e}", tmp.display())),
    };
    let sum = match files::fetch(remote, src, &mut file).await {
        Ok(s) => s,
        Err(files::FileError::Transport(e)) => return transport_failure(&e),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return fail(e.to_string());
        }
    };
    drop(file);
    let old = tokio::fs::read(&target)
        .await
        .ok()
        .map(|b| files::sha256_hex(&b));
    if let Err(e) = tokio::fs::rename(&tmp, &target).await {
        return fail(format!("cannot write `{}`: {e}", target.display()));
    }
    let changed = old.as_deref() != Some(sum.as_str());
    let mut r = TaskResult::new(if changed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    });
    r.registered =
        json!({"changed": changed, "dest": target.display().to_string(), "checksum": sum});
    r
}

#[derive(Debug, Clone, Default)]
pub struct WaitFor {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
    /// rtmig's extension: a command retried until it exits 0.
    pub command: Option<String>,
    /// `started`/`present` (default) or `stopped`/`absent`.
    pub absent: bool,
    pub timeout: Duration,
    pub delay: Duration,
    pub sleep: Duration,
    pub msg: Option<String>,
}

/// `wait_for`: poll on the host until the port answers, the path exists, or the command
/// succeeds (or the reverse for `stopped`/`absent`), within the timeout.
pub async fn wait_for(remote: &Remote<'_>, w: &WaitFor, check: bool) -> TaskResult {
    let probe = if let Some(port) = w.port {
        let host = w.host.clone().unwrap_or_else(|| "127.0.0.1".into());
        // bash's /dev/tcp: present wherever bash is, no netcat needed.
        format!(
            "timeout 2 bash -c {} 2>/dev/null",
            quote(&format!("exec 3<>/dev/tcp/{host}/{port}"))
        )
    } else if let Some(path) = &w.path {
        format!("test -e {}", quote(path))
    } else if let Some(cmd) = &w.command {
        cmd.clone()
    } else {
        tokio::time::sleep(w.timeout).await;
        return TaskResult::new(TaskStatus::Ok);
    };
    if check {
        return TaskResult::new(TaskStatus::Skipped).with_msg("would wait (check mode)");
    }
    tokio::time::sleep(w.delay).await;
    let started = Instant::now();
    let mut last = None;
    loop {
        match remote.run(&probe).await {
            Ok(out) => {
                let up = out.status == 0;
                if up != w.absent {
                    let mut r = TaskResult::new(TaskStatus::Ok);
                    r.duration_ms = started.elapsed().as_millis() as u64;
                    r.registered = json!({"changed": false, "elapsed": started.elapsed().as_secs(), "rc": out.status, "stdout": text(&out.stdout).trim_end()});
                    return r;
                }
                last = Some(out);
            }
            Err(e) if e.is_unreachable() => return transport_failure(&e),
            Err(_) => {}
        }
        if started.elapsed() >= w.timeout {
            let mut r =
                TaskResult::new(TaskStatus::Failed).with_msg(w.msg.clone().unwrap_or_else(|| {
                    format!(
                        "timeout waiting for `{probe}` after {}s",
                        w.timeout.as_secs()
                    )
                }));
            if let Some(out) = last {
                r.rc = Some(out.status);
                r.stdout = text(&out.stdout);
                r.stderr = text(&out.stderr);
            }
            return r;
        }
        tokio::time::sleep(w.sleep).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    use crate::execute::remote::local as remote;

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

    #[tokio::test]
    async fn file_directory_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b").display().to_string();
        let t = LocalTransport;
        let r1 = file(
            &remote(&t),
            &p,
            FileState::Directory,
            Some("0755"),
            None,
            None,
            false,
        )
        .await;
        assert_eq!(r1.status, TaskStatus::Changed);
        let r2 = file(
            &remote(&t),
            &p,
            FileState::Directory,
            Some("0755"),
            None,
            None,
            false,
        )
        .await;
        assert_eq!(r2.status, TaskStatus::Ok);
        let r3 = file(&remote(&t), &p, FileState::Absent, None, None, None, false).await;
        assert_eq!(r3.status, TaskStatus::Changed);
        assert!(!Path::new(&p).exists());
    }

    #[tokio::test]
    async fn wait_for_a_path_times_out_with_a_message() {
        let t = LocalTransport;
        let w = WaitFor {
            path: Some("/nonexistent/rtmig".into()),
            timeout: Duration::from_millis(300),
            sleep: Duration::from_millis(100),
            ..Default::default()
        };
        let r = wait_for(&remote(&t), &w, false).await;
        assert_eq!(r.status, TaskStatus::Failed);
        assert!(r.msg.unwrap().contains("timeout waiting for"));
    }

    #[tokio::test]
    async fn fetch_lays_files_out_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.txt");
        std::fs::write(&src, "hello").unwrap();
        let dest = dir.path().join("out");
        let t = LocalTransport;
        let r = fetch(
            &remote(&t),
            &src.display().to_string(),
            &dest.display().to_string(),
            false,
            false,
        )
        .await;
        assert_eq!(r.status, TaskStatus::Changed);
        let landed = dest
            .join("local")
            .join(src.display().to_string().trim_start_matches('/'));
        assert_eq!(std::fs::read_to_string(landed).unwrap(), "hello");
    }
}
