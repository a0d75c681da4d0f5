//! The variable layers a task sees, and their caches. Lowest precedence first:
//! role defaults (the play's roles', then the task's role's), inventory (with the
//! magic variables), `groups`, play vars then role vars, the play's magic host lists
//! (and `role_name`/`role_path`), task vars (a role task's include its role's vars), what the run set (facts, registered, `set_fact`: data, never
//! rendered), extra vars; `hostvars` when the task mentions it. Layers that do not
//! depend on the task are built once and shared (an `Arc` each), so a run's memory does
//! not grow with hosts × tasks; those built from the inventory are tagged with its
//! generation and rebuilt after an `add_host`/`group_by`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::live::LiveInventory;
use super::vars::{HostVars, RunVars};
use crate::parse::inventory::Inventory;
use crate::parse::playbook::{Playbook, Task};
use crate::plan::{Plan, PlayHosts};
use crate::template::Vars;

/// The run's modes, which the magic variables `ansible_check_mode`,
/// `ansible_diff_mode` and `ansible_verbosity` show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Modes {
    pub check: bool,
    pub diff: bool,
    pub verbosity: u8,
}

/// A play's index and, for a host in one, its batch's.
type PlayBatch = (usize, Option<usize>);

pub struct VarLayers {
    playbook: Arc<Playbook>,
    plan: Arc<Plan>,
    inventory: Arc<LiveInventory>,
    run_vars: Arc<RunVars>,
    extra: Arc<HostVars>,
    /// Per host, tagged with the inventory generation it was built from.
    base: Mutex<(u64, HashMap<String, Arc<HostVars>>)>,
    play_layers: Mutex<HashMap<usize, Arc<HostVars>>>,
    role_defaults: Mutex<HashMap<usize, Arc<HostVars>>>,
    /// By play and task location (tasks of imported files share line numbers).
    mentions_hostvars: Mutex<HashMap<(usize, crate::parse::Location), bool>>,
    /// `groups`, one layer shared by every host: a copy per host would make memory
    /// grow with hosts × hosts. Tagged with the inventory generation.
    groups_layer: Mutex<(u64, Arc<HostVars>)>,
    /// The hosts and batches each play started with (decided when it started).
    play_hosts: Mutex<HashMap<usize, PlayHosts>>,
    /// The play's magic host lists (`ansible_play_hosts`, `ansible_play_batch`, ...)
    /// by play and batch, shared by the hosts of the batch for the same reason.
    play_magic: Mutex<HashMap<PlayBatch, Arc<HostVars>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl VarLayers {
    pub fn new(
        playbook: Arc<Playbook>,
        plan: Arc<Plan>,
        inventory: Arc<LiveInventory>,
        run_vars: Arc<RunVars>,
        extra_vars: HostVars,
    ) -> Self {
        let groups_layer = Mutex::new((inventory.generation(), groups_layer(&inventory.get())));
        VarLayers {
            playbook,
            plan,
            inventory,
            run_vars,
            extra: Arc::new(extra_vars),
            base: Mutex::new((0, HashMap::new())),
            play_layers: Mutex::new(HashMap::new()),
            role_defaults: Mutex::new(HashMap::new()),
            mentions_hostvars: Mutex::new(HashMap::new()),
            groups_layer,
            play_hosts: Mutex::new(HashMap::new()),
            play_magic: Mutex::new(HashMap::new()),
        }
    }

    /// The inventory as it stands (after the run's `add_host`/`group_by`).
    fn inv(&self) -> Arc<Inventory> {
        self.inventory.get()
    }

    /// Remember the hosts and batches a play started with, for its magic variables.
    pub fn record_play_hosts(&self, play_idx: usize, hosts: PlayHosts) {
        lock(&self.play_hosts).insert(play_idx, hosts);
    }

    /// `groups` as the inventory stands.
    fn groups(&self) -> Arc<HostVars> {
        let generation = self.inventory.generation();
        let mut cached = lock(&self.groups_layer);
        if cached.0 != generation {
            *cached = (generation, groups_layer(&self.inv()));
        }
        cached.1.clone()
    }

    /// Inventory variables plus the magic ones that never change during a run.
    fn base_vars(&self, host: &str, modes: Modes) -> Arc<HostVars> {
        let generation = self.inventory.generation();
        {
            let mut cache = lock(&self.base);
            if cache.0 != generation {
                *cache = (generation, HashMap::new());
            }
            if let Some(v) = cache.1.get(host) {
                return v.clone();
            }
        }
        let inventory = self.inv();
        let mut v = inventory.host_vars(host);
        v.insert("inventory_hostname".into(), json!(host));
        v.insert(
            "inventory_hostname_short".into(),
            json!(host.split('.').next().unwrap_or(host)),
        );
        v.insert("group_names".into(), json!(inventory.group_names(host)));
        v.insert(
            "playbook_dir".into(),
            json!(self.playbook.dir.display().to_string()),
        );
        v.insert("ansible_check_mode".into(), json!(modes.check));
        v.insert("ansible_diff_mode".into(), json!(modes.diff));
        v.insert("ansible_verbosity".into(), json!(modes.verbosity));
        let v = Arc::new(v);
        let mut cache = lock(&self.base);
        if cache.0 == generation {
            cache.1.insert(host.to_string(), v.clone());
        }
        v
    }

    /// Variables a task sees, in layers, lowest precedence first (see the module doc).
    /// Template strings in vars are rendered when a template looks them up, as
    /// Ansible's lazy variables are.
    pub fn task_vars(
        &self,
        host: &str,
        play_idx: usize,
        task: Option<&Task>,
        run: &HostVars,
        modes: Modes,
    ) -> Vars {
        let mut v = Vars::new();
        // Role defaults, below the inventory: every public role's of the play, then the
        // task's own role's.
        let play = &self.playbook.plays[play_idx];
        if !play.role_defaults.is_empty() {
            v.push_layer(self.role_defaults_layer(play_idx));
        }
        if let Some(role) = task.and_then(|t| t.role.as_deref())
            && !role.defaults.is_empty()
        {
            v.push_layer(data_layer(&role.defaults));
        }
        v.push_layer(self.base_vars(host, modes));
        // Above the inventory's variables, as the magic ones in `base_vars` are.
        v.push_layer(self.groups());
        v.push_layer(self.play_layer(play_idx));
        v.push_raw_layer(self.play_magic(play_idx, host));
        if let Some(role) = task.and_then(|t| t.role.as_deref()) {
            v.push_raw_layer(HostVars::from_iter([
                ("role_name".to_string(), json!(role.name)),
                (
                    "role_path".to_string(),
                    json!(role.path.display().to_string()),
                ),
            ]));
        }
        if let Some(task) = task {
            v.push_raw_layer(search_path(task));
        }
        if let Some(task) = task
            && !task.vars.is_empty()
        {
            v.push_layer(data_layer(&task.vars));
        }
        if !run.is_empty() {
            v.push_raw_layer(run.clone());
        }
        if !self.extra.is_empty() {
            v.push_layer(self.extra.clone());
        }
        if let Some(task) = task
            && self.task_mentions_hostvars(play_idx, task)
        {
            v.set_hostvars(self.hostvars(modes));
        }
        v
    }

    /// The magic variables naming the hosts of `host`'s play and batch, built once per
    /// batch and shared by its hosts.
    fn play_magic(&self, play_idx: usize, host: &str) -> Arc<HostVars> {
        // The hosts the play started with, else (a play not started: facts gathering
        // of a test runner) the plan's. Borrowed, not cloned: this runs for every task
        // of every host, and the lists are the fleet's length (at 1000 hosts, cloning
        // them was 2,000 allocations per host-step).
        let started = lock(&self.play_hosts);
        let pp: Option<(&[String], &[Vec<String>])> = started
            .get(&play_idx)
            .map(|p| (&p.hosts[..], &p.batches[..]))
            .or_else(|| {
                self.plan
                    .plays
                    .iter()
                    .find(|p| p.index == play_idx)
                    .map(|p| (&p.hosts[..], &p.batches[..]))
            });
        let batch =
            pp.and_then(|(_, batches)| batches.iter().position(|b| b.iter().any(|h| h == host)));
        let mut cache = lock(&self.play_magic);
        cache
            .entry((play_idx, batch))
            .or_insert_with(|| {
                let mut magic = HostVars::new();
                if let Some((hosts, batches)) = pp {
                    magic.insert("ansible_play_hosts".into(), json!(hosts));
                    magic.insert("ansible_play_hosts_all".into(), json!(hosts));
                    magic.insert("play_hosts".into(), json!(hosts));
                    if let Some(b) = batch.and_then(|b| batches.get(b)) {
                        magic.insert("ansible_play_batch".into(), json!(b));
                    }
                }
                Arc::new(magic)
            })
            .clone()
    }

    /// A play's vars as written (templates rendered on use), then its roles' `vars/`
    /// (above play vars, as Ansible's role vars are), shared by all its hosts.
    fn play_layer(&self, play_idx: usize) -> Arc<HostVars> {
        let mut cache = lock(&self.play_layers);
        cache
            .entry(play_idx)
            .or_insert_with(|| {
                let play = &self.playbook.plays[play_idx];
                let mut layer = data_layer(&play.vars);
                layer.extend(data_layer(&play.role_vars));
                Arc::new(layer)
            })
            .clone()
    }

    /// The play's roles' defaults, shared by all its hosts.
    fn role_defaults_layer(&self, play_idx: usize) -> Arc<HostVars> {
        let mut cache = lock(&self.role_defaults);
        cache
            .entry(play_idx)
            .or_insert_with(|| Arc::new(data_layer(&self.playbook.plays[play_idx].role_defaults)))
            .clone()
    }

    fn task_mentions_hostvars(&self, play_idx: usize, task: &Task) -> bool {
        let key = (play_idx, task.location.clone());
        let mut cache = lock(&self.mentions_hostvars);
        *cache.entry(key).or_insert_with(|| {
            format!("{task:?}").contains("hostvars")
                || self.playbook.plays[play_idx]
                    .vars
                    .values()
                    .any(|d| d.value.to_string().contains("hostvars"))
        })
    }

    /// Every host's variables for `hostvars[host]`: inventory, the play vars of no
    /// play (as Ansible's hostvars hold inventory and host facts), and what the run set.
    fn hostvars(&self, modes: Modes) -> Arc<indexmap::IndexMap<String, Vars>> {
        let run = self.run_vars.snapshot();
        let mut all = indexmap::IndexMap::new();
        let groups = self.groups();
        for h in self.inv().host_names() {
            let mut v = Vars::new();
            v.push_layer(self.base_vars(h, modes));
            v.push_layer(groups.clone());
            if let Some(r) = run.get(h) {
                v.push_raw_layer(r.clone());
            }
            all.insert(h.to_string(), v);
        }
        Arc::new(all)
    }
}

/// Variables as written, as one layer (templates rendered on use).
/// `ansible_search_path` as Ansible sets it for a task (its role's folder, then its
/// file's folder; absolute) and the task's action for the lookups that search by it
/// (`first_found`).
fn search_path(task: &Task) -> HostVars {
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let mut paths: Vec<String> = Vec::new();
    if let Some(role) = task.role.as_deref() {
        paths.push(absolute(&role.path));
    }
    if let Some(dir) = task.location.file.parent() {
        let dir = absolute(dir);
        if !paths.contains(&dir) {
            paths.push(dir);
        }
    }
    HostVars::from_iter([
        ("ansible_search_path".to_string(), json!(paths)),
        (
            crate::template::lookup::first_found::ACTION_VAR.to_string(),
            json!(task.action.name()),
        ),
    ])
}

fn data_layer(vars: &crate::parse::playbook::Vars) -> HostVars {
    vars.iter()
        .map(|(k, d)| (k.clone(), d.value.clone()))
        .collect()
}

/// The `groups` variable of an inventory, as one layer.
fn groups_layer(inventory: &Inventory) -> Arc<HostVars> {
    let groups = serde_json::to_value(inventory.groups()).unwrap_or(Value::Null);
    Arc::new(HostVars::from_iter([("groups".to_string(), groups)]))
}
