//! `timezone` (`community.general.timezone`): the system time zone (`name`) and whether
//! the hardware clock keeps local time (`hwclock`: `local` or `UTC`), on systemd hosts
//! through `timedatectl` as community.general does it: `timedatectl status` read first,
//! `set-timezone`/`set-local-rtc` only for what differs, read again to confirm. Hosts
//! without a working `timedatectl` (community.general edits /etc/timezone or
//! /etc/sysconfig/clock there) are refused with a message.

use serde_json::{Map, Value, json};

use super::{Cx, Host, TResult, changed_or_ok, failure, output_text, transport_failure};
use crate::execute::files;
use crate::execute::remote::Remote;
use crate::parse::playbook::Timezone as Args;
use crate::report::TaskResult;
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let spec = TzSpec {
        name: cx.opt_text(&a.name)?,
        hwclock: match &a.hwclock {
            Some(_) => Some(cx.choice(&a.hwclock, &["local", "UTC"], "UTC")?),
            None => None,
        },
    };
    let host = cx.host(remote)?;
    Ok(timezone(&host, &spec, cx.check(), cx.runner.diff).await)
}

#[derive(Debug, Clone, Default)]
pub struct TzSpec {
    pub name: Option<String>,
    pub hwclock: Option<String>,
}

/// `(name, hwclock)` out of `timedatectl status`, as community.general reads them.
pub fn parse_status(status: &str) -> (Option<String>, Option<String>) {
    let field = |label: &str| {
        status.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            (k == label || (label == "Time zone" && k == "Timezone"))
                .then(|| v.split_whitespace().next().unwrap_or_default().to_string())
        })
    };
    let hwclock = field("RTC in local TZ").map(|v| {
        if crate::words::boolean(&v) == Some(true) {
            "local".to_string()
        } else {
            "UTC".to_string()
        }
    });
    (field("Time zone"), hwclock)
}

const ENV: &str = "LANGUAGE=C LC_ALL=C";

/// The keys asked for with their values, in the module's order.
fn values(s: &TzSpec, name: &Option<String>, hwclock: &Option<String>) -> Map<String, Value> {
    let mut m = Map::new();
    if s.hwclock.is_some() {
        m.insert("hwclock".into(), json!(hwclock));
    }
    if s.name.is_some() {
        m.insert("name".into(), json!(name));
    }
    m
}

async fn status(host: &Host<'_>, bin: &str) -> Result<String, TaskResult> {
    match host.run(&format!("{ENV} {} status", quote(bin))).await {
        Ok(o) if o.status == 0 => Ok(output_text(&o.stdout)),
        Ok(o) => Err(failure(output_text(&o.stderr).trim().to_string())),
        Err(e) => Err(transport_failure(&e)),
    }
}

pub async fn timezone(host: &Host<'_>, s: &TzSpec, check: bool, want_diff: bool) -> TaskResult {
    let zone_check = match &s.name {
        Some(n) => format!(
            "[ -f {} ] || echo nozone; ",
            quote(&format!("/usr/share/zoneinfo/{n}"))
        ),
        None => String::new(),
    };
    let probe = format!(
        "{zone_check}b=$(command -v timedatectl) && {ENV} \"$b\" >/dev/null 2>&1 && echo \"bin=$b\"; true"
    );
    let out = match host.run(&probe).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let probed = output_text(&out.stdout);
    let Some(bin) = probed
        .lines()
        .find_map(|l| l.strip_prefix("bin="))
        .map(str::to_string)
    else {
        return failure(
            "timezone: this host has no working timedatectl (rtmig sets the time zone on systemd hosts only)",
        );
    };
    if probed.lines().any(|l| l == "nozone") {
        let tz = s.name.clone().unwrap_or_default();
        return failure(format!(
            "Error message:\ngiven timezone \"{tz}\" is not available"
        ));
    }
    let before = match status(host, &bin).await {
        Ok(st) => parse_status(&st),
        Err(f) => return f,
    };
    let mut commands = Vec::new();
    if let Some(h) = &s.hwclock
        && before.1.as_ref() != Some(h)
    {
        let v = if h == "local" { "yes" } else { "no" };
        commands.push(format!("{bin} set-local-rtc {v}"));
    }
    if let Some(n) = &s.name
        && before.0.as_ref() != Some(n)
    {
        commands.push(format!("{bin} set-timezone {n}"));
    }
    let planned = values(s, &s.name, &s.hwclock);
    let before_v = values(s, &before.0, &before.1);
    let after_v = if check {
        planned.clone()
    } else {
        for cmd in &commands {
            let words: Vec<String> = cmd.split(' ').map(quote).collect();
            match host.run(&format!("{ENV} {}", words.join(" "))).await {
                Ok(o) if o.status == 0 => {}
                Ok(o) => {
                    let mut f = failure(output_text(&o.stderr).trim().to_string());
                    f.rc = Some(o.status);
                    return f;
                }
                Err(e) => return transport_failure(&e),
            }
        }
        let after = match status(host, &bin).await {
            Ok(st) => parse_status(&st),
            Err(f) => return f,
        };
        let after_v = values(s, &after.0, &after.1);
        if after_v != planned {
            return failure(format!(
                "Error message:\nstill not desired state, though changes have made - planned: {}, after: {}",
                Value::Object(planned),
                Value::Object(after_v)
            ));
        }
        after_v
    };
    let changed = before_v != after_v;
    let mut r = TaskResult::new(changed_or_ok(changed));
    if want_diff && changed {
        let text = |m: &Map<String, Value>| -> String {
            m.iter()
                .map(|(k, v)| format!("{k}: {}\n", v.as_str().unwrap_or_default()))
                .collect()
        };
        r.diff = Some(files::unified_diff(
            "timezone",
            &text(&before_v),
            &text(&after_v),
        ));
    }
    let mut reg = json!({
        "changed": changed,
        "diff": {"before": before_v, "after": after_v},
        "failed": false,
    });
    if !check && !commands.is_empty() {
        let msg: Vec<String> = commands.iter().map(|c| format!("executed `{c}`")).collect();
        reg["msg"] = json!(msg.join("\n"));
        r.cmd = Some(commands.join("\n"));
    }
    r.registered = reg;
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
    fn status_is_read_as_community_general_reads_it() {
        let st = "                Time zone: Europe/Paris (CET, +0100)\n          RTC in local TZ: yes\n";
        assert_eq!(
            parse_status(st),
            (Some("Europe/Paris".into()), Some("local".into()))
        );
        assert_eq!(parse_status("Timezone: UTC\n").0, Some("UTC".into()));
    }

    #[tokio::test]
    async fn the_zone_is_set_once_and_check_mode_sets_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let s = TzSpec {
            name: Some("Europe/Paris".into()),
            hwclock: Some("UTC".into()),
        };
        let res = timezone(&host, &s, true, true).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert!(res.diff.unwrap().contains("+name: Europe/Paris"));
        assert!(!dir.path().join("state/time/timezone").exists());
        let res = timezone(&host, &s, false, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("state/time/timezone")).unwrap(),
            "Europe/Paris\n"
        );
        assert_eq!(res.registered["diff"]["before"]["name"], "Etc/UTC");
        assert_eq!(
            timezone(&host, &s, false, false).await.status,
            TaskStatus::Ok
        );
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert_eq!(calls.matches("set-").count(), 1, "{calls}");
    }

    #[tokio::test]
    async fn an_unknown_zone_is_refused_before_anything_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let s = TzSpec {
            name: Some("Mars/Olympus".into()),
            hwclock: None,
        };
        let res = timezone(&fake_host(&r, &bin), &s, false, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert!(
            res.msg
                .unwrap()
                .contains("\"Mars/Olympus\" is not available")
        );
    }
}
