//! `add_host`: the host, its groups and variables, into the in-memory inventory.
//! Also under `--check` (Ansible alters the in-memory inventory in check mode too).

use serde_json::json;

use super::{Cx, TResult, changed_or_ok, located};
use crate::execute::live::name_list;
use crate::execute::scheduler::{HostVars, TaskOutcome};
use crate::parse::inventory::InventoryChange;
use crate::parse::playbook::AddHost;
use crate::report::TaskResult;

pub(super) fn run(cx: &Cx<'_>, a: &AddHost) -> TResult<TaskOutcome> {
    let name = cx.text(&a.name)?.trim().to_string();
    if name.is_empty() {
        return Err(located(
            &a.name.location,
            "`add_host` gave an empty host name",
        ));
    }
    let groups = match &a.groups {
        None => Vec::new(),
        Some(d) => name_list(&cx.value(d)?),
    };
    let mut host_vars = HostVars::new();
    for (k, d) in &a.vars {
        host_vars.insert(k.clone(), cx.value(d)?);
    }
    let change = InventoryChange::AddHost {
        name,
        groups: groups.clone(),
        vars: host_vars.clone(),
    };
    let host_name = change.host();
    let changed = cx
        .change_inventory(std::slice::from_ref(&change))
        .map_err(|e| located(&a.name.location, e.0))?;
    let mut r = TaskResult::new(changed_or_ok(changed));
    r.msg = Some(if groups.is_empty() {
        format!("host `{host_name}` in the inventory")
    } else {
        format!("host `{host_name}` in group {}", groups.join(", "))
    });
    r.registered =
        json!({"add_host": {"host_name": host_name, "groups": groups, "host_vars": host_vars}});
    Ok(TaskOutcome {
        result: r,
        register: None,
        facts: HostVars::new(),
        inventory: vec![change],
        iterations: None,
    })
}
