//! `modprobe` (`community.general.modprobe`): a kernel module loaded (`modprobe NAME
//! PARAMS`) or unloaded (`modprobe -r`), and with `persistent` loaded at boot, as
//! Ansible writes it: `NAME` in `/etc/modules-load.d/NAME.conf`, its parameters as
//! `options NAME PARAMS` in `/etc/modprobe.d/NAME.conf`; `persistent: absent` comments
//! those lines out. `lsmod` and the files are read first; only what differs is done.

use serde_json::json;

use super::{Cx, Host, TResult, changed_or_ok, failure, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::Modprobe as Args;
use crate::report::TaskResult;
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let spec = ModSpec {
        name: cx.text(&a.name)?,
        absent: cx.choice(&a.state, &["present", "absent"], "present")? == "absent",
        params: cx.opt_text(&a.params)?.unwrap_or_default(),
        persistent: cx.choice(
            &a.persistent,
            &["disabled", "present", "absent"],
            "disabled",
        )?,
        ..ModSpec::default()
    };
    Ok(modprobe(&cx.host(remote)?, &spec, cx.check()).await)
}

#[derive(Debug, Clone)]
pub struct ModSpec {
    pub name: String,
    pub absent: bool,
    pub params: String,
    /// `disabled`, `present` or `absent`.
    pub persistent: String,
    /// `/etc/modules-load.d` (a test's own directory in tests).
    pub modules_load_dir: String,
    /// `/etc/modprobe.d`.
    pub modprobe_dir: String,
}

impl Default for ModSpec {
    fn default() -> Self {
        ModSpec {
            name: String::new(),
            absent: false,
            params: String::new(),
            persistent: "disabled".into(),
            modules_load_dir: "/etc/modules-load.d".into(),
            modprobe_dir: "/etc/modprobe.d".into(),
        }
    }
}

/// The probe's answer lines, after the loaded modules.
const MARK: &str = "rtmig-modprobe";

pub async fn modprobe(host: &Host<'_>, m: &ModSpec, check: bool) -> TaskResult {
    let name = &m.name;
    let q = quote(name);
    let load_dir = quote(&m.modules_load_dir);
    let probe_dir = quote(&m.modprobe_dir);
    let options = format!("options {name} {}", m.params.trim());
    // Loaded (lsmod, or built into the kernel), then which files load it at boot and
    // which give it these options.
    let probe = format!(
        "lsmod | awk 'NR>1{{print $1}}'; echo {MARK}; \
         b=/lib/modules/$(uname -r)/modules.builtin; [ -f \"$b\" ] && grep -q \"/\"{q}\\.ko \"$b\" && echo builtin; \
         echo {MARK}; grep -lsx {q} {load_dir}/*.conf; \
         echo {MARK}; grep -lsx {} {probe_dir}/*.conf; \
         echo {MARK}; grep -lsE {} {probe_dir}/*.conf; true",
        quote(&options),
        quote(&format!("^options {name}( |$)"))
    );
    let out = match host.run(&probe).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = output_text(&out.stdout);
    let sep = format!("{MARK}\n");
    let mut parts = stdout.split(sep.as_str());
    let lsmod = parts.next().unwrap_or_default();
    let builtin = parts.next().unwrap_or_default().contains("builtin");
    let load_files: Vec<&str> = parts.next().unwrap_or_default().lines().collect();
    let option_files: Vec<&str> = parts.next().unwrap_or_default().lines().collect();
    let any_option_files: Vec<&str> = parts.next().unwrap_or_default().lines().collect();
    let bare = name.replace('-', "_");
    let loaded = builtin || lsmod.lines().any(|l| l.trim() == bare);
    let mut commands: Vec<String> = Vec::new();
    if m.absent && builtin {
        return failure(format!("module {name} is builtin and cannot be removed"));
    }
    if m.absent && loaded {
        commands.push(format!("modprobe -r {q}"));
    } else if !m.absent && !loaded {
        let params = if m.params.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", m.params.trim())
        };
        commands.push(format!("modprobe {q}{params}"));
    }
    match m.persistent.as_str() {
        "present" => {
            if load_files.is_empty() {
                commands.push(format!(
                    "mkdir -p {load_dir} && printf '%s\\n' {q} > {load_dir}/{}",
                    quote(&format!("{name}.conf"))
                ));
            }
            if !m.params.trim().is_empty() && option_files.is_empty() {
                commands.push(format!(
                    "mkdir -p {probe_dir} && printf '%s\\n' {} > {probe_dir}/{}",
                    quote(&options),
                    quote(&format!("{name}.conf"))
                ));
            }
        }
        "absent" => {
            for f in &load_files {
                commands.push(format!(
                    "sed -i {} {}",
                    quote(&format!("s/^{}$/#&/", sed_escape(name))),
                    quote(f)
                ));
            }
            for f in &any_option_files {
                commands.push(format!(
                    "sed -i -E {} {}",
                    quote(&format!("s/^options {}( |$)/#&/", sed_escape(name))),
                    quote(f)
                ));
            }
        }
        _ => {}
    }
    let changed = !commands.is_empty();
    let mut r = TaskResult::new(changed_or_ok(changed));
    if check {
        if changed {
            r.msg = Some(format!("would run: {}", commands.join("; ")));
        }
    } else {
        for cmd in &commands {
            match host.run(cmd).await {
                Ok(o) if o.status == 0 => {}
                Ok(o) => {
                    let mut f = failure(format!(
                        "{cmd} failed (rc={}): {}",
                        o.status,
                        output_text(&o.stderr).trim()
                    ));
                    f.rc = Some(o.status);
                    return f;
                }
                Err(e) => return transport_failure(&e),
            }
        }
        r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty());
    }
    r.registered = json!({
        "changed": changed,
        "name": name,
        "params": m.params,
        "state": if m.absent { "absent" } else { "present" },
        "failed": false,
    });
    r
}

/// A module name in a sed pattern (`.`, `[`, ... taken literally).
fn sed_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn modprobe_loads_once_and_persists_as_ansible_does() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let spec = ModSpec {
            name: "rtmig_dummy".into(),
            params: "foo=1".into(),
            persistent: "present".into(),
            modules_load_dir: dir.path().join("modules-load.d").display().to_string(),
            modprobe_dir: dir.path().join("modprobe.d").display().to_string(),
            ..Default::default()
        };
        let res = modprobe(&host, &spec, true).await;
        assert_eq!(res.status, TaskStatus::Changed);
        assert!(!dir.path().join("state/modules/rtmig_dummy").exists());
        assert!(!dir.path().join("modules-load.d").exists());

        let res = modprobe(&host, &spec, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("state/modules/rtmig_dummy")).unwrap(),
            "foo=1\n"
        );
        let load = dir.path().join("modules-load.d/rtmig_dummy.conf");
        assert_eq!(std::fs::read_to_string(&load).unwrap(), "rtmig_dummy\n");
        let opts = dir.path().join("modprobe.d/rtmig_dummy.conf");
        assert_eq!(
            std::fs::read_to_string(&opts).unwrap(),
            "options rtmig_dummy foo=1\n"
        );
        assert_eq!(modprobe(&host, &spec, false).await.status, TaskStatus::Ok);

        let gone = ModSpec {
            absent: true,
            persistent: "absent".into(),
            ..spec.clone()
        };
        assert_eq!(
            modprobe(&host, &gone, false).await.status,
            TaskStatus::Changed
        );
        assert!(!dir.path().join("state/modules/rtmig_dummy").exists());
        assert_eq!(std::fs::read_to_string(&load).unwrap(), "#rtmig_dummy\n");
        assert_eq!(
            std::fs::read_to_string(&opts).unwrap(),
            "#options rtmig_dummy foo=1\n"
        );
        assert_eq!(modprobe(&host, &gone, false).await.status, TaskStatus::Ok);
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert_eq!(
            calls,
            "modprobe rtmig_dummy foo=1\nmodprobe -r rtmig_dummy\n"
        );
    }

    #[tokio::test]
    async fn an_unknown_module_fails_with_modprobes_message() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let spec = ModSpec {
            name: "nosuchmod".into(),
            ..Default::default()
        };
        let res = modprobe(&fake_host(&r, &bin), &spec, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert!(res.msg.unwrap().contains("Module nosuchmod not found"));
    }
}
