//! `debug`: print a message or a variable, at `-v` level `verbosity` or above.

use serde_json::{Value, json};

use super::{Cx, TResult, located, skipped};
use crate::execute::scheduler::TaskOutcome;
use crate::parse::playbook::{Debug, DebugWhat};
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, d: &Debug) -> TResult<TaskOutcome> {
    if d.verbosity > cx.runner.verbosity {
        return Ok(TaskOutcome::plain(skipped("verbosity threshold not met")));
    }
    let msg = match &d.what {
        DebugWhat::Msg(data) => match cx.value(data)? {
            Value::String(s) => s,
            other => serde_json::to_string_pretty(&other).unwrap_or_default(),
        },
        DebugWhat::Var(e) => {
            let v = cx
                .templates()
                .eval_expr(&e.value, cx.vars)
                .map_err(|err| located(&e.location, err))?;
            format!(
                "{}: {}",
                e.value,
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )
        }
    };
    let mut r = TaskResult::new(TaskStatus::Ok).with_msg(msg.clone());
    r.registered = json!({"msg": msg});
    Ok(TaskOutcome::plain(r))
}
