//! `meta`: what the play does next for the host. The action itself only reports `ok`
//! (its `when` is the runner's, as for any task); the scheduler, which owns the flow of
//! the play, acts on it: flushing handlers, ending the host or the play.

use super::{Cx, TResult};
use crate::execute::scheduler::TaskOutcome;
use crate::parse::playbook::Meta;
use crate::report::{TaskResult, TaskStatus};

pub(super) fn run(_cx: &Cx<'_>, m: Meta) -> TResult<TaskOutcome> {
    let msg = match m {
        Meta::FlushHandlers => "flushing handlers",
        Meta::EndPlay => "ending play",
        Meta::EndHost => "ending play for the host",
        Meta::Noop => "noop",
    };
    Ok(TaskOutcome::plain(
        TaskResult::new(TaskStatus::Ok).with_msg(msg),
    ))
}
