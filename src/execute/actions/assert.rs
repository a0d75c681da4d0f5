//! `assert`: every expression of `that` must hold; the first that does not fails the
//! host with `fail_msg`.

use serde_json::json;

use super::{Cx, TResult};
use crate::execute::scheduler::TaskOutcome;
use crate::parse::playbook::Assert;
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, a: &Assert) -> TResult<TaskOutcome> {
    for e in &a.that {
        if !cx.condition(std::slice::from_ref(e))? {
            let msg = match &a.fail_msg {
                Some(t) => cx.text(t)?,
                None => format!("Assertion failed: `{}`", e.value),
            };
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(msg);
            r.registered = json!({"assertion": e.value, "evaluated_to": false});
            return Ok(TaskOutcome::plain(r));
        }
    }
    let msg = match &a.success_msg {
        Some(t) => cx.text(t)?,
        None => "All assertions passed".into(),
    };
    Ok(TaskOutcome::plain(
        TaskResult::new(TaskStatus::Ok).with_msg(msg),
    ))
}
