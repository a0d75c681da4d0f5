//! `sysctl` (`ansible.posix.sysctl`): a kernel parameter in a sysctl file, written
//! the way Ansible writes it (`name=value`, the other entries kept), and in the running
//! kernel with `sysctl_set` (`sysctl -w`). The file and the running value are read
//! first; the file is rewritten only when its value differs, through the same code as
//! `copy` (so `--check --diff` shows the file's diff), then `sysctl -p FILE` when
//! `reload`.

use serde_json::json;

use super::{Cx, Host, TResult, changed_or_ok, failure, output_text, transport_failure};
use crate::execute::files::{self, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::Sysctl as Args;
use crate::report::TaskResult;
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let spec = SysctlSpec {
        name: cx.text(&a.name)?,
        value: cx.opt_text(&a.value)?,
        absent: cx.choice(&a.state, &["present", "absent"], "present")? == "absent",
        reload: cx.flag(&a.reload, true)?,
        file: cx
            .opt_text(&a.sysctl_file)?
            .unwrap_or_else(|| "/etc/sysctl.conf".into()),
        set: cx.flag(&a.sysctl_set, false)?,
        ignoreerrors: cx.flag(&a.ignoreerrors, false)?,
    };
    let host = cx.host(remote)?;
    Ok(sysctl(&host, &spec, cx.check(), cx.runner.diff).await)
}

#[derive(Debug, Clone, Default)]
pub struct SysctlSpec {
    pub name: String,
    pub value: Option<String>,
    pub absent: bool,
    pub reload: bool,
    pub file: String,
    pub set: bool,
    pub ignoreerrors: bool,
}

/// A value as Ansible compares it: booleans as `1`/`0`, blanks collapsed (the kernel
/// prints `net.ipv4.ip_local_port_range` with a tab).
fn normalize(v: &str) -> String {
    match crate::words::boolean(v) {
        Some(b) if !v.trim().chars().all(|c| c.is_ascii_digit()) => {
            if b { "1" } else { "0" }.to_string()
        }
        _ => v.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A sysctl file's entry line: `(key, value)`, or `None` for blanks and comments.
fn entry(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((k.trim().to_string(), v.trim().to_string()))
}

/// The file as Ansible rewrites it: comments and blanks kept, each key once as
/// `key=value`, `name` set (or dropped when `value` is `None`), appended when new.
pub fn rewrite(old: &str, name: &str, value: Option<&str>) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in old.lines() {
        let Some((k, v)) = entry(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        if seen.contains(&k) {
            continue;
        }
        if k == name {
            if let Some(value) = value {
                out.push_str(&format!("{k}={value}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
        seen.push(k);
    }
    if let Some(value) = value
        && !seen.iter().any(|k| k == name)
    {
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

/// `sysctl`: the file's entry, and with `set` the running value, as asked.
pub async fn sysctl(host: &Host<'_>, s: &SysctlSpec, check: bool, want_diff: bool) -> TaskResult {
    let name = s.name.replace('/', ".");
    let value = s.value.as_deref().map(normalize);
    let file = quote(&s.file);
    let old = match host
        .run(&format!("if [ -e {file} ]; then cat {file}; fi"))
        .await
    {
        Ok(o) if o.status == 0 => output_text(&o.stdout),
        Ok(o) => {
            return failure(format!(
                "cannot read {}: {}",
                s.file,
                output_text(&o.stderr).trim()
            ));
        }
        Err(e) => return transport_failure(&e),
    };
    // The last entry is the one the kernel gets (`sysctl -p` applies them in order).
    let in_file = old
        .lines()
        .filter_map(entry)
        .rfind(|(k, _)| k.replace('/', ".") == name)
        .map(|(_, v)| normalize(&v));
    let file_changed = in_file != value;
    let e = if s.ignoreerrors { "-e " } else { "" };
    let mut set_needed = false;
    if s.set && !s.absent {
        let current = match host.run(&format!("sysctl {e}-n {}", quote(&name))).await {
            Ok(o) if o.status == 0 => normalize(&output_text(&o.stdout)),
            Ok(o) => {
                return failure(format!(
                    "cannot read {name}: {}",
                    output_text(&o.stderr).trim()
                ));
            }
            Err(e) => return transport_failure(&e),
        };
        set_needed = Some(&current) != value.as_ref();
    }
    let changed = file_changed || set_needed;
    let mut commands = Vec::new();
    let mut diff = None;
    if set_needed && !check {
        let v = value.clone().unwrap_or_default();
        let cmd = format!("sysctl {e}-w {}", quote(&format!("{name}={v}")));
        match host.run(&cmd).await {
            Ok(o) if o.status == 0 => commands.push(cmd),
            Ok(o) => {
                return failure(format!(
                    "setting {name} failed: {}{}",
                    output_text(&o.stdout),
                    output_text(&o.stderr).trim()
                ));
            }
            Err(e) => return transport_failure(&e),
        }
    }
    if file_changed {
        let new = rewrite(&old, &name, value.as_deref());
        let spec = FileSpec {
            dest: s.file.clone(),
            ..Default::default()
        };
        match files::put_content(host.remote, new.as_bytes(), &spec, check, want_diff).await {
            Ok(o) => diff = o.diff,
            Err(files::FileError::Transport(e)) => return transport_failure(&e),
            Err(e) => return failure(e.to_string()),
        }
    }
    if changed && s.reload && !check {
        let cmd = format!("sysctl {e}-p {file}");
        match host.run(&cmd).await {
            Ok(o) if o.status == 0 && !output_text(&o.stderr).contains("Invalid argument") => {
                commands.push(cmd)
            }
            Ok(o) => {
                return failure(format!(
                    "Failed to reload sysctl: {}{}",
                    output_text(&o.stdout),
                    output_text(&o.stderr).trim()
                ));
            }
            Err(e) => return transport_failure(&e),
        }
    }
    let mut r = TaskResult::new(changed_or_ok(changed));
    r.diff = diff;
    r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty());
    r.registered = json!({"changed": changed, "name": name, "value": value, "failed": false});
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    #[test]
    fn the_file_is_rewritten_as_ansible_writes_it() {
        let old = "# kernel\nvm.swappiness = 10\nnet.ipv4.ip_forward=0\n\nvm.swappiness=20\n";
        assert_eq!(
            rewrite(old, "net.ipv4.ip_forward", Some("1")),
            "# kernel\nvm.swappiness=10\nnet.ipv4.ip_forward=1\n\n"
        );
        assert_eq!(
            rewrite(old, "net.ipv4.ip_forward", None),
            "# kernel\nvm.swappiness=10\n\n"
        );
        assert_eq!(rewrite("", "a.b", Some("1")), "a.b=1\n");
        assert_eq!(normalize("yes"), "1");
        assert_eq!(normalize("32768\t60999\n"), "32768 60999");
    }

    #[tokio::test]
    async fn sysctl_sets_the_file_and_the_kernel_once() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let conf = dir.path().join("99-k8s.conf");
        std::fs::write(&conf, "# mine\nvm.swappiness=10\n").unwrap();
        std::fs::create_dir_all(dir.path().join("state/sysctl")).unwrap();
        std::fs::write(dir.path().join("state/sysctl/net.ipv4.ip_forward"), "0\n").unwrap();
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let spec = SysctlSpec {
            name: "net.ipv4.ip_forward".into(),
            value: Some("1".into()),
            reload: true,
            file: conf.display().to_string(),
            set: true,
            ..Default::default()
        };
        // Check mode: would change, shows the diff, changes nothing.
        let res = sysctl(&host, &spec, true, true).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert!(
            res.diff
                .as_deref()
                .unwrap()
                .contains("+net.ipv4.ip_forward=1")
        );
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "# mine\nvm.swappiness=10\n"
        );
        let state = dir.path().join("state/sysctl/net.ipv4.ip_forward");
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "0\n");

        let res = sysctl(&host, &spec, false, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "# mine\nvm.swappiness=10\nnet.ipv4.ip_forward=1\n"
        );
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "1\n");
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert!(calls.contains("sysctl -w net.ipv4.ip_forward=1"), "{calls}");
        assert!(
            calls.contains(&format!("sysctl -p {}", conf.display())),
            "{calls}"
        );

        // A rerun: ok, no write, no -w.
        let res = sysctl(&host, &spec, false, false).await;
        assert_eq!(res.status, TaskStatus::Ok, "{res:?}");
        let again = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert_eq!(again.matches(" -w ").count(), 1);

        // The kernel drifted: only the running value is set again.
        std::fs::write(&state, "0\n").unwrap();
        let res = sysctl(&host, &spec, false, false).await;
        assert_eq!(res.status, TaskStatus::Changed);
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "1\n");

        // Absent: the entry leaves the file.
        let absent = SysctlSpec {
            value: None,
            absent: true,
            reload: false,
            ..spec.clone()
        };
        assert_eq!(
            sysctl(&host, &absent, false, false).await.status,
            TaskStatus::Changed
        );
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "# mine\nvm.swappiness=10\n"
        );
        assert_eq!(
            sysctl(&host, &absent, false, false).await.status,
            TaskStatus::Ok
        );
    }

    #[tokio::test]
    async fn an_unknown_key_with_sysctl_set_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let spec = SysctlSpec {
            name: "net.nope".into(),
            value: Some("1".into()),
            file: dir.path().join("s.conf").display().to_string(),
            set: true,
            ..Default::default()
        };
        let res = sysctl(&fake_host(&r, &bin), &spec, false, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert!(res.msg.unwrap().contains("net.nope"));
        assert!(!dir.path().join("s.conf").exists());
    }
}
