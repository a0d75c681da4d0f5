//! `mount` (`ansible.posix.mount`): a mount point's line in fstab, written as
//! ansible.posix writes it (`src path fstype opts dump passno`, spaces, `&` and `\`
//! escaped, other lines kept byte for byte), and mounted, unmounted or remounted with
//! the host's `mount`/`umount`. The fstab, `/proc/self/mountinfo` and `mountpoint` are
//! read first; the file is rewritten only when its line differs (through the same code
//! as `copy`: `--check --diff` shows the fstab's diff, `backup` keeps the old one), and
//! `mount` runs only for what is not mounted yet.

use serde_json::json;

use super::{Cx, Host, TResult, changed_or_ok, failure, output_text, transport_failure};
use crate::execute::files::{self, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::Mount as Args;
use crate::report::TaskResult;
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, a: &Args) -> TResult<TaskResult> {
    let state = cx.choice(
        &Some(a.state.clone()),
        crate::parse::playbook::MOUNT_STATES,
        "mounted",
    )?;
    let mut opts = cx.opt_text(&a.opts)?.unwrap_or_else(|| "defaults".into());
    let boot = cx.flag(&a.boot, true)?;
    if !boot && !opts.split(',').any(|o| o == "noauto") {
        opts.push_str(",noauto");
    }
    let spec = MountSpec {
        name: cx.text(&a.path)?,
        src: cx.opt_text(&a.src)?,
        fstype: cx.opt_text(&a.fstype)?,
        opts,
        dump: cx.opt_text(&a.dump)?.unwrap_or_else(|| "0".into()),
        passno: cx.opt_text(&a.passno)?.unwrap_or_else(|| "0".into()),
        fstab: cx
            .opt_text(&a.fstab)?
            .unwrap_or_else(|| "/etc/fstab".into()),
        boot,
        backup: cx.flag(&a.backup, false)?,
        state,
        mountinfo: "/proc/self/mountinfo".into(),
    };
    let host = cx.host(remote)?;
    Ok(mount(&host, &spec, cx.check(), cx.runner.diff).await)
}

#[derive(Debug, Clone, Default)]
pub struct MountSpec {
    pub name: String,
    pub src: Option<String>,
    pub fstype: Option<String>,
    pub opts: String,
    pub dump: String,
    pub passno: String,
    pub fstab: String,
    pub boot: bool,
    pub backup: bool,
    pub state: String,
    /// `/proc/self/mountinfo` (a fake's in tests).
    pub mountinfo: String,
}

/// A field as fstab writes it: `\` as `\134`, space as `\040`, `&` as `\046`.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// Python's `str.splitlines(keepends=True)` for `\n`-ended lines.
fn lines_keep(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Whether an fstab line of `fields` is another mount point's (or another swap's).
fn other_mount(fields: &[&str], name: &str, src: Option<&str>) -> bool {
    fields[1] != name
        || (src.is_some() && fields[1] == "none" && fields[2] == "swap" && Some(fields[0]) != src)
}

/// `_set_mount_save_old`: the fstab with the mount point's line as wanted; whether it
/// changed.
pub fn set_mount(old: &str, s: &MountSpec) -> (String, bool) {
    let want = [
        escape(s.src.as_deref().unwrap_or_default()),
        escape(&s.name),
        escape(s.fstype.as_deref().unwrap_or_default()),
        escape(&s.opts),
        escape(&s.dump),
        escape(&s.passno),
    ];
    let mut out = String::new();
    let mut exists = false;
    let mut changed = false;
    for line in lines_keep(old) {
        let line = if line.ends_with('\n') {
            line.to_string()
        } else {
            format!("{line}\n")
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let fields: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if !(4..=6).contains(&fields.len()) || other_mount(&fields, &want[1], s.src.as_deref()) {
            out.push_str(&line);
            continue;
        }
        exists = true;
        // dump and passno are 0 when left out (an int in Python: never equal to "0").
        let mut ld: Vec<Option<String>> = fields.iter().map(|f| Some(f.to_string())).collect();
        ld.resize(6, None);
        for i in [0, 2, 3, 4, 5] {
            if ld[i].as_deref() != Some(want[i].as_str()) {
                ld[i] = Some(want[i].clone());
                changed = true;
            }
        }
        if changed {
            let ld: Vec<String> = ld
                .into_iter()
                .map(|f| f.unwrap_or_else(|| "0".into()))
                .collect();
            out.push_str(&format!("{}\n", ld.join(" ")));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&format!("{}\n", want.join(" ")));
        changed = true;
    }
    (out, changed)
}

/// `unset_mount`: the fstab without the mount point's lines; whether it changed.
pub fn unset_mount(old: &str, s: &MountSpec) -> (String, bool) {
    let name = escape(&s.name);
    let mut out = String::new();
    let mut changed = false;
    for line in lines_keep(old) {
        let t = line.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if t.is_empty()
            || t.starts_with('#')
            || fields.len() != 6
            || other_mount(&fields, &name, s.src.as_deref())
        {
            out.push_str(line);
            continue;
        }
        changed = true;
    }
    (out, changed)
}

/// Whether `name` is a mount point: `mountpoint`, or a line of mountinfo (whose
/// fifth field is the mount point, as ansible.posix reads it).
fn is_mounted(mountpoint: bool, mountinfo: &str, name: &str) -> bool {
    mountpoint
        || mountinfo
            .lines()
            .any(|l| l.split_whitespace().nth(4) == Some(name))
}

const MARK: &str = "rtmig-mount";

pub async fn mount(host: &Host<'_>, s: &MountSpec, check: bool, want_diff: bool) -> TaskResult {
    if matches!(s.state.as_str(), "mounted" | "present") {
        let missing: Vec<&str> = [("src", &s.src), ("fstype", &s.fstype)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        if !missing.is_empty() {
            return failure(format!(
                "state is {} but all of the following are missing: {}",
                s.state,
                missing.join(", ")
            ));
        }
    }
    let fstab = quote(&s.fstab);
    let name = quote(&s.name);
    let probe = format!(
        "if [ -f {fstab} ]; then echo file; cat {fstab}; else echo none; fi; echo {MARK}; \
         cat {} 2>/dev/null; echo {MARK}; \
         mountpoint -q {name} 2>/dev/null && echo mountpoint; [ -e {name} ] && echo exists; true",
        quote(&s.mountinfo)
    );
    let out = match host.run(&probe).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = output_text(&out.stdout);
    let sep = format!("{MARK}\n");
    let mut parts = stdout.split(sep.as_str());
    let tab = parts.next().unwrap_or_default();
    let (head, old) = tab.split_once('\n').unwrap_or((tab, ""));
    // `cat FILE; echo MARK`: MARK follows the file's last byte, newline or not.
    let old = old.to_string();
    let have_fstab = head == "file";
    let mountinfo = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let mounted = is_mounted(rest.contains("mountpoint"), mountinfo, &s.name);
    let path_exists = rest.contains("exists");

    let mut commands: Vec<String> = Vec::new();
    let mut new_fstab = None;
    let changed;
    match s.state.as_str() {
        "absent_from_fstab" | "absent" => {
            let (new, c) = unset_mount(&old, s);
            changed = c;
            if c {
                new_fstab = Some(new);
                if s.state == "absent" {
                    if mounted {
                        commands.push(format!("umount {name}"));
                    }
                    if path_exists {
                        commands.push(format!("rmdir {name}"));
                    }
                }
            }
        }
        "unmounted" => {
            changed = mounted;
            if mounted {
                commands.push(format!("umount {name}"));
            }
        }
        "mounted" => {
            let (new, c) = set_mount(&old, s);
            if c {
                new_fstab = Some(new);
            }
            if !path_exists {
                commands.push(format!("mkdir -p {name}"));
            }
            if mounted {
                if c {
                    commands.push(remount_command(s));
                }
                changed = c;
            } else {
                commands.push(mount_command(s));
                changed = true;
            }
        }
        "present" => {
            let (new, c) = set_mount(&old, s);
            changed = c;
            if c {
                new_fstab = Some(new);
            }
        }
        "remounted" => {
            commands.push(remount_command(s));
            changed = true;
        }
        other => return failure(format!("unsupported state {other}")),
    }

    let mut r = TaskResult::new(changed_or_ok(changed));
    let mut backup_file = String::new();
    if !check && !have_fstab {
        // ansible.posix creates an empty fstab first.
        let dir = std::path::Path::new(&s.fstab)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let cmd = format!("mkdir -p {} && touch {fstab}", quote(&dir));
        if let Err(f) = run_checked(host, &cmd, "Failed to open").await {
            return f;
        }
    }
    if let Some(new) = &new_fstab {
        let spec = FileSpec {
            dest: s.fstab.clone(),
            backup: s.backup,
            ..Default::default()
        };
        match files::put_content(host.remote, new.as_bytes(), &spec, check, want_diff).await {
            Ok(o) => {
                r.diff = o.diff;
                backup_file = o.backup.unwrap_or_default();
            }
            Err(files::FileError::Transport(e)) => return transport_failure(&e),
            Err(e) => return failure(e.to_string()),
        }
    }
    if !check {
        for cmd in &commands {
            if let Err(mut f) = run_checked(host, cmd, "").await {
                if s.state == "mounted" && new_fstab.is_some() {
                    // The old fstab back, as ansible.posix puts it back.
                    let spec = FileSpec {
                        dest: s.fstab.clone(),
                        ..Default::default()
                    };
                    let _ =
                        files::put_content(host.remote, old.as_bytes(), &spec, false, false).await;
                }
                let what = if cmd.starts_with("umount") {
                    "unmounting"
                } else if s.state == "remounted" {
                    "remounting"
                } else {
                    "mounting"
                };
                let msg = format!(
                    "Error {what} {}: {}",
                    s.name,
                    f.msg.take().unwrap_or_default()
                );
                return failure(msg);
            }
        }
        r.cmd = Some(commands.join("\n")).filter(|c| !c.is_empty());
    } else if !commands.is_empty() {
        r.msg = Some(format!("would run: {}", commands.join("; ")));
    }
    let mut reg = json!({
        "changed": changed,
        "name": s.name,
        "opts": s.opts,
        "dump": s.dump,
        "passno": s.passno,
        "fstab": s.fstab,
        "boot": if s.boot { "yes" } else { "no" },
        "backup_file": backup_file,
        "failed": false,
    });
    if let Some(src) = &s.src {
        reg["src"] = json!(src);
    }
    if let Some(fstype) = &s.fstype {
        reg["fstype"] = json!(fstype);
    }
    r.registered = reg;
    r
}

/// `-T FSTAB` for another fstab than `/etc/fstab`.
fn fstab_args(s: &MountSpec) -> String {
    if s.fstab == "/etc/fstab" {
        String::new()
    } else {
        format!(" -T {}", quote(&s.fstab))
    }
}

fn mount_command(s: &MountSpec) -> String {
    format!("mount{} {}", fstab_args(s), quote(&s.name))
}

/// `mount -o remount` (with the options for `remounted`), else unmount and mount.
fn remount_command(s: &MountSpec) -> String {
    let with_opts = s.state == "remounted" && s.opts != "defaults";
    let o = if with_opts {
        format!("remount,{}", s.opts)
    } else {
        "remount".into()
    };
    let remount = format!("mount -o {}{} {}", quote(&o), fstab_args(s), quote(&s.name));
    if with_opts {
        remount
    } else {
        format!(
            "{remount} || {{ umount {} && {}; }}",
            quote(&s.name),
            mount_command(s)
        )
    }
}

/// A command that must succeed: its failure as a task result (stdout and stderr, as
/// ansible.posix reports them).
async fn run_checked(host: &Host<'_>, cmd: &str, what: &str) -> Result<(), TaskResult> {
    match host.run(cmd).await {
        Ok(o) if o.status == 0 => Ok(()),
        Ok(o) => {
            let text = format!("{}{}", output_text(&o.stdout), output_text(&o.stderr));
            let mut f = failure(if what.is_empty() {
                text.trim().to_string()
            } else {
                format!("{what} {cmd}: {}", text.trim())
            });
            f.rc = Some(o.status);
            Err(f)
        }
        Err(e) => Err(transport_failure(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::actions::{fake_host, install_fakes};
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    fn spec(name: &str, src: &str, fstype: &str, state: &str) -> MountSpec {
        MountSpec {
            name: name.into(),
            src: Some(src.into()),
            fstype: Some(fstype.into()),
            opts: "defaults".into(),
            dump: "0".into(),
            passno: "0".into(),
            fstab: "/etc/fstab".into(),
            boot: true,
            state: state.into(),
            mountinfo: "/nonexistent".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_line_is_added_or_rewritten_as_ansible_posix_writes_it() {
        let s = spec("/srv/my data", "/dev/sdb1", "ext4", "present");
        let old = "# /etc/fstab\nUUID=1   /   ext4   errors=remount-ro 0 1\n";
        let (new, changed) = set_mount(old, &s);
        assert!(changed);
        assert_eq!(
            new,
            format!("{old}/dev/sdb1 /srv/my\\040data ext4 defaults 0 0\n")
        );
        assert_eq!(set_mount(&new, &s), (new.clone(), false));
        // Four fields: dump and passno are written.
        let (new, changed) = set_mount("/dev/sdb1\t/srv/my\\040data  ext4 defaults", &s);
        assert!(changed);
        assert_eq!(new, "/dev/sdb1 /srv/my\\040data ext4 defaults 0 0\n");
    }

    #[test]
    fn swap_lines_go_by_mount_point_as_kubespray_removes_them() {
        let old = "UUID=1 / ext4 defaults 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n#/dev/sdb2 none swap sw 0 0\n";
        let mut s = spec("none", "", "swap", "absent");
        s.src = None;
        let (new, changed) = unset_mount(old, &s);
        assert!(changed);
        assert_eq!(
            new,
            "UUID=1 / ext4 defaults 0 1\n#/dev/sdb2 none swap sw 0 0\n"
        );
        s.name = "swap".into();
        assert_eq!(unset_mount(old, &s), (old.to_string(), false));
        // With a src, another swap's line stays.
        let mut s = spec("none", "/dev/sdc1", "swap", "absent");
        s.fstype = None;
        assert_eq!(unset_mount(old, &s), (old.to_string(), false));
    }

    #[tokio::test]
    async fn mounted_writes_fstab_mounts_once_and_absent_undoes_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let fstab = dir.path().join("etc/fstab");
        let mnt = dir.path().join("mnt/data");
        let mut s = spec(&mnt.display().to_string(), "/dev/vdb", "xfs", "mounted");
        s.fstab = fstab.display().to_string();
        s.mountinfo = dir.path().join("state/mountinfo").display().to_string();
        let res = mount(&host, &s, true, true).await;
        assert_eq!(res.status, TaskStatus::Changed);
        assert!(!fstab.exists() && !mnt.exists());

        let res = mount(&host, &s, false, false).await;
        assert_eq!(res.status, TaskStatus::Changed, "{res:?}");
        let line = format!("/dev/vdb {} xfs defaults 0 0\n", mnt.display());
        assert_eq!(std::fs::read_to_string(&fstab).unwrap(), line);
        assert!(mnt.is_dir());
        assert_eq!(mount(&host, &s, false, false).await.status, TaskStatus::Ok);

        s.state = "unmounted".into();
        assert_eq!(
            mount(&host, &s, false, false).await.status,
            TaskStatus::Changed
        );
        assert_eq!(mount(&host, &s, false, false).await.status, TaskStatus::Ok);
        s.state = "mounted".into();
        assert_eq!(
            mount(&host, &s, false, false).await.status,
            TaskStatus::Changed
        );
        s.state = "absent".into();
        assert_eq!(
            mount(&host, &s, false, false).await.status,
            TaskStatus::Changed
        );
        assert_eq!(std::fs::read_to_string(&fstab).unwrap(), "");
        assert!(!mnt.exists());
        assert_eq!(mount(&host, &s, false, false).await.status, TaskStatus::Ok);
        let calls = std::fs::read_to_string(dir.path().join("state/calls")).unwrap();
        let m = mnt.display();
        let f = fstab.display();
        assert_eq!(
            calls,
            format!("mount -T {f} {m}\numount {m}\nmount -T {f} {m}\numount {m}\n")
        );
    }

    #[tokio::test]
    async fn a_failed_mount_puts_the_old_fstab_back() {
        let dir = tempfile::tempdir().unwrap();
        let bin = install_fakes(dir.path());
        let t = LocalTransport;
        let r = remote(&t);
        let host = fake_host(&r, &bin);
        let fstab = dir.path().join("fstab");
        std::fs::write(&fstab, "# empty\n").unwrap();
        let mut s = spec("/mnt/x", "/dev/nosuch", "ext4", "mounted");
        s.name = dir.path().join("x").display().to_string();
        s.fstab = fstab.display().to_string();
        s.mountinfo = dir.path().join("state/mountinfo").display().to_string();
        let res = mount(&host, &s, false, false).await;
        assert_eq!(res.status, TaskStatus::Failed);
        assert!(
            res.msg
                .unwrap()
                .contains("special device /dev/nosuch does not exist")
        );
        assert_eq!(std::fs::read_to_string(&fstab).unwrap(), "# empty\n");
    }
}
