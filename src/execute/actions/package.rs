//! `package`, `apt`, `dnf`, `yum`: packages present or absent. The package database
//! is queried first (`dpkg-query`, `rpm -q`), then only the missing (or present)
//! packages are installed (or removed), in one `apt-get`/`dnf`/`yum` command. `package`
//! picks the host's manager. `apt`'s `deb:` installs a `.deb` already on the host
//! (air-gapped nodes) when its package and version are not installed.

use serde_json::{Value, json};

use super::{Cx, Host, TResult, changed_or_ok, failure, located, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{Package as Args, PackageManager};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let mut names = Vec::new();
    if let Some(data) = &a.names {
        let list = match cx.value(data)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        for item in list {
            match item {
                // Ansible's `list` type splits a string on commas.
                Value::String(s) => names.extend(
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                ),
                other => {
                    return Err(located(
                        &data.location,
                        format!("package names must be strings, found `{other}`"),
                    ));
                }
            }
        }
    }
    let state = cx.choice(
        &a.state,
        &["present", "installed", "absent", "removed"],
        "present",
    )?;
    let spec = PkgSpec {
        manager: a.manager,
        names,
        absent: matches!(state.as_str(), "absent" | "removed"),
        update_cache: cx.flag(&a.update_cache, false)?,
        deb: cx.opt_text(&a.deb)?,
    };
    Ok(package(&cx.host(remote)?, &spec, cx.check()).await)
}

#[derive(Debug, Clone)]
pub struct PkgSpec {
    pub manager: PackageManager,
    /// Names; for apt `NAME=VERSION` (a trailing `*` matches any rest) pins a version.
    pub names: Vec<String>,
    pub absent: bool,
    pub update_cache: bool,
    pub deb: Option<String>,
}

const DETECT: &str = "if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then echo apt; \
    elif command -v dnf >/dev/null 2>&1; then echo dnf; elif command -v yum >/dev/null 2>&1; then echo yum; else echo none; fi";

/// A `NAME=VERSION` pin split (apt's syntax).
fn pin(name: &str) -> (&str, Option<&str>) {
    match name.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (name, None),
    }
}

fn version_matches(installed: &str, wanted: &str) -> bool {
    match wanted.strip_suffix('*') {
        Some(prefix) => installed.starts_with(prefix),
        None => installed == wanted,
    }
}

async fn run_ok(host: &Host<'_>, cmd: &str) -> Result<String, TaskResult> {
    match host.run(cmd).await {
        Ok(o) if o.status == 0 => Ok(output_text(&o.stdout)),
        Ok(o) => {
            let mut r = failure(format!("'{cmd}' failed: {}", output_text(&o.stderr).trim()));
            r.rc = Some(o.status);
            r.stdout = output_text(&o.stdout);
            r.stderr = output_text(&o.stderr);
            Err(r)
        }
        Err(e) => Err(transport_failure(&e)),
    }
}

pub async fn package(host: &Host<'_>, p: &PkgSpec, check: bool) -> TaskResult {
    match package_steps(host, p, check).await {
        Ok(r) | Err(r) => r,
    }
}

async fn package_steps(
    host: &Host<'_>,
    p: &PkgSpec,
    check: bool,
) -> Result<TaskResult, TaskResult> {
    let manager = match p.manager {
        PackageManager::Auto => match run_ok(host, DETECT).await?.trim() {
            "apt" => PackageManager::Apt,
            "dnf" => PackageManager::Dnf,
            "yum" => PackageManager::Yum,
            _ => {
                return Err(failure(
                    "no package manager found on the host (apt-get, dnf or yum)",
                ));
            }
        },
        m => m,
    };
    let apt = manager == PackageManager::Apt;
    let tool = match manager {
        PackageManager::Dnf => "dnf",
        PackageManager::Yum => "yum",
        _ => "apt-get",
    };
    let mut commands = Vec::new();
    let mut cache_updated = false;
    if p.update_cache {
        let cmd = if apt {
            "apt-get update -q".to_string()
        } else {
            format!("{tool} makecache -q")
        };
        if !check {
            run_ok(host, &cmd).await?;
        }
        commands.push(cmd);
        cache_updated = true;
    }
    // Which of the names are installed (with the pinned version, for apt).
    let mut installed: Vec<bool> = Vec::new();
    if !p.names.is_empty() {
        let query: String = p
            .names
            .iter()
            .map(|n| {
                let bare = quote(if apt { pin(n).0 } else { n });
                if apt {
                    format!("printf '%s\\t' {bare}; dpkg-query -W -f='${{Status}}\\t${{Version}}' {bare} 2>/dev/null; echo; ")
                } else {
                    format!("if rpm -q {bare} >/dev/null 2>&1; then echo yes; else echo no; fi; ")
                }
            })
            .collect();
        let out = run_ok(host, &query).await?;
        for (name, line) in p.names.iter().zip(out.lines()) {
            let is = if apt {
                let mut f = line.split('\t').skip(1);
                let status = f.next().unwrap_or_default();
                let version = f.next().unwrap_or_default();
                status.ends_with(" installed")
                    && pin(name)
                        .1
                        .is_none_or(|w| p.absent || version_matches(version, w))
            } else {
                line.trim() == "yes"
            };
            installed.push(is);
        }
        installed.resize(p.names.len(), false);
    }
    let to_do: Vec<&str> = p
        .names
        .iter()
        .zip(&installed)
        .filter(|(_, is)| **is == p.absent)
        .map(|(n, _)| {
            if apt && p.absent {
                pin(n).0
            } else {
                n.as_str()
            }
        })
        .collect();
    let mut pkg_cmd = None;
    if !to_do.is_empty() {
        let words: Vec<String> = to_do.iter().map(|n| quote(n)).collect();
        let words = words.join(" ");
        pkg_cmd = Some(match (apt, p.absent) {
            (true, false) => format!(
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {words}"
            ),
            (true, true) => format!("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q {words}"),
            (false, false) => format!("{tool} install -y -q {words}"),
            (false, true) => format!("{tool} remove -y -q {words}"),
        });
    }
    if let Some(deb) = &p.deb {
        let d = quote(deb);
        let fields = run_ok(host, &format!("dpkg-deb -f {d} Package Version")).await?;
        let field = |k: &str| {
            fields
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let (pkg, version) = (field("Package"), field("Version"));
        let now = run_ok(
            host,
            &format!(
                "dpkg-query -W -f='${{Status}}\\t${{Version}}' {} 2>/dev/null; true",
                quote(&pkg)
            ),
        )
        .await?;
        let ok = now
            .split('\t')
            .next()
            .is_some_and(|s| s.ends_with(" installed"))
            && now.split('\t').nth(1) == Some(version.as_str());
        if !ok {
            let cmd = format!("DEBIAN_FRONTEND=noninteractive dpkg -i {d}");
            pkg_cmd = Some(match pkg_cmd {
                Some(c) => format!("{c} && {cmd}"),
                None => cmd,
            });
        }
    }
    let mut r = TaskResult::new(TaskStatus::Ok);
    let mut registered = json!({"cache_updated": cache_updated, "failed": false});
    if let Some(cmd) = &pkg_cmd {
        if !check {
            let out = run_ok(host, cmd).await?;
            registered["stdout"] = json!(out);
            registered["stdout_lines"] = json!(out.lines().collect::<Vec<_>>());
        }
        commands.push(cmd.clone());
    }
    let changed = pkg_cmd.is_some() || (cache_updated && p.names.is_empty() && p.deb.is_none());
    r.status = changed_or_ok(changed);
    if check && pkg_cmd.is_some() {
        let verb = if p.absent { "remove" } else { "install" };
        let mut what: Vec<&str> = to_do.clone();
        what.extend(
            p.deb
                .as_deref()
                .filter(|_| pkg_cmd.as_deref().is_some_and(|c| c.contains("dpkg -i"))),
        );
        r.msg = Some(format!("would {verb}: {}", what.join(" ")));
    } else if !check {
        r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty());
    }
    registered["changed"] = json!(changed);
    let key = if p.absent { "removed" } else { "installed" };
    registered[key] = json!(to_do);
    r.registered = registered;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{Host, fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn apt_installs_only_what_is_missing_in_one_command() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        std::fs::create_dir_all(dir.path().join("state/dpkg")).unwrap();
        std::fs::write(dir.path().join("state/dpkg/curl"), "7.88\n").unwrap();
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let spec = PkgSpec {
            manager: PackageManager::Apt,
            names: vec!["curl".into(), "conntrack".into(), "socat".into()],
            absent: false,
            update_cache: false,
            deb: None,
        };
        let res = package(&host, &spec, true).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        assert_eq!(res.msg.as_deref(), Some("would install: conntrack socat"));
        assert!(
            !dir.path().join("state/calls").exists(),
            "check mode ran apt-get"
        );

        let res = package(&host, &spec, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert_eq!(calls.lines().count(), 1, "{calls}");
        assert!(calls.trim_end().ends_with("install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold conntrack socat"), "{calls}");
        assert!(dir.path().join("state/dpkg/socat").exists());
        assert_eq!(package(&host, &spec, false).await.status, TaskStatus::Ok);

        let gone = PkgSpec {
            names: vec!["socat".into(), "nothere".into()],
            absent: true,
            ..spec.clone()
        };
        assert_eq!(
            package(&host, &gone, false).await.status,
            TaskStatus::Changed
        );
        assert!(!dir.path().join("state/dpkg/socat").exists());
        assert_eq!(package(&host, &gone, false).await.status, TaskStatus::Ok);
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        assert!(
            calls
                .lines()
                .nth(1)
                .unwrap()
                .ends_with("remove -y -q socat"),
            "{calls}"
        );

        // A pinned version that is not the installed one is installed.
        let pinned = PkgSpec {
            names: vec!["curl=8.*".into()],
            ..spec.clone()
        };
        let res = package(&host, &pinned, true).await;
        assert_eq!(res.msg.as_deref(), Some("would install: curl=8.*"));

        let bad = PkgSpec {
            names: vec!["nosuchpkg".into()],
            ..spec
        };
        let res = package(&host, &bad, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert!(
            res.msg
                .unwrap()
                .contains("Unable to locate package nosuchpkg")
        );
    }

    /// `package` on a host with dnf: `rpm -q` decides, one `dnf install` of the rest.
    #[tokio::test]
    async fn package_picks_dnf_and_queries_rpm_first() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let db = dir.path().join("rpmdb");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("curl"), "").unwrap();
        let d = dir.path().display();
        let rpm = format!(
            "#!/bin/sh\n[ -e {d}/rpmdb/$2 ] || {{ echo \"package $2 is not installed\"; exit 1; }}\n"
        );
        let dnf = format!(
            "#!/bin/sh\necho \"dnf $*\" >> {d}/calls\nfor a; do case $a in -*|install) ;; *) : > {d}/rpmdb/$a ;; esac; done\n"
        );
        for (n, body) in [("rpm", rpm), ("dnf", dnf)] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(bin.join(n), body).unwrap();
            std::fs::set_permissions(bin.join(n), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Only the fakes in PATH (the fakes use shell builtins only): `package` finds dnf.
        let t = LocalTransport;
        let r = remote(&t);
        let host = Host {
            remote: &r,
            exports: format!("export PATH={}; ", bin.display()),
        };
        let spec = PkgSpec {
            manager: PackageManager::Auto,
            names: vec!["curl".into(), "jq".into()],
            absent: false,
            update_cache: false,
            deb: None,
        };
        let res = package(&host, &spec, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(calls, "dnf install -y -q jq\n");
        assert!(db.join("jq").exists());
        assert_eq!(package(&host, &spec, false).await.status, TaskStatus::Ok);
    }

    /// apt's `deb:`: the file's package and version are read first; `dpkg -i` only
    /// when that version is not installed.
    #[tokio::test]
    async fn a_deb_on_the_host_is_installed_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let s = dir.path().join("state");
        let fakes = [
            (
                "dpkg-deb",
                "#!/bin/sh\nprintf 'Package: cri-tools\\nVersion: 1.30.0\\n'\n".to_string(),
            ),
            (
                "dpkg",
                format!(
                    "#!/bin/sh\necho \"dpkg $*\" >> {0}/calls\nmkdir -p {0}/dpkg; echo 1.30.0 > {0}/dpkg/cri-tools\n",
                    s.display()
                ),
            ),
        ];
        for (n, body) in fakes {
            std::fs::write(bin.join(n), body).unwrap();
            std::fs::set_permissions(bin.join(n), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let spec = PkgSpec {
            manager: PackageManager::Apt,
            names: vec![],
            absent: false,
            update_cache: false,
            deb: Some("/srv/debs/cri-tools_1.30.0_amd64.deb".into()),
        };
        let res = package(&host, &spec, true).await;
        assert_eq!(
            res.msg.as_deref(),
            Some("would install: /srv/debs/cri-tools_1.30.0_amd64.deb")
        );
        assert!(!s.join("dpkg/cri-tools").exists());
        assert_eq!(
            package(&host, &spec, false).await.status,
            TaskStatus::Changed
        );
        assert_eq!(
            std::fs::read_to_string(s.join("dpkg/cri-tools")).unwrap(),
            "1.30.0\n"
        );
        assert_eq!(package(&host, &spec, false).await.status, TaskStatus::Ok);
        let calls = std::fs::read_to_string(s.join("calls")).unwrap();
        assert_eq!(calls, "dpkg -i /srv/debs/cri-tools_1.30.0_amd64.deb\n");
    }
}
