//! The run's inventory as it stands: the loaded one plus what `add_host` and
//! `group_by` changed, shared by the runner (variables, `groups`, `hostvars`,
//! connections) and the plays that choose their hosts when they start; and what a
//! play-level template (`hosts:`, `serial`) sees then ([`PlaySource`]).
//!
//! Each change replaces the whole inventory (copy, change, swap), so a reader always
//! holds one consistent version; changes are rare (a few per run) and an inventory is
//! small next to the work a play does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::vars::HostVars;
use crate::parse::inventory::{Inventory, InventoryChange};
use crate::parse::playbook::Play;
use crate::plan::HostSource;
use crate::template::{Templates, Vars};

pub struct LiveInventory {
    current: RwLock<Arc<Inventory>>,
    /// Bumped on every change: caches built from the inventory compare it.
    generation: AtomicU64,
}

impl LiveInventory {
    pub fn new(inventory: Arc<Inventory>) -> Self {
        LiveInventory {
            current: RwLock::new(inventory),
            generation: AtomicU64::new(0),
        }
    }

    /// The inventory as it stands now.
    pub fn get(&self) -> Arc<Inventory> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Apply changes in order; `Ok(true)` when the inventory changed. On an error
    /// nothing is applied.
    pub fn apply(&self, changes: &[InventoryChange]) -> Result<bool, String> {
        if changes.is_empty() {
            return Ok(false);
        }
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        let mut changed = false;
        for c in changes {
            changed |= next.apply(c)?;
        }
        if changed {
            *guard = Arc::new(next);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(changed)
    }
}

/// What a play sees when it chooses its hosts, before any host is chosen: lowest
/// first, the inventory's `all` variables, `groups` (as they stand), the play's vars
/// (rendered on use), extra vars; and `hostvars`, each host's inventory variables plus
/// what the run registered, set or gathered for it so far. Ansible templates `hosts:`
/// with the same (it has no `all` vars there; rtmig adds them below the play's own, so
/// a play working under Ansible works the same).
pub struct PlaySource<'a> {
    pub inventory: &'a Inventory,
    pub templates: &'a Templates,
    pub extra_vars: &'a HostVars,
    /// What the run set per host (empty before a run: the inventory alone).
    pub run_vars: &'a HashMap<String, HostVars>,
}

impl PlaySource<'_> {
    fn scope(&self, play: &Play) -> Vars {
        let mut base = self.inventory.all_vars();
        base.insert("groups".into(), json!(self.inventory.groups()));
        let mut vars = Vars::new();
        vars.push_layer(base);
        vars.push_layer(
            play.vars
                .iter()
                .map(|(k, d)| (k.clone(), d.value.clone()))
                .collect::<HostVars>(),
        );
        vars.push_layer(self.extra_vars.clone());
        vars.set_hostvars(hostvars(self.inventory, self.run_vars));
        vars
    }
}

/// `hostvars` built from an inventory and what the run set: each host's inventory
/// variables with its magic ones (`inventory_hostname`, `group_names`), then the run's
/// values for it (data, never rendered).
pub fn hostvars(
    inventory: &Inventory,
    run: &HashMap<String, HostVars>,
) -> Arc<IndexMap<String, Vars>> {
    let groups = Arc::new(HostVars::from_iter([(
        "groups".to_string(),
        json!(inventory.groups()),
    )]));
    let mut all = IndexMap::new();
    for h in inventory.host_names() {
        let mut base = inventory.host_vars(h);
        base.insert("inventory_hostname".into(), json!(h));
        base.insert(
            "inventory_hostname_short".into(),
            json!(h.split('.').next().unwrap_or(h)),
        );
        base.insert("group_names".into(), json!(inventory.group_names(h)));
        let mut v = Vars::new();
        v.push_layer(base);
        v.push_layer(groups.clone());
        if let Some(r) = run.get(h) {
            v.push_raw_layer(r.clone());
        }
        all.insert(h.to_string(), v);
    }
    Arc::new(all)
}

impl HostSource for PlaySource<'_> {
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String> {
        self.inventory
            .select_limited(pattern, limit)
            .map_err(|e| e.to_string())
    }

    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        self.templates
            .render_str(template, &self.scope(play))
            .map_err(|e| e.to_string())
    }

    fn variables_in(&self, template: &str) -> Vec<String> {
        self.templates.variables_in(template)
    }
}

/// `add_host`'s and `group_by`'s list arguments: a list, or a comma-separated string.
pub fn name_list(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Value::Array(items) => items
            .iter()
            .flat_map(|v| match v {
                Value::String(_) => name_list(v),
                other => vec![other.to_string()],
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, build};

    const INV: &str = "all:\n  vars: {masters_group: masters}\n  children:\n    masters:\n      hosts: {m0: {found: yes}, m1: {}}\n    workers:\n      hosts: {w0: {}, w1: {}}\n";

    const PLAYBOOK: &str = r#"
- name: find
  hosts: all
  tasks:
    - name: Note the registry node
      add_host: {name: m1, groups: registry}
    - name: Group the done ones
      group_by: {key: done}
- name: registry
  hosts: registry
  tasks: [{debug: {msg: hi}}]
- name: workers but the registry
  hosts: "workers:!registry"
  tasks: [{debug: {msg: hi}}]
- name: from facts
  hosts: "{{ target }}"
  vars:
    target: "{{ hostvars[groups[masters_group][0]].picked }}"
  tasks: [{debug: {msg: hi}}]
- name: untouched
  hosts: "{{ masters_group }}"
  tasks: [{debug: {msg: hi}}]
"#;

    fn fixture() -> (
        tempfile::TempDir,
        Inventory,
        crate::parse::playbook::Playbook,
        Templates,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("inv.yaml"), INV).unwrap();
        let inventory = Inventory::load(&dir.path().join("inv.yaml")).unwrap();
        let playbook =
            crate::parse::playbook::parse_str(std::path::Path::new("site.yaml"), PLAYBOOK)
                .unwrap_or_else(|e| panic!("{e}"));
        (dir, inventory, playbook, Templates::new(vec![]))
    }

    #[test]
    fn the_plan_says_which_plays_are_decided_at_run_time_and_from_what() {
        let (_d, inventory, playbook, templates) = fixture();
        let run = HashMap::new();
        let extra = HostVars::new();
        let source = PlaySource {
            inventory: &inventory,
            templates: &templates,
            extra_vars: &extra,
            run_vars: &run,
        };
        let plan =
            build(&playbook, &source, &PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let rt: Vec<bool> = plan.plays.iter().map(|p| p.runtime.is_some()).collect();
        assert_eq!(rt, [false, true, true, true, false]);
        let registry = plan.plays[1].runtime.as_ref().unwrap();
        assert_eq!(
            registry.because,
            [
                "group `registry`, changed at run time by `add_host` in play 1 task 1 `Note the registry node` (site.yaml:5:7)"
            ]
        );
        // With the inventory alone, the group does not exist yet.
        assert!(plan.plays[1].hosts.is_empty());
        assert_eq!(plan.plays[2].hosts, ["w0", "w1"]);
        let facts = plan.plays[3].runtime.as_ref().unwrap();
        assert!(
            facts.because[0].starts_with("`hostvars`"),
            "{:?}",
            facts.because
        );
        assert!(
            facts
                .preview_error
                .as_deref()
                .unwrap_or("")
                .contains("picked"),
            "{facts:?}"
        );
        let text = plan.to_string();
        assert!(
            text.contains("PLAY 2 [registry]\n  hosts: decided at run time, when the play starts, from `registry`\n    depends on group `registry`, changed at run time by `add_host` in play 1 task 1 `Note the registry node` (site.yaml:5:7)\n    with inventory data alone: registry -> no hosts\n"),
            "{text}"
        );
        assert!(
            text.contains("    with inventory data alone: workers:!registry -> 2 hosts (below)\n"),
            "{text}"
        );
        assert!(
            text.contains("PLAY 5 [untouched]\n  hosts: masters -> 2 hosts"),
            "{text}"
        );
    }

    #[test]
    fn a_play_starting_later_sees_the_changes_and_the_facts() {
        let (_d, inventory, playbook, templates) = fixture();
        let live = LiveInventory::new(Arc::new(inventory));
        let change = InventoryChange::AddHost {
            name: "m1".into(),
            groups: vec!["registry".into()],
            vars: Default::default(),
        };
        assert_eq!(live.apply(std::slice::from_ref(&change)), Ok(true));
        assert_eq!(live.generation(), 1);
        assert_eq!(live.apply(&[change]), Ok(false));
        assert_eq!(live.generation(), 1);
        let inventory = live.get();
        let mut run = HashMap::new();
        run.insert(
            "m0".to_string(),
            HostVars::from_iter([("picked".to_string(), json!("w1"))]),
        );
        let extra = HostVars::new();
        let source = PlaySource {
            inventory: &inventory,
            templates: &templates,
            extra_vars: &extra,
            run_vars: &run,
        };
        let hosts = |i: usize| {
            crate::plan::play_hosts(&playbook.plays[i], &source, None, None)
                .unwrap()
                .hosts
        };
        assert_eq!(hosts(1), ["m1"]);
        assert_eq!(hosts(2), ["w0", "w1"]);
        assert_eq!(hosts(3), ["w1"]);
        // Within --limit.
        let limited =
            crate::plan::play_hosts(&playbook.plays[2], &source, Some("w0"), None).unwrap();
        assert_eq!(limited.hosts, ["w0"]);
        // A resumed run keeps the recorded hosts.
        let recorded = ["w0".to_string()];
        let kept =
            crate::plan::play_hosts(&playbook.plays[3], &source, None, Some(&recorded)).unwrap();
        assert_eq!(kept.hosts, ["w0"]);
    }

    #[test]
    fn name_lists_split_commas() {
        assert_eq!(name_list(&json!("a, b,,c")), ["a", "b", "c"]);
        assert_eq!(name_list(&json!(["a", "b,c", 3])), ["a", "b", "c", "3"]);
        assert!(name_list(&Value::Null).is_empty());
    }
}
