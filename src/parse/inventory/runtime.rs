//! Changes a run makes to its in-memory inventory: `add_host` and `group_by`, with
//! Ansible's semantics (the strategy's `_add_host` and `_add_group`): a new host joins
//! `all` (and `ungrouped` while it has no other group), its variables are merged over
//! the ones it has (top-level keys replaced), groups are created on first use as
//! children of `all` (or of `group_by`'s `parents`), and `group_vars/`/`host_vars/`
//! files beside the inventory count for them as for the others. A change is data, so
//! the journal keeps it and `--resume` applies it again; applying one twice changes
//! nothing the second time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::address::parse_address;
use super::data::{ALL, GroupId};
use super::vars_dirs::VarsDir;
use super::{Inventory, LOCALHOST};

/// One change to the in-memory inventory, as the journal records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InventoryChange {
    /// `add_host`: `name` may end in `:PORT` (becomes `ansible_port`, for a new host).
    AddHost {
        name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        groups: Vec<String>,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        vars: Map<String, Value>,
    },
    /// `group_by`: `host` joins `group`, a child of each of `parents`.
    GroupBy {
        host: String,
        group: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parents: Vec<String>,
    },
}

impl InventoryChange {
    /// The host name an `add_host` adds (without its port).
    pub fn host(&self) -> String {
        match self {
            InventoryChange::AddHost { name, .. } => split_port(name).0,
            InventoryChange::GroupBy { host, .. } => host.clone(),
        }
    }
}

fn split_port(name: &str) -> (String, Option<u16>) {
    parse_address(name).unwrap_or_else(|| (name.to_string(), None))
}

impl Inventory {
    /// Apply one change. `Ok(true)` when the inventory changed (a new host, group or
    /// membership, as Ansible reports `changed`), `Ok(false)` when it already held it
    /// (variables are merged either way); `Err` names what cannot be done (a group
    /// loop, an empty name, an unreadable `group_vars/` file).
    pub fn apply(&mut self, change: &InventoryChange) -> Result<bool, String> {
        let mut changed = false;
        match change {
            InventoryChange::AddHost { name, groups, vars } => {
                let (host, port) = split_port(name);
                if host.trim().is_empty() {
                    return Err("`add_host` needs a host name, got an empty one".into());
                }
                let h = match self.data.host_id(&host) {
                    Some(h) => h,
                    None => {
                        changed = true;
                        self.data.add_host(&host, None, port)
                    }
                };
                for (k, v) in vars {
                    self.data.set_host_var(h, k, v.clone());
                }
                for group in groups {
                    let g = self.group(group, &mut changed)?;
                    changed |= self.data.put_host_in_group(g, h);
                }
            }
            InventoryChange::GroupBy {
                host,
                group,
                parents,
            } => {
                if group.trim().is_empty() {
                    return Err("`group_by` gave an empty group name".into());
                }
                let h = match self.data.host_id(host) {
                    Some(h) => h,
                    // The implicit localhost becomes a real host, as in Ansible.
                    None if LOCALHOST.contains(&host.as_str()) => {
                        changed = true;
                        let h = self.data.add_host(host, None, None);
                        self.data
                            .set_host_var(h, "ansible_connection", Value::from("local"));
                        h
                    }
                    None => return Err(format!("`{host}` is not a host of the inventory")),
                };
                let g = self.group(group, &mut changed)?;
                for parent in parents {
                    let p = self.group(parent, &mut changed)?;
                    if !self.data.group(p).children.contains(&g) {
                        self.data.add_child(p, g)?;
                        changed = true;
                    }
                }
                changed |= self.data.put_host_in_group(g, h);
            }
        }
        if changed {
            self.data.finish();
            self.all_hosts = self.data.group_hosts(ALL);
            self.load_new_vars()?;
        }
        Ok(changed)
    }

    /// The group of that name, created when new.
    fn group(&mut self, name: &str, changed: &mut bool) -> Result<GroupId, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("a group name is empty".into());
        }
        if let Some(g) = self.data.group_id(name) {
            return Ok(g);
        }
        *changed = true;
        Ok(self.data.add_group(name))
    }

    /// `group_vars/` and `host_vars/` for the groups and hosts added since the load.
    fn load_new_vars(&mut self) -> Result<(), String> {
        let (groups, hosts) = (self.data.groups.len(), self.data.hosts.len());
        let base = self.vars_base.clone();
        let decryption = self.decryption.clone();
        let load = |sub: &str, name: &str| -> Result<Map<String, Value>, String> {
            match &base {
                None => Ok(Map::new()),
                Some(base) => VarsDir::open(base, sub)
                    .load(name, &decryption)
                    .map_err(|errors| {
                        errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    }),
            }
        };
        while self.group_dir_vars.len() < groups {
            let name = self.data.group(self.group_dir_vars.len()).name.clone();
            self.group_dir_vars.push(load("group_vars", &name)?);
        }
        while self.host_dir_vars.len() < hosts {
            let name = self.data.host(self.host_dir_vars.len()).name.clone();
            self.host_dir_vars.push(load("host_vars", &name)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inventory(yaml: &str) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, yaml).unwrap();
        let inv = Inventory::load(&path).unwrap();
        (dir, inv)
    }

    const INV: &str = "all:\n  children:\n    masters:\n      hosts:\n        m0:\n        m1: {ansible_host: 10.0.0.2}\n    workers:\n      hosts:\n        w0:\n";

    #[test]
    fn add_host_creates_the_host_its_groups_and_vars() {
        let (_d, mut inv) = inventory(INV);
        let change = InventoryChange::AddHost {
            name: "new:2222".into(),
            groups: vec!["extra".into(), "workers".into()],
            vars: Map::from_iter([("role".to_string(), json!("db"))]),
        };
        assert_eq!(inv.apply(&change), Ok(true));
        assert_eq!(inv.groups()["extra"], vec!["new"]);
        assert_eq!(inv.groups()["workers"], vec!["w0", "new"]);
        assert_eq!(inv.groups()["all"].last().map(String::as_str), Some("new"));
        assert!(!inv.groups()["ungrouped"].contains(&"new".to_string()));
        let vars = inv.host_vars("new");
        assert_eq!(vars["role"], json!("db"));
        assert_eq!(vars["ansible_port"], json!(2222));
        assert_eq!(inv.select("extra").unwrap(), vec!["new"]);
        assert_eq!(inv.group_names("new"), vec!["extra", "workers"]);
        // Twice: nothing new (Ansible reports ok, not changed).
        assert_eq!(inv.apply(&change), Ok(false));
        assert_eq!(inv.groups()["workers"], vec!["w0", "new"]);
    }

    #[test]
    fn add_host_of_a_known_host_merges_its_vars_and_keeps_its_address() {
        let (_d, mut inv) = inventory(INV);
        let change = InventoryChange::AddHost {
            name: "m1".into(),
            groups: vec!["registry".into()],
            vars: Map::from_iter([("found".to_string(), json!(true))]),
        };
        assert_eq!(inv.apply(&change), Ok(true));
        let vars = inv.host_vars("m1");
        assert_eq!(vars["ansible_host"], json!("10.0.0.2"));
        assert_eq!(vars["found"], json!(true));
        assert_eq!(inv.select("registry:&masters").unwrap(), vec!["m1"]);
        assert_eq!(inv.select("masters:!registry").unwrap(), vec!["m0"]);
    }

    #[test]
    fn a_host_added_without_groups_is_ungrouped() {
        let (_d, mut inv) = inventory(INV);
        let change = InventoryChange::AddHost {
            name: "lone".into(),
            groups: vec![],
            vars: Map::new(),
        };
        inv.apply(&change).unwrap();
        assert_eq!(inv.groups()["ungrouped"], vec!["lone"]);
        assert!(inv.select("all").unwrap().contains(&"lone".to_string()));
    }

    #[test]
    fn group_by_nests_under_parents_and_refuses_loops() {
        let (_d, mut inv) = inventory(INV);
        let by = |host: &str, group: &str, parents: &[&str]| InventoryChange::GroupBy {
            host: host.into(),
            group: group.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
        };
        assert_eq!(inv.apply(&by("w0", "os_debian", &["linux"])), Ok(true));
        assert_eq!(inv.apply(&by("m0", "os_debian", &["linux"])), Ok(true));
        assert_eq!(inv.apply(&by("m0", "os_debian", &["linux"])), Ok(false));
        assert_eq!(inv.groups()["linux"], vec!["w0", "m0"]);
        assert_eq!(inv.group_names("w0"), vec!["linux", "os_debian", "workers"]);
        let err = inv.apply(&by("w0", "linux", &["os_debian"])).unwrap_err();
        assert!(err.contains("dependency loop"), "{err}");
        assert!(inv.apply(&by("nobody", "x", &[])).is_err());
    }

    #[test]
    fn group_vars_files_count_for_groups_added_at_run_time() {
        let (dir, mut inv) = inventory(INV);
        std::fs::create_dir(dir.path().join("group_vars")).unwrap();
        std::fs::write(dir.path().join("group_vars/late.yml"), "colour: blue\n").unwrap();
        // The folder is read when the group appears, not at load.
        inv.apply(&InventoryChange::GroupBy {
            host: "w0".into(),
            group: "late".into(),
            parents: vec![],
        })
        .unwrap();
        assert_eq!(inv.host_vars("w0")["colour"], json!("blue"));
    }

    #[test]
    fn encrypted_group_vars_of_groups_added_at_run_time_are_known_secrets_from_the_load() {
        use crate::parse::vault::{Decryption, Secret, Vault};
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("group_vars")).unwrap();
        std::fs::copy(
            fixtures.join("vars-1.1.yml"),
            dir.path().join("group_vars/late.yml"),
        )
        .unwrap();
        // Broken data in a file nobody loads is not an error at the load.
        std::fs::write(
            dir.path().join("group_vars/unused.yml"),
            "$ANSIBLE_VAULT;1.1;AES256\nzz\n",
        )
        .unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, INV).unwrap();
        let password = std::fs::read_to_string(fixtures.join("default.pass")).unwrap();
        let vault = std::sync::Arc::new(Vault::new(vec![Secret::new("default", password.trim())]));
        let mut inv = Inventory::load_with(&path, &Decryption::new(vault.clone())).unwrap();
        // Revealed at the load (so the run masks it), though no group reads it yet.
        assert_eq!(vault.revealed(), ["file-plaintext-1-1"]);
        inv.apply(&InventoryChange::GroupBy {
            host: "w0".into(),
            group: "late".into(),
            parents: vec![],
        })
        .unwrap();
        assert_eq!(
            inv.host_vars("w0")["whole_file_secret"],
            json!("file-plaintext-1-1")
        );
    }

    #[test]
    fn changes_round_trip_through_json() {
        let change = InventoryChange::GroupBy {
            host: "w0".into(),
            group: "g".into(),
            parents: vec![],
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(text, r#"{"op":"group_by","host":"w0","group":"g"}"#);
        assert_eq!(
            serde_json::from_str::<InventoryChange>(&text).unwrap(),
            change
        );
    }
}
