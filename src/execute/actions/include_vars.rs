//! `include_vars`: a YAML file's variables become this host's for the rest of the run
//! (with `set_fact`'s precedence), nested under `name` when given. A file named by a
//! template is found and read now; a literal one was read with the playbook.

use serde_json::{Value, json};

use super::{Cx, TResult, located};
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::playbook::{IncludeVars, resolve_task_source};
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, i: &IncludeVars) -> TResult<TaskOutcome> {
    let raw: Vec<(String, Value)> = match &i.vars {
        Some(vars) => vars
            .iter()
            .map(|(k, d)| (k.clone(), d.value.clone()))
            .collect(),
        None => read_now(cx, i)?,
    };
    let mut facts = HostVars::new();
    for (k, v) in raw {
        let v = cx
            .templates()
            .render_value(&v, cx.vars)
            .map_err(|e| located(&i.file.location, e))?;
        facts.insert(k, v);
    }
    if let Some(name) = &i.name {
        let nested: serde_json::Map<String, Value> = facts.into_iter().collect();
        facts = HostVars::from_iter([(name.clone(), Value::Object(nested))]);
    }
    let mut r = TaskResult::new(TaskStatus::Ok);
    r.registered = json!({"ansible_facts": facts});
    let mut outcome = TaskOutcome::plain(r);
    outcome.facts = facts;
    Ok(outcome)
}

/// The file a templated `file` names, read as YAML (a mapping of variables).
fn read_now(cx: &Cx<'_>, i: &IncludeVars) -> TResult<Vec<(String, Value)>> {
    let name = cx.text(&i.file)?;
    let path = resolve_task_source(cx.task.role.as_deref(), &cx.play.dir, "vars", &name)
        .ok_or_else(|| located(&i.file.location, format!("vars file `{name}` not found")))?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        located(
            &i.file.location,
            format!("cannot read vars file `{}`: {e}", path.display()),
        )
    })?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = crate::parse::yaml_value(&path, &text).map_err(|e| {
        located(
            &i.file.location,
            format!("vars file `{}`: {e}", path.display()),
        )
    })?;
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::Null => Ok(Vec::new()),
        other => Err(located(
            &i.file.location,
            format!(
                "vars file `{}` must be a mapping of variables, found {other}",
                path.display()
            ),
        )),
    }
}
