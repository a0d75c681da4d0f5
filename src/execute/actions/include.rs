//! `include_tasks` / `include_role`: the included tasks follow this one in the play's
//! list (read with the playbook); running it only says they run once more, with the
//! loop variable the runner adds when the include loops. The scheduler then runs them.

use super::{Cx, TResult};
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::playbook::Include;
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(cx: &Cx<'_>, i: &Include) -> TResult<TaskOutcome> {
    let what = cx.text(&i.what)?;
    let mut outcome =
        TaskOutcome::plain(TaskResult::new(TaskStatus::Ok).with_msg(format!("included: {what}")));
    outcome.iterations = Some(vec![HostVars::new()]);
    Ok(outcome)
}
