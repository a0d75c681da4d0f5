//! `file`: a directory, an absent path, a touched file, or the attributes of an
//! existing file. One probe reads the path's kind and attributes; the act runs only
//! when they differ (except `touch`, which always changes the times, as in Ansible).

use serde_json::json;

use super::{Cx, TResult, changed_or_ok, output_text, transport_failure};
use crate::execute::files::attrs_differ_sh;
use crate::execute::remote::Remote;
use crate::parse::playbook::{File, FileState as Wanted};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

/// Printed by the one-shot script when it acts (after the probe's lines).
const ACTED: &str = "rtmig-acted";

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
    // The kind, then the attributes (kept in `$s` for the one-shot script's decision).
    let probe = format!(
        "if [ -L {p} ]; then k=link; elif [ -d {p} ]; then k=directory; elif [ -e {p} ]; then k=file; else k=absent; fi; echo $k; \
         s=; if [ -e {p} ]; then s=$(stat -c '%a %U %G' {p} 2>/dev/null) && echo \"$s\"; fi"
    );
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
    let mut parent_attrs = String::new();
    for (tool, value) in [("chmod", mode), ("chown", owner), ("chgrp", group)] {
        if let Some(v) = value {
            parent_attrs.push_str(&format!(" && {tool} {} \"$x\"", quote(v)));
        }
    }
    let action = match state {
        FileState::Absent => format!("rm -rf {p}"),
        // As Ansible's file module: each directory it creates gets the attributes, not
        // only the last (`{root}/etc/sudoers.d` with mode 0750 makes `{root}/etc` 0750 too).
        FileState::Directory if !parent_attrs.is_empty() => format!(
            "m=$(d={p}; while [ ! -e \"$d\" ] && [ ! -L \"$d\" ]; do printf '%s\\n' \"$d\"; d=$(dirname \"$d\"); done); \
             mkdir -p {p}{attr_cmd} && printf '%s\\n' \"$m\" | while IFS= read -r x; do [ -z \"$x\" ] || {{ true{parent_attrs}; }}; done"
        ),
        FileState::Directory => format!("mkdir -p {p}{attr_cmd}"),
        FileState::Touch => format!("touch {p}{attr_cmd}"),
        FileState::File => format!("true{attr_cmd}"),
    };
    // Under `--check` the probe alone; otherwise the probe, the decision on the host (as
    // `needed` below decides it) and the act, in one command.
    let command = if check {
        probe
    } else {
        let differ = attrs_differ_sh(mode, owner, group, true);
        let wanted = match state {
            FileState::Absent => "[ $k != absent ]".to_string(),
            FileState::Directory => {
                format!("{{ [ $k = absent ] || {{ [ $k = directory ] && {differ}; }}; }}")
            }
            FileState::Touch => "true".to_string(),
            FileState::File => format!("{{ [ $k != absent ] && {differ}; }}"),
        };
        format!("{probe}; if {wanted}; then echo {ACTED}; {action}; fi")
    };
    let out = match remote.run(&command).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = output_text(&out.stdout);
    let acted = stdout.lines().any(|l| l == ACTED);
    let mut lines = stdout.lines().filter(|l| *l != ACTED);
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
    let needed = match state {
        FileState::Absent => kind != "absent",
        FileState::Directory => {
            if kind != "absent" && kind != "directory" {
                return TaskResult::new(TaskStatus::Failed)
                    .with_msg(format!("`{path}` exists and is not a directory"));
            }
            kind == "absent" || !(mode_ok && owner_ok && group_ok)
        }
        // Ansible's touch always reports changed (it updates the times).
        FileState::Touch => true,
        FileState::File => {
            if kind == "absent" {
                return TaskResult::new(TaskStatus::Failed).with_msg(format!(
                    "file `{path}` is absent, cannot continue (use state=touch to create it)"
                ));
            }
            !(mode_ok && owner_ok && group_ok)
        }
    };
    // What the host did, when it did what the controller finds needed; else the act
    // is still to do, in a command of its own.
    let acted = acted.then_some(out);
    let needed = needed || acted.is_some();
    let mut r = TaskResult::new(changed_or_ok(needed));
    if needed && !check {
        r.cmd = Some(action.clone());
        let done = match acted {
            Some(out) => Ok(out),
            None => remote.run(&action).await,
        };
        match done {
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

    /// As Ansible's file module (ansible-playbook 2.21 leaves `a` 0750 too): the
    /// directories a `state: directory` creates get its mode, those that were there keep
    /// theirs.
    #[tokio::test]
    async fn file_directory_gives_created_parents_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |rel: &str| {
            std::fs::metadata(dir.path().join(rel))
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0)
        };
        std::fs::create_dir(dir.path().join("old")).unwrap();
        std::fs::set_permissions(
            dir.path().join("old"),
            std::fs::Permissions::from_mode(0o711),
        )
        .unwrap();
        let p = dir.path().join("old/a b/c").display().to_string();
        let t = LocalTransport;
        let r = file(
            &remote(&t),
            &p,
            FileState::Directory,
            Some("0750"),
            None,
            None,
            false,
        )
        .await;
        assert_eq!(r.status, TaskStatus::Changed, "{r:?}");
        assert_eq!(
            (mode("old"), mode("old/a b"), mode("old/a b/c")),
            (0o711, 0o750, 0o750)
        );
    }

    /// Each `file` task is one command, changed or not: the host decides and acts in
    /// the command that checks; check mode sends the check alone and changes nothing.
    #[tokio::test]
    async fn file_takes_one_command_changed_or_not() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b").display().to_string();
        let n = AtomicUsize::new(0);
        let count = |_: &str| {
            n.fetch_add(1, Ordering::SeqCst);
        };
        let t = LocalTransport;
        let r = crate::execute::remote::local_counting(&t, &count);
        let step = async |state, mode, check| {
            let before = n.load(Ordering::SeqCst);
            let res = file(&r, &p, state, mode, None, None, check).await;
            (res.status, n.load(Ordering::SeqCst) - before)
        };
        use FileState::*;
        use TaskStatus::{Changed, Failed, Ok};
        assert_eq!(step(Directory, Some("0750"), true).await, (Changed, 1));
        assert!(!Path::new(&p).exists(), "check mode made the directory");
        assert_eq!(step(Directory, Some("0750"), false).await, (Changed, 1));
        assert_eq!(step(Directory, Some("0750"), false).await, (Ok, 1));
        assert_eq!(step(Directory, Some("0755"), false).await, (Changed, 1));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        // Symbolic modes are not compared: ok, as the two-step check judged them.
        assert_eq!(step(Directory, Some("u+rwx"), false).await, (Ok, 1));
        assert_eq!(step(File, Some("0700"), false).await, (Changed, 1));
        assert_eq!(step(File, Some("700"), false).await, (Ok, 1));
        assert_eq!(step(Touch, None, false).await, (Changed, 1));
        assert_eq!(step(Absent, None, true).await, (Changed, 1));
        assert!(Path::new(&p).exists(), "check mode removed it");
        assert_eq!(step(Absent, None, false).await, (Changed, 1));
        assert_eq!(step(Absent, None, false).await, (Ok, 1));
        assert_eq!(step(File, None, false).await, (Failed, 1));
        assert_eq!(step(Touch, Some("0600"), false).await, (Changed, 1));
        assert_eq!(step(Directory, None, false).await, (Failed, 1));
    }
}
