//! `template`: a Jinja file of the controller, rendered with the task's variables, put
//! on the host when it differs (see [`super::put_content`]).

use super::{Cx, TResult, located, put_content};
use crate::execute::remote::Remote;
use crate::parse::playbook::{TemplateFile, resolve_task_source};
use crate::report::TaskResult;
use crate::template::Vars;
use serde_json::json;
use std::path::Path;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, t: &TemplateFile) -> TResult<TaskResult> {
    let src = match &t.src_path {
        Some(p) => p.clone(),
        None => {
            let name = cx.text(&t.src)?;
            resolve_task_source(cx.task.role.as_deref(), &cx.play.dir, "templates", &name)
                .ok_or_else(|| located(&t.src.location, format!("template `{name}` not found")))?
        }
    };
    let full = std::fs::canonicalize(&src).unwrap_or(src.clone());
    let vars = template_vars(cx.vars, &src, &full, &cx.text(&t.dest)?);
    let content = cx
        .templates()
        .render_file(&full.display().to_string(), &vars)
        .map_err(|e| located(&t.src.location, e))?;
    let mut spec = cx.file_spec(&t.dest, [&t.mode, &t.owner, &t.group], t.backup)?;
    spec.validate = cx.opt_text(&t.validate)?;
    Ok(put_content(
        remote,
        content.as_bytes(),
        &spec,
        cx.check(),
        cx.runner.diff,
    )
    .await)
}

/// The variables Ansible's template action adds for the file it renders:
/// `ansible_managed` (its default string, "Ansible managed"; a user's own wins),
/// `template_path`, `template_fullpath`, `template_destpath`, `template_host`.
fn template_vars(vars: &Vars, src: &Path, full: &Path, dest: &str) -> Vars {
    let mut v = vars.clone();
    if !v.contains_key("ansible_managed") {
        v.insert_raw("ansible_managed", json!("Ansible managed"));
    }
    let host = hostname();
    v.insert_raw("template_path", json!(src.display().to_string()))
        .insert_raw("template_fullpath", json!(full.display().to_string()))
        .insert_raw("template_destpath", json!(dest))
        .insert_raw("template_host", json!(host));
    v
}

/// The controller's host name, as Python's `os.uname()[1]`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_managed_is_ansibles_default_unless_the_user_sets_it() {
        let src = Path::new("t.j2");
        let v = template_vars(&Vars::new(), src, src, "/etc/x");
        assert_eq!(v.get("ansible_managed"), Some(&json!("Ansible managed")));
        assert_eq!(v.get("template_destpath"), Some(&json!("/etc/x")));
        let mut mine = Vars::new();
        mine.insert("ansible_managed", json!("mine"));
        let v = template_vars(&mine, src, src, "/etc/x");
        assert_eq!(v.get("ansible_managed"), Some(&json!("mine")));
    }
}
