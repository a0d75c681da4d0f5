//! `include_tasks` / `include_role`: the included tasks follow this one in the play's
//! list (read with the playbook); running it only says they run once more, with the
//! loop variable the runner adds when the include loops. The scheduler then runs them.
//!
//! A templated `include_tasks` name is rendered now, for this host, and found as
//! Ansible finds it (absolute, or in the including file's folder, the role's `tasks/`,
//! the playbook's folder); its tasks are the variant read for that file, which the
//! variants inside the include's span compare with [`CHOSEN`].

use serde_json::json;

use super::{Cx, TResult, located};
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::playbook::Include;
use crate::report::{TaskResult, TaskStatus};

/// The variable (in the include's iteration) naming the tasks file a templated
/// `include_tasks` picked for the host.
pub(crate) const CHOSEN: &str = "__rtmig_include_file";

pub(super) fn run(cx: &Cx<'_>, i: &Include) -> TResult<TaskOutcome> {
    if let Some(variant) = &i.variant {
        let chosen = cx
            .vars
            .get(CHOSEN)
            .and_then(|v| v.as_str().map(String::from));
        let picked = chosen.as_deref() == Some(&*variant.path.to_string_lossy());
        if !picked {
            let mut outcome = TaskOutcome::plain(TaskResult::new(TaskStatus::Skipped));
            outcome.iterations = Some(Vec::new());
            return Ok(outcome);
        }
        if !variant.errors.is_empty() {
            return Err(located(&i.what.location, variant.errors.join("\n")));
        }
        let mut outcome = TaskOutcome::plain(
            TaskResult::new(TaskStatus::Ok)
                .with_msg(format!("included: {}", variant.path.display())),
        );
        outcome.iterations = Some(vec![HostVars::new()]);
        return Ok(outcome);
    }
    let what = cx.text(&i.what)?;
    let mut iteration = HostVars::new();
    if !i.search.is_empty() {
        let path = find(&i.search, &what).ok_or_else(|| {
            let looked: Vec<String> = i
                .search
                .iter()
                .map(|d| format!("`{}`", d.join(&what).display()))
                .collect();
            located(
                &i.what.location,
                format!(
                    "`include_tasks`: file `{what}` not found (looked for {})",
                    looked.join(", ")
                ),
            )
        })?;
        iteration.insert(CHOSEN.to_string(), json!(path.display().to_string()));
    }
    let mut outcome =
        TaskOutcome::plain(TaskResult::new(TaskStatus::Ok).with_msg(format!("included: {what}")));
    outcome.iterations = Some(vec![iteration]);
    Ok(outcome)
}

/// A tasks file as the parser finds one, canonical (a variant's own path).
fn find(search: &[std::path::PathBuf], name: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(name);
    let found = if p.is_absolute() {
        p.is_file().then(|| p.to_path_buf())
    } else {
        search.iter().map(|d| d.join(name)).find(|p| p.is_file())
    }?;
    Some(std::fs::canonicalize(&found).unwrap_or(found))
}
