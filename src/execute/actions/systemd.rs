//! `systemd_service` (`systemd`), and `service` on a systemd host: one `systemctl show`
//! reads the unit's load, active and unit-file states; then only what differs is done,
//! in Ansible's order (mask/unmask, enable/disable, start/stop/restart/reload). Under
//! `--check` the query alone runs and the result says what would change.

use indexmap::IndexMap;
use serde_json::json;

use super::{Cx, Host, TResult, changed_or_ok, failure, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{SYSTEMD_STATES, Systemd as Spec};
use crate::report::TaskResult;
use crate::shell_words::quote;

/// The properties `systemctl show` is asked for, returned as `status`.
const PROPERTIES: &str = "Id,Names,LoadState,ActiveState,SubState,UnitFileState,MainPID,Description,FragmentPath,NeedDaemonReload,LoadError";

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, s: &Spec) -> TResult<TaskResult> {
    let state = match &s.state {
        Some(_) => Some(cx.choice(&s.state, SYSTEMD_STATES, "")?),
        None => None,
    };
    let unit = Unit {
        name: cx.opt_text(&s.name)?,
        state: state.as_deref().map(UnitState::from_word),
        enabled: s
            .enabled
            .as_ref()
            .map(|_| cx.flag(&s.enabled, false))
            .transpose()?,
        masked: s
            .masked
            .as_ref()
            .map(|_| cx.flag(&s.masked, false))
            .transpose()?,
        daemon_reload: cx.flag(&s.daemon_reload, false)?,
        daemon_reexec: cx.flag(&s.daemon_reexec, false)?,
        scope: cx.choice(&s.scope, &["system", "user", "global"], "system")?,
        no_block: cx.flag(&s.no_block, false)?,
    };
    Ok(systemd(&cx.host(remote)?, &unit, cx.check(), cx.runner.diff).await)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

impl UnitState {
    fn from_word(w: &str) -> UnitState {
        match w {
            "stopped" => UnitState::Stopped,
            "restarted" => UnitState::Restarted,
            "reloaded" => UnitState::Reloaded,
            _ => UnitState::Started,
        }
    }
}

/// What a `systemd_service` task asks, rendered.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    pub name: Option<String>,
    pub state: Option<UnitState>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    /// `system`, `user` or `global`.
    pub scope: String,
    pub no_block: bool,
}

/// `systemctl show`'s `KEY=VALUE` lines.
fn parse_show(out: &str) -> IndexMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `systemd_service`: query the unit, then mask, enable and start (or the reverse)
/// only where it differs from what is asked.
pub async fn systemd(host: &Host<'_>, u: &Unit, check: bool, want_diff: bool) -> TaskResult {
    let systemctl = match u.scope.as_str() {
        "user" => "systemctl --user",
        "global" => "systemctl --global",
        _ => "systemctl",
    };
    let mut commands: Vec<String> = Vec::new();
    for (wanted, verb) in [
        (u.daemon_reload, "daemon-reload"),
        (u.daemon_reexec, "daemon-reexec"),
    ] {
        if !wanted || check {
            continue;
        }
        let cmd = format!("{systemctl} {verb}");
        match host.run(&cmd).await {
            Ok(o) if o.status == 0 => commands.push(cmd),
            Ok(o) => {
                return failure(format!(
                    "failure {} during {verb}: {}",
                    o.status,
                    output_text(&o.stderr).trim()
                ));
            }
            Err(e) => return transport_failure(&e),
        }
    }
    let mut changed = false;
    let mut registered = json!({"changed": false});
    let Some(name) = &u.name else {
        let mut r = TaskResult::new(changed_or_ok(false));
        r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty());
        r.registered = registered;
        return r;
    };
    let unit = quote(name);
    let show = format!("{systemctl} show {unit} -p {PROPERTIES} --no-pager");
    let status = match host.run(&show).await {
        Ok(o) if o.status == 0 => parse_show(&output_text(&o.stdout)),
        Ok(o) => {
            return failure(format!(
                "cannot query unit {name} (`{show}` exited {}): {}",
                o.status,
                output_text(&o.stderr).trim()
            ));
        }
        Err(e) => return transport_failure(&e),
    };
    let prop = |k: &str| status.get(k).map(String::as_str).unwrap_or("");
    let found = !matches!(prop("LoadState"), "not-found" | "");
    let is_masked = prop("LoadState") == "masked" || prop("UnitFileState") == "masked";
    if matches!(prop("LoadState"), "error" | "bad-setting") {
        return failure(format!(
            "Error loading unit file '{name}': {}",
            prop("LoadError")
        ));
    }
    registered["name"] = json!(name);
    registered["status"] = json!(status);
    let not_found = || failure(format!("Could not find the requested service {name}: host"));
    let mut verbs: Vec<&str> = Vec::new();
    if let Some(mask) = u.masked
        && mask != is_masked
    {
        verbs.push(if mask { "mask" } else { "unmask" });
    }
    if let Some(enable) = u.enabled {
        if !found {
            return not_found();
        }
        // `systemctl is-enabled` exits 0 for these; Ansible enables again on
        // `enabled-runtime`, `indirect` and `alias`.
        let now = matches!(
            prop("UnitFileState"),
            "enabled" | "static" | "generated" | "transient"
        );
        if now != enable {
            verbs.push(if enable { "enable" } else { "disable" });
        }
        registered["enabled"] = json!(enable);
    }
    if let Some(state) = u.state {
        if !found {
            return not_found();
        }
        let active = prop("ActiveState");
        let running = matches!(active, "active" | "activating");
        let verb = match state {
            UnitState::Started => (!running).then_some("start"),
            UnitState::Stopped => (running || active == "deactivating").then_some("stop"),
            UnitState::Restarted if running => Some("restart"),
            UnitState::Reloaded if running => Some("reload"),
            UnitState::Restarted | UnitState::Reloaded => Some("start"),
        };
        verbs.extend(verb);
        registered["state"] = json!(match state {
            UnitState::Stopped => "stopped",
            _ => "started",
        });
    }
    changed |= !verbs.is_empty();
    let diff = (want_diff && !verbs.is_empty()).then(|| unit_diff(name, &status, &verbs));
    if check {
        commands.extend(verbs.iter().map(|v| format!("{systemctl} {v} {unit}")));
    } else {
        for verb in &verbs {
            let no_block = if u.no_block && !verb.contains("able") && !verb.contains("mask") {
                " --no-block"
            } else {
                ""
            };
            let cmd = format!("{systemctl}{no_block} {verb} {unit}");
            let out = match host.run(&cmd).await {
                Ok(o) => o,
                Err(e) => return transport_failure(&e),
            };
            commands.push(cmd);
            if out.status != 0 {
                let err = output_text(&out.stderr).trim().to_string();
                let msg = match *verb {
                    "mask" | "unmask" => format!("Failed to {verb} the service ({name}): {err}"),
                    "enable" | "disable" => format!(
                        "Unable to {verb} service {name}: {}{err}",
                        output_text(&out.stdout)
                    ),
                    _ => format!("Unable to {verb} service {name}: {err}"),
                };
                let mut r = failure(msg);
                r.rc = Some(out.status);
                r.cmd = Some(commands.join("\n"));
                return r;
            }
        }
    }
    registered["changed"] = json!(changed);
    let mut r = TaskResult::new(changed_or_ok(changed));
    if check && changed {
        r.msg = Some(format!("would run: {}", commands.join("; ")));
    }
    r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty() && !check);
    r.diff = diff;
    r.registered = registered;
    r
}

/// What `--diff` shows for a unit: the states before and after, one per line, e.g.
/// `-ActiveState=active` / `+ActiveState=inactive` for a unit that stops.
fn unit_diff(name: &str, status: &IndexMap<String, String>, verbs: &[&str]) -> String {
    let prop = |k: &str| status.get(k).cloned().unwrap_or_default();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut ufs = prop("UnitFileState");
    let mut changed_ufs = false;
    let mut active = prop("ActiveState");
    for verb in verbs {
        match *verb {
            "mask" => (ufs, changed_ufs) = ("masked".into(), true),
            "unmask" | "disable" => (ufs, changed_ufs) = ("disabled".into(), true),
            "enable" => (ufs, changed_ufs) = ("enabled".into(), true),
            "start" => active = "active".into(),
            "stop" => active = "inactive".into(),
            other => active = format!("active ({other}ed)"),
        }
    }
    if changed_ufs {
        before.push(format!("UnitFileState={}", prop("UnitFileState")));
        after.push(format!("UnitFileState={ufs}"));
    }
    if active != prop("ActiveState") {
        before.push(format!("ActiveState={}", prop("ActiveState")));
        after.push(format!("ActiveState={active}"));
    }
    let mut out = format!("--- before: unit {name}\n+++ after: unit {name}\n");
    for l in before {
        out.push_str(&format!("-{l}\n"));
    }
    for l in after {
        out.push_str(&format!("+{l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    fn unit(name: &str) -> Unit {
        Unit {
            name: Some(name.into()),
            scope: "system".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn systemd_starts_and_enables_once_and_check_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("units")).unwrap();
        std::fs::write(state.join("units/containerd.service"), "").unwrap();
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let u = Unit {
            state: Some(UnitState::Started),
            enabled: Some(true),
            daemon_reload: true,
            ..unit("containerd")
        };
        let res = systemd(&host, &u, true, true).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert_eq!(
            res.msg.as_deref(),
            Some("would run: systemctl enable containerd; systemctl start containerd")
        );
        assert_eq!(
            res.diff.as_deref(),
            Some(
                "--- before: unit containerd\n+++ after: unit containerd\n-UnitFileState=disabled\n-ActiveState=inactive\n+UnitFileState=enabled\n+ActiveState=active\n"
            )
        );
        assert!(!state.join("active/containerd.service").exists());
        let calls = std::fs::read_to_string(state.join("calls")).unwrap();
        assert!(
            !calls.contains("daemon-reload"),
            "check mode reloaded: {calls}"
        );

        let res = systemd(&host, &u, false, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert!(state.join("active/containerd.service").exists());
        assert!(state.join("enabled/containerd.service").exists());
        assert_eq!(res.registered["state"], "started");
        assert_eq!(res.registered["enabled"], true);
        assert_eq!(res.registered["status"]["ActiveState"], "inactive");

        let res = systemd(&host, &u, false, false).await;
        assert_eq!(res.status, TaskStatus::Ok, "{res:?}");
        assert_eq!(res.registered["status"]["ActiveState"], "active");
        assert_eq!(res.registered["status"]["UnitFileState"], "enabled");

        // Restarted always acts; stopped + disabled + masked undo it all.
        let restart = Unit {
            state: Some(UnitState::Restarted),
            ..unit("containerd")
        };
        assert_eq!(
            systemd(&host, &restart, false, false).await.status,
            TaskStatus::Changed
        );
        let off = Unit {
            state: Some(UnitState::Stopped),
            enabled: Some(false),
            masked: Some(true),
            ..unit("containerd.service")
        };
        assert_eq!(
            systemd(&host, &off, false, false).await.status,
            TaskStatus::Changed
        );
        assert!(!state.join("active/containerd.service").exists());
        assert!(!state.join("enabled/containerd.service").exists());
        assert!(state.join("masked/containerd.service").exists());
        assert_eq!(
            systemd(&host, &off, false, false).await.status,
            TaskStatus::Ok
        );
        let calls = std::fs::read_to_string(state.join("calls")).unwrap();
        let acts: Vec<&str> = calls
            .lines()
            .filter(|l| !l.starts_with("systemctl show"))
            .collect();
        assert_eq!(
            acts,
            [
                "systemctl daemon-reload",
                "systemctl enable containerd",
                "systemctl start containerd",
                // daemon_reload runs each time, as in Ansible (it is not a change).
                "systemctl daemon-reload",
                "systemctl restart containerd",
                "systemctl mask containerd.service",
                "systemctl disable containerd.service",
                "systemctl stop containerd.service",
            ]
        );
    }

    #[tokio::test]
    async fn an_unknown_unit_fails_naming_it_and_masking_it_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let u = Unit {
            state: Some(UnitState::Started),
            ..unit("nosuch")
        };
        let res = systemd(&host, &u, false, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert_eq!(
            res.msg.as_deref(),
            Some("Could not find the requested service nosuch: host")
        );
        let mask = Unit {
            masked: Some(true),
            ..unit("nosuch")
        };
        assert_eq!(
            systemd(&host, &mask, false, false).await.status,
            TaskStatus::Changed
        );
        assert!(dir.path().join("state/masked/nosuch.service").exists());
    }
}
