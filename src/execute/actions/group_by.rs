//! `group_by`: this host into the group `key` names (spaces become dashes, as in
//! Ansible), created under `parents` (default `all`) when new.

use serde_json::json;

use super::{Cx, TResult, changed_or_ok, located};
use crate::execute::live::name_list;
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::inventory::InventoryChange;
use crate::parse::playbook::GroupBy;
use crate::report::TaskResult;

pub(super) fn run(cx: &Cx<'_>, g: &GroupBy) -> TResult<TaskOutcome> {
    let host = cx.host;
    let group = cx.text(&g.key)?.trim().replace(' ', "-");
    if group.is_empty() {
        return Err(located(
            &g.key.location,
            "`group_by` key rendered to an empty group name",
        ));
    }
    let parents = match &g.parents {
        None => vec!["all".to_string()],
        Some(d) => name_list(&cx.value(d)?)
            .into_iter()
            .map(|p| p.replace(' ', "-"))
            .collect(),
    };
    let change = InventoryChange::GroupBy {
        host: host.to_string(),
        group: group.clone(),
        parents: parents.clone(),
    };
    let changed = cx
        .change_inventory(std::slice::from_ref(&change))
        .map_err(|e| located(&g.key.location, e.0))?;
    let mut r = TaskResult::new(changed_or_ok(changed));
    r.msg = Some(format!("`{host}` in group `{group}`"));
    r.registered = json!({"add_group": group, "parent_groups": parents});
    Ok(TaskOutcome {
        result: r,
        register: None,
        facts: HostVars::new(),
        inventory: vec![change],
        iterations: None,
    })
}
