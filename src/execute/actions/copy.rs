//! `copy`: `content=` (a rendered string), `src=` (a controller file, sent as is) or
//! `src=` with `remote_src: true` (a file on the host, read there) put on the host when it
//! differs: the host's file is read and compared first ([`crate::execute::files`]), so a
//! rerun reports ok and `--check --diff` shows the diff. `mode: preserve` gives the
//! destination the source's mode, as in Ansible.

use std::path::{Path, PathBuf};

use super::{Cx, TResult, file_result, located, output_text, transport_failure};
use crate::execute::files::{self, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::{Copy, CopySource, resolve_task_source};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, c: &Copy) -> TResult<TaskResult> {
    let mut spec = cx.file_spec(&c.dest, [&c.mode, &c.owner, &c.group], c.backup)?;
    let preserve = spec.mode.as_deref() == Some(PRESERVE);
    let (check, diff) = (cx.check(), cx.runner.diff);
    Ok(match &c.source {
        CopySource::Content(t) => {
            if preserve {
                return Err(located(
                    c.mode.as_ref().map_or(&c.dest.location, |m| &m.location),
                    "`mode: preserve` needs `src` (content has no mode to keep)",
                ));
            }
            let content = cx.text(t)?;
            put_content(remote, content.as_bytes(), &spec, check, diff).await
        }
        CopySource::Src { src, src_path } => {
            let path: PathBuf = match src_path {
                Some(p) => p.clone(),
                None => {
                    let name = cx.text(src)?;
                    resolve_task_source(cx.task.role.as_deref(), &cx.play.dir, "files", &name)
                        .ok_or_else(|| located(&src.location, format!("file `{name}` not found")))?
                }
            };
            if preserve {
                spec.mode = Some(controller_mode(&path).map_err(|e| {
                    located(
                        &src.location,
                        format!("cannot read `{}`: {e}", path.display()),
                    )
                })?);
            }
            put_file(remote, &path, &spec, check, diff).await
        }
        CopySource::Remote(src) => {
            let src = cx.text(src)?;
            match read_remote(remote, &src).await {
                Ok((mode, content)) => {
                    if preserve {
                        spec.mode = Some(mode);
                    }
                    put_content(remote, &content, &spec, check, diff).await
                }
                Err(failed) => failed,
            }
        }
    })
}

/// Ansible's `mode: preserve`: the destination gets the source's mode.
const PRESERVE: &str = "preserve";

/// A controller file's permission bits, as chmod takes them (`0644`).
fn controller_mode(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok(format!("{mode:04o}"))
}

const NOT_FOUND: i32 = 66;
const NOT_A_FILE: i32 = 67;

/// `remote_src`: the host's file, read in one command: its mode (`0644`), then its bytes.
async fn read_remote(remote: &Remote<'_>, src: &str) -> Result<(String, Vec<u8>), TaskResult> {
    let p = quote(src);
    let command = format!(
        "if [ ! -e {p} ]; then exit {NOT_FOUND}; elif [ ! -f {p} ]; then exit {NOT_A_FILE}; fi; \
         stat -L -c %a -- {p} && cat -- {p}"
    );
    let out = remote
        .run(&command)
        .await
        .map_err(|e| transport_failure(&e))?;
    let failed = |msg: String| TaskResult::new(TaskStatus::Failed).with_msg(msg);
    match out.status {
        0 => {}
        NOT_FOUND => return Err(failed(format!("Source {src} not found"))),
        NOT_A_FILE => {
            return Err(failed(format!(
                "Source {src} is not a regular file (a directory with remote_src is not supported)"
            )));
        }
        _ => {
            return Err(failed(format!(
                "Cannot read {src}: {}",
                output_text(&out.stderr).trim()
            )));
        }
    }
    let Some(nl) = out.stdout.iter().position(|b| *b == b'\n') else {
        return Err(failed(format!("Cannot read {src}: no mode from stat")));
    };
    let mode = String::from_utf8_lossy(&out.stdout[..nl])
        .trim()
        .to_string();
    Ok((format!("{:0>4}", mode), out.stdout[nl + 1..].to_vec()))
}

/// `template` and `copy content=`: put rendered bytes at the destination.
pub async fn put_content(
    remote: &Remote<'_>,
    content: &[u8],
    spec: &FileSpec,
    check: bool,
    diff: bool,
) -> TaskResult {
    file_result(
        files::put_content(remote, content, spec, check, diff).await,
        &spec.dest,
    )
}

/// `copy src=`: a file from the controller.
pub async fn put_file(
    remote: &Remote<'_>,
    src: &Path,
    spec: &FileSpec,
    check: bool,
    diff: bool,
) -> TaskResult {
    file_result(
        files::put_file(remote, src, spec, check, diff).await,
        &spec.dest,
    )
}
