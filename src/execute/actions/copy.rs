//! `copy`: `content=` (a rendered string) or `src=` (a controller file, sent as is) put
//! on the host when it differs: the host's file is read and compared first
//! ([`crate::execute::files`]), so a rerun reports ok and `--check --diff` shows the diff.

use std::path::{Path, PathBuf};

use super::{Cx, TResult, file_result, located};
use crate::execute::files::{self, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::{Copy, CopySource, resolve_task_source};
use crate::report::TaskResult;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, c: &Copy) -> TResult<TaskResult> {
    let spec = cx.file_spec(&c.dest, [&c.mode, &c.owner, &c.group], c.backup)?;
    let (check, diff) = (cx.check(), cx.runner.diff);
    Ok(match &c.source {
        CopySource::Content(t) => {
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
            put_file(remote, &path, &spec, check, diff).await
        }
    })
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
