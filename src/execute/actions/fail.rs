//! `fail`: fail the host with a message.

use super::{Cx, TResult};
use crate::execute::scheduler::TaskOutcome;
use crate::parse::playbook::Fail;
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, f: &Fail) -> TResult<TaskOutcome> {
    let msg = cx
        .opt_text(&f.msg)?
        .unwrap_or_else(|| "Failed as requested from task".into());
    Ok(TaskOutcome::plain(
        TaskResult::new(TaskStatus::Failed).with_msg(msg),
    ))
}
