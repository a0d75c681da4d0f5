//! Arguments of the node modules: `systemd_service`/`systemd`/`service`, `package`/
//! `apt`/`dnf`/`yum`, `sysctl`, `modprobe`, `uri`. Names, aliases and choices are
//! Ansible's; a word out of a fixed set, and a boolean, may be a template checked at
//! run time instead.

use super::super::ctx::is_template;
use super::super::node::Value;
use super::super::types::*;
use super::Args;

pub const SYSTEMD_STATES: &[&str] = &["reloaded", "restarted", "started", "stopped"];

impl Args<'_> {
    /// A boolean argument, literal (checked now) or a template.
    pub(super) fn flag_text(&mut self, names: &[&str]) -> Option<Flag> {
        let node = self.get_any(names)?;
        let word = match &node.value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i @ (0 | 1)) => Some(i.to_string()),
            Value::Str(s) if is_template(s) || crate::words::boolean(s).is_some() => {
                Some(s.clone())
            }
            _ => None,
        };
        match word {
            Some(value) => Some(Text {
                value,
                location: self.ctx.loc(node.pos),
            }),
            None => {
                self.ctx.boolean(&node, names[0]);
                None
            }
        }
    }

    /// A word out of `choices`, literal (checked now) or a template.
    pub(super) fn choice(&mut self, names: &[&str], choices: &[&str]) -> Option<Choice> {
        let node = self.get_any(names)?;
        let text = self.ctx.text(&node, names[0])?;
        if !is_template(&text.value) && !choices.contains(&text.value.as_str()) {
            let message = format!(
                "`{}` of `{}` must be one of {}, found `{}`",
                names[0],
                self.name,
                super::list(choices),
                text.value
            );
            self.ctx.error(node.pos, message);
            return None;
        }
        Some(text)
    }

    pub(super) fn text_any(&mut self, names: &[&str]) -> Option<Text> {
        let node = self.get_any(names)?;
        self.ctx.text(&node, names[0])
    }

    pub(super) fn systemd(&mut self) -> Option<Action> {
        let service = self.name == "service";
        if service {
            self.known(&["name", "state", "enabled", "use"]);
            if let Some(node) = self.get("use").cloned() {
                let word = node.value.scalar_text().unwrap_or_default();
                if !matches!(word.as_str(), "auto" | "systemd") {
                    self.ctx.error(
                        node.pos,
                        format!("`use` of `service` must be `auto` or `systemd` (rtmig drives systemd only), found `{word}`"),
                    );
                }
            }
        } else {
            self.known(&[
                "name",
                "service",
                "unit",
                "state",
                "enabled",
                "masked",
                "daemon_reload",
                "daemon-reload",
                "daemon_reexec",
                "daemon-reexec",
                "scope",
                "no_block",
            ]);
        }
        let name = self.text_any(&["name", "service", "unit"]);
        let s = Systemd {
            state: self.choice(&["state"], SYSTEMD_STATES),
            enabled: self.flag_text(&["enabled"]),
            masked: self.flag_text(&["masked"]),
            daemon_reload: self.flag_text(&["daemon_reload", "daemon-reload"]),
            daemon_reexec: self.flag_text(&["daemon_reexec", "daemon-reexec"]),
            scope: self.choice(&["scope"], &["system", "user", "global"]),
            no_block: self.flag_text(&["no_block"]),
            name,
        };
        let wants_unit = [
            ("state", self.get("state").is_some()),
            ("enabled", self.get("enabled").is_some()),
            ("masked", self.get("masked").is_some()),
        ];
        let reloads = [
            "daemon_reload",
            "daemon-reload",
            "daemon_reexec",
            "daemon-reexec",
        ]
        .iter()
        .any(|k| self.get(k).is_some());
        if self.get_any(&["name", "service", "unit"]).is_none() {
            if service {
                self.missing("name");
            } else if let Some((arg, _)) = wants_unit.iter().find(|(_, given)| *given) {
                let message = format!("`{arg}` of `{}` needs `name`", self.name);
                self.ctx.error(self.pos, message);
            }
        }
        if !service && !reloads && !wants_unit.iter().any(|(_, given)| *given) {
            let message = format!(
                "`{}` needs one of `state`, `enabled`, `masked`, `daemon_reload`, `daemon_reexec`",
                self.name
            );
            self.ctx.error(self.pos, message);
        }
        if service && !wants_unit[..2].iter().any(|(_, given)| *given) {
            self.ctx
                .error(self.pos, "`service` needs one of `state`, `enabled`");
        }
        Some(Action::Systemd(s))
    }

    pub(super) fn package(&mut self) -> Option<Action> {
        let manager = match self.name {
            "apt" => PackageManager::Apt,
            "dnf" => PackageManager::Dnf,
            "yum" => PackageManager::Yum,
            _ => PackageManager::Auto,
        };
        let mut known = vec!["name", "pkg", "package", "state"];
        match manager {
            PackageManager::Apt => known.extend(["update_cache", "update-cache", "deb"]),
            PackageManager::Dnf | PackageManager::Yum => known.push("update_cache"),
            PackageManager::Auto => known.push("use"),
        }
        self.known(&known);
        let names = self
            .get_any(&["name", "pkg", "package"])
            .map(|n| self.ctx.data(&n));
        if let Some(Value::Map(_)) = self.get_any(&["name", "pkg", "package"]).map(|n| n.value) {
            let message = format!("`name` of `{}` must be a string or a list", self.name);
            self.ctx.error(self.pos, message);
        }
        let state_node = self.get("state").cloned();
        let state = match &state_node {
            Some(node) if node.value.scalar_text().as_deref() == Some("latest") => {
                let message = format!(
                    "`state: latest` of `{}` is not supported by rtmig (it would need the repositories' versions); use `present`",
                    self.name
                );
                self.ctx.error(node.pos, message);
                None
            }
            _ => self.choice(&["state"], &["present", "installed", "absent", "removed"]),
        };
        let p = Package {
            manager,
            update_cache: self.flag_text(&["update_cache", "update-cache"]),
            deb: self.text("deb"),
            state,
            names,
        };
        let updates = p.update_cache.is_some();
        if p.names.is_none() && p.deb.is_none() && !updates {
            self.missing("name");
        }
        if let Some(node) = self.get("use").cloned() {
            let word = node.value.scalar_text().unwrap_or_default();
            if !matches!(word.as_str(), "auto" | "apt" | "dnf" | "yum") {
                let message = format!(
                    "`use` of `package` must be one of `auto`, `apt`, `dnf`, `yum`, found `{word}`"
                );
                self.ctx.error(node.pos, message);
            }
        }
        Some(Action::Package(p))
    }

    pub(super) fn sysctl(&mut self) -> Option<Action> {
        self.known(&[
            "name",
            "key",
            "value",
            "val",
            "state",
            "reload",
            "sysctl_file",
            "sysctl_set",
            "ignoreerrors",
        ]);
        let name = match self.get_any(&["name", "key"]) {
            Some(node) => self.ctx.text(&node, "name"),
            None => {
                self.missing("name");
                None
            }
        };
        let state = self.choice(&["state"], &["present", "absent"]);
        let value = self.text_any(&["value", "val"]);
        let absent = state.as_ref().is_some_and(|s| s.value == "absent");
        if value.is_none() && !absent {
            self.ctx
                .error(self.pos, "`sysctl` needs `value` (unless `state: absent`)");
        }
        Some(Action::Sysctl(Sysctl {
            name: name?,
            value,
            state,
            reload: self.flag_text(&["reload"]),
            sysctl_file: self.text("sysctl_file"),
            sysctl_set: self.flag_text(&["sysctl_set"]),
            ignoreerrors: self.flag_text(&["ignoreerrors"]),
        }))
    }

    pub(super) fn modprobe(&mut self) -> Option<Action> {
        self.known(&["name", "state", "params", "persistent"]);
        let name = self.required("name");
        Some(Action::Modprobe(Modprobe {
            name: name?,
            state: self.choice(&["state"], &["present", "absent"]),
            params: self.text("params"),
            persistent: self.choice(&["persistent"], &["disabled", "present", "absent"]),
        }))
    }

    pub(super) fn uri(&mut self) -> Option<Action> {
        self.known(&[
            "url",
            "method",
            "body",
            "body_format",
            "headers",
            "status_code",
            "return_content",
            "timeout",
            "validate_certs",
            "url_username",
            "user",
            "url_password",
            "password",
            "force_basic_auth",
            "follow_redirects",
        ]);
        let url = self.required("url");
        let body = self.get("body").cloned().map(|n| self.ctx.data(&n));
        let headers = self.get("headers").cloned().map(|n| {
            if !matches!(n.value, Value::Map(_))
                && n.value.scalar_text().is_none_or(|s| !is_template(&s))
            {
                self.ctx
                    .error(n.pos, "`headers` of `uri` must be a mapping");
            }
            self.ctx.data(&n)
        });
        let status_code = self.get("status_code").cloned().map(|n| self.ctx.data(&n));
        Some(Action::Uri(Box::new(Uri {
            url: url?,
            method: self.text("method"),
            body,
            body_format: self.choice(&["body_format"], &["raw", "json", "form-urlencoded"]),
            headers,
            status_code,
            return_content: self.flag_text(&["return_content"]),
            timeout: self.number("timeout"),
            validate_certs: self.flag_text(&["validate_certs"]),
            url_username: self.text_any(&["url_username", "user"]),
            url_password: self.text_any(&["url_password", "password"]),
            force_basic_auth: self.flag_text(&["force_basic_auth"]),
            follow_redirects: self.choice(
                &["follow_redirects"],
                &["all", "none", "safe", "urllib2", "yes", "no"],
            ),
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::super::parse_str;
    use super::*;

    fn errors(tasks: &str) -> String {
        let text = format!("- hosts: all\n  tasks:\n{tasks}");
        match parse_str(Path::new("site.yaml"), &text) {
            Ok(p) => panic!("expected errors, parsed {p:#?}"),
            Err(e) => e.to_string(),
        }
    }

    fn action(tasks: &str) -> Action {
        let text = format!("- hosts: all\n  tasks:\n{tasks}");
        match parse_str(Path::new("site.yaml"), &text) {
            Ok(p) => p.plays[0].tasks[0].action.clone(),
            Err(e) => panic!("unexpected errors:\n{e}"),
        }
    }

    #[test]
    fn node_modules_read_ansibles_arguments_and_aliases() {
        let Action::Systemd(s) = action(
            "    - ansible.builtin.systemd:\n        unit: kubelet\n        state: \"{{ st }}\"\n        enabled: yes\n        daemon-reload: true\n",
        ) else {
            panic!()
        };
        assert_eq!(s.name.unwrap().value, "kubelet");
        assert_eq!(s.state.unwrap().value, "{{ st }}");
        assert_eq!(s.enabled.unwrap().value, "true");
        assert_eq!(s.daemon_reload.unwrap().value, "true");
        let Action::Systemd(s) = action("    - service: name=docker state=stopped enabled=no\n")
        else {
            panic!()
        };
        assert_eq!(s.state.unwrap().value, "stopped");
        let Action::Package(p) = action("    - apt: {pkg: [a, b], update_cache: true}\n") else {
            panic!()
        };
        assert_eq!(p.manager, PackageManager::Apt);
        assert_eq!(p.names.unwrap().value, serde_json::json!(["a", "b"]));
        let Action::Sysctl(s) =
            action("    - ansible.posix.sysctl: {key: net.ipv4.ip_forward, val: 1}\n")
        else {
            panic!()
        };
        assert_eq!(s.value.unwrap().value, "1");
        assert!(matches!(
            action("    - community.general.modprobe: {name: overlay, persistent: present}\n"),
            Action::Modprobe(_)
        ));
        let Action::Uri(u) = action(
            "    - uri: {url: \"http://{{ h }}/healthz\", status_code: [200, 204], body_format: json, body: {a: 1}}\n",
        ) else {
            panic!()
        };
        assert_eq!(u.status_code.unwrap().value, serde_json::json!([200, 204]));
    }

    #[test]
    fn bad_node_module_arguments_are_located() {
        assert_eq!(
            errors("    - systemd_service: {name: kubelet, state: running}\n"),
            "site.yaml:3:47: `state` of `systemd_service` must be one of `reloaded`, `restarted`, `started`, `stopped`, found `running`"
        );
        assert_eq!(
            errors("    - systemd: {name: kubelet, enabled: maybe}\n"),
            "site.yaml:3:41: `enabled` must be a boolean (true/false, yes/no), found `maybe`"
        );
        assert_eq!(
            errors("    - systemd: {state: started}\n"),
            "site.yaml:3:7: `state` of `systemd` needs `name`"
        );
        assert_eq!(
            errors("    - systemd: {name: kubelet}\n"),
            "site.yaml:3:7: `systemd` needs one of `state`, `enabled`, `masked`, `daemon_reload`, `daemon_reexec`"
        );
        assert_eq!(
            errors("    - service: {name: kubelet, state: started, pattern: kube}\n"),
            "site.yaml:3:48: unknown argument of `service` `pattern`, expected one of `name`, `state`, `enabled`, `use`"
        );
        assert_eq!(
            errors("    - apt: {name: curl, state: latest}\n"),
            "site.yaml:3:32: `state: latest` of `apt` is not supported by rtmig (it would need the repositories' versions); use `present`"
        );
        assert_eq!(
            errors("    - sysctl: {name: vm.swappiness}\n"),
            "site.yaml:3:7: `sysctl` needs `value` (unless `state: absent`)"
        );
        assert_eq!(
            errors("    - modprobe: {name: overlay, persistent: always}\n"),
            "site.yaml:3:45: `persistent` of `modprobe` must be one of `disabled`, `present`, `absent`, found `always`"
        );
        assert_eq!(
            errors("    - uri: {method: GET}\n"),
            "site.yaml:3:7: `uri` needs `url`"
        );
    }
}
