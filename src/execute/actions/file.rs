//! `file`: a directory, an absent path, a touched file, or the attributes of an
//! existing file. One probe reads the path's kind and attributes; the act runs only
//! when they differ (except `touch`, which always changes the times, as in Ansible).

use serde_json::json;

use super::{Cx, TResult, changed_or_ok, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{File, FileState as Wanted};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, f: &File) -> TResult<TaskResult> {
    let state = match f.state {
        Wanted::File => FileState::File,
        Wanted::Directory => FileState::Directory,
        Wanted::Absent => FileState::Absent,
        Wanted::Touch => FileState::Touch,
    };
    let path = cx.text(&f.path)?;
    let mode = cx.opt_text(&f.mode)?;
    let owner = cx.opt_text(&f.owner)?;
    let group = cx.opt_text(&f.group)?;
    Ok(file(
        remote,
        &path,
        state,
        mode.as_deref(),
        owner.as_deref(),
        group.as_deref(),
        cx.check(),
    )
    .await)
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
    let stdout = output_text(&out.stdout);
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
    let mut r = TaskResult::new(changed_or_ok(needed));
    if needed && !check {
        r.cmd = Some(action.clone());
        match remote.run(&action).await {
            Ok(o) if o.status == 0 => {}
            Ok(o) => {
                r = TaskResult::new(TaskStatus::Failed)
                    .with_msg(output_text(&o.stderr).trim().to_string());
                r.rc = Some(o.status);
            }
            Err(e) => return transport_failure(&e),
        }
    }
    r.registered = json!({"changed": r.status == TaskStatus::Changed, "path": path, "failed": r.status == TaskStatus::Failed});
    r
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn file_directory_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b").display().to_string();
        let t = LocalTransport;
        let dir_0755 = || {
            let remote = remote(&t);
            let p = p.clone();
            async move {
                file(
                    &remote,
                    &p,
                    FileState::Directory,
                    Some("0755"),
                    None,
                    None,
                    false,
                )
                .await
            }
        };
        assert_eq!(dir_0755().await.status, TaskStatus::Changed);
        assert_eq!(dir_0755().await.status, TaskStatus::Ok);
        let r3 = file(&remote(&t), &p, FileState::Absent, None, None, None, false).await;
        assert_eq!(r3.status, TaskStatus::Changed);
        assert!(!Path::new(&p).exists());
    }
}
