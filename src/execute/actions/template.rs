//! `template`: a Jinja file of the controller, rendered with the task's variables, put
//! on the host when it differs (see [`super::put_content`]).

use super::{Cx, TResult, located, put_content};
use crate::execute::remote::Remote;
use crate::parse::playbook::{TemplateFile, resolve_task_source};
use crate::report::TaskResult;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, t: &TemplateFile) -> TResult<TaskResult> {
    let src = match &t.src_path {
        Some(p) => p.clone(),
        None => {
            let name = cx.text(&t.src)?;
            resolve_task_source(cx.task.role.as_deref(), &cx.play.dir, "templates", &name)
                .ok_or_else(|| located(&t.src.location, format!("template `{name}` not found")))?
        }
    };
    let content = cx
        .templates()
        .render_file(
            &std::fs::canonicalize(&src)
                .unwrap_or(src.clone())
                .display()
                .to_string(),
            cx.vars,
        )
        .map_err(|e| located(&t.src.location, e))?;
    let spec = cx.file_spec(&t.dest, [&t.mode, &t.owner, &t.group], t.backup)?;
    Ok(put_content(
        remote,
        content.as_bytes(),
        &spec,
        cx.check(),
        cx.runner.diff,
    )
    .await)
}
