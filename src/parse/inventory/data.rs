//! The inventory's hosts and groups as Ansible's `InventoryData` keeps them: groups and
//! hosts in the order they were first seen, `all` and `ungrouped` always present, child
//! links checked for loops, and `reconcile` (top-level groups under `all`, hosts of no
//! group into `ungrouped`). The YAML and INI readers fill it; nothing here reads files.

use std::collections::HashSet;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::parse::{InputError, connection_vars};

pub type GroupId = usize;
pub type HostId = usize;

pub const ALL: GroupId = 0;
pub const UNGROUPED: GroupId = 1;

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Variables set in the inventory source itself, in the order first set.
    pub vars: Map<String, Value>,
    pub children: Vec<GroupId>,
    pub parents: Vec<GroupId>,
    /// Hosts listed directly in this group, in order.
    pub hosts: Vec<HostId>,
    host_set: HashSet<HostId>,
    /// Longest distance from `all` (0 for `all`), computed by `finish`.
    pub depth: u32,
    /// `ansible_group_priority` (default 1).
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Variables set in the inventory source, in the order first set.
    pub vars: Map<String, Value>,
    /// Groups that list this host directly.
    pub groups: Vec<GroupId>,
}

#[derive(Debug, Clone)]
pub struct Data {
    pub groups: IndexMap<String, Group>,
    pub hosts: IndexMap<String, Host>,
    /// Connection variables that cannot be used, where they are written (see
    /// [`crate::parse::connection_vars`]): reported for the hosts a play targets.
    pub var_problems: Vec<VarProblem>,
}

/// Who a variable is set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Group(GroupId),
    Host(HostId),
}

/// A connection variable whose value cannot be used, and where it is written.
#[derive(Debug, Clone)]
pub struct VarProblem {
    pub owner: Owner,
    pub name: String,
    pub value: Value,
    pub error: InputError,
}

impl Default for Data {
    fn default() -> Self {
        Self::new()
    }
}

impl Data {
    pub fn new() -> Self {
        let mut data = Data {
            groups: IndexMap::new(),
            hosts: IndexMap::new(),
            var_problems: Vec::new(),
        };
        data.add_group("all");
        data.add_group("ungrouped");
        // Cannot fail: two fresh groups.
        let _ = data.add_child(ALL, UNGROUPED);
        data
    }

    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        self.groups.get_index_of(name)
    }

    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.hosts.get_index_of(name)
    }

    pub fn group(&self, id: GroupId) -> &Group {
        &self.groups[id]
    }

    pub fn host(&self, id: HostId) -> &Host {
        &self.hosts[id]
    }

    /// The group of that name, created when new.
    pub fn add_group(&mut self, name: &str) -> GroupId {
        if let Some(id) = self.group_id(name) {
            return id;
        }
        let group = Group {
            name: name.to_string(),
            vars: Map::new(),
            children: Vec::new(),
            parents: Vec::new(),
            hosts: Vec::new(),
            host_set: HashSet::new(),
            depth: 0,
            priority: 1,
        };
        self.groups.insert_full(name.to_string(), group).0
    }

    /// Add a host (created when new; a port given here only counts when the host is
    /// new, as in Ansible) and put it in `group`.
    pub fn add_host(&mut self, name: &str, group: Option<GroupId>, port: Option<u16>) -> HostId {
        let id = match self.host_id(name) {
            Some(id) => id,
            None => {
                let mut vars = Map::new();
                if let Some(port) = port {
                    vars.insert("ansible_port".into(), Value::from(port));
                }
                self.hosts
                    .insert_full(
                        name.to_string(),
                        Host {
                            name: name.to_string(),
                            vars,
                            groups: Vec::new(),
                        },
                    )
                    .0
            }
        };
        if let Some(g) = group {
            let _ = self.put_host_in_group(g, id);
        }
        id
    }

    /// Whether `h` was not yet listed in `g`.
    pub fn put_host_in_group(&mut self, g: GroupId, h: HostId) -> bool {
        let group = &mut self.groups[g];
        if group.host_set.insert(h) {
            group.hosts.push(h);
            self.hosts[h].groups.push(g);
            true
        } else {
            false
        }
    }

    /// Make `child` a child group of `parent`; refuses loops as Ansible does.
    pub fn add_child(&mut self, parent: GroupId, child: GroupId) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "group `{}` cannot be a child of itself",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "adding group `{}` as a child of `{}` creates a dependency loop",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// Every group above `g` (not `g` itself).
    pub fn ancestors(&self, g: GroupId) -> HashSet<GroupId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<GroupId> = self.groups[g].parents.clone();
        while let Some(p) = stack.pop() {
            if seen.insert(p) {
                stack.extend(self.groups[p].parents.iter().copied());
            }
        }
        seen
    }

    /// The groups a host belongs to, directly or through parents (`all` included).
    pub fn host_groups(&self, h: HostId) -> HashSet<GroupId> {
        let mut out = HashSet::new();
        for &g in &self.hosts[h].groups {
            out.insert(g);
            out.extend(self.ancestors(g));
        }
        out
    }

    pub fn set_group_var(&mut self, g: GroupId, key: &str, value: Value) -> Result<(), String> {
        if key == "ansible_group_priority" {
            let priority = match &value {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
                Value::Bool(b) => Some(i64::from(*b)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            return match priority {
                Some(p) => {
                    self.groups[g].priority = p;
                    Ok(())
                }
                None => Err(format!(
                    "`ansible_group_priority` must be an integer, found `{value}`"
                )),
            };
        }
        self.groups[g].vars.insert(key.to_string(), value);
        Ok(())
    }

    /// Check a connection variable as it is read; a problem is kept with its place.
    pub fn check_var(
        &mut self,
        owner: Owner,
        key: &str,
        value: &Value,
        file: &Path,
        (line, column): (u64, u64),
    ) {
        if let Err(message) = connection_vars::check(key, value) {
            self.var_problems.push(VarProblem {
                owner,
                name: key.to_string(),
                value: value.clone(),
                error: InputError {
                    file: file.to_path_buf(),
                    position: Some((line, column)),
                    message,
                },
            });
        }
    }

    pub fn set_host_var(&mut self, h: HostId, key: &str, value: Value) {
        self.hosts[h].vars.insert(key.to_string(), value);
    }

    /// Ansible's `reconcile_inventory` and group depths: run once every source is read.
    pub fn finish(&mut self) {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                // Cannot loop: `g` has no parent.
                let _ = self.add_child(ALL, g);
            }
        }
        let mut leave_ungrouped = HashSet::new();
        for h in 0..self.hosts.len() {
            let groups = self.host_groups(h);
            if groups.contains(&UNGROUPED) {
                if groups.iter().any(|&g| g != ALL && g != UNGROUPED) {
                    leave_ungrouped.insert(h);
                    self.groups[UNGROUPED].host_set.remove(&h);
                    self.hosts[h].groups.retain(|&g| g != UNGROUPED);
                }
            } else if groups.is_empty() || (groups.len() == 1 && groups.contains(&ALL)) {
                let _ = self.put_host_in_group(UNGROUPED, h);
            }
        }
        self.groups[UNGROUPED]
            .hosts
            .retain(|h| !leave_ungrouped.contains(h));
        self.compute_depths();
    }

    fn compute_depths(&mut self) {
        let n = self.groups.len();
        let mut depth: Vec<Option<u32>> = vec![None; n];
        for g in 0..n {
            self.depth_of(g, &mut depth);
        }
        for (g, d) in depth.into_iter().enumerate() {
            self.groups[g].depth = d.unwrap_or(0);
        }
    }

    fn depth_of(&self, g: GroupId, memo: &mut Vec<Option<u32>>) -> u32 {
        if let Some(d) = memo[g] {
            return d;
        }
        // Iterative over parents would be longer; groups nest a few levels at most and
        // `add_child` refuses loops, so the recursion ends.
        let d = self.groups[g]
            .parents
            .iter()
            .map(|&p| self.depth_of(p, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[g] = Some(d);
        d
    }

    /// The hosts of a group and of its descendants, in Ansible's order: the group's own
    /// hosts, then its children's, then theirs, level by level.
    pub fn group_hosts(&self, g: GroupId) -> Vec<HostId> {
        let mut ordered: Vec<GroupId> = vec![g];
        ordered.extend(self.groups[g].children.iter().copied());
        let mut seen: HashSet<GroupId> = ordered.iter().copied().collect();
        let mut level: Vec<GroupId> = ordered.clone();
        while !level.is_empty() {
            let mut next: Vec<GroupId> = Vec::new();
            for &item in &level {
                for &child in &self.groups[item].children {
                    if !seen.contains(&child) && !next.contains(&child) {
                        next.push(child);
                        ordered.push(child);
                    }
                }
            }
            seen.extend(next.iter().copied());
            level = next;
        }
        let mut hosts = Vec::new();
        let mut seen_hosts = HashSet::new();
        for kid in ordered {
            for &h in &self.groups[kid].hosts {
                if seen_hosts.insert(h) {
                    hosts.push(h);
                }
            }
        }
        hosts
    }

    /// Groups sorted as Ansible merges their variables: depth, priority, name.
    pub fn sort_groups(&self, groups: impl IntoIterator<Item = GroupId>) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = groups.into_iter().collect();
        v.sort_by(|&a, &b| {
            let (ga, gb) = (&self.groups[a], &self.groups[b]);
            (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_groups_join_all_and_lonely_hosts_join_ungrouped() {
        let mut d = Data::new();
        let web = d.add_group("web");
        d.add_host("w1", Some(web), None);
        d.add_host("lonely", None, None);
        d.finish();
        assert_eq!(d.group(ALL).children, vec![UNGROUPED, web]);
        assert_eq!(d.group(UNGROUPED).hosts, vec![1]);
        assert_eq!(d.group(web).depth, 1);
    }

    #[test]
    fn loops_are_refused() {
        let mut d = Data::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        d.add_child(a, b).unwrap();
        assert_eq!(
            d.add_child(b, a).unwrap_err(),
            "adding group `a` as a child of `b` creates a dependency loop"
        );
        assert!(d.add_child(a, a).is_err());
    }

    #[test]
    fn depth_is_the_longest_path_from_all() {
        let mut d = Data::new();
        let a = d.add_group("a");
        let b = d.add_group("b");
        let c = d.add_group("c");
        d.add_child(a, b).unwrap();
        d.add_child(b, c).unwrap();
        d.add_child(ALL, c).unwrap();
        d.finish();
        assert_eq!(
            (d.group(a).depth, d.group(b).depth, d.group(c).depth),
            (1, 2, 3)
        );
    }

    #[test]
    fn port_counts_only_when_the_host_is_new() {
        let mut d = Data::new();
        let h = d.add_host("h", None, Some(2222));
        d.add_host("h", None, Some(22));
        assert_eq!(d.host(h).vars["ansible_port"], Value::from(2222));
    }
}
