//! `set_fact`: variables of this host for the rest of the run; each may use the ones
//! set before it in the same task.

use serde_json::json;

use super::{Cx, TResult, located};
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::playbook::SetFact;
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, sf: &SetFact) -> TResult<TaskOutcome> {
    let mut scope = cx.vars.clone();
    let mut facts = HostVars::new();
    for (k, data) in &sf.facts {
        let v = cx
            .templates()
            .render_value(&data.value, &scope)
            .map_err(|e| located(&data.location, e))?;
        scope.insert(k.clone(), v.clone());
        facts.insert(k.clone(), v);
    }
    let mut r = TaskResult::new(TaskStatus::Ok);
    r.registered = json!({"ansible_facts": facts});
    Ok(TaskOutcome {
        facts,
        ..TaskOutcome::plain(r)
    })
}
