//! `unarchive`: a tar (plain, gzip, bzip2, xz, as the host's GNU tar reads them) or zip
//! archive unpacked into an existing directory. The archive comes from the controller
//! (uploaded to a temp file on the host, removed afterwards) or, with `remote_src`, is
//! already on the host. `creates` is the first query (skipped when it exists, as
//! Ansible's action skips). Then one script on the host
//! unpacks into a temp directory inside `dest`, compares every entry with what `dest`
//! holds (kind, content, mode, link target) and copies the tree over only when
//! something differs, so a rerun reports ok as Ansible's does; under `--check` it
//! compares and copies nothing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::{Cx, TResult, located, output_text, transport_failure};
use crate::execute::files::{self, FileError, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::{Unarchive, resolve_source};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

/// Printed by the script: the archive's entries are all in `dest` already.
const SAME: &str = "rtmig-unarchive-same";
/// Printed by the script: something differs (and, out of check mode, was copied).
const DIFFERS: &str = "rtmig-unarchive-differs";
/// The script's exit status when `dest` is not a directory.
const NOT_A_DIRECTORY: i32 = 70;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, u: &Unarchive) -> TResult<TaskResult> {
    let src = cx.text(&u.src)?;
    let dest = cx.text(&u.dest)?;
    let creates = cx.opt_text(&u.creates)?;
    let local = if u.remote_src {
        None
    } else {
        let path: PathBuf = match &u.src_path {
            Some(p) => p.clone(),
            None => resolve_source(&cx.runner.playbook.dir, "files", &src)
                .ok_or_else(|| located(&u.src.location, format!("file `{src}` not found")))?,
        };
        Some(path)
    };
    let args = UnarchiveArgs {
        src,
        local,
        dest,
        creates,
    };
    Ok(unarchive(remote, &args, cx.check()).await)
}

#[derive(Debug, Clone, Default)]
pub struct UnarchiveArgs {
    /// As written (the host's path with `remote_src`).
    pub src: String,
    /// The controller's archive; `None` with `remote_src`.
    pub local: Option<PathBuf>,
    pub dest: String,
    pub creates: Option<String>,
}

/// Whether `name` is a zip archive (else tar, in any compression GNU tar reads).
fn is_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// The script that unpacks `archive` into a temp directory of `dest`, compares, and
/// (unless `check`) copies over when something differs.
fn script(archive: &str, dest: &str, zip: bool, check: bool, remove_archive: bool) -> String {
    let a = quote(archive);
    let d = quote(dest);
    let extract = if zip {
        "unzip -q -o \"$a\" -d \"$t\"".to_string()
    } else {
        "tar -x -f \"$a\" -C \"$t\"".to_string()
    };
    let copy = if check {
        String::new()
    } else {
        "cp -a \"$t\"/. \"$d\"/; ".to_string()
    };
    let rm_archive = if remove_archive { "rm -f \"$a\"; " } else { "" };
    format!(
        "a={a}; d={d}; \
         if [ ! -d \"$d\" ]; then {rm_archive}echo \"Destination '$d' is not a directory\" >&2; exit {NOT_A_DIRECTORY}; fi; \
         set -e; d=$(cd \"$d\" && pwd); t=$(mktemp -d \"$d/.rtmig-unarchive.XXXXXX\"); \
         trap '{rm_archive}rm -rf \"$t\"' EXIT; {extract}; cd \"$t\"; \
         x=$(find . -mindepth 1 | while IFS= read -r f; do g=\"$d/${{f#./}}\"; \
           if [ -L \"$f\" ]; then if [ -L \"$g\" ] && [ \"$(readlink \"$f\")\" = \"$(readlink \"$g\")\" ]; then :; else echo x; break; fi; \
           elif [ -d \"$f\" ]; then if [ -d \"$g\" ] && [ ! -L \"$g\" ]; then :; else echo x; break; fi; \
           elif [ -f \"$g\" ] && [ ! -L \"$g\" ] && cmp -s \"$f\" \"$g\" && [ \"$(stat -c %a \"$f\")\" = \"$(stat -c %a \"$g\")\" ]; then :; \
           else echo x; break; fi; done); \
         cd /; if [ -z \"$x\" ]; then echo {SAME}; else {copy}echo {DIFFERS}; fi"
    )
}

pub async fn unarchive(remote: &Remote<'_>, a: &UnarchiveArgs, check: bool) -> TaskResult {
    let handler = if is_zip(&a.src) {
        "ZipArchive"
    } else {
        "TgzArchive"
    };
    let registered = |changed: bool| json!({"changed": changed, "failed": false, "dest": a.dest, "src": a.src, "handler": handler});
    if let Some(path) = &a.creates {
        match remote.run(&format!("test -e {}", quote(path))).await {
            // Ansible's action skips here (not its module, so not "ok").
            Ok(o) if o.status == 0 => {
                return super::skipped(&format!("skipped, since {path} exists"));
            }
            Ok(_) => {}
            Err(e) => return transport_failure(&e),
        }
    }
    let archive = match &a.local {
        None => a.src.clone(),
        Some(local) => {
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "archive".into());
            // Unique per run, host and task: hosts that share a /tmp (containers on one
            // machine, the tests' sshd fleet) must not take each other's upload.
            static UPLOADS: AtomicU64 = AtomicU64::new(0);
            let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
            let host = remote.host.replace('/', "_");
            let tmp = format!(
                "/tmp/.rtmig-unarchive-{}-{host}-{n}-{name}",
                std::process::id()
            );
            let spec = FileSpec {
                dest: tmp.clone(),
                mode: Some("0600".into()),
                ..Default::default()
            };
            match files::put_file(remote, local, &spec, false, false).await {
                Ok(_) => tmp,
                Err(FileError::Transport(e)) => return transport_failure(&e),
                Err(e) => return failed(e.to_string()),
            }
        }
    };
    let command = script(&archive, &a.dest, is_zip(&a.src), check, a.local.is_some());
    let out = match remote.run(&command).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let stdout = output_text(&out.stdout);
    if out.status == NOT_A_DIRECTORY {
        return failed(output_text(&out.stderr).trim().to_string());
    }
    if out.status != 0 {
        return failed(format!(
            "Failed to unpack {} into {}: {}",
            a.src,
            a.dest,
            output_text(&out.stderr).trim()
        ));
    }
    let changed = stdout.lines().any(|l| l == DIFFERS);
    let mut r = TaskResult::new(if changed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    });
    r.registered = registered(changed);
    r
}

fn failed(msg: String) -> TaskResult {
    let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
    r.registered = json!({"changed": false, "failed": true, "msg": msg});
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;
    use std::process::Command;

    fn sh(cmd: &str) {
        let ok = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
        assert!(ok.success(), "{cmd}");
    }

    #[tokio::test]
    async fn tar_gz_and_zip_unpack_once_then_ok_and_check_mode_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        sh(&format!(
            "cd {d} && mkdir -p src/app/bin && echo v1 > src/app/conf && echo x > src/app/bin/run && chmod 755 src/app/bin/run && ln -s conf src/app/link \
             && tar -czf app.tar.gz -C src app && (cd src && zip -qry ../app.zip app) && mkdir out-tgz out-zip"
        ));
        let t = LocalTransport;
        for (archive, out) in [("app.tar.gz", "out-tgz"), ("app.zip", "out-zip")] {
            let args = UnarchiveArgs {
                src: archive.into(),
                local: Some(dir.path().join(archive)),
                dest: format!("{d}/{out}"),
                creates: None,
            };
            let check = unarchive(&remote(&t), &args, true).await;
            assert_eq!(
                check.status,
                TaskStatus::Changed,
                "{archive}: {:?}",
                check.msg
            );
            assert!(
                !dir.path().join(out).join("app").exists(),
                "check mode wrote"
            );
            let first = unarchive(&remote(&t), &args, false).await;
            assert_eq!(
                first.status,
                TaskStatus::Changed,
                "{archive}: {:?}",
                first.msg
            );
            let conf = dir.path().join(out).join("app/conf");
            assert_eq!(std::fs::read_to_string(&conf).unwrap(), "v1\n");
            assert!(dir.path().join(out).join("app/link").is_symlink());
            let again = unarchive(&remote(&t), &args, false).await;
            assert_eq!(again.status, TaskStatus::Ok, "{archive}: {:?}", again.msg);
            // A changed file is put back.
            std::fs::write(&conf, "edited\n").unwrap();
            let fixed = unarchive(&remote(&t), &args, false).await;
            assert_eq!(fixed.status, TaskStatus::Changed);
            assert_eq!(std::fs::read_to_string(&conf).unwrap(), "v1\n");
            // Nothing left behind: no temp directory in dest, no uploaded archive.
            let names: Vec<_> = std::fs::read_dir(dir.path().join(out))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["app"]);
        }
    }

    #[tokio::test]
    async fn creates_remote_src_and_a_missing_dest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        sh(&format!(
            "cd {d} && mkdir -p src && echo a > src/a && tar -cf a.tar -C src a && mkdir out"
        ));
        let t = LocalTransport;
        let mut args = UnarchiveArgs {
            src: format!("{d}/a.tar"),
            local: None,
            dest: format!("{d}/out"),
            creates: Some(format!("{d}/out/a")),
        };
        assert_eq!(
            unarchive(&remote(&t), &args, false).await.status,
            TaskStatus::Changed
        );
        let r = unarchive(&remote(&t), &args, false).await;
        assert_eq!(r.status, TaskStatus::Skipped);
        assert!(r.msg.unwrap().starts_with("skipped, since"));
        assert!(
            dir.path().join("a.tar").exists(),
            "remote_src archive removed"
        );
        args.dest = format!("{d}/nope");
        args.creates = None;
        let r = unarchive(&remote(&t), &args, false).await;
        assert_eq!(r.status, TaskStatus::Failed);
        assert_eq!(
            r.msg.unwrap(),
            format!("Destination '{d}/nope' is not a directory")
        );
    }
}
