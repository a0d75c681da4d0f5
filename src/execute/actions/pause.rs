//! `pause`: wait a while, or ask the operator on the terminal (continued without asking
//! under `--yes`; refused when standard input is not a terminal).

use std::time::Duration;

use serde_json::json;

use super::{Cx, TResult, TaskError};
use crate::execute::scheduler::TaskOutcome;
use crate::parse::playbook::Pause;
use crate::report::{TaskResult, TaskStatus};

pub(super) async fn run(cx: &Cx<'_>, p: &Pause) -> TResult<TaskOutcome> {
    let secs =
        cx.opt_number(&p.seconds)?.unwrap_or(0) + 60 * cx.opt_number(&p.minutes)?.unwrap_or(0);
    if secs > 0 {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        return Ok(TaskOutcome::plain(
            TaskResult::new(TaskStatus::Ok).with_msg(format!("paused {secs}s")),
        ));
    }
    let prompt = cx
        .opt_text(&p.prompt)?
        .unwrap_or_else(|| "Press enter to continue".into());
    if cx.runner.assume_yes {
        return Ok(TaskOutcome::plain(
            TaskResult::new(TaskStatus::Ok).with_msg(format!("{prompt}: continued (--yes)")),
        ));
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(TaskOutcome::plain(TaskResult::new(TaskStatus::Failed).with_msg(format!(
            "`pause` asks `{prompt}` but standard input is not a terminal; rerun on a terminal or with --yes"
        ))));
    }
    let answer = tokio::task::spawn_blocking(move || {
        eprint!("{prompt}: ");
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map(|_| line.trim_end().to_string())
    })
    .await
    .map_err(|e| TaskError(e.to_string()))?
    .map_err(|e| TaskError(e.to_string()))?;
    let mut r = TaskResult::new(TaskStatus::Ok);
    r.registered = json!({"user_input": answer});
    Ok(TaskOutcome::plain(r))
}
