//! Arguments of the host-configuration modules: `cron`, `mount` (`ansible.posix.mount`)
//! and `timezone` (`community.general.timezone`). Names, aliases, choices and the
//! combinations Ansible refuses are Ansible's; a word out of a fixed set, and a boolean,
//! may be a template checked at run time instead.

use super::super::ctx::is_template;
use super::super::types::*;
use super::Args;

pub const CRON_SPECIAL_TIMES: &[&str] = &[
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
];

pub const MOUNT_STATES: &[&str] = &[
    "mounted",
    "present",
    "absent",
    "absent_from_fstab",
    "unmounted",
    "remounted",
];

impl Args<'_> {
    pub(super) fn cron(&mut self) -> Option<Action> {
        self.known(&[
            "name",
            "job",
            "value",
            "user",
            "cron_file",
            "state",
            "backup",
            "minute",
            "hour",
            "day",
            "dom",
            "month",
            "weekday",
            "dow",
            "special_time",
            "disabled",
            "env",
            "insertafter",
            "insertbefore",
        ]);
        let name = self.required("name");
        let times = [
            self.text_any(&["minute"]),
            self.text_any(&["hour"]),
            self.text_any(&["day", "dom"]),
            self.text_any(&["month"]),
            self.text_any(&["weekday", "dow"]),
        ];
        let special_time = self.choice(&["special_time"], CRON_SPECIAL_TIMES);
        // Literal words only: `"{{ x | default(omit) }}"` is decided at run time.
        let literal = |t: &Text| !is_template(&t.value);
        if special_time.as_ref().is_some_and(literal)
            && times.iter().flatten().any(|t| literal(t) && t.value != "*")
        {
            self.ctx.error(
                self.pos,
                "`cron` cannot combine `special_time` with minute, hour, day, month or weekday",
            );
        }
        let insertafter = self.text("insertafter");
        let insertbefore = self.text("insertbefore");
        if insertafter.as_ref().is_some_and(literal) && insertbefore.as_ref().is_some_and(literal) {
            self.ctx.error(
                self.pos,
                "`cron` takes `insertafter` or `insertbefore`, not both",
            );
        }
        Some(Action::Cron(Box::new(Cron {
            name: name?,
            job: self.text_any(&["job", "value"]),
            user: self.text("user"),
            cron_file: self.text("cron_file"),
            state: self.choice(&["state"], &["present", "absent"]),
            backup: self.flag_text(&["backup"]),
            times,
            special_time,
            disabled: self.flag_text(&["disabled"]),
            env: self.flag_text(&["env"]),
            insertafter,
            insertbefore,
        })))
    }

    pub(super) fn mount(&mut self) -> Option<Action> {
        self.known(&[
            "path", "name", "src", "fstype", "opts", "dump", "passno", "state", "fstab", "boot",
            "backup",
        ]);
        let path = match self.get_any(&["path", "name"]) {
            Some(node) => self.ctx.text(&node, "path"),
            None => {
                self.missing("path");
                None
            }
        };
        let state = match self.get("state") {
            Some(_) => self.choice(&["state"], MOUNT_STATES),
            None => {
                self.missing("state");
                None
            }
        };
        let src = self.text("src");
        let fstype = self.text("fstype");
        if let Some(s) = &state
            && matches!(s.value.as_str(), "mounted" | "present")
        {
            for (arg, given) in [("src", src.is_some()), ("fstype", fstype.is_some())] {
                if !given {
                    let message = format!("`mount` with `state: {}` needs `{arg}`", s.value);
                    self.ctx.error(self.pos, message);
                }
            }
        }
        Some(Action::Mount(Box::new(Mount {
            path: path?,
            src,
            fstype,
            opts: self.text("opts"),
            dump: self.text("dump"),
            passno: self.text("passno"),
            state: state?,
            fstab: self.text("fstab"),
            boot: self.flag_text(&["boot"]),
            backup: self.flag_text(&["backup"]),
        })))
    }

    pub(super) fn timezone(&mut self) -> Option<Action> {
        self.known(&["name", "hwclock", "rtc"]);
        let given = self.get_any(&["name", "hwclock", "rtc"]).is_some();
        let name = self.text("name");
        let hwclock = self.choice(&["hwclock", "rtc"], &["local", "UTC"]);
        if !given {
            self.ctx
                .error(self.pos, "`timezone` needs `name` or `hwclock`");
        }
        Some(Action::Timezone(Timezone { name, hwclock }))
    }
}

impl Args<'_> {
    pub(super) fn service_facts(&mut self) -> Option<Action> {
        self.known(&[]);
        Some(Action::ServiceFacts)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::super::parse_str;
    use super::*;

    fn action(tasks: &str) -> Action {
        let text = format!("- hosts: all\n  tasks:\n{tasks}");
        let p = parse_str(Path::new("site.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
        p.plays[0].tasks[0].action.clone()
    }

    fn errors(tasks: &str) -> String {
        let text = format!("- hosts: all\n  tasks:\n{tasks}");
        match parse_str(Path::new("site.yaml"), &text) {
            Ok(p) => panic!("expected errors, parsed {p:#?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn cron_takes_ansibles_names_and_aliases() {
        let Action::Cron(c) = action(
            "    - ansible.builtin.cron: {name: backup, value: /bin/true, dom: 1, dow: 0, minute: 5, cron_file: backup, user: root}\n",
        ) else {
            panic!("not cron")
        };
        assert_eq!(c.job.unwrap().value, "/bin/true");
        let times: Vec<String> = c
            .times
            .iter()
            .map(|t| t.as_ref().map_or("-".into(), |t| t.value.clone()))
            .collect();
        assert_eq!(times, ["5", "-", "1", "-", "0"]);
        assert_eq!(c.cron_file.unwrap().value, "backup");
    }

    #[test]
    fn cron_refuses_special_time_with_a_time() {
        assert_eq!(
            errors("    - cron: {name: x, job: y, special_time: daily, hour: 3}\n"),
            "site.yaml:3:7: `cron` cannot combine `special_time` with minute, hour, day, month or weekday"
        );
        assert_eq!(
            errors("    - cron: {name: x, job: y, special_time: sometimes}\n"),
            "site.yaml:3:45: `special_time` of `cron` must be one of `reboot`, `yearly`, `annually`, `monthly`, `weekly`, `daily`, `hourly`, found `sometimes`"
        );
    }

    #[test]
    fn mount_free_form_and_its_required_arguments() {
        let Action::Mount(m) = action("    - mount: name=swap fstype=swap state=absent\n") else {
            panic!("not mount")
        };
        assert_eq!(m.path.value, "swap");
        assert_eq!(m.state.value, "absent");
        let Action::Mount(_) = action(
            "    - ansible.posix.mount: {path: /mnt, src: /dev/sdb1, fstype: ext4, state: mounted}\n",
        ) else {
            panic!("not mount")
        };
        assert_eq!(
            errors("    - mount: {path: /mnt, state: present}\n"),
            "site.yaml:3:7: `mount` with `state: present` needs `src`\n\
             site.yaml:3:7: `mount` with `state: present` needs `fstype`"
        );
        assert_eq!(
            errors("    - mount: {path: /mnt}\n"),
            "site.yaml:3:7: `mount` needs `state`"
        );
    }

    #[test]
    fn timezone_needs_a_name_or_hwclock() {
        let Action::Timezone(t) =
            action("    - community.general.timezone: {name: Europe/Paris, rtc: UTC}\n")
        else {
            panic!("not timezone")
        };
        assert_eq!(t.hwclock.unwrap().value, "UTC");
        assert_eq!(
            errors("    - timezone: {}\n"),
            "site.yaml:3:7: `timezone` needs `name` or `hwclock`"
        );
        assert_eq!(
            errors("    - timezone: {hwclock: utc}\n"),
            "site.yaml:3:27: `hwclock` of `timezone` must be one of `local`, `UTC`, found `utc`"
        );
    }
}
