//! `service_facts`: `ansible_facts.services` (and `services`), each service as
//! Ansible's module shapes it from systemd: `systemctl list-units --type service --all
//! --plain` gives `state` (`running`/`stopped`) and `status` (active/inactive, or a bad
//! state: `not-found`, `masked`, `failed`), then `list-unit-files` completes `status`
//! (enabled, disabled, static, ...) and adds the services no unit lists (their `state`
//! from `systemctl show NAME --property=ActiveState`). Read-only: it runs under
//! `--check` too. rtmig reads systemd only (Ansible also reads SysV `service
//! --status-all`, upstart and others): a host whose systemctl cannot list units gets
//! Ansible's "Failed to find any services" skip.

use serde_json::{Map, Value, json};

use super::{Cx, Host, TResult, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>) -> TResult<TaskOutcome> {
    let host = cx.host(remote)?;
    let services = match gather(&host).await {
        Ok(s) => s,
        Err(r) => return Ok(TaskOutcome::plain(r)),
    };
    if services.is_empty() {
        let msg = "Failed to find any services. This can be due to privileges or some other configuration issue.";
        return Ok(TaskOutcome::plain(super::skipped(msg)));
    }
    let services = Value::Object(services);
    // Merged into the host's `ansible_facts`, and as the top-level `services` (Ansible's
    // INJECT_FACTS_AS_VARS).
    let mut ansible_facts = cx
        .vars
        .get("ansible_facts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    ansible_facts.insert("services".into(), services.clone());
    let mut facts = HostVars::new();
    facts.insert("ansible_facts".into(), Value::Object(ansible_facts));
    facts.insert("services".into(), services.clone());
    let mut r = TaskResult::new(TaskStatus::Ok);
    r.registered =
        json!({"changed": false, "failed": false, "ansible_facts": {"services": services}});
    Ok(TaskOutcome {
        facts,
        ..TaskOutcome::plain(r)
    })
}

const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

const MARK: &str = "rtmig-service-facts";

/// `_list_from_units`: the services of `list-units` output.
pub fn from_units(out: &str, services: &mut Map<String, Value>) {
    for line in out.split('\n').filter(|l| l.contains(".service")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let head = &fields[..fields.len() - 1];
        let status = BAD_STATES
            .iter()
            .find(|bad| head.contains(bad))
            .copied()
            .unwrap_or(fields[2]);
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        let name = fields[0];
        services.insert(
            name.into(),
            json!({"name": name, "state": state, "status": status, "source": "systemd"}),
        );
    }
}

/// `_list_from_unit_files`: `(name, status)` of each service of `list-unit-files`.
pub fn unit_files(out: &str) -> Vec<(String, String)> {
    out.split('\n')
        .filter(|l| l.contains(".service"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

async fn gather(host: &Host<'_>) -> Result<Map<String, Value>, TaskResult> {
    let env = "LANG=C LC_ALL=C";
    let probe = format!(
        "{env} systemctl list-units --no-pager --type service --all --plain 2>/dev/null; echo \"{MARK}$?\"; \
         {env} systemctl list-unit-files --no-pager --type service --all 2>/dev/null; echo \"{MARK}$?\""
    );
    let out = host.run(&probe).await.map_err(|e| transport_failure(&e))?;
    let stdout = output_text(&out.stdout);
    let mut parts = stdout.split(MARK);
    let units = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let (units_rc, files) = rest.split_once('\n').unwrap_or((rest, ""));
    let files_rc = parts.next().unwrap_or_default().trim();
    let mut services = Map::new();
    if units_rc.trim() == "0" {
        from_units(units, &mut services);
    }
    if files_rc != "0" {
        return Ok(services);
    }
    let files = unit_files(files);
    // The services no unit listed: their ActiveState, one `show` each, in one command.
    let unlisted: Vec<&String> = files
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !services.contains_key(*n))
        .collect();
    let mut active: Vec<String> = Vec::new();
    if !unlisted.is_empty() {
        let cmd: String = unlisted
            .iter()
            .map(|n| {
                format!(
                    "{env} systemctl show {} --property=ActiveState 2>/dev/null || true; echo {MARK}; ",
                    quote(n)
                )
            })
            .collect();
        let out = host.run(&cmd).await.map_err(|e| transport_failure(&e))?;
        active = output_text(&out.stdout)
            .split(&format!("{MARK}\n"))
            .map(|s| s.replace("ActiveState=", "").trim_end().to_string())
            .collect();
    }
    let mut next = active.into_iter();
    for (name, status) in files {
        match services.get_mut(&name) {
            None => {
                let state = next
                    .next()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".into());
                services.insert(
                    name.clone(),
                    json!({"name": name, "state": state, "status": status, "source": "systemd"}),
                );
            }
            Some(svc) => {
                let bad = svc["status"]
                    .as_str()
                    .is_some_and(|s| BAD_STATES.contains(&s));
                if !bad {
                    svc["status"] = json!(status);
                }
            }
        }
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[test]
    fn units_are_shaped_as_ansible_shapes_them() {
        let mut s = Map::new();
        from_units(
            "UNIT LOAD ACTIVE SUB DESCRIPTION\n\
             containerd.service loaded active running containerd container runtime\n\
             docker.service masked inactive dead docker.service\n\
             ghost.service not-found inactive dead ghost.service\n\
             kubelet.service loaded failed failed kubelet: The Kubernetes Node Agent\n\
             \n3 loaded units listed.\n",
            &mut s,
        );
        assert_eq!(
            s["containerd.service"],
            json!({"name": "containerd.service", "state": "running", "status": "active", "source": "systemd"})
        );
        assert_eq!(s["docker.service"]["status"], "masked");
        assert_eq!(s["ghost.service"]["status"], "not-found");
        assert_eq!(s["kubelet.service"]["status"], "failed");
        assert_eq!(s["kubelet.service"]["state"], "stopped");
        assert_eq!(
            unit_files(
                "UNIT FILE STATE VENDOR PRESET\nssh.service enabled enabled\n\n1 unit files listed.\n"
            ),
            [("ssh.service".to_string(), "enabled".to_string())]
        );
    }

    #[tokio::test]
    async fn the_fake_hosts_services_with_their_unit_file_states() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let state = dir.path().join("state");
        for d in ["units", "active", "enabled", "masked"] {
            std::fs::create_dir_all(state.join(d)).unwrap();
        }
        for (unit, dirs) in [
            ("containerd.service", &["units", "active", "enabled"][..]),
            ("docker.service", &["units", "masked"][..]),
            ("cron.service", &["units"][..]),
            ("swap.target", &["units"][..]),
        ] {
            for d in dirs {
                std::fs::write(state.join(d).join(unit), "").unwrap();
            }
        }
        let t = LocalTransport;
        let r = remote(&t);
        let s = gather(&fake_host(&r, &bin)).await.unwrap();
        assert_eq!(
            Value::Object(s),
            json!({
                "containerd.service": {"name": "containerd.service", "state": "running", "status": "enabled", "source": "systemd"},
                "cron.service": {"name": "cron.service", "state": "stopped", "status": "disabled", "source": "systemd"},
                "docker.service": {"name": "docker.service", "state": "stopped", "status": "masked", "source": "systemd"},
            })
        );
    }
}
