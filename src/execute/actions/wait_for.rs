//! `wait_for`: poll on the host until the port answers, the path exists, or the command
//! succeeds (or the reverse for `stopped`/`absent`), within the timeout. Nothing
//! changes on the host; in check mode it does not wait.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Cx, TResult, TaskError, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{WaitFor as Spec, WaitState, WaitTarget};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, w: &Spec) -> TResult<TaskResult> {
    let mut spec = WaitFor {
        timeout: Duration::from_secs(cx.opt_number(&w.timeout)?.unwrap_or(300)),
        delay: Duration::from_secs(cx.opt_number(&w.delay)?.unwrap_or(0)),
        sleep: Duration::from_secs(cx.opt_number(&w.sleep)?.unwrap_or(1).max(1)),
        absent: matches!(w.state, WaitState::Stopped | WaitState::Absent),
        msg: cx.opt_text(&w.msg)?,
        ..Default::default()
    };
    match &w.target {
        WaitTarget::Port { host: h, port } => {
            spec.host = cx.opt_text(h)?;
            let p = cx.number(port)?;
            spec.port =
                Some(u16::try_from(p).map_err(|_| TaskError(format!("port {p} is out of range")))?);
        }
        WaitTarget::Path { path, search_regex } => {
            let path = cx.text(path)?;
            match cx.opt_text(search_regex)? {
                Some(re) => {
                    spec.command = Some(format!("grep -Eq {} {}", quote(&re), quote(&path)))
                }
                None => spec.path = Some(path),
            }
        }
        WaitTarget::Command(c) => spec.command = Some(cx.text(c)?),
    }
    Ok(wait_for(remote, &spec, cx.check_unless_forced()).await)
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
                    r.registered = json!({"changed": false, "elapsed": started.elapsed().as_secs(), "rc": out.status, "stdout": output_text(&out.stdout).trim_end()});
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
                r.stdout = output_text(&out.stdout);
                r.stderr = output_text(&out.stderr);
            }
            return r;
        }
        tokio::time::sleep(w.sleep).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

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
}
