//! `rtmig validate`'s undefined-variable check: a template string or condition that
//! reads a variable no source can define, without a guard, is reported at its place.
//!
//! The sources, as Ansible's: the inventory (every host's and group's variables,
//! `group_vars/`, `host_vars/`), extra vars (`-e`), the play's `vars:` and
//! `vars_files`, the task's `vars:`, loop variable and `index_var`, every `register` and
//! `set_fact` name of the playbook (they outlive their play), `add_host` variables,
//! `include_vars` files' variables, the play's roles' defaults and vars (and a role
//! task's own defaults), an `include_tasks`/`include_role`'s vars and loop variables for
//! the tasks it brings in, facts and connection
//! variables (any `ansible_*` name), and Ansible's magic variables. A name guarded in
//! the same task (`x | default(..)`, `x is defined` in any of its strings, a `when:`
//! included) is not reported. Only `validate` runs this check: a run finds an
//! undefined variable host by host, as before.

use std::collections::HashSet;

use crate::parse::InputError;
use crate::parse::inventory::Inventory;
use crate::parse::playbook::{Action, Playbook, Templated};
use crate::template::{Templates, guarded};

/// What the check found: errors, and warnings for names a task's `when:` may keep
/// from being read (Ansible evaluates `when` before the task's arguments, so
/// `src: "{{ containerd_tarball }}"` under `when: containerd_install == 'tarball'` is
/// fine when the condition is false).
#[derive(Debug, Default)]
pub struct Found {
    pub errors: Vec<InputError>,
    pub warnings: Vec<InputError>,
}

/// Ansible's magic variables and rtmig's own (besides any `ansible_*`).
const MAGIC: [&str; 21] = [
    "inventory_hostname",
    "inventory_hostname_short",
    "inventory_dir",
    "inventory_file",
    "groups",
    "group_names",
    "hostvars",
    "play_hosts",
    "playbook_dir",
    "omit",
    "vars",
    "environment",
    "role_name",
    "role_path",
    "ansible_search_path",
    "role_names",
    "lookup",
    "query",
    "q",
    "now",
    "undef",
];

/// Line and column of the first whole-word `name` in `text` (1, 1 when not found).
fn first_use(text: &str, name: &str) -> (u64, u64) {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (i, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices(name) {
            let before = line[..at].chars().next_back();
            let after = line[at + name.len()..].chars().next();
            if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
                return (i as u64 + 1, line[..at].chars().count() as u64 + 1);
            }
        }
    }
    (1, 1)
}

pub fn check(
    playbook: &Playbook,
    inventory: &Inventory,
    extra_vars: &serde_json::Map<String, serde_json::Value>,
    templates: &Templates,
) -> Found {
    let mut global: HashSet<String> = MAGIC.iter().map(|s| s.to_string()).collect();
    global.extend(extra_vars.keys().cloned());
    global.extend(inventory.all_vars().keys().cloned());
    for host in inventory.host_names() {
        global.extend(inventory.host_vars(host).keys().cloned());
    }
    for task in playbook.plays.iter().flat_map(|p| &p.tasks) {
        global.extend(task.register.iter().cloned());
        match &task.action {
            Action::SetFact(s) => global.extend(s.facts.keys().cloned()),
            // A file's variables (read with the playbook when literal), or its `name:`.
            Action::IncludeVars(v) => {
                global.extend(v.name.iter().cloned());
                global.extend(v.vars.iter().flat_map(|vars| vars.keys().cloned()));
            }
            // Variables of a host added at run time, read by the plays after.
            Action::AddHost(a) => global.extend(a.vars.keys().cloned()),
            // Its facts, also injected as a variable (Ansible's INJECT_FACTS_AS_VARS).
            Action::ServiceFacts => {
                global.insert("services".into());
            }
            _ => {}
        }
    }
    let mut found = Found::default();
    let report = |found: &mut Found, at: InputError, conditional: bool| {
        if conditional {
            found.warnings.push(at);
        } else {
            found.errors.push(at);
        }
    };
    let unknown =
        |source: &str, expr: bool, known: &dyn Fn(&str) -> bool, guards: &HashSet<String>| {
            templates
                .undeclared(source, expr)
                .into_iter()
                .filter(|n| !known(n) && !guards.contains(n) && !n.starts_with("ansible_"))
                .collect::<Vec<String>>()
        };
    let message = |name: &str| {
        format!(
            "`{name}` is undefined: no inventory, play, task, `register`, `set_fact` or extra variable defines it (guard it with `{name} | default(..)` or `{name} is defined` if that is expected)"
        )
    };
    for play in &playbook.plays {
        // The play's roles' defaults and vars are seen by every task of the play.
        let play_known = |n: &str| {
            global.contains(n)
                || play.vars.contains_key(n)
                || play.role_defaults.contains_key(n)
                || play.role_vars.contains_key(n)
        };
        let play_strings = play.strings();
        let play_guards: HashSet<String> = play_strings
            .iter()
            .flat_map(|s| guarded(s.value()))
            .collect();
        for s in play_strings {
            for name in unknown(s.value(), false, &play_known, &play_guards) {
                report(
                    &mut found,
                    InputError::at(s.location(), message(&name)),
                    false,
                );
            }
        }
        // The includes the current task is inside: (index of its last task, the names
        // the include gives its tasks: its vars, loop variable and index_var).
        let mut includes: Vec<(usize, HashSet<String>)> = Vec::new();
        for (i, task) in play.tasks.iter().enumerate() {
            while includes.last().is_some_and(|(last, _)| *last < i) {
                includes.pop();
            }
            let loop_var = task.loop_.as_ref().map(|l| l.loop_var.as_str());
            let index_var = task.loop_.as_ref().and_then(|l| l.index_var.as_deref());
            let inherited = |n: &str| includes.iter().any(|(_, names)| names.contains(n));
            let role_default = |n: &str| {
                task.role
                    .as_ref()
                    .is_some_and(|r| r.defaults.contains_key(n))
            };
            let known = |n: &str| {
                play_known(n)
                    || task.vars.contains_key(n)
                    || Some(n) == loop_var
                    || Some(n) == index_var
                    || inherited(n)
                    || role_default(n)
            };
            let strings = task.strings();
            let guards: HashSet<String> = strings.iter().flat_map(|s| guarded(s.value())).collect();
            if let Action::Template(t) = &task.action
                && let Some(path) = &t.src_path
                && let Ok(text) = std::fs::read_to_string(path)
            {
                let mut file_guards = guarded(&text);
                file_guards.extend(guards.iter().cloned());
                for name in unknown(&text, false, &known, &file_guards) {
                    let at = InputError {
                        file: path.clone(),
                        position: Some(first_use(&text, &name)),
                        message: format!("{} (template task at {})", message(&name), task.location),
                    };
                    report(&mut found, at, !task.when.is_empty());
                }
            }
            for s in strings {
                // In the `when:` itself a name is read whatever it says.
                let in_when = task.when.iter().any(|e| &e.location == s.location());
                let conditional = !task.when.is_empty() && !in_when;
                let expr = matches!(s, Templated::Expr(_));
                for name in unknown(s.value(), expr, &known, &guards) {
                    report(
                        &mut found,
                        InputError::at(s.location(), message(&name)),
                        conditional,
                    );
                }
            }
            if let Action::Include(inc) = &task.action
                && inc.span > 0
            {
                let mut names: HashSet<String> = task.vars.keys().cloned().collect();
                names.extend(loop_var.map(str::to_string));
                names.extend(index_var.map(str::to_string));
                includes.push((i + inc.span, names));
            }
        }
    }
    for list in [&mut found.errors, &mut found.warnings] {
        list.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
        list.dedup();
    }
    found
}
